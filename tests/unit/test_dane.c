/* SPDX-License-Identifier: ISC */
/*
 * test_dane.c - DANE (RFC 7672) without a network: TLSA record data decoded,
 * usable records told from unusable ones (PKIX usages, unknown selectors,
 * Full(0), digests of the wrong length), the resolver's reading of a TLSA
 * answer and owner names, and the per-host policy decision for every
 * configured policy, DNSSEC state and TLSA outcome.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "config.h"
#include "dane.h"
#include "resolver/resolver.h"
#include "check_run.h"

static const struct {
	const char	*name;
	uint8_t		 usage, selector, mtype;
	size_t		 dlen;
	int		 rv;
} rr_cases[] = {
	{ "DANE-EE SPKI SHA2-256", 3, 1, 1, 32, 1 },
	{ "DANE-EE cert SHA2-512", 3, 0, 2, 64, 1 },
	{ "DANE-TA SPKI SHA2-256", 2, 1, 1, 32, 1 },
	{ "PKIX-TA is unusable for SMTP", 0, 0, 1, 32, 0 },
	{ "PKIX-EE is unusable for SMTP", 1, 1, 1, 32, 0 },
	{ "unknown usage", 4, 1, 1, 32, 0 },
	{ "unknown selector", 3, 2, 1, 32, 0 },
	{ "Full(0) not kept", 3, 1, 0, 32, 0 },
	{ "unknown matching type", 3, 1, 3, 32, 0 },
	{ "SHA2-256 too short", 3, 1, 1, 31, 0 },
	{ "SHA2-256 too long", 3, 1, 1, 33, 0 },
	{ "SHA2-512 of 32 bytes", 3, 1, 2, 32, 0 },
	{ "no data at all", 3, 1, 1, 0, -1 },
};

START_TEST(rr_decode_table)
{
	uint8_t		 buf[3 + 80];
	struct dane_rr	 rr;
	const char	*why;
	size_t		 i, len;
	int		 rv;

	buf[0] = rr_cases[_i].usage;
	buf[1] = rr_cases[_i].selector;
	buf[2] = rr_cases[_i].mtype;
	for (i = 0; i < rr_cases[_i].dlen; i++)
		buf[3 + i] = (uint8_t)(i * 7);
	len = rr_cases[_i].dlen == 0 ? 3 : 3 + rr_cases[_i].dlen;
	rv = dane_rr_decode(buf, len, &rr, &why);
	ck_assert_msg(rv == rr_cases[_i].rv, "%s: %d", rr_cases[_i].name, rv);
	if (rv == 1) {
		ck_assert(why == NULL);
		ck_assert(dane_rr_usable(&rr));
		ck_assert_uint_eq(rr.len, rr_cases[_i].dlen);
		ck_assert_int_eq(memcmp(rr.data, buf + 3, rr.len), 0);
	} else
		ck_assert_msg(why != NULL, "%s: no reason", rr_cases[_i].name);
}
END_TEST

START_TEST(rr_usable_checks_lengths)
{
	struct dane_rr	rr = { 3, 1, 1, 32, { 0 } };

	ck_assert(dane_rr_usable(&rr));
	rr.len = 64;
	ck_assert(!dane_rr_usable(&rr));
	rr.mtype = 2;
	ck_assert(dane_rr_usable(&rr));
	rr.usage = 1;
	ck_assert(!dane_rr_usable(&rr));
	ck_assert(dane_rr_decode(NULL, 0, &rr, &(const char *){ NULL }) == -1);
}
END_TEST

/* Every combination the scheduler can meet, against RFC 7672 section 2.2. */
static const struct {
	uint8_t		 policy;
	bool		 secure;
	enum dane_tlsa	 tlsa;
	bool		 use;
	uint8_t		 tls;
} decide_cases[] = {
	/* other policies pass through, whatever DNS said */
	{ TLS_MAY, true, DANE_TLSA_USABLE, true, TLS_MAY },
	{ TLS_VERIFY, false, DANE_TLSA_FAILED, true, TLS_VERIFY },
	{ TLS_NONE, true, DANE_TLSA_NONE, true, TLS_NONE },
	/* dane: opportunistic DANE */
	{ TLS_DANE, true, DANE_TLSA_USABLE, true, TLS_DANE },
	{ TLS_DANE, true, DANE_TLSA_UNUSABLE, true, TLS_ENCRYPT },
	{ TLS_DANE, true, DANE_TLSA_INSECURE, true, TLS_MAY },
	{ TLS_DANE, true, DANE_TLSA_FAILED, false, TLS_DANE },
	{ TLS_DANE, true, DANE_TLSA_NONE, true, TLS_MAY },
	{ TLS_DANE, false, DANE_TLSA_NONE, true, TLS_MAY },
	/* insecure names: a TLSA result cannot count (not even a usable one) */
	{ TLS_DANE, false, DANE_TLSA_USABLE, true, TLS_MAY },
	/* dane-only: no DANE, no delivery */
	{ TLS_DANE_ONLY, true, DANE_TLSA_USABLE, true, TLS_DANE },
	{ TLS_DANE_ONLY, true, DANE_TLSA_UNUSABLE, true, TLS_ENCRYPT },
	{ TLS_DANE_ONLY, true, DANE_TLSA_INSECURE, false, TLS_MAY },
	{ TLS_DANE_ONLY, true, DANE_TLSA_FAILED, false, TLS_DANE_ONLY },
	{ TLS_DANE_ONLY, false, DANE_TLSA_NONE, false, TLS_MAY },
	{ TLS_DANE_ONLY, false, DANE_TLSA_USABLE, false, TLS_MAY },
};

START_TEST(decide_table)
{
	struct dane_verdict	 v;

	dane_decide(decide_cases[_i].policy, decide_cases[_i].secure, decide_cases[_i].tlsa, &v);
	ck_assert_msg(v.use == decide_cases[_i].use, "case %d: use %d", _i, v.use);
	if (v.use)
		ck_assert_msg(v.tls == decide_cases[_i].tls, "case %d: tls %u", _i, v.tls);
	else
		ck_assert_msg(v.why != NULL && v.why[0] != '\0', "case %d: no reason", _i);
	/* a failed TLSA lookup never yields a usable host under any DANE policy */
	if (dane_wanted(decide_cases[_i].policy) && decide_cases[_i].secure &&
	    decide_cases[_i].tlsa == DANE_TLSA_FAILED)
		ck_assert(!v.use);
}
END_TEST

START_TEST(policy_names)
{
	ck_assert_int_eq(tls_policy_parse("dane"), TLS_DANE);
	ck_assert_int_eq(tls_policy_parse("dane-only"), TLS_DANE_ONLY);
	ck_assert_int_eq(tls_policy_parse("DANE"), -1);
	ck_assert_str_eq(tls_policy_name(TLS_DANE), "dane");
	ck_assert_str_eq(tls_policy_name(TLS_DANE_ONLY), "dane-only");
	ck_assert(dane_wanted(TLS_DANE) && dane_wanted(TLS_DANE_ONLY));
	ck_assert(!dane_wanted(TLS_VERIFY) && !dane_wanted(TLS_MAY));
}
END_TEST

/* A fake libunbound result of TLSA records. */
struct fake {
	struct ub_result res;
	char		*data[8];
	int		 len[8];
};

static void
fake_init(struct fake *f, int qtype)
{
	memset(f, 0, sizeof(*f));
	f->res.qname = (char *)"_25._tcp.mx.example";
	f->res.qtype = qtype;
	f->res.data = f->data;
	f->res.len = f->len;
	f->res.secure = 1;
}

static void
fake_add(struct fake *f, const uint8_t *rd, int len)
{
	int	 n = 0;

	while (f->data[n] != NULL)
		n++;
	f->data[n] = malloc(len ? (size_t)len : 1);
	memcpy(f->data[n], rd, (size_t)len);
	f->len[n] = len;
	f->res.havedata = 1;
}

static void
fake_free(struct fake *f)
{
	for (int i = 0; f->data[i] != NULL; i++)
		free(f->data[i]);
}

START_TEST(tlsa_list_cases)
{
	struct fake	 f;
	struct ranswer	 a;
	struct dane_rr	 rr[DANE_RR_MAX];
	uint8_t		 ee[35] = { 3, 1, 1 }, pkix[35] = { 0, 0, 1 }, bad[2] = { 3, 1 };
	const char	*why = NULL;
	uint16_t	 seen;
	size_t		 n;

	/* one usable, one PKIX: both seen, one kept */
	fake_init(&f, RR_TLSA);
	fake_add(&f, ee, sizeof(ee));
	fake_add(&f, pkix, sizeof(pkix));
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.status, DNS_OK);
	ck_assert_uint_eq(a.dnssec, DNSSEC_SECURE);
	n = rdata_tlsa_list(&f.res, &a, rr, DANE_RR_MAX, &seen, &why);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(seen, 2);
	ck_assert_uint_eq(rr[0].usage, 3);
	fake_free(&f);

	/* a malformed record fails the whole answer */
	fake_init(&f, RR_TLSA);
	fake_add(&f, ee, sizeof(ee));
	fake_add(&f, bad, sizeof(bad));
	rdata_classify(0, &f.res, false, &a);
	n = rdata_tlsa_list(&f.res, &a, rr, DANE_RR_MAX, &seen, &why);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(a.status, DNS_PERMFAIL);
	ck_assert(why != NULL);
	fake_free(&f);

	/* an answer of another type */
	fake_init(&f, 1);
	fake_add(&f, ee, sizeof(ee));
	rdata_classify(0, &f.res, false, &a);
	why = NULL;
	ck_assert_uint_eq(rdata_tlsa_list(&f.res, &a, rr, DANE_RR_MAX, &seen, &why), 0);
	ck_assert_uint_eq(a.status, DNS_PERMFAIL);
	fake_free(&f);

	/* bogus: never read */
	fake_init(&f, RR_TLSA);
	fake_add(&f, ee, sizeof(ee));
	f.res.secure = 0;
	f.res.bogus = 1;
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.dnssec, DNSSEC_BOGUS);
	ck_assert_uint_eq(rdata_tlsa_list(&f.res, &a, rr, DANE_RR_MAX, &seen, &why), 0);
	ck_assert_uint_eq(a.status, DNS_TEMPFAIL);
	fake_free(&f);

	/* more usable records than kept: bounded */
	fake_init(&f, RR_TLSA);
	for (int i = 0; i < 7; i++)
		fake_add(&f, ee, sizeof(ee));
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(rdata_tlsa_list(&f.res, &a, rr, 3, &seen, &why), 3);
	ck_assert_uint_eq(seen, 7);
	fake_free(&f);
}
END_TEST

START_TEST(tlsa_owner_names)
{
	char	 out[HOSTNAME_MAX], longname[260];

	ck_assert(rdata_tlsa_owner("mx.example.org", 25, out, sizeof(out)));
	ck_assert_str_eq(out, "_25._tcp.mx.example.org");
	ck_assert(rdata_tlsa_owner("mx.example.org", 465, out, sizeof(out)));
	ck_assert_str_eq(out, "_465._tcp.mx.example.org");
	ck_assert(!rdata_tlsa_owner("bad name", 25, out, sizeof(out)));
	ck_assert(!rdata_tlsa_owner("", 25, out, sizeof(out)));
	/* a host name that fits alone but not with the prefix */
	memset(longname, 'a', 250);
	for (int i = 63; i < 250; i += 64)
		longname[i] = '.';
	longname[250] = '\0';
	ck_assert(rdata_name_ok(longname));
	ck_assert(!rdata_tlsa_owner(longname, 25, out, sizeof(out)));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("dane");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, rr_decode_table, 0, sizeof(rr_cases) / sizeof(rr_cases[0]));
	tcase_add_test(tc, rr_usable_checks_lengths);
	tcase_add_loop_test(tc, decide_table, 0, sizeof(decide_cases) / sizeof(decide_cases[0]));
	tcase_add_test(tc, policy_names);
	tcase_add_test(tc, tlsa_list_cases);
	tcase_add_test(tc, tlsa_owner_names);
	suite_add_tcase(s, tc);
	return check_run(s);
}
