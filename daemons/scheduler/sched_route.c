/* SPDX-License-Identifier: ISC */
/*
 * sched_route.c - "outpostctl route ADDRESS" (and outpost-sendmail -bv for
 * root and admin_group): where would a mail to ADDRESS go, without sending
 * anything. The scheduler decides as it would for a delivery (relay host,
 * [routes] entry, or MX lookup; routedesc.c), asks the resolver for the MX
 * hosts and then for each host's addresses, and answers one CONTROL_REPLY
 * line per fact and a CONTROL_END. Aliases are not applied here (the
 * queue manager holds the table): the caller expands first. The transport
 * security policy that would apply is shown too: with DNSSEC validation
 * on, each host's TLSA records (_port._tcp.host) and whether they are
 * secure; with mta_sts, the recipient domain's cached MTA-STS policy (asked
 * of the sts process, from its cache only: nothing is fetched here).
 *
 *   admin@example.net: MX hosts of example.net, port 25, tls may
 *     mx 10 mx1.example.net: 192.0.2.1, 2001:db8::1 (dnssec insecure)
 *       tlsa _25._tcp.mx1.example.net: 1 record(s), 1 usable (dnssec secure): 3 1 1 ab12...
 *     mta-sts: mode enforce, id 2026, max_age 86400, expires in 3600s, mx mx1.example.net
 *
 * Bounded: at most ROUTE_MAX_PENDING requests at a time, ROUTE_MAX_HOSTS
 * hosts resolved per request; the resolver answers every query (with a
 * failure at worst), and a lost resolver ends the requests at once.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "chan.h"
#include "dane.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "routedesc.h"
#include "scheduler.h"
#include "xmalloc.h"

#define ROUTE_MAX_PENDING	16
#define ROUTE_MAX_HOSTS		10

struct rq {
	struct sched		*s;
	uint32_t		 ctl_reqid;	/* the master's route id */
	uint32_t		 dns_reqid;	/* the query outstanding */
	struct route_plan	 plan;
	struct mx		 hosts[ROUTE_MAX_HOSTS];
	size_t			 nhosts, cur;
	bool			 mx_targets;	/* hosts came from an MX answer */
	bool			 tlsa_next;	/* the host's addresses are shown: its TLSA now */
	uint32_t		 sts_reqid;	/* STS_GET outstanding, 0: none */
	struct rq		*next;
};

static struct rq *pending;
static unsigned npending;

static void
rq_line(struct rq *r, const char *line)
{
	struct fbuf *fb = fbuf_new(MSG_CONTROL_REPLY, r->ctl_reqid);

	fbuf_add_str(fb, line);
	chan_send(r->s->ctx->master, fb);
}

/* The CONTROL_END; unlinks and frees r. */
static void
rq_end(struct rq *r, int status, const char *msg)
{
	struct rq **rp;
	struct fbuf *fb = fbuf_new(MSG_CONTROL_END, r->ctl_reqid);

	fbuf_add_u8(fb, (uint8_t)status);
	fbuf_add_str(fb, msg);
	chan_send(r->s->ctx->master, fb);
	for (rp = &pending; *rp != NULL; rp = &(*rp)->next)
		if (*rp == r) {
			*rp = r->next;
			break;
		}
	npending--;
	free(r);
}

static void
query(struct rq *r, uint16_t type, const char *name)
{
	struct fbuf *fb;

	r->dns_reqid = sched_reqid(r->s);
	fb = fbuf_new(type, r->dns_reqid);
	fbuf_add_str(fb, name);
	if (type == MSG_DNS_QUERY_ADDR)
		fbuf_add_u8(fb, sched_dns_families(r->s) | (r->mx_targets ? DNS_FAM_MXTARGET : 0));
	chan_send(r->s->resolver, fb);
}

static const char *
dnssec_name(uint8_t v)
{
	return v == DNSSEC_SECURE ? "secure" : v == DNSSEC_BOGUS ? "BOGUS" : "insecure";
}

static const char *
status_text(uint8_t st)
{
	switch (st) {
	case DNS_NXDOMAIN:
		return "the name does not exist";
	case DNS_NODATA:
		return "no record of that type";
	case DNS_NULLMX:
		return "null MX (RFC 7505): the domain accepts no mail";
	case DNS_TEMPFAIL:
		return "lookup failed for now (SERVFAIL or timeout): deliveries would be deferred";
	default:
		return "malformed or refused answer: deliveries would fail";
	}
}

static uint32_t
no_shuffle(uint32_t upper)
{
	return 0;	/* equal preferences keep the resolver's order here */
}

/* The domain's cached MTA-STS policy, the last line (the sts process answers from its cache). */
static void
sts_ask(struct rq *r)
{
	struct fbuf	*fb;

	if (!r->plan.use_mx || !r->s->conf->mta_sts || r->s->sts == NULL) {
		rq_end(r, 0, "");
		return;
	}
	r->sts_reqid = sched_reqid(r->s);
	r->dns_reqid = 0;
	fb = fbuf_new(MSG_STS_GET, r->sts_reqid);
	fbuf_add_str(fb, r->plan.next);
	fbuf_add_u8(fb, STS_TXT_NONE);		/* never a fetch: what is cached */
	fbuf_add_str(fb, "");
	fbuf_add_u16(fb, 0);
	if (chan_send(r->s->sts, fb) == -1)
		rq_end(r, 1, "the MTA-STS process is not reachable");
}

static void
next_host(struct rq *r)
{
	struct fbuf	*fb;

	if (r->cur >= r->nhosts) {
		sts_ask(r);
		return;
	}
	if (r->tlsa_next) {
		r->dns_reqid = sched_reqid(r->s);
		fb = fbuf_new(MSG_DNS_QUERY_TLSA, r->dns_reqid);
		fbuf_add_str(fb, r->hosts[r->cur].host);
		fbuf_add_u16(fb, (uint16_t)(r->plan.port ? r->plan.port : 25));
		chan_send(r->s->resolver, fb);
		return;
	}
	query(r, MSG_DNS_QUERY_ADDR, r->hosts[r->cur].host);
}

/* DANE needs validated DNS: without a trust anchor no TLSA is looked at. */
static bool
tlsa_shown(const struct rq *r)
{
	return r->s->conf->dnssec_trust_anchor[0] != '\0';
}

static int
on_tlsa(struct rq *r, struct frame *f)
{
	uint8_t		 st, sec, u, sel, mt;
	uint32_t	 ttl;
	uint16_t	 seen, n, i;
	const uint8_t	*p;
	size_t		 len, k, used;
	char		 line[2048];
	struct mx	*h = &r->hosts[r->cur];

	if (!frame_get_u8(f, &st) || !frame_get_u8(f, &sec) || !frame_get_u32(f, &ttl) ||
	    !frame_get_u16(f, &seen) || !frame_get_u16(f, &n))
		return -1;
	used = (size_t)snprintf(line, sizeof(line), "    tlsa _%u._tcp.%s:",
	    r->plan.port ? r->plan.port : 25, h->host);
	if (st == DNS_OK)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %u record(s), %u "
		    "usable (dnssec %s)%s", seen, n, dnssec_name(sec),
		    sec != DNSSEC_SECURE ? ": not used for DANE" : "");
	else
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s (dnssec %s)",
		    status_text(st), dnssec_name(sec));
	for (i = 0; i < n; i++) {
		if (!frame_get_u8(f, &u) || !frame_get_u8(f, &sel) || !frame_get_u8(f, &mt) ||
		    !frame_get_bytes(f, &p, &len))
			return -1;
		if (used < sizeof(line))
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s %u %u %u ",
			    i ? "," : ":", u, sel, mt);
		for (k = 0; k < len && used + 3 < sizeof(line); k++)
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%02x", p[k]);
	}
	if (!frame_end(f))
		return -1;
	rq_line(r, line);
	r->tlsa_next = false;
	r->cur++;
	next_host(r);
	return 0;
}

int
sched_route_sts_frame(struct sched *s, struct frame *f)
{
	struct rq	*r;
	struct sts_policy pol;
	char		 domain[HOSTNAME_MAX], id[STS_ID_MAX], line[2048];
	uint8_t		 found, fetched;
	uint64_t	 expires, now = s->now();
	uint16_t	 n, i;
	size_t		 used;

	if (f->hdr.type != MSG_STS_POLICY)
		return 0;
	for (r = pending; r != NULL; r = r->next)
		if (r->sts_reqid != 0 && r->sts_reqid == f->hdr.reqid)
			break;
	if (r == NULL)
		return 0;
	memset(&pol, 0, sizeof(pol));
	if (!frame_get_str(f, domain, sizeof(domain)) || !frame_get_u8(f, &found) ||
	    !frame_get_u8(f, &pol.mode) || !frame_get_u32(f, &pol.max_age) ||
	    !frame_get_u64(f, &expires) || !frame_get_str(f, id, sizeof(id)) ||
	    !frame_get_u8(f, &fetched) || !frame_get_u16(f, &n) || n > STS_MX_MAX) {
		rq_end(r, 1, "malformed answer from the MTA-STS process");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!frame_get_str(f, pol.mx[i], sizeof(pol.mx[i]))) {
			rq_end(r, 1, "malformed answer from the MTA-STS process");
			return -1;
		}
	if (!frame_end(f)) {
		rq_end(r, 1, "malformed answer from the MTA-STS process");
		return -1;
	}
	if (!found) {
		rq_line(r, "  mta-sts: no policy cached (looked up at the first delivery)");
		rq_end(r, 0, "");
		return 1;
	}
	used = (size_t)snprintf(line, sizeof(line), "  mta-sts: mode %s, id %s, max_age %u, "
	    "expires in %llds, mx", sts_mode_name(pol.mode), id, pol.max_age,
	    (long long)(expires - now));
	for (i = 0; i < n && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s", pol.mx[i]);
	rq_line(r, line);
	rq_end(r, 0, "");
	return 1;
}

void
sched_route_sts_lost(struct sched *s)
{
	struct rq	*r, *next;

	for (r = pending; r != NULL; r = next) {
		next = r->next;
		if (r->sts_reqid != 0)
			rq_end(r, 1, "the MTA-STS process stopped before answering");
	}
}

static int
on_mx(struct rq *r, struct frame *f)
{
	uint8_t st, sec;
	uint32_t ttl;
	uint16_t n, i, pref;
	char host[HOSTNAME_MAX], line[600];
	struct mx all[64];
	size_t nall = 0;

	if (!frame_get_u8(f, &st) || !frame_get_u8(f, &sec) || !frame_get_u32(f, &ttl) ||
	    !frame_get_u16(f, &n))
		return -1;
	for (i = 0; i < n; i++) {
		if (!frame_get_u16(f, &pref) || !frame_get_str(f, host, sizeof(host)))
			return -1;
		if (nall < sizeof(all) / sizeof(all[0])) {
			all[nall].pref = pref;
			strlcpy(all[nall].host, host, sizeof(all[nall].host));
			nall++;
		}
	}
	if (!frame_end(f))
		return -1;
	if (st == DNS_NODATA || (st == DNS_OK && nall == 0)) {
		snprintf(line, sizeof(line), "  no MX record for %s: its own addresses "
		    "(implicit MX, dnssec %s)", r->plan.next, dnssec_name(sec));
		rq_line(r, line);
		strlcpy(r->hosts[0].host, r->plan.next, sizeof(r->hosts[0].host));
		r->nhosts = 1;
		next_host(r);
		return 0;
	}
	if (st != DNS_OK) {
		snprintf(line, sizeof(line), "  MX lookup of %s: %s", r->plan.next, status_text(st));
		rq_line(r, line);
		rq_end(r, st == DNS_NULLMX || st == DNS_NXDOMAIN ? 0 : 1,
		    st == DNS_NULLMX || st == DNS_NXDOMAIN ? "mail to it would bounce" :
		    "mail to it would wait");
		return 0;
	}
	sched_mx_sort(all, nall, no_shuffle);
	snprintf(line, sizeof(line), "  %zu MX host%s (dnssec %s)%s", nall, nall == 1 ? "" : "s",
	    dnssec_name(sec), nall > ROUTE_MAX_HOSTS ? "; the first ones resolved" : "");
	rq_line(r, line);
	r->nhosts = nall > ROUTE_MAX_HOSTS ? ROUTE_MAX_HOSTS : nall;
	memcpy(r->hosts, all, r->nhosts * sizeof(all[0]));
	r->mx_targets = true;
	next_host(r);
	return 0;
}

static int
on_addrs(struct rq *r, struct frame *f)
{
	uint8_t st, sec, fam, a[16];
	uint32_t ttl;
	uint16_t n, i;
	char line[2048], ip[INET6_ADDRSTRLEN];
	size_t used;
	struct mx *h = &r->hosts[r->cur];

	if (!frame_get_u8(f, &st) || !frame_get_u8(f, &sec) || !frame_get_u32(f, &ttl) ||
	    !frame_get_u16(f, &n))
		return -1;
	if (r->mx_targets)
		used = snprintf(line, sizeof(line), "  mx %u %s:", h->pref, h->host);
	else
		used = snprintf(line, sizeof(line), "  %s:", h->host);
	for (i = 0; i < n; i++) {
		if (!sched_get_addr(f, &fam, a))
			return -1;
		if (inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip)) == NULL)
			strlcpy(ip, "?", sizeof(ip));
		if (used < sizeof(line))
			used += snprintf(line + used, sizeof(line) - used, "%s %s", i ? "," : "", ip);
	}
	if (!frame_end(f))
		return -1;
	if (st != DNS_OK || n == 0) {
		if (used < sizeof(line))
			snprintf(line + used, sizeof(line) - used, " %s",
			    status_text(st == DNS_OK ? DNS_NODATA : st));
	} else if (used < sizeof(line))
		snprintf(line + used, sizeof(line) - used, " (dnssec %s)", dnssec_name(sec));
	rq_line(r, line);
	if (tlsa_shown(r) && r->mx_targets) {
		r->tlsa_next = true;
		next_host(r);
		return 0;
	}
	r->cur++;
	next_host(r);
	return 0;
}

int
sched_route_dns_frame(struct sched *s, struct frame *f)
{
	struct rq *r;

	for (r = pending; r != NULL; r = r->next)
		if (r->dns_reqid != 0 && r->dns_reqid == f->hdr.reqid)
			break;
	if (r == NULL)
		return 0;
	if ((f->hdr.type == MSG_DNS_MX ? on_mx(r, f) : f->hdr.type == MSG_DNS_TLSA ?
	    on_tlsa(r, f) : on_addrs(r, f)) == -1) {
		rq_end(r, 1, "malformed answer from the resolver");
		return -1;
	}
	return 1;
}

void
sched_route_resolver_lost(struct sched *s)
{
	while (pending != NULL)
		rq_end(pending, 1, "the resolver stopped before answering");
}

static void
route_start(struct sched *s, uint32_t reqid, const char *arg)
{
	struct rq *r;
	char domain[ADDR_DOMAIN_MAX + 1], line[900];
	uint8_t a[16];
	const char *why = NULL;
	struct fbuf *fb;

	if (addr_check_mailbox(arg, false, &why) == -1 ||
	    addr_domain(arg, domain, sizeof(domain)) == -1) {
		fb = fbuf_new(MSG_CONTROL_END, reqid);
		fbuf_add_u8(fb, 1);
		fbuf_add_str(fb, why != NULL ? why : "not an address (local@domain)");
		chan_send(s->ctx->master, fb);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->ctl_reqid = reqid;
	r->next = pending;
	pending = r;
	npending++;
	route_plan(s->conf, domain, &r->plan);
	route_plan_line(&r->plan, line + snprintf(line, sizeof(line), "%s: ", arg),
	    sizeof(line) - strlen(line));
	rq_line(r, line);
	if (s->resolver == NULL) {
		rq_end(r, 1, "the resolver is not running");
		return;
	}
	if (r->plan.use_mx) {
		query(r, MSG_DNS_QUERY_MX, r->plan.next);
		return;
	}
	if (inet_pton(AF_INET, r->plan.next, a) == 1 || inet_pton(AF_INET6, r->plan.next, a) == 1) {
		/* An address literal is connected to as it is (sched_dest.c does the same). */
		snprintf(line, sizeof(line), "  %s: address literal, no DNS lookup", r->plan.next);
		rq_line(r, line);
		rq_end(r, 0, "");
		return;
	}
	strlcpy(r->hosts[0].host, r->plan.next, sizeof(r->hosts[0].host));
	r->nhosts = 1;
	next_host(r);
}

int
sched_route_control(struct proc_ctx *ctx, struct frame *f)
{
	struct sched *s = ctx->arg;
	char cmd[32], arg[ADDR_MAX];
	uint32_t argc;
	struct fbuf *fb;
	const char *err = NULL;

	if (f->hdr.type != MSG_CONTROL_REQUEST) {
		log_warnx("master: unexpected %s", msg_name(f->hdr.type));
		return -1;
	}
	if (!frame_get_str(f, cmd, sizeof(cmd)) || !frame_get_u32(f, &argc))
		return -1;
	if (strcmp(cmd, "route") != 0)
		err = "unknown command";
	else if (argc != 1 || !frame_get_str(f, arg, sizeof(arg)))
		err = "usage: route local@domain";
	else if (!frame_end(f))
		return -1;
	else if (npending >= ROUTE_MAX_PENDING)
		err = "too many route requests at once; try again";
	if (err != NULL) {
		fb = fbuf_new(MSG_CONTROL_END, f->hdr.reqid);
		fbuf_add_u8(fb, 1);
		fbuf_add_str(fb, err);
		chan_send(ctx->master, fb);
		return 0;
	}
	route_start(s, f->hdr.reqid, arg);
	return 0;
}
