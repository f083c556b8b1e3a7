/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt.h - SMTP TLS Reporting (RFC 8460), the pure parts: the
 * _smtp._tls.<domain> TXT record (where reports go) and the aggregate
 * report's JSON (RFC 8460 section 4), the result types and how a
 * session's TLS outcome maps to one. No I/O: the agents report outcomes
 * (agent_tlsrpt.c), the scheduler names the policy (sched_tlsrpt.c), the sts
 * process counts, keeps and sends (daemons/sts/sts_rpt*.c).
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

/* What a delivery agent saw of one connection's TLS (MSG_AGENT_TLS_SESSION). */
enum tls_outcome {
	TLSO_NO_STARTTLS = 0,	/* not offered, or refused */
	TLSO_HANDSHAKE_FAILED,	/* failed or refused the certificate (X509 result given) */
	TLSO_UP,		/* TLS up; X509 result 0: PKIX-verified against the MX name */
	TLSO_DANE_OK,		/* authenticated by its TLSA records */
	TLSO_DANE_FAILED,	/* up, not authenticated by its TLSA records */
	TLSO_MAX = TLSO_DANE_FAILED
};

/* RFC 8460 4.3 result types; 0 is a successful session. */
enum tlsrpt_result {
	TLSRPT_OK = 0,
	TLSRPT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_CERT_HOST_MISMATCH,
	TLSRPT_CERT_EXPIRED,
	TLSRPT_CERT_NOT_TRUSTED,
	TLSRPT_VALIDATION_FAILURE,
	TLSRPT_TLSA_INVALID,
	TLSRPT_DNSSEC_INVALID,
	TLSRPT_DANE_REQUIRED,
	TLSRPT_STS_FETCH_ERROR,
	TLSRPT_STS_POLICY_INVALID,
	TLSRPT_STS_WEBPKI_INVALID,
	TLSRPT_RESULT_MAX = TLSRPT_STS_WEBPKI_INVALID
};

/* "certificate-host-mismatch", ...; "success" for TLSRPT_OK, NULL out of range. */
const char	*tlsrpt_result_name(unsigned);
/* The result of one session under a policy type (pure: unit-tested). */
enum tlsrpt_result tlsrpt_classify(unsigned policy_type, unsigned outcome, long x509_result);

/* One policy's counts for a report (RFC 8460 4.3, 4.4). */
enum tlsrpt_policy_type { TLSRPT_STS, TLSRPT_TLSA, TLSRPT_NO_POLICY };

struct tlsrpt_failure {
	const char	*result_type;	/* "certificate-host-mismatch", "starttls-not-supported", ... */
	const char	*sending_ip;
	const char	*mx_host;
	uint64_t	 count;
	const char	*receiving_ip;	/* NULL: not known */
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

/*
 * The names a report goes under, the same in the sts process (the JSON) and
 * the queue manager (the mail): the submitter is tlsrpt_submitter, else
 * helo_name, else the host name; the contact and sender default to
 * postmaster@<submitter>.
 */
void	tlsrpt_submitter(const char *conf_submitter, const char *helo_name, char *out, size_t len);
void	tlsrpt_postmaster(const char *conf_value, const char *submitter, char *out, size_t len);

/* The report as JSON (NUL-terminated, malloc'd; strings escaped as RFC 8259 asks). */
char	*tlsrpt_json(const struct tlsrpt_report *, size_t *len);

#endif
