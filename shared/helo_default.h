/* SPDX-License-Identifier: ISC */
/*
 * helo_default.h - the name outpost gives itself when helo_name is not set
 * (helo_default.c): Debian's /etc/mailname, else the host's canonical name.
 */
#ifndef OUTPOST_HELO_DEFAULT_H
#define OUTPOST_HELO_DEFAULT_H

#include <stdbool.h>
#include <stddef.h>

#define HELO_MAILNAME_PATH	"/etc/mailname"

/* The canonical name of host into out; 0, or -1 when there is none. */
typedef int (*helo_canon_fn)(const char *host, char *out, size_t len);

/* getaddrinfo(AI_CANONNAME): /etc/hosts first, then DNS, as nsswitch says. */
int	helo_canonical(const char *host, char *out, size_t len);

/*
 * The choice, with its inputs injectable for the tests: the first line of
 * mailname_path when it is a host name; else hostname itself when it has a
 * dot; else canon(hostname) when that has one; else hostname; else
 * "localhost". canon may be NULL (no lookup).
 */
void	helo_default_choose(char *out, size_t len, const char *mailname_path,
	    const char *hostname, helo_canon_fn canon);

/* The process-wide default (computed once): mailname, gethostname, lookup. */
const char *helo_default(void);

/* A name receivers take in EHLO: one with a dot. */
bool	helo_is_qualified(const char *name);

#endif
