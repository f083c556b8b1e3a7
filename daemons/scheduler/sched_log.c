/* SPDX-License-Identifier: ISC */
/*
 * sched_log.c - the one log line per recipient attempt, in the form Postfix
 * writes it so that existing log tools (pflogsumm) parse it, and the
 * numbers the same attempt adds to the metrics. Run by the scheduler;
 * called by sched_job.c.
 *
 *   ID: to=<rcpt>, relay=host[ip]:port, delay=T, delays=a/b/c/d, dsn=X.Y.Z,
 *       status=sent (reply), attempts=N
 *
 * delays as Postfix splits them: a before the queue (0: smtpd's time is not
 * the scheduler's to know), b waiting in the queue until the job went toward
 * an agent, c connection setup (0: counted in d), d the agent's delivery.
 * attempts comes last: pflogsumm skips a line with an unknown field before
 * status=.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "scheduler.h"

uint64_t
sched_log_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A remote reply is untrusted text: keep one printable line of it. */
static void
clean(char *dst, size_t len, const char *src)
{
	size_t	i;

	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : ' ';
	dst[i] = '\0';
}

/* Postfix's way: two significant digits below 10 s, whole seconds above. */
static void
secs(char *buf, size_t len, double s)
{
	if (s < 0)
		s = 0;
	if (s < 0.01)
		snprintf(buf, len, "%s", s == 0 ? "0" : "0.01");
	else if (s < 10)
		snprintf(buf, len, "%.2g", s);
	else
		snprintf(buf, len, "%.0f", s);
}

static void
count(const char *addr, const char *dsn, uint8_t state, double total)
{
	const char	*at = strrchr(addr, '@');
	int		 outcome;

	switch (state) {
	case RCPT_DELIVERED:
		metric_inc(MET_RCPT_DELIVERED);
		metric_observe(MET_H_QDELAY, total);
		outcome = 0;
		break;
	case RCPT_FAILED:
		metric_inc(dsn[0] == '4' ? MET_RCPT_BOUNCED_4 : MET_RCPT_BOUNCED_5);
		outcome = 2;
		break;
	default:
		metric_inc(MET_RCPT_DEFERRED);
		outcome = 1;
		break;
	}
	metric_dest(at != NULL ? at + 1 : "", outcome);
}

void
sched_log_rcpt(const char *id, const char *addr, const char *relay, uint64_t arrival,
    uint64_t dispatched_ms, uint32_t attempts, const char *dsn, uint8_t state,
    const char *reply)
{
	char		 r[REPLY_MAX], a[ADDR_MAX], d[DSN_MAX];
	char		 sd[16], sb[16], sdd[16];
	uint64_t	 now = sched_log_now_ms();
	double		 total, queued = 0, agent = 0;

	clean(r, sizeof(r), reply);
	clean(a, sizeof(a), addr);
	clean(d, sizeof(d), dsn);
	if (d[0] == '\0')
		snprintf(d, sizeof(d), "%s", state == RCPT_DELIVERED ? "2.0.0" :
		    state == RCPT_FAILED ? "5.0.0" : "4.0.0");
	total = now > arrival * 1000 ? (now - arrival * 1000) / 1000.0 : 0;
	if (dispatched_ms != 0 && dispatched_ms <= now) {
		agent = (now - dispatched_ms) / 1000.0;
		queued = total > agent ? total - agent : 0;
	} else
		queued = total;
	secs(sd, sizeof(sd), total);
	secs(sb, sizeof(sb), queued);
	secs(sdd, sizeof(sdd), agent);
	log_info("%s: to=<%s>, relay=%s, delay=%s, delays=0/%s/0/%s, dsn=%s, status=%s (%s), attempts=%u",
	    id, a, relay, sd, sb, sdd, d, sched_policy_status(state), r, attempts);
	count(a, d, state, total);
}
