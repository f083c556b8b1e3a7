/* SPDX-License-Identifier: ISC */
/*
 * sts_rpt_send.c - TLS reports (RFC 8460) from the sts process: counts what
 * the scheduler reports (TLSRPT_COUNT) and, once a UTC day (or at
 * "outpostctl tlsrpt send"), turns the counters into one report per policy
 * domain (sts_rpt_report.c: JSON, gzip), then for each rua of the
 * domain's _smtp._tls TXT record (looked up by the resolver, through the
 * scheduler) a mail queued by the queue manager (mailto:, through the
 * scheduler) or an HTTPS POST made here (https:, sts_fetch.c). A report
 * whose sending fails is not sent again: RFC 8460 asks for best effort, and
 * the next day's counts start afresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "tlsrpt.h"
#include "xmalloc.h"

#include "sts.h"
#include "sts_rpt.h"

#define DAY		86400
#define CHECK_EVERY	60		/* seconds between looks at the UTC date */
#define GZ_MAX		(96 * 1024)	/* a report larger than this is not sent (a frame) */
#define PENDING_MAX	4096		/* questions to the scheduler in flight */


enum rq_kind { RQ_LOOKUP, RQ_RESOLVE, RQ_MAIL };

struct rq {
	uint32_t	 reqid;
	enum rq_kind	 kind;
	struct report	*r;
	char		 uri[TLSRPT_URI_MAX];
	char		 host[HOSTNAME_MAX];
	unsigned	 port;
};

static struct proc_ctx	*ctx;
static struct chan	*sched;
static struct event	*day_ev;
static struct rq	*rqs;
static unsigned		 nrqs;
static uint32_t		 next_reqid;

static unsigned	send_all(uint64_t now, bool whole_day, uint64_t *from);

struct event_base *
rpt_event_base(void)
{
	return ctx->base;
}

void
rpt_set_sched(struct chan *c)
{
	unsigned	 n = nrqs;

	/* questions on a lost link get no answer: those reports are not sent */
	if (c == NULL && nrqs > 0) {
		while (nrqs > 0)
			rpt_report_unref(rqs[--nrqs].r);
		log_warnx("TLS-RPT: the scheduler left with %u question(s) of report sending "
		    "unanswered; those reports are not sent", n);
	}
	sched = c;
}


static struct rq *
rq_new(enum rq_kind kind, struct report *r)
{
	struct rq	*q;

	if (nrqs >= PENDING_MAX)
		return NULL;
	rqs = xreallocarray(rqs, nrqs + 1, sizeof(*rqs));
	q = &rqs[nrqs++];
	memset(q, 0, sizeof(*q));
	if (++next_reqid == 0)
		next_reqid = 1;
	q->reqid = next_reqid;
	q->kind = kind;
	q->r = r;
	r->refs++;
	return q;
}

/* Take the request out of the table; the caller drops its report reference. */
static bool
rq_take(uint32_t reqid, enum rq_kind kind, struct rq *out)
{
	unsigned	 i;

	for (i = 0; i < nrqs; i++)
		if (rqs[i].reqid == reqid && rqs[i].kind == kind) {
			*out = rqs[i];
			rqs[i] = rqs[--nrqs];
			return true;
		}
	return false;
}


/* Send the counts of set, one report per domain; the number of reports started. */
static unsigned
send_set(struct rpt_set *set, uint64_t start, uint64_t end)
{
	unsigned	 i, k, started = 0;
	struct report	*r;
	struct rq	*q;
	struct fbuf	*fb;

	for (i = 0; i < set->n; i++) {
		for (k = 0; k < i; k++)
			if (strcasecmp(set->p[k].domain, set->p[i].domain) == 0)
				break;
		if (k < i)
			continue;	/* its report is made already */
		if ((r = rpt_report_build(ctx->conf, set, set->p[i].domain, start, end)) == NULL)
			continue;
		if (sched == NULL || (q = rq_new(RQ_LOOKUP, r)) == NULL) {
			log_warnx("TLS-RPT report %s: the scheduler cannot be asked for the "
			    "report address; not sent", r->id);
			rpt_report_unref(r);
			continue;
		}
		fb = fbuf_new(MSG_TLSRPT_LOOKUP, q->reqid);
		fbuf_add_str(fb, r->domain);
		chan_send(sched, fb);
		rpt_report_unref(r);	/* the request holds it now */
		started++;
	}
	return started;
}

static unsigned
send_all(uint64_t now, bool whole_day, uint64_t *from)
{
	struct rpt_set	*set;
	uint64_t	 start, end;
	unsigned	 n;

	if (rpt_current()->n == 0)
		return 0;
	set = rpt_take();
	/* the counters are written empty first: a report is sent at most once */
	(void)rpt_save();
	start = set->start - set->start % DAY;
	end = whole_day ? start + DAY : now;
	if (from != NULL)
		*from = start;
	n = send_set(set, start, end);
	rpt_set_free(set);
	free(set);
	return n;
}

static void
day_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { CHECK_EVERY, 0 };
	uint64_t	 now = (uint64_t)time(NULL), start = rpt_current()->start;
	unsigned	 n;

	/* RFC 8460 4.1: a report covers one UTC day; sent once that day is over */
	if (ctx->conf->tlsrpt && start != 0 && now / DAY > start / DAY && sched != NULL) {
		n = send_all(now, true, NULL);
		log_info("TLS-RPT: the day's counts go out in %u report(s)", n);
	}
	evtimer_add(day_ev, &tv);
}

void
rpt_send_init(struct proc_ctx *c)
{
	struct timeval	 tv = { CHECK_EVERY, 0 };

	ctx = c;
	if ((day_ev = evtimer_new(c->base, day_cb, NULL)) == NULL)
		fatalx("sts: evtimer_new");
	evtimer_add(day_ev, &tv);
}

void
rpt_shutdown(void)
{
	rpt_store_shutdown();
	if (day_ev != NULL) {
		event_free(day_ev);
		day_ev = NULL;
	}
}

void
rpt_sts_failure(const char *domain, unsigned result)
{
	if (ctx == NULL || !ctx->conf->tlsrpt)
		return;
	if (rpt_count(rpt_current(), (uint64_t)time(NULL), domain, TLSRPT_STS, result, "", "", "",
	    NULL, 0))
		rpt_save_soon();
}

/* ------------------------------------------------------------------ */

static int
count_frame(struct frame *f)
{
	char		 domain[HOSTNAME_MAX], mx[HOSTNAME_MAX], ip[RPT_IP_MAX];
	char		 local[RPT_IP_MAX];
	char		 lines[RPT_STRINGS_MAX][RPT_STRING_MAX], skip[RPT_STRING_MAX];
	const char	*strs[RPT_STRINGS_MAX];
	uint8_t		 type, result;
	uint16_t	 n, i;
	uint64_t	 now;

	if (!frame_get_str(f, domain, sizeof(domain)) || !frame_get_u8(f, &type) ||
	    !frame_get_u8(f, &result) || !frame_get_str(f, mx, sizeof(mx)) ||
	    !frame_get_str(f, ip, sizeof(ip)) || !frame_get_u16(f, &n) ||
	    type > TLSRPT_NO_POLICY || result > TLSRPT_RESULT_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (!frame_get_str(f, i < RPT_STRINGS_MAX ? lines[i] : skip, RPT_STRING_MAX))
			return -1;
		if (i < RPT_STRINGS_MAX)
			strs[i] = lines[i];
	}
	if (!frame_get_str(f, local, sizeof(local)) || !frame_end(f))
		return -1;
	if (!ctx->conf->tlsrpt)
		return 0;
	now = (uint64_t)time(NULL);
	/* the first count of a new UTC day: yesterday's go out before it is counted */
	if (rpt_current()->start != 0 && now / DAY > rpt_current()->start / DAY && sched != NULL)
		log_info("TLS-RPT: the day's counts go out in %u report(s)",
		    send_all(now, true, NULL));
	if (!rpt_count(rpt_current(), now, domain, type, result, mx, ip, local,
	    strs,
	    n < RPT_STRINGS_MAX ? n : RPT_STRINGS_MAX)) {
		log_debug("TLS-RPT: %s not counted (%u policies already)", domain,
		    RPT_POLICIES_MAX);
		return 0;
	}
	log_detail("TLS-RPT: %s %s: %s (%s[%s])", domain,
	    type == TLSRPT_STS ? "sts" : type == TLSRPT_TLSA ? "tlsa" : "no-policy-found",
	    tlsrpt_result_name(result), mx, ip);
	rpt_save_soon();
	return 0;
}

static void
post_done(void *arg, bool ok, const char *err)
{
	struct rq	*q = arg;

	if (ok)
		log_info("TLS-RPT report %s for %s posted to %s", q->r->id, q->r->domain, q->uri);
	else
		log_warnx("TLS-RPT report %s for %s: POST to %s failed: %s", q->r->id,
		    q->r->domain, q->uri, err);
	rpt_report_unref(q->r);
	free(q);
}

static void
send_mail(struct report *r, const char *uri)
{
	char			 rcpt[TLSRPT_URI_MAX];
	struct fbuf		*fb;
	struct rq		*q;
	size_t			 n;

	/* mailto:addr, without ?headers (RFC 6068); the address as it stands */
	strlcpy(rcpt, uri + 7, sizeof(rcpt));
	rcpt[strcspn(rcpt, "?!")] = '\0';
	n = strlen(rcpt);
	if (n == 0 || strchr(rcpt, '@') == NULL || strpbrk(rcpt, "<>,;\"\\") != NULL) {
		log_warnx("TLS-RPT report %s: %s is not a usable address", r->id, uri);
		return;
	}
	if (r->gzlen > GZ_MAX) {
		log_warnx("TLS-RPT report %s: %zu bytes compressed, too large to mail to %s",
		    r->id, r->gzlen, uri);
		return;
	}
	if ((q = rq_new(RQ_MAIL, r)) == NULL)
		return;
	strlcpy(q->uri, uri, sizeof(q->uri));
	/* the sender and the submitter are the queue manager's to set, from its config */
	fb = fbuf_new(MSG_TLSRPT_MAIL, q->reqid);
	fbuf_add_str(fb, rcpt);
	fbuf_add_str(fb, r->domain);
	fbuf_add_str(fb, r->id);
	fbuf_add_str(fb, r->file);
	fbuf_add_u64(fb, r->start);
	fbuf_add_u64(fb, r->end);
	fbuf_add_bytes(fb, r->gz, r->gzlen);
	chan_send(sched, fb);
}

static void
send_https(struct report *r, const char *uri)
{
	CURLU		*u;
	char		*host = NULL, *port = NULL;
	struct rq	*q;
	struct fbuf	*fb;
	const char	*e;

	if ((u = curl_url()) == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    strlen(host) >= HOSTNAME_MAX || host[0] == '[') {
		log_warnx("TLS-RPT report %s: %s is not a usable URL", r->id, uri);
		goto out;
	}
	if ((q = rq_new(RQ_RESOLVE, r)) == NULL)
		goto out;
	strlcpy(q->uri, uri, sizeof(q->uri));
	strlcpy(q->host, host, sizeof(q->host));
	q->port = (unsigned)strtonum(port, 1, 65535, &e);
	if (e != NULL)
		q->port = 443;
	fb = fbuf_new(MSG_TLSRPT_RESOLVE, q->reqid);
	fbuf_add_str(fb, host);
	chan_send(sched, fb);
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

static int
rua_frame(struct frame *f)
{
	char		 domain[HOSTNAME_MAX], text[STS_TXT_MAX];
	uint8_t		 status;
	uint16_t	 n, i;
	unsigned	 nrec = 0, k;
	struct tlsrpt_rua rua;
	const char	*why = NULL;
	struct rq	 q;
	bool		 ok = false;

	memset(&rua, 0, sizeof(rua));
	if (!frame_get_str(f, domain, sizeof(domain)) || !frame_get_u8(f, &status) ||
	    !frame_get_u16(f, &n))
		return -1;
	for (i = 0; i < n; i++) {
		if (!frame_get_str(f, text, sizeof(text)))
			return -1;
		/* RFC 8460 3: records not starting v=TLSRPTv1 are not ours; more than one: none */
		if (strncmp(text, "v=TLSRPTv1", 10) != 0)
			continue;
		nrec++;
		ok = tlsrpt_txt_parse(text, strlen(text), &rua, &why) == 0;
	}
	if (!frame_end(f))
		return -1;
	if (!rq_take(f->hdr.reqid, RQ_LOOKUP, &q))
		return 0;
	if (status != DNS_OK || nrec != 1 || !ok) {
		log_info("TLS-RPT report %s for %s not sent: %s", q.r->id, domain,
		    status != DNS_OK && status != DNS_NODATA && status != DNS_NXDOMAIN ?
		    "the _smtp._tls lookup failed" : nrec == 0 ? "no _smtp._tls record" :
		    nrec > 1 ? "more than one _smtp._tls record" : why);
		rpt_report_unref(q.r);
		return 0;
	}
	for (k = 0; k < rua.n; k++) {
		if (strncasecmp(rua.uri[k], "mailto:", 7) == 0)
			send_mail(q.r, rua.uri[k]);
		else
			send_https(q.r, rua.uri[k]);
	}
	rpt_report_unref(q.r);
	return 0;
}

static int
addrs_frame(struct frame *f)
{
	uint8_t		 status, addrs[STS_ADDRS_MAX][17];
	uint16_t	 n;
	unsigned	 naddr;
	struct rq	 q, *p;

	if (!frame_get_u8(f, &status) || !frame_get_u16(f, &n) ||
	    !sts_frame_addrs(f, n, addrs, &naddr) || !frame_end(f))
		return -1;
	if (!rq_take(f->hdr.reqid, RQ_RESOLVE, &q))
		return 0;
	if (status != DNS_OK || naddr == 0) {
		log_warnx("TLS-RPT report %s: %s has no address; not posted to %s", q.r->id,
		    q.host, q.uri);
		rpt_report_unref(q.r);
		return 0;
	}
	p = xmalloc(sizeof(*p));
	*p = q;
	if (!sts_post_start(q.uri, q.host, q.port, (const uint8_t (*)[17])addrs, naddr,
	    q.r->gz, q.r->gzlen, post_done, p)) {
		log_warnx("TLS-RPT report %s: cannot start the POST to %s", q.r->id, q.uri);
		rpt_report_unref(q.r);
		free(p);
	}
	return 0;
}

static int
queued_frame(struct frame *f)
{
	uint8_t		 ok;
	char		 what[512];
	struct rq	 q;

	if (!frame_get_u8(f, &ok) || !frame_get_str(f, what, sizeof(what)) || !frame_end(f))
		return -1;
	if (!rq_take(f->hdr.reqid, RQ_MAIL, &q))
		return 0;
	if (ok)
		log_info("TLS-RPT report %s for %s queued for %s as %s", q.r->id, q.r->domain,
		    q.uri, what);
	else
		log_warnx("TLS-RPT report %s for %s: no mail to %s: %s", q.r->id, q.r->domain,
		    q.uri, what);
	rpt_report_unref(q.r);
	return 0;
}

int
rpt_sched_frame(struct frame *f)
{
	switch (f->hdr.type) {
	case MSG_TLSRPT_COUNT:
		return count_frame(f);
	case MSG_TLSRPT_RUA:
		return rua_frame(f);
	case MSG_TLSRPT_ADDRS:
		return addrs_frame(f);
	case MSG_TLSRPT_QUEUED:
		return queued_frame(f);
	}
	log_warnx("scheduler: unexpected %s", msg_name(f->hdr.type));
	return -1;
}

/* ------------------------------------------------------------------ */

static void
reply(struct proc_ctx *c, uint32_t reqid, const char *line)
{
	struct fbuf	*fb = fbuf_new(MSG_CONTROL_REPLY, reqid);

	fbuf_add_str(fb, line);
	chan_send(c->master, fb);
}

static void
end(struct proc_ctx *c, uint32_t reqid, bool failed, const char *msg)
{
	struct fbuf	*fb = fbuf_new(MSG_CONTROL_END, reqid);

	fbuf_add_u8(fb, failed);
	fbuf_add_str(fb, msg);
	chan_send(c->master, fb);
}

int
rpt_control(struct proc_ctx *c, struct frame *f, const char *cmd)
{
	char		 arg[32] = "", line[1024], msg[256];
	uint32_t	 argc;
	const struct rpt_set *set = rpt_current();
	unsigned	 i, k, n;
	uint64_t	 from = 0;
	int		 w;

	if (!frame_get_u32(f, &argc) || argc > 1 ||
	    (argc == 1 && !frame_get_str(f, arg, sizeof(arg))) || !frame_end(f))
		return -1;
	if (argc == 1 && strcmp(arg, "send") != 0) {
		end(c, f->hdr.reqid, true, "usage: tlsrpt [send]");
		return 0;
	}
	if (!c->conf->tlsrpt) {
		end(c, f->hdr.reqid, true, "TLS reporting is off (tlsrpt = no)");
		return 0;
	}
	if (argc == 1) {
		if (sched == NULL) {
			end(c, f->hdr.reqid, true, "the scheduler is not linked: nothing sent");
			return 0;
		}
		n = send_all((uint64_t)time(NULL), false, &from);
		snprintf(msg, sizeof(msg), "%u report(s) being sent", n);
		end(c, f->hdr.reqid, false, msg);
		return 0;
	}
	for (i = 0; i < set->n; i++) {
		const struct rpt_policy *p = &set->p[i];

		w = snprintf(line, sizeof(line), "%s %s: %llu successful, %llu failed", p->domain,
		    p->type == TLSRPT_STS ? "sts" : p->type == TLSRPT_TLSA ? "tlsa" :
		    "no-policy-found", (unsigned long long)p->ok, (unsigned long long)p->failed);
		for (k = 0; k < p->ndetails && w > 0 && (size_t)w < sizeof(line); k++)
			w += snprintf(line + w, sizeof(line) - (size_t)w, "; %s %s[%s] %llu",
			    tlsrpt_result_name(p->details[k].result),
			    p->details[k].mx[0] ? p->details[k].mx : "-",
			    p->details[k].ip[0] ? p->details[k].ip : "-",
			    (unsigned long long)p->details[k].count);
		reply(c, f->hdr.reqid, line);
	}
	end(c, f->hdr.reqid, false, "");
	return 0;
}
