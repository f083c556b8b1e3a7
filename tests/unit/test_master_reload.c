/* SPDX-License-Identifier: ISC */
/*
 * test_master_reload.c - what a reload restarts: for each parameter, exactly
 * the processes that hold it, and the names the log gives.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "master/master.h"
#include "check_run.h"

#define Q	(1u << PROC_QMGR)
#define S	(1u << PROC_SCHEDULER)
#define R	(1u << PROC_RESOLVER)
#define D	(1u << PROC_SMTPD)
#define A	(1u << PROC_AGENT)
#define T	(1u << PROC_STS)

static const char base[] =
    "delivery_mode = relay\n"
    "relay_host = [127.0.0.1]:2526\n"
    "relay_auth_user = me\n"
    "relay_auth_password_file = /etc/outpost/relay-password\n";

static const struct {
	const char	*line;		/* appended to base */
	unsigned	 kinds;
	const char	*names;
} cases[] = {
	{ "", 0, "" },
	{ "log_level = detailed\n", 0, "log_level" },
	{ "admin_group = adm\n", 0, "admin_group" },
	{ "tls_policy = encrypt\n", S | A, "tls_policy" },
	{ "relay_tls_policy = encrypt\n", S | A, "relay_tls_policy" },
	{ "tls_ca_file = /etc/ssl/certs/ca-certificates.crt\n", A | T, "tls_ca_file" },
	{ "relay_auth_user = other\n", A, "relay_auth_user" },
	{ "relay_auth_password_file = /etc/outpost/other\n", A, "relay_auth_password_file" },
	{ "relay_auth_plaintext = yes\n", A, "relay_auth_plaintext" },
	{ "smtp_data_timeout = 20\n", A, "smtp_data_timeout" },
	{ "resend_interval = 1h\n", S, "resend_interval" },
	{ "dns_servers = 127.0.0.1@5353\n", R, "dns_servers" },
	{ "listen = 127.0.0.1:2599\n", D, "listen" },
	{ "allowed_networks = 127.0.0.0/16\n", D, "allowed_networks" },
	{ "max_message_size = 1M\n", Q | D, "max_message_size" },
	{ "helo_name = other.example\n", Q | S | D | A, "helo_name" },
	{ "[agent]\nnice = 5\n", A, "[agent]" },
	{ "[resolver]\nopen_files = 100\n", R, "[resolver]" },
	{ "[routes]\nexample.org = [192.0.2.1]:25\n", S, "[routes]" },
};

START_TEST(each_parameter_restarts_its_holders)
{
	struct config	o, n;
	char		err[1024], text[2048], names[1024];
	unsigned	kinds;

	ck_assert_msg(config_parse(&o, "t.conf", base, strlen(base), err, sizeof(err)) == 0, "%s", err);
	/* The case's parameter replaces the base's line of the same name:
	 * a key given twice is an error of its own. */
	{
		const char	*eq = strchr(cases[_i].line, '=');
		size_t		 klen = eq != NULL ? (size_t)(eq - cases[_i].line) : 0;
		const char	*line, *nl;

		text[0] = '\0';
		for (line = base; *line != '\0'; line = nl + 1) {
			nl = strchr(line, '\n');
			if (klen == 0 || strncmp(line, cases[_i].line, klen) != 0)
				strncat(text, line, (size_t)(nl - line) + 1);
		}
		strlcat(text, cases[_i].line, sizeof(text));
	}
	ck_assert_msg(config_parse(&n, "t.conf", text, strlen(text), err, sizeof(err)) == 0, "%s", err);
	kinds = reload_changed(&o, &n, names, sizeof(names));
	ck_assert_msg(kinds == cases[_i].kinds, "%s: kinds 0x%x, want 0x%x", cases[_i].line, kinds,
	    cases[_i].kinds);
	ck_assert_str_eq(names, cases[_i].names);
	config_free(&o);
	config_free(&n);
}
END_TEST

static Suite *
suite(void)
{
	Suite	*s = suite_create("master_reload");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, each_parameter_restarts_its_holders, 0,
	    sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(suite());
}
