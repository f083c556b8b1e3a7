/* SPDX-License-Identifier: ISC */
/*
 * test_sts.c - MTA-STS (RFC 8461) without a network: _mta-sts TXT records
 * (v=STSv1 first, id alphanumeric of 1..32), policy files (required fields,
 * LF and CRLF, unknown keys ignored, bounds on max_age, mx and size), and the
 * matching of MX host names against the policy's patterns (a wildcard is one
 * leftmost label only).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sts_policy.h"
#include "check_run.h"

static const struct {
	const char	*txt;
	int		 rv;
	const char	*id;
} txt_cases[] = {
	{ "v=STSv1; id=20160831085700Z;", 0, "20160831085700Z" },
	{ "v=STSv1;id=abc", 0, "abc" },
	{ "v=STSv1; id=abc ; ext=1", 0, "abc" },
	{ "v=STSv1; ext=x; id=Z9", 0, "Z9" },
	{ "  v=STSv1;  id=1  ", 0, "1" },
	{ "id=abc; v=STSv1", -1, NULL },		/* v first */
	{ "v=STSv2; id=abc", -1, NULL },
	{ "v=STSv1", -1, NULL },			/* no id */
	{ "v=STSv1; id=", -1, NULL },
	{ "v=STSv1; id=a-b", -1, NULL },		/* not alphanumeric */
	{ "v=STSv1; id=012345678901234567890123456789012", -1, NULL },	/* 33 */
	{ "v=STSv1; id=01234567890123456789012345678901", 0,
	  "01234567890123456789012345678901" },		/* 32 */
	{ "v=STSv1; id=a; id=b", -1, NULL },
	{ "v=spf1 -all", -1, NULL },
	{ "", -1, NULL },
	{ "v=STSv1; junk", -1, NULL },
};

START_TEST(txt_table)
{
	char		 id[STS_ID_MAX];
	const char	*why = NULL;
	int		 rv;

	rv = sts_txt_parse(txt_cases[_i].txt, strlen(txt_cases[_i].txt), id, &why);
	ck_assert_msg(rv == txt_cases[_i].rv, "\"%s\": %d (%s)", txt_cases[_i].txt, rv,
	    why ? why : "");
	if (rv == 0)
		ck_assert_str_eq(id, txt_cases[_i].id);
	else
		ck_assert(why != NULL && id[0] == '\0');
}
END_TEST

static const struct {
	const char	*text;
	int		 rv;
	uint8_t		 mode;
	uint32_t	 max_age;
	unsigned	 nmx;
} policy_cases[] = {
	{ "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
	  "max_age: 86400\n", 0, STS_MODE_ENFORCE, 86400, 2 },
	{ "version: STSv1\r\nmode: testing\r\nmx: mx.example.org\r\nmax_age: 604800\r\n",
	  0, STS_MODE_TESTING, 604800, 1 },
	{ "version:STSv1\nmode:none\nmax_age:0", 0, STS_MODE_NONE, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n", -1, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n", 0,
	  STS_MODE_ENFORCE, STS_MAX_AGE_MAX, 1 },		/* capped at a year */
	{ "version: STSv1\nmode: enforce\nmax_age: 60\n", -1, 0, 0, 0 },	/* no mx */
	{ "version: STSv1\nmode: enforce\nmx: a.example\n", -1, 0, 0, 0 },	/* no max_age */
	{ "mode: enforce\nmx: a.example\nmax_age: 1\n", -1, 0, 0, 0 },	/* no version */
	{ "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", -1, 0, 0, 0 },
	{ "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", -1, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", -1, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", -1, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", -1, 0, 0, 0 },
	{ "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfuture: x\n", 0,
	  STS_MODE_ENFORCE, 1, 1 },				/* unknown keys ignored */
	{ "version: STSv1\nmode: enforce\nmode: testing\nmx: a\nmax_age: 1\n", -1, 0, 0, 0 },
	{ "<html>not a policy</html>\n", -1, 0, 0, 0 },
	{ "", -1, 0, 0, 0 },
};

START_TEST(policy_table)
{
	struct sts_policy	 p;
	const char		*why = NULL;
	int			 rv;

	rv = sts_policy_parse(policy_cases[_i].text, strlen(policy_cases[_i].text), &p, &why);
	ck_assert_msg(rv == policy_cases[_i].rv, "case %d: %d (%s)", _i, rv, why ? why : "");
	if (rv == 0) {
		ck_assert_uint_eq(p.mode, policy_cases[_i].mode);
		ck_assert_uint_eq(p.max_age, policy_cases[_i].max_age);
		ck_assert_uint_eq(p.nmx, policy_cases[_i].nmx);
	} else
		ck_assert(why != NULL);
}
END_TEST

START_TEST(policy_limits)
{
	struct sts_policy	 p;
	const char		*why;
	char			*big;
	size_t			 n = STS_POLICY_BYTES_MAX + 1;
	char			 nul[] = "version: STSv1\nmode: none\0\nmax_age: 1\n";

	big = malloc(n);
	memset(big, '\n', n);
	ck_assert_int_eq(sts_policy_parse(big, n, &p, &why), -1);
	free(big);
	ck_assert_int_eq(sts_policy_parse(nul, sizeof(nul) - 1, &p, &why), -1);
}
END_TEST

START_TEST(mx_matching)
{
	struct sts_policy	 p;
	const char		*why;
	const char		*text = "version: STSv1\nmode: enforce\nmx: Mail.Example.com.\n"
				    "mx: *.example.net\nmax_age: 60\n";

	ck_assert_int_eq(sts_policy_parse(text, strlen(text), &p, &why), 0);
	ck_assert_str_eq(p.mx[0], "mail.example.com");
	ck_assert(sts_mx_match(&p, "mail.example.com"));
	ck_assert(sts_mx_match(&p, "MAIL.example.com."));
	ck_assert(sts_mx_match(&p, "mx1.example.net"));
	ck_assert(!sts_mx_match(&p, "example.net"));		/* the wildcard needs a label */
	ck_assert(!sts_mx_match(&p, "a.b.example.net"));	/* exactly one label */
	ck_assert(!sts_mx_match(&p, "other.example.com"));
	ck_assert(!sts_mx_match(&p, "mail.example.com.evil"));
	ck_assert(!sts_mx_match(&p, ""));
	ck_assert_str_eq(sts_mode_name(STS_MODE_TESTING), "testing");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sts");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, txt_table, 0, sizeof(txt_cases) / sizeof(txt_cases[0]));
	tcase_add_loop_test(tc, policy_table, 0, sizeof(policy_cases) / sizeof(policy_cases[0]));
	tcase_add_test(tc, policy_limits);
	tcase_add_test(tc, mx_matching);
	suite_add_tcase(s, tc);
	return check_run(s);
}
