/* SPDX-License-Identifier: ISC */
/*
 * qmgr.c - the queue manager process: entry point (qmgr_main, called by the
 * child prologue in shared/proc.c once it runs as the queue user inside the
 * queue directory), links from the master, and shutdown.
 *
 * Start: directories, recovery of the queue (every file verified and
 * indexed in slices beside intake, qmgr_spool.c), the commit thread, the
 * public socket. Links to the
 * smtpd and the scheduler arrive later through on_peer, and again whenever
 * one of them was restarted; each new scheduler link gets the whole queue.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "daemons.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "qmgr.h"
#include "xmalloc.h"

void
qmgr_link_unref(struct qlink *l)
{
	if (--l->refs > 0)
		return;
	if (l->resume != NULL)
		event_free(l->resume);
	if (l->idle != NULL)
		event_free(l->idle);
	fbuf_free(l->batch);
	free(l);
}

/* smtpd replaces its link by closing the old one: is another still open? */
static bool
smtpd_linked(struct qmgr *q)
{
	struct qlink *l;

	TAILQ_FOREACH(l, &q->links, entry)
		if (l->kind == QLINK_SMTPD && l->chan != NULL)
			return true;
	return false;
}

static int
link_cb(struct chan *c, struct frame *f, void *arg)
{
	struct qlink *l = arg;
	struct qmgr *q = l->q;

	if (f == NULL) {
		l->chan = NULL;
		l->streaming = false;
		if (l->resume != NULL)
			evtimer_del(l->resume);
		submit_link_closed(l);
		if (l->kind == QLINK_PUBLIC)
			public_closed(l);
		if (q->sched == l) {
			q->sched = NULL;
			if (!q->stopping)
				proc_link_down(q->ctx, PROC_SCHEDULER, 0);
		}
		TAILQ_REMOVE(&q->links, l, entry);
		if (l->kind == QLINK_SMTPD && !q->stopping && !smtpd_linked(q))
			proc_link_down(q->ctx, PROC_SMTPD, 0);
		qmgr_link_unref(l);
		return 0;
	}
	switch (l->kind) {
	case QLINK_SCHED:
		return sched_dispatch(l, f);
	case QLINK_PUBLIC:
		public_touch(l);
		if (f->hdr.type == MSG_QUEUE_LIST) {
			if (!frame_end(f) || l->streaming)
				return -1;
			stream_start(l, f->hdr.reqid);
			return 0;
		}
		return submit_dispatch(l, f);
	case QLINK_SMTPD:
		return submit_dispatch(l, f);
	}
	return -1;
}

uint64_t
qmgr_usec_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000 +
	    (uint64_t)((t.tv_nsec - t0->tv_nsec) / 1000);
}

struct qlink *
qmgr_link_new(struct qmgr *q, int fd, enum qlink_kind kind, const char *name)
{
	struct qlink *l;

	l = xcalloc(1, sizeof(*l));
	l->q = q;
	l->kind = kind;
	l->refs = 1;
	l->uid = UINT32_MAX;
	RB_INIT(&l->txs);
	TAILQ_INSERT_TAIL(&q->links, l, entry);
	l->chan = chan_new(q->base, fd, name, link_cb, l);
	return l;
}

static void
qmgr_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct qmgr *q = ctx->arg;
	struct qlink *l;
	unsigned s;

	switch (kind) {
	case PROC_SMTPD:
		l = qmgr_link_new(q, fd, QLINK_SMTPD, "smtpd");
		s = q->conf->limits[PROC_SMTPD].max_sessions;
		l->maxtx = (s ? s : 1000) * 2 + 16;
		space_tell(q, l);
		break;
	case PROC_SCHEDULER:
		/* A new scheduler knows nothing: the old link is dead or dying. */
		if (q->sched != NULL && q->sched->chan != NULL)
			chan_close(q->sched->chan, "replaced by a new scheduler link");
		l = qmgr_link_new(q, fd, QLINK_SCHED, "scheduler");
		q->sched = l;
		l->gen = ++q->sched_gen;
		stream_start(l, 0);
		break;
	case PROC_SIGNER:
		sign_link(q, fd);
		break;
	default:
		log_warnx("unexpected link to %s", proc_kind_name(kind));
		close(fd);
		break;
	}
}

void
qmgr_maybe_exit(struct qmgr *q)
{
	if (!q->stopping || q->jobs_inflight > 0)
		return;
	qmgr_commit_stop(q->commit);
	log_info("stopped: %u mails queued", q->nmails);
	proc_exit_loop(q->ctx);
}

static void
qmgr_on_shutdown(struct proc_ctx *ctx)
{
	struct qmgr *q = ctx->arg;
	struct qlink *l, *next;

	if (q->stopping)
		return;
	q->stopping = true;
	public_stop(q);
	space_stop(q);
	/* Unfinished submissions were never acknowledged: drop them now. */
	TAILQ_FOREACH_SAFE(l, &q->links, entry, next)
		submit_link_closed(l);
	/* Commits in flight still finish and are answered. */
	qmgr_maybe_exit(q);
}

void
qmgr_main(struct proc_ctx *ctx)
{
	struct qmgr *q;

	if (sodium_init() < 0)
		fatalx("sodium_init");
	/*
	 * The write lease that proves a spare file unused (qmgr_spool.c) is
	 * held for two system calls; should someone open the file then, the
	 * lease break's SIGIO must not end the process.
	 */
	(void)signal(SIGIO, SIG_IGN);
	q = xcalloc(1, sizeof(*q));
	q->ctx = ctx;
	q->conf = ctx->conf;
	q->base = ctx->base;
	q->myuid = getuid();
	q->listen_fd = -1;
	RB_INIT(&q->mails);
	park_init(q);
	TAILQ_INIT(&q->bulk_wait);
	RB_INIT(&q->held);
	TAILQ_INIT(&q->links);

	q->flags_fd = -1;
	if (spool_open_dirs(q) == -1 || mark_open(q) == -1)
		fatalx("cannot set up the queue directories");
	sign_init(q);
	/* Indexing runs in slices of the loop: intake never waits for it. */
	if (spool_recover(q) == -1)
		fatalx("queue recovery failed");
	q->commit = qmgr_commit_start(q);
	qmgr_expire_start(q);
	space_start(q);
	if (public_listen(q) == -1)
		fatalx("cannot listen on %s", QMGR_SUBMIT_SOCK);

	ctx->arg = q;
	ctx->on_peer = qmgr_on_peer;
	ctx->on_shutdown = qmgr_on_shutdown;
	ctx->on_master = control_dispatch;
	metrics_set_collector(qmgr_metrics_collect, q);
	log_info("started: indexing the queue beside intake%s",
	    ctx->privileged ? "" : " (not root: no chroot)");
}
