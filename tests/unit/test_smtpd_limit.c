/* SPDX-License-Identifier: ISC */
/*
 * test_smtpd_limit.c - per-client-address limits in smtpd: the Nth+1
 * concurrent connection of one address is refused while other addresses
 * are served, a slot freed is a slot usable again, the connection rate
 * counts connections opened in the window even when they were closed, and
 * a limit of 0 is no limit.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "smtpd/smtpd.h"
#include "check_run.h"

static struct config	conf;
static char		why[128];

static const char *
admit(const char *ip)
{
	return limit_admit(&conf, ip, why, sizeof(why));
}

START_TEST(limit_concurrent)
{
	unsigned	i;

	config_defaults(&conf);
	conf.client_connection_limit = 3;
	conf.client_connection_rate = 0;
	for (i = 0; i < 3; i++)
		ck_assert_ptr_null(admit("192.0.2.1"));
	ck_assert_ptr_nonnull(admit("192.0.2.1"));
	ck_assert_msg(strstr(why, "client_connection_limit 3") != NULL, "%s", why);
	/* another address is not affected */
	ck_assert_ptr_null(admit("192.0.2.2"));
	/* one leaves: one more may come */
	limit_release(&conf, "192.0.2.1");
	ck_assert_ptr_null(admit("192.0.2.1"));
	ck_assert_ptr_nonnull(admit("192.0.2.1"));
	for (i = 0; i < 3; i++)
		limit_release(&conf, "192.0.2.1");
	limit_release(&conf, "192.0.2.2");
	/* releasing more than was admitted does no harm */
	limit_release(&conf, "192.0.2.1");
	limit_release(&conf, "198.51.100.9");
	for (i = 0; i < 3; i++)
		ck_assert_ptr_null(admit("192.0.2.1"));
	for (i = 0; i < 3; i++)
		limit_release(&conf, "192.0.2.1");
}
END_TEST

START_TEST(limit_rate)
{
	unsigned	i;

	config_defaults(&conf);
	conf.client_connection_limit = 0;
	conf.client_connection_rate = 5;
	for (i = 0; i < 5; i++) {
		ck_assert_ptr_null(admit("2001:db8::1"));
		limit_release(&conf, "2001:db8::1");
	}
	ck_assert_ptr_nonnull(admit("2001:db8::1"));
	ck_assert_msg(strstr(why, "client_connection_rate 5") != NULL, "%s", why);
	ck_assert_ptr_null(admit("2001:db8::2"));
	limit_release(&conf, "2001:db8::2");
}
END_TEST

START_TEST(limit_off)
{
	unsigned	i;

	config_defaults(&conf);
	conf.client_connection_limit = 0;
	conf.client_connection_rate = 0;
	for (i = 0; i < 1000; i++)
		ck_assert_ptr_null(admit("203.0.113.7"));
	for (i = 0; i < 1000; i++)
		limit_release(&conf, "203.0.113.7");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("smtpd_limit");
	TCase	*tc = tcase_create("limit");

	tcase_add_test(tc, limit_concurrent);
	tcase_add_test(tc, limit_rate);
	tcase_add_test(tc, limit_off);
	suite_add_tcase(s, tc);
	return check_run(s);
}
