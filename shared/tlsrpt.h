/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt.h - SMTP TLS Reporting (RFC 8460), the pure parts: the
 * _smtp._tls.<domain> TXT record (where reports go) and the aggregate
 * report's JSON (RFC 8460 section 4). No I/O: the counting of sessions,
 * the daily sending by mail and HTTPS POST and the keeping of counts across
 * restarts are not written yet; these are their building blocks, with unit
 * tests and a fuzz target.
 */
#ifndef OUTPOST_TLSRPT_H
#define OUTPOST_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSRPT_RUA_MAX		4	/* report destinations kept */
#define TLSRPT_URI_MAX		512

struct tlsrpt_rua {
	unsigned	n;
	char		uri[TLSRPT_RUA_MAX][TLSRPT_URI_MAX];	/* mailto:... or https://... */
};

/*
 * "v=TLSRPTv1; rua=mailto:a@example.org,https://r.example.org/x" (RFC 8460
 * 3): v first, rua required, its comma-separated URIs of the schemes mailto
 * and https only (others are skipped); 0, or -1 with *why.
 */
int	tlsrpt_txt_parse(const char *txt, size_t len, struct tlsrpt_rua *, const char **why);

/* One policy's counts for a report (RFC 8460 4.3, 4.4). */
enum tlsrpt_policy_type { TLSRPT_STS, TLSRPT_TLSA, TLSRPT_NO_POLICY };

struct tlsrpt_failure {
	const char	*result_type;	/* "certificate-host-mismatch", "starttls-not-supported", ... */
	const char	*sending_ip;
	const char	*mx_host;
	uint64_t	 count;
};

struct tlsrpt_policy {
	uint8_t			 type;		/* enum tlsrpt_policy_type */
	const char		*domain;
	const char *const	*strings;	/* policy-string lines, nstrings */
	unsigned		 nstrings;
	const char *const	*mx;		/* mx-host patterns (sts), nmx */
	unsigned		 nmx;
	uint64_t		 ok, failed;
	const struct tlsrpt_failure *failures;
	unsigned		 nfailures;
};

struct tlsrpt_report {
	const char	*org;		/* organization-name */
	const char	*contact;	/* contact-info */
	const char	*report_id;
	int64_t		 start, end;	/* unix seconds: the day reported */
	const struct tlsrpt_policy *policies;
	unsigned	 npolicies;
};

/* The report as JSON (NUL-terminated, malloc'd; strings escaped as RFC 8259 asks). */
char	*tlsrpt_json(const struct tlsrpt_report *, size_t *len);

#endif
