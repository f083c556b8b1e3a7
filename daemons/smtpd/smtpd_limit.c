/* SPDX-License-Identifier: ISC */
/*
 * smtpd_limit.c - per-client-address limits, as Postfix's anvil keeps them:
 * concurrent connections (client_connection_limit) and connections opened
 * per minute (client_connection_rate). One slow client must not take the
 * session slots every other client needs (260 idle connections from one
 * address used to lock out everybody).
 *
 * Runs in smtpd; session_accept() asks limit_admit() before it makes a
 * session and session_free() calls limit_release(). The table holds an
 * entry only while its address has a connection open or opened one within
 * the rate window, and never more than LIMIT_MAX_CLIENTS entries, so memory
 * stays bounded whatever the clients do. Windows use the monotonic clock: a
 * wall-clock jump neither opens nor closes them.
 */
#include <sys/tree.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"
#include "smtpd.h"

#define LIMIT_WINDOW		60	/* seconds of the connection rate */
#define LIMIT_MAX_CLIENTS	65536	/* addresses tracked at once */

struct client {
	RB_ENTRY(client)	 entry;
	char			 ip[64];
	unsigned		 conns;		/* open now */
	unsigned		 opened;	/* in the window that began at since */
	time_t			 since;		/* monotonic seconds */
};

RB_HEAD(client_tree, client);
RB_PROTOTYPE(client_tree, client, entry, client_cmp)

static int
client_cmp(struct client *a, struct client *b)
{
	return strcmp(a->ip, b->ip);
}

RB_GENERATE(client_tree, client, entry, client_cmp)

static struct client_tree	clients = RB_INITIALIZER(&clients);
static unsigned			nclients;

static time_t
mono_now(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return ts.tv_sec;
}

static void
client_drop_if_idle(struct client *c, time_t now, bool force)
{
	if (c->conns == 0 && (force || now - c->since >= LIMIT_WINDOW)) {
		RB_REMOVE(client_tree, &clients, c);
		nclients--;
		free(c);
	}
}

/* Forget addresses with no connection and an expired window. */
static void
limit_sweep(time_t now)
{
	struct client	*c, *next;

	RB_FOREACH_SAFE(c, client_tree, &clients, next)
		client_drop_if_idle(c, now, false);
}

const char *
limit_admit(const struct config *conf, const char *ip, char *why, size_t len)
{
	struct client	 key, *c;
	time_t		 now = mono_now();

	(void)strlcpy(key.ip, ip, sizeof(key.ip));
	if ((c = RB_FIND(client_tree, &clients, &key)) == NULL) {
		if (nclients >= LIMIT_MAX_CLIENTS)
			limit_sweep(now);
		if (nclients >= LIMIT_MAX_CLIENTS) {
			(void)snprintf(why, len, "too many client addresses (%u)",
			    LIMIT_MAX_CLIENTS);
			return why;
		}
		c = xcalloc(1, sizeof(*c));
		(void)strlcpy(c->ip, ip, sizeof(c->ip));
		c->since = now;
		RB_INSERT(client_tree, &clients, c);
		nclients++;
	}
	if (now - c->since >= LIMIT_WINDOW) {
		c->since = now;
		c->opened = 0;
	}
	if (conf->client_connection_limit != 0 &&
	    c->conns >= conf->client_connection_limit) {
		(void)snprintf(why, len, "client_connection_limit %u reached",
		    conf->client_connection_limit);
		return why;
	}
	if (conf->client_connection_rate != 0 &&
	    c->opened >= conf->client_connection_rate) {
		(void)snprintf(why, len, "client_connection_rate %u per minute reached",
		    conf->client_connection_rate);
		return why;
	}
	c->conns++;
	c->opened++;
	return NULL;
}

void
limit_release(const struct config *conf, const char *ip)
{
	struct client	 key, *c;

	(void)strlcpy(key.ip, ip, sizeof(key.ip));
	if ((c = RB_FIND(client_tree, &clients, &key)) == NULL)
		return;
	if (c->conns > 0)
		c->conns--;
	/* Without a rate the window is of no use: forget the address at once. */
	client_drop_if_idle(c, mono_now(), conf->client_connection_rate == 0);
}
