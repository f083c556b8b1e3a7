/*
 * sched_policy.c - the re-send policy, as pure functions of the attempts made
 * so far, the configuration and the time. Run by the scheduler; called by
 * sched_job.c when an outcome is known, and by the unit tests.
 *
 * The seed's rule: a recipient that fails temporarily is re-sent after
 * resend_interval; once resend_attempts re-sends have failed too, the failure
 * is permanent. A recipient therefore gets at most 1 + resend_attempts
 * attempts. A permanent failure (5xx) ends it at once.
 */
#include "scheduler.h"

void
sched_policy_result(uint32_t attempts, unsigned resend_attempts, unsigned resend_interval,
    uint64_t now, int cls, struct policy_out *out)
{
	out->attempts = attempts == UINT32_MAX ? attempts : attempts + 1;
	out->next = 0;
	switch (cls) {
	case DELIVERY_OK:
		out->state = RCPT_DELIVERED;
		return;
	case DELIVERY_TEMPFAIL:
		/* out->attempts - 1 re-sends have been made including this one */
		if (out->attempts - 1 >= resend_attempts) {
			out->state = RCPT_FAILED;
			return;
		}
		out->state = RCPT_DEFERRED;
		out->next = now + resend_interval;
		return;
	default:
		out->state = RCPT_FAILED;
		return;
	}
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
