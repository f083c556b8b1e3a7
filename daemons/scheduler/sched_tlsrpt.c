/* SPDX-License-Identifier: ISC */
/*
 * sched_tlsrpt.c - the scheduler's part of TLS reporting (RFC 8460). It
 * knows which policy applied to a delivery (DANE records of the MX host, an
 * MTA-STS policy of the recipient domain, or none), so it turns an agent's
 * MSG_AGENT_TLS_SESSION into a MSG_TLSRPT_COUNT for the sts process, which
 * keeps the counters. The sts process talks to nothing else, so the
 * scheduler also carries its two questions: _smtp._tls.<domain> TXT to the
 * resolver (TLSRPT_LOOKUP, answered TLSRPT_RUA), the addresses of an https:
 * report host (TLSRPT_RESOLVE, answered TLSRPT_ADDRS) and report mails to the
 * queue manager (TLSRPT_MAIL, answered TLSRPT_QUEUED), routed unread.
 * No new link: scheduler<->agent, <->resolver, <->qmgr and <->sts exist.
 * Called by scheduler.c's dispatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "tlsrpt.h"
#include "xmalloc.h"

#define RUA_PENDING_MAX	256	/* TXT lookups in flight for the sts process */

struct rua_q {
	bool		 addrs;		/* TLSRPT_RESOLVE, else TLSRPT_LOOKUP */
	uint32_t	 dns_reqid;	/* ours, to the resolver */
	uint32_t	 sts_reqid;	/* the sts process's */
	char		 domain[HOSTNAME_MAX];
};

static struct rua_q	 ruaq[RUA_PENDING_MAX];
static unsigned		 nruaq;

static struct job *
job_by_reqid(struct sched *s, uint32_t reqid)
{
	struct job	 key;

	key.reqid = reqid;
	return RB_FIND(sched_job_tree, &s->jobs, &key);
}

static void
count_send(struct sched *s, const char *domain, unsigned type, unsigned result,
    const char *mx, const char *ip, const struct dest_dane *dane, const char *local)
{
	struct fbuf	*fb;
	char		 line[16 + 2 * DANE_DATA_MAX];
	unsigned	 i, k, n = dane != NULL ? dane->nrr : 0;

	if (s->sts == NULL || !s->conf->tlsrpt)
		return;
	fb = fbuf_new(MSG_TLSRPT_COUNT, 0);
	fbuf_add_str(fb, domain);
	fbuf_add_u8(fb, (uint8_t)type);
	fbuf_add_u8(fb, (uint8_t)result);
	fbuf_add_str(fb, mx);
	fbuf_add_str(fb, ip);
	fbuf_add_u16(fb, (uint16_t)n);
	for (i = 0; i < n; i++) {
		const struct dane_rr *r = &dane->rr[i];
		int w = snprintf(line, sizeof(line), "%u %u %u ", r->usage, r->selector, r->mtype);

		/* presentation form, as RFC 8460 4.4 asks of a tlsa policy-string */
		for (k = 0; k < r->len && w > 0 && (size_t)w + 3 < sizeof(line); k++)
			w += snprintf(line + w, sizeof(line) - (size_t)w, "%02x", r->data[k]);
		fbuf_add_str(fb, line);
	}
	fbuf_add_str(fb, local);
	if (chan_send(s->sts, fb) == -1)
		log_debug("cannot count a TLS session");
}

void
sched_tlsrpt_policy_failure(struct sched *s, const struct dest *d, unsigned type,
    unsigned result, const char *mx)
{
	if (d != NULL && strncmp(d->key, "mx:", 3) == 0)
		count_send(s, d->lookup, type, result, mx != NULL ? mx : "", "", NULL, "");
}

int
sched_tlsrpt_session(struct sched *s, unsigned agent, struct frame *f)
{
	char		 host[HOSTNAME_MAX], ip[64], local[64];
	uint8_t		 outcome;
	uint32_t	 verr;
	struct job	*j;
	struct dest	*d;
	const struct sched_addr *a = NULL;
	const struct dest_dane *dane = NULL;
	unsigned	 i, type;

	if (!frame_get_str(f, host, sizeof(host)) || !frame_get_str(f, ip, sizeof(ip)) ||
	    !frame_get_u8(f, &outcome) || !frame_get_u32(f, &verr) ||
	    !frame_get_str(f, local, sizeof(local)) || !frame_end(f) ||
	    outcome > TLSO_MAX) {
		log_warnx("agent %u: malformed %s", agent, msg_name(f->hdr.type));
		return -1;
	}
	if ((j = job_by_reqid(s, f->hdr.reqid)) == NULL || (d = j->dest) == NULL ||
	    strncmp(d->key, "mx:", 3) != 0)
		return 0;	/* a relay host or route: no policy domain to report for */
	for (i = 0; i < d->naddrs; i++)
		if (strcasecmp(d->addrs[i].host, host) == 0) {
			a = &d->addrs[i];
			break;
		}
	if (a != NULL && a->tls == TLS_DANE) {
		type = TLSRPT_TLSA;
		if (a->dane < d->ndane)
			dane = &d->dane[a->dane];
	} else if (d->sts_mode != STS_MODE_NONE)
		type = TLSRPT_STS;
	else
		type = TLSRPT_NO_POLICY;
	count_send(s, d->lookup, type, tlsrpt_classify(type, outcome, (long)verr), host, ip,
	    dane, local);
	return 0;
}

static void
answer_fail(struct sched *s, bool addrs, uint32_t reqid, const char *domain)
{
	struct fbuf	*fb;

	if (s->sts == NULL)
		return;
	fb = fbuf_new(addrs ? MSG_TLSRPT_ADDRS : MSG_TLSRPT_RUA, reqid);
	if (!addrs)
		fbuf_add_str(fb, domain);
	fbuf_add_u8(fb, DNS_TEMPFAIL);
	fbuf_add_u16(fb, 0);
	chan_send(s->sts, fb);
}

/* sts -> scheduler: where a domain wants its reports, or a report host's addresses. */
static int
rua_lookup(struct sched *s, struct frame *f, bool addrs)
{
	char		 domain[HOSTNAME_MAX], name[HOSTNAME_MAX + 16];
	struct fbuf	*fb;
	struct rua_q	*q;

	if (!frame_get_str(f, domain, sizeof(domain)) || !frame_end(f) || domain[0] == '\0')
		return -1;
	if (s->resolver == NULL || nruaq == RUA_PENDING_MAX ||
	    (size_t)snprintf(name, sizeof(name), addrs ? "%s" : "_smtp._tls.%s", domain) >=
	    sizeof(name)) {
		answer_fail(s, addrs, f->hdr.reqid, domain);
		return 0;
	}
	q = &ruaq[nruaq++];
	q->addrs = addrs;
	q->dns_reqid = sched_reqid(s);
	q->sts_reqid = f->hdr.reqid;
	strlcpy(q->domain, domain, sizeof(q->domain));
	if (addrs) {
		fb = fbuf_new(MSG_DNS_QUERY_ADDR, q->dns_reqid);
		fbuf_add_str(fb, name);
		fbuf_add_u8(fb, sched_dns_families(s));
	} else {
		fb = fbuf_new(MSG_DNS_QUERY_TXT, q->dns_reqid);
		fbuf_add_str(fb, name);
	}
	if (chan_send(s->resolver, fb) == -1)
		log_warnx("resolver: cannot send a query");
	return 0;
}

int
sched_tlsrpt_dns_frame(struct sched *s, struct frame *f)
{
	struct rua_q	 q;
	struct fbuf	*fb;
	uint8_t		 status, sec;
	uint32_t	 ttl;
	uint16_t	 n, i;
	char		 text[STS_TXT_MAX];
	unsigned	 k;

	uint8_t		 fam, a[16];

	for (k = 0; k < nruaq && ruaq[k].dns_reqid != f->hdr.reqid; k++)
		;
	if (k == nruaq || f->hdr.type != (ruaq[k].addrs ? MSG_DNS_ADDRS : MSG_DNS_TXT))
		return 0;
	q = ruaq[k];
	ruaq[k] = ruaq[--nruaq];
	if (!frame_get_u8(f, &status) || !frame_get_u8(f, &sec) || !frame_get_u32(f, &ttl) ||
	    !frame_get_u16(f, &n))
		return -1;
	fb = fbuf_new(q.addrs ? MSG_TLSRPT_ADDRS : MSG_TLSRPT_RUA, q.sts_reqid);
	if (!q.addrs)
		fbuf_add_str(fb, q.domain);
	fbuf_add_u8(fb, status);
	fbuf_add_u16(fb, n);
	for (i = 0; i < n; i++) {
		if (q.addrs) {
			if (!sched_get_addr(f, &fam, a)) {
				fbuf_free(fb);
				return -1;
			}
			sched_put_addr(fb, fam, a);
			continue;
		}
		if (!frame_get_str(f, text, sizeof(text))) {
			fbuf_free(fb);
			return -1;
		}
		fbuf_add_str(fb, text);
	}
	if (!frame_end(f)) {
		fbuf_free(fb);
		return -1;
	}
	if (s->sts == NULL || chan_send(s->sts, fb) == -1) {
		if (s->sts == NULL)
			fbuf_free(fb);
	}
	return 1;
}

/* Pass a frame on as it came, unread (the receiver checks it). */
static void
forward(struct chan *to, struct frame *f)
{
	struct fbuf	*fb = fbuf_new(f->hdr.type, f->hdr.reqid);

	fbuf_add_raw(fb, f->p + f->off, f->len - f->off);
	f->off = f->len;
	if (to == NULL) {
		fbuf_free(fb);
		return;
	}
	chan_send(to, fb);
}

int
sched_tlsrpt_sts_frame(struct sched *s, struct frame *f)
{
	struct fbuf	*fb;

	switch (f->hdr.type) {
	case MSG_TLSRPT_LOOKUP:
		return rua_lookup(s, f, false);
	case MSG_TLSRPT_RESOLVE:
		return rua_lookup(s, f, true);
	case MSG_TLSRPT_MAIL:
		if (s->qmgr == NULL) {
			f->off = f->len;
			fb = fbuf_new(MSG_TLSRPT_QUEUED, f->hdr.reqid);
			fbuf_add_u8(fb, 0);
			fbuf_add_str(fb, "the queue manager is not linked");
			chan_send(s->sts, fb);
			return 0;
		}
		forward(s->qmgr, f);
		return 0;
	}
	log_warnx("sts: unexpected %s", msg_name(f->hdr.type));
	return -1;
}

int
sched_tlsrpt_qmgr_frame(struct sched *s, struct frame *f)
{
	forward(s->sts, f);
	return 0;
}

void
sched_tlsrpt_resolver_lost(struct sched *s)
{
	/* the sts process hears of each: it sends no report to those domains this time */
	while (nruaq > 0) {
		struct rua_q *q = &ruaq[--nruaq];

		answer_fail(s, q->addrs, q->sts_reqid, q->domain);
	}
}
