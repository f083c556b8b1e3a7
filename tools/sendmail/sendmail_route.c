/* SPDX-License-Identifier: ISC */
/*
 * sendmail_route.c - outpost-sendmail -bv / -bt ADDRESS...: where would a
 * mail to each address go, without sending anything.
 *
 * Root and admin_group members are answered by the running outpost
 * ("route" on the control socket): the scheduler asks the resolver for
 * the MX hosts and their addresses, as a delivery would. Anyone else gets
 * what the configuration alone says (aliases when the file is readable,
 * relay host or route or MX lookup, TLS policy), with a line saying DNS
 * was not consulted.
 *
 * Output, one block per address:
 *   root -> admin@example.net (aliases)
 *   admin@example.net: MX hosts of example.net, port 25, tls may
 *     dns: not consulted (only root and admin_group may ask the running outpost)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sysexits.h>

#include "addr.h"
#include "aliases.h"
#include "config.h"
#include "msg.h"
#include "routedesc.h"
#include "sendmail.h"

struct emitted {
	char	 addr[64][ADDR_MAX];
	size_t	 n;
	size_t	 dropped;
};

static int
collect(const char *addr, void *arg)
{
	struct emitted *e = arg;

	if (e->n < sizeof(e->addr) / sizeof(e->addr[0]))
		strlcpy(e->addr[e->n++], addr, sizeof(e->addr[0]));
	else
		e->dropped++;
	return 0;
}

/* The route of one final address: from the running outpost, else the config. */
static int
route_one(const struct config *c, const char *addr, bool *local_only, char *why, size_t whylen)
{
	struct route_plan p;
	char msg[4096], line[700], domain[ADDR_DOMAIN_MAX + 1];
	const char *why_addr = NULL;
	char *argv[1];
	int r;

	if (addr_check_mailbox(addr, false, &why_addr) == -1 ||
	    addr_domain(addr, domain, sizeof(domain)) == -1) {
		printf("%s: bad address: %s\n", addr, why_addr ? why_addr : "no domain");
		return EX_DATAERR;
	}
	if (!*local_only) {
		argv[0] = (char *)addr;
		fflush(stdout);
		r = control_run(c, "route", 1, argv, stdout, msg, sizeof(msg));
		if (r == 0)
			return EX_OK;
		if (r == 1) {
			printf("%s: %s\n", addr, msg);
			return EX_DATAERR;
		}
		*local_only = true;
		if (r == -1 && (errno == EACCES || errno == EPERM))
			snprintf(why, whylen, "only root and admin_group may ask the running outpost");
		else if (r == -1)
			snprintf(why, whylen, "outpost is not running");
		else
			snprintf(why, whylen, "outpost did not answer: %s", msg);
	}
	route_plan(c, domain, &p);
	route_plan_line(&p, line, sizeof(line));
	printf("%s: %s\n", addr, line);
	printf("  dns: not consulted (%s)\n", why);
	return EX_OK;
}

int
route_addresses(const struct config *c, int argc, char **argv)
{
	static struct emitted e;
	struct aliases a;
	char myorigin[256], err[4096], why[4200] = "";
	bool have_aliases = false, local_only = false;
	int i, rc = EX_OK;
	size_t k;

	if (argc == 0) {
		fprintf(stderr, "%s: -bv needs at least one address\n", getprogname());
		return EX_USAGE;
	}
	sm_myorigin(c, myorigin, sizeof(myorigin));
	memset(&a, 0, sizeof(a));
	if (c->aliases[0] != '\0') {
		/* The file may be root's only: then local names are shown unexpanded. */
		if (aliases_load(&a, c->aliases, err, sizeof(err)) == 0)
			have_aliases = true;
		else
			printf("aliases: not applied here: %s", err);
	}
	for (i = 0; i < argc; i++) {
		e.n = e.dropped = 0;
		if (aliases_expand(&a, myorigin, c->local_redirect, argv[i], collect, &e, err,
		    sizeof(err)) == -1) {
			printf("%s: not deliverable: %s\n", argv[i], err);
			rc = EX_DATAERR;
			continue;
		}
		if (e.n != 1 || strcmp(e.addr[0], argv[i]) != 0)
			for (k = 0; k < e.n; k++)
				printf("%s -> %s (%s)\n", argv[i], e.addr[k],
				    have_aliases ? "aliases" : "local_redirect or myorigin");
		if (e.dropped > 0)
			printf("%s -> ... %zu more addresses\n", argv[i], e.dropped);
		for (k = 0; k < e.n; k++)
			if (route_one(c, e.addr[k], &local_only, why, sizeof(why)) != EX_OK)
				rc = EX_DATAERR;
	}
	aliases_free(&a);
	return rc;
}
