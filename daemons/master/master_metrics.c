/* SPDX-License-Identifier: ISC */
/*
 * master_metrics.c - the Prometheus endpoint (metrics_listen), served by the
 * master with libevent's evhttp, and the numbers behind it.
 *
 * The children push their values over their control links (metrics.h); the
 * master stores them per child, adds what a child counted before it was
 * restarted (counters never go back), and renders the text format on a GET.
 * The master only stores and adds these numbers, and the domains of the top
 * destinations are printed only after a strict check of their characters.
 * The endpoint is off unless configured; a bare port binds loopback.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "msg.h"

#define METRICS_PATH	"/metrics"

static struct slot {
	pid_t		 pid;
	uint64_t	 v[MET_MAX];
	unsigned	 restarts;
} slots[MASTER_MAX_CHILDREN];

/* What processes that ended had counted (counters and histograms only). */
static uint64_t	 retired[MET_MAX];

static struct destm {
	char		 domain[256];
	uint64_t	 n[3];
} dests[METRICS_DEST_MAX];
static unsigned		 ndests;

static struct evhttp	*http;
static uint64_t		 delivered_ring[61];	/* delivered total, one a second */
static unsigned		 ring_pos, ring_fill;
static time_t		 started;
static struct master	*master;

static bool
is_counter(unsigned id)
{
	const struct metric_desc *d;

	if (id >= MET_H_QDELAY)
		return true;	/* histogram parts add up like counters */
	d = metric_desc(id);
	return d != NULL && d->kind == METRIC_COUNTER;
}

static struct slot *
slot_of(struct child *c)
{
	struct slot	*s = &slots[c - c->m->children];

	if (s->pid != c->pid) {
		for (unsigned i = 0; i < MET_MAX; i++)
			if (is_counter(i))
				retired[i] += s->v[i];
		memset(s->v, 0, sizeof(s->v));
		s->pid = c->pid;
	}
	return s;
}

void
metrics_child_exited(struct child *c)
{
	struct slot	*s = &slots[c - c->m->children];

	for (unsigned i = 0; i < MET_MAX; i++)
		if (is_counter(i))
			retired[i] += s->v[i];
	memset(s->v, 0, sizeof(s->v));
	s->pid = 0;
	if (!c->m->stopping && !c->reload_restart)
		s->restarts++;
}

unsigned
metrics_restarts(struct child *c)
{
	return slots[c - c->m->children].restarts;
}

static bool
valid_domain(const char *d)
{
	if (*d == '\0')
		return false;
	for (; *d != '\0'; d++)
		if (!isalnum((unsigned char)*d) && *d != '-' && *d != '.' && *d != '_' &&
		    *d != '[' && *d != ']' && *d != ':')
			return false;
	return true;
}

int
metrics_child_frame(struct child *c, struct frame *f)
{
	struct slot	*s = slot_of(c);
	uint16_t	 n, id;
	uint64_t	 v;
	struct destm	 tmp[METRICS_DEST_MAX];

	if (!frame_get_u16(f, &n))
		return -1;
	if (f->hdr.type == MSG_METRICS_PUSH) {
		if (n > MET_MAX)
			return -1;
		for (uint16_t i = 0; i < n; i++) {
			if (!frame_get_u16(f, &id) || !frame_get_u64(f, &v) || id >= MET_MAX)
				return -1;
			s->v[id] = v;
		}
		return frame_end(f) ? 0 : -1;
	}
	/* Destinations: only the scheduler knows them. */
	if (c->desc->kind != PROC_SCHEDULER || n > METRICS_DEST_MAX)
		return -1;
	for (uint16_t i = 0; i < n; i++) {
		if (!frame_get_str(f, tmp[i].domain, sizeof(tmp[i].domain)) ||
		    !valid_domain(tmp[i].domain) || !frame_get_u64(f, &tmp[i].n[0]) ||
		    !frame_get_u64(f, &tmp[i].n[1]) || !frame_get_u64(f, &tmp[i].n[2]))
			return -1;
	}
	if (!frame_end(f))
		return -1;
	memcpy(dests, tmp, n * sizeof(tmp[0]));
	ndests = n;
	return 0;
}

static uint64_t
total(unsigned id)
{
	uint64_t	sum = is_counter(id) ? retired[id] : 0;

	if (master == NULL)	/* before metrics_init */
		return sum;
	for (unsigned i = 0; i < master->nchildren; i++)
		if (master->children[i].pid > 0 && slots[i].pid == master->children[i].pid)
			sum += slots[i].v[id];
	return sum;
}

uint64_t
metrics_total(unsigned id)
{
	return id < MET_MAX ? total(id) : 0;
}

time_t
metrics_started(void)
{
	return started;
}

/* Deliveries a second over the last minute (or since the start). */
double
metrics_delivery_rate(void)
{
	unsigned	oldest;

	if (ring_fill < 2)
		return 0;
	oldest = (ring_pos + 61 - ring_fill) % 61;
	return (double)(delivered_ring[(ring_pos + 60) % 61] - delivered_ring[oldest]) /
	    (ring_fill - 1);
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	delivered_ring[ring_pos] = total(MET_RCPT_DELIVERED);
	ring_pos = (ring_pos + 1) % 61;
	if (ring_fill < 61)
		ring_fill++;
}

static void
family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
proc_label(char *buf, size_t len, const struct child *c)
{
	if (c->desc->kind == PROC_AGENT)
		snprintf(buf, len, "process=\"%s %u\"", c->desc->name, c->instance);
	else
		snprintf(buf, len, "process=\"%s\"", c->desc->name);
}

static void
render_histogram(struct evbuffer *b, unsigned first, const struct metric_desc *d)
{
	const double	*bk = metric_buckets(first);
	uint64_t	 cum = 0;

	family(b, d->name, "histogram", d->help);
	for (unsigned i = 0; i < METRICS_HIST_BUCKETS; i++) {
		cum += total(first + i);
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", d->name, bk[i],
		    (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", d->name,
	    (unsigned long long)total(first + METRICS_HIST_BUCKETS + 1));
	evbuffer_add_printf(b, "%s_sum %.3f\n", d->name,
	    total(first + METRICS_HIST_BUCKETS) / 1000.0);
	evbuffer_add_printf(b, "%s_count %llu\n", d->name,
	    (unsigned long long)total(first + METRICS_HIST_BUCKETS + 1));
}

static void
render(struct evbuffer *b)
{
	const struct metric_desc *d;
	char		 label[64];
	static const char *const st[3] = { "delivered", "deferred", "bounced" };

	family(b, "outpost_up", "gauge", "The master is running");
	evbuffer_add_printf(b, "outpost_up 1\n");
	family(b, "outpost_start_time_seconds", "gauge", "When the master started (unix time)");
	evbuffer_add_printf(b, "outpost_start_time_seconds %lld\n", (long long)started);
	for (unsigned id = 0; id < MET_MAX; id++) {
		if ((d = metric_desc(id)) == NULL)
			continue;
		if (d->kind == METRIC_HISTOGRAM) {
			render_histogram(b, id, d);
			continue;
		}
		if (d->help != NULL)
			family(b, d->name, d->kind == METRIC_COUNTER ? "counter" : "gauge", d->help);
		if (d->kind == METRIC_GAUGE_PER_PROC) {
			for (unsigned i = 0; i < master->nchildren; i++) {
				struct child *c = &master->children[i];
				if (c->pid <= 0 || slots[i].pid != c->pid)
					continue;
				proc_label(label, sizeof(label), c);
				evbuffer_add_printf(b, "%s{%s} %llu\n", d->name, label,
				    (unsigned long long)slots[i].v[id]);
			}
			continue;
		}
		evbuffer_add_printf(b, "%s{%s} %llu\n", d->name, d->labels,
		    (unsigned long long)total(id));
	}
	family(b, "outpost_process_restarts_total", "counter",
	    "Unplanned restarts of each process by the master");
	for (unsigned i = 0; i < master->nchildren; i++) {
		proc_label(label, sizeof(label), &master->children[i]);
		evbuffer_add_printf(b, "outpost_process_restarts_total{%s} %u\n", label,
		    slots[i].restarts);
	}
	family(b, "outpost_destination_recipients_total", "counter",
	    "Recipient attempts of the top destination domains by volume");
	for (unsigned i = 0; i < ndests; i++)
		for (int k = 0; k < 3; k++)
			evbuffer_add_printf(b,
			    "outpost_destination_recipients_total{domain=\"%s\",status=\"%s\"} %llu\n",
			    dests[i].domain, st[k], (unsigned long long)dests[i].n[k]);
}

static void
http_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer	*b;
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL || (strcmp(path, METRICS_PATH) != 0 && strcmp(path, "/") != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only " METRICS_PATH " is here");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	render(b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

void
metrics_init(struct master *m)
{
	char		 addr[64];
	uint16_t	 port;
	struct evhttp_bound_socket *bound;

	struct event	*tick;
	struct timeval	 sec = { 1, 0 };

	master = m;
	started = time(NULL);
	tick = event_new(m->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &sec);
	if (m->conf.metrics_listen[0] == '\0')
		return;
	if (metrics_parse_listen(m->conf.metrics_listen, addr, sizeof(addr), &port) == -1)
		fatalx("metrics_listen %s: not port, address:port or [address]:port",
		    m->conf.metrics_listen);
	if ((http = evhttp_new(m->base)) == NULL)
		fatalx("evhttp_new");
	/* A scrape is a small GET: anything bigger or slower is not one. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_timeout(http, 10);
	evhttp_set_gencb(http, http_cb, NULL);
	if ((bound = evhttp_bind_socket_with_handle(http, addr, port)) == NULL)
		fatal("metrics_listen: cannot listen on %s port %u", addr, port);
	metrics_conn_limit(m->base, http, bound, m->conf.metrics_max_connections);
	if (strcmp(addr, "127.0.0.1") != 0 && strcmp(addr, "::1") != 0 &&
	    strncmp(addr, "127.", 4) != 0)
		log_warnx("metrics_listen %s is not a loopback address: whoever reaches it reads "
		    "the metrics", m->conf.metrics_listen);
	log_info("metrics: serving http://%s%s%s:%u%s", strchr(addr, ':') ? "[" : "", addr,
	    strchr(addr, ':') ? "]" : "", port, METRICS_PATH);
}
