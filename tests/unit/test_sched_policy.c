/* SPDX-License-Identifier: ISC */
/*
 * test_sched_policy.c - the re-send policy: a temporary failure is re-sent
 * resend_interval later until resend_attempts re-sends have failed (so at
 * most 1 + resend_attempts attempts), a permanent failure ends at once, and a
 * dead agent's interruption is not counted unless it keeps happening;
 * resend_backoff multiplies the waits, max_queue_lifetime fails a recipient
 * early and pulls its last re-send forward, and a delay notice is due
 * delay_warning after arrival, never for <> or a bounce, once.
 */
#include <check.h>
#include <stdlib.h>

#include "scheduler/scheduler.h"
#include "check_run.h"

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

/* resend_backoff: interval, interval * f, interval * f^2 ..., bounded. */
static const struct {
	const char	*name;
	uint32_t	 attempts;	/* made so far, this one included */
	unsigned	 interval, backoff;
	uint64_t	 wait;
} waits[] = {
	{ "fixed: first wait", 1, 300, 1, 300 },
	{ "fixed: fifth wait", 5, 300, 1, 300 },
	{ "double: first wait", 1, 300, 2, 300 },
	{ "double: second wait", 2, 300, 2, 600 },
	{ "double: fourth wait", 4, 300, 2, 2400 },
	{ "triple: third wait", 3, 60, 3, 540 },
	{ "bounded", 60, 86400, 10, SCHED_WAIT_MAX },
	{ "no attempt yet", 0, 300, 2, 300 },
};

START_TEST(policy_backoff)
{
	ck_assert_msg(sched_policy_wait(waits[_i].attempts, waits[_i].interval,
	    waits[_i].backoff) == waits[_i].wait, "%s: %llu", waits[_i].name,
	    (unsigned long long)sched_policy_wait(waits[_i].attempts, waits[_i].interval,
	    waits[_i].backoff));
}
END_TEST

/* The next attempt with backoff and lifetime, through sched_policy_next. */
static const struct {
	const char	*name;
	uint32_t	 attempts;	/* before this one */
	struct resend_policy p;
	uint64_t	 arrival;
	int		 cls;
	uint8_t		 state;
	uint64_t	 next;
} nexts[] = {
	{ "backoff 2, first failure", 0, { 5, 300, 2, 0 }, NOW, DELIVERY_TEMPFAIL,
	  RCPT_DEFERRED, NOW + 300 },
	{ "backoff 2, third failure", 2, { 5, 300, 2, 0 }, NOW, DELIVERY_TEMPFAIL,
	  RCPT_DEFERRED, NOW + 1200 },
	{ "backoff still ends after the attempts", 5, { 5, 300, 2, 0 }, NOW - 9300,
	  DELIVERY_TEMPFAIL, RCPT_FAILED, 0 },
	{ "attempts used up early (flushed): deferred to the schedule's end", 5,
	  { 5, 300, 2, 0 }, NOW - 100, DELIVERY_TEMPFAIL, RCPT_DEFERRED, NOW + 9200 },
	{ "attempts used up early, end far: the usual wait", 5, { 5, 300, 1, 0 }, NOW - 10,
	  DELIVERY_TEMPFAIL, RCPT_DEFERRED, NOW + 300 },
	{ "attempts used up early, end near", 5, { 5, 300, 1, 0 }, NOW - 1400,
	  DELIVERY_TEMPFAIL, RCPT_DEFERRED, NOW + 100 },
	{ "attempts used up at the schedule's end: failed", 5, { 5, 300, 1, 0 }, NOW - 1500,
	  DELIVERY_TEMPFAIL, RCPT_FAILED, 0 },
	{ "flushed far beyond the count: still deferred", 40, { 2, 8, 1, 0 }, NOW - 1,
	  DELIVERY_TEMPFAIL, RCPT_DEFERRED, NOW + 8 },
	{ "flushed early but past the lifetime: failed", 9, { 5, 300, 1, 60 }, NOW - 60,
	  DELIVERY_TEMPFAIL, RCPT_FAILED, 0 },
	{ "no re-sends configured: failed at once", 0, { 0, 300, 1, 0 }, NOW,
	  DELIVERY_TEMPFAIL, RCPT_FAILED, 0 },
	{ "lifetime not reached", 0, { 5, 300, 1, 3600 }, NOW - 100, DELIVERY_TEMPFAIL,
	  RCPT_DEFERRED, NOW + 300 },
	{ "lifetime reached: failed early", 1, { 5, 300, 1, 3600 }, NOW - 3600,
	  DELIVERY_TEMPFAIL, RCPT_FAILED, 0 },
	{ "last re-send moved to the end of the lifetime", 1, { 5, 300, 1, 3600 },
	  NOW - 3500, DELIVERY_TEMPFAIL, RCPT_DEFERRED, NOW + 100 },
	{ "lifetime does not touch a delivery", 3, { 5, 300, 1, 60 }, NOW - 3600,
	  DELIVERY_OK, RCPT_DELIVERED, 0 },
	{ "lifetime 0 is none", 1, { 5, 300, 1, 0 }, 0, DELIVERY_TEMPFAIL, RCPT_DEFERRED,
	  NOW + 300 },
};

START_TEST(policy_next_table)
{
	struct policy_out	out;

	sched_policy_next(&nexts[_i].p, nexts[_i].attempts, nexts[_i].arrival, NOW,
	    nexts[_i].cls, &out);
	ck_assert_msg(out.state == nexts[_i].state, "%s: state %u", nexts[_i].name, out.state);
	ck_assert_msg(out.next == nexts[_i].next, "%s: next %llu", nexts[_i].name,
	    (unsigned long long)out.next);
	ck_assert_uint_eq(out.attempts, nexts[_i].attempts + 1);
}
END_TEST

/* With backoff, still exactly 1 + resend_attempts attempts. */
START_TEST(policy_backoff_attempts)
{
	struct resend_policy	p = { 4, 60, 3, 0 };
	struct policy_out	out;
	uint32_t		attempts = 0;
	uint64_t		now = NOW, waited = 0;
	unsigned		n = 0;

	do {
		sched_policy_next(&p, attempts, NOW, now, DELIVERY_TEMPFAIL, &out);
		attempts = out.attempts;
		if (out.state == RCPT_DEFERRED) {
			waited += out.next - now;
			now = out.next;
		}
		n++;
	} while (out.state == RCPT_DEFERRED && n < 100);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(waited, 60 + 180 + 540 + 1620);
}
END_TEST

/* delay_warning: once, never to <> or about a bounce, off by default. */
/*
 * Flushes in a row (every re-send at once) never bounce the mail before the
 * schedule's end; left alone afterwards it ends exactly there.
 */
START_TEST(policy_flush_never_shortens)
{
	struct resend_policy	p = { 2, 8, 1, 0 };
	struct policy_out	out;
	uint32_t		attempts = 0;
	uint64_t		now = NOW;
	unsigned		n;

	ck_assert_uint_eq(sched_policy_total(&p), 16);
	for (n = 0; n < 10; n++) {
		sched_policy_next(&p, attempts, NOW, now, DELIVERY_TEMPFAIL, &out);
		ck_assert_uint_eq(out.state, RCPT_DEFERRED);
		ck_assert(out.next <= NOW + 16);
		attempts = out.attempts;
		now += n % 2;		/* two flushes a second */
	}
	/* the schedule's end: failed */
	sched_policy_next(&p, attempts, NOW, NOW + 16, DELIVERY_TEMPFAIL, &out);
	ck_assert_uint_eq(out.state, RCPT_FAILED);
	p.backoff = 3;
	ck_assert_uint_eq(sched_policy_total(&p), 8 + 24);
}
END_TEST

START_TEST(policy_warn_at)
{
	ck_assert_uint_eq(mail_delay_warn_at(NOW, 0, 0, false), 0);
	ck_assert_uint_eq(mail_delay_warn_at(NOW, 14400, 0, false), NOW + 14400);
	ck_assert_uint_eq(mail_delay_warn_at(NOW, 14400, 0, true), 0);
	ck_assert_uint_eq(mail_delay_warn_at(NOW, 14400, MAIL_F_BOUNCE, false), 0);
	ck_assert_uint_eq(mail_delay_warn_at(NOW, 14400, MAIL_F_DELAY_WARNED, false), 0);
	ck_assert_uint_eq(mail_delay_warn_at(NOW, 14400, MAIL_F_8BIT, false), NOW + 14400);
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

	tcase_add_loop_test(tc, policy_table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, policy_max_attempts);
	tcase_add_test(tc, policy_interrupt);
	tcase_add_test(tc, policy_status_names);
	tcase_add_loop_test(tc, policy_backoff, 0, sizeof(waits) / sizeof(waits[0]));
	tcase_add_loop_test(tc, policy_next_table, 0, sizeof(nexts) / sizeof(nexts[0]));
	tcase_add_test(tc, policy_backoff_attempts);
	tcase_add_test(tc, policy_flush_never_shortens);
	tcase_add_test(tc, policy_warn_at);
	suite_add_tcase(s, tc);

	return check_run(s);
}
