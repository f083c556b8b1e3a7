/* SPDX-License-Identifier: ISC */
/*
 * sched_shape_redis.c - rate limits shared by several outpost nodes through
 * Redis (shared_limits = redis://127.0.0.1:6379). Each [destinations] rate
 * is one token bucket in Redis, kept by an atomic Lua script, so that the
 * nodes together send no more than the configured rate. The scheduler asks
 * for a token asynchronously (hiredis on the libevent loop); a destination
 * waits on its shape until the answer. When Redis cannot be reached, each
 * node falls back to its local bucket at rate / node_count, says so once,
 * reconnects every few seconds, and says so again when sharing resumes.
 * Run by the scheduler; called by sched_shape_run.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "config.h"
#include "log.h"
#include "scheduler.h"
#include "xmalloc.h"

#define REDIS_RETRY_SEC		2

/*
 * KEYS[1] the bucket; ARGV rate, period in ms, burst. Returns 0 when a
 * token was taken, else the milliseconds until one is there. Redis's own
 * clock, so that the nodes' clocks need not agree.
 */
static const char bucket_script[] =
    "local rate = tonumber(ARGV[1]) local period = tonumber(ARGV[2]) "
    "local burst = tonumber(ARGV[3]) "
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts') "
    "local tokens = tonumber(v[1]) or burst local ts = tonumber(v[2]) or now "
    "if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / period) end "
    "local wait = 0 "
    "if tokens >= 1 then tokens = tokens - 1 "
    "else wait = math.ceil((1 - tokens) * period / rate) end "
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now)) "
    "redis.call('PEXPIRE', KEYS[1], period * 2 + 1000) "
    "return wait";

/*
 * Concurrency leases: KEYS[1] a sorted set of leases scored by expiry;
 * ARGV limit, lease id, lifetime in ms. Returns 1 when the lease was
 * granted. A node that dies leaves leases that expire on their own.
 */
static const char lease_script[] =
    "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) "
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3])) return 1 end "
    "return 0";

#define LEASE_LIFETIME_MS	(20 * 60 * 1000)	/* longer than any transaction */
#define LEASE_RETRY_MS		200	/* asking again while every lease is taken */

struct shared_limits {
	struct sched		*s;
	char			 host[256];
	uint16_t		 port;
	redisAsyncContext	*ac;
	bool			 up;
	bool			 said_down;	/* the fallback was logged */
	struct event		*retry;
	char			 node[300];	/* this node in lease ids */
	uint64_t		 next_lease;
};

static void	redis_connect(struct shared_limits *);

static void
redis_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	redis_connect(arg);
}

static void
redis_down(struct shared_limits *sl, const char *why)
{
	struct timeval	tv = { REDIS_RETRY_SEC, 0 };

	sl->up = false;
	sl->ac = NULL;
	if (!sl->said_down) {
		log_warnx("shared limits: redis at %s:%u unreachable (%s): local limits "
		    "divided by node_count %u until it is back", sl->host, sl->port, why,
		    sl->s->conf->node_count);
		sl->said_down = true;
	}
	evtimer_add(sl->retry, &tv);
}

static void
redis_connect_cb(const redisAsyncContext *ac, int status)
{
	struct shared_limits	*sl = ac->data;

	if (status != REDIS_OK) {
		redis_down(sl, ac->errstr);
		return;
	}
	sl->up = true;
	if (sl->said_down)
		log_info("shared limits: redis at %s:%u is back, sharing resumes", sl->host,
		    sl->port);
	else
		log_info("shared limits: sharing rates through redis at %s:%u", sl->host,
		    sl->port);
	sl->said_down = false;
}

static void
redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct shared_limits	*sl = ac->data;

	redis_down(sl, status == REDIS_OK ? "closed" : ac->errstr);
}

static void
redis_connect(struct shared_limits *sl)
{
	redisAsyncContext	*ac;

	if ((ac = redisAsyncConnect(sl->host, sl->port)) == NULL || ac->err) {
		if (ac != NULL)
			redisAsyncFree(ac);
		redis_down(sl, "cannot connect");
		return;
	}
	ac->data = sl;
	sl->ac = ac;
	redisLibeventAttach(ac, sl->s->base);
	redisAsyncSetConnectCallback(ac, redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
}

void
sched_redis_init(struct sched *s)
{
	const struct config	*c = s->conf;
	struct shared_limits	*sl;
	struct hostport		 hp;

	if (c->shared_limits[0] == '\0' || s->base == NULL)
		return;
	/* config_check() accepted it: redis://ADDRESS[:PORT] */
	if (hostport_parse(c->shared_limits + strlen("redis://"), 6379, &hp) == -1)
		fatalx("shared_limits: bad address %s", c->shared_limits);
	sl = xcalloc(1, sizeof(*sl));
	sl->s = s;
	strlcpy(sl->host, hp.host, sizeof(sl->host));
	sl->port = hp.port;
	snprintf(sl->node, sizeof(sl->node), "%s:%ld:%08x", c->helo_name, (long)getpid(),
	    arc4random());
	if ((sl->retry = evtimer_new(s->base, redis_retry_cb, sl)) == NULL)
		fatalx("scheduler: evtimer_new");
	s->shared = sl;
	redis_connect(sl);
}

bool
sched_redis_up(struct sched *s)
{
	return s->shared != NULL && s->shared->up;
}

static void
redis_token_cb(redisAsyncContext *ac, void *r, void *arg)
{
	redisReply	*reply = r;
	struct shape	*sh = arg;
	struct sched	*s = sh->s;

	sh->asking = false;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		/* no token yet: the shape's timer asks again when one is due */
		sched_shape_timer(sh, (uint64_t)reply->integer);
	else {
		if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
			sh->credits++;
		else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			log_warnx("shared limits: %s: %s", sh->name, reply->str);
		/* granted, or Redis gone: the local fallback decides */
		sched_shape_wake(s, sh);
	}
	sched_shape_unref(s, sh);
}

/* Ask Redis for one token of sh's shared bucket; the answer wakes sh. */
void
sched_redis_ask(struct sched *s, struct shape *sh)
{
	char		key[400];
	uint64_t	burst;

	if (sh->asking || !sched_redis_up(s))
		return;
	snprintf(key, sizeof(key), "outpost:rate:%s", sh->name);
	/* the whole rate, for all nodes (sh->tb holds this node's share) */
	burst = sh->rate / sh->period;
	if (burst < 1)
		burst = 1;
	if (redisAsyncCommand(s->shared->ac, redis_token_cb, sh, "EVAL %s 1 %s %u %u %llu",
	    bucket_script, key, sh->rate, sh->period * 1000,
	    (unsigned long long)burst) != REDIS_OK)
		return;
	sh->asking = true;
	sh->refs++;
}

static void
redis_lease_cb(redisAsyncContext *ac, void *r, void *arg)
{
	redisReply	*reply = r;
	struct shape	*sh = arg;
	struct sched	*s = sh->s;
	uint64_t	 id = sh->leasing_id;

	sh->leasing = false;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
		/* every lease is taken by some node: ask again soon */
		sched_shape_timer(sh, LEASE_RETRY_MS);
	else {
		if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
		    sh->nleases < sizeof(sh->leases) / sizeof(sh->leases[0]))
			sh->leases[sh->nleases++] = id;
		else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			log_warnx("shared limits: %s: %s", sh->name, reply->str);
		sched_shape_wake(s, sh);
	}
	sched_shape_unref(s, sh);
}

static void
lease_key(const struct shape *sh, char *buf, size_t len)
{
	snprintf(buf, len, "outpost:conc:%s", sh->name);
}

static void
lease_member(const struct shared_limits *sl, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%llu", sl->node, (unsigned long long)id);
}

void
sched_redis_lease(struct sched *s, struct shape *sh)
{
	char	key[400], member[400];

	if (sh->leasing || !sched_redis_up(s))
		return;
	lease_key(sh, key, sizeof(key));
	sh->leasing_id = ++s->shared->next_lease;
	lease_member(s->shared, sh->leasing_id, member, sizeof(member));
	if (redisAsyncCommand(s->shared->ac, redis_lease_cb, sh, "EVAL %s 1 %s %u %s %u",
	    lease_script, key, sh->aimd.max, member, LEASE_LIFETIME_MS) != REDIS_OK)
		return;
	sh->leasing = true;
	sh->refs++;
}

void
sched_redis_unlease(struct sched *s, struct shape *sh, uint64_t id)
{
	char	key[400], member[400];

	/* Redis gone: the lease expires there on its own. */
	if (!sched_redis_up(s))
		return;
	lease_key(sh, key, sizeof(key));
	lease_member(s->shared, id, member, sizeof(member));
	(void)redisAsyncCommand(s->shared->ac, NULL, NULL, "ZREM %s %s", key, member);
}
