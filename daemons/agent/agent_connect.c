/* SPDX-License-Identifier: ISC */
/*
 * agent_connect.c - what the delivery agent tells the scheduler about
 * connection attempts: an address whose connect timed out (no answer at
 * all, the SYN dropped) is reported with MSG_AGENT_UNREACHABLE, so that the
 * scheduler's unreachable-host cache spares other mails the same wait.
 * A refusal is not reported: it costs nothing to find out again. Called by
 * agent_session.c when a connect times out. A connect that succeeds is
 * reported too (MSG_AGENT_REACHED): until an address has answered once, the
 * scheduler lets only one transaction at a time wait on it, so that a
 * blackholed address holds one session, not one per queued mail.
 *
 * Also Happy Eyeballs (RFC 8305) for hosts with IPv6 and IPv4 addresses:
 * agent_session.c starts a race instead of a plain connect and gets the
 * winning descriptor back (session_race_won) or the last error.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "xmalloc.h"

#include "agent.h"

/* addr, u16 port of msg.h; false for a family the scheduler does not know. */
static bool
put_addr(struct fbuf *fb, const struct agent_addr *a)
{
	uint8_t		 raw[16], family;

	memset(raw, 0, sizeof(raw));
	if (a->ss.ss_family == AF_INET) {
		family = 4;
		memcpy(raw, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
	} else if (a->ss.ss_family == AF_INET6) {
		family = 6;
		memcpy(raw, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
	} else
		return false;
	fbuf_add_u8(fb, family);
	fbuf_add_raw(fb, raw, sizeof(raw));
	fbuf_add_u16(fb, a->port);
	return true;
}

void
agent_connect_timed_out(const struct agent_job *j, const struct agent_addr *a,
    const char *why)
{
	struct fbuf	*fb;

	if (j == NULL || j->link == NULL || j->link->dead)
		return;
	fb = fbuf_new(MSG_AGENT_UNREACHABLE, j->reqid);
	if (!put_addr(fb, a)) {
		fbuf_free(fb);
		return;
	}
	fbuf_add_str(fb, why);
	if (chan_send(j->link->chan, fb) == -1)
		log_debug("%s: cannot report an unreachable address", j->id);
}

void
agent_connect_answered(const struct agent_job *j, const struct agent_addr *a)
{
	struct fbuf	*fb;

	if (j == NULL || j->link == NULL || j->link->dead)
		return;
	fb = fbuf_new(MSG_AGENT_REACHED, j->reqid);
	if (!put_addr(fb, a)) {
		fbuf_free(fb);
		return;
	}
	if (chan_send(j->link->chan, fb) == -1)
		log_debug("%s: cannot report an answering address", j->id);
}

/*
 * Happy Eyeballs. The job's addresses come in MX order with IPv4 before
 * IPv6 for each host; the race takes the first address of each family of
 * the host at index i, moves them to i (IPv6, preferred) and i + 1 (IPv4),
 * and consumes both. A second attempt starts after the delay, or at once
 * when the first fails; the session's connect timer bounds the whole race.
 */
struct agent_race {
	struct agent_session	*s;
	struct event		*delay;
	unsigned		 first;		/* index of the preferred address */
	unsigned		 started;	/* attempts started (0..2) */
	unsigned		 failed;
	char			 err[REPLY_MAX];
	struct {
		int		 fd;
		struct event	*ev;
	}			 att[2];
};

static void	race_start_next(struct agent_race *);

static void
race_close(struct agent_race *r, unsigned k)
{
	if (r->att[k].ev != NULL) {
		event_free(r->att[k].ev);
		r->att[k].ev = NULL;
	}
	if (r->att[k].fd != -1) {
		close(r->att[k].fd);
		r->att[k].fd = -1;
	}
}

void
agent_race_cancel(struct agent_session *s)
{
	struct agent_race	*r = s->race;

	if (r == NULL)
		return;
	race_close(r, 0);
	race_close(r, 1);
	if (r->delay != NULL)
		event_free(r->delay);
	free(r);
	s->race = NULL;
}

static void
race_failed(struct agent_race *r, unsigned k, int e)
{
	const struct agent_addr	*a = &r->s->job->addrs[r->first + k];

	snprintf(r->err, sizeof(r->err), "connect to %s[%s]:%u: %s", a->host, a->ip, a->port,
	    strerror(e));
	log_detail("%s: %s", r->s->job->id, r->err);
	race_close(r, k);
	r->failed++;
	if (r->started < 2) {
		race_start_next(r);	/* no need to wait for the delay */
		return;
	}
	if (r->failed == 2) {
		/* Reported from the event loop: this may run inside agent_race_start(). */
		struct timeval	tv = { 0, 0 };

		evtimer_add(r->delay, &tv);
	}
}

static void
race_conn_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_race	*r = arg;
	struct agent_session	*s = r->s;
	unsigned		 k = r->att[0].fd == fd ? 0 : 1;
	int			 e = 0, won;
	socklen_t		 len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0) {
		race_failed(r, k, e);
		return;
	}
	/* The winner's descriptor goes to the session; the rest is dropped. */
	won = r->att[k].fd;
	r->att[k].fd = -1;
	k = r->first + k;
	agent_race_cancel(s);
	session_race_won(s, won, k);
}

static void
race_start_next(struct agent_race *r)
{
	unsigned		 k = r->started++;
	const struct agent_addr	*a = &r->s->job->addrs[r->first + k];
	int			 fd;

	if (k == 1)
		evtimer_del(r->delay);
	log_detail("%s: connecting to %s[%s]:%u%s", r->s->job->id, a->host, a->ip, a->port,
	    k ? " (happy eyeballs: second family)" : "");
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		race_failed(r, k, errno);
		return;
	}
	r->att[k].fd = fd;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->sslen) == -1 &&
	    errno != EINPROGRESS) {
		race_failed(r, k, errno);
		return;
	}
	if ((r->att[k].ev = event_new(r->s->agent->ctx->base, fd, EV_WRITE, race_conn_cb,
	    r)) == NULL)
		fatalx("agent: event_new");
	event_add(r->att[k].ev, NULL);
}

static void
race_delay_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_race	*r = arg;
	struct agent_session	*s = r->s;
	char			 text[REPLY_MAX];

	if (r->failed == 2) {
		strlcpy(text, r->err, sizeof(text));
		agent_race_cancel(s);
		session_race_lost(s, text);
		return;
	}
	if (r->started < 2)
		race_start_next(r);
}

bool
agent_race_start(struct agent_session *s, unsigned i, unsigned delay_ms)
{
	struct agent_job	*j = s->job;
	struct agent_addr	 a6, a4;
	struct agent_race	*r;
	unsigned		 k, other = 0;
	struct timeval		 tv;

	if (delay_ms == 0 || j == NULL || i >= j->naddr || j->tries + 1 >= AGENT_MAX_TRIES)
		return false;
	for (k = i + 1; k < j->naddr && other == 0; k++)
		if (strcmp(j->addrs[k].host, j->addrs[i].host) == 0 &&
		    j->addrs[k].ss.ss_family != j->addrs[i].ss.ss_family)
			other = k;
	if (other == 0)
		return false;
	/* IPv6 at i, IPv4 at i + 1; the addresses between move down by one. */
	if (j->addrs[i].ss.ss_family == AF_INET6) {
		a6 = j->addrs[i];
		a4 = j->addrs[other];
	} else {
		a4 = j->addrs[i];
		a6 = j->addrs[other];
	}
	memmove(&j->addrs[i + 2], &j->addrs[i + 1], (other - i - 1) * sizeof(j->addrs[0]));
	j->addrs[i] = a6;
	j->addrs[i + 1] = a4;
	j->next_addr = i + 2;
	j->tries++;		/* the caller counted the first */
	/* The preferred address names the attempt until one wins (timeouts, logs). */
	s->addr = a6;
	if (snprintf(s->relay, sizeof(s->relay), "%s[%s]:%u", a6.host, a6.ip, a6.port) < 0)
		s->relay[0] = '\0';

	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->first = i;
	r->att[0].fd = r->att[1].fd = -1;
	if ((r->delay = evtimer_new(s->agent->ctx->base, race_delay_cb, r)) == NULL)
		fatalx("agent: evtimer_new");
	s->race = r;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(r->delay, &tv);
	race_start_next(r);
	return true;
}
