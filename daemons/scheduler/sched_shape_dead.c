/* SPDX-License-Identifier: ISC */
/*
 * sched_shape_dead.c - the unreachable-host cache (Postfix's "host not
 * responding" cache): an address whose connect timed out, as an agent
 * reports with MSG_AGENT_UNREACHABLE, is left out of the address lists of
 * other transactions for unreachable_cache_time, and a destination whose
 * every address is in the cache defers its waiting transactions at once
 * instead of holding agent sessions for a connect timeout each. Run by the
 * scheduler; called by scheduler.c (the frame), sched_job.c (dispatch,
 * address list) and sched_dest.c (the periodic prune).
 *
 * The cache alone learns of a dead address only when a connect times out:
 * until then every mail queued for a blackholed MX would hold an agent
 * session for connect_timeout, and a few hundred of them hold every session.
 * So an address that has not answered a connect lately (MSG_AGENT_REACHED,
 * kept for unreachable_cache_time) gets one transaction at a time, its
 * probe; the destinations whose first address it is wait for the probe's
 * verdict on the entry's list, holding nothing. A dead MX then costs one
 * session for one connect timeout, the healthy ones a few milliseconds at
 * start-up.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "xmalloc.h"

int
sched_dead_cmp(const struct dead_addr *a, const struct dead_addr *b)
{
	int	c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if ((c = memcmp(a->addr, b->addr, sizeof(a->addr))) != 0)
		return c;
	return (a->port > b->port) - (a->port < b->port);
}

RB_GENERATE(sched_dead_tree, dead_addr, entry, sched_dead_cmp)

/* Nothing to remember: neither dead nor known alive, no probe, no waiter. */
static bool
entry_idle(const struct dead_addr *e, uint64_t now)
{
	return e->until <= now && e->alive_until <= now && e->probe == NULL &&
	    TAILQ_EMPTY(&e->waiters);
}

static void
dead_remove(struct sched *s, struct dead_addr *e)
{
	RB_REMOVE(sched_dead_tree, &s->deads, e);
	s->ndeads--;
	free(e);
}

void
sched_dead_prune(struct sched *s)
{
	struct dead_addr	*e, *next;
	uint64_t		 now = sched_mono_ms();

	RB_FOREACH_SAFE(e, sched_dead_tree, &s->deads, next)
		if (entry_idle(e, now))
			dead_remove(s, e);
}

/* The entry of an address, made if needed; NULL when the cache is full. */
static struct dead_addr *
entry_get(struct sched *s, struct dead_addr *key)
{
	struct dead_addr	*e;

	if ((e = RB_FIND(sched_dead_tree, &s->deads, key)) != NULL)
		return e;
	if (s->ndeads >= SCHED_DEAD_MAX)
		sched_dead_prune(s);
	if (s->ndeads >= SCHED_DEAD_MAX)
		return NULL;	/* a full cache only costs waits, never mail */
	e = xcalloc(1, sizeof(*e));
	e->family = key->family;
	memcpy(e->addr, key->addr, sizeof(e->addr));
	e->port = key->port;
	TAILQ_INIT(&e->waiters);
	RB_INSERT(sched_dead_tree, &s->deads, e);
	s->ndeads++;
	return e;
}

/* The probe's verdict is in (or it ended): every waiting destination may
 * look again; the first to find the address still unknown probes next. */
static void
entry_wake(struct sched *s, struct dead_addr *e)
{
	struct dest	*d;

	while ((d = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, d, probe_entry);
		d->probe_wait = NULL;
		sched_dest_ready(s, d);
	}
}

int
sched_dead_frame(struct sched *s, unsigned agent, struct frame *f)
{
	struct dead_addr	 key, *e;
	char			 why[REPLY_MAX], ip[INET6_ADDRSTRLEN];
	unsigned		 ttl = s->conf->unreachable_cache_time;

	memset(&key, 0, sizeof(key));
	if (!sched_get_addr(f, &key.family, key.addr) || !frame_get_u16(f, &key.port) ||
	    !frame_get_str(f, why, sizeof(why)) || !frame_end(f)) {
		log_warnx("agent %u: malformed unreachable report", agent);
		return -1;
	}
	if (ttl == 0)
		return 0;
	if ((e = entry_get(s, &key)) == NULL)
		return 0;
	if (e->until <= sched_mono_ms()) {
		inet_ntop(key.family == 4 ? AF_INET : AF_INET6, key.addr, ip, sizeof(ip));
		log_info("shaping: [%s]:%u is not responding; other mails skip it for %us (%s)",
		    ip, key.port, ttl, why);
	}
	e->until = sched_mono_ms() + (uint64_t)ttl * 1000;
	e->alive_until = 0;
	entry_wake(s, e);	/* the waiting destinations defer from the cache */
	return 0;
}

int
sched_reached_frame(struct sched *s, unsigned agent, struct frame *f)
{
	struct dead_addr	 key, *e;
	unsigned		 ttl = s->conf->unreachable_cache_time;

	memset(&key, 0, sizeof(key));
	if (!sched_get_addr(f, &key.family, key.addr) || !frame_get_u16(f, &key.port) ||
	    !frame_end(f)) {
		log_warnx("agent %u: malformed reached report", agent);
		return -1;
	}
	if (ttl == 0)
		return 0;
	if ((e = entry_get(s, &key)) == NULL)
		return 0;
	e->until = 0;
	e->alive_until = sched_mono_ms() + (uint64_t)ttl * 1000;
	entry_wake(s, e);
	return 0;
}

struct dead_addr *
sched_probe_gate(struct sched *s, struct dest *d, bool *wait)
{
	struct dead_addr	 key, *e;
	unsigned		 i;

	/* Listed as ready again (a new mail) while it waits: it waits on. */
	*wait = d->probe_wait != NULL;
	if (*wait || s->conf->unreachable_cache_time == 0)
		return NULL;
	/* The agent connects to the first address not in the cache first. */
	for (i = 0; i < d->naddrs; i++)
		if (!sched_dead_is(s, &d->addrs[i]))
			break;
	if (i == d->naddrs)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.family = d->addrs[i].family;
	memcpy(key.addr, d->addrs[i].addr, sizeof(key.addr));
	key.port = d->addrs[i].port;
	if ((e = entry_get(s, &key)) == NULL || e->alive_until > sched_mono_ms())
		return NULL;
	if (e->probe == NULL)
		return e;
	TAILQ_INSERT_TAIL(&e->waiters, d, probe_entry);
	d->probe_wait = e;
	*wait = true;
	return NULL;
}

void
sched_probe_started(struct dead_addr *e, struct job *j)
{
	e->probe = j;
	j->probe = e;
}

void
sched_probe_done(struct sched *s, struct job *j)
{
	struct dead_addr	*e = j->probe;

	if (e == NULL)
		return;
	j->probe = NULL;
	e->probe = NULL;
	entry_wake(s, e);
}

void
sched_probe_detach(struct sched *s, struct dest *d)
{
	if (d->on_deferq) {
		TAILQ_REMOVE(&s->deferq, d, defer_entry);
		d->on_deferq = false;
	}
	if (d->probe_wait == NULL)
		return;
	TAILQ_REMOVE(&d->probe_wait->waiters, d, probe_entry);
	d->probe_wait = NULL;
}

void
sched_dead_deferred(struct sched *s, struct job *j)
{
	struct dest	*d;

	if (!j->cache_deferred)
		return;
	j->cache_deferred = false;
	if (s->ndeferring > 0)
		s->ndeferring--;
	/* Half the room free: the destinations that waited go on. */
	if (s->ndeferring > SCHED_DEFERRING_MAX / 2)
		return;
	while ((d = TAILQ_FIRST(&s->deferq)) != NULL) {
		TAILQ_REMOVE(&s->deferq, d, defer_entry);
		d->on_deferq = false;
		sched_dest_ready(s, d);
	}
}

bool
sched_dead_is(struct sched *s, const struct sched_addr *a)
{
	struct dead_addr	 key, *e;

	if (s->ndeads == 0)
		return false;
	memset(&key, 0, sizeof(key));
	key.family = a->family;
	memcpy(key.addr, a->addr, sizeof(key.addr));
	key.port = a->port;
	if ((e = RB_FIND(sched_dead_tree, &s->deads, &key)) == NULL)
		return false;
	return e->until > sched_mono_ms();
}

unsigned
sched_dead_live(struct sched *s, const struct dest *d, bool *live)
{
	unsigned	i, n = 0;

	for (i = 0; i < d->naddrs; i++)
		if ((live[i] = !sched_dead_is(s, &d->addrs[i])))
			n++;
	return n;
}

bool
sched_dead_defer(struct sched *s, struct dest *d)
{
	bool		 live[SCHED_ADDRS_MAX];
	char		 reply[REPLY_MAX];
	struct job	*j;

	if (s->ndeads == 0 || d->naddrs == 0 || sched_dead_live(s, d, live) > 0)
		return false;
	snprintf(reply, sizeof(reply), "every address of %s is not responding (cached, not tried)",
	    d->name);
	while ((j = TAILQ_FIRST(&d->waiting)) != NULL) {
		if (s->ndeferring >= SCHED_DEFERRING_MAX) {
			if (!d->on_deferq) {
				TAILQ_INSERT_TAIL(&s->deferq, d, defer_entry);
				d->on_deferq = true;
			}
			break;
		}
		TAILQ_REMOVE(&d->waiting, j, dest_entry);
		j->queued = false;
		d->nwaiting--;
		s->nwaiting--;
		j->dest = NULL;
		j->cache_deferred = true;
		s->ndeferring++;
		sched_job_fail(s, j, DELIVERY_TEMPFAIL, 0, "4.4.1", reply);
	}
	return true;
}
