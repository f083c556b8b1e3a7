/* SPDX-License-Identifier: ISC */
/*
 * sched_shape.h - traffic shaping in the scheduler: per-destination
 * concurrency, rate, and adaptive throttling.
 *
 * sched_shape.c holds the pure parts (token bucket, AIMD window, the
 * reading of throttling replies), unit-tested alone; sched_shape_run.c
 * ties them to destinations and jobs: one struct shape per [destinations]
 * line (a budget shared by every destination it matches) or per
 * destination without one.
 */
#ifndef OUTPOST_SCHED_SHAPE_H
#define OUTPOST_SCHED_SHAPE_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdbool.h>
#include <stdint.h>

/*
 * Token bucket: rate tokens per period seconds, at most burst tokens
 * saved. Tokens are counted in millionths so that slow rates (3/h) refill
 * smoothly; times are milliseconds of a monotonic clock.
 */
#define TBUCKET_UNIT	1000000ULL

struct tbucket {
	unsigned	rate;		/* 0: no limit */
	unsigned	period;		/* seconds */
	uint64_t	burst;		/* in TBUCKET_UNIT */
	uint64_t	tokens;		/* in TBUCKET_UNIT */
	uint64_t	last_ms;
};

void		tbucket_init(struct tbucket *, unsigned rate, unsigned period, uint64_t now_ms);
/* Take one token; false when none is there. */
bool		tbucket_take(struct tbucket *, uint64_t now_ms);
/* Milliseconds until a token is there (0: now). */
uint64_t	tbucket_wait(struct tbucket *, uint64_t now_ms);

/*
 * AIMD concurrency: halved on a throttling signal, one more after each
 * window of `cur` successes, never above max nor below 1. A cut opens a new
 * generation: signals from transactions started before it are the same
 * congestion and do not cut again.
 */
struct aimd {
	unsigned	max;
	unsigned	cur;
	unsigned	successes;	/* in the current window */
	uint32_t	gen;
};

void		aimd_init(struct aimd *, unsigned max);
/* A throttling signal from a transaction started in generation gen;
 * true when cur changed. */
bool		aimd_throttled(struct aimd *, uint32_t gen);
/* A success; true when cur changed. */
bool		aimd_success(struct aimd *);

/*
 * A reply that asks us to slow down: 421 (the server closes), or a 4.7.x
 * status (RFC 3463 security/policy) whose text speaks of rate, too many
 * connections or messages, or throttling.
 */
bool		shape_reply_throttles(uint16_t code, const char *dsn, const char *text);
/* Connection failures (no server reply at all): DSN 4.4.1. */
bool		shape_reply_unreachable(uint16_t code, const char *dsn);
/* Seconds the reply asks us to wait ("try again in 30 seconds", "retry
 * after 2 minutes"), at most max; 0 when it says nothing. */
unsigned	shape_reply_wait(const char *text, unsigned max);

/* sched_shape_run.c: shapes of the running scheduler. */
struct sched;
struct dest;
struct job;
struct dest_conf;

struct shape {
	RB_ENTRY(shape)	 entry;
	struct sched	*s;		/* for the timer's callback */
	char		 key[300];	/* "conf:N" or "dest:KEY" */
	char		 name[300];	/* for logs */
	unsigned	 refs;		/* destinations and jobs pointing here */
	bool		 configured;
	unsigned	 active;	/* transactions opening or at an agent */
	struct aimd	 aimd;
	struct tbucket	 tb;
	unsigned	 rate;		/* configured mails per period, all nodes; 0: none */
	unsigned	 period;	/* seconds */
	uint32_t	 credits;	/* tokens granted by the shared bucket, unused */
	bool		 asking;	/* a token request to Redis is out */
	bool		 leasing;	/* a concurrency lease request is out */
	uint64_t	 leasing_id;	/* the lease it asks for */
	unsigned	 nleases;	/* leases granted, not yet used by a transaction */
	uint64_t	 leases[8];
	unsigned	 rcpt_max;	/* recipients per transaction */
	unsigned	 mails_per_conn;	/* 0: as configured */
	int8_t		 reuse;		/* -1: as configured */
	uint64_t	 paused_until;	/* ms: a server asked us to wait */
	uint64_t	 throttles;	/* signals seen, for the status */
	TAILQ_HEAD(, dest) blocked;	/* destinations waiting for this budget */
	struct event	*timer;
	bool		 timer_on;
};

RB_HEAD(sched_shape_tree, shape);
int	sched_shape_cmp(const struct shape *, const struct shape *);
RB_PROTOTYPE(sched_shape_tree, shape, entry, sched_shape_cmp)

uint64_t	 sched_mono_ms(void);
/* A destination was created: its budget by its name (domain). */
void		 sched_shape_attach(struct sched *, struct dest *);
/* Its MX hosts are known (dest->hosts): an mx: line may take it over. */
void		 sched_shape_mx(struct sched *, struct dest *);
void		 sched_shape_detach(struct sched *, struct dest *);
/* May the destination start one more transaction now? If not, it waits on
 * its shape's blocked list until the budget allows. */
bool		 sched_shape_may_start(struct sched *, struct dest *);
void		 sched_shape_started(struct sched *, struct dest *, struct job *);
void		 sched_shape_released(struct sched *, struct job *);
/* The outcomes of a transaction that reached an agent (job->rcpts). */
void		 sched_shape_result(struct sched *, struct job *);
unsigned	 sched_shape_rcpt_max(struct sched *, struct dest *);
/* The connection settings of AGENT_DELIVER (msg.h) for this destination. */
struct fbuf;
void		 sched_shape_put_conn(struct fbuf *, const struct dest *);
/* Has the receiver throttled this destination (concurrency below its
 * maximum)? Its transactions then stay on one agent: another agent's fresh
 * connection would find the receiver's slots taken by idle ones. */
bool		 sched_shape_sticky(const struct dest *);

/*
 * sched_shape_dead.c: the unreachable-host cache. An address whose connect
 * timed out (MSG_AGENT_UNREACHABLE) is skipped by other transactions for
 * unreachable_cache_time; a destination whose every address is in it
 * defers at once, without an agent session.
 */
struct sched_addr;
struct frame;

struct dead_addr {
	RB_ENTRY(dead_addr) entry;
	uint8_t		 family;
	uint8_t		 addr[16];
	uint16_t	 port;
	uint64_t	 until;		/* not responding until (monotonic ms), 0: not */
	uint64_t	 alive_until;	/* answered a connect: no probe needed until */
	struct job	*probe;		/* the one transaction trying it while unknown */
	TAILQ_HEAD(, dest) waiters;	/* destinations waiting for the probe's verdict */
};
RB_HEAD(sched_dead_tree, dead_addr);
int	sched_dead_cmp(const struct dead_addr *, const struct dead_addr *);
RB_PROTOTYPE(sched_dead_tree, dead_addr, entry, sched_dead_cmp)

#define SCHED_DEAD_MAX	10000	/* addresses kept at most */

int		 sched_dead_frame(struct sched *, unsigned agent, struct frame *);
/*
 * Probes (MSG_AGENT_REACHED): an address that has not answered a connect
 * within unreachable_cache_time gets one transaction at a time; the other
 * destinations whose first address it is wait, off the ready list, holding
 * no session, until it answers (then all go), times out (then they defer
 * from the cache) or the probe ends otherwise (then the next one probes).
 * sched_probe_gate: NULL and *wait false: start as usual; NULL and *wait
 * true: d now waits; an entry: start, and call sched_probe_started.
 */
int		 sched_reached_frame(struct sched *, unsigned agent, struct frame *);
struct dead_addr *sched_probe_gate(struct sched *, struct dest *, bool *wait);
void		 sched_probe_started(struct dead_addr *, struct job *);
/* The job's probe is over (released or freed): the next may start. */
void		 sched_probe_done(struct sched *, struct job *);
/* The destination is freed: off any waiting list. */
void		 sched_probe_detach(struct sched *, struct dest *);
/*
 * Cache deferrals are recorded by the queue manager like any outcome, a
 * queue file open for each until its commit round ends: thousands at once
 * (every mail of a hundred dead domains when the probes time out) would
 * run it out of descriptors. At most SCHED_DEFERRING_MAX are in flight;
 * the rest wait on sched->deferq. Called by job_free for every job.
 */
#define SCHED_DEFERRING_MAX	256
void		 sched_dead_deferred(struct sched *, struct job *);
bool		 sched_dead_is(struct sched *, const struct sched_addr *);
/* Marks live[i] for each address of d not in the cache; returns how many. */
unsigned	 sched_dead_live(struct sched *, const struct dest *, bool *live);
/* Every address of d is in the cache: its waiting transactions are
 * deferred now. Returns true when it did so. */
bool		 sched_dead_defer(struct sched *, struct dest *);
void		 sched_dead_prune(struct sched *);

/* sched_shape_run.c, for the shared buckets */
void		 sched_shape_wake(struct sched *, struct shape *);
void		 sched_shape_timer(struct shape *, uint64_t ms);
void		 sched_shape_unref(struct sched *, struct shape *);

/* sched_shape_redis.c: rates shared by several nodes (shared_limits). */
struct shared_limits;
void		 sched_redis_init(struct sched *);
bool		 sched_redis_up(struct sched *);
void		 sched_redis_ask(struct sched *, struct shape *);
/* Concurrency leases: one per running transaction, for all nodes. */
void		 sched_redis_lease(struct sched *, struct shape *);
void		 sched_redis_unlease(struct sched *, struct shape *, uint64_t lease);

/* sched_shape_ctl.c: "outpostctl destinations" (ctx->on_master). */
struct proc_ctx;
int		 sched_shape_control(struct proc_ctx *, struct frame *);

#endif
