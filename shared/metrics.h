/* SPDX-License-Identifier: ISC */
/*
 * metrics.h - the numbers outpost exposes to Prometheus, and how a child
 * counts them.
 *
 * Each child counts what it alone knows (qmgr: mails received, DSNs, queue
 * shape; scheduler: recipient outcomes, queue delay; agents: connections,
 * TLS, SMTP transaction time; resolver: DNS; smtpd: sessions) in a private
 * array and, when metrics_listen is set, pushes the values to the master over
 * its control link once a second (MSG_METRICS_PUSH), and within 0.1 s of a
 * change of the queue's counts (metrics_push_soon). The master keeps them
 * per child, adds what a restarted child had counted, and renders the text
 * format (master_metrics.c). No process gains a way to reach another.
 *
 * Histograms are runs of ids: one per bucket (cumulative counts are made
 * by the master), then the sum in milliseconds, then the count.
 */
#ifndef OUTPOST_METRICS_H
#define OUTPOST_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_HIST_BUCKETS	9

enum metric_id {
	MET_RECEIVED_SMTP = 0,
	MET_RECEIVED_LOCAL,
	MET_RCPT_DELIVERED,
	MET_RCPT_DEFERRED,
	MET_RCPT_BOUNCED_4,		/* bounced after temporary failures (expired) */
	MET_RCPT_BOUNCED_5,
	MET_DSN_SENT,
	MET_CONN_OK,
	MET_CONN_FAILED,		/* no address answered or the greeting was refused */
	MET_TLS_NONE,
	MET_TLS_ENCRYPTED,		/* TLS, peer not authenticated */
	MET_TLS_VERIFIED,
	MET_DNS_OK,
	MET_DNS_NXDOMAIN,
	MET_DNS_NODATA,
	MET_DNS_NULLMX,
	MET_DNS_TEMPFAIL,
	MET_DNS_PERMFAIL,
	/* gauges */
	MET_Q_MAILS_ACTIVE,
	MET_Q_MAILS_DEFERRED,
	MET_Q_MAILS_HELD,
	MET_Q_RCPTS_ACTIVE,
	MET_Q_RCPTS_DEFERRED,
	MET_Q_RCPTS_HELD,
	MET_Q_ON_DISK,			/* deferred mails parked on disk (qmgr_park.c) */
	MET_SESSIONS,			/* per process */
	MET_LINKS,			/* per process */
	/* histograms */
	MET_H_QDELAY,
	MET_H_QDELAY_END = MET_H_QDELAY + METRICS_HIST_BUCKETS + 2,
	MET_H_SMTP = MET_H_QDELAY_END,
	MET_H_SMTP_END = MET_H_SMTP + METRICS_HIST_BUCKETS + 2,
	MET_H_DNS = MET_H_SMTP_END,
	MET_H_DNS_END = MET_H_DNS + METRICS_HIST_BUCKETS + 2,
	MET_MAX = MET_H_DNS_END
};

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_GAUGE_PER_PROC, METRIC_HISTOGRAM };

struct metric_desc {
	const char	*name;		/* Prometheus family name */
	const char	*labels;	/* "key=\"value\"" or "" */
	enum metric_kind kind;
	const char	*help;
};

/* The description of a plain id; for histograms, of its first id. */
const struct metric_desc *metric_desc(unsigned id);
/* The upper bounds of a histogram's buckets, in seconds. */
const double	*metric_buckets(unsigned first_id);

/* A child: counting. */
void	metric_inc(unsigned id);
void	metric_add(unsigned id, uint64_t n);
void	metric_set(unsigned id, uint64_t v);
void	metric_observe(unsigned first_id, double seconds);
uint64_t metric_get(unsigned id);
/* Scheduler: one recipient outcome for a destination domain (0 delivered,
 * 1 deferred, 2 bounced); only the top few domains are pushed. */
void	metric_dest(const char *domain, int outcome);

/* A process whose numbers are a state (qmgr: the queue) sets them just before each push. */
void	metrics_set_collector(void (*)(void *), void *);

struct event_base;
struct chan;
/* Push the values to the master once a second over c (top: domains pushed). */
void	metrics_attach(struct event_base *, struct chan *, unsigned top);
/* A state that changed is pushed within 0.1 s (qmgr: the queue's counts). */
void	metrics_push_soon(void);

/* metrics_listen: "port" (127.0.0.1), "address:port" or "[v6]:port"; -1 if not. */
int	metrics_parse_listen(const char *, char *addr, size_t alen, uint16_t *port);

/* The most domains one MSG_METRICS_DEST may carry, and a child tracks. */
#define METRICS_DEST_MAX	100
#define METRICS_DEST_TRACK	4096

#endif
