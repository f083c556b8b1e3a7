/* SPDX-License-Identifier: ISC */
/*
 * test_resolver_zones.c - the list of libunbound's built-in local zones that
 * the resolver opens to the configured DNS servers: all 102 zones of
 * libunbound 1.17 (localhost and its reverse zones, home.arpa., onion.,
 * test., invalid., the AS112 reverse zones), each once, in absolute form.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/resolver.h"
#include "check_run.h"

#define NZONES_MAX	128

static char	*zones[NZONES_MAX];
static size_t	 nzones;

static void
collect(const char *zone, void *arg)
{
	ck_assert_uint_lt(nzones, NZONES_MAX);
	zones[nzones++] = strdup(zone);
}

static bool
listed(const char *zone)
{
	for (size_t i = 0; i < nzones; i++)
		if (strcmp(zones[i], zone) == 0)
			return true;
	return false;
}

START_TEST(every_default_zone_once)
{
	static const char *const must[] = {
		"localhost.", "127.in-addr.arpa.", "home.arpa.", "onion.", "test.", "invalid.",
		"10.in-addr.arpa.", "16.172.in-addr.arpa.", "31.172.in-addr.arpa.",
		"168.192.in-addr.arpa.", "0.in-addr.arpa.", "64.100.in-addr.arpa.",
		"127.100.in-addr.arpa.", "254.169.in-addr.arpa.", "2.0.192.in-addr.arpa.",
		"100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
		"255.255.255.255.in-addr.arpa.", "d.f.ip6.arpa.", "b.e.f.ip6.arpa.",
		"8.b.d.0.1.0.0.2.ip6.arpa.",
	};
	size_t	n, i, j;

	nzones = 0;
	n = resolver_default_zones(collect, NULL);
	ck_assert_uint_eq(n, nzones);
	ck_assert_uint_eq(n, 102);
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		ck_assert_msg(listed(must[i]), "%s missing", must[i]);
	ck_assert(!listed("15.172.in-addr.arpa.") && !listed("32.172.in-addr.arpa."));
	ck_assert(!listed("63.100.in-addr.arpa.") && !listed("128.100.in-addr.arpa."));
	for (i = 0; i < nzones; i++) {
		ck_assert_msg(zones[i][strlen(zones[i]) - 1] == '.', "%s not absolute", zones[i]);
		for (j = i + 1; j < nzones; j++)
			ck_assert_msg(strcmp(zones[i], zones[j]) != 0, "%s twice", zones[i]);
	}
	for (i = 0; i < nzones; i++)
		free(zones[i]);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("resolver_zones");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, every_default_zone_once);
	suite_add_tcase(s, tc);
	return check_run(s);
}
