/* SPDX-License-Identifier: ISC */
/*
 * sched_policy.c - the re-send policy, as pure functions of the attempts made
 * so far, the configuration and the time. Run by the scheduler; called by
 * sched_job.c when an outcome is known, and by the unit tests.
 *
 * The seed's rule: a recipient that fails temporarily is re-sent after
 * resend_interval; once resend_attempts re-sends have failed too, the failure
 * is permanent. A permanent failure (5xx) ends it at once.
 *
 * Re-sends an administrator forces (outpostctl flush) must not end a mail's
 * life early: a temporary failure is final only when resend_attempts re-sends
 * have been made *and* the mail has been queued for the whole schedule (the
 * sum of the waits, sched_policy_total). Until then the recipient stays
 * deferred, its next re-send no later than the end of that schedule. Left to
 * the schedule, a recipient gets exactly 1 + resend_attempts attempts.
 *
 * Options an administrator may add (both off by default, the seed's fixed
 * schedule): resend_backoff multiplies each wait by a factor (interval,
 * interval * f, interval * f^2 ..., bounded by SCHED_WAIT_MAX), and
 * max_queue_lifetime fails a recipient whose temporary failure comes after
 * the mail spent that long in the queue; the last re-send is moved forward
 * to the end of the lifetime rather than past it. delay_warning names when
 * the sender of a mail still deferred gets one notice (mail_delay_warn_at, msg.h).
 */
#include "config.h"
#include "scheduler.h"

void
sched_policy_from_config(const struct config *c, struct resend_policy *p)
{
	p->attempts = c->resend_attempts;
	p->interval = c->resend_interval;
	p->backoff = c->resend_backoff;
	p->lifetime = c->max_queue_lifetime;
}

uint64_t
sched_policy_wait(uint32_t attempts, unsigned interval, unsigned backoff)
{
	uint64_t	wait = interval;
	uint32_t	i;

	/* the wait after the first attempt is the interval itself */
	for (i = 1; i < attempts && backoff > 1 && wait < SCHED_WAIT_MAX; i++)
		wait *= backoff;
	return wait > SCHED_WAIT_MAX ? SCHED_WAIT_MAX : wait;
}

uint64_t
sched_policy_total(const struct resend_policy *p)
{
	uint64_t	total = 0;
	uint32_t	i;

	for (i = 1; i <= p->attempts && total < UINT64_MAX / 2; i++)
		total += sched_policy_wait(i, p->interval, p->backoff);
	return total;
}

void
sched_policy_next(const struct resend_policy *p, uint32_t attempts, uint64_t arrival,
    uint64_t now, int cls, struct policy_out *out)
{
	uint64_t	expires = 0, end, next;

	out->attempts = attempts == UINT32_MAX ? attempts : attempts + 1;
	out->next = 0;
	switch (cls) {
	case DELIVERY_OK:
		out->state = RCPT_DELIVERED;
		return;
	case DELIVERY_TEMPFAIL:
		if (p->lifetime > 0) {
			expires = arrival + p->lifetime;
			if (now >= expires) {
				out->state = RCPT_FAILED;
				return;
			}
		}
		next = now + sched_policy_wait(out->attempts, p->interval, p->backoff);
		/* out->attempts - 1 re-sends have been made including this one */
		if (out->attempts - 1 >= p->attempts) {
			end = arrival + sched_policy_total(p);
			if (now >= end) {
				out->state = RCPT_FAILED;
				return;
			}
			/* re-sent early (flushed): try again when the schedule ends */
			if (next > end)
				next = end;
		}
		out->state = RCPT_DEFERRED;
		out->next = next;
		if (expires != 0 && out->next > expires)
			out->next = expires;
		return;
	default:
		out->state = RCPT_FAILED;
		return;
	}
}

void
sched_policy_result(uint32_t attempts, unsigned resend_attempts, unsigned resend_interval,
    uint64_t now, int cls, struct policy_out *out)
{
	struct resend_policy	p = { resend_attempts, resend_interval, 1, 0 };

	/* arrival 0: queued long ago, only the count of attempts decides */
	sched_policy_next(&p, attempts, 0, now, cls, out);
}

/*
 * A dead agent says nothing about the destination, so the attempt is not
 * counted and the recipient is retried soon. A mail that kills agents again
 * and again must still come to an end: past SCHED_INTERRUPTS_FREE
 * interruptions it is treated as an ordinary temporary failure.
 */
void
sched_policy_interrupted(uint32_t attempts, unsigned interrupts, unsigned resend_attempts,
    unsigned resend_interval, uint64_t now, struct policy_out *out)
{
	unsigned	delay;

	if (interrupts >= SCHED_INTERRUPTS_FREE) {
		sched_policy_result(attempts, resend_attempts, resend_interval, now,
		    DELIVERY_TEMPFAIL, out);
		return;
	}
	delay = resend_interval < SCHED_INTERRUPT_DELAY ? resend_interval :
	    SCHED_INTERRUPT_DELAY;
	out->state = attempts == 0 ? RCPT_PENDING : RCPT_DEFERRED;
	out->attempts = attempts;
	out->next = now + delay;
}

const char *
sched_policy_status(uint8_t state)
{
	switch (state) {
	case RCPT_DELIVERED:
		return "sent";
	case RCPT_FAILED:
		return "bounced";
	default:
		return "deferred";
	}
}
