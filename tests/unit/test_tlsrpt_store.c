/* SPDX-License-Identifier: ISC */
/*
 * test_tlsrpt_store.c - the sts process's TLS-RPT counters: sessions counted
 * per policy domain and type with their failure details, bounded; the
 * counter file encoded and decoded back identically; a damaged, truncated,
 * inconsistent or foreign file refused as a whole; how a session's TLS
 * outcome becomes an RFC 8460 result type.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "sts/sts_rpt.h"
#include "tlsrpt.h"
#include "check_run.h"

static void
fill(struct rpt_set *s)
{
	static const char *const rr[] = { "3 1 1 abcdef" };

	memset(s, 0, sizeof(*s));
	ck_assert(rpt_count(s, 1000, "a.example", TLSRPT_STS, TLSRPT_OK, "mx.a.example",
	    "192.0.2.1", "198.51.100.7", NULL, 0));
	ck_assert(rpt_count(s, 1001, "a.example", TLSRPT_STS, TLSRPT_CERT_HOST_MISMATCH,
	    "mx.a.example", "192.0.2.1", "198.51.100.7", NULL, 0));
	ck_assert(rpt_count(s, 1002, "A.example", TLSRPT_STS, TLSRPT_CERT_HOST_MISMATCH,
	    "MX.a.example", "192.0.2.1", "198.51.100.7", NULL, 0));
	ck_assert(rpt_count(s, 1003, "b.example", TLSRPT_TLSA, TLSRPT_OK, "mx.b.example",
	    "2001:db8::1", "198.51.100.7", rr, 1));
	ck_assert(rpt_count(s, 1004, "a.example", TLSRPT_NO_POLICY, TLSRPT_STARTTLS_NOT_SUPPORTED,
	    "mx2.a.example", "192.0.2.2", "198.51.100.7", NULL, 0));
}

START_TEST(count_per_policy)
{
	struct rpt_set	 s;

	fill(&s);
	ck_assert_uint_eq(s.start, 1000);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.p[0].domain, "a.example");
	ck_assert_uint_eq(s.p[0].ok, 1);
	ck_assert_uint_eq(s.p[0].failed, 2);
	ck_assert_uint_eq(s.p[0].ndetails, 1);	/* same result, host, address: one detail */
	ck_assert_uint_eq(s.p[0].details[0].count, 2);
	ck_assert_uint_eq(s.p[0].details[0].result, TLSRPT_CERT_HOST_MISMATCH);
	ck_assert_str_eq(s.p[0].details[0].sending_ip, "198.51.100.7");
	ck_assert_uint_eq(s.p[1].type, TLSRPT_TLSA);
	ck_assert_uint_eq(s.p[1].nstrings, 1);
	ck_assert_str_eq(s.p[1].strings[0], "3 1 1 abcdef");
	ck_assert_uint_eq(s.p[2].type, TLSRPT_NO_POLICY);
	ck_assert_uint_eq(s.p[2].failed, 1);
	/* nonsense is not counted */
	ck_assert(!rpt_count(&s, 1, "", TLSRPT_STS, TLSRPT_OK, "", "", "", NULL, 0));
	ck_assert(!rpt_count(&s, 1, "c.example", 9, TLSRPT_OK, "", "", "", NULL, 0));
	ck_assert(!rpt_count(&s, 1, "c.example", TLSRPT_STS, 99, "", "", "", NULL, 0));
	rpt_set_free(&s);
}
END_TEST

START_TEST(count_bounded)
{
	struct rpt_set	 s;
	char		 d[64], mx[64];
	unsigned	 i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < RPT_POLICIES_MAX; i++) {
		snprintf(d, sizeof(d), "d%u.example", i);
		ck_assert(rpt_count(&s, 1, d, TLSRPT_STS, TLSRPT_OK, "", "", "", NULL, 0));
	}
	ck_assert(!rpt_count(&s, 1, "one-more.example", TLSRPT_STS, TLSRPT_OK, "", "", "", NULL, 0));
	for (i = 0; i < RPT_DETAILS_MAX + 5; i++) {
		snprintf(mx, sizeof(mx), "mx%u.d0.example", i);
		ck_assert(rpt_count(&s, 1, "d0.example", TLSRPT_STS, TLSRPT_CERT_EXPIRED, mx,
		    "192.0.2.9", "198.51.100.7", NULL, 0));
	}
	/* every failure counted, the details bounded */
	ck_assert_uint_eq(s.p[0].failed, RPT_DETAILS_MAX + 5);
	ck_assert_uint_eq(s.p[0].ndetails, RPT_DETAILS_MAX);
	rpt_set_free(&s);
}
END_TEST

START_TEST(file_round_trip)
{
	struct rpt_set	 s, back;
	uint8_t		*buf, *again;
	size_t		 n, m;
	const char	*why = NULL;

	fill(&s);
	n = rpt_encode(&s, &buf);
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), 0);
	ck_assert_uint_eq(back.start, s.start);
	ck_assert_uint_eq(back.n, s.n);
	ck_assert_mem_eq(back.p, s.p, s.n * sizeof(*s.p));
	m = rpt_encode(&back, &again);
	ck_assert_uint_eq(m, n);
	ck_assert_mem_eq(again, buf, n);
	free(again);
	rpt_set_free(&back);

	/* an empty set too */
	rpt_set_free(&s);
	free(buf);
	n = rpt_encode(&s, &buf);
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), 0);
	ck_assert_uint_eq(back.n, 0);
	free(buf);
}
END_TEST

START_TEST(file_damaged_refused)
{
	struct rpt_set	 s, back;
	uint8_t		*buf;
	size_t		 n, i;
	const char	*why;

	fill(&s);
	n = rpt_encode(&s, &buf);
	/* every truncation */
	for (i = 0; i < n; i++) {
		why = NULL;
		ck_assert_int_eq(rpt_decode(buf, i, &back, &why), -1);
		ck_assert_ptr_nonnull(why);
		ck_assert_uint_eq(back.n, 0);
	}
	/* a byte more */
	buf = realloc(buf, n + 1);
	buf[n] = 0;
	ck_assert_int_eq(rpt_decode(buf, n + 1, &back, &why), -1);
	/* foreign magic */
	buf[0] ^= 0x20;
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), -1);
	ck_assert_str_eq(why, "not an outpost TLS-RPT counter file");
	buf[0] ^= 0x20;
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), 0);
	rpt_set_free(&back);
	free(buf);

	/* inconsistent: more failure details than failures */
	s.p[0].failed = 1;
	n = rpt_encode(&s, &buf);
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), -1);
	free(buf);
	/* the same policy twice */
	s.p[0].failed = 2;
	s.p[2].type = TLSRPT_STS;
	n = rpt_encode(&s, &buf);
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), -1);
	free(buf);
	/* a result type out of range */
	s.p[2].type = TLSRPT_NO_POLICY;
	s.p[2].details[0].result = TLSRPT_RESULT_MAX + 1;
	n = rpt_encode(&s, &buf);
	ck_assert_int_eq(rpt_decode(buf, n, &back, &why), -1);
	free(buf);
	rpt_set_free(&s);
}
END_TEST

START_TEST(classify_outcomes)
{
	static const struct {
		unsigned type, outcome;
		long v;
		enum tlsrpt_result want;
	} t[] = {
		{ TLSRPT_STS, TLSO_UP, X509_V_OK, TLSRPT_OK },
		{ TLSRPT_STS, TLSO_UP, X509_V_ERR_HOSTNAME_MISMATCH, TLSRPT_CERT_HOST_MISMATCH },
		{ TLSRPT_STS, TLSO_HANDSHAKE_FAILED, X509_V_ERR_CERT_HAS_EXPIRED,
		  TLSRPT_CERT_EXPIRED },
		{ TLSRPT_STS, TLSO_UP, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
		  TLSRPT_CERT_NOT_TRUSTED },
		{ TLSRPT_STS, TLSO_HANDSHAKE_FAILED, X509_V_OK, TLSRPT_VALIDATION_FAILURE },
		{ TLSRPT_STS, TLSO_NO_STARTTLS, 0, TLSRPT_STARTTLS_NOT_SUPPORTED },
		{ TLSRPT_TLSA, TLSO_DANE_OK, 0, TLSRPT_OK },
		{ TLSRPT_TLSA, TLSO_DANE_FAILED, 0, TLSRPT_VALIDATION_FAILURE },
		{ TLSRPT_TLSA, TLSO_UP, X509_V_OK, TLSRPT_VALIDATION_FAILURE },
		{ TLSRPT_TLSA, TLSO_NO_STARTTLS, 0, TLSRPT_STARTTLS_NOT_SUPPORTED },
		{ TLSRPT_NO_POLICY, TLSO_UP, X509_V_ERR_HOSTNAME_MISMATCH, TLSRPT_OK },
		{ TLSRPT_NO_POLICY, TLSO_HANDSHAKE_FAILED, 0, TLSRPT_VALIDATION_FAILURE },
		{ TLSRPT_NO_POLICY, TLSO_NO_STARTTLS, 0, TLSRPT_STARTTLS_NOT_SUPPORTED },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(tlsrpt_classify(t[i].type, t[i].outcome, t[i].v) == t[i].want,
		    "case %zu", i);
	ck_assert_str_eq(tlsrpt_result_name(TLSRPT_CERT_HOST_MISMATCH), "certificate-host-mismatch");
	ck_assert_str_eq(tlsrpt_result_name(TLSRPT_STS_WEBPKI_INVALID), "sts-webpki-invalid");
	ck_assert_ptr_null(tlsrpt_result_name(TLSRPT_RESULT_MAX + 1));
}
END_TEST

START_TEST(report_names)
{
	char	 sub[256], pm[300];

	tlsrpt_submitter("rpt.example", "helo.example", sub, sizeof(sub));
	ck_assert_str_eq(sub, "rpt.example");
	tlsrpt_submitter("", "helo.example", sub, sizeof(sub));
	ck_assert_str_eq(sub, "helo.example");
	tlsrpt_submitter("", "", sub, sizeof(sub));
	ck_assert(sub[0] != '\0');		/* the host name */
	tlsrpt_postmaster("", "helo.example", pm, sizeof(pm));
	ck_assert_str_eq(pm, "postmaster@helo.example");
	tlsrpt_postmaster("tls@x.example", "helo.example", pm, sizeof(pm));
	ck_assert_str_eq(pm, "tls@x.example");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("tlsrpt_store");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, count_per_policy);
	tcase_add_test(tc, count_bounded);
	tcase_add_test(tc, file_round_trip);
	tcase_add_test(tc, file_damaged_refused);
	tcase_add_test(tc, classify_outcomes);
	tcase_add_test(tc, report_names);
	suite_add_tcase(s, tc);
	return check_run(s);
}
