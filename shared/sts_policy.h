/* SPDX-License-Identifier: ISC */
/*
 * sts_policy.h - MTA-STS (RFC 8461), the pure parts: the _mta-sts TXT record, the
 * policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt,
 * the matching of MX host names against the policy's patterns, and the
 * decision for one MX host. No I/O here: the fetching process and the
 * scheduler call these, and so do the unit tests and a fuzz target.
 */
#ifndef OUTPOST_STS_POLICY_H
#define OUTPOST_STS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STS_ID_MAX		33	/* 1..32 alphanumerics (RFC 8461 3.1) and NUL */
#define STS_MX_MAX		32	/* mx patterns kept from one policy */
#define STS_HOST_MAX		256
#define STS_POLICY_BYTES_MAX	(64 * 1024)	/* RFC 8461 3.3: at most 64 KiB */
#define STS_MAX_AGE_MAX		31557600	/* RFC 8461 3.2: one year */

enum sts_mode { STS_MODE_NONE = 0, STS_MODE_TESTING = 1, STS_MODE_ENFORCE = 2 };
/* What the _mta-sts TXT lookup said (STS_GET). */
enum sts_txt { STS_TXT_NONE = 0, STS_TXT_ID = 1, STS_TXT_FAILED = 2 };
#define STS_TXT_MAX		1024	/* a TXT record's text kept */

struct sts_policy {
	uint8_t		mode;		/* enum sts_mode */
	uint32_t	max_age;	/* seconds */
	unsigned	nmx;
	char		mx[STS_MX_MAX][STS_HOST_MAX];	/* lower case; "*.x" wildcards */
};

/*
 * The TXT record of _mta-sts.<domain> (RFC 8461 3.1): "v=STSv1; id=...;" with
 * optional other fields. 0 with the id copied; -1 (with *why) when it is not
 * an STS record or is malformed (then the domain has no usable STS record).
 */
int	sts_txt_parse(const char *txt, size_t len, char id[STS_ID_MAX], const char **why);

/*
 * A policy file (RFC 8461 3.2): "key: value" lines ending in LF or CRLF;
 * version STSv1, mode, max_age and (unless mode is none) at least one mx are
 * required; unknown keys are ignored. 0 or -1 with *why.
 */
int	sts_policy_parse(const char *text, size_t len, struct sts_policy *, const char **why);

/* Does an MX host name match one of the policy's patterns (RFC 8461 4.1)? */
bool	sts_mx_match(const struct sts_policy *, const char *host);

const char *sts_mode_name(uint8_t);

#endif
