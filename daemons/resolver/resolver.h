/* SPDX-License-Identifier: ISC */
/*
 * resolver.h - the resolver process: the only process of outpost that sends
 * DNS queries. It answers the scheduler's DNS_QUERY_ADDR and DNS_QUERY_MX
 * with typed frames (DNS_ADDRS, DNS_MX), never with DNS wire data, and keeps
 * libunbound's DNSSEC verdict in every answer.
 *
 * Files: resolver.c (prepare before chroot, main, the scheduler link),
 * resolver_query.c (queries in flight, answers), resolver_rdata.c (the MX
 * record data and host name checks, pure: unit tests and a fuzz target),
 * resolver_zones.c (libunbound's built-in local zones opened to forwarders),
 * resolver_tlsa.c (TLSA for DANE: owner name, record data, answer frame).
 */
#ifndef OUTPOST_RESOLVER_H
#define OUTPOST_RESOLVER_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "msg.h"

struct proc_ctx;
struct chan;
struct event;
struct frame;
struct ub_ctx;
struct ub_result;

/* Before chroot and the switch of user: libunbound reads the system's
 * resolver settings here (/etc/resolv.conf when dns_servers is empty) and
 * the DNSSEC trust anchor (dnssec_trust_anchor; unreadable: fatal). */
void	resolver_prepare(struct proc_ctx *);
void	resolver_main(struct proc_ctx *);

/* resolver_zones.c: libunbound 1.17's built-in local zones, each passed to
 * fn (returns how many); and all of them made transparent, for forwarding. */
size_t	resolver_default_zones(void (*fn)(const char *zone, void *arg), void *arg);
void	resolver_open_default_zones(struct ub_ctx *);

#define RESOLVER_MX_MAX		32	/* MX hosts in one answer */
#define RESOLVER_ADDRS_MAX	16	/* addresses of one family for one host */
#define RESOLVER_RDATA_MAX	4096	/* records of one answer looked at */
#define RESOLVER_QUERIES_MAX	1024	/* scheduler questions in flight */
#define RESOLVER_TIMEOUT	20	/* seconds before a question is answered TEMPFAIL */

/*
 * resolver_rdata.c, pure.
 */
/* A host name we are willing to ask about or pass on: letters, digits, '-',
 * '_' in labels of 1..63 octets, at most 253 octets, one optional final dot. */
bool	rdata_name_ok(const char *);
/*
 * Decode an uncompressed wire-format domain name filling exactly len bytes
 * into lower-case text without the final dot ("." for the root). Compression
 * pointers, bad label lengths, names over 255 octets and characters outside
 * rdata_name_ok's set are rejected: -1 with *why set.
 */
int	rdata_name(const uint8_t *p, size_t len, char *out, size_t outsz, const char **why);
/* MX record data: u16 preference, then the exchange name (RFC 1035 3.3.9). */
int	rdata_mx(const uint8_t *p, size_t len, uint16_t *pref, char *host, size_t hostsz,
	    const char **why);

/* One MX host of an answer. */
struct rmx {
	uint16_t	pref;
	char		host[HOSTNAME_MAX];
};

/* The verdict on one libunbound result, before its records are read. */
struct ranswer {
	uint8_t		status;		/* enum dns_status */
	uint8_t		dnssec;		/* enum dns_sec */
	uint32_t	ttl;
};

/* Classify a result (err is the callback's error code); mxtarget refuses CNAMEs. */
void	rdata_classify(int err, const struct ub_result *, bool mxtarget, struct ranswer *);
/*
 * The MX hosts of a result classified DNS_OK, sorted by preference, at most
 * max (the lowest preferences are kept). Null MX entries ("." target) are
 * left out; if nothing else remains the status becomes DNS_NULLMX. A
 * malformed record makes the whole answer DNS_PERMFAIL. Returns the count.
 */
size_t	rdata_mx_list(const struct ub_result *, struct ranswer *, struct rmx *, size_t max,
	    const char **why);
/* The addresses of a result of type A (family 4) or AAAA (6): at most max. */
size_t	rdata_addrs(const struct ub_result *, uint8_t family, uint8_t (*out)[16], size_t max,
	    struct ranswer *, const char **why);

/*
 * resolver_tlsa.c
 */
#define RR_TLSA		52
struct dane_rr;
/* The records of a TLSA result classified DNS_OK: the usable ones (at most
 * max) in out, the count of all in *seen. A malformed record makes the
 * answer DNS_PERMFAIL (a failed lookup). */
size_t	rdata_tlsa_list(const struct ub_result *, struct ranswer *, struct dane_rr *out,
	    size_t max, uint16_t *seen, const char **why);
/* The owner name _port._tcp.host, checked as a name we may look up. */
bool	rdata_tlsa_owner(const char *host, uint16_t port, char *out, size_t outsz);

/*
 * resolver_txt.c
 */
#define RR_TXT		16
/* One TXT record's character-strings joined into out (NUL-terminated); -1
 * when malformed, holding a NUL byte, or not fitting outsz. */
int	rdata_txt(const uint8_t *p, size_t len, char *out, size_t outsz, const char **why);

/*
 * resolver_query.c
 */
struct resolver;

struct rsub {
	struct rquery	*q;
	int		 async_id;
	int		 rrtype;
	bool		 busy;
	struct ranswer	 ans;
	uint8_t		 family;
	size_t		 naddr;
	uint8_t		 addrs[RESOLVER_ADDRS_MAX][16];
};

struct rquery {
	TAILQ_ENTRY(rquery) entry;
	struct resolver	*r;
	uint32_t	 reqid;
	uint16_t	 type;		/* MSG_DNS_QUERY_ADDR, _MX or _TLSA */
	char		 name[HOSTNAME_MAX];
	uint8_t		 fams;
	struct rsub	 sub[2];
	unsigned	 nsub;
	unsigned	 pending;
	struct event	*timeout;
	struct timespec	 start;		/* for the DNS answer time metric */
};

struct resolver {
	struct proc_ctx	*ctx;
	struct ub_ctx	*ub;
	struct event	*ub_ev;
	struct chan	*sched;		/* the scheduler link, or NULL */
	TAILQ_HEAD(, rquery) queries;
	unsigned	 nqueries;
};

int	resolver_query(struct resolver *, struct frame *);
void	resolver_cancel_all(struct resolver *);

/* resolver_tlsa.c: the answer to a TLSA question (n usable of seen records). */
void	resolver_tlsa_answer(struct resolver *, struct rquery *, const struct ranswer *,
	    const struct dane_rr *, size_t n, uint16_t seen);
void	resolver_tlsa_result(struct resolver *, struct rquery *, struct rsub *,
	    struct ub_result *);
/* resolver_txt.c: the answer to a TXT question (res may be NULL: failure). */
void	resolver_txt_answer(struct resolver *, struct rquery *, struct rsub *,
	    struct ub_result *);

#endif
