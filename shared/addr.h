/* SPDX-License-Identifier: ISC */
/*
 * addr.h - RFC 5321 mail addresses: the paths of MAIL FROM: and RCPT TO:.
 *
 * Used by smtpd (parsing client commands) and by anyone who needs the
 * domain of an address (the scheduler groups recipients by it). Pure
 * functions, no allocation: safe on hostile input and fuzzed
 * (tests/fuzz/fuzz_addr.c).
 */
#ifndef OUTPOST_ADDR_H
#define OUTPOST_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, brackets included */

/* addr_parse_path() flags */
#define ADDR_F_NULL_OK	0x0001	/* "<>" is accepted (a reverse-path) */

struct addr_path {
	/* "local@domain" exactly as written, source route dropped; "" for <>. */
	char		 mailbox[ADDR_PATH_MAX];
	size_t		 at;		/* index of the '@' before the domain (0 for <>) */
	bool		 null;		/* the null path <> */
	bool		 literal;	/* the domain is an address literal [..] */
	/* Points into the parsed string: the ESMTP parameters after the
	 * path and its separating spaces, "" when there are none (and a
	 * valid "" after a failed parse too). */
	const char	*params;
};

/*
 * Parse a Reverse-path or Forward-path followed by optional ESMTP
 * parameters: "<a@b.c> SIZE=10". s is a NUL-terminated string that starts
 * with the '<'. Returns 0, or -1 with *err set to a static message
 * ("local part too long (64 octets max)", ...).
 */
int	addr_parse_path(const char *s, int flags, struct addr_path *out, const char **err);

/*
 * Check a bare mailbox as frames carry it ("local@domain", no brackets, no
 * route, no parameters; "" is the null sender when null_ok). For receivers
 * of SUBMIT_BEGIN/SUBMIT_RCPT, which must not trust the submitter.
 * Returns 0 or -1 with *err set.
 */
int	addr_check_mailbox(const char *s, bool null_ok, const char **err);

/* Check a domain (labels) or an address literal ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]") of len octets. Returns 0 or -1 with *err set. */
int	addr_check_domain(const char *s, size_t len, const char **err);

/*
 * The domain of a mailbox ("local@Example.COM" -> "example.com"), lower-
 * cased, written to buf. Returns 0, or -1 when there is no '@' followed
 * by a domain or when it does not fit.
 */
int	addr_domain(const char *mailbox, char *buf, size_t len);

#endif
