/* SPDX-License-Identifier: ISC */
/*
 * test_aliases.c - the aliases table (shared/aliases.c): the /etc/aliases
 * format (comments, continuation lines, quoting, case), every refused form
 * with its line number (|pipes, /files, :include:, duplicates, bad names
 * and addresses), expansion (nested names, +extensions, myorigin only,
 * local_redirect, duplicates dropped, loops and depth refused, result
 * bound), the whole-table check and myorigin from a file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "check_run.h"

#define ORIGIN	"host.example"

static const char good[] =
    "# the system's aliases\n"
    "postmaster: root\n"
    "root: ops@example.net,\n"
    "\toncall@example.net\n"
    "  # a comment inside the continuation\n"
    "\n"
    "WebMaster : root , web@example.net ,\n"
    "\"Info\": <info@example.org>\r\n"
    "list: \"quoted,local\"@example.org, other@example.org\n"
    "selfish: Ops@Example.NET\n";

static struct aliases
parse_ok(const char *text)
{
	struct aliases a;
	char err[4096];

	ck_assert_msg(aliases_parse(&a, "t", text, strlen(text), err, sizeof(err)) == 0,
	    "%s", err);
	return a;
}

START_TEST(test_parse_format)
{
	struct aliases a = parse_ok(good);
	const struct alias *al;

	ck_assert_uint_eq(a.n, 6);
	al = aliases_find(&a, "ROOT");
	ck_assert_ptr_nonnull(al);
	ck_assert_uint_eq(al->ntargets, 2);
	ck_assert_str_eq(al->targets[0], "ops@example.net");
	ck_assert_str_eq(al->targets[1], "oncall@example.net");
	ck_assert_uint_eq(al->line, 3);
	al = aliases_find(&a, "webmaster");
	ck_assert_ptr_nonnull(al);
	ck_assert_str_eq(al->targets[0], "root");
	ck_assert_uint_eq(al->ntargets, 2);
	al = aliases_find(&a, "info");
	ck_assert_ptr_nonnull(al);
	ck_assert_str_eq(al->targets[0], "info@example.org");
	al = aliases_find(&a, "list");
	ck_assert_uint_eq(al->ntargets, 2);
	ck_assert_str_eq(al->targets[0], "\"quoted,local\"@example.org");
	ck_assert_ptr_null(aliases_find(&a, "nobody"));
	aliases_free(&a);
}
END_TEST

static const struct bad_case {
	const char	*text;
	const char	*needle;	/* in the error text */
} bads[] = {
	{ "a: |/usr/bin/logger\n", "t:1: a: \"|/usr/bin/logger\": pipes" },
	{ "ok: x@example.org\na: \"|cmd arg\"\n", "t:2: a:" },
	{ "a: /var/mail/a\n", "t:1: a: \"/var/mail/a\": delivery to files" },
	{ "\n\na: :include:/etc/list\n", "t:3: a: \":include:/etc/list\": :include:" },
	{ "a x@example.org\n", "t:1: missing ':'" },
	{ " x@example.org\n", "t:1: continuation line without an entry" },
	{ "a b: x@example.org\n", "t:1: bad name" },
	{ "a:\n", "t:1: a: no address given" },
	{ "a: x@\n", "t:1: a: \"x@\":" },
	{ "a: not valid\n", "t:1: a: \"not valid\": not an address" },
	{ "a: x@example.org\nb: y@example.org\nA: z@example.org\n", "t:3: \"a\" is already defined on line 1" },
	{ "a: x@example.org # trailing\n", "t:1: a:" },
	{ "a: x@example.org\n\0b: y\n", "NUL" },
};

START_TEST(test_parse_errors)
{
	const struct bad_case *c = &bads[_i];
	struct aliases a;
	char err[4096];
	size_t len = strlen(c->text);

	if (strstr(c->needle, "NUL") != NULL)
		len = 22;
	ck_assert_int_eq(aliases_parse(&a, "t", c->text, len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, c->needle) != NULL, "case %d: \"%s\" not in \"%s\"", _i,
	    c->needle, err);
	ck_assert_uint_eq(a.n, 0);
}
END_TEST

START_TEST(test_every_error_reported)
{
	struct aliases a;
	char err[4096];
	const char *t = "a: |x\nb: /y\nok: z@example.org\nc: :include:/w\n";

	ck_assert_int_eq(aliases_parse(&a, "f", t, strlen(t), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "f:1: a"));
	ck_assert_ptr_nonnull(strstr(err, "f:2: b"));
	ck_assert_ptr_nonnull(strstr(err, "f:4: c"));
}
END_TEST

struct out {
	char	 v[16][256];
	int	 n;
};

static int
collect(const char *addr, void *arg)
{
	struct out *o = arg;

	if (o->n < 16)
		strlcpy(o->v[o->n++], addr, sizeof(o->v[0]));
	return 0;
}

static const struct exp_case {
	const char	*rcpt;
	const char	*redirect;
	int		 n;		/* -1: refused */
	const char	*first, *second;
} exps[] = {
	{ "postmaster", "", 2, "ops@example.net", "oncall@example.net" },
	{ "postmaster@" ORIGIN, "", 2, "ops@example.net", "oncall@example.net" },
	{ "PostMaster@HOST.Example", "", 2, "ops@example.net", "oncall@example.net" },
	{ "root+cron@" ORIGIN, "", 2, "ops@example.net", "oncall@example.net" },
	/* webmaster: root (two) and web; ops is not repeated */
	{ "webmaster@" ORIGIN, "", 3, "ops@example.net", "oncall@example.net" },
	{ "info", "", 1, "info@example.org", NULL },
	{ "nobody@" ORIGIN, "", 1, "nobody@" ORIGIN, NULL },
	{ "nobody", "", 1, "nobody@" ORIGIN, NULL },
	{ "nobody@" ORIGIN, "admin@example.net", 1, "admin@example.net", NULL },
	{ "root@other.example", "admin@example.net", 1, "root@other.example", NULL },
	{ "selfish", "", 1, "Ops@Example.NET", NULL },
};

START_TEST(test_expand)
{
	const struct exp_case *c = &exps[_i];
	struct aliases a = parse_ok(good);
	struct out o = { .n = 0 };
	char err[512];
	int n;

	n = aliases_expand(&a, ORIGIN, c->redirect, c->rcpt, collect, &o, err, sizeof(err));
	ck_assert_msg(n == c->n, "case %d: %d (%s)", _i, n, n < 0 ? err : "");
	ck_assert_int_eq(o.n, c->n);
	ck_assert_str_eq(o.v[0], c->first);
	if (c->second != NULL)
		ck_assert_str_eq(o.v[1], c->second);
	aliases_free(&a);
}
END_TEST

START_TEST(test_loops_and_depth)
{
	struct aliases a;
	struct out o = { .n = 0 };
	char err[4096], text[4096];
	size_t used = 0;
	int i;

	a = parse_ok("a: b\nb: c\nc: a, x@example.org\n");
	ck_assert_int_eq(aliases_expand(&a, ORIGIN, "", "a", collect, &o, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "alias loop: a -> b -> c -> a"));
	ck_assert_int_eq(aliases_check(&a, "t", ORIGIN, "", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "t:1: a: alias loop"));
	ck_assert_ptr_nonnull(strstr(err, "t:3: c: alias loop"));
	aliases_free(&a);

	a = parse_ok("self: self\n");
	ck_assert_int_eq(aliases_expand(&a, ORIGIN, "", "self", collect, &o, err, sizeof(err)), -1);
	aliases_free(&a);

	/* A chain deeper than ALIASES_MAX_DEPTH. */
	for (i = 0; i < ALIASES_MAX_DEPTH + 2; i++)
		used += snprintf(text + used, sizeof(text) - used, "n%d: n%d\n", i, i + 1);
	snprintf(text + used, sizeof(text) - used, "n%d: end@example.org\n", i);
	a = parse_ok(text);
	ck_assert_int_eq(aliases_expand(&a, ORIGIN, "", "n0", collect, &o, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "deep"));
	o.n = 0;
	ck_assert_int_eq(aliases_expand(&a, ORIGIN, "", "n5", collect, &o, err, sizeof(err)), 1);
	ck_assert_str_eq(o.v[0], "end@example.org");
	aliases_free(&a);
}
END_TEST

static int
count(const char *addr, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_result_bound)
{
	/* 10 names of 200 addresses each: 2000 > ALIASES_MAX_RESULTS. */
	char *text = malloc(1 << 20);
	size_t used = 0;
	struct aliases a;
	char err[512];
	int i, k, n = 0;

	used += snprintf(text + used, (1 << 20) - used, "all: g0");
	for (i = 1; i < 10; i++)
		used += snprintf(text + used, (1 << 20) - used, ", g%d", i);
	used += snprintf(text + used, (1 << 20) - used, "\n");
	for (i = 0; i < 10; i++) {
		used += snprintf(text + used, (1 << 20) - used, "g%d: u%d.0@example.org", i, i);
		for (k = 1; k < ALIASES_MAX_TARGETS; k++)
			used += snprintf(text + used, (1 << 20) - used, ",\n u%d.%d@example.org", i, k);
		used += snprintf(text + used, (1 << 20) - used, "\n");
	}
	ck_assert_int_eq(aliases_parse(&a, "t", text, used, err, sizeof(err)), 0);
	ck_assert_int_eq(aliases_expand(&a, ORIGIN, "", "all", count, &n, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	ck_assert_int_eq(n, ALIASES_MAX_RESULTS);
	aliases_free(&a);
	free(text);
}
END_TEST

START_TEST(test_too_many_targets)
{
	char *text = malloc(1 << 20);
	size_t used = 0;
	struct aliases a;
	char err[512];
	int k;

	used += snprintf(text + used, (1 << 20) - used, "big: u0@example.org");
	for (k = 1; k <= ALIASES_MAX_TARGETS; k++)
		used += snprintf(text + used, (1 << 20) - used, ", u%d@example.org", k);
	ck_assert_int_eq(aliases_parse(&a, "t", text, used, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "t:1: big: more than"));
	free(text);
}
END_TEST

START_TEST(test_myorigin)
{
	char out[256], err[512], path[] = "/tmp/test_aliases_XXXXXX";
	int fd;

	ck_assert_int_eq(aliases_myorigin("", ORIGIN, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, ORIGIN);
	ck_assert_int_eq(aliases_myorigin("mail.example", ORIGIN, out, sizeof(out), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(out, "mail.example");
	ck_assert_int_eq(aliases_myorigin("bad domain", ORIGIN, out, sizeof(out), err,
	    sizeof(err)), -1);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "mailname.example\nignored\n", 25), 25);
	close(fd);
	ck_assert_int_eq(aliases_myorigin(path, ORIGIN, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, "mailname.example");
	unlink(path);
	ck_assert_int_eq(aliases_myorigin(path, ORIGIN, out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "myorigin"));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("aliases");
	TCase *tc = tcase_create("aliases");

	tcase_add_test(tc, test_parse_format);
	tcase_add_loop_test(tc, test_parse_errors, 0, sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tc, test_every_error_reported);
	tcase_add_loop_test(tc, test_expand, 0, sizeof(exps) / sizeof(exps[0]));
	tcase_add_test(tc, test_loops_and_depth);
	tcase_add_test(tc, test_result_bound);
	tcase_add_test(tc, test_too_many_targets);
	tcase_add_test(tc, test_myorigin);
	suite_add_tcase(s, tc);
	return check_run(s);
}
