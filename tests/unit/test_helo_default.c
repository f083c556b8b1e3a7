/* SPDX-License-Identifier: ISC */
/*
 * test_helo_default.c - the default helo_name: /etc/mailname (here a file
 * under /tmp) when it holds a host name, else a qualified host name as it
 * is, else the host's canonical name (an injected lookup: no DNS here),
 * else the short name, which the start warns about.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helo_default.h"
#include "check_run.h"

static int	canon_calls;

static int
canon_fqdn(const char *host, char *out, size_t len)
{
	canon_calls++;
	snprintf(out, len, "%s.example.net", host);
	return 0;
}

static int
canon_none(const char *host, char *out, size_t len)
{
	canon_calls++;
	return -1;
}

static int
canon_short(const char *host, char *out, size_t len)
{
	canon_calls++;
	snprintf(out, len, "%s", host);
	return 0;
}

static char	mailname[64];

static void
write_mailname(const char *text)
{
	FILE	*fp;

	strlcpy(mailname, "/tmp/outpost-mailname-XXXXXX", sizeof(mailname));
	ck_assert_int_ne(mkstemp(mailname), -1);
	fp = fopen(mailname, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

static const struct {
	const char	*name;
	const char	*mailname;	/* file content, NULL: no file */
	const char	*host;
	helo_canon_fn	 canon;
	const char	*want;
	int		 lookups;
} cases[] = {
	{ "mailname wins", "mail.example.org\n", "vm", canon_fqdn, "mail.example.org", 0 },
	{ "mailname trimmed", "  mx.example.org.  \n# comment\n", "vm", canon_fqdn,
	  "mx.example.org", 0 },
	{ "empty mailname ignored", "\n", "vm", canon_fqdn, "vm.example.net", 1 },
	{ "garbage mailname ignored", "not a name!\n", "vm", canon_fqdn, "vm.example.net", 1 },
	{ "no mailname: canonical name", NULL, "vm", canon_fqdn, "vm.example.net", 1 },
	{ "qualified host name: no lookup", NULL, "host.example.com", canon_fqdn,
	  "host.example.com", 0 },
	{ "no canonical name: the short one", NULL, "vm", canon_none, "vm", 1 },
	{ "canonical name is short too", NULL, "vm", canon_short, "vm", 1 },
	{ "no lookup allowed", NULL, "vm", NULL, "vm", 0 },
	{ "no host name", NULL, "", canon_fqdn, "localhost", 0 },
};

START_TEST(choice)
{
	char	out[256];

	canon_calls = 0;
	if (cases[_i].mailname != NULL)
		write_mailname(cases[_i].mailname);
	helo_default_choose(out, sizeof(out),
	    cases[_i].mailname != NULL ? mailname : "/nonexistent/mailname",
	    cases[_i].host, cases[_i].canon);
	if (cases[_i].mailname != NULL)
		unlink(mailname);
	ck_assert_msg(strcmp(out, cases[_i].want) == 0, "%s: got %s", cases[_i].name, out);
	ck_assert_msg(canon_calls == cases[_i].lookups, "%s: %d lookups", cases[_i].name,
	    canon_calls);
}
END_TEST

START_TEST(qualified)
{
	ck_assert(helo_is_qualified("a.example"));
	ck_assert(!helo_is_qualified("vm"));
	ck_assert(!helo_is_qualified("vm."));
	ck_assert(!helo_is_qualified(".vm"));
	/* the process-wide default is a usable name, computed once */
	ck_assert_ptr_eq(helo_default(), helo_default());
	ck_assert_uint_gt(strlen(helo_default()), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("helo_default");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, choice, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, qualified);
	suite_add_tcase(s, tc);
	return check_run(s);
}
