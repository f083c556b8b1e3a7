/* SPDX-License-Identifier: ISC */
/*
 * sts_rpt.h - TLS reporting (RFC 8460) in the sts process: the counters of
 * the current UTC day (sts_rpt_store.c) and the daily reports built from
 * them, sent by mail through the scheduler and the queue manager or by
 * HTTPS POST (sts_rpt_send.c).
 */
#ifndef OUTPOST_STS_RPT_H
#define OUTPOST_STS_RPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define RPT_FILE		"tlsrpt"
#define RPT_POLICIES_MAX	1024	/* (domain, policy type) pairs counted per day */
#define RPT_DETAILS_MAX		16	/* failure-details kept per policy; the rest only counted */
#define RPT_STRINGS_MAX		8	/* policy-string lines kept (tlsa: records) */
#define RPT_STRING_MAX		160	/* "3 1 1 " and 64 bytes in hex */
#define RPT_IP_MAX		64
#define RPT_FILE_MAX		(8u * 1024 * 1024)	/* a larger file is not read */

struct rpt_detail {
	uint8_t		 result;		/* enum tlsrpt_result, never TLSRPT_OK */
	char		 mx[HOSTNAME_MAX];
	char		 ip[RPT_IP_MAX];
	char		 sending_ip[RPT_IP_MAX];	/* ours, "" unknown */
	uint64_t	 count;
};

struct rpt_policy {
	char		 domain[HOSTNAME_MAX];
	uint8_t		 type;			/* enum tlsrpt_policy_type */
	uint64_t	 ok, failed;
	unsigned	 nstrings;
	char		 strings[RPT_STRINGS_MAX][RPT_STRING_MAX];
	unsigned	 ndetails;
	struct rpt_detail details[RPT_DETAILS_MAX];
};

/* The counters since start (unix seconds; 0: nothing counted yet). */
struct rpt_set {
	uint64_t		 start;
	unsigned		 n, cap;	/* p holds cap, n used */
	struct rpt_policy	*p;
};

/* sts_rpt_store.c: the one set being counted, in memory and in <cache>/tlsrpt. */
struct rpt_set	*rpt_current(void);
/* Count one session (result TLSRPT_OK) or failure; false when the set is full. */
bool		 rpt_count(struct rpt_set *, uint64_t now, const char *domain, unsigned type,
		    unsigned result, const char *mx, const char *ip, const char *sending_ip,
		    const char *const *strings, unsigned nstrings);
void		 rpt_set_free(struct rpt_set *);
/* Take the counters out of the current set (to send them), leaving it empty. */
struct rpt_set	*rpt_take(void);
/* The file's bytes (pure, for the unit tests and the fuzz target). */
size_t		 rpt_encode(const struct rpt_set *, uint8_t **out);
int		 rpt_decode(const uint8_t *, size_t, struct rpt_set *, const char **why);
/* Load from dirfd (-1: none); a damaged file is renamed aside and logged. */
void		 rpt_load(int dirfd);
/* Write now (tmp, fsync, rename, fsync dir) / soon (at most every few seconds). */
bool		 rpt_save(void);
void		 rpt_save_soon(void);
/* Write what is pending (at shutdown). */
void		 rpt_store_shutdown(void);

/* sts_rpt_report.c: one domain's report, JSON gzip'd, shared by its sendings */
struct report {
	char		 domain[HOSTNAME_MAX];
	char		 id[HOSTNAME_MAX * 2 + 64];
	char		 file[HOSTNAME_MAX * 2 + 64];
	uint64_t	 start, end;
	uint8_t		*gz;
	size_t		 gzlen;
	unsigned	 refs;
};
struct config;
struct report	*rpt_report_build(const struct config *, const struct rpt_set *,
		    const char *domain, uint64_t start, uint64_t end);
void		 rpt_report_unref(struct report *);

/* sts_rpt_send.c */
struct proc_ctx;
struct chan;
struct frame;
void		 rpt_send_init(struct proc_ctx *);
struct event_base *rpt_event_base(void);
void		 rpt_set_sched(struct chan *);
/* The scheduler's frames of TLS reporting (TLSRPT_COUNT, _RUA, _ADDRS, _QUEUED). */
int		 rpt_sched_frame(struct frame *);
/* outpostctl tlsrpt [send] */
int		 rpt_control(struct proc_ctx *, struct frame *, const char *cmd);
/* A policy fetch failed or the policy was invalid: counted for the domain. */
void		 rpt_sts_failure(const char *domain, unsigned result);
void		 rpt_shutdown(void);

#endif
