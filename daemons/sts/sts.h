/* SPDX-License-Identifier: ISC */
/*
 * sts.h - the MTA-STS process (daemons/sts): fetches recipient domains'
 * policies over HTTPS for the scheduler and keeps them across restarts. It
 * has network access and nothing else: no queue, no keys, no DNS (the
 * scheduler hands it the addresses of mta-sts.<domain>, found by the
 * resolver), chrooted into the empty directory; it holds one descriptor of
 * its own cache directory (<state_directory>/sts), opened before the chroot.
 *
 * Files: sts.c (prepare before chroot, main, the scheduler link, the answer
 * to STS_GET), sts_cache.c (policies in memory and in the cache file),
 * sts_fetch.c (libcurl transfers inside the libevent loop).
 */
#ifndef OUTPOST_STS_PROC_H
#define OUTPOST_STS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sts_policy.h"
#include "msg.h"

struct proc_ctx;

void	sts_prepare(struct proc_ctx *);
void	sts_main(struct proc_ctx *);
struct frame;
/* Addresses the scheduler sends with a question: at most this many are used. */
#define STS_ADDRS_MAX	16
bool	sts_frame_addrs(struct frame *, uint16_t n, uint8_t (*addrs)[17], unsigned *naddr);

#define STS_CACHE_MAX		4096	/* domains whose policy is kept */
#define STS_CACHE_FILE		"policies"
#define STS_FETCH_TIMEOUT	30	/* seconds one HTTPS fetch may take (RFC 8461 3.3) */
#define STS_FETCHES_MAX		64	/* transfers at once */

/* sts_cache.c: one cached policy. */
struct sts_entry {
	char		 domain[HOSTNAME_MAX];
	char		 id[STS_ID_MAX];
	uint64_t	 fetched;
	uint64_t	 expires;	/* fetched + max_age */
	struct sts_policy pol;
};

/* Load the cache file from dirfd (-1: none); a damaged file is ignored, logged. */
void		 sts_cache_load(int dirfd);
/* Write the whole cache atomically (temporary file, fsync, rename, fsync dir). */
bool		 sts_cache_save(void);
struct sts_entry *sts_cache_find(const char *domain, uint64_t now);
/* Every entry, expired ones included (outpostctl sts). */
const struct sts_entry *sts_cache_all(unsigned *n);
void		 sts_cache_put(const char *domain, const char *id, const struct sts_policy *,
		    uint64_t now);
/* Serialise / parse the cache file's bytes (pure, for the unit tests). */
size_t		 sts_cache_encode(uint8_t **out);
int		 sts_cache_decode(const uint8_t *, size_t, const char **why);
void		 sts_cache_clear(void);

/* sts_fetch.c */
struct event_base;
typedef void (*sts_fetch_cb)(void *arg, bool ok, const char *body, size_t len,
    const char *err);
bool		 sts_fetch_init(struct event_base *, const char *ca_file, char *err, size_t);
/* GET https://mta-sts.<domain>/.well-known/mta-sts.txt from one of addrs. */
bool		 sts_fetch_start(const char *domain, const uint8_t (*addrs)[17], unsigned naddr,
		    sts_fetch_cb, void *arg);
void		 sts_fetch_shutdown(void);
/* In a fetch callback: did it fail on the server's certificate (TLS-RPT sts-webpki-invalid)? */
bool		 sts_fetch_webpki_failed(void);
/* POST body to url (https), host:port pinned to addrs; cb(arg, ok, what happened). */
typedef void (*sts_post_cb)(void *arg, bool ok, const char *err);
bool		 sts_post_start(const char *url, const char *host, unsigned port,
		    const uint8_t (*addrs)[17], unsigned naddr, const void *body, size_t len,
		    sts_post_cb, void *arg);
/* Give the fetcher its event loop (after the prologue made it). */
void		 sts_fetch_attach(struct event_base *);

#endif
