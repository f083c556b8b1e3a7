/* SPDX-License-Identifier: ISC */
/*
 * master_log.c - the master's end of its children's log lines and metric
 * pushes (MSG_LOG_LINES, MSG_METRICS_PUSH, MSG_METRICS_DEST), called from
 * the child control link's read callback (master_supervise.c).
 *
 * A child's line is written with the role and pid the master knows the
 * child by: nothing in the frame names its sender. The frame is checked
 * strictly (count, length, printable bytes, priority): a child whose own
 * log.c would never send such a frame is compromised, and returning -1
 * closes its link, which ends it. Each child has a budget of lines per
 * second (a token bucket): a flood is cut, counted and reported once a
 * second, and cannot starve the other children, whose frames the master
 * reads in turn (chan.c reads a bounded burst per link and wake-up).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"

#define LOG_RATE	20000	/* lines per second a child may write */
#define LOG_BURST	60000

static struct budget {
	double		 tokens;
	struct timespec	 last;
	uint64_t	 dropped;
	time_t		 reported;
	pid_t		 pid;
} budgets[MASTER_MAX_CHILDREN];

static struct budget *
budget_of(struct child *c)
{
	struct budget	*b = &budgets[c - c->m->children];
	struct timespec	 now;
	double		 dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (b->pid != c->pid) {
		/* A new process in this slot starts with a full budget. */
		memset(b, 0, sizeof(*b));
		b->pid = c->pid;
		b->tokens = LOG_BURST;
		b->last = now;
	}
	dt = (now.tv_sec - b->last.tv_sec) + (now.tv_nsec - b->last.tv_nsec) / 1e9;
	b->last = now;
	b->tokens += dt * LOG_RATE;
	if (b->tokens > LOG_BURST)
		b->tokens = LOG_BURST;
	return b;
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int
log_lines(struct child *c, struct frame *f)
{
	struct budget	*b = budget_of(c);
	char		 text[LOG_LINE_MAX], note[128];
	uint16_t	 n, i;
	uint8_t		 prio;
	int		 inst = c->desc->kind == PROC_AGENT ? (int)c->instance : -1;

	if (!frame_get_u16(f, &n) || n == 0 || n > LOG_BATCH_MAX)
		return -1;
	log_batch_begin();
	for (i = 0; i < n; i++) {
		if (!frame_get_u8(f, &prio) || prio > LOG_DEBUG ||
		    !frame_get_str(f, text, sizeof(text)) || !printable(text)) {
			/* what came before the bad line is written: it was good */
			log_batch_end();
			return -1;
		}
		if (b->tokens < 1) {
			b->dropped++;
			continue;
		}
		b->tokens -= 1;
		log_write(prio, c->desc->name, inst, (long)c->pid, text);
	}
	log_batch_end();
	if (!frame_end(f))
		return -1;
	if (b->dropped > 0 && time(NULL) != b->reported) {
		b->reported = time(NULL);
		snprintf(note, sizeof(note), "%llu lines of this process dropped: more than %d a second",
		    (unsigned long long)b->dropped, LOG_RATE);
		log_write(LOG_WARNING, c->desc->name, inst, (long)c->pid, note);
		b->dropped = 0;
	}
	return 0;
}

int
master_child_frame(struct child *c, struct frame *f)
{
	int	rc;

	switch (f->hdr.type) {
	case MSG_LOG_LINES:
		rc = log_lines(c, f);
		break;
	case MSG_METRICS_PUSH:
	case MSG_METRICS_DEST:
		rc = metrics_child_frame(c, f);
		break;
	default:
		return 1;	/* not ours */
	}
	if (rc == -1) {
		log_warnx("%s (pid %ld) sent a malformed %s frame: killing it", c->desc->name,
		    (long)c->pid, msg_name(f->hdr.type));
		if (c->pid > 0)
			kill(c->pid, SIGKILL);
	}
	return rc;
}
