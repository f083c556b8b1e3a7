/* SPDX-License-Identifier: ISC */
/*
 * dkim_conf.c - parsing and lookup of the [dkim] section (dkim_conf.h).
 * Called by the configuration parser in every process; the signer and the
 * qmgr look entries up by From: domain.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "dkim_canon.h"
#include "dkim_conf.h"
#include "xmalloc.h"

const char *
dkim_alg_name(int alg)
{
	return alg == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

int
dkim_alg_parse(const char *s)
{
	if (strcmp(s, "rsa") == 0 || strcmp(s, "rsa-sha256") == 0)
		return DKIM_RSA_SHA256;
	if (strcmp(s, "ed25519") == 0 || strcmp(s, "ed25519-sha256") == 0)
		return DKIM_ED25519_SHA256;
	return -1;
}

/* A selector is one or more dot-separated labels (RFC 6376 section 3.1). */
static bool
selector_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DKIM_SELECTOR_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") ||
	    s[0] == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
			return false;
	return true;
}

static int
parse_canon(const char *v, struct dkim_domain *d)
{
	char h[16], b[16];
	const char *slash = strchr(v, '/');
	int ch, cb;

	if (slash == NULL) {
		if ((ch = dkim_canon_parse(v)) < 0)
			return -1;
		cb = DKIM_SIMPLE;	/* RFC 6376 3.5: a missing body part is simple */
	} else {
		if ((size_t)(slash - v) >= sizeof(h) || strlen(slash + 1) >= sizeof(b))
			return -1;
		memcpy(h, v, slash - v);
		h[slash - v] = '\0';
		strlcpy(b, slash + 1, sizeof(b));
		if ((ch = dkim_canon_parse(h)) < 0 || (cb = dkim_canon_parse(b)) < 0)
			return -1;
	}
	d->canon_hdr = (uint8_t)ch;
	d->canon_body = (uint8_t)cb;
	return 0;
}

int
dkim_conf_add(struct config *c, const char *name, const char *value, char *err, size_t errlen)
{
	struct dkim_domain d;
	struct dkim_keyconf *k = NULL;
	const char *why, *dom = name;
	char tmp[2048], *item, *tok, *save1, *save2, *colon;
	int a;

	memset(&d, 0, sizeof(d));
	d.canon_hdr = DKIM_RELAXED;
	d.canon_body = DKIM_RELAXED;
	if (*dom == '.') {
		d.subdomains = true;
		dom++;
	}
	if (strlen(dom) >= sizeof(d.domain) || strchr(dom, '[') != NULL ||
	    addr_check_domain(dom, strlen(dom), &why) == -1) {
		snprintf(err, errlen, "dkim: \"%s\" is not a domain", name);
		return -1;
	}
	for (size_t i = 0; dom[i]; i++)
		d.domain[i] = (char)tolower((unsigned char)dom[i]);
	if (strlcpy(tmp, value, sizeof(tmp)) >= sizeof(tmp)) {
		snprintf(err, errlen, "dkim for %s: value too long", name);
		return -1;
	}
	for (item = strtok_r(tmp, ",", &save1); item != NULL; item = strtok_r(NULL, ",", &save1)) {
		k = NULL;
		for (tok = strtok_r(item, " \t", &save2); tok != NULL; tok = strtok_r(NULL, " \t", &save2)) {
			if (strncmp(tok, "c=", 2) == 0) {
				if (parse_canon(tok + 2, &d) == -1) {
					snprintf(err, errlen, "dkim for %s: c= must be simple or relaxed, "
					    "header/body, got \"%s\"", name, tok + 2);
					return -1;
				}
			} else if ((colon = strchr(tok, ':')) != NULL) {
				if (d.nkeys == DKIM_KEYS_MAX) {
					snprintf(err, errlen, "dkim for %s: at most %d keys", name,
					    DKIM_KEYS_MAX);
					return -1;
				}
				k = &d.keys[d.nkeys++];
				*colon = '\0';
				if (!selector_valid(tok)) {
					snprintf(err, errlen, "dkim for %s: \"%s\" is not a selector",
					    name, tok);
					return -1;
				}
				strlcpy(k->selector, tok, sizeof(k->selector));
				if (colon[1] != '/' || strlcpy(k->path, colon + 1, sizeof(k->path)) >=
				    sizeof(k->path)) {
					snprintf(err, errlen, "dkim for %s: the key file must be an "
					    "absolute path", name);
					return -1;
				}
				k->alg = DKIM_RSA_SHA256;
			} else if ((a = dkim_alg_parse(tok)) >= 0 && k != NULL) {
				k->alg = (uint8_t)a;
			} else {
				snprintf(err, errlen, "dkim for %s: expected \"selector:/key/file "
				    "[rsa|ed25519]\" items and c=, got \"%s\"", name, tok);
				return -1;
			}
		}
	}
	if (d.nkeys == 0) {
		snprintf(err, errlen, "dkim for %s: no \"selector:/key/file\" given", name);
		return -1;
	}
	if (d.nkeys == 2 && strcmp(d.keys[0].selector, d.keys[1].selector) == 0) {
		snprintf(err, errlen, "dkim for %s: two keys with one selector", name);
		return -1;
	}
	for (size_t i = 0; i < c->ndkim; i++)
		if (strcmp(c->dkim[i].domain, d.domain) == 0 && c->dkim[i].subdomains == d.subdomains) {
			snprintf(err, errlen, "dkim for %s given twice", name);
			return -1;
		}
	c->dkim = xreallocarray(c->dkim, c->ndkim + 1, sizeof(*c->dkim));
	c->dkim[c->ndkim++] = d;
	return 0;
}

const struct dkim_domain *
dkim_conf_find(const struct dkim_domain *t, size_t n, const char *domain)
{
	const char *p;
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].domain, domain) == 0 && !t[i].subdomains)
			return &t[i];
	/* ".example.org" covers example.org itself and every name below it. */
	for (p = domain; p != NULL; p = (p = strchr(p, '.')) ? p + 1 : NULL)
		for (i = 0; i < n; i++)
			if (t[i].subdomains && strcmp(t[i].domain, p) == 0)
				return &t[i];
	return NULL;
}

void
dkim_conf_print(const struct dkim_domain *t, size_t n, void (*line)(void *, const char *), void *arg)
{
	char l[4096];
	size_t len;

	for (size_t i = 0; i < n; i++) {
		len = (size_t)snprintf(l, sizeof(l), "%s%s =", t[i].subdomains ? "." : "", t[i].domain);
		for (unsigned k = 0; k < t[i].nkeys && len < sizeof(l); k++)
			len += (size_t)snprintf(l + len, sizeof(l) - len, "%s %s:%s %s", k ? "," : "",
			    t[i].keys[k].selector, t[i].keys[k].path,
			    t[i].keys[k].alg == DKIM_ED25519_SHA256 ? "ed25519" : "rsa");
		if (len < sizeof(l) && (t[i].canon_hdr != DKIM_RELAXED || t[i].canon_body != DKIM_RELAXED))
			snprintf(l + len, sizeof(l) - len, " c=%s/%s", dkim_canon_name(t[i].canon_hdr),
			    dkim_canon_name(t[i].canon_body));
		line(arg, l);
	}
}
