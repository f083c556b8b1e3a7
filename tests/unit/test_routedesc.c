/* SPDX-License-Identifier: ISC */
/*
 * test_routedesc.c - where the configuration sends a domain's mail
 * (shared/routedesc.c, used by sendmail -bv and outpostctl route): relay
 * host with and without brackets, [routes] entries for a domain and its
 * subdomains with their own or the inherited TLS policy, MX lookup
 * otherwise, and the one line people read.
 */
#include <check.h>
#include <string.h>

#include "config.h"
#include "routedesc.h"
#include "check_run.h"

static const struct plan_case {
	const char	*conf;
	const char	*domain;
	const char	*line;
} plans[] = {
	{ "delivery_mode = relay\nrelay_host = [192.0.2.1]:587\nrelay_tls_policy = encrypt\n",
	  "example.net", "relay_host [192.0.2.1]:587, address lookup, tls encrypt" },
	{ "delivery_mode = relay\nrelay_host = smtp.example.net\n",
	  "example.net", "relay_host smtp.example.net:25, MX lookup, tls verify" },
	{ "delivery_mode = relay\nrelay_host = smtps://smtp.example.net\n",
	  "example.net", "relay_host smtp.example.net:465 (smtps), MX lookup, tls verify" },
	{ "tls_policy = may\n", "Example.NET", "MX hosts of Example.NET, port 25, tls may" },
	{ "tls_policy = verify\n[routes]\nexample.org = [192.0.2.25]:2525 tls=none\n",
	  "example.org", "route [192.0.2.25]:2525, address lookup, tls none" },
	{ "tls_policy = encrypt\n[routes]\n.example.com = mx.example.com\n",
	  "a.b.example.com", "route mx.example.com:25, MX lookup, tls encrypt" },
	{ "tls_policy = encrypt\n[routes]\n.example.com = mx.example.com\n",
	  "example.org", "MX hosts of example.org, port 25, tls encrypt" },
	/* relay mode ignores [routes] */
	{ "delivery_mode = relay\nrelay_host = [192.0.2.1]\n[routes]\nexample.org = [192.0.2.25]\n",
	  "example.org", "relay_host [192.0.2.1]:25, address lookup, tls verify" },
};

START_TEST(test_plan)
{
	const struct plan_case *c = &plans[_i];
	struct config conf;
	struct route_plan p;
	char err[2048], line[700];

	ck_assert_msg(config_parse(&conf, "t.conf", c->conf, strlen(c->conf), err,
	    sizeof(err)) == 0, "case %d: %s", _i, err);
	route_plan(&conf, c->domain, &p);
	route_plan_line(&p, line, sizeof(line));
	ck_assert_msg(strcmp(line, c->line) == 0, "case %d: \"%s\"", _i, line);
	config_free(&conf);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("routedesc");
	TCase *tc = tcase_create("plan");

	tcase_add_loop_test(tc, test_plan, 0, sizeof(plans) / sizeof(plans[0]));
	suite_add_tcase(s, tc);
	return check_run(s);
}
