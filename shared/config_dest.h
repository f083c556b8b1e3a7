/* SPDX-License-Identifier: ISC */
/*
 * config_dest.h - the [destinations] section: per-destination traffic
 * shaping settings (config_dest.c), parsed by config.c and read by the
 * scheduler's shaper (sched_shape_run.c).
 *
 * A line is "KEY = option=value ...". KEY is one of
 *   example.com        recipients at exactly this domain
 *   .example.com       recipients at any subdomain of example.com
 *   mx:*.google.com    destinations whose MX host matches the pattern
 *                      (fnmatch(3), case-insensitive; '*' spans dots)
 * and the options are
 *   concurrency=N            parallel transactions (default destination_concurrency)
 *   rate=N/PERIOD            mails per period: N/s, N/m, N/h or N/DURATION (10s, 5m)
 *   rcpt_per_transaction=N   (default max_rcpt_per_transaction)
 *   mails_per_connection=N   (default max_mails_per_connection)
 *   reuse=yes|no             keep connections open for the next mail
 * Each line is one budget shared by every destination it matches: all the
 * domains whose MX is at one provider share that provider's limits.
 */
#ifndef OUTPOST_CONFIG_DEST_H
#define OUTPOST_CONFIG_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

enum dest_match {
	DEST_MATCH_DOMAIN = 0,		/* example.com */
	DEST_MATCH_SUBDOMAINS = 1,	/* .example.com */
	DEST_MATCH_MX = 2,		/* mx:pattern */
};

struct dest_conf {
	char		pattern[256];	/* lower case, without "." or "mx:" */
	uint8_t		match;		/* enum dest_match */
	unsigned	concurrency;	/* 0: destination_concurrency */
	unsigned	rate;		/* mails per rate_period; 0: no limit */
	unsigned	rate_period;	/* seconds */
	unsigned	rcpt_per_transaction;	/* 0: max_rcpt_per_transaction */
	unsigned	mails_per_connection;	/* 0: max_mails_per_connection */
	int8_t		reuse;		/* -1: as configured globally, 0 no, 1 yes */
};

#define CONFIG_DEST_MAX		10000	/* [destinations] lines */

/*
 * Parse one [destinations] line into out; returns 0, or -1 with a message
 * in err.
 */
int	config_dest_parse(const char *key, const char *value, struct dest_conf *out,
	    char *err, size_t errlen);
/* Add a parsed line to c; -1 with a message when its key is there already. */
int	config_dest_add(struct config *c, const struct dest_conf *d, char *err, size_t errlen);
/* The entry for a recipient domain (exact first, then the closest parent
 * ".domain"), or NULL. */
const struct dest_conf *config_dest_domain(const struct config *, const char *domain);
/* The first mx: entry whose pattern matches this MX host name, or NULL. */
const struct dest_conf *config_dest_mx(const struct config *, const char *host);
/* The line as it would be written, for outpost -n. */
void	config_dest_format(const struct dest_conf *, char *buf, size_t len);
/* Index of an entry in c->dests (for keys of shared budgets). */
size_t	config_dest_index(const struct config *, const struct dest_conf *);

#endif
