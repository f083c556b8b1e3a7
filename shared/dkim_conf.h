/* SPDX-License-Identifier: ISC */
/*
 * dkim_conf.h - the [dkim] section of the configuration: which From:
 * domains are signed, with which selectors and key files.
 *
 *   [dkim]
 *   example.org  = s2026:/etc/outpost/dkim/example.org.key ed25519
 *   example.net  = e1:/etc/outpost/dkim/net.ed ed25519, r1:/etc/outpost/dkim/net.rsa rsa
 *   .example.com = s1:/etc/outpost/dkim/com.key rsa c=simple/simple
 *
 * One line per signing domain (d=); one to DKIM_KEYS_MAX keys (dual signing),
 * comma separated, each "selector:/absolute/path" and an algorithm (rsa,
 * the default, or ed25519). A leading dot also signs mail from every
 * subdomain with the parent's d= ("its parent when configured"). c= sets the
 * canonicalization header/body (default relaxed/relaxed).
 * Parsed by shared/config.c (every process); the key files are read by the
 * master only (daemons/master/master_dkim.c).
 */
#ifndef OUTPOST_DKIM_CONF_H
#define OUTPOST_DKIM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DKIM_KEYS_MAX		2
#define DKIM_SELECTOR_MAX	64
#define DKIM_DOMAIN_MAX		256

enum dkim_alg { DKIM_RSA_SHA256 = 0, DKIM_ED25519_SHA256 = 1 };

struct dkim_keyconf {
	char		selector[DKIM_SELECTOR_MAX];
	char		path[1024];
	uint8_t		alg;		/* enum dkim_alg */
};

struct dkim_domain {
	char			domain[DKIM_DOMAIN_MAX];	/* lower case, no leading dot */
	bool			subdomains;
	uint8_t			canon_hdr, canon_body;		/* enum dkim_canon */
	unsigned		nkeys;
	struct dkim_keyconf	keys[DKIM_KEYS_MAX];
};

struct config;

/* Parse one "[.]domain = value" line of [dkim]; -1 with err set when malformed. */
int	dkim_conf_add(struct config *, const char *name, const char *value, char *err, size_t errlen);
/*
 * The entry that signs mail from this (lower-case) From: domain: the domain
 * itself, else the nearest parent written with a leading dot; NULL if none.
 */
const struct dkim_domain *dkim_conf_find(const struct dkim_domain *, size_t n, const char *domain);
const char *dkim_alg_name(int alg);	/* "rsa-sha256", "ed25519-sha256" */
int	dkim_alg_parse(const char *);	/* "rsa" | "ed25519" -> enum, or -1 */
/* The [dkim] lines as written in a configuration file. */
void	dkim_conf_print(const struct dkim_domain *, size_t n, void (*line)(void *, const char *), void *);

#endif
