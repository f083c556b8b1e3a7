/* SPDX-License-Identifier: ISC */
/*
 * metrics.c - a child's counters and their push to the master (see
 * metrics.h), and the table of names the master renders them with.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chan.h"
#include "frame.h"
#include "metrics.h"
#include "msg.h"

static const struct metric_desc descs[MET_MAX] = {
	[MET_RECEIVED_SMTP] = { "outpost_mails_received_total", "origin=\"smtp\"", METRIC_COUNTER,
	    "Mails queued, by origin" },
	[MET_RECEIVED_LOCAL] = { "outpost_mails_received_total", "origin=\"local\"", METRIC_COUNTER, NULL },
	[MET_RCPT_DELIVERED] = { "outpost_recipients_total", "status=\"delivered\",dsn_class=\"2\"",
	    METRIC_COUNTER, "Recipient attempts by outcome and DSN class" },
	[MET_RCPT_DEFERRED] = { "outpost_recipients_total", "status=\"deferred\",dsn_class=\"4\"",
	    METRIC_COUNTER, NULL },
	[MET_RCPT_BOUNCED_4] = { "outpost_recipients_total", "status=\"bounced\",dsn_class=\"4\"",
	    METRIC_COUNTER, NULL },
	[MET_RCPT_BOUNCED_5] = { "outpost_recipients_total", "status=\"bounced\",dsn_class=\"5\"",
	    METRIC_COUNTER, NULL },
	[MET_DSN_SENT] = { "outpost_dsns_sent_total", "", METRIC_COUNTER,
	    "Delivery status notifications queued for senders" },
	[MET_CONN_OK] = { "outpost_connections_out_total", "result=\"ok\"", METRIC_COUNTER,
	    "Outgoing SMTP connections by result" },
	[MET_CONN_FAILED] = { "outpost_connections_out_total", "result=\"failed\"", METRIC_COUNTER, NULL },
	[MET_TLS_NONE] = { "outpost_tls_sessions_total", "protection=\"none\"", METRIC_COUNTER,
	    "Outgoing SMTP sessions by protection level" },
	[MET_TLS_ENCRYPTED] = { "outpost_tls_sessions_total", "protection=\"encrypted\"", METRIC_COUNTER, NULL },
	[MET_TLS_VERIFIED] = { "outpost_tls_sessions_total", "protection=\"verified\"", METRIC_COUNTER, NULL },
	[MET_DNS_OK] = { "outpost_dns_queries_total", "result=\"ok\"", METRIC_COUNTER,
	    "DNS queries by result" },
	[MET_DNS_NXDOMAIN] = { "outpost_dns_queries_total", "result=\"nxdomain\"", METRIC_COUNTER, NULL },
	[MET_DNS_NODATA] = { "outpost_dns_queries_total", "result=\"nodata\"", METRIC_COUNTER, NULL },
	[MET_DNS_NULLMX] = { "outpost_dns_queries_total", "result=\"nullmx\"", METRIC_COUNTER, NULL },
	[MET_DNS_TEMPFAIL] = { "outpost_dns_queries_total", "result=\"tempfail\"", METRIC_COUNTER, NULL },
	[MET_DNS_PERMFAIL] = { "outpost_dns_queries_total", "result=\"permfail\"", METRIC_COUNTER, NULL },
	[MET_Q_MAILS_ACTIVE] = { "outpost_queue_mails", "state=\"active\"", METRIC_GAUGE,
	    "Mails in the queue by state" },
	[MET_Q_MAILS_DEFERRED] = { "outpost_queue_mails", "state=\"deferred\"", METRIC_GAUGE, NULL },
	[MET_Q_MAILS_HELD] = { "outpost_queue_mails", "state=\"held\"", METRIC_GAUGE, NULL },
	[MET_Q_RCPTS_ACTIVE] = { "outpost_queue_recipients", "state=\"active\"", METRIC_GAUGE,
	    "Recipients in the queue by state" },
	[MET_Q_RCPTS_DEFERRED] = { "outpost_queue_recipients", "state=\"deferred\"", METRIC_GAUGE, NULL },
	[MET_Q_RCPTS_HELD] = { "outpost_queue_recipients", "state=\"held\"", METRIC_GAUGE, NULL },
	[MET_Q_ON_DISK] = { "outpost_queue_mails_on_disk", "", METRIC_GAUGE,
	    "Deferred mails kept on disk only until their re-send (past queue_active_limit)" },
	[MET_SESSIONS] = { "outpost_sessions_in_use", "", METRIC_GAUGE_PER_PROC,
	    "SMTP sessions open in each process" },
	[MET_LINKS] = { "outpost_links_open", "", METRIC_GAUGE_PER_PROC,
	    "Links to other outpost processes open in each process" },
	[MET_H_QDELAY] = { "outpost_queue_delay_seconds", "", METRIC_HISTOGRAM,
	    "Time from queueing to final delivery" },
	[MET_H_SMTP] = { "outpost_smtp_transaction_seconds", "", METRIC_HISTOGRAM,
	    "Time of one outgoing SMTP transaction (MAIL to the reply to the data)" },
	[MET_H_DNS] = { "outpost_dns_answer_seconds", "", METRIC_HISTOGRAM,
	    "Time the resolver took to answer a query" },
};

static const double b_qdelay[METRICS_HIST_BUCKETS] = { 1, 5, 30, 60, 300, 1800, 3600, 14400, 86400 };
static const double b_smtp[METRICS_HIST_BUCKETS] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60 };
static const double b_dns[METRICS_HIST_BUCKETS] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30 };

static uint64_t	 values[MET_MAX];

const struct metric_desc *
metric_desc(unsigned id)
{
	return id < MET_MAX && descs[id].name != NULL ? &descs[id] : NULL;
}

const double *
metric_buckets(unsigned first)
{
	switch (first) {
	case MET_H_QDELAY: return b_qdelay;
	case MET_H_SMTP: return b_smtp;
	case MET_H_DNS: return b_dns;
	default: return NULL;
	}
}

void
metric_inc(unsigned id)
{
	if (id < MET_MAX)
		values[id]++;
}

void
metric_add(unsigned id, uint64_t n)
{
	if (id < MET_MAX)
		values[id] += n;
}

void
metric_set(unsigned id, uint64_t v)
{
	if (id < MET_MAX)
		values[id] = v;
}

uint64_t
metric_get(unsigned id)
{
	return id < MET_MAX ? values[id] : 0;
}

void
metric_observe(unsigned first, double seconds)
{
	const double	*b = metric_buckets(first);
	unsigned	 i;

	if (b == NULL)
		return;
	if (seconds < 0)
		seconds = 0;
	/* Per-bucket (not cumulative) counts: the master adds them up. */
	for (i = 0; i < METRICS_HIST_BUCKETS && seconds > b[i]; i++)
		;
	if (i < METRICS_HIST_BUCKETS)
		values[first + i]++;
	values[first + METRICS_HIST_BUCKETS] += (uint64_t)(seconds * 1000.0);
	values[first + METRICS_HIST_BUCKETS + 1]++;
}

/*
 * Destination domains: an open-addressed table of a bounded size, so a
 * stream of new domains costs memory only up to METRICS_DEST_TRACK; later
 * ones are not tracked (they are counted in the totals all the same).
 */
struct dest {
	char		*domain;
	uint64_t	 n[3];
};
static struct dest	 dests[METRICS_DEST_TRACK * 2];
static unsigned		 ndests;
static unsigned		 push_top;

void
metric_dest(const char *domain, int outcome)
{
	uint32_t	h = 2166136261u;
	unsigned	i, slot;
	const char	*p;

	if (push_top == 0 || outcome < 0 || outcome > 2 || domain == NULL || *domain == '\0')
		return;
	for (p = domain; *p; p++)
		h = (h ^ (uint8_t)tolower((unsigned char)*p)) * 16777619u;
	for (i = 0; i < METRICS_DEST_TRACK * 2; i++) {
		slot = (h + i) % (METRICS_DEST_TRACK * 2);
		if (dests[slot].domain == NULL) {
			if (ndests >= METRICS_DEST_TRACK || strlen(domain) > 253)
				return;
			if ((dests[slot].domain = strdup(domain)) == NULL)
				return;
			for (char *q = dests[slot].domain; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			ndests++;
		} else if (strcasecmp(dests[slot].domain, domain) != 0)
			continue;
		dests[slot].n[outcome]++;
		return;
	}
}

static int
cmp_dest(const void *a, const void *b)
{
	const struct dest *x = *(struct dest *const *)a, *y = *(struct dest *const *)b;
	uint64_t tx = x->n[0] + x->n[1] + x->n[2], ty = y->n[0] + y->n[1] + y->n[2];

	return tx < ty ? 1 : tx > ty ? -1 : strcmp(x->domain, y->domain);
}

static struct chan	*push_chan;
static void		(*collector)(void *);
static void		*collector_arg;

void
metrics_set_collector(void (*fn)(void *), void *arg)
{
	collector = fn;
	collector_arg = arg;
}

static void
push_dests(void)
{
	static struct dest *order[METRICS_DEST_TRACK];
	struct fbuf	*fb;
	unsigned	 n = 0, i, top;

	for (i = 0; i < METRICS_DEST_TRACK * 2; i++)
		if (dests[i].domain != NULL)
			order[n++] = &dests[i];
	if (n == 0)
		return;
	qsort(order, n, sizeof(order[0]), cmp_dest);
	top = n < push_top ? n : push_top;
	fb = fbuf_new(MSG_METRICS_DEST, 0);
	fbuf_add_u16(fb, (uint16_t)top);
	for (i = 0; i < top; i++) {
		fbuf_add_str(fb, order[i]->domain);
		fbuf_add_u64(fb, order[i]->n[0]);
		fbuf_add_u64(fb, order[i]->n[1]);
		fbuf_add_u64(fb, order[i]->n[2]);
	}
	chan_send(push_chan, fb);
}

static void
push_cb(evutil_socket_t fd, short ev, void *arg)
{
	static uint64_t	 sent[MET_MAX];
	static bool	 first = true;
	struct fbuf	*fb;
	uint16_t	 n = 0;
	unsigned	 i;

	if (collector != NULL)
		collector(collector_arg);
	metric_set(MET_LINKS, chan_count());
	/* Only what changed since the last push (everything the first time). */
	for (i = 0; i < MET_MAX; i++)
		if (first || values[i] != sent[i])
			n++;
	if (n > 0) {
		fb = fbuf_new(MSG_METRICS_PUSH, 0);
		fbuf_add_u16(fb, n);
		for (i = 0; i < MET_MAX; i++)
			if (first || values[i] != sent[i]) {
				fbuf_add_u16(fb, (uint16_t)i);
				fbuf_add_u64(fb, values[i]);
				sent[i] = values[i];
			}
		chan_send(push_chan, fb);
	}
	first = false;
	if (ndests > 0)
		push_dests();
}

static struct event_base *push_base;

/*
 * Within METRICS_SOON_MS instead of at the next tick, for a state an
 * administrator looks at right after changing it; the calls made meanwhile
 * share that push, so a busy process pushes a few more times a second, not
 * once per change.
 */
#define METRICS_SOON_MS	100

void
metrics_push_soon(void)
{
	static struct event	*soon;
	struct timeval		 tv = { 0, METRICS_SOON_MS * 1000 };

	if (push_chan == NULL)
		return;
	if (soon == NULL && (soon = evtimer_new(push_base, push_cb, NULL)) == NULL)
		return;		/* the next tick pushes it */
	if (!evtimer_pending(soon, NULL))
		evtimer_add(soon, &tv);
}

void
metrics_attach(struct event_base *base, struct chan *c, unsigned top)
{
	static struct event	*ev;
	struct timeval		 tv = { 1, 0 };

	push_base = base;
	push_chan = c;
	push_top = top > METRICS_DEST_MAX ? METRICS_DEST_MAX : top;
	if (ev == NULL)
		ev = event_new(base, -1, EV_PERSIST, push_cb, NULL);
	event_add(ev, &tv);
}

/* "port", "address:port" or "[v6]:port" -> address and port; -1 if not. */
int
metrics_parse_listen(const char *s, char *addr, size_t alen, uint16_t *port)
{
	const char	*colon, *errstr;
	char		 tmp[128];
	unsigned char	 bin[16];
	long long	 p;

	if (strchr(s, ':') == NULL) {
		strlcpy(addr, "127.0.0.1", alen);
		colon = s - 1;
	} else if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(tmp))
			return -1;
		memcpy(tmp, s + 1, close - s - 1);
		tmp[close - s - 1] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return -1;
		strlcpy(addr, tmp, alen);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if ((size_t)(colon - s) >= sizeof(tmp))
			return -1;
		memcpy(tmp, s, colon - s);
		tmp[colon - s] = '\0';
		if (inet_pton(AF_INET, tmp, bin) != 1)
			return -1;
		strlcpy(addr, tmp, alen);
	}
	p = strtonum(colon + 1, 1, 65535, &errstr);
	if (errstr != NULL)
		return -1;
	*port = (uint16_t)p;
	return 0;
}
