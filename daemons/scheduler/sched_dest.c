/* SPDX-License-Identifier: ISC */
/*
 * sched_dest.c - destinations: where a group of recipients goes (the relay
 * host, a route from the config, or a domain's MX hosts), their resolution
 * through the resolver process, and the cache of the result for its TTL.
 * Run by the scheduler; called by sched_mail.c (which destination, enqueue),
 * scheduler.c (resolver link) and sched_job.c (dispatch reads dest->addrs).
 *
 * Resolution follows RFC 5321 section 5.1: MX hosts by preference (equal
 * preferences in random order), no MX record means the domain itself
 * (implicit MX), a null MX (RFC 7505) or NXDOMAIN fails at once, a temporary
 * DNS failure defers, MX hosts without an address are skipped, an MX list
 * that leads back to helo_name is a mail loop. Every answer is the resolver's
 * typed frame; nothing here reads DNS wire data.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "trace.h"
#include "scheduler.h"
#include "xmalloc.h"

int
sched_dest_cmp(const struct dest *a, const struct dest *b)
{
	return strcmp(a->key, b->key);
}

int
sched_dnsq_cmp(const struct dnsq *a, const struct dnsq *b)
{
	return (a->reqid > b->reqid) - (a->reqid < b->reqid);
}

RB_GENERATE(sched_dest_tree, dest, entry, sched_dest_cmp)
RB_GENERATE(sched_dnsq_tree, dnsq, entry, sched_dnsq_cmp)

static void	dest_resolve(struct sched *, struct dest *);
static void	dest_error(struct sched *, struct dest *, int cls, uint16_t code,
		    const char *dsn, bool cache, const char *fmt, ...)
		    __attribute__((format(printf, 7, 8)));

static uint32_t
mx_random(uint32_t upper)
{
	return arc4random_uniform(upper);
}

/* An address literal: fill the one address and skip DNS. */
static bool
dest_literal(struct dest *d)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	struct sched_addr *a = &d->addrs[0];

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, d->lookup, &a4) == 1) {
		a->family = 4;
		memcpy(a->addr, &a4, 4);
	} else if (inet_pton(AF_INET6, d->lookup, &a6) == 1) {
		a->family = 6;
		memcpy(a->addr, &a6, 16);
	} else
		return false;
	a->port = d->port;
	strlcpy(a->host, d->lookup, sizeof(a->host));
	d->naddrs = 1;
	d->is_ip = true;
	d->res = RES_DONE;
	d->err_cls = DELIVERY_OK;
	d->expires = UINT64_MAX;
	return true;
}

static struct dest *
dest_lookup(struct sched *s, const char *key)
{
	struct dest	k;

	if (strlcpy(k.key, key, sizeof(k.key)) >= sizeof(k.key))
		return NULL;
	return RB_FIND(sched_dest_tree, &s->dests, &k);
}

static struct dest *
dest_create(struct sched *s, const char *key, const char *name, const char *lookup,
    uint16_t port, bool use_mx)
{
	struct dest	*d;

	d = xcalloc(1, sizeof(*d));
	strlcpy(d->key, key, sizeof(d->key));
	strlcpy(d->name, name, sizeof(d->name));
	strlcpy(d->lookup, lookup, sizeof(d->lookup));
	d->port = port;
	d->use_mx = use_mx;
	d->res = RES_NONE;
	d->last_agent = -1;
	d->tls = s->conf->tls_policy;
	TAILQ_INIT(&d->waiting);
	sched_shape_attach(s, d);
	if (!dest_literal(d) && d->lookup[0] == '\0') {
		/* relay mode without a relay_host: nothing can be sent */
		d->res = RES_DONE;
		d->err_cls = DELIVERY_TEMPFAIL;
		d->expires = UINT64_MAX;
		strlcpy(d->err_dsn, "4.3.5", sizeof(d->err_dsn));
		strlcpy(d->err_reply, "no relay_host configured", sizeof(d->err_reply));
	}
	RB_INSERT(sched_dest_tree, &s->dests, d);
	s->ndests++;
	return d;
}

/* The destination for a recipient domain, created on first use. */
struct dest *
sched_dest_get(struct sched *s, const char *domain)
{
	const struct config	*c = s->conf;
	const struct route	*rt;
	char			 dom[HOSTNAME_MAX], key[HOSTNAME_MAX + 32];
	const struct hostport	*hp;
	struct dest		*d;
	size_t			 i, len;

	if (c->mode == MODE_RELAY) {
		hp = &c->relay_host;
		if ((d = dest_lookup(s, "relay")) == NULL)
			d = dest_create(s, "relay", c->relay_host_set ? hp->host : "none",
			    c->relay_host_set ? hp->host : "", hp->port, !hp->literal);
		d->tls = c->relay_tls_policy;
		d->dflags = DELIVER_F_RELAY | (hp->smtps ? DELIVER_F_SMTPS : 0);
		return d;
	}

	for (i = 0; domain[i] != '\0' && i + 1 < sizeof(dom); i++)
		dom[i] = (char)tolower((unsigned char)domain[i]);
	dom[i] = '\0';
	len = strlen(dom);
	if (len > 0 && dom[len - 1] == '.')
		dom[--len] = '\0';

	/* user@[192.0.2.1], user@[IPv6:2001:db8::1] */
	if (len > 2 && dom[0] == '[' && dom[len - 1] == ']') {
		char	lit[HOSTNAME_MAX];

		dom[len - 1] = '\0';
		strlcpy(lit, strncmp(dom + 1, "ipv6:", 5) == 0 ? dom + 6 : dom + 1,
		    sizeof(lit));
		snprintf(key, sizeof(key), "ip:%s", lit);
		if ((d = dest_lookup(s, key)) == NULL) {
			d = dest_create(s, key, lit, lit, SCHED_SMTP_PORT, false);
			if (!d->is_ip) {
				d->res = RES_DONE;
				d->err_cls = DELIVERY_PERMFAIL;
				d->expires = UINT64_MAX;
				strlcpy(d->err_dsn, "5.1.2", sizeof(d->err_dsn));
				strlcpy(d->err_reply, "bad address literal",
				    sizeof(d->err_reply));
			}
		}
		return d;
	}

	if ((rt = config_route(c, dom)) != NULL) {
		hp = &rt->via;
		/* Two routes to one host under different TLS settings are two destinations. */
		snprintf(key, sizeof(key), "route:%s%s%s:%u/%u", hp->smtps ? "smtps://" : "",
		    hp->literal ? "=" : "", hp->host, hp->port, rt->tls);
		if ((d = dest_lookup(s, key)) == NULL)
			d = dest_create(s, key, hp->host, hp->host, hp->port, !hp->literal);
		d->tls = rt->tls != TLS_INHERIT ? rt->tls : c->tls_policy;
		d->dflags = hp->smtps ? DELIVER_F_SMTPS : 0;
		return d;
	}

	snprintf(key, sizeof(key), "mx:%s", dom);
	if ((d = dest_lookup(s, key)) == NULL)
		d = dest_create(s, key, dom, dom, SCHED_SMTP_PORT, true);
	return d;
}

/* Configured destinations (relay host, routes) fail temporarily on DNS
 * errors: a wrong name in the config must not bounce the queue. */
static bool
dest_configured(const struct dest *d)
{
	return strncmp(d->key, "relay", 5) == 0 || strncmp(d->key, "route:", 6) == 0;
}

/*
 * The destination has work it may start: list it and wake the dispatcher.
 * The wake-up is needed even when it is listed already: a pass that ran
 * while no queue manager was linked leaves the list as it was, and the jobs
 * enqueued once the queue is listed again must not wait for an unrelated
 * event to be looked at.
 */
void
sched_dest_ready(struct sched *s, struct dest *d)
{
	if (d->nwaiting == 0 || d->res != RES_DONE || d->err_cls != DELIVERY_OK)
		return;
	if (!d->on_ready) {
		TAILQ_INSERT_TAIL(&s->ready, d, ready_entry);
		d->on_ready = true;
	}
	event_active(s->dispatch_ev, EV_TIMEOUT, 0);
}

void
sched_dest_enqueue(struct sched *s, struct dest *d, struct job *j)
{
	if (d->res == RES_DONE && d->expires <= s->now())
		d->res = RES_NONE;
	if (d->res == RES_DONE && d->err_cls != DELIVERY_OK) {
		sched_job_fail(s, j, d->err_cls, 0, d->err_dsn, d->err_reply);
		return;
	}
	j->dest = d;
	TAILQ_INSERT_TAIL(&d->waiting, j, dest_entry);
	j->queued = true;
	d->nwaiting++;
	s->nwaiting++;
	if (d->res == RES_NONE) {
		strlcpy(d->res_id, j->id, sizeof(d->res_id));
		dest_resolve(s, d);
	} else
		sched_dest_ready(s, d);
}

uint8_t
sched_dns_families(const struct sched *s)
{
	switch (s->conf->inet_protocols) {
	case INET_IPV4:
		return DNS_FAM_V4;
	case INET_IPV6:
		return DNS_FAM_V6;
	default:
		return DNS_FAM_V4 | DNS_FAM_V6;
	}
}

void
sched_dnsq_send(struct sched *s, struct dest *d, enum dnsq_kind kind, unsigned host)
{
	struct dnsq	*q;
	struct fbuf	*fb;

	q = xcalloc(1, sizeof(*q));
	q->reqid = sched_reqid(s);
	q->kind = kind;
	q->dest = d;
	q->host = host;
	if (kind == DNSQ_MX) {
		fb = fbuf_new(MSG_DNS_QUERY_MX, q->reqid);
		fbuf_add_str(fb, d->lookup);
	} else if (kind == DNSQ_TLSA) {
		fb = fbuf_new(MSG_DNS_QUERY_TLSA, q->reqid);
		fbuf_add_str(fb, d->hosts[host].mx.host);
		fbuf_add_u16(fb, d->port);
	} else if (kind == DNSQ_TXT || kind == DNSQ_STS_ADDR) {
		char	 name[HOSTNAME_MAX + 16];

		snprintf(name, sizeof(name), "%s.%s", kind == DNSQ_TXT ? "_mta-sts" : "mta-sts",
		    d->lookup);
		if (kind == DNSQ_TXT) {
			fb = fbuf_new(MSG_DNS_QUERY_TXT, q->reqid);
			fbuf_add_str(fb, name);
		} else {
			fb = fbuf_new(MSG_DNS_QUERY_ADDR, q->reqid);
			fbuf_add_str(fb, name);
			fbuf_add_u8(fb, sched_dns_families(s));
		}
	} else {
		fb = fbuf_new(MSG_DNS_QUERY_ADDR, q->reqid);
		fbuf_add_str(fb, d->hosts[host].mx.host);
		fbuf_add_u8(fb, sched_dns_families(s) |
		    (d->use_mx && !d->implicit ? DNS_FAM_MXTARGET : 0));
	}
	RB_INSERT(sched_dnsq_tree, &s->dnsqs, q);
	d->pending++;
	if (chan_send(s->resolver, fb) == -1)
		log_warnx("resolver: cannot send a query");	/* the link is going away */
}

static void
dest_hosts_reset(struct dest *d)
{
	free(d->hosts);
	d->hosts = NULL;
	d->nhosts = 0;
	d->implicit = false;
}

/* Look up the addresses of d->hosts[0..n-1]. */
static void
dest_query_hosts(struct sched *s, struct dest *d)
{
	unsigned	i;

	for (i = 0; i < d->nhosts; i++)
		sched_dnsq_send(s, d, DNSQ_ADDR, i);
}

static void
dest_resolve(struct sched *s, struct dest *d)
{
	if (d->res != RES_NONE)
		return;
	if (d->is_ip) {
		d->res = RES_DONE;
		d->expires = UINT64_MAX;
		sched_dest_ready(s, d);
		return;
	}
	if (s->resolver == NULL)
		return;		/* sched_dest_resolver_up() starts it */
	d->res = RES_BUSY;
	d->res_started = s->now();
	d->ttl = SCHED_CACHE_TTL_MAX;
	d->pending = 0;
	d->sts_wait = false;
	d->naddrs = 0;
	d->per_addr = false;
	d->mx_dnssec = DNSSEC_SECURE;	/* no MX lookup: only the addresses count */
	dest_hosts_reset(d);
	sched_dane_reset(d);
	if (d->use_mx) {
		sched_dnsq_send(s, d, DNSQ_MX, 0);
		return;
	}
	d->hosts = xcalloc(1, sizeof(*d->hosts));
	d->nhosts = 1;
	strlcpy(d->hosts[0].mx.host, d->lookup, sizeof(d->hosts[0].mx.host));
	dest_query_hosts(s, d);
}

/* Every waiting transaction fails with this error. */
static void
dest_error(struct sched *s, struct dest *d, int cls, uint16_t code, const char *dsn,
    bool cache, const char *fmt, ...)
{
	va_list		 ap;
	struct job	*j;

	va_start(ap, fmt);
	vsnprintf(d->err_reply, sizeof(d->err_reply), fmt, ap);
	va_end(ap);
	if (cls == DELIVERY_PERMFAIL && dest_configured(d))
		cls = DELIVERY_TEMPFAIL;
	if (cls == DELIVERY_TEMPFAIL) {
		dsn = "4.4.3";
		cache = false;
	}
	strlcpy(d->err_dsn, dsn, sizeof(d->err_dsn));
	d->err_cls = cls;
	d->res = RES_DONE;
	d->expires = cache ? s->now() + d->ttl : s->now();
	d->pending = 0;
	dest_hosts_reset(d);
	if (d->on_ready) {
		TAILQ_REMOVE(&s->ready, d, ready_entry);
		d->on_ready = false;
	}
	while ((j = TAILQ_FIRST(&d->waiting)) != NULL) {
		TAILQ_REMOVE(&d->waiting, j, dest_entry);
		j->queued = false;
		d->nwaiting--;
		s->nwaiting--;
		j->dest = NULL;
		sched_job_fail(s, j, cls, code, d->err_dsn, d->err_reply);
	}
}

static const char *
dns_status_name(uint8_t st)
{
	static const char *names[] = { "ok", "domain not found", "no record",
	    "null MX", "temporary failure", "bad answer" };

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static const char *
dns_sec_name(uint8_t sec)
{
	return sec == DNSSEC_SECURE ? "secure" : sec == DNSSEC_BOGUS ? "bogus" :
	    "insecure";
}

static void
dest_ttl(struct dest *d, uint32_t ttl)
{
	if (ttl < d->ttl)
		d->ttl = ttl;
}

static void
dest_mx_answer(struct sched *s, struct dest *d, uint8_t status, uint8_t sec,
    uint32_t ttl, struct mx *mx, size_t n)
{
	char		 list[1024];
	size_t		 i, keep;
	bool		 loop;
	int		 w;

	dest_ttl(d, ttl);
	d->mx_dnssec = sec;
	switch (status) {
	case DNS_OK:
		if (n > 0)
			break;
		/* FALLTHROUGH */
	case DNS_NODATA:
		log_info("%s: MX lookup for %s: no MX record, using the domain's "
		    "addresses (ttl %u, %s)", d->res_id, d->lookup, ttl, dns_sec_name(sec));
		d->hosts = xcalloc(1, sizeof(*d->hosts));
		d->nhosts = 1;
		d->implicit = true;
		strlcpy(d->hosts[0].mx.host, d->lookup, sizeof(d->hosts[0].mx.host));
		dest_query_hosts(s, d);
		return;
	case DNS_NULLMX:
		log_info("%s: MX lookup for %s: null MX, the domain accepts no mail",
		    d->res_id, d->lookup);
		dest_error(s, d, DELIVERY_PERMFAIL, 556, "5.1.10", true,
		    "domain %s has a null MX and accepts no mail", d->lookup);
		return;
	case DNS_NXDOMAIN:
		log_info("%s: MX lookup for %s: domain not found", d->res_id, d->lookup);
		dest_error(s, d, DELIVERY_PERMFAIL, 0, "5.1.2", true,
		    "domain %s not found", d->lookup);
		return;
	default:
		log_info("%s: MX lookup for %s: %s", d->res_id, d->lookup,
		    dns_status_name(status));
		dest_error(s, d, DELIVERY_TEMPFAIL, 0, "4.4.3", false,
		    "MX lookup for %s: %s", d->lookup, dns_status_name(status));
		return;
	}

	sched_mx_sort(mx, n, mx_random);
	keep = sched_mx_cut_self(mx, n, s->conf->helo_name, &loop);
	if (loop) {
		log_info("%s: MX lookup for %s: best MX %s is this host: mail loop",
		    d->res_id, d->lookup, mx[0].host);
		dest_error(s, d, DELIVERY_PERMFAIL, 0, "5.4.6", true,
		    "mail for %s loops back to myself", d->lookup);
		return;
	}
	if (keep > SCHED_MX_QUERY_MAX)
		keep = SCHED_MX_QUERY_MAX;
	list[0] = '\0';
	for (i = 0, w = 0; i < keep && w >= 0 && (size_t)w < sizeof(list); i++)
		w += snprintf(list + w, sizeof(list) - (size_t)w, "%s%u %s",
		    i ? ", " : "", mx[i].pref, mx[i].host);
	log_info("%s: MX lookup for %s: %s (ttl %u, %s)", d->res_id, d->lookup, list,
	    ttl, dns_sec_name(sec));
	d->hosts = xcalloc(keep, sizeof(*d->hosts));
	d->nhosts = (unsigned)keep;
	for (i = 0; i < keep; i++)
		d->hosts[i].mx = mx[i];
	dest_query_hosts(s, d);
}

static void
dest_add_addrs(struct dest *d, const struct dest_host *h, uint8_t family, uint8_t tls,
    uint8_t dane)
{
	unsigned	 i;

	for (i = 0; i < h->naddr && d->naddrs < SCHED_ADDRS_MAX; i++) {
		struct sched_addr *a = &d->addrs[d->naddrs];

		if (h->a[i].family != family)
			continue;
		memset(a, 0, sizeof(*a));
		a->family = family;
		memcpy(a->addr, h->a[i].addr, sizeof(a->addr));
		a->port = d->port;
		strlcpy(a->host, h->mx.host, sizeof(a->host));
		a->tls = tls;
		a->dane = dane;
		d->naddrs++;
	}
}

/* Every address answer is in: the list to try, in MX order. */
static void
dest_assemble(struct sched *s, struct dest *d)
{
	unsigned	 i;
	bool		 temp = false;
	uint8_t		 st = DNS_NODATA, tls, dane;
	const char	*dane_why = NULL, *why;

	d->naddrs = 0;
	sched_dane_reset(d);
	for (i = 0; i < d->nhosts; i++) {
		struct dest_host *h = &d->hosts[i];

		if (h->status != DNS_OK || h->naddr == 0) {
			if (h->status == DNS_TEMPFAIL || h->status == DNS_PERMFAIL)
				temp = true;
			st = h->status;
			if (d->use_mx && !d->implicit)
				log_info("%s: MX host %s of %s skipped: %s", d->res_id,
				    h->mx.host, d->lookup, h->status == DNS_OK ?
				    "no address" : dns_status_name(h->status));
			continue;
		}
		/* RFC 7672: a host whose TLSA records cannot be trusted is not used now */
		if (!sched_dane_host(s, d, h, &tls, &dane, &why)) {
			log_info("%s: host %s of %s skipped: %s", d->res_id, h->mx.host,
			    d->lookup, why);
			dane_why = why;
			continue;
		}
		/* IPv4 first when both are wanted, then IPv6 as the fallback */
		if (s->conf->inet_protocols != INET_IPV6)
			dest_add_addrs(d, h, 4, tls, dane);
		if (s->conf->inet_protocols != INET_IPV4)
			dest_add_addrs(d, h, 6, tls, dane);
	}
	if (d->naddrs == 0) {
		if (dane_why != NULL)
			dest_error(s, d, DELIVERY_TEMPFAIL, 0, "4.7.5", false,
			    "no usable host for %s: %s", d->lookup, dane_why);
		else if (temp)
			dest_error(s, d, DELIVERY_TEMPFAIL, 0, "4.4.3", false,
			    "address lookup for %s failed temporarily", d->lookup);
		else if (st == DNS_NXDOMAIN && !(d->use_mx && !d->implicit))
			dest_error(s, d, DELIVERY_PERMFAIL, 0, "5.1.2", true,
			    "host %s not found", d->lookup);
		else
			dest_error(s, d, DELIVERY_PERMFAIL, 0, "5.4.4", true,
			    "no address found for %s", d->lookup);
		return;
	}
	sched_shape_mx(s, d);
	/* MTA-STS (when on, and no DANE) may still narrow the list: it finishes later */
	if (sched_sts_start(s, d))
		return;
	sched_dest_finish(s, d);
}

void
sched_dest_defer(struct sched *s, struct dest *d, const char *dsn, const char *reply)
{
	dest_error(s, d, DELIVERY_TEMPFAIL, 0, dsn, false, "%s", reply);
}

void
sched_dest_finish(struct sched *s, struct dest *d)
{
	unsigned	 i;
	char		 ip[INET6_ADDRSTRLEN];

	dest_hosts_reset(d);
	d->res = RES_DONE;
	d->err_cls = DELIVERY_OK;
	d->expires = s->now() + d->ttl;
	/* outpostctl trace @domain: this destination's DNS activity too */
	log_trace(trace_wants(NULL, d->name, NULL));
	if (log_detailed()) {
		for (i = 0; i < d->naddrs; i++) {
			inet_ntop(d->addrs[i].family == 4 ? AF_INET : AF_INET6,
			    d->addrs[i].addr, ip, sizeof(ip));
			log_detail("%s: destination %s address %u: %s[%s]:%u", d->res_id,
			    d->name, i + 1, d->addrs[i].host, ip, d->addrs[i].port);
		}
	}
	log_trace(false);
	sched_dest_ready(s, d);
}

/* Every answer of a resolution is in (TLSA answers come last). */
void
sched_dest_addrs_done(struct sched *s, struct dest *d)
{
	dest_assemble(s, d);
}

static int
dns_mx_frame(struct sched *s, struct frame *f, struct dest *d)
{
	uint8_t		 status, sec;
	uint32_t	 ttl;
	uint16_t	 n, i;
	struct mx	*mx = NULL;

	if (!frame_get_u8(f, &status) || !frame_get_u8(f, &sec) ||
	    !frame_get_u32(f, &ttl) || !frame_get_u16(f, &n) ||
	    status > DNS_PERMFAIL || sec > DNSSEC_BOGUS || n > SCHED_MX_MAX)
		return -1;
	mx = xcalloc(n ? n : 1, sizeof(*mx));
	for (i = 0; i < n; i++) {
		if (!frame_get_u16(f, &mx[i].pref) ||
		    !frame_get_str(f, mx[i].host, sizeof(mx[i].host)) ||
		    mx[i].host[0] == '\0') {
			free(mx);
			return -1;
		}
	}
	if (!frame_end(f)) {
		free(mx);
		return -1;
	}
	if (d != NULL)
		dest_mx_answer(s, d, status, sec, ttl, mx, n);
	free(mx);
	return 0;
}

static int
dns_addrs_frame(struct sched *s, struct frame *f, struct dest *d, unsigned hidx)
{
	uint8_t		 status, sec, fam;
	uint32_t	 ttl;
	uint16_t	 n, i;
	uint8_t		 a[16];
	struct dest_host *h = NULL, dummy;

	if (d != NULL && hidx < d->nhosts)
		h = &d->hosts[hidx];
	else
		h = &dummy;
	memset(h->a, 0, sizeof(h->a));
	h->naddr = 0;
	if (!frame_get_u8(f, &status) || !frame_get_u8(f, &sec) ||
	    !frame_get_u32(f, &ttl) || !frame_get_u16(f, &n) ||
	    status > DNS_PERMFAIL || sec > DNSSEC_BOGUS || n > 64)
		return -1;
	for (i = 0; i < n; i++) {
		if (!sched_get_addr(f, &fam, a))
			return -1;
		if (h->naddr < SCHED_ADDRS_MAX) {
			h->a[h->naddr].family = fam;
			memcpy(h->a[h->naddr].addr, a, sizeof(a));
			h->naddr++;
		}
	}
	if (!frame_end(f))
		return -1;
	if (d == NULL || h == &dummy)
		return 0;
	h->done = true;
	h->status = status;
	h->dnssec = sec;
	h->ttl = ttl;
	if (status == DNS_OK)
		dest_ttl(d, ttl);
	log_trace(trace_wants(NULL, d->name, NULL));
	log_detail("%s: addresses of %s: %s, %u found (ttl %u, %s)", d->res_id,
	    h->mx.host, dns_status_name(status), h->naddr, ttl, dns_sec_name(sec));
	log_trace(false);
	sched_dane_query(s, d, hidx);
	if (d->pending == 0)
		dest_assemble(s, d);
	return 0;
}

int
sched_dest_dns_frame(struct sched *s, struct frame *f)
{
	struct dnsq	 key, *q;
	struct dest	*d = NULL;
	unsigned	 host = 0;
	enum dnsq_kind	 kind;

	key.reqid = f->hdr.reqid;
	kind = DNSQ_ADDR;
	if ((q = RB_FIND(sched_dnsq_tree, &s->dnsqs, &key)) != NULL) {
		RB_REMOVE(sched_dnsq_tree, &s->dnsqs, q);
		d = q->dest;
		host = q->host;
		kind = q->kind;
		free(q);
		if (d != NULL) {
			if (d->pending > 0)
				d->pending--;
			if ((kind == DNSQ_MX) != (f->hdr.type == MSG_DNS_MX) ||
			    (kind == DNSQ_TLSA) != (f->hdr.type == MSG_DNS_TLSA) ||
			    (kind == DNSQ_TXT) != (f->hdr.type == MSG_DNS_TXT) ||
			    kind == DNSQ_STS) {
				log_warnx("resolver: answer of the wrong type");
				return -1;
			}
		}
	}
	if (d != NULL && d->res != RES_BUSY)
		d = NULL;
	if (f->hdr.type == MSG_DNS_MX)
		return dns_mx_frame(s, f, d);
	if (f->hdr.type == MSG_DNS_TLSA)
		return sched_dane_tlsa_frame(s, f, d, host);
	if (f->hdr.type == MSG_DNS_TXT)
		return sched_sts_txt_frame(s, f, d);
	if (kind == DNSQ_STS_ADDR)
		return sched_sts_addr_frame(s, f, d);
	return dns_addrs_frame(s, f, d, host);
}

/* Queries in flight are lost with the resolver: ask again on the next link. */
void
sched_dest_resolver_lost(struct sched *s)
{
	struct dnsq	*q;
	struct dest	*d;

	while ((q = RB_MIN(sched_dnsq_tree, &s->dnsqs)) != NULL) {
		RB_REMOVE(sched_dnsq_tree, &s->dnsqs, q);
		free(q);
	}
	RB_FOREACH(d, sched_dest_tree, &s->dests) {
		if (d->res == RES_BUSY) {
			d->res = RES_NONE;
			d->pending = 0;
			d->sts_wait = false;
			dest_hosts_reset(d);
		}
	}
}

void
sched_dest_resolver_up(struct sched *s)
{
	struct dest	*d;

	RB_FOREACH(d, sched_dest_tree, &s->dests)
		if (d->res == RES_NONE && d->nwaiting > 0)
			dest_resolve(s, d);
}

static void
dest_free(struct sched *s, struct dest *d)
{
	RB_REMOVE(sched_dest_tree, &s->dests, d);
	s->ndests--;
	sched_shape_detach(s, d);
	sched_probe_detach(s, d);
	dest_hosts_reset(d);
	sched_dane_reset(d);
	free(d);
}

/*
 * Every few seconds: give up on resolutions that take too long, start the
 * ones that waited for a resolver, and keep the cache bounded by dropping
 * idle destinations whose answer expired (or any idle one past the bound).
 */
void
sched_dest_tick(struct sched *s)
{
	struct dest	*d, *next;
	struct dnsq	*q;
	uint64_t	 now = s->now();

	sched_dead_prune(s);
	RB_FOREACH_SAFE(d, sched_dest_tree, &s->dests, next) {
		if (d->res == RES_BUSY && now - d->res_started > SCHED_RESOLVE_TIMEOUT) {
			RB_FOREACH(q, sched_dnsq_tree, &s->dnsqs)
				if (q->dest == d)
					q->dest = NULL;
			if (d->sts_wait) {
				log_info("%s: no MTA-STS process to ask about %s", d->res_id,
				    d->lookup);
				dest_error(s, d, DELIVERY_TEMPFAIL, 0, "4.4.3", false,
				    "MTA-STS policy of %s unknown: no MTA-STS process", d->lookup);
			} else {
				log_info("%s: DNS lookup for %s timed out", d->res_id, d->lookup);
				dest_error(s, d, DELIVERY_TEMPFAIL, 0, "4.4.3", false,
				    "DNS lookup for %s timed out", d->lookup);
			}
		}
		if (d->res == RES_NONE && d->nwaiting > 0)
			dest_resolve(s, d);
		if (d->res != RES_BUSY && d->nwaiting == 0 && d->active == 0 &&
		    !d->on_ready && (d->expires <= now || s->ndests > SCHED_DESTS_MAX))
			dest_free(s, d);
	}
}
