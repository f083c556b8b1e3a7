/*
 * sched_log.c - the one log line per recipient attempt, in the form Postfix
 * writes it so that existing log tools parse it. Run by the scheduler; called
 * by sched_job.c.
 */
#include <stdio.h>

#include "log.h"
#include "scheduler.h"

/* A remote reply is untrusted text: keep one printable line of it. */
static void
clean(char *dst, size_t len, const char *src)
{
	size_t	i;

	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : ' ';
	dst[i] = '\0';
}

void
sched_log_rcpt(const char *id, const char *addr, const char *relay, uint64_t delay,
    uint32_t attempts, const char *dsn, uint8_t state, const char *reply)
{
	char	 r[REPLY_MAX], a[ADDR_MAX], d[DSN_MAX];

	clean(r, sizeof(r), reply);
	clean(a, sizeof(a), addr);
	clean(d, sizeof(d), dsn);
	if (d[0] == '\0')
		snprintf(d, sizeof(d), "%s", state == RCPT_DELIVERED ? "2.0.0" :
		    state == RCPT_FAILED ? "5.0.0" : "4.0.0");
	log_info("%s: to=<%s>, relay=%s, delay=%llu, attempts=%u, dsn=%s, status=%s (%s)",
	    id, a, relay, (unsigned long long)delay, attempts, d,
	    sched_policy_status(state), r);
}
