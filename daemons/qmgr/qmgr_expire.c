/* SPDX-License-Identifier: ISC */
/*
 * qmgr_expire.c - max_queue_lifetime for mails on hold. Run by the queue
 * manager; started by qmgr.c once the queue is recovered.
 *
 * The scheduler ends the life of every mail it schedules, but a held mail
 * is not scheduled (qmgr_sched.c): left on hold it would stay forever. Every
 * few seconds the held mails older than the lifetime have their open
 * recipients failed with 4.4.7 (one bounce to the sender, as the scheduler
 * would have sent), and leave the queue. Only the held mails are looked at
 * (q->held, kept by qmgr_shape.c): the cost of a tick does not grow with
 * the queue.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

#define EXPIRE_TICK_MAX		60	/* seconds between two scans at most */
#define EXPIRE_REASON		"message expired: held in the queue longer than max_queue_lifetime"

static struct event	*expire_ev;

static void
expired(struct qmgr *q, void *arg, const char *id, bool removed)
{
	log_debug("%s: expired%s", id, removed ? ", removed" : "");
}

static void
expire_mail(struct qmgr *q, struct qmail *m, uint64_t now)
{
	struct qf_state	*st;
	struct qrcpt	*rc;
	uint32_t	 i, n = 0;

	st = xcalloc(m->nrcpt, sizeof(*st));
	for (i = 0; i < m->nrcpt; i++) {
		rc = &m->rcpt[i];
		if (rc->state == RCPT_DELIVERED || rc->state == RCPT_FAILED)
			continue;
		st[n].index = i;
		st[n].state = RCPT_FAILED;
		st[n].attempts = rc->attempts;
		st[n].when = now;
		strlcpy(st[n].dsn, "4.4.7", sizeof(st[n].dsn));
		strlcpy(st[n].reply, EXPIRE_REASON, sizeof(st[n].reply));
		/* the line the scheduler writes for every verdict */
		log_info("%s: to=<%s>, relay=none, delay=%llu, delays=%llu/0/0/0, dsn=4.4.7, "
		    "status=bounced (%s), attempts=%u", m->id, rc->addr,
		    (unsigned long long)(now - m->arrival), (unsigned long long)(now - m->arrival),
		    EXPIRE_REASON, rc->attempts);
		n++;
	}
	if (n == 0) {
		free(st);
		return;
	}
	qmgr_states_apply(q, m, st, n, expired, NULL);
}

static unsigned
expire_tick(const struct config *c)
{
	unsigned t = c->max_queue_lifetime / 10;

	if (t < 1)
		t = 1;
	return t > EXPIRE_TICK_MAX ? EXPIRE_TICK_MAX : t;
}

static void
expire_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qmgr	*q = arg;
	struct qheld	*h, *next;
	struct qmail	*m;
	uint64_t	 now = (uint64_t)time(NULL);
	unsigned	 lifetime = q->conf->max_queue_lifetime;
	struct timeval	 tv = { EXPIRE_TICK_MAX, 0 };

	if (q->stopping)
		return;
	if (lifetime > 0) {
		/* expire_mail() may remove the mail, and its node, at once */
		RB_FOREACH_SAFE(h, qheld_tree, &q->held, next) {
			m = h->mail;
			if (!m->deleted && now >= m->arrival + lifetime) {
				log_info("%s: held for %llus: max_queue_lifetime expired",
				    m->id, (unsigned long long)(now - m->arrival));
				expire_mail(q, m, now);
			}
		}
		tv.tv_sec = expire_tick(q->conf);
	}
	evtimer_add(expire_ev, &tv);
}

void
qmgr_expire_start(struct qmgr *q)
{
	struct timeval	tv = { 1, 0 };

	if ((expire_ev = evtimer_new(q->base, expire_cb, q)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(expire_ev, &tv);
}
