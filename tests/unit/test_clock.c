/* SPDX-License-Identifier: ISC */
/*
 * test_clock.c - due times advance with the monotonic clock only: the
 * wall clock read at start plus the monotonic time elapsed since, whatever
 * the wall clock does meanwhile (a jump forward does not make retries due,
 * a jump back does not freeze them).
 */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "check_run.h"

#define WALL0	1800000000ULL

static const struct {
	const char	*name;
	struct timespec	 mono0, mono;
	uint64_t	 want;
} cases[] = {
	{ "no time elapsed", { 100, 0 }, { 100, 0 }, WALL0 },
	{ "five minutes", { 100, 0 }, { 400, 0 }, WALL0 + 300 },
	{ "a partial second is not a second", { 100, 900000000 }, { 101, 100000000 }, WALL0 },
	{ "exactly one second across nanoseconds", { 100, 500000000 }, { 101, 500000000 }, WALL0 + 1 },
	{ "a day", { 5, 0 }, { 5 + 86400, 0 }, WALL0 + 86400 },
	{ "monotonic seeming to go back is held", { 500, 0 }, { 400, 0 }, WALL0 },
};

START_TEST(clock_table)
{
	uint64_t	got = clock_advance(WALL0, &cases[_i].mono0, &cases[_i].mono);

	ck_assert_msg(got == cases[_i].want, "%s: %llu, want %llu", cases[_i].name,
	    (unsigned long long)got, (unsigned long long)cases[_i].want);
}
END_TEST

/*
 * A retry due at WALL0 + 300: after 299 monotonic seconds it is not due
 * whether the wall clock jumped a day forward or an hour back; after 300 it
 * is due either way. The wall clock is no input of clock_advance at all.
 */
START_TEST(clock_jump_neither_fires_nor_freezes)
{
	struct timespec	m0 = { 1000, 0 }, m299 = { 1299, 0 }, m300 = { 1300, 0 };
	uint64_t	due = WALL0 + 300;

	ck_assert(clock_advance(WALL0, &m0, &m299) < due);
	ck_assert(clock_advance(WALL0, &m0, &m300) >= due);
}
END_TEST

START_TEST(clock_now_starts_at_the_wall_clock)
{
	uint64_t	before = (uint64_t)time(NULL), a, b;

	a = clock_now();
	b = clock_now();
	ck_assert(a >= before && a <= (uint64_t)time(NULL));
	ck_assert(b >= a);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("clock");
	TCase	*tc = tcase_create("clock");

	tcase_add_loop_test(tc, clock_table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, clock_jump_neither_fires_nor_freezes);
	tcase_add_test(tc, clock_now_starts_at_the_wall_clock);
	suite_add_tcase(s, tc);
	return check_run(s);
}
