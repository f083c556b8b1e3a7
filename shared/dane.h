/* SPDX-License-Identifier: ISC */
/*
 * dane.h - DANE for SMTP (RFC 7672, RFC 7671): the TLSA records the resolver
 * reads, the scheduler carries and the delivery agent hands to OpenSSL, and
 * the per-host decision of how a delivery must be protected. Pure code, used
 * by the resolver (record data), the scheduler (decision) and the agent
 * (records on the wire); OpenSSL does the matching (agent_dane.c).
 */
#ifndef OUTPOST_DANE_H
#define OUTPOST_DANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DANE_RR_MAX	8	/* TLSA records kept for one host */
#define DANE_DATA_MAX	64	/* SHA2-512 digest; Full(0) records are not kept */

/* RFC 6698 fields and the values RFC 7672 section 3.1 gives SMTP a use for. */
#define DANE_USAGE_PKIX_TA	0
#define DANE_USAGE_PKIX_EE	1
#define DANE_USAGE_DANE_TA	2
#define DANE_USAGE_DANE_EE	3
#define DANE_SELECTOR_CERT	0
#define DANE_SELECTOR_SPKI	1
#define DANE_MTYPE_FULL		0
#define DANE_MTYPE_SHA256	1
#define DANE_MTYPE_SHA512	2

struct dane_rr {
	uint8_t		usage;
	uint8_t		selector;
	uint8_t		mtype;
	uint8_t		len;
	uint8_t		data[DANE_DATA_MAX];
};

/*
 * Decode one TLSA record's data (RFC 6698 section 2.1): u8 usage, u8
 * selector, u8 matching type, then the association data. 1: decoded and
 * usable for SMTP; 0: well formed but unusable (PKIX-TA/PKIX-EE as RFC 7672
 * section 3.1.3 asks, unknown values, Full(0), a digest of the wrong length);
 * -1: malformed (shorter than 4 bytes). *why says why it is not usable.
 */
int	dane_rr_decode(const uint8_t *p, size_t len, struct dane_rr *, const char **why);
/* Is a record (from the wire or the scheduler) one the agent may hand on? */
bool	dane_rr_usable(const struct dane_rr *);

/* What the TLSA lookup of one host found. */
enum dane_tlsa {
	DANE_TLSA_NONE = 0,	/* not looked up: MX or address records insecure */
	DANE_TLSA_INSECURE,	/* answer not signed, or a signed denial: no DANE */
	DANE_TLSA_USABLE,	/* signed, at least one usable record */
	DANE_TLSA_UNUSABLE,	/* signed records, none usable */
	DANE_TLSA_FAILED,	/* bogus, SERVFAIL, timeout, malformed */
};

/* The outcome for one host: the policy its connections get, or no delivery. */
struct dane_verdict {
	bool		 use;		/* false: the host must not be used now (defer) */
	uint8_t		 tls;		/* enum tls_policy: TLS_DANE means authenticate
					   against the records (never TLS_DANE_ONLY) */
	const char	*why;		/* for logs and the deferral reason */
};

/*
 * RFC 7672 section 2.2 as a pure function of the configured policy (enum
 * tls_policy, never TLS_INHERIT), whether the MX and address records were
 * secure (both: DNSSEC_SECURE answers; for a route or implicit MX the address
 * records only), and the TLSA result. Policies other than dane and dane-only
 * pass through unchanged.
 */
void	dane_decide(uint8_t policy, bool names_secure, enum dane_tlsa, struct dane_verdict *);
/* Does a policy want TLSA lookups? */
bool	dane_wanted(uint8_t policy);
const char *dane_tlsa_name(enum dane_tlsa);

#endif
