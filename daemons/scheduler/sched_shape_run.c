/* SPDX-License-Identifier: ISC */
/*
 * sched_shape_run.c - traffic shaping in the running scheduler: which
 * budget (struct shape) a destination counts against, whether it may start
 * one more transaction now, and what the outcomes of its transactions say
 * about the receiver's patience. Called by sched_dest.c (attach, MX known,
 * detach), sched_job.c (dispatch, release, results) and sched_mail.c
 * (recipients per transaction); the arithmetic is sched_shape.c's.
 *
 * A shape is one [destinations] line, shared by every destination it
 * matches (all domains hosted at one provider), or a destination's own
 * when no line matches, with the global defaults. A destination that may
 * not start waits on its shape's blocked list, not on the ready list: a
 * slot freed (release), a token due or a pause over (the shape's timer)
 * puts as many back as can start, so a budget shared by many destinations
 * is not rescanned on every event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "config_dest.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "xmalloc.h"

#define SHAPE_WAIT_MAX		3600	/* seconds a server may ask us to wait */
#define SHAPE_PAUSE_MS		1000	/* no new connection this long after a throttle */

int
sched_shape_cmp(const struct shape *a, const struct shape *b)
{
	return strcmp(a->key, b->key);
}

RB_GENERATE(sched_shape_tree, shape, entry, sched_shape_cmp)

uint64_t
sched_mono_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void	shape_wake(struct sched *, struct shape *);

static void
shape_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct shape	*sh = arg;
	sh->timer_on = false;
	shape_wake(sh->s, sh);
}

static struct shape *
shape_get(struct sched *s, const struct dest_conf *dc, const char *destkey,
    const char *name)
{
	const struct config	*c = s->conf;
	struct shape		 key, *sh;

	if (dc != NULL)
		snprintf(key.key, sizeof(key.key), "conf:%zu", config_dest_index(c, dc));
	else
		snprintf(key.key, sizeof(key.key), "dest:%s", destkey);
	if ((sh = RB_FIND(sched_shape_tree, &s->shapes, &key)) != NULL)
		return sh;
	sh = xcalloc(1, sizeof(*sh));
	sh->s = s;
	strlcpy(sh->key, key.key, sizeof(sh->key));
	TAILQ_INIT(&sh->blocked);
	sh->reuse = -1;
	if (dc != NULL) {
		sh->configured = true;
		snprintf(sh->name, sizeof(sh->name), "%s%s", dc->match == DEST_MATCH_MX ? "mx:" :
		    dc->match == DEST_MATCH_SUBDOMAINS ? "." : "", dc->pattern);
		aimd_init(&sh->aimd, dc->concurrency ? dc->concurrency :
		    c->destination_concurrency);
		sh->rate = dc->rate;
		sh->period = dc->rate_period;
		/* With shared limits, the local bucket is the fallback: this
		 * node's share of the rate while Redis is away. */
		if (c->shared_limits[0] != '\0' && dc->rate > 0) {
			unsigned share = dc->rate / (c->node_count ? c->node_count : 1);

			tbucket_init(&sh->tb, share ? share : 1, dc->rate_period,
			    sched_mono_ms());
		} else
			tbucket_init(&sh->tb, dc->rate, dc->rate_period, sched_mono_ms());
		sh->rcpt_max = dc->rcpt_per_transaction ? dc->rcpt_per_transaction :
		    c->max_rcpt_per_transaction;
		sh->mails_per_conn = dc->mails_per_connection;
		sh->reuse = dc->reuse;
	} else {
		strlcpy(sh->name, name, sizeof(sh->name));
		aimd_init(&sh->aimd, c->destination_concurrency);
		tbucket_init(&sh->tb, 0, 1, 0);
		sh->rcpt_max = c->max_rcpt_per_transaction;
	}
	if (s->base != NULL && (sh->timer = evtimer_new(s->base, shape_timer_cb, sh)) == NULL)
		fatalx("scheduler: evtimer_new");
	RB_INSERT(sched_shape_tree, &s->shapes, sh);
	return sh;
}

static void
shape_unref(struct sched *s, struct shape *sh)
{
	if (sh == NULL || --sh->refs > 0)
		return;
	while (sh->nleases > 0)		/* granted, never used: give them back */
		sched_redis_unlease(s, sh, sh->leases[--sh->nleases]);
	RB_REMOVE(sched_shape_tree, &s->shapes, sh);
	if (sh->timer != NULL)
		event_free(sh->timer);
	free(sh);
}

static void
shape_unblock(struct shape *sh, struct dest *d)
{
	if (d->on_blocked) {
		TAILQ_REMOVE(&sh->blocked, d, blocked_entry);
		d->on_blocked = false;
	}
}

static void
shape_set(struct sched *s, struct dest *d, struct shape *sh)
{
	struct shape	*old = d->shape;

	if (old == sh)
		return;
	if (old != NULL)
		shape_unblock(old, d);
	sh->refs++;
	d->shape = sh;
	shape_unref(s, old);
	if (old != NULL)
		log_info("shaping: destination %s now counts against %s "
		    "(concurrency %u, rate %u/%us)", d->name, sh->name, sh->aimd.cur,
		    sh->tb.rate, sh->tb.period);
}

void
sched_shape_attach(struct sched *s, struct dest *d)
{
	shape_set(s, d, shape_get(s, config_dest_domain(s->conf, d->name), d->key, d->name));
}

void
sched_shape_mx(struct sched *s, struct dest *d)
{
	const struct dest_conf	*dc = NULL;
	unsigned		 i;

	/* A line for the domain itself is more specific than one for its MX. */
	if (d->shape != NULL && d->shape->configured &&
	    config_dest_domain(s->conf, d->name) != NULL)
		return;
	for (i = 0; i < d->nhosts && dc == NULL; i++)
		if (d->hosts[i].status == DNS_OK && d->hosts[i].naddr > 0)
			dc = config_dest_mx(s->conf, d->hosts[i].mx.host);
	if (dc != NULL)
		shape_set(s, d, shape_get(s, dc, d->key, d->name));
}

void
sched_shape_detach(struct sched *s, struct dest *d)
{
	if (d->shape == NULL)
		return;
	shape_unblock(d->shape, d);
	shape_unref(s, d->shape);
	d->shape = NULL;
}

static void
shape_timer(struct shape *sh, uint64_t ms)
{
	struct timeval	tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (sh->timer == NULL || sh->timer_on)
		return;
	sh->timer_on = true;
	evtimer_add(sh->timer, &tv);
}

/*
 * Transactions this node may run for the budget: its adaptive concurrency,
 * and with shared limits while Redis is away, its share of the configured
 * one (the leases in Redis hold the whole when it is there).
 */
static unsigned
shape_limit(struct sched *s, const struct shape *sh)
{
	unsigned	lim = sh->aimd.cur, share;

	if (s->shared != NULL && sh->configured && !sched_redis_up(s)) {
		share = sh->aimd.max / (s->conf->node_count ? s->conf->node_count : 1);
		if (share < 1)
			share = 1;
		if (share < lim)
			lim = share;
	}
	return lim;
}

/* Blocked destinations go back to the ready list, as many as may start. */
static void
shape_wake(struct sched *s, struct shape *sh)
{
	struct dest	*d;
	unsigned	 room;

	room = sh->active < shape_limit(s, sh) ? shape_limit(s, sh) - sh->active : 0;
	while (room > 0 && (d = TAILQ_FIRST(&sh->blocked)) != NULL) {
		shape_unblock(sh, d);
		sched_dest_ready(s, d);
		room--;
	}
}

bool
sched_shape_may_start(struct sched *s, struct dest *d)
{
	struct shape	*sh = d->shape;
	uint64_t	 now, wait;

	if (sh == NULL)
		return true;
	if (sh->active >= shape_limit(s, sh))
		goto block;	/* a release wakes it */
	now = sched_mono_ms();
	if (now < sh->paused_until) {
		shape_timer(sh, sh->paused_until - now);
		goto block;
	}
	if (sh->configured && sched_redis_up(s) && sh->nleases == 0) {
		sched_redis_lease(s, sh);	/* its answer wakes the shape */
		goto block;
	}
	if (sh->rate > 0 && sched_redis_up(s)) {
		if (sh->credits == 0) {
			sched_redis_ask(s, sh);	/* its answer wakes the shape */
			goto block;
		}
	} else if ((wait = tbucket_wait(&sh->tb, now)) > 0) {
		shape_timer(sh, wait);
		goto block;
	}
	return true;
block:
	if (!d->on_blocked) {
		TAILQ_INSERT_TAIL(&sh->blocked, d, blocked_entry);
		d->on_blocked = true;
	}
	return false;
}

void
sched_shape_started(struct sched *s, struct dest *d, struct job *j)
{
	struct shape	*sh = d->shape;

	if (sh == NULL)
		return;
	if (sh->credits > 0)
		sh->credits--;		/* a token of the shared bucket */
	else
		(void)tbucket_take(&sh->tb, sched_mono_ms());
	if (sh->nleases > 0)
		j->lease = sh->leases[--sh->nleases];
	sh->active++;
	sh->refs++;
	j->shape = sh;
	j->shape_gen = sh->aimd.gen;
}

void
sched_shape_released(struct sched *s, struct job *j)
{
	struct shape	*sh = j->shape;

	if (sh == NULL)
		return;
	j->shape = NULL;
	if (j->lease != 0) {
		sched_redis_unlease(s, sh, j->lease);
		j->lease = 0;
	}
	if (sh->active > 0)
		sh->active--;
	shape_wake(s, sh);
	shape_unref(s, sh);
}

/*
 * The outcomes of a transaction that reached an agent: a throttling reply
 * or a connection failure halves the budget's concurrency (once per
 * generation) and honours a wait the server asked for; a delivery counts
 * towards growing it back.
 */
void
sched_shape_result(struct sched *s, struct job *j)
{
	struct shape	*sh = j->shape;
	const char	*why = NULL;
	unsigned	 i, wait = 0, w;
	bool		 ok = false;
	uint64_t	 now, until;

	if (sh == NULL)
		return;
	for (i = 0; i < j->nrcpt; i++) {
		const struct job_rcpt *r = &j->rcpts[i];

		if (!r->done)
			continue;
		if (r->state == RCPT_DELIVERED)
			ok = true;
		else if (shape_reply_throttles(r->code, r->dsn, r->reply) ||
		    shape_reply_unreachable(r->code, r->dsn)) {
			if (why == NULL)
				why = r->reply;
			if ((w = shape_reply_wait(r->reply, SHAPE_WAIT_MAX)) > wait)
				wait = w;
		}
	}
	if (why != NULL) {
		sh->throttles++;
		if (aimd_throttled(&sh->aimd, j->shape_gen))
			log_info("shaping: %s: concurrency lowered to %u of %u (%s)", sh->name,
			    sh->aimd.cur, sh->aimd.max, why);
		/*
		 * Even without a wait in the reply, new connections hold off a
		 * moment: a refused transaction frees its slot at once, and the
		 * next would only be refused too while the receiver is full.
		 */
		now = sched_mono_ms();
		until = now + (wait > 0 ? (uint64_t)wait * 1000 : SHAPE_PAUSE_MS);
		if (wait > 0 && until > sh->paused_until + 1000 && sh->paused_until <= now)
			log_info("shaping: %s: pausing %us as asked (%s)", sh->name, wait, why);
		if (until > sh->paused_until)
			sh->paused_until = until;
	} else if (ok) {
		/* Its agent holds a connection the receiver accepted: stay there. */
		if (j->dest != NULL && j->agent >= 0)
			j->dest->last_agent = j->agent;
		if (aimd_success(&sh->aimd)) {
			log_info("shaping: %s: concurrency raised to %u of %u", sh->name,
			    sh->aimd.cur, sh->aimd.max);
			shape_wake(s, sh);
		}
	}
}

unsigned
sched_shape_rcpt_max(struct sched *s, struct dest *d)
{
	if (d != NULL && d->shape != NULL && d->shape->rcpt_max > 0)
		return d->shape->rcpt_max;
	return s->conf->max_rcpt_per_transaction;
}

bool
sched_shape_sticky(const struct dest *d)
{
	return d->shape != NULL && d->shape->aimd.cur < d->shape->aimd.max;
}

void
sched_shape_put_conn(struct fbuf *fb, const struct dest *d)
{
	const struct shape	*sh = d->shape;

	fbuf_add_u32(fb, sh != NULL ? sh->mails_per_conn : 0);
	fbuf_add_u8(fb, sh != NULL && sh->reuse >= 0 ? (uint8_t)sh->reuse :
	    DELIVER_REUSE_DEFAULT);
}

void
sched_shape_wake(struct sched *s, struct shape *sh)
{
	shape_wake(s, sh);
	if (s->dispatch_ev != NULL)
		event_active(s->dispatch_ev, EV_TIMEOUT, 0);
}

void
sched_shape_timer(struct shape *sh, uint64_t ms)
{
	shape_timer(sh, ms);
}

void
sched_shape_unref(struct sched *s, struct shape *sh)
{
	shape_unref(s, sh);
}
