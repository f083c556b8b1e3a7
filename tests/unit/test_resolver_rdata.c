/* SPDX-License-Identifier: ISC */
/*
 * test_resolver_rdata.c - what the resolver reads from libunbound results:
 * MX record data (preference + uncompressed wire name) decoded or rejected,
 * host name syntax, the verdict of a result (NXDOMAIN, no data, SERVFAIL,
 * DNSSEC bogus, CNAME MX targets), MX lists sorted, bounded, null MX, and
 * address records of the wrong length.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "resolver/resolver.h"
#include "check_run.h"

static const struct {
	const char	*name;
	const char	*rd;		/* bytes */
	size_t		 len;
	int		 ok;
	uint16_t	 pref;
	const char	*host;
} mx_cases[] = {
	{ "plain", "\x00\x0a\x02mx\x07""example\x03org\x00", 18, 1, 10, "mx.example.org" },
	{ "upper case folded", "\x01\x00\x02MX\x01""A\x00", 8, 1, 256, "mx.a" },
	{ "null MX", "\x00\x00\x00", 3, 1, 0, "." },
	{ "underscore and hyphen", "\x00\x01\x05_a-b1\x00", 9, 1, 1, "_a-b1" },
	{ "too short", "\x00\x0a", 2, 0, 0, NULL },
	{ "empty", "", 0, 0, 0, NULL },
	{ "no terminating label", "\x00\x0a\x02mx", 5, 0, 0, NULL },
	{ "label past the end", "\x00\x0a\x09mx\x00", 6, 0, 0, NULL },
	{ "compression pointer", "\x00\x0a\x02mx\xc0\x0c", 7, 0, 0, NULL },
	{ "label length 64", "\x00\x0a\x40", 3, 0, 0, NULL },
	{ "bytes after the name", "\x00\x0a\x01""a\x00\x00", 6, 0, 0, NULL },
	{ "space in a label", "\x00\x0a\x03""a b\x00", 7, 0, 0, NULL },
	{ "dot in a label", "\x00\x0a\x03""a.b\x00", 7, 0, 0, NULL },
	{ "NUL in a label", "\x00\x0a\x03""a\x00""b\x00", 7, 0, 0, NULL },
	{ "newline in a label", "\x00\x0a\x02""a\n\x00", 6, 0, 0, NULL },
	{ "high byte in a label", "\x00\x0a\x02""a\xff\x00", 6, 0, 0, NULL },
};

START_TEST(mx_decode_table)
{
	uint16_t	 pref = 0;
	char		 host[HOSTNAME_MAX];
	const char	*why = NULL;
	int		 rc;

	rc = rdata_mx((const uint8_t *)mx_cases[_i].rd, mx_cases[_i].len, &pref, host,
	    sizeof(host), &why);
	if (mx_cases[_i].ok) {
		ck_assert_msg(rc == 0, "%s: %s", mx_cases[_i].name, why);
		ck_assert_uint_eq(pref, mx_cases[_i].pref);
		ck_assert_str_eq(host, mx_cases[_i].host);
	} else {
		ck_assert_msg(rc == -1, "%s accepted", mx_cases[_i].name);
		ck_assert(why != NULL);
	}
}
END_TEST

/* Names at and beyond the 255-octet wire limit. */
START_TEST(mx_decode_long)
{
	uint8_t		 rd[600];
	size_t		 off = 2, i;
	char		 host[HOSTNAME_MAX];
	uint16_t	 pref;
	const char	*why;

	rd[0] = 0;
	rd[1] = 5;
	/* 4 labels of 63 = 4*64 = 256 octets + root = 257: too long */
	for (i = 0; i < 4; i++) {
		rd[off++] = 63;
		memset(rd + off, 'a', 63);
		off += 63;
	}
	rd[off++] = 0;
	ck_assert_int_eq(rdata_mx(rd, off, &pref, host, sizeof(host), &why), -1);
	/* 3 labels of 63 + one of 61 = 192 + 62 + 1 = 255: the longest name */
	off = 2;
	for (i = 0; i < 3; i++) {
		rd[off++] = 63;
		memset(rd + off, 'b', 63);
		off += 63;
	}
	rd[off++] = 61;
	memset(rd + off, 'c', 61);
	off += 61;
	rd[off++] = 0;
	ck_assert_int_eq(rdata_mx(rd, off, &pref, host, sizeof(host), &why), 0);
	ck_assert_uint_eq(strlen(host), 253);
	/* the output buffer bounds it too */
	ck_assert_int_eq(rdata_mx(rd, off, &pref, host, 100, &why), -1);
}
END_TEST

static const struct {
	const char	*name;
	bool		 ok;
} name_cases[] = {
	{ "example.org", true },
	{ "example.org.", true },
	{ "a", true },
	{ "_dmarc.x-y.example", true },
	{ "", false },
	{ ".", false },
	{ "a..b", false },
	{ ".a", false },
	{ "a b", false },
	{ "a\\.b", false },
	{ "a/b", false },
	{ "a.b..", false },
};

START_TEST(name_ok_table)
{
	ck_assert_msg(rdata_name_ok(name_cases[_i].name) == name_cases[_i].ok, "%s",
	    name_cases[_i].name);
}
END_TEST

START_TEST(name_ok_lengths)
{
	char	name[300];

	memset(name, 'a', 63);
	name[63] = '\0';
	ck_assert(rdata_name_ok(name));
	memset(name, 'a', 64);
	name[64] = '\0';
	ck_assert(!rdata_name_ok(name));
	memset(name, 'a', 254);
	for (int i = 50; i < 254; i += 50)
		name[i] = '.';
	name[254] = '\0';
	ck_assert(!rdata_name_ok(name));
	name[253] = '\0';
	ck_assert(rdata_name_ok(name));
}
END_TEST

/* A fake libunbound result. */
struct fake {
	struct ub_result	 res;
	char			*data[8];
	int			 len[8];
};

static void
fake_init(struct fake *f, int qtype, int rcode, int havedata)
{
	memset(f, 0, sizeof(*f));
	f->res.qname = (char *)"example.org";
	f->res.qtype = qtype;
	f->res.qclass = 1;
	f->res.rcode = rcode;
	f->res.havedata = havedata;
	f->res.data = f->data;
	f->res.len = f->len;
	f->res.ttl = 300;
}

static void
fake_add(struct fake *f, const char *rd, int len)
{
	int	i;

	for (i = 0; f->data[i] != NULL; i++)
		;
	f->data[i] = (char *)rd;
	f->len[i] = len;
	f->res.havedata = 1;
}

START_TEST(classify_cases)
{
	struct fake	f;
	struct ranswer	a;

	rdata_classify(-4, NULL, false, &a);
	ck_assert_uint_eq(a.status, DNS_TEMPFAIL);

	fake_init(&f, 15, 3, 0);
	f.res.nxdomain = 1;
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.status, DNS_NXDOMAIN);

	fake_init(&f, 15, 2, 0);
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.status, DNS_TEMPFAIL);

	fake_init(&f, 15, 0, 0);
	f.res.secure = 1;
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.status, DNS_NODATA);
	ck_assert_uint_eq(a.dnssec, DNSSEC_SECURE);
	ck_assert_uint_eq(a.ttl, 300);

	fake_init(&f, 1, 2, 0);
	f.res.bogus = 1;
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.status, DNS_TEMPFAIL);
	ck_assert_uint_eq(a.dnssec, DNSSEC_BOGUS);

	/* an MX target that is an alias */
	fake_init(&f, 1, 0, 0);
	fake_add(&f, "\x7f\x00\x00\x01", 4);
	f.res.canonname = (char *)"real.example.org.";
	rdata_classify(0, &f.res, true, &a);
	ck_assert_uint_eq(a.status, DNS_PERMFAIL);
	rdata_classify(0, &f.res, false, &a);
	ck_assert_uint_eq(a.status, DNS_OK);
	f.res.canonname = (char *)"EXAMPLE.org.";
	rdata_classify(0, &f.res, true, &a);
	ck_assert_uint_eq(a.status, DNS_OK);
}
END_TEST

START_TEST(mx_list_cases)
{
	struct fake	 f;
	struct ranswer	 a;
	struct rmx	 mx[RESOLVER_MX_MAX];
	const char	*why = NULL;
	size_t		 n;

	fake_init(&f, 15, 0, 0);
	fake_add(&f, "\x00\x14\x01""b\x00", 5);
	fake_add(&f, "\x00\x0a\x01""a\x00", 5);
	rdata_classify(0, &f.res, false, &a);
	n = rdata_mx_list(&f.res, &a, mx, RESOLVER_MX_MAX, &why);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(a.status, DNS_OK);
	ck_assert_str_eq(mx[0].host, "a");
	ck_assert_uint_eq(mx[0].pref, 10);
	ck_assert_str_eq(mx[1].host, "b");

	/* bounded: the lowest preferences are kept */
	n = rdata_mx_list(&f.res, &a, mx, 1, &why);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(mx[0].host, "a");

	/* null MX */
	fake_init(&f, 15, 0, 0);
	fake_add(&f, "\x00\x00\x00", 3);
	rdata_classify(0, &f.res, false, &a);
	n = rdata_mx_list(&f.res, &a, mx, RESOLVER_MX_MAX, &why);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(a.status, DNS_NULLMX);

	/* one malformed record spoils the answer */
	fake_init(&f, 15, 0, 0);
	fake_add(&f, "\x00\x0a\x01""a\x00", 5);
	fake_add(&f, "\x00\x0a\x05""a\x00", 5);
	rdata_classify(0, &f.res, false, &a);
	n = rdata_mx_list(&f.res, &a, mx, RESOLVER_MX_MAX, &why);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(a.status, DNS_PERMFAIL);
	ck_assert(why != NULL);
}
END_TEST

START_TEST(addrs_cases)
{
	struct fake	 f;
	struct ranswer	 a;
	uint8_t		 out[RESOLVER_ADDRS_MAX][16];
	const char	*why = NULL;
	size_t		 n;

	fake_init(&f, 1, 0, 0);
	fake_add(&f, "\x7f\x00\x00\x02", 4);
	fake_add(&f, "\x7f\x00\x00\x03", 4);
	rdata_classify(0, &f.res, false, &a);
	n = rdata_addrs(&f.res, 4, out, RESOLVER_ADDRS_MAX, &a, &why);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[1][3], 3);
	ck_assert_uint_eq(out[1][4], 0);

	fake_init(&f, 28, 0, 0);
	fake_add(&f, "\x7f\x00\x00\x02", 4);
	rdata_classify(0, &f.res, false, &a);
	n = rdata_addrs(&f.res, 6, out, RESOLVER_ADDRS_MAX, &a, &why);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(a.status, DNS_PERMFAIL);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("resolver_rdata");
	TCase	*tc = tcase_create("rdata");

	tcase_add_loop_test(tc, mx_decode_table, 0, sizeof(mx_cases) / sizeof(mx_cases[0]));
	tcase_add_test(tc, mx_decode_long);
	tcase_add_loop_test(tc, name_ok_table, 0, sizeof(name_cases) / sizeof(name_cases[0]));
	tcase_add_test(tc, name_ok_lengths);
	tcase_add_test(tc, classify_cases);
	tcase_add_test(tc, mx_list_cases);
	tcase_add_test(tc, addrs_cases);
	suite_add_tcase(s, tc);

	return check_run(s);
}
