/* SPDX-License-Identifier: ISC */
/*
 * test_dkim.c - DKIM's pure parts: body and header canonicalization
 * (shared/dkim_canon.c) against RFC 6376 section 3.4 and its examples, the
 * same result whatever the block boundaries; the [dkim] section
 * (shared/dkim_conf.c); the From: domain and the signed header list
 * (shared/dkim_sign.c); a signature field's shape (no l=, b= last); and
 * RSA keys below 2048 bits refused (RFC 8301), keys made here with OpenSSL.
 * Verification of real signatures is left to verifiers written elsewhere
 * (tests/integration/test_dkim.py: dkimpy, OpenDKIM).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "buf.h"
#include "config.h"
#include "dkim_canon.h"
#include "dkim_conf.h"
#include "dkim_sign.h"
#include "check_run.h"

static void
collect(void *arg, const void *p, size_t n)
{
	buf_add(arg, p, n);
}

/* Canonical body of in, fed in blocks of step bytes (0: all at once). */
static char *
body(enum dkim_canon c, const char *in, size_t len, size_t step)
{
	struct buf out = { NULL, 0, 0 };
	struct dkim_body b;
	char *r;

	dkim_body_init(&b, c, collect, &out);
	if (step == 0)
		dkim_body_feed(&b, (const uint8_t *)in, len);
	else
		for (size_t i = 0; i < len; i += step)
			dkim_body_feed(&b, (const uint8_t *)in + i, len - i < step ? len - i : step);
	dkim_body_finish(&b);
	buf_add(&out, "", 0);
	r = strndup(out.p ? out.p : "", out.len);
	buf_free(&out);
	return r;
}

static const struct {
	int		 canon;
	const char	*in, *out;
} body_cases[] = {
	/* empty bodies: CRLF in simple, nothing in relaxed (3.4.3, 3.4.4) */
	{ DKIM_SIMPLE, "", "\r\n" },
	{ DKIM_RELAXED, "", "" },
	{ DKIM_SIMPLE, "\r\n\r\n\r\n", "\r\n" },
	{ DKIM_RELAXED, "\r\n\r\n", "" },
	/* trailing empty lines go, inner ones stay */
	{ DKIM_SIMPLE, "a\r\n\r\nb\r\n\r\n\r\n", "a\r\n\r\nb\r\n" },
	{ DKIM_RELAXED, "a\r\n\r\nb\r\n\r\n\r\n", "a\r\n\r\nb\r\n" },
	/* whitespace: kept in simple; runs to one space, none at line ends in relaxed */
	{ DKIM_SIMPLE, "a  b \t\r\n", "a  b \t\r\n" },
	{ DKIM_RELAXED, "a  b \t\r\n", "a b\r\n" },
	{ DKIM_RELAXED, " \t lead\r\n", " lead\r\n" },
	/* a line of whitespace is empty in relaxed, so trailing ones go too */
	{ DKIM_RELAXED, "a\r\n  \r\n\t\r\n", "a\r\n" },
	{ DKIM_SIMPLE, "a\r\n  \r\n", "a\r\n  \r\n" },
	{ DKIM_RELAXED, "a\r\n  \r\nb\r\n", "a\r\n\r\nb\r\n" },
	/* RFC 6376 3.4.5's example body */
	{ DKIM_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	{ DKIM_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n" },
	/* line ends as the agent sends them: bare LF and bare CR become CRLF */
	{ DKIM_SIMPLE, "a\nb\rc\r\n", "a\r\nb\r\nc\r\n" },
	{ DKIM_RELAXED, "a \nb\n\n", "a\r\nb\r\n" },
	/* a missing final line end is added, as on the wire */
	{ DKIM_SIMPLE, "no end", "no end\r\n" },
	{ DKIM_RELAXED, "no end  ", "no end\r\n" },
	/* 8-bit bytes are content like any other */
	{ DKIM_RELAXED, "\xc3\xa9t\xc3\xa9 \r\n", "\xc3\xa9t\xc3\xa9\r\n" },
};

START_TEST(body_canonicalization)
{
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const char *in = body_cases[i].in;
		for (size_t step = 0; step <= 3; step++) {
			char *got = body(body_cases[i].canon, in, strlen(in), step);
			ck_assert_msg(strcmp(got, body_cases[i].out) == 0, "case %zu step %zu: \"%s\"",
			    i, step, got);
			free(got);
		}
	}
}
END_TEST

START_TEST(body_blocks_do_not_matter)
{
	/* a large body with every awkward byte, in many block sizes */
	struct buf in = { NULL, 0, 0 };
	const char *pieces[] = { "x", " ", "\t", "\r", "\n", "\r\n", "\xff", "." };
	unsigned seed = 7;

	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		buf_str(&in, pieces[(seed >> 16) % 8]);
	}
	for (int c = DKIM_SIMPLE; c <= DKIM_RELAXED; c++) {
		char *whole = body(c, in.p, in.len, 0);
		for (size_t step = 1; step < 5000; step = step * 3 + 1) {
			char *got = body(c, in.p, in.len, step);
			ck_assert_str_eq(got, whole);
			free(got);
		}
		free(whole);
	}
	buf_free(&in);
}
END_TEST

static const struct {
	int		 canon;
	const char	*in, *out;
} hdr_cases[] = {
	{ DKIM_RELAXED, "SubJect : AbC\r\n", "subject:AbC\r\n" },
	{ DKIM_RELAXED, "Subject:  two  words \r\n", "subject:two words\r\n" },
	{ DKIM_RELAXED, "Subject: folded\r\n \tline\r\n", "subject:folded line\r\n" },
	{ DKIM_RELAXED, "To:\r\n x@y\r\n", "to:x@y\r\n" },
	{ DKIM_RELAXED, "X-Empty:\r\n", "x-empty:\r\n" },
	/* RFC 6376 3.4.5's example headers */
	{ DKIM_RELAXED, "A: X\r\n", "a:X\r\n" },
	{ DKIM_RELAXED, "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n" },
	{ DKIM_SIMPLE, "B : Y\t\r\n\tZ  \r\n", "B : Y\t\r\n\tZ  \r\n" },
	{ DKIM_SIMPLE, "Subject: lf only\n continued\n", "Subject: lf only\r\n continued\r\n" },
	{ DKIM_SIMPLE, "Subject: no end", "Subject: no end\r\n" },
};

START_TEST(header_canonicalization)
{
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		struct buf out = { NULL, 0, 0 };
		dkim_header_canon(hdr_cases[i].canon, hdr_cases[i].in, strlen(hdr_cases[i].in), &out);
		ck_assert_msg(out.len == strlen(hdr_cases[i].out) &&
		    memcmp(out.p, hdr_cases[i].out, out.len) == 0, "case %zu: \"%.*s\"", i,
		    (int)out.len, out.p);
		buf_free(&out);
	}
}
END_TEST

static int
parse(const char *text, struct config *c, char *err, size_t len)
{
	return config_parse(c, "t.conf", text, strlen(text), err, len);
}

START_TEST(dkim_section)
{
	struct config c;
	char err[4096];
	const struct dkim_domain *d;

	ck_assert_int_eq(parse("[dkim]\nexample.org = s2026:/k/a.key ed25519\n"
	    ".example.net = e1:/k/e ed25519, r1:/k/r rsa c=simple/relaxed\n"
	    "Example.COM = r:/k/c\n", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.ndkim, 3);
	d = dkim_conf_find(c.dkim, c.ndkim, "example.org");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->nkeys, 1);
	ck_assert_str_eq(d->keys[0].selector, "s2026");
	ck_assert_str_eq(d->keys[0].path, "/k/a.key");
	ck_assert_uint_eq(d->keys[0].alg, DKIM_ED25519_SHA256);
	ck_assert_uint_eq(d->canon_hdr, DKIM_RELAXED);
	ck_assert_uint_eq(d->canon_body, DKIM_RELAXED);
	/* no entry for a subdomain without a leading dot */
	ck_assert_ptr_null(dkim_conf_find(c.dkim, c.ndkim, "sub.example.org"));
	/* ".example.net" covers itself and its subdomains, with its own d= */
	d = dkim_conf_find(c.dkim, c.ndkim, "a.b.example.net");
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->domain, "example.net");
	ck_assert_ptr_eq(dkim_conf_find(c.dkim, c.ndkim, "example.net"), d);
	ck_assert_uint_eq(d->nkeys, 2);
	ck_assert_uint_eq(d->keys[1].alg, DKIM_RSA_SHA256);
	ck_assert_uint_eq(d->canon_hdr, DKIM_SIMPLE);
	ck_assert_uint_eq(d->canon_body, DKIM_RELAXED);
	/* lower-cased; rsa by default */
	d = dkim_conf_find(c.dkim, c.ndkim, "example.com");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->keys[0].alg, DKIM_RSA_SHA256);
	ck_assert_ptr_null(dkim_conf_find(c.dkim, c.ndkim, "other.test"));
	config_free(&c);
}
END_TEST

START_TEST(dkim_section_errors)
{
	static const char *bad[] = {
		"[dkim]\nexample.org = s1\n",			/* no key file */
		"[dkim]\nexample.org = s1:relative ed25519\n",
		"[dkim]\nexample.org = s1:/k dsa\n",
		"[dkim]\nexample.org = a:/k, b:/k, c:/k\n",	/* three keys */
		"[dkim]\nexample.org = a:/k, a:/j\n",		/* one selector twice */
		"[dkim]\nexample.org = s:/k c=loose\n",
		"[dkim]\nexa_mple..org = s:/k\n",
		"[dkim]\nexample.org = s:/k\nexample.org = t:/j\n",
		"[dkim]\nexample.org = bad/sel:/k\n",
	};
	struct config c;
	char err[4096];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], &c, err, sizeof(err)) == -1, "accepted: %s", bad[i]);
		ck_assert(strstr(err, "t.conf:") != NULL);
		config_free(&c);
	}
}
END_TEST

static void
hdrs(const char *msg, struct dkim_hdrs *h)
{
	dkim_hdrs_parse(msg, strlen(msg), h);
}

START_TEST(from_domain)
{
	struct dkim_hdrs h;
	const char *why;
	char dom[256];

	hdrs("Received: from x\r\nFrom: \"A, B\" <a@Mail.Example.ORG>\r\nTo: t@x\r\n", &h);
	ck_assert_int_eq(dkim_from_domain(&h, dom, sizeof(dom), &why), 0);
	ck_assert_str_eq(dom, "mail.example.org");
	dkim_hdrs_free(&h);
	hdrs("From: a@x.test\r\nfrom: b@y.test\r\n", &h);
	ck_assert_int_eq(dkim_from_domain(&h, dom, sizeof(dom), &why), -1);
	dkim_hdrs_free(&h);
	hdrs("To: a@x.test\r\n", &h);
	ck_assert_int_eq(dkim_from_domain(&h, dom, sizeof(dom), &why), -1);
	dkim_hdrs_free(&h);
	hdrs("From: undisclosed\r\n", &h);
	ck_assert_int_eq(dkim_from_domain(&h, dom, sizeof(dom), &why), -1);
	dkim_hdrs_free(&h);
}
END_TEST

START_TEST(signed_header_list)
{
	struct dkim_hdrs h;
	struct buf l = { NULL, 0, 0 };

	hdrs("Received: from a\r\nReceived: from b\r\nFrom: a@x.test\r\nTo: b@y\r\nTo: c@y\r\n"
	    "Subject: s\r\nX-Mailer: m\r\nReturn-Path: <a@x>\r\nDKIM-Signature: old\r\n", &h);
	dkim_header_list(&h, &l);
	/* From once more than present; Received, unknown and trace fields never */
	ck_assert_str_eq(l.p, "from:from:subject:to:to");
	buf_free(&l);
	dkim_hdrs_free(&h);
}
END_TEST

START_TEST(signature_field_shape)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pk = NULL;
	struct dkim_hdrs h;
	struct dkim_signer s = { "example.org", "sel", DKIM_ED25519_SHA256, NULL, DKIM_RELAXED, DKIM_SIMPLE };
	struct buf out = { NULL, 0, 0 };
	uint8_t bh[DKIM_HASH_LEN] = { 0 };
	char err[256], *rec;

	ck_assert(EVP_PKEY_keygen_init(pc) == 1 && EVP_PKEY_keygen(pc, &pk) == 1);
	s.pkey = pk;
	hdrs("From: a@example.org\r\nSubject: hi\r\n", &h);
	ck_assert_int_eq(dkim_sign_field(&h, &s, bh, 1700000000, &out, err, sizeof(err)), 0);
	buf_add(&out, "", 0);
	ck_assert(strncmp(out.p, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/simple; d=example.org;", 71) == 0);
	ck_assert(strstr(out.p, "t=1700000000;") != NULL);
	ck_assert(strstr(out.p, "h=from:from:subject;") != NULL);
	ck_assert(strstr(out.p, "bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;") != NULL);
	ck_assert(strstr(out.p, " l=") == NULL && strstr(out.p, ";l=") == NULL);
	ck_assert(strstr(out.p, " b=") != NULL && strchr(strstr(out.p, " b="), ';') == NULL);
	/* folded: no line longer than 78, CRLF at the end */
	for (char *p = out.p, *e; (e = strstr(p, "\r\n")) != NULL; p = e + 2)
		ck_assert_int_le(e - p, 78);
	ck_assert(out.len > 2 && memcmp(out.p + out.len - 2, "\r\n", 2) == 0);
	/* the wrong kind of key for the algorithm is refused */
	s.alg = DKIM_RSA_SHA256;
	ck_assert_int_eq(dkim_sign_field(&h, &s, bh, 1700000000, &out, err, sizeof(err)), -1);
	rec = dkim_txt_record(pk);
	ck_assert(strncmp(rec, "v=DKIM1; k=ed25519; p=", 22) == 0 && strlen(rec) == 22 + 44);
	free(rec);
	buf_free(&out);
	dkim_hdrs_free(&h);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(pc);
}
END_TEST

/* A fresh RSA key of bits bits, made with OpenSSL as dkim-keygen would. */
static EVP_PKEY *
rsa_key(unsigned bits)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	EVP_PKEY *pk = NULL;

	ck_assert_ptr_nonnull(pc);
	ck_assert(EVP_PKEY_keygen_init(pc) == 1);
	ck_assert(EVP_PKEY_CTX_set_rsa_keygen_bits(pc, (int)bits) == 1);
	ck_assert(EVP_PKEY_keygen(pc, &pk) == 1);
	EVP_PKEY_CTX_free(pc);
	ck_assert_int_eq(EVP_PKEY_get_bits(pk), (int)bits);
	return pk;
}

START_TEST(rsa_below_2048_bits_refused)
{
	EVP_PKEY *weak = rsa_key(1024), *ok = rsa_key(2048);
	struct dkim_hdrs h;
	struct dkim_signer s = { "example.org", "r1", DKIM_RSA_SHA256, NULL, DKIM_RELAXED, DKIM_RELAXED };
	struct buf out = { NULL, 0, 0 };
	uint8_t bh[DKIM_HASH_LEN] = { 0 };
	char err[256], *rec;

	/* RFC 8301 section 3.2: signers use at least 2048 bits */
	ck_assert_int_eq(DKIM_RSA_MIN_BITS, 2048);
	ck_assert_int_eq(dkim_key_alg(weak), -1);
	ck_assert_int_eq(dkim_key_alg(ok), DKIM_RSA_SHA256);
	/* no TXT record is offered for a key that would not be used */
	ck_assert_ptr_null(dkim_txt_record(weak));
	rec = dkim_txt_record(ok);
	ck_assert_ptr_nonnull(rec);
	ck_assert(strncmp(rec, "v=DKIM1; k=rsa; p=", 18) == 0);
	free(rec);

	hdrs("From: a@example.org\r\nSubject: hi\r\n", &h);
	/* signing with the short key is refused, and nothing is written */
	s.pkey = weak;
	err[0] = '\0';
	ck_assert_int_eq(dkim_sign_field(&h, &s, bh, 1700000000, &out, err, sizeof(err)), -1);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_msg(strstr(err, "usable size") != NULL, "err: %s", err);
	/* the same request with a 2048-bit key signs */
	s.pkey = ok;
	ck_assert_int_eq(dkim_sign_field(&h, &s, bh, 1700000000, &out, err, sizeof(err)), 0);
	buf_add(&out, "", 0);
	ck_assert(strncmp(out.p, "DKIM-Signature: v=1; a=rsa-sha256;", 34) == 0);
	buf_free(&out);
	dkim_hdrs_free(&h);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(ok);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc = tcase_create("dkim");

	tcase_add_test(tc, body_canonicalization);
	tcase_add_test(tc, body_blocks_do_not_matter);
	tcase_add_test(tc, header_canonicalization);
	tcase_add_test(tc, dkim_section);
	tcase_add_test(tc, dkim_section_errors);
	tcase_add_test(tc, from_domain);
	tcase_add_test(tc, signed_header_list);
	tcase_add_test(tc, signature_field_shape);
	tcase_add_test(tc, rsa_below_2048_bits_refused);
	suite_add_tcase(s, tc);
	return check_run(s);
}
