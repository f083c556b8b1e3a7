/* SPDX-License-Identifier: ISC */
/*
 * config_dest.c - the [destinations] section of the configuration: parsing
 * one line into a struct dest_conf, and finding the entry that applies to
 * a recipient domain or an MX host. Linked into every process with the
 * rest of the config; used by config.c (parse, print) and by the
 * scheduler's shaper (sched_shape_run.c). Syntax: config_dest.h.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_dest.h"
#include "xmalloc.h"

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Letters, digits, '-', '_', '.', and for mx: patterns '*', '?', '[', ']'. */
static bool
valid_pattern(const char *p, bool glob)
{
	size_t	len = strlen(p);

	if (len == 0 || len > 253 || p[0] == '.' || p[len - 1] == '.' || strstr(p, "..") != NULL)
		return false;
	for (; *p; p++) {
		if (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.')
			continue;
		if (glob && strchr("*?[]!", *p) != NULL)
			continue;
		return false;
	}
	return true;
}

static int
parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(v, min, max, &errstr);
	if (errstr != NULL)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* "N/s", "N/m", "N/h", "N/10s", "N/5m": mails per period. */
static int
parse_rate(const char *v, unsigned *rate, unsigned *period)
{
	char		 num[32];
	const char	*slash;
	int64_t		 p;

	if ((slash = strchr(v, '/')) == NULL || (size_t)(slash - v) >= sizeof(num))
		return -1;
	memcpy(num, v, slash - v);
	num[slash - v] = '\0';
	if (parse_uint(num, 1, 1000000, rate) == -1)
		return -1;
	slash++;
	if (strcmp(slash, "s") == 0)
		p = 1;
	else if (strcmp(slash, "m") == 0)
		p = 60;
	else if (strcmp(slash, "h") == 0)
		p = 3600;
	else if ((p = config_parse_duration(slash, 86400)) < 1)
		return -1;
	*period = (unsigned)p;
	return 0;
}

int
config_dest_parse(const char *key, const char *value, struct dest_conf *out,
    char *err, size_t errlen)
{
	char		 buf[1024], *opt, *next, *eq;
	const char	*pat = key;

	memset(out, 0, sizeof(*out));
	out->reuse = -1;
	if (strncasecmp(key, "mx:", 3) == 0) {
		out->match = DEST_MATCH_MX;
		pat = key + 3;
	} else if (key[0] == '.') {
		out->match = DEST_MATCH_SUBDOMAINS;
		pat = key + 1;
	} else
		out->match = DEST_MATCH_DOMAIN;
	if (!valid_pattern(pat, out->match == DEST_MATCH_MX)) {
		snprintf(err, errlen, "destination \"%s\": expected domain, .domain or "
		    "mx:host-pattern", key);
		return -1;
	}
	strlcpy(out->pattern, pat, sizeof(out->pattern));
	lower(out->pattern);

	if (strlcpy(buf, value, sizeof(buf)) >= sizeof(buf)) {
		snprintf(err, errlen, "destination %s: line too long", key);
		return -1;
	}
	if (*value == '\0') {
		snprintf(err, errlen, "destination %s: no settings (concurrency=N, rate=N/PERIOD, "
		    "rcpt_per_transaction=N, mails_per_connection=N, reuse=yes|no)", key);
		return -1;
	}
	for (opt = buf; opt != NULL; opt = next) {
		while (*opt == ' ' || *opt == '\t')
			opt++;
		if (*opt == '\0')
			break;
		next = strpbrk(opt, " \t");
		if (next != NULL)
			*next++ = '\0';
		if ((eq = strchr(opt, '=')) == NULL) {
			snprintf(err, errlen, "destination %s: expected option=value, got \"%s\"",
			    key, opt);
			return -1;
		}
		*eq++ = '\0';
		if (strcmp(opt, "concurrency") == 0) {
			if (out->concurrency != 0 || parse_uint(eq, 1, 10000, &out->concurrency) == -1)
				goto bad;
		} else if (strcmp(opt, "rate") == 0) {
			if (out->rate != 0 || parse_rate(eq, &out->rate, &out->rate_period) == -1)
				goto bad;
		} else if (strcmp(opt, "rcpt_per_transaction") == 0) {
			if (out->rcpt_per_transaction != 0 ||
			    parse_uint(eq, 1, 1000, &out->rcpt_per_transaction) == -1)
				goto bad;
		} else if (strcmp(opt, "mails_per_connection") == 0) {
			if (out->mails_per_connection != 0 ||
			    parse_uint(eq, 1, 1000000, &out->mails_per_connection) == -1)
				goto bad;
		} else if (strcmp(opt, "reuse") == 0) {
			if (out->reuse != -1)
				goto bad;
			if (strcmp(eq, "yes") == 0)
				out->reuse = 1;
			else if (strcmp(eq, "no") == 0)
				out->reuse = 0;
			else
				goto bad;
		} else {
			snprintf(err, errlen, "destination %s: unknown option \"%s\" (expected "
			    "concurrency, rate, rcpt_per_transaction, mails_per_connection, reuse)",
			    key, opt);
			return -1;
		}
		continue;
bad:
		snprintf(err, errlen, "destination %s: bad or repeated value for %s: \"%s\"",
		    key, opt, eq);
		return -1;
	}
	return 0;
}

int
config_dest_add(struct config *c, const struct dest_conf *d, char *err, size_t errlen)
{
	size_t	i;

	for (i = 0; i < c->ndestinations; i++)
		if (c->destinations[i].match == d->match &&
		    strcmp(c->destinations[i].pattern, d->pattern) == 0) {
			snprintf(err, errlen, "destination %s%s given twice",
			    d->match == DEST_MATCH_MX ? "mx:" :
			    d->match == DEST_MATCH_SUBDOMAINS ? "." : "", d->pattern);
			return -1;
		}
	if (c->ndestinations >= CONFIG_DEST_MAX) {
		snprintf(err, errlen, "more than %d destinations", CONFIG_DEST_MAX);
		return -1;
	}
	c->destinations = xreallocarray(c->destinations, c->ndestinations + 1,
	    sizeof(*c->destinations));
	memcpy(&c->destinations[c->ndestinations++], d, sizeof(*d));
	return 0;
}

const struct dest_conf *
config_dest_domain(const struct config *c, const char *domain)
{
	char		 d[256];
	const char	*p;
	size_t		 i, len;

	if (c->ndestinations == 0 || strlcpy(d, domain, sizeof(d)) >= sizeof(d))
		return NULL;
	lower(d);
	len = strlen(d);
	if (len > 0 && d[len - 1] == '.')
		d[len - 1] = '\0';
	for (i = 0; i < c->ndestinations; i++)
		if (c->destinations[i].match == DEST_MATCH_DOMAIN &&
		    strcmp(c->destinations[i].pattern, d) == 0)
			return &c->destinations[i];
	/* ".example.com" covers a.example.com and a.b.example.com, not example.com;
	 * the closest parent wins. */
	for (p = strchr(d, '.'); p != NULL; p = strchr(p + 1, '.'))
		for (i = 0; i < c->ndestinations; i++)
			if (c->destinations[i].match == DEST_MATCH_SUBDOMAINS &&
			    strcmp(c->destinations[i].pattern, p + 1) == 0)
				return &c->destinations[i];
	return NULL;
}

const struct dest_conf *
config_dest_mx(const struct config *c, const char *host)
{
	char	h[256];
	size_t	i, len;

	if (c->ndestinations == 0 || strlcpy(h, host, sizeof(h)) >= sizeof(h))
		return NULL;
	lower(h);
	len = strlen(h);
	if (len > 0 && h[len - 1] == '.')
		h[len - 1] = '\0';
	for (i = 0; i < c->ndestinations; i++)
		if (c->destinations[i].match == DEST_MATCH_MX &&
		    fnmatch(c->destinations[i].pattern, h, 0) == 0)
			return &c->destinations[i];
	return NULL;
}

size_t
config_dest_index(const struct config *c, const struct dest_conf *d)
{
	return (size_t)(d - c->destinations);
}

void
config_dest_format(const struct dest_conf *d, char *buf, size_t len)
{
	int	w;

	w = snprintf(buf, len, "%s%s =", d->match == DEST_MATCH_MX ? "mx:" :
	    d->match == DEST_MATCH_SUBDOMAINS ? "." : "", d->pattern);
	if (w < 0 || (size_t)w >= len)
		return;
	if (d->concurrency)
		w += snprintf(buf + w, len - w, " concurrency=%u", d->concurrency);
	if (w >= 0 && (size_t)w < len && d->rate)
		w += snprintf(buf + w, len - w, " rate=%u/%us", d->rate, d->rate_period);
	if (w >= 0 && (size_t)w < len && d->rcpt_per_transaction)
		w += snprintf(buf + w, len - w, " rcpt_per_transaction=%u",
		    d->rcpt_per_transaction);
	if (w >= 0 && (size_t)w < len && d->mails_per_connection)
		w += snprintf(buf + w, len - w, " mails_per_connection=%u",
		    d->mails_per_connection);
	if (w >= 0 && (size_t)w < len && d->reuse >= 0)
		snprintf(buf + w, len - w, " reuse=%s", d->reuse ? "yes" : "no");
}
