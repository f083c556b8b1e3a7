/* SPDX-License-Identifier: ISC */
/*
 * resolver_query.c - the scheduler's questions in flight: each becomes one
 * (MX) or up to two (A and AAAA) asynchronous libunbound queries, and one
 * typed answer frame when they are all back or when RESOLVER_TIMEOUT
 * passes. Run by the resolver; called from the scheduler link (resolver.c)
 * and from libunbound's callbacks inside ub_process().
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <unbound.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "trace.h"
#include "metrics.h"
#include "proc.h"
#include "resolver.h"
#include "xmalloc.h"

#define RR_A	1
#define RR_MX	15
#define RR_AAAA	28

static const char *
status_name(uint8_t st)
{
	static const char *names[] = { "ok", "NXDOMAIN", "no data", "null MX",
	    "temporary failure", "bad answer" };

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static const char *
sec_name(uint8_t sec)
{
	return sec == DNSSEC_SECURE ? "secure" : sec == DNSSEC_BOGUS ? "bogus" : "insecure";
}

static void
query_free(struct resolver *r, struct rquery *q)
{
	unsigned	i;

	for (i = 0; i < q->nsub; i++)
		if (q->sub[i].busy)
			ub_cancel(r->ub, q->sub[i].async_id);
	TAILQ_REMOVE(&r->queries, q, entry);
	r->nqueries--;
	if (q->timeout != NULL)
		event_free(q->timeout);
	free(q);
}

/* One answer in the metrics: its result and how long it took. */
static void
count_answer(const struct rquery *q, uint8_t status)
{
	static const unsigned ids[] = { MET_DNS_OK, MET_DNS_NXDOMAIN, MET_DNS_NODATA,
	    MET_DNS_NULLMX, MET_DNS_TEMPFAIL, MET_DNS_PERMFAIL };
	struct timespec	now;

	if (status < sizeof(ids) / sizeof(ids[0]))
		metric_inc(ids[status]);
	clock_gettime(CLOCK_MONOTONIC, &now);
	metric_observe(MET_H_DNS, (now.tv_sec - q->start.tv_sec) +
	    (now.tv_nsec - q->start.tv_nsec) / 1e9);
}

static void
send_frame(struct resolver *r, struct fbuf *fb)
{
	if (r->sched == NULL) {
		fbuf_free(fb);
		return;
	}
	if (chan_send(r->sched, fb) == -1)
		log_warnx("cannot answer the scheduler");
}

/* The answer to a question that was not even asked. */
static void
answer_error(struct resolver *r, uint16_t qtype, uint32_t reqid, uint8_t status)
{
	struct fbuf	*fb;

	if (qtype == MSG_DNS_QUERY_TXT) {
		fb = fbuf_new(MSG_DNS_TXT, reqid);
		fbuf_add_u8(fb, status);
		fbuf_add_u8(fb, DNSSEC_INSECURE);
		fbuf_add_u32(fb, 0);
		fbuf_add_u16(fb, 0);
		send_frame(r, fb);
		return;
	}
	if (qtype == MSG_DNS_QUERY_TLSA) {
		fb = fbuf_new(MSG_DNS_TLSA, reqid);
		fbuf_add_u8(fb, status);
		fbuf_add_u8(fb, DNSSEC_INSECURE);
		fbuf_add_u32(fb, 0);
		fbuf_add_u16(fb, 0);
		fbuf_add_u16(fb, 0);
		send_frame(r, fb);
		return;
	}

	fb = fbuf_new(qtype == MSG_DNS_QUERY_MX ? MSG_DNS_MX : MSG_DNS_ADDRS, reqid);
	fbuf_add_u8(fb, status);
	fbuf_add_u8(fb, DNSSEC_INSECURE);
	fbuf_add_u32(fb, 0);
	fbuf_add_u16(fb, 0);
	send_frame(r, fb);
}

/* Combine the A and AAAA halves: addresses if either has some, else the more telling failure. */
static void
answer_addrs(struct resolver *r, struct rquery *q)
{
	struct ranswer	 a = { DNS_NODATA, DNSSEC_SECURE, UINT32_MAX };
	struct fbuf	*fb;
	unsigned	 i, j, n = 0;
	bool		 ok = false, temp = false, nx = false, perm = false;
	char		 ip[INET6_ADDRSTRLEN], list[512];
	int		 w = 0;

	for (i = 0; i < q->nsub; i++) {
		struct rsub *s = &q->sub[i];

		if (s->busy)
			s->ans.status = DNS_TEMPFAIL;	/* timed out */
		if (s->ans.status == DNS_OK && s->naddr > 0)
			ok = true;
		temp |= s->ans.status == DNS_TEMPFAIL;
		perm |= s->ans.status == DNS_PERMFAIL;
		nx |= s->ans.status == DNS_NXDOMAIN;
		if (s->ans.dnssec == DNSSEC_BOGUS)
			a.dnssec = DNSSEC_BOGUS;
		else if (s->ans.dnssec == DNSSEC_INSECURE && a.dnssec == DNSSEC_SECURE)
			a.dnssec = DNSSEC_INSECURE;
		if (s->ans.ttl < a.ttl)
			a.ttl = s->ans.ttl;
		n += (unsigned)s->naddr;
	}
	if (a.ttl == UINT32_MAX)
		a.ttl = 0;
	a.status = ok ? DNS_OK : temp ? DNS_TEMPFAIL : perm ? DNS_PERMFAIL :
	    nx ? DNS_NXDOMAIN : DNS_NODATA;
	if (!ok)
		n = 0;

	fb = fbuf_new(MSG_DNS_ADDRS, q->reqid);
	fbuf_add_u8(fb, a.status);
	fbuf_add_u8(fb, a.dnssec);
	fbuf_add_u32(fb, a.ttl);
	fbuf_add_u16(fb, (uint16_t)n);
	list[0] = '\0';
	for (i = 0; i < q->nsub && ok; i++) {
		struct rsub *s = &q->sub[i];

		for (j = 0; j < s->naddr; j++) {
			fbuf_add_u8(fb, s->family);
			fbuf_add_raw(fb, s->addrs[j], 16);
			inet_ntop(s->family == 4 ? AF_INET : AF_INET6, s->addrs[j], ip,
			    sizeof(ip));
			if (w >= 0 && (size_t)w < sizeof(list))
				w += snprintf(list + w, sizeof(list) - (size_t)w, "%s%s",
				    w ? " " : "", ip);
		}
	}
	count_answer(q, a.status);
	log_trace(trace_wants(NULL, q->name, NULL));
	log_detail("answer %s addresses: %s%s%s (ttl %u, %s)", q->name,
	    status_name(a.status), n ? ": " : "", list, a.ttl, sec_name(a.dnssec));
	log_trace(false);
	send_frame(r, fb);
}

static void
answer_mx(struct resolver *r, struct rquery *q, struct ranswer *a, struct rmx *mx,
    size_t n)
{
	struct fbuf	*fb;
	size_t		 i;
	char		 list[1024];
	int		 w = 0;

	fb = fbuf_new(MSG_DNS_MX, q->reqid);
	fbuf_add_u8(fb, a->status);
	fbuf_add_u8(fb, a->dnssec);
	fbuf_add_u32(fb, a->ttl);
	fbuf_add_u16(fb, (uint16_t)n);
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		fbuf_add_u16(fb, mx[i].pref);
		fbuf_add_str(fb, mx[i].host);
		if (w >= 0 && (size_t)w < sizeof(list))
			w += snprintf(list + w, sizeof(list) - (size_t)w, "%s%u %s",
			    i ? ", " : "", mx[i].pref, mx[i].host);
	}
	count_answer(q, a->status);
	log_trace(trace_wants(NULL, q->name, NULL));
	log_detail("answer %s MX: %s%s%s (ttl %u, %s)", q->name, status_name(a->status),
	    n ? ": " : "", list, a->ttl, sec_name(a->dnssec));
	log_trace(false);
	send_frame(r, fb);
}

static void
query_done(struct rsub *s)
{
	struct rquery	*q = s->q;
	struct resolver	*r = q->r;

	if (--q->pending > 0)
		return;
	if (q->type == MSG_DNS_QUERY_ADDR)
		answer_addrs(r, q);
	query_free(r, q);
}

static void
query_cb(void *arg, int err, struct ub_result *res)
{
	struct rsub	*s = arg;
	struct rquery	*q = s->q;
	struct rmx	 mx[RESOLVER_MX_MAX];
	const char	*why = NULL;
	size_t		 n;
	bool		 mxtarget = (q->fams & DNS_FAM_MXTARGET) != 0;

	s->busy = false;
	rdata_classify(err, res, q->type == MSG_DNS_QUERY_ADDR && mxtarget, &s->ans);
	if (err != 0)
		log_detail("query %s type %d failed: %s", q->name, s->rrtype,
		    ub_strerror(err));
	else if (res->bogus)
		log_warnx("%s type %d: DNSSEC validation failed: %s", q->name, s->rrtype,
		    res->why_bogus != NULL ? res->why_bogus : "bogus");
	else if (s->ans.status == DNS_PERMFAIL && mxtarget)
		log_warnx("%s: an MX target that is an alias (CNAME to %s) is not used",
		    q->name, res->canonname);

	if (q->type == MSG_DNS_QUERY_TLSA)
		resolver_tlsa_result(q->r, q, s, res);
	else if (q->type == MSG_DNS_QUERY_TXT)
		resolver_txt_answer(q->r, q, s, res);
	else if (q->type == MSG_DNS_QUERY_MX) {
		n = 0;
		if (res != NULL)
			n = rdata_mx_list(res, &s->ans, mx, RESOLVER_MX_MAX, &why);
		if (why != NULL)
			log_warnx("%s MX: bad answer: %s", q->name, why);
		answer_mx(q->r, q, &s->ans, mx, n);
	} else if (res != NULL) {
		s->naddr = rdata_addrs(res, s->family, s->addrs, RESOLVER_ADDRS_MAX,
		    &s->ans, &why);
		if (why != NULL)
			log_warnx("%s type %d: bad answer: %s", q->name, s->rrtype, why);
	}
	if (res != NULL)
		ub_resolve_free(res);
	query_done(s);
}

static void
query_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct rquery	*q = arg;
	struct ranswer	 a = { DNS_TEMPFAIL, DNSSEC_INSECURE, 0 };

	log_warnx("%s: no DNS answer after %d seconds", q->name, RESOLVER_TIMEOUT);
	if (q->type == MSG_DNS_QUERY_MX)
		answer_mx(q->r, q, &a, NULL, 0);
	else if (q->type == MSG_DNS_QUERY_TLSA)
		resolver_tlsa_answer(q->r, q, &a, NULL, 0, 0);
	else if (q->type == MSG_DNS_QUERY_TXT) {
		q->sub[0].ans = a;
		resolver_txt_answer(q->r, q, &q->sub[0], NULL);
	}
	else
		answer_addrs(q->r, q);
	query_free(q->r, q);
}

static bool
query_start(struct resolver *r, struct rquery *q, int rrtype, uint8_t family)
{
	struct rsub	*s = &q->sub[q->nsub];
	int		 err;

	s->q = q;
	s->rrtype = rrtype;
	s->family = family;
	s->busy = true;
	s->ans.status = DNS_TEMPFAIL;
	log_detail("query %s type %s", q->name, rrtype == RR_MX ? "MX" :
	    rrtype == RR_TLSA ? "TLSA" : rrtype == RR_TXT ? "TXT" : rrtype == RR_A ? "A" :
	    "AAAA");
	if ((err = ub_resolve_async(r->ub, q->name, rrtype, 1, s, query_cb,
	    &s->async_id)) != 0) {
		log_warnx("%s: cannot start a query: %s", q->name, ub_strerror(err));
		s->busy = false;
		return false;
	}
	q->nsub++;
	q->pending++;
	return true;
}

int
resolver_query(struct resolver *r, struct frame *f)
{
	struct rquery	*q;
	char		 name[HOSTNAME_MAX];
	char		 host[HOSTNAME_MAX];
	uint8_t		 fams = 0;
	uint16_t	 port = 0;
	struct timeval	 tv = { RESOLVER_TIMEOUT, 0 };
	bool		 started;

	if (!frame_get_str(f, name, sizeof(name)))
		return -1;
	if (f->hdr.type == MSG_DNS_QUERY_ADDR && !frame_get_u8(f, &fams))
		return -1;
	if (f->hdr.type == MSG_DNS_QUERY_TLSA && !frame_get_u16(f, &port))
		return -1;
	if (!frame_end(f))
		return -1;
	if (f->hdr.type == MSG_DNS_QUERY_ADDR &&
	    (fams & (DNS_FAM_V4 | DNS_FAM_V6)) == 0)
		return -1;
	if (f->hdr.type == MSG_DNS_QUERY_TLSA) {
		strlcpy(host, name, sizeof(host));
		if (!rdata_tlsa_owner(host, port, name, sizeof(name)))
			name[0] = '\0';	/* refused below */
	}
	if (!rdata_name_ok(name)) {
		log_warnx("refusing to look up a bad name");
		answer_error(r, f->hdr.type, f->hdr.reqid, DNS_PERMFAIL);
		return 0;
	}
	if (r->nqueries >= RESOLVER_QUERIES_MAX) {
		log_warnx("%s: too many questions in flight", name);
		answer_error(r, f->hdr.type, f->hdr.reqid, DNS_TEMPFAIL);
		return 0;
	}

	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->reqid = f->hdr.reqid;
	q->type = f->hdr.type;
	q->fams = fams;
	clock_gettime(CLOCK_MONOTONIC, &q->start);
	strlcpy(q->name, name, sizeof(q->name));
	TAILQ_INSERT_TAIL(&r->queries, q, entry);
	r->nqueries++;
	/* hold one count so that answers arriving during start-up cannot finish q */
	q->pending = 1;
	if (q->type == MSG_DNS_QUERY_MX)
		started = query_start(r, q, RR_MX, 0);
	else if (q->type == MSG_DNS_QUERY_TLSA)
		started = query_start(r, q, RR_TLSA, 0);
	else if (q->type == MSG_DNS_QUERY_TXT)
		started = query_start(r, q, RR_TXT, 0);
	else {
		started = false;
		if (fams & DNS_FAM_V4)
			started |= query_start(r, q, RR_A, 4);
		if (fams & DNS_FAM_V6)
			started |= query_start(r, q, RR_AAAA, 6);
	}
	if (!started) {
		answer_error(r, q->type, q->reqid, DNS_TEMPFAIL);
		query_free(r, q);
		return 0;
	}
	if ((q->timeout = evtimer_new(r->ctx->base, query_timeout, q)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(q->timeout, &tv);
	query_done(&q->sub[0]);		/* drop the start-up count */
	return 0;
}

/* The scheduler is gone: nobody wants these answers. */
void
resolver_cancel_all(struct resolver *r)
{
	struct rquery	*q;

	while ((q = TAILQ_FIRST(&r->queries)) != NULL)
		query_free(r, q);
}
