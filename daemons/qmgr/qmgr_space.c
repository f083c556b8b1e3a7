/* SPDX-License-Identifier: ISC */
/*
 * qmgr_space.c - the free-space reserve of the queue (queue_min_free).
 *
 * Runs in qmgr, the only process that sees the queue's file system: it
 * measures the space left to it (statvfs of its working directory, the
 * queue directory) at start and every SPACE_INTERVAL seconds, and pushes
 * the state to smtpd (MSG_QMGR_SPACE) when it changes, so that smtpd
 * answers MAIL FROM from the last state without a round trip per mail. The
 * public socket (qmgr_submit.c) and the bounces (qmgr_sched.c) ask
 * space_ok() directly. A full disk is thus met with "452 4.3.1 Insufficient
 * system storage" before the client sends its data, instead of a write
 * error after it.
 *
 * The reserve is max(queue_min_free, 2 x max_message_size): at least two
 * of the largest mails fit after the last accepted one, which leaves room
 * for the state records of what is already queued. Bounces and delay
 * notices are not written below it: bounces wait as deferred recipients
 * (qmgr_sched.c), delay notices are asked for again when space is back.
 * One warning when the queue goes below it, one line when it recovers.
 */
#include <sys/statvfs.h>

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "qmgr.h"

#define SPACE_INTERVAL	1	/* seconds between two checks */

static uint64_t
space_reserve(const struct config *conf)
{
	if (conf->queue_min_free == 0)
		return 0;
	if (conf->queue_min_free > 2 * conf->max_message_size)
		return conf->queue_min_free;
	return 2 * conf->max_message_size;
}

static void
push(struct qmgr *q, struct qlink *l)
{
	struct fbuf *fb;

	if (l->chan == NULL)
		return;
	fb = fbuf_new(MSG_QMGR_SPACE, 0);
	fbuf_add_u8(fb, q->space_low ? 1 : 0);
	fbuf_add_u64(fb, q->space_headroom);
	(void)chan_send(l->chan, fb);
}

static void
push_all(struct qmgr *q)
{
	struct qlink *l;

	TAILQ_FOREACH(l, &q->links, entry)
		if (l->kind == QLINK_SMTPD)
			push(q, l);
	q->space_told = q->space_headroom;
}

/*
 * Delay notices refused while space was short: announcing the mail again
 * makes the scheduler, which believes it asked already, ask again.
 */
static void
retell_postponed(struct qmgr *q)
{
	struct qmail *m;

	RB_FOREACH(m, qmail_tree, &q->mails) {
		if (!m->warn_postponed)
			continue;
		m->warn_postponed = false;
		m->announced = 0;
		sched_announce(q, m);
	}
}

/* Measure; log and push what changed. */
static void
space_check(struct qmgr *q)
{
	struct statvfs sv;
	uint64_t avail, reserve = space_reserve(q->conf), told, diff;
	bool low;

	if (reserve == 0)
		return;
	if (statvfs(".", &sv) == -1) {
		/* Keep the last state: a failing statvfs says nothing about space. */
		log_warn("statvfs of the queue");
		return;
	}
	/* f_bavail: what an unprivileged owner such as the queue user may use. */
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	low = avail < reserve;
	q->space_headroom = low ? 0 : avail - reserve;
	if (low != q->space_low) {
		q->space_low = low;
		if (low)
			log_warnx("queue file system low on space: %llu bytes free, "
			    "queue_min_free reserve %llu: mail is refused (452 4.3.1) "
			    "and bounces wait", (unsigned long long)avail,
			    (unsigned long long)reserve);
		else {
			log_warnx("queue file system has space again: %llu bytes "
			    "free, reserve %llu: mail is accepted",
			    (unsigned long long)avail, (unsigned long long)reserve);
			retell_postponed(q);
		}
		push_all(q);
		return;
	}
	/* SIZE= is checked against the headroom: tell a change of an eighth. */
	told = q->space_told;
	diff = told > q->space_headroom ? told - q->space_headroom :
	    q->space_headroom - told;
	if (diff > told / 8)
		push_all(q);
}

static void
space_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct qmgr *q = arg;
	struct timeval tv = { SPACE_INTERVAL, 0 };

	space_check(q);
	evtimer_add(q->space_ev, &tv);
}

void
space_start(struct qmgr *q)
{
	struct timeval tv = { SPACE_INTERVAL, 0 };

	q->space_headroom = UINT64_MAX;
	if (space_reserve(q->conf) == 0)
		return;
	q->space_told = UINT64_MAX;
	space_check(q);
	if ((q->space_ev = evtimer_new(q->base, space_timer, q)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(q->space_ev, &tv);
}

void
space_stop(struct qmgr *q)
{
	if (q->space_ev != NULL)
		evtimer_del(q->space_ev);
}

void
space_tell(struct qmgr *q, struct qlink *l)
{
	push(q, l);
}

bool
space_ok(struct qmgr *q, uint64_t bytes)
{
	return !q->space_low && bytes <= q->space_headroom;
}
