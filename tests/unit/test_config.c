/* SPDX-License-Identifier: ISC */
/*
 * test_config.c - the configuration parser and checker: defaults, every
 * parameter type, each mistake reported with file:line, routes and networks.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "check_run.h"

#ifndef SHIPPED_CONF
#define SHIPPED_CONF	"etc/outpost.conf"	/* the tests run from the top directory */
#endif

static int
parse(struct config *c, const char *text, char *err, size_t errlen)
{
	return config_parse(c, "test.conf", text, strlen(text), err, errlen);
}

START_TEST(defaults_follow_the_seed)
{
	struct config	c;
	char		err[1024];

	ck_assert_int_eq(parse(&c, "", err, sizeof(err)), 0);
	ck_assert_int_eq(c.mode, MODE_INDEPENDENT);
	ck_assert_uint_eq(c.resend_attempts, 5);
	ck_assert_uint_eq(c.resend_interval, 300);
	ck_assert_uint_eq(c.nlisten, 1);
	ck_assert_str_eq(c.listen[0].host, "127.0.0.1");
	ck_assert_uint_eq(c.listen[0].port, 2525);
	ck_assert_uint_eq(c.ndns_servers, 0);
	ck_assert_str_eq(c.dnssec_trust_anchor, "");
	ck_assert_uint_eq(c.limits[PROC_AGENT].count, 2);
	ck_assert_uint_eq(c.max_message_size, 35u * 1024 * 1024);
	config_free(&c);
}
END_TEST

START_TEST(values_of_every_type)
{
	struct config	c;
	char		err[1024];
	const char	*text =
	    "delivery_mode = relay\n"
	    "relay_host = smtp.example.net:587   # company smarthost\n"
	    "resend_attempts = 3\n"
	    "resend_interval = 2h\n"
	    "max_message_size = 10M\n"
	    "dns_servers = 192.0.2.1, 2001:db8::1@5353\n"
	    "dnssec_trust_anchor = /usr/share/dns/root.key\n"
	    "listen = 127.0.0.1:25, [::1]:2526\n"
	    "allowed_networks = 127.1.0.0/16 ::1\n"
	    "inet_protocols = ipv6\n"
	    "log_level = detailed\n"
	    "[agent]\ncount = 4\nmax_sessions = 50\nopen_files = 4096\nmemory = 512M\nnice = 5\n"
	    "[routes]\nexample.org = [192.0.2.25]:2525\n.example.com = mx.example.com\n";

	ck_assert_msg(parse(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.mode, MODE_RELAY);
	ck_assert_str_eq(c.relay_host.host, "smtp.example.net");
	ck_assert_uint_eq(c.relay_host.port, 587);
	ck_assert(!c.relay_host.literal);
	ck_assert_uint_eq(c.resend_attempts, 3);
	ck_assert_uint_eq(c.resend_interval, 7200);
	ck_assert_uint_eq(c.max_message_size, 10u * 1024 * 1024);
	ck_assert_uint_eq(c.ndns_servers, 2);
	ck_assert_str_eq(c.dns_servers[1].host, "2001:db8::1");
	ck_assert_uint_eq(c.dns_servers[1].port, 5353);
	ck_assert_uint_eq(c.dns_servers[0].port, 53);
	ck_assert_str_eq(c.dnssec_trust_anchor, "/usr/share/dns/root.key");
	ck_assert_uint_eq(c.nlisten, 2);
	ck_assert_str_eq(c.listen[1].host, "::1");
	ck_assert_uint_eq(c.nnetworks, 2);
	ck_assert_int_eq(c.inet_protocols, INET_IPV6);
	ck_assert_int_eq(c.log_level, LOGLEVEL_DETAILED);
	ck_assert_uint_eq(c.limits[PROC_AGENT].count, 4);
	ck_assert_uint_eq(c.limits[PROC_AGENT].memory, 512u * 1024 * 1024);
	ck_assert_int_eq(c.limits[PROC_AGENT].nice, 5);
	ck_assert_uint_eq(c.nroutes, 2);
	config_free(&c);
}
END_TEST

static const struct {
	const char	*text;
	const char	*expect;	/* substring of the error, with file:line */
} bad[] = {
	{ "resend_attempts = many\n", "test.conf:1: resend_attempts" },
	{ "\n\nresend_interval = 5x\n", "test.conf:3: resend_interval" },
	{ "resend_interval = 0\n", "test.conf:1:" },
	{ "nosuch = 1\n", "test.conf:1: unknown parameter \"nosuch\"" },
	{ "delivery_mode = fast\n", "test.conf:1:" },
	{ "delivery_mode = relay\n", "relay needs relay_host" },
	{ "relay_host = host:99999\n", "test.conf:1:" },
	{ "relay_host = 2001:db8::1\n", "test.conf:1:" },
	{ "relay_host = bad..name\n", "test.conf:1:" },
	{ "listen = localhost:25\n", "test.conf:1: listen" },
	{ "allowed_networks = 127.0.0.0/33\n", "test.conf:1: allowed_networks" },
	{ "dns_servers = ns.example.org\n", "test.conf:1: dns_servers" },
	{ "max_message_size = 10T\n", "test.conf:1: max_message_size" },
	{ "just words\n", "test.conf:1: expected \"name = value\"" },
	{ "[nosuch]\ncount = 1\n", "test.conf:1: unknown section" },
	{ "[qmgr]\ncount = 2\n", "[qmgr] count must be 1" },
	{ "[agent]\ncolour = blue\n", "test.conf:2: unknown parameter \"colour\" in [agent]" },
	{ "[agent\n", "test.conf:1: malformed section" },
	{ "[routes]\nexample.org = bad host\n", "test.conf:2: route for example.org" },
	{ "[routes]\nnot_a domain = host\n", "test.conf:2:" },
	{ "[routes]\na.org = h1\na.org = h2\n", "test.conf:3: route for a.org given twice" },
	{ "state_directory = relative/dir\n", "state_directory must be an absolute path" },
	{ "log = somewhere\n", "log must be syslog, journal, stderr or an absolute file path" },
	{ "dnssec_trust_anchor = root.key\n", "dnssec_trust_anchor must be an absolute path" },
	{ "user = outpost\0evil\n", "NUL byte" },
	{ "tls_policy = sometimes\n", "test.conf:1: tls_policy" },
	{ "relay_auth_plaintext = maybe\n", "test.conf:1: relay_auth_plaintext" },
	{ "relay_auth_user = me\n", "relay_auth_user needs relay_auth_password_file" },
	{ "[routes]\na.org = h1 tls=always\n", "test.conf:2: route for a.org" },
	{ "[routes]\na.org = h1 verify\n", "test.conf:2: route for a.org" },
	/* a key given twice names both lines */
	{ "resend_attempts = 3\n\nresend_attempts = 4\n",
	  "test.conf:3: resend_attempts given twice: on line 1 and line 3" },
	{ "[agent]\ncount = 3\n[smtpd]\n[agent]\ncount = 4\n",
	  "test.conf:5: count given twice in [agent]: on line 2 and line 5" },
	/* parameters appended after the sections */
	{ "[routes]\ndelivery_mode = relay\n",
	  "test.conf:2: delivery_mode: this parameter belongs before the [routes] section" },
	{ "[routes]\nrelay_host = smtp.example.net\n",
	  "test.conf:2: relay_host: this parameter belongs before the [routes] section" },
	{ "[agent]\nresend_attempts = 2\n",
	  "test.conf:2: resend_attempts: this parameter belongs before the [agent] section" },
	{ "count = 2\n", "test.conf:1: count belongs in a process section" },
	{ "[routes]\nlocalpart_x = h1\n", "is not a domain, .domain or [address]" },
	{ "[routes]\n[192.0.2.300] = h1\n", "is not an address literal" },
	{ "[routes]\n[2001:db8::1] = h1\n", "is not an address literal" },
	/* listen needs its port */
	{ "listen = 127.0.0.1\n", "test.conf:1: listen: every item needs its port" },
	{ "listen = 127.0.0.1:2525, [::1]\n", "test.conf:1: listen: every item needs its port" },
	/* nearest names */
	{ "resend_atempts = 2\n", "unknown parameter \"resend_atempts\" (did you mean resend_attempts?)" },
	{ "relayhost = a.example\n", "(did you mean relay_host?)" },
	{ "[agent]\nmax_session = 2\n", "in [agent] (did you mean max_sessions?)" },
};

/* A mistake with nothing near it gets no suggestion; one error per mistake. */
START_TEST(suggestions_and_single_errors)
{
	struct config	c;
	char		err[2048];
	const char	*p;
	int		n = 0;

	ck_assert_int_eq(parse(&c, "colour = blue\n", err, sizeof(err)), -1);
	ck_assert_ptr_null(strstr(err, "did you mean"));
	config_free(&c);
	/* a bad relay_host: its own error only, not "relay needs relay_host" too */
	ck_assert_int_eq(parse(&c, "delivery_mode = relay\nrelay_host = bad..name\n", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "test.conf:2: relay_host"));
	ck_assert_ptr_null(strstr(err, "needs relay_host"));
	for (p = err; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	ck_assert_int_eq(n, 1);
	config_free(&c);
	/* the route forms that are right */
	ck_assert_msg(parse(&c, "[routes]\n[192.0.2.1] = h1\n[IPv6:2001:db8::1] = h2\n"
	    ".Example.ORG = h3\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.nroutes, 3);
	ck_assert_ptr_nonnull(config_route(&c, "[192.0.2.1]"));
	ck_assert_ptr_nonnull(config_route(&c, "a.example.org"));
	config_free(&c);
	/* -o also suggests */
	config_defaults(&c);
	ck_assert_int_eq(config_override(&c, "resend_intervall=5m", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "did you mean resend_interval?"));
	config_free(&c);
}
END_TEST

/* The shipped file, with what an admin appends at its end, means what it says. */
START_TEST(shipped_file_takes_appended_parameters)
{
	struct config	 c;
	char		 err[4096], *text;
	FILE		*fp;
	size_t		 len;

	fp = fopen(SHIPPED_CONF, "r");
	ck_assert_ptr_nonnull(fp);
	text = calloc(1, 65536);
	len = fread(text, 1, 65536 - 200, fp);
	fclose(fp);
	strlcat(text, "delivery_mode = relay\nrelay_host = smtp.example.net:587\n", 65536);
	len = strlen(text);
	ck_assert_msg(config_parse(&c, "outpost.conf", text, len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.mode, MODE_RELAY);
	ck_assert_str_eq(c.relay_host.host, "smtp.example.net");
	ck_assert_uint_eq(c.nroutes, 0);
	ck_assert_uint_eq(c.limits[PROC_AGENT].count, 2);
	config_free(&c);
	free(text);
}
END_TEST

START_TEST(mistakes_are_reported_with_line)
{
	struct config	c;
	char		err[2048];
	size_t		len = strlen(bad[_i].text);

	if (strstr(bad[_i].expect, "NUL") != NULL)
		len = 20;	/* the literal holds a NUL inside */
	ck_assert_int_eq(config_parse(&c, "test.conf", bad[_i].text, len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad[_i].expect) != NULL, "expected \"%s\" in \"%s\"",
	    bad[_i].expect, err);
	config_free(&c);
}
END_TEST

START_TEST(tls_relay_and_routes)
{
	struct config		 c;
	char			 err[1024];
	const struct route	*r;

	ck_assert_msg(parse(&c, "relay_host = smtps://smtp.example.net\n"
	    "relay_tls_policy = encrypt\nrelay_auth_user = me\n"
	    "relay_auth_password_file = /etc/outpost/relay-password\n"
	    "smtp_command_timeout = 20s\n"
	    "[routes]\na.org = [192.0.2.1]:2525 tls=verify\nb.org = mx.b.org\n",
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert(c.relay_host.smtps);
	ck_assert_uint_eq(c.relay_host.port, 465);
	ck_assert_uint_eq(c.relay_tls_policy, TLS_ENCRYPT);
	ck_assert_uint_eq(c.tls_policy, TLS_MAY);
	ck_assert_uint_eq(c.smtp_command_timeout, 20);
	ck_assert_uint_eq(c.smtp_final_timeout, 600);
	ck_assert_str_eq(c.relay_auth_user, "me");
	ck_assert(!c.relay_auth_plaintext);
	r = config_route(&c, "a.org");
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->tls, TLS_VERIFY);
	ck_assert_uint_eq(r->via.port, 2525);
	r = config_route(&c, "b.org");
	ck_assert_uint_eq(r->tls, TLS_INHERIT);
	config_free(&c);
	/* The relay host defaults to verify, independent deliveries to may. */
	ck_assert_int_eq(parse(&c, "", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.relay_tls_policy, TLS_VERIFY);
	config_free(&c);
}
END_TEST

START_TEST(every_mistake_is_reported)
{
	struct config	c;
	char		err[2048];

	ck_assert_int_eq(parse(&c, "a = 1\nb = 2\nresend_attempts = x\n", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "test.conf:1:"));
	ck_assert_ptr_nonnull(strstr(err, "test.conf:2:"));
	ck_assert_ptr_nonnull(strstr(err, "test.conf:3:"));
	config_free(&c);
}
END_TEST

START_TEST(routes_match_domain_and_subdomains)
{
	struct config		 c;
	char			 err[1024];
	const struct route	*r;

	ck_assert_int_eq(parse(&c, "[routes]\nExample.org = [192.0.2.25]:2525\n"
	    ".example.com = mx.example.com\n", err, sizeof(err)), 0);
	r = config_route(&c, "example.ORG");
	ck_assert_ptr_nonnull(r);
	ck_assert(r->via.literal);
	ck_assert_str_eq(r->via.host, "192.0.2.25");
	ck_assert_uint_eq(r->via.port, 2525);
	ck_assert_ptr_null(config_route(&c, "sub.example.org"));
	ck_assert_ptr_null(config_route(&c, "example.com"));
	r = config_route(&c, "a.b.example.com");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->via.host, "mx.example.com");
	ck_assert_uint_eq(r->via.port, 25);
	ck_assert_ptr_null(config_route(&c, "notexample.com"));
	config_free(&c);
}
END_TEST

START_TEST(networks_allow_and_deny)
{
	struct config		c;
	char			err[1024];
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	struct sockaddr_in6	sin6 = { .sin6_family = AF_INET6 };

	ck_assert_int_eq(parse(&c, "allowed_networks = 127.0.0.0/8, 192.0.2.128/25, ::1/128\n",
	    err, sizeof(err)), 0);
	inet_pton(AF_INET, "127.1.2.3", &sin.sin_addr);
	ck_assert(config_network_allowed(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.200", &sin.sin_addr);
	ck_assert(config_network_allowed(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.100", &sin.sin_addr);
	ck_assert(!config_network_allowed(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	ck_assert(config_network_allowed(&c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::2", &sin6.sin6_addr);
	ck_assert(!config_network_allowed(&c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr);
	ck_assert(config_network_allowed(&c, (struct sockaddr *)&sin6));
	config_free(&c);
}
END_TEST

START_TEST(durations_and_sizes)
{
	ck_assert_int_eq(config_parse_duration("300", 1000), 300);
	ck_assert_int_eq(config_parse_duration("5m", 1000), 300);
	ck_assert_int_eq(config_parse_duration("1d", 100000), 86400);
	ck_assert_int_eq(config_parse_duration("2d", 100000), -1);	/* over max */
	ck_assert_int_eq(config_parse_duration("-1", 1000), -1);
	ck_assert_int_eq(config_parse_duration("5mm", 1000), -1);
	ck_assert_int_eq(config_parse_duration("", 1000), -1);
	ck_assert_int_eq(config_parse_duration("99999999999999999999999", ~0ULL), -1);
	ck_assert_int_eq(config_parse_size("10k", 1 << 20), 10240);
	ck_assert_int_eq(config_parse_size("1G", 1ULL << 40), 1 << 30);
	ck_assert_int_eq(config_parse_size("1.5M", 1ULL << 40), -1);
}
END_TEST

START_TEST(overrides_apply_and_check)
{
	struct config	c;
	char		err[1024];

	ck_assert_int_eq(parse(&c, "", err, sizeof(err)), 0);
	ck_assert_int_eq(config_override(&c, "state_directory=/tmp/x", err, sizeof(err)), 0);
	ck_assert_str_eq(c.state_directory, "/tmp/x");
	ck_assert_int_eq(config_override(&c, "resend_interval=10s", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.resend_interval, 10);
	ck_assert_int_eq(config_override(&c, "bogus=1", err, sizeof(err)), -1);
	ck_assert_int_eq(config_override(&c, "no-equals", err, sizeof(err)), -1);
	ck_assert_int_eq(config_override(&c, "delivery_mode=relay", err, sizeof(err)), -1);
	/* given together, the order of the overrides does not matter */
	{
		const char *const ov[] = { "delivery_mode=relay", "relay_host=[127.0.0.1]:2526" };

		ck_assert_int_eq(config_overrides(&c, ov, 2, err, sizeof(err)), 0);
		ck_assert_int_eq(c.mode, MODE_RELAY);
	}
	config_free(&c);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, defaults_follow_the_seed);
	tcase_add_test(tc, values_of_every_type);
	tcase_add_loop_test(tc, mistakes_are_reported_with_line, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, every_mistake_is_reported);
	tcase_add_test(tc, suggestions_and_single_errors);
	tcase_add_test(tc, shipped_file_takes_appended_parameters);
	tcase_add_test(tc, tls_relay_and_routes);
	tcase_add_test(tc, routes_match_domain_and_subdomains);
	tcase_add_test(tc, networks_allow_and_deny);
	tcase_add_test(tc, durations_and_sizes);
	tcase_add_test(tc, overrides_apply_and_check);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(config_suite());
}
