/* SPDX-License-Identifier: ISC */
/*
 * test_sched_mx.c - RFC 5321 section 5.1 ordering: MX hosts by preference,
 * equal preferences shuffled (every order reachable), and an MX list that
 * names this host cut to the hosts strictly preferred to it, or a mail loop
 * when this host is the best.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"
#include "check_run.h"

static uint32_t	fixed_rand;

static uint32_t
rnd_fixed(uint32_t upper)
{
	return fixed_rand % upper;
}

static uint32_t
rnd_real(uint32_t upper)
{
	return (uint32_t)random() % upper;
}

static void
fill(struct mx *mx, const char *spec)
{
	/* "10 a,20 b" */
	char	buf[256], *p, *tok;
	size_t	n = 0;

	strlcpy(buf, spec, sizeof(buf));
	for (p = buf; (tok = strsep(&p, ",")) != NULL; n++) {
		mx[n].pref = (uint16_t)strtoul(tok, &tok, 10);
		strlcpy(mx[n].host, tok + 1, sizeof(mx[n].host));
	}
}

static void
render(const struct mx *mx, size_t n, char *out, size_t len)
{
	size_t	i;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			strlcat(out, ",", len);
		strlcat(out, mx[i].host, len);
	}
}

static const struct {
	const char	*in;
	size_t		 n;
	const char	*out;
} sort_cases[] = {
	{ "20 b,10 a", 2, "a,b" },
	{ "30 c,20 b,10 a", 3, "a,b,c" },
	{ "0 z,65535 y,1 x", 3, "z,x,y" },
	{ "10 only", 1, "only" },
};

START_TEST(mx_sort_table)
{
	struct mx	mx[8];
	char		out[256];

	fill(mx, sort_cases[_i].in);
	sched_mx_sort(mx, sort_cases[_i].n, rnd_fixed);
	render(mx, sort_cases[_i].n, out, sizeof(out));
	ck_assert_str_eq(out, sort_cases[_i].out);
}
END_TEST

/* Equal preferences: each host comes first sometimes; the preference order holds always. */
START_TEST(mx_sort_ties_random)
{
	struct mx	mx[4];
	int		first[3] = { 0, 0, 0 }, i;

	srandom(42);
	for (i = 0; i < 300; i++) {
		fill(mx, "10 a,10 b,10 c,5 best");
		sched_mx_sort(mx, 4, rnd_real);
		ck_assert_str_eq(mx[0].host, "best");
		ck_assert(mx[1].pref == 10 && mx[2].pref == 10 && mx[3].pref == 10);
		first[mx[1].host[0] - 'a']++;
	}
	ck_assert(first[0] > 50 && first[1] > 50 && first[2] > 50);
}
END_TEST

static const struct {
	const char	*in;
	size_t		 n;
	const char	*self;
	size_t		 keep;
	bool		 loop;
} self_cases[] = {
	{ "10 a,20 b", 2, "other.example", 2, false },
	{ "10 a,20 me.example", 2, "me.example", 1, false },
	{ "10 a,20 ME.EXAMPLE.", 2, "me.example", 1, false },
	{ "10 me.example,20 b", 2, "me.example", 0, true },
	{ "10 a,10 me.example,20 b", 3, "me.example", 0, true },
	{ "5 x,10 a,10 me.example", 3, "me.example", 1, false },
	{ "10 a,20 b", 2, "", 2, false },
};

START_TEST(mx_cut_self_table)
{
	struct mx	mx[8];
	bool		loop;
	size_t		keep;

	fill(mx, self_cases[_i].in);
	keep = sched_mx_cut_self(mx, self_cases[_i].n, self_cases[_i].self, &loop);
	ck_assert_uint_eq(keep, self_cases[_i].keep);
	ck_assert_int_eq(loop, self_cases[_i].loop);
}
END_TEST

START_TEST(host_equal_cases)
{
	ck_assert(sched_host_equal("mx.example.org", "MX.Example.ORG."));
	ck_assert(sched_host_equal("a.", "a"));
	ck_assert(!sched_host_equal("a.b", "a.bc"));
	ck_assert(!sched_host_equal("", ""));
	ck_assert(!sched_host_equal(".", "."));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sched_mx");
	TCase	*tc = tcase_create("mx");

	tcase_add_loop_test(tc, mx_sort_table, 0, sizeof(sort_cases) / sizeof(sort_cases[0]));
	tcase_add_test(tc, mx_sort_ties_random);
	tcase_add_loop_test(tc, mx_cut_self_table, 0, sizeof(self_cases) / sizeof(self_cases[0]));
	tcase_add_test(tc, host_equal_cases);
	suite_add_tcase(s, tc);

	return check_run(s);
}
