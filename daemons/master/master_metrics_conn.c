/* SPDX-License-Identifier: ISC */
/*
 * master_metrics_conn.c - a bound on the metrics endpoint's open HTTP
 * connections (metrics_max_connections), for master_metrics.c.
 *
 * libevent 2.1 (Debian 12) has no evhttp_set_max_connections, and evhttp
 * shows a server connection to its user only once a whole request has
 * arrived, so an idle connection is invisible to the request callback.
 * What evhttp does show is the creation of each connection's bufferevent
 * (evhttp_set_bevcb, called once per accepted socket): the master makes the
 * bufferevent itself and keeps a reference to it. When evhttp lets the
 * connection go it frees the bufferevent, which clears its callbacks (evhttp
 * keeps them set for the connection's whole life); the master sees that on
 * its next sweep and drops its reference, which closes the socket.
 *
 * At the bound, evhttp's listener is disabled and a plain read event on the
 * same listening socket accepts and closes at once whatever comes: a client
 * over the bound gets its connection closed, not a wait in the backlog. A
 * sweep once a second (and before each refusal) frees the slots of ended
 * connections and hands the socket back to evhttp. Idle connections end
 * after evhttp_set_timeout's seconds, so the bound cannot be held for long
 * by clients that send nothing.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "log.h"
#include "master.h"
#include "xmalloc.h"

static struct {
	struct event_base	 *base;
	struct evconnlistener	 *listener;	/* evhttp's */
	struct event		 *refuser;	/* on the same socket, while full */
	struct event		 *tick;
	struct bufferevent	**held;
	unsigned		  max, open;
	uint64_t		  refused;
	time_t			  reported;
} mc;

static bool
ended(struct bufferevent *bev)
{
	bufferevent_data_cb	 r, w;
	bufferevent_event_cb	 e;
	void			*arg;

	bufferevent_getcb(bev, &r, &w, &e, &arg);
	return r == NULL && w == NULL && e == NULL;
}

static void
set_full(bool full)
{
	if (full) {
		evconnlistener_disable(mc.listener);
		event_add(mc.refuser, NULL);
	} else {
		event_del(mc.refuser);
		evconnlistener_enable(mc.listener);
	}
}

/* Drop the references of ended connections; reopen the door below the bound. */
static void
sweep(void)
{
	bool	was_full = mc.open >= mc.max;

	for (unsigned i = 0; i < mc.max; i++)
		if (mc.held[i] != NULL && ended(mc.held[i])) {
			bufferevent_decref(mc.held[i]);	/* the last one: closes the socket */
			mc.held[i] = NULL;
			mc.open--;
		}
	if (was_full && mc.open < mc.max)
		set_full(false);
}

static struct bufferevent *
bev_cb(struct event_base *base, void *arg)
{
	struct bufferevent	*bev;

	sweep();
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;	/* evhttp makes its own; the bound is missed once */
	for (unsigned i = 0; i < mc.max; i++)
		if (mc.held[i] == NULL) {
			bufferevent_incref(bev);
			mc.held[i] = bev;
			mc.open++;
			break;
		}
	if (mc.open >= mc.max)
		set_full(true);
	return bev;
}

static void
refuse_cb(evutil_socket_t fd, short ev, void *arg)
{
	int	s;

	sweep();
	if (mc.open < mc.max)
		return;		/* evhttp's listener takes it from the backlog */
	for (int n = 0; n < 64; n++) {
		if ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("metrics: accept");
			break;
		}
		close(s);
		mc.refused++;
	}
	if (mc.refused > 0 && time(NULL) - mc.reported >= 60) {
		mc.reported = time(NULL);
		log_warnx("metrics: %llu connections refused: more than metrics_max_connections=%u open",
		    (unsigned long long)mc.refused, mc.max);
		mc.refused = 0;
	}
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	sweep();
}

void
metrics_conn_limit(struct event_base *base, struct evhttp *http,
    struct evhttp_bound_socket *bound, unsigned max)
{
	struct timeval	sec = { 1, 0 };

	mc.base = base;
	mc.max = max;
	mc.held = xcalloc(max, sizeof(*mc.held));
	mc.listener = evhttp_bound_socket_get_listener(bound);
	mc.refuser = event_new(base, evhttp_bound_socket_get_fd(bound), EV_READ | EV_PERSIST,
	    refuse_cb, NULL);
	mc.tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	if (mc.refuser == NULL || mc.tick == NULL)
		fatalx("metrics: event_new");
	event_add(mc.tick, &sec);
	evhttp_set_bevcb(http, bev_cb, NULL);
}

unsigned
metrics_conn_open(void)
{
	return mc.open;
}
