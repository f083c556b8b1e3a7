/* SPDX-License-Identifier: ISC */
/*
 * agent.c - entry point of an SMTP delivery agent process (one of a pool,
 * ctx->instance), run by proc_child() as user outpost in an empty chroot.
 *
 * Owns the link to the scheduler, the admission of MSG_AGENT_DELIVER jobs
 * and their dispatch onto sessions (agent_session.c): an idle connection to
 * the same address is reused, otherwise a new one is opened while the
 * process stays under limits[PROC_AGENT].max_sessions; the rest waits.
 * Every job is answered with exactly one MSG_AGENT_RESULT, unless the link
 * it came on died: then the new scheduler has it again and it is dropped.
 * Graceful shutdown lets transactions in flight finish for a bounded time,
 * defers everything else and says QUIT to idle servers.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "xmalloc.h"

#include "agent.h"

#define PENDING_MIN		64	/* jobs that may wait for a session, at least */
#define STOP_EXTRA		10	/* seconds after the grace to flush answers */

static void	agent_on_peer(struct proc_ctx *, int, unsigned, int);
static void	agent_on_shutdown(struct proc_ctx *);
static int	agent_sched_cb(struct chan *, struct frame *, void *);
static void	agent_stop_cb(evutil_socket_t, short, void *);
static void	agent_check_exit(struct agent *);
static int	agent_master_cb(struct proc_ctx *, struct frame *);

void
agent_main(struct proc_ctx *ctx)
{
	struct agent	*a;

	a = xcalloc(1, sizeof(*a));
	a->ctx = ctx;
	a->conf = ctx->conf;
	TAILQ_INIT(&a->jobs);
	TAILQ_INIT(&a->pending);
	TAILQ_INIT(&a->sessions);
	a->rdbuf = xmalloc(AGENT_BLOCK);
	if ((a->stop_timer = evtimer_new(ctx->base, agent_stop_cb, a)) == NULL)
		fatalx("agent: evtimer_new");
	agent_timeout_set(STAGE_CONNECT, a->conf->connect_timeout);
	agent_timeout_set(STAGE_GREETING, a->conf->smtp_command_timeout);
	agent_timeout_set(STAGE_EHLO, a->conf->smtp_command_timeout);
	agent_timeout_set(STAGE_MAIL, a->conf->smtp_command_timeout);
	agent_timeout_set(STAGE_RCPT, a->conf->smtp_command_timeout);
	agent_timeout_set(STAGE_RSET, a->conf->smtp_command_timeout);
	/* RFC 5321 gives the DATA command 2 minutes and each block 3. */
	agent_timeout_set(STAGE_DATA_INIT, a->conf->smtp_data_timeout < 120 ?
	    a->conf->smtp_data_timeout : 120);
	agent_timeout_set(STAGE_DATA_BLOCK, a->conf->smtp_data_timeout);
	agent_timeout_set(STAGE_DATA_END, a->conf->smtp_final_timeout);
	agent_timeout_set(STAGE_STARTTLS, a->conf->smtp_command_timeout);
	agent_timeout_set(STAGE_TLS, a->conf->smtp_command_timeout);
	agent_timeout_set(STAGE_AUTH, a->conf->smtp_command_timeout);
	/* Normally made by agent_prepare() before the chroot; a test run makes it here. */
	tls_init(a->conf);
	ctx->arg = a;
	ctx->on_peer = agent_on_peer;
	ctx->on_shutdown = agent_on_shutdown;
	ctx->on_master = agent_master_cb;
	log_detail("agent %u ready, at most %u sessions", ctx->instance,
	    a->conf->limits[PROC_AGENT].max_sessions);
}

/* Control frames for this process beyond proc.c's: the relay credentials. */
static int
agent_master_cb(struct proc_ctx *ctx, struct frame *f)
{
	if (f->hdr.type == MSG_CTL_RELAY_AUTH)
		return auth_ctl_frame(f);
	return -1;
}

/* Leaving the loop: nothing secret stays mapped. */
static void
agent_exit(struct agent *a)
{
	auth_clear();
	tls_shutdown();
	proc_exit_loop(a->ctx);
}

static void
agent_unpend(struct agent *a, struct agent_job *j)
{
	if (j->pending) {
		TAILQ_REMOVE(&a->pending, j, pentry);
		j->pending = false;
		a->npending--;
	}
}

static void
agent_unlink_job(struct agent *a, struct agent_job *j)
{
	agent_unpend(a, j);
	TAILQ_REMOVE(&a->jobs, j, entry);
}

void
agent_job_done(struct agent *a, struct agent_job *j)
{
	if (j->link != NULL && !j->link->dead)
		chan_send(j->link->chan, job_result(j));
	agent_unlink_job(a, j);
	job_free(j);
}

void
agent_job_requeue(struct agent *a, struct agent_job *j)
{
	TAILQ_INSERT_HEAD(&a->pending, j, pentry);
	j->pending = true;
	a->npending++;
	agent_dispatch(a);
}

/* Answer at once, without a connection. */
static void
agent_job_refuse(struct agent *a, struct agent_job *j, const char *dsn, const char *why)
{
	job_fail_rest(j, DELIVERY_TEMPFAIL, 0, dsn, why);
	agent_job_done(a, j);
}

static struct agent_session *
agent_find_idle(struct agent *a, const struct agent_job *j, bool any)
{
	struct agent_session	*s;

	TAILQ_FOREACH(s, &a->sessions, entry)
		if (any ? session_idle(s) : session_matches(s, j))
			return s;
	return NULL;
}

void
agent_dispatch(struct agent *a)
{
	struct agent_job	*j;
	struct agent_session	*s;
	unsigned		 max = a->conf->limits[PROC_AGENT].max_sessions;

	/* Sessions finishing inside a dispatch ask for another round instead of recursing. */
	if (a->dispatching) {
		a->redispatch = true;
		return;
	}
	a->dispatching = true;
	do {
		a->redispatch = false;
		while ((j = TAILQ_FIRST(&a->pending)) != NULL) {
			if ((s = agent_find_idle(a, j, false)) != NULL) {
				agent_unpend(a, j);
				session_take(s, j);
				continue;
			}
			/* Sessions still saying QUIT hold their sockets: they count,
			 * or towards many destinations the process outgrew its
			 * descriptors (max sockets plus max messages, sandbox.c)
			 * and could no longer receive a job's file. */
			if (a->nsessions + a->nquitting < max) {
				agent_unpend(a, j);
				session_new(a, j);
				continue;
			}
			/* Full: an idle connection elsewhere makes room once closed;
			 * no more are closed than jobs wait for one. Its socket
			 * stays open until the QUIT is answered: a bounded number
			 * of those keeps within the descriptor limit (sandbox.c). */
			if (a->nquitting < a->npending && a->nquitting < max &&
			    (s = agent_find_idle(a, j, true)) != NULL) {
				session_quit(s);
				continue;
			}
			break;
		}
	} while (a->redispatch);
	a->dispatching = false;
}

void
agent_session_gone(struct agent *a)
{
	agent_dispatch(a);
	if (a->stopping)
		agent_check_exit(a);
}

static void
agent_job_admit(struct agent *a, struct agent_job *j)
{
	unsigned	 max = a->conf->limits[PROC_AGENT].max_sessions;
	unsigned	 pmax = max * 4 > PENDING_MIN ? max * 4 : PENDING_MIN;

	TAILQ_INSERT_TAIL(&a->jobs, j, entry);
	log_detail("%s: job for %s, %u recipients, %u addresses, %llu octets", j->id,
	    j->dest, j->nrcpt, j->naddr, (unsigned long long)j->len);
	if (a->stopping) {
		agent_job_refuse(a, j, "4.3.2", "delivery agent shutting down");
		return;
	}
	if (a->npending >= pmax) {
		log_warnx("%s: %u jobs already waiting for a session, deferring", j->id, a->npending);
		agent_job_refuse(a, j, "4.3.2", "delivery agent overloaded");
		return;
	}
	if (j->nrcpt == 0) {
		agent_job_done(a, j);
		return;
	}
	TAILQ_INSERT_TAIL(&a->pending, j, pentry);
	j->pending = true;
	a->npending++;
	agent_dispatch(a);
}

/* Everything that came on this link is the dead scheduler's: drop it. */
static void
agent_link_lost(struct agent *a, struct agent_link *l)
{
	struct agent_job	*j, *tmp;

	l->dead = true;
	TAILQ_FOREACH_SAFE(j, &a->jobs, entry, tmp) {
		if (j->link != l)
			continue;
		j->link = NULL;
		if (j->sess != NULL && session_drop_job(j->sess))
			continue;
		agent_unlink_job(a, j);
		job_free(j);
	}
}

static int
agent_sched_cb(struct chan *c, struct frame *f, void *arg)
{
	struct agent_link	*l = arg;
	struct agent		*a = l->agent;
	struct agent_job	*j;
	const char		*why;

	log_trace(false);
	if (f == NULL) {
		if (!l->dead) {
			log_warnx("lost the link to the scheduler, dropping its jobs");
			agent_link_lost(a, l);
		}
		if (a->link == l) {
			/* The link in use (not one replaced): the master links us again. */
			a->link = NULL;
			if (!a->stopping)
				proc_link_down(a->ctx, PROC_SCHEDULER, 0);
		}
		free(l);
		if (a->stopping)
			agent_check_exit(a);
		return 0;
	}
	if (l->dead)
		return 0;
	switch (f->hdr.type) {
	case MSG_AGENT_DELIVER:
		if (job_decode(f, &j, &why) == -1) {
			log_warnx("malformed %s from the scheduler: %s", msg_name(f->hdr.type), why);
			return -1;
		}
		j->link = l;
		agent_job_admit(a, j);
		return 0;
	default:
		log_warnx("unexpected %s from the scheduler", msg_name(f->hdr.type));
		return -1;
	}
}

static void
agent_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct agent		*a = ctx->arg;
	struct agent_link	*l, *old;

	if (kind != PROC_SCHEDULER) {
		log_warnx("unexpected link to %s, closing it", proc_kind_name(kind));
		close(fd);
		return;
	}
	if ((old = a->link) != NULL) {
		/* A restarted scheduler: the old link's jobs are its predecessor's. */
		a->link = NULL;
		agent_link_lost(a, old);
		chan_close(old->chan, "replaced by a new link to the scheduler");
	}
	l = xcalloc(1, sizeof(*l));
	l->agent = a;
	l->chan = chan_new(ctx->base, fd, "scheduler", agent_sched_cb, l);
	a->link = l;
}

static void
agent_check_exit(struct agent *a)
{
	if (a->nsessions + a->nquitting > 0)
		return;
	if (a->link != NULL && !a->link->dead && chan_pending(a->link->chan) > 0 &&
	    a->stop_ticks < AGENT_STOP_GRACE + STOP_EXTRA)
		return;
	log_info("agent %u stopped", a->ctx->instance);
	evtimer_del(a->stop_timer);
	agent_exit(a);
}

static void
agent_stop_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent		*a = arg;
	struct agent_session	*s, *tmp;
	struct timeval		 tv = { 1, 0 };

	a->stop_ticks++;
	if (a->stop_ticks == AGENT_STOP_GRACE) {
		TAILQ_FOREACH_SAFE(s, &a->sessions, entry, tmp)
			session_abort(s, "delivery agent shutting down");
	}
	if (a->stop_ticks >= AGENT_STOP_GRACE + STOP_EXTRA) {
		log_warnx("agent %u: could not stop cleanly, leaving", a->ctx->instance);
		agent_exit(a);
		return;
	}
	evtimer_add(a->stop_timer, &tv);
	agent_check_exit(a);
}

static void
agent_on_shutdown(struct proc_ctx *ctx)
{
	struct agent		*a = ctx->arg;
	struct agent_job	*j;
	struct agent_session	*s, *tmp;
	struct timeval		 tv = { 1, 0 };

	if (a->stopping)
		return;
	a->stopping = true;
	log_info("agent %u shutting down: %u sessions, %u jobs waiting", ctx->instance,
	    a->nsessions, a->npending);
	while ((j = TAILQ_FIRST(&a->pending)) != NULL)
		agent_job_refuse(a, j, "4.3.2", "delivery agent shutting down");
	TAILQ_FOREACH_SAFE(s, &a->sessions, entry, tmp) {
		if (session_idle(s))
			session_quit(s);
		else if (!session_in_transaction(s))
			session_abort(s, "delivery agent shutting down");
	}
	evtimer_add(a->stop_timer, &tv);
	agent_check_exit(a);
}
