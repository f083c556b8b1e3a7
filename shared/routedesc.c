/* SPDX-License-Identifier: ISC */
/*
 * routedesc.c - the delivery plan of a domain from the configuration alone
 * (see routedesc.h); the scheduler's sched_dest.c decides the same way
 * when it creates a destination.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "routedesc.h"

void
route_plan(const struct config *c, const char *domain, struct route_plan *p)
{
	const struct route *r;

	memset(p, 0, sizeof(*p));
	if (c->mode == MODE_RELAY) {
		strlcpy(p->next, c->relay_host.host, sizeof(p->next));
		p->use_mx = !c->relay_host.literal;
		p->port = c->relay_host.port;
		p->smtps = c->relay_host.smtps;
		p->tls = c->relay_tls_policy;
		p->kind = "relay_host";
		return;
	}
	if ((r = config_route(c, domain)) != NULL) {
		strlcpy(p->next, r->via.host, sizeof(p->next));
		p->use_mx = !r->via.literal;
		p->port = r->via.port;
		p->smtps = r->via.smtps;
		p->tls = r->tls == TLS_INHERIT ? c->tls_policy : r->tls;
		p->kind = "route";
		return;
	}
	strlcpy(p->next, domain, sizeof(p->next));
	p->use_mx = true;
	p->port = 25;
	p->tls = c->tls_policy;
	p->kind = "mx";
}

void
route_plan_line(const struct route_plan *p, char *buf, size_t len)
{
	if (strcmp(p->kind, "mx") == 0)
		snprintf(buf, len, "MX hosts of %s, port %u, tls %s", p->next, p->port,
		    tls_policy_name(p->tls));
	else
		snprintf(buf, len, "%s %s%s%s:%u%s, %s, tls %s", p->kind, p->use_mx ? "" : "[",
		    p->next, p->use_mx ? "" : "]", p->port, p->smtps ? " (smtps)" : "",
		    p->use_mx ? "MX lookup" : "address lookup", tls_policy_name(p->tls));
}
