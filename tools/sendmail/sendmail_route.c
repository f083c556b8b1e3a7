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

static int
route_local(const struct config *c, int argc, char **argv, const char *why)
{
	static struct emitted e;
	struct aliases a;
	struct route_plan p;
	char myorigin[256], err[4096], line[700], domain[ADDR_DOMAIN_MAX + 1];
	bool have_aliases = false;
	int i, rc = EX_OK;
	size_t k;

	sm_myorigin(c, myorigin, sizeof(myorigin));
	memset(&a, 0, sizeof(a));
	if (c->aliases[0] != '\0') {
		if (aliases_load(&a, c->aliases, err, sizeof(err)) == 0)
			have_aliases = true;
		else
			printf("aliases: %s not used here: %s", c->aliases, err);
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
		for (k = 0; k < e.n; k++) {
			const char *why_addr = NULL;

			if (addr_check_mailbox(e.addr[k], false, &why_addr) == -1 ||
			    addr_domain(e.addr[k], domain, sizeof(domain)) == -1) {
				printf("%s: bad address: %s\n", e.addr[k],
				    why_addr ? why_addr : "no domain");
				rc = EX_DATAERR;
				continue;
			}
			route_plan(c, domain, &p);
			route_plan_line(&p, line, sizeof(line));
			printf("%s: %s\n", e.addr[k], line);
			printf("  dns: not consulted (%s)\n", why);
		}
	}
	aliases_free(&a);
	return rc;
}

int
route_addresses(const struct config *c, int argc, char **argv)
{
	char msg[4096], why[4200];
	int r, i, rc = EX_OK;

	if (argc == 0) {
		fprintf(stderr, "%s: -bv needs at least one address\n", getprogname());
		return EX_USAGE;
	}
	/* One control request per address: each answer is complete on its own. */
	for (i = 0; i < argc; i++) {
		fflush(stdout);
		r = control_run(c, "route", 1, &argv[i], stdout, msg, sizeof(msg));
		if (r == 0)
			continue;
		if (r == 1) {
			printf("%s: %s\n", argv[i], msg);
			rc = EX_DATAERR;
			continue;
		}
		if (r == -1 && (errno == EACCES || errno == EPERM))
			snprintf(why, sizeof(why), "only root and admin_group may ask the "
			    "running outpost");
		else if (r == -1)
			snprintf(why, sizeof(why), "outpost is not running");
		else
			snprintf(why, sizeof(why), "outpost did not answer: %s", msg);
		return route_local(c, argc - i, argv + i, why) == EX_OK ? rc : EX_DATAERR;
	}
	return rc;
}
