/* SPDX-License-Identifier: ISC */
/*
 * routedesc.h - where the configuration sends mail for a domain, as one
 * line for people: relay host, [routes] entry or MX lookup, and the TLS
 * policy that applies. Shared by outpost-sendmail -bv (config only) and
 * the scheduler's answer to "outpostctl route" (which adds DNS).
 */
#ifndef OUTPOST_ROUTEDESC_H
#define OUTPOST_ROUTEDESC_H

#include <stdbool.h>
#include <stddef.h>

struct config;

struct route_plan {
	char		 next[300];	/* the name looked up: domain, relay or route host */
	bool		 use_mx;	/* MX lookup of next, else its addresses */
	unsigned	 port;
	bool		 smtps;
	int		 tls;		/* enum tls_policy */
	const char	*kind;		/* "relay_host", "route", "mx" */
};

void	route_plan(const struct config *, const char *domain, struct route_plan *);
/* "relay_host [mail.example.net]:587, address lookup, tls verify" */
void	route_plan_line(const struct route_plan *, char *buf, size_t len);

#endif
