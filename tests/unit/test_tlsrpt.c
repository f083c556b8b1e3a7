/* SPDX-License-Identifier: ISC */
/*
 * test_tlsrpt.c - TLS-RPT (RFC 8460) building blocks: _smtp._tls TXT records
 * (v=TLSRPTv1 first, rua with mailto: and https: URIs, others skipped) and
 * the aggregate report's JSON, byte for byte with the RFC's field names,
 * strings escaped.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"
#include "check_run.h"

static const struct {
	const char	*txt;
	int		 rv;
	unsigned	 n;
	const char	*first;
} txt_cases[] = {
	{ "v=TLSRPTv1; rua=mailto:reports@example.com", 0, 1, "mailto:reports@example.com" },
	{ "v=TLSRPTv1;rua=mailto:a@x.example,https://r.example/v1/tlsrpt", 0, 2,
	  "mailto:a@x.example" },
	{ "v=TLSRPTv1; rua=ftp://x.example, https://r.example/ ;", 0, 1, "https://r.example/" },
	{ "v=TLSRPTv1; rua=ftp://x.example", -1, 0, NULL },
	{ "v=TLSRPTv1", -1, 0, NULL },
	{ "rua=mailto:a@x.example; v=TLSRPTv1", -1, 0, NULL },
	{ "v=TLSRPTv2; rua=mailto:a@x.example", -1, 0, NULL },
	{ "v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example", -1, 0, NULL },
	{ "v=TLSRPTv1; junk", -1, 0, NULL },
	{ "", -1, 0, NULL },
};

START_TEST(txt_table)
{
	struct tlsrpt_rua	 r;
	const char		*why = NULL;
	int			 rv;

	rv = tlsrpt_txt_parse(txt_cases[_i].txt, strlen(txt_cases[_i].txt), &r, &why);
	ck_assert_msg(rv == txt_cases[_i].rv, "\"%s\": %d (%s)", txt_cases[_i].txt, rv,
	    why ? why : "");
	ck_assert_uint_eq(r.n, txt_cases[_i].n);
	if (rv == 0)
		ck_assert_str_eq(r.uri[0], txt_cases[_i].first);
	else
		ck_assert(why != NULL);
}
END_TEST

START_TEST(report_json)
{
	static const char *const strings[] = { "version: STSv1", "mode: testing",
	    "mx: *.mail.y.example", "max_age: 86400" };
	static const char *const mx[] = { "*.mail.y.example" };
	static const struct tlsrpt_failure fails[] = {
		{ "certificate-host-mismatch", "192.0.2.1", "mx1.mail.y.example", 3, NULL },
	};
	struct tlsrpt_policy	 p[2] = {
		{ TLSRPT_STS, "y.example", strings, 4, mx, 1, 5326, 3, fails, 1 },
		{ TLSRPT_NO_POLICY, "z.example", NULL, 0, NULL, 0, 1, 0, NULL, 0 },
	};
	struct tlsrpt_report	 r = { "Org \"X\"", "tls@x.example", "2026-12-07T00:00:00Z_y",
	    1796601600, 1796687999, p, 2 };
	char			*json;
	size_t			 len;

	json = tlsrpt_json(&r, &len);
	ck_assert_uint_eq(len, strlen(json));
	ck_assert_str_eq(json,
	    "{\"organization-name\":\"Org \\\"X\\\"\","
	    "\"date-range\":{\"start-datetime\":\"2026-12-07T00:00:00Z\","
	    "\"end-datetime\":\"2026-12-07T23:59:59Z\"},"
	    "\"contact-info\":\"tls@x.example\",\"report-id\":\"2026-12-07T00:00:00Z_y\","
	    "\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":"
	    "[\"version: STSv1\",\"mode: testing\",\"mx: *.mail.y.example\",\"max_age: 86400\"],"
	    "\"policy-domain\":\"y.example\",\"mx-host\":[\"*.mail.y.example\"]},"
	    "\"summary\":{\"total-successful-session-count\":5326,"
	    "\"total-failure-session-count\":3},"
	    "\"failure-details\":[{\"result-type\":\"certificate-host-mismatch\","
	    "\"sending-mta-ip\":\"192.0.2.1\",\"receiving-mx-hostname\":\"mx1.mail.y.example\","
	    "\"failed-session-count\":3}]},"
	    "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"z.example\"},"
	    "\"summary\":{\"total-successful-session-count\":1,"
	    "\"total-failure-session-count\":0}}]}");
	free(json);

	/* control characters are escaped */
	r.org = "a\nb\x01";
	r.npolicies = 0;
	json = tlsrpt_json(&r, &len);
	ck_assert_ptr_nonnull(strstr(json, "\"organization-name\":\"a\\u000ab\\u0001\""));
	ck_assert_ptr_nonnull(strstr(json, "\"policies\":[]}"));
	free(json);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("tlsrpt");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, txt_table, 0, sizeof(txt_cases) / sizeof(txt_cases[0]));
	tcase_add_test(tc, report_json);
	suite_add_tcase(s, tc);
	return check_run(s);
}
