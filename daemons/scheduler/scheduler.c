/* SPDX-License-Identifier: ISC */
/*
 * scheduler.c - main of the scheduler process (user outpost, chrooted into
 * an empty directory): its links to the queue manager, the resolver and the
 * delivery agents, the timers, and the graceful stop. Called by the process
 * prologue (shared/proc.c) through the master's process table.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "scheduler.h"
#include "clock.h"
#include "xmalloc.h"

#define SCHED_TICK	5	/* seconds between housekeeping rounds */

/* Wall time advanced monotonically: a clock jump neither fires nor freezes retries. */
static uint64_t
sched_clock(void)
{
	return clock_now();
}

uint32_t
sched_reqid(struct sched *s)
{
	if (++s->next_reqid == 0)
		s->next_reqid = 1;
	return s->next_reqid;
}

bool
sched_get_addr(struct frame *f, uint8_t *family, uint8_t addr[16])
{
	return frame_get_u8(f, family) && (*family == 4 || *family == 6) &&
	    frame_get_raw(f, addr, 16);
}

void
sched_put_addr(struct fbuf *fb, uint8_t family, const uint8_t addr[16])
{
	fbuf_add_u8(fb, family);
	fbuf_add_raw(fb, addr, 16);
}

int
sched_qmgr_frame(struct sched *s, struct frame *f)
{
	switch (f->hdr.type) {
	case MSG_SCHED_MAIL:
	case MSG_SCHED_RCPT:
	case MSG_SCHED_MAIL_END:
	case MSG_SCHED_MAILS:
	case MSG_SCHED_LOAD_DONE:
	case MSG_SCHED_REMOVED:
	case MSG_SCHED_FLUSH:
		return sched_mail_frame(s, f);
	case MSG_QMGR_OPENED:
		return sched_job_opened(s, f, true);
	case MSG_QMGR_OPEN_FAIL:
		return sched_job_opened(s, f, false);
	case MSG_QMGR_UPDATED:
		return sched_job_updated(s, f);
	case MSG_TLSRPT_QUEUED:
		return sched_tlsrpt_qmgr_frame(s, f);
	}
	log_warnx("qmgr: unexpected %s", msg_name(f->hdr.type));
	return -1;
}

int
sched_agent_frame(struct sched *s, unsigned agent, struct frame *f)
{
	if (f->hdr.type == MSG_AGENT_RESULT)
		return sched_job_result(s, agent, f);
	if (f->hdr.type == MSG_AGENT_UNREACHABLE)
		return sched_dead_frame(s, agent, f);
	if (f->hdr.type == MSG_AGENT_TLS_SESSION)
		return sched_tlsrpt_session(s, agent, f);
	if (f->hdr.type == MSG_AGENT_REACHED)
		return sched_reached_frame(s, agent, f);
	log_warnx("agent %u: unexpected %s", agent, msg_name(f->hdr.type));
	return -1;
}

int
sched_resolver_frame(struct sched *s, struct frame *f)
{
	int r;

	if ((r = sched_tlsrpt_dns_frame(s, f)) != 0)
		return r == 1 ? 0 : -1;
	if (f->hdr.type == MSG_DNS_MX || f->hdr.type == MSG_DNS_ADDRS ||
	    f->hdr.type == MSG_DNS_TLSA) {
		if ((r = sched_route_dns_frame(s, f)) != 0)
			return r == 1 ? 0 : -1;
	}
	if (f->hdr.type == MSG_DNS_MX || f->hdr.type == MSG_DNS_ADDRS ||
	    f->hdr.type == MSG_DNS_TLSA || f->hdr.type == MSG_DNS_TXT)
		return sched_dest_dns_frame(s, f);
	log_warnx("resolver: unexpected %s", msg_name(f->hdr.type));
	return -1;
}

/*
 * outpostctl commands the master routes here: "destinations" is the traffic
 * shaper's (sched_shape_ctl.c), every other one the route lookup's
 * (sched_route.c), which answers unknown commands.
 */
static int
sched_control(struct proc_ctx *ctx, struct frame *f)
{
	struct frame	 peek = *f;	/* the command's name, without consuming it */
	char		 cmd[64];

	if (f->hdr.type == MSG_CONTROL_REQUEST && frame_get_str(&peek, cmd, sizeof(cmd)) &&
	    strcmp(cmd, "destinations") == 0)
		return sched_shape_control(ctx, f);
	return sched_route_control(ctx, f);
}

/* Forget what was tied to a link; safe to call twice for the same chan. */
static void
sched_link_lost(struct sched *s, struct link *l, struct chan *c)
{
	switch (l->kind) {
	case PROC_QMGR:
		if (s->qmgr != c)
			return;
		s->qmgr = NULL;
		s->loaded = false;
		log_warnx("lost the queue manager: schedule dropped until it lists the queue again");
		sched_job_qmgr_lost(s);
		sched_mail_drop_all(s);
		break;
	case PROC_RESOLVER:
		if (s->resolver != c)
			return;
		s->resolver = NULL;
		log_warnx("lost the resolver");
		sched_dest_resolver_lost(s);
		sched_route_resolver_lost(s);
		sched_tlsrpt_resolver_lost(s);
		break;
	case PROC_STS:
		if (s->sts != c)
			return;
		s->sts = NULL;
		log_warnx("lost the MTA-STS process");
		sched_route_sts_lost(s);
		sched_sts_lost(s);
		break;
	case PROC_AGENT:
		if (l->instance >= s->nagents || s->agents[l->instance].chan != c)
			return;
		s->agents[l->instance].chan = NULL;
		log_warnx("lost agent %u", l->instance);
		sched_job_agent_lost(s, l->instance);
		break;
	}
	sched_check_stop(s);
}

static int
sched_link_cb(struct chan *c, struct frame *f, void *arg)
{
	struct link	*l = arg;
	struct sched	*s = l->s;

	if (f == NULL) {
		/* Only the link in use is reported: a replaced one was settled already. */
		bool current = (l->kind == PROC_QMGR && s->qmgr == c) ||
		    (l->kind == PROC_RESOLVER && s->resolver == c) ||
		    (l->kind == PROC_STS && s->sts == c) ||
		    (l->kind == PROC_AGENT && l->instance < s->nagents &&
		    s->agents[l->instance].chan == c);
		sched_link_lost(s, l, c);
		if (current && !s->stopping)
			proc_link_down(s->ctx, l->kind, l->instance);
		free(l);
		return 0;
	}
	switch (l->kind) {
	case PROC_QMGR:
		return s->qmgr == c ? sched_qmgr_frame(s, f) : 0;
	case PROC_RESOLVER:
		return s->resolver == c ? sched_resolver_frame(s, f) : 0;
	case PROC_AGENT:
		return sched_agent_frame(s, l->instance, f);
	case PROC_STS:
		if (s->sts != c)
			return 0;
		if (f->hdr.type == MSG_STS_POLICY) {
			int r = sched_route_sts_frame(s, f);

			return r != 0 ? (r == 1 ? 0 : -1) : sched_sts_policy_frame(s, f);
		}
		return sched_tlsrpt_sts_frame(s, f);
	}
	return -1;
}

static void
sched_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct sched	*s = ctx->arg;
	struct link	*l;
	struct chan	*c, *old = NULL;
	char		 name[32];

	if (kind != PROC_QMGR && kind != PROC_RESOLVER && kind != PROC_AGENT &&
	    kind != PROC_STS) {
		log_warnx("unexpected link to %s", proc_kind_name(kind));
		close(fd);
		return;
	}
	if (kind == PROC_AGENT && instance >= 4096) {
		log_warnx("agent instance %u out of range", instance);
		close(fd);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->s = s;
	l->kind = kind;
	l->instance = instance;
	if (kind == PROC_AGENT)
		snprintf(name, sizeof(name), "agent %u", instance);
	else
		strlcpy(name, proc_kind_name(kind), sizeof(name));

	/* A new link replaces the old one: settle the old one's state first. */
	switch (kind) {
	case PROC_QMGR:
		old = s->qmgr;
		break;
	case PROC_RESOLVER:
		old = s->resolver;
		break;
	case PROC_STS:
		old = s->sts;
		break;
	case PROC_AGENT:
		if (instance >= s->nagents) {
			s->agents = xrecallocarray(s->agents, s->nagents, instance + 1,
			    sizeof(*s->agents));
			s->nagents = instance + 1;
		}
		old = s->agents[instance].chan;
		break;
	}
	if (old != NULL) {
		sched_link_lost(s, chan_arg(old), old);
		chan_close(old, "replaced by a new link");
	}

	c = chan_new(s->base, fd, name, sched_link_cb, l);
	switch (kind) {
	case PROC_QMGR:
		s->qmgr = c;
		s->loaded = false;
		s->nflush = 0;
		log_info("linked to the queue manager");
		/* Destinations left ready while no queue manager could open mails. */
		event_active(s->dispatch_ev, EV_TIMEOUT, 0);
		break;
	case PROC_STS:
		s->sts = c;
		log_debug("linked to the MTA-STS process");
		sched_sts_up(s);
		break;
	case PROC_RESOLVER:
		s->resolver = c;
		log_info("linked to the resolver");
		sched_dest_resolver_up(s);
		break;
	case PROC_AGENT:
		s->agents[instance].chan = c;
		s->agents[instance].load = 0;
		log_debug("linked to agent %u", instance);
		event_active(s->dispatch_ev, EV_TIMEOUT, 0);
		break;
	}
}

static void
sched_due_cb(evutil_socket_t fd, short ev, void *arg)
{
	sched_mail_run_due(arg);
}

static void
sched_dispatch_cb(evutil_socket_t fd, short ev, void *arg)
{
	sched_job_dispatch(arg);
}

static void
sched_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	sched_dest_tick(arg);
}

static void
sched_stop_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct sched	*s = arg;

	log_warnx("stopping with %u transactions unrecorded", sched_job_in_flight(s));
	proc_exit_loop(s->ctx);
}

void
sched_check_stop(struct sched *s)
{
	if (s->stopping && s->ctx != NULL && sched_job_in_flight(s) == 0) {
		log_info("all results recorded, exiting");
		proc_exit_loop(s->ctx);
	}
}

static void
sched_on_shutdown(struct proc_ctx *ctx)
{
	struct sched	*s = ctx->arg;
	struct timeval	 tv = { SCHED_STOP_WAIT, 0 };
	struct mail	*m;

	if (s->stopping)
		return;
	s->stopping = true;
	log_info("stopping: %u transactions in flight", sched_job_in_flight(s));
	while ((m = TAILQ_FIRST(&s->due)) != NULL) {
		TAILQ_REMOVE(&s->due, m, due_entry);
		m->on_due = false;
	}
	sched_job_stop(s);
	evtimer_add(s->stop_ev, &tv);
	sched_check_stop(s);
}

void
sched_init(struct sched *s, struct proc_ctx *ctx, const struct config *conf,
    struct event_base *base)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->conf = conf;
	s->base = base;
	s->now = sched_clock;
	s->max_sessions = conf->limits[PROC_AGENT].max_sessions;
	if (s->max_sessions == 0)
		s->max_sessions = SCHED_AGENT_SESSIONS;
	RB_INIT(&s->mails);
	RB_INIT(&s->jobs);
	RB_INIT(&s->dests);
	RB_INIT(&s->dnsqs);
	RB_INIT(&s->shapes);
	RB_INIT(&s->deads);
	TAILQ_INIT(&s->due);
	sched_mail_init(s);
	TAILQ_INIT(&s->parkq);
	TAILQ_INIT(&s->ready);
	TAILQ_INIT(&s->deferq);
	TAILQ_INIT(&s->orphans);
	if ((s->due_ev = event_new(base, -1, 0, sched_due_cb, s)) == NULL ||
	    (s->dispatch_ev = event_new(base, -1, 0, sched_dispatch_cb, s)) == NULL ||
	    (s->tick_ev = event_new(base, -1, EV_PERSIST, sched_tick_cb, s)) == NULL ||
	    (s->stop_ev = evtimer_new(base, sched_stop_timeout, s)) == NULL)
		fatalx("scheduler: event_new");
}

void
scheduler_main(struct proc_ctx *ctx)
{
	static struct sched	 sched;
	const struct config	*c = ctx->conf;
	struct timeval		 tick = { SCHED_TICK, 0 };
	unsigned		 i;

	sched_init(&sched, ctx, c, ctx->base);
	evtimer_add(sched.tick_ev, &tick);
	ctx->arg = &sched;
	ctx->on_peer = sched_on_peer;
	ctx->on_shutdown = sched_on_shutdown;
	ctx->on_master = sched_control;		/* route, destinations */
	sched_redis_init(&sched);		/* shared_limits */

	if (c->mode == MODE_RELAY)
		log_info("relay mode: every mail goes to %s:%u%s",
		    c->relay_host_set ? c->relay_host.host : "(no relay_host!)",
		    c->relay_host.port, c->nroutes > 0 ? "; [routes] are ignored" : "");
	else
		log_info("independent mode: MX lookups, %zu routes", c->nroutes);
	for (i = 0; i < c->nroutes && c->mode == MODE_INDEPENDENT; i++)
		log_info("route: %s%s via %s%s%s:%u", c->routes[i].subdomains ? "." : "",
		    c->routes[i].domain, c->routes[i].via.literal ? "[" : "",
		    c->routes[i].via.host, c->routes[i].via.literal ? "]" : "",
		    c->routes[i].via.port);
	log_info("resend: %u attempts, %u seconds apart (backoff x%u, lifetime %us, "
	    "delay warning %us); %u per destination, "
	    "%u recipients per transaction, %u sessions per agent",
	    c->resend_attempts, c->resend_interval, c->resend_backoff,
	    c->max_queue_lifetime, c->delay_warning, c->destination_concurrency,
	    c->max_rcpt_per_transaction, sched.max_sessions);
}
