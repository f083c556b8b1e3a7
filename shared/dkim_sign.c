/* SPDX-License-Identifier: ISC */
/*
 * dkim_sign.c - header selection, the DKIM-Signature field and its
 * signature (dkim_sign.h). Used by the signer and by outpostctl.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "addr.h"
#include "buf.h"
#include "dkim_conf.h"
#include "dkim_sign.h"
#include "mailhdr.h"
#include "msg.h"
#include "xmalloc.h"

/*
 * RFC 6376 section 5.4.1's list, plus the fields that change how the body
 * is read (MIME) and Message-ID. Received is not in it: the Received field
 * added at submission sits above every signed field and is never signed,
 * and fields added on the way (Received, Return-Path) cannot break it.
 */
static const char *const signed_fields[] = {
	"from", "reply-to", "subject", "date", "to", "cc",
	"resent-date", "resent-from", "resent-to", "resent-cc",
	"in-reply-to", "references",
	"list-id", "list-help", "list-unsubscribe", "list-subscribe", "list-post",
	"list-owner", "list-archive",
	"message-id", "mime-version", "content-type", "content-transfer-encoding",
};
#define NSIGNED (sizeof(signed_fields) / sizeof(signed_fields[0]))

void
dkim_hdrs_parse(const char *hdr, size_t len, struct dkim_hdrs *h)
{
	struct mailhdr_field mf;
	size_t off = 0, cap = 0;

	h->f = NULL;
	h->n = 0;
	while (h->n < DKIM_HDRS_MAX && mailhdr_next(hdr, len, &off, &mf)) {
		if (h->n == cap) {
			cap = cap ? cap * 2 : 32;
			h->f = xreallocarray(h->f, cap, sizeof(*h->f));
		}
		h->f[h->n].p = hdr + mf.start;
		h->f[h->n].len = mf.end - mf.start;
		h->f[h->n].name = mf.name;
		h->f[h->n].namelen = mf.namelen;
		h->n++;
	}
}

void
dkim_hdrs_free(struct dkim_hdrs *h)
{
	free(h->f);
	h->f = NULL;
	h->n = 0;
}

static bool
field_is(const struct dkim_field *f, const char *name)
{
	return f->namelen == strlen(name) && strncasecmp(f->name, name, f->namelen) == 0;
}

struct first_addr {
	char	addr[ADDR_MAX];
	bool	found;
};

static int
first_addr_cb(const char *addr, void *arg)
{
	struct first_addr *fa = arg;

	if (!fa->found) {
		strlcpy(fa->addr, addr, sizeof(fa->addr));
		fa->found = true;
	}
	return 0;
}

int
dkim_from_domain(const struct dkim_hdrs *h, char *dom, size_t len, const char **why)
{
	const struct dkim_field *from = NULL;
	struct first_addr fa;
	const char *v;
	size_t i;

	for (i = 0; i < h->n; i++) {
		if (!field_is(&h->f[i], "from"))
			continue;
		if (from != NULL) {
			*why = "more than one From: field";
			return -1;
		}
		from = &h->f[i];
	}
	if (from == NULL) {
		*why = "no From: field";
		return -1;
	}
	memset(&fa, 0, sizeof(fa));
	v = from->name + from->namelen;
	while (v < from->p + from->len && *v != ':')
		v++;
	if (v < from->p + from->len)
		v++;
	if (mailhdr_addresses(v, from->p + from->len - v, first_addr_cb, &fa, why) == -1)
		return -1;
	if (!fa.found || addr_domain(fa.addr, dom, len) == -1) {
		*why = "no address with a domain in From:";
		return -1;
	}
	return 0;
}

static size_t
count_of(const struct dkim_hdrs *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n; i++)
		if (field_is(&h->f[i], name))
			n++;
	return n;
}

void
dkim_header_list(const struct dkim_hdrs *h, struct buf *out)
{
	size_t i, k, n;

	for (i = 0; i < NSIGNED; i++) {
		n = count_of(h, signed_fields[i]);
		if (i == 0)
			n++;	/* from: oversigned */
		for (k = 0; k < n; k++) {
			if (out->len > 0)
				buf_add(out, ":", 1);
			buf_str(out, signed_fields[i]);
		}
	}
	if (out->p == NULL)
		buf_add(out, "", 0);
}

/*
 * The canonical header data of h= (section 5.4.2): each name picks the
 * last instance not yet used, from the bottom up; a name with none left
 * (the oversigned From) adds nothing.
 */
static void
hash_input(const struct dkim_hdrs *h, const char *list, enum dkim_canon c, struct buf *out)
{
	bool *used = xcalloc(h->n ? h->n : 1, sizeof(bool));
	const char *p = list, *e;
	char name[64];
	size_t i;

	while (*p) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) < sizeof(name)) {
			memcpy(name, p, e - p);
			name[e - p] = '\0';
			for (i = h->n; i > 0; i--)
				if (!used[i - 1] && field_is(&h->f[i - 1], name)) {
					used[i - 1] = true;
					dkim_header_canon(c, h->f[i - 1].p, h->f[i - 1].len, out);
					break;
				}
		}
		p = *e ? e + 1 : e;
	}
	free(used);
}

/* Folding: a new line (CRLF TAB) before an item that would pass 76 columns. */
struct fold {
	struct buf	*b;
	size_t		 col;
};

static void
fold_add(struct fold *f, const char *s, bool space)
{
	size_t n = strlen(s);

	if (f->col + n + (space ? 1 : 0) > 76) {
		buf_add(f->b, "\r\n\t", 3);
		f->col = 1;
	} else if (space) {
		buf_add(f->b, " ", 1);
		f->col++;
	}
	buf_add(f->b, s, n);
	f->col += n;
}

static char *
b64(const uint8_t *p, size_t n)
{
	size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = xmalloc(len);

	sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

static int
sign_digest(const struct dkim_signer *k, const uint8_t d[DKIM_HASH_LEN], uint8_t *sig, size_t *siglen)
{
	EVP_PKEY_CTX *pc;
	EVP_MD_CTX *mc;
	int ok = 0;

	if (k->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463: PureEdDSA over the SHA-256 hash of the data. */
		if ((mc = EVP_MD_CTX_new()) == NULL)
			return -1;
		ok = EVP_DigestSignInit(mc, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestSign(mc, sig, siglen, d, DKIM_HASH_LEN) == 1;
		EVP_MD_CTX_free(mc);
		return ok ? 0 : -1;
	}
	if ((pc = EVP_PKEY_CTX_new(k->pkey, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_sign_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(pc, sig, siglen, d, DKIM_HASH_LEN) == 1;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

int
dkim_sign_field(const struct dkim_hdrs *h, const struct dkim_signer *k,
    const uint8_t bh[DKIM_HASH_LEN], time_t now, struct buf *out, char *err, size_t errlen)
{
	struct buf field = { NULL, 0, 0 }, list = { NULL, 0, 0 }, data = { NULL, 0, 0 };
	struct fold f = { &field, 0 };
	uint8_t digest[DKIM_HASH_LEN], sig[1024];
	size_t siglen = sizeof(sig), i;
	char tag[512], *bhs = NULL, *bs = NULL, *p, *e;
	int rc = -1;

	if (dkim_key_alg(k->pkey) != k->alg) {
		snprintf(err, errlen, "the key of %s (selector %s) is not an %s key of a usable size",
		    k->domain, k->selector, dkim_alg_name(k->alg));
		return -1;
	}
	dkim_header_list(h, &list);
	bhs = b64(bh, DKIM_HASH_LEN);

	buf_str(&field, "DKIM-Signature:");
	f.col = field.len;
	fold_add(&f, "v=1;", true);
	snprintf(tag, sizeof(tag), "a=%s;", dkim_alg_name(k->alg));
	fold_add(&f, tag, true);
	snprintf(tag, sizeof(tag), "c=%s/%s;", dkim_canon_name(k->canon_hdr), dkim_canon_name(k->canon_body));
	fold_add(&f, tag, true);
	snprintf(tag, sizeof(tag), "d=%s;", k->domain);
	fold_add(&f, tag, true);
	snprintf(tag, sizeof(tag), "s=%s;", k->selector);
	fold_add(&f, tag, true);
	snprintf(tag, sizeof(tag), "t=%lld;", (long long)now);
	fold_add(&f, tag, true);
	/* h= folded between names (FWS is allowed around its colons). */
	for (p = list.p, i = 0; *p; i++) {
		e = strchr(p, ':');
		snprintf(tag, sizeof(tag), "%s%.*s%s", i == 0 ? "h=" : "",
		    (int)((e ? e : p + strlen(p)) - p), p, e ? ":" : ";");
		fold_add(&f, tag, i == 0);
		p = e ? e + 1 : p + strlen(p);
	}
	snprintf(tag, sizeof(tag), "bh=%s;", bhs);
	fold_add(&f, tag, true);
	fold_add(&f, "b=", true);

	/* The field itself is hashed last, with an empty b= and no final CRLF. */
	hash_input(h, list.p, k->canon_hdr, &data);
	dkim_header_canon(k->canon_hdr, field.p, field.len, &data);
	data.len -= 2;
	if (EVP_Digest(data.p, data.len, digest, NULL, EVP_sha256(), NULL) != 1 ||
	    sign_digest(k, digest, sig, &siglen) == -1) {
		snprintf(err, errlen, "signing with the key of %s (selector %s) failed",
		    k->domain, k->selector);
		goto done;
	}
	bs = b64(sig, siglen);
	/* b= in pieces of 72 characters, each on a line of its own. */
	for (p = bs; *p; ) {
		size_t n = strnlen(p, 72);
		size_t room = f.col < 76 ? 76 - f.col : 0;
		if (room == 0 || (room < n && room < 16)) {
			buf_add(&field, "\r\n\t", 3);
			f.col = 1;
			continue;
		}
		if (n > room)
			n = room;
		buf_add(&field, p, n);
		f.col += n;
		p += n;
	}
	buf_add(&field, "\r\n", 2);
	buf_add(out, field.p, field.len);
	rc = 0;
done:
	free(bhs);
	free(bs);
	buf_free(&field);
	buf_free(&list);
	buf_free(&data);
	return rc;
}

int
dkim_key_alg(EVP_PKEY *pkey)
{
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(pkey) >= DKIM_RSA_MIN_BITS ? DKIM_RSA_SHA256 : -1;
	case EVP_PKEY_ED25519:
		return DKIM_ED25519_SHA256;
	}
	return -1;
}

char *
dkim_txt_record(EVP_PKEY *pkey)
{
	uint8_t raw[32], *der = NULL;
	size_t rawlen = sizeof(raw);
	char *p, *rec;
	int n;

	switch (dkim_key_alg(pkey)) {
	case DKIM_ED25519_SHA256:
		/* RFC 8463 section 4.2: the raw 32-byte public key. */
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
			return NULL;
		p = b64(raw, rawlen);
		xasprintf(&rec, "v=DKIM1; k=ed25519; p=%s", p);
		free(p);
		return rec;
	case DKIM_RSA_SHA256:
		if ((n = i2d_PUBKEY(pkey, &der)) <= 0)
			return NULL;
		p = b64(der, (size_t)n);
		OPENSSL_free(der);
		xasprintf(&rec, "v=DKIM1; k=rsa; p=%s", p);
		free(p);
		return rec;
	}
	return NULL;
}
