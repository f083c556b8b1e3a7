/*
 * test_sched_policy.c - the re-send policy: a temporary failure is re-sent
 * resend_interval later until resend_attempts re-sends have failed (so at
 * most 1 + resend_attempts attempts), a permanent failure ends at once, and a
 * dead agent's interruption is not counted unless it keeps happening.
 */
#include <check.h>
#include <stdlib.h>

#include "scheduler/scheduler.h"

#define NOW	1000000

static const struct {
	const char	*name;
	uint32_t	 attempts;	/* before this one */
	unsigned	 resend_attempts, resend_interval;
	int		 cls;
	uint8_t		 state;
	uint32_t	 out_attempts;
	uint64_t	 next;
} cases[] = {
	{ "first attempt ok", 0, 5, 300, DELIVERY_OK, RCPT_DELIVERED, 1, 0 },
	{ "ok after re-sends", 3, 5, 300, DELIVERY_OK, RCPT_DELIVERED, 4, 0 },
	{ "first tempfail deferred 5 min", 0, 5, 300, DELIVERY_TEMPFAIL, RCPT_DEFERRED, 1, NOW + 300 },
	{ "4th re-send fails: still deferred", 4, 5, 300, DELIVERY_TEMPFAIL, RCPT_DEFERRED, 5, NOW + 300 },
	{ "5th re-send fails: permanent", 5, 5, 300, DELIVERY_TEMPFAIL, RCPT_FAILED, 6, 0 },
	{ "beyond the limit stays failed", 9, 5, 300, DELIVERY_TEMPFAIL, RCPT_FAILED, 10, 0 },
	{ "5xx at once", 0, 5, 300, DELIVERY_PERMFAIL, RCPT_FAILED, 1, 0 },
	{ "5xx on a re-send", 2, 5, 300, DELIVERY_PERMFAIL, RCPT_FAILED, 3, 0 },
	{ "no re-sends configured", 0, 0, 300, DELIVERY_TEMPFAIL, RCPT_FAILED, 1, 0 },
	{ "one re-send: deferred once", 0, 1, 2, DELIVERY_TEMPFAIL, RCPT_DEFERRED, 1, NOW + 2 },
	{ "one re-send: then failed", 1, 1, 2, DELIVERY_TEMPFAIL, RCPT_FAILED, 2, 0 },
	{ "short interval", 0, 5, 1, DELIVERY_TEMPFAIL, RCPT_DEFERRED, 1, NOW + 1 },
	{ "unknown class is permanent", 0, 5, 300, 7, RCPT_FAILED, 1, 0 },
};

START_TEST(policy_table)
{
	struct policy_out	out;

	sched_policy_result(cases[_i].attempts, cases[_i].resend_attempts,
	    cases[_i].resend_interval, NOW, cases[_i].cls, &out);
	ck_assert_msg(out.state == cases[_i].state, "%s: state %u", cases[_i].name, out.state);
	ck_assert_msg(out.attempts == cases[_i].out_attempts, "%s: attempts %u",
	    cases[_i].name, out.attempts);
	ck_assert_msg(out.next == cases[_i].next, "%s: next %llu", cases[_i].name,
	    (unsigned long long)out.next);
}
END_TEST

/* Counted at the server: 1 + resend_attempts attempts, then bounced. */
START_TEST(policy_max_attempts)
{
	struct policy_out	out;
	uint32_t		attempts = 0;
	unsigned		n = 0, ra;

	for (ra = 0; ra < 8; ra++) {
		attempts = 0;
		n = 0;
		do {
			sched_policy_result(attempts, ra, 300, NOW, DELIVERY_TEMPFAIL, &out);
			attempts = out.attempts;
			n++;
		} while (out.state == RCPT_DEFERRED && n < 100);
		ck_assert_uint_eq(out.state, RCPT_FAILED);
		ck_assert_uint_eq(n, 1 + ra);
	}
}
END_TEST

START_TEST(policy_interrupt)
{
	struct policy_out	out;

	/* not counted, retried soon */
	sched_policy_interrupted(0, 0, 5, 300, NOW, &out);
	ck_assert_uint_eq(out.state, RCPT_PENDING);
	ck_assert_uint_eq(out.attempts, 0);
	ck_assert_uint_eq(out.next, NOW + SCHED_INTERRUPT_DELAY);
	sched_policy_interrupted(2, 1, 5, 300, NOW, &out);
	ck_assert_uint_eq(out.state, RCPT_DEFERRED);
	ck_assert_uint_eq(out.attempts, 2);
	/* never later than the configured interval */
	sched_policy_interrupted(0, 0, 5, 3, NOW, &out);
	ck_assert_uint_eq(out.next, NOW + 3);
	/* a mail that keeps killing agents is counted like any failure */
	sched_policy_interrupted(5, SCHED_INTERRUPTS_FREE, 5, 300, NOW, &out);
	ck_assert_uint_eq(out.state, RCPT_FAILED);
	ck_assert_uint_eq(out.attempts, 6);
}
END_TEST

START_TEST(policy_status_names)
{
	ck_assert_str_eq(sched_policy_status(RCPT_DELIVERED), "sent");
	ck_assert_str_eq(sched_policy_status(RCPT_DEFERRED), "deferred");
	ck_assert_str_eq(sched_policy_status(RCPT_PENDING), "deferred");
	ck_assert_str_eq(sched_policy_status(RCPT_FAILED), "bounced");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sched_policy");
	TCase	*tc = tcase_create("policy");
	SRunner	*sr;
	int	 nf;

	tcase_add_loop_test(tc, policy_table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, policy_max_attempts);
	tcase_add_test(tc, policy_interrupt);
	tcase_add_test(tc, policy_status_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
