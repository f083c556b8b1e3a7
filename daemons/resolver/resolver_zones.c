/* SPDX-License-Identifier: ISC */
/*
 * resolver_zones.c - libunbound's built-in local zones, opened to the
 * configured DNS servers. Run by the resolver; called by resolver.c while
 * it sets libunbound up, before the context is finalized.
 *
 * libunbound answers names in these zones itself (NXDOMAIN, or localhost's
 * fixed data), so a relay_host or route under home.arpa. (RFC 8375, the
 * home and site network name) or test. that the site's own DNS server
 * serves was "domain not found", where the system resolver that Postfix uses
 * asks that server. When outpost forwards (dns_servers, or resolv.conf),
 * every name goes to the servers: each default zone becomes "transparent"
 * (a zone without local data answers nothing itself). "nodefault" did not
 * take effect in libunbound 1.17 when tried; "transparent" does. And as
 * the root proves most of these names not to exist, they are declared
 * insecure, or a validating resolver would call a real answer bogus.
 * Resolving from the root (no server known) keeps the zones as they are:
 * the AS112 names must not go to the root servers.
 *
 * The list is libunbound 1.17's (services/localzone.c, util/as112.c):
 * localhost, its reverse zones, RFC 6761/7686/8375 names and the AS112
 * reverse zones of RFC 6303, RFC 6598 and RFC 5737.
 */
#include <stdio.h>

#include <unbound.h>

#include "log.h"
#include "resolver.h"

static const char *const fixed_zones[] = {
	"localhost.",
	"127.in-addr.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"home.arpa.",
	"onion.",
	"test.",
	"invalid.",
	/* AS112 (RFC 6303): private, shared, link-local, documentation ... */
	"10.in-addr.arpa.",
	"168.192.in-addr.arpa.",
	"0.in-addr.arpa.",
	"254.169.in-addr.arpa.",
	"2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.",
	"113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.",
	"8.e.f.ip6.arpa.",
	"9.e.f.ip6.arpa.",
	"a.e.f.ip6.arpa.",
	"b.e.f.ip6.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
};

/* The zone names of the ranges: 172.16/12 and 100.64/10 (RFC 6598). */
static const struct {
	unsigned	 first, last;
	const char	*fmt;
} ranges[] = {
	{ 16, 31, "%u.172.in-addr.arpa." },
	{ 64, 127, "%u.100.in-addr.arpa." },
};

size_t
resolver_default_zones(void (*fn)(const char *zone, void *arg), void *arg)
{
	char	 name[64];
	size_t	 i, n = 0;
	unsigned k;

	for (i = 0; i < sizeof(fixed_zones) / sizeof(fixed_zones[0]); i++, n++)
		fn(fixed_zones[i], arg);
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		for (k = ranges[i].first; k <= ranges[i].last; k++, n++) {
			snprintf(name, sizeof(name), ranges[i].fmt, k);
			fn(name, arg);
		}
	return n;
}

static void
open_zone(const char *zone, void *arg)
{
	struct ub_ctx	*ub = arg;
	char		 val[128];
	int		 err;

	snprintf(val, sizeof(val), "%s transparent", zone);
	if ((err = ub_ctx_set_option(ub, "local-zone:", val)) != 0)
		log_warnx("libunbound local-zone %s: %s", val, ub_strerror(err));
	if ((err = ub_ctx_set_option(ub, "domain-insecure:", zone)) != 0)
		log_warnx("libunbound domain-insecure %s: %s", zone, ub_strerror(err));
}

void
resolver_open_default_zones(struct ub_ctx *ub)
{
	size_t	n;

	n = resolver_default_zones(open_zone, ub);
	log_info("%zu built-in local zones (test., home.arpa., private reverse zones ...) "
	    "are asked of the DNS servers too", n);
}
