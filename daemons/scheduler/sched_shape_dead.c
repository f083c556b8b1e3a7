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
		if (e->until <= now)
			dead_remove(s, e);
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
	if ((e = RB_FIND(sched_dead_tree, &s->deads, &key)) == NULL) {
		if (s->ndeads >= SCHED_DEAD_MAX)
			sched_dead_prune(s);
		if (s->ndeads >= SCHED_DEAD_MAX)
			return 0;	/* a full cache only costs waits, never mail */
		e = xcalloc(1, sizeof(*e));
		*e = key;
		RB_INSERT(sched_dead_tree, &s->deads, e);
		s->ndeads++;
		inet_ntop(key.family == 4 ? AF_INET : AF_INET6, key.addr, ip, sizeof(ip));
		log_info("shaping: [%s]:%u is not responding; other mails skip it for %us (%s)",
		    ip, key.port, ttl, why);
	}
	e->until = sched_mono_ms() + (uint64_t)ttl * 1000;
	return 0;
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
	if (e->until <= sched_mono_ms()) {
		dead_remove(s, e);
		return false;
	}
	return true;
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
		TAILQ_REMOVE(&d->waiting, j, dest_entry);
		j->queued = false;
		d->nwaiting--;
		s->nwaiting--;
		j->dest = NULL;
		sched_job_fail(s, j, DELIVERY_TEMPFAIL, 0, "4.4.1", reply);
	}
	return true;
}
