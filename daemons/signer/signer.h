/* SPDX-License-Identifier: ISC */
/*
 * signer.h - private header of the signer, the DKIM signing process.
 *
 * The signer is the only process that holds DKIM private keys. The master
 * reads the key files (it alone may: they belong to root) and hands them
 * over as SIGNER_KEY frames, on start and on every reload; the signer keeps
 * them in guarded memory (sodium_malloc) and wipes the old set when a new
 * one is complete. It runs as the mail user, chrooted into the empty
 * directory, and reads nothing but the queue file descriptors the queue
 * manager passes with SIGN_REQUEST.
 *
 * Files:
 *   signer.c       entry point, links, dispatch
 *   signer_keys.c  the key table in guarded memory
 *   signer_sign.c  one request: read the content, canonicalize, sign
 */
#ifndef OUTPOST_SIGNER_H
#define OUTPOST_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "dkim_conf.h"

struct frame;
struct buf;
struct evp_pkey_st;

/*
 * One signing key: selector, algorithm, the PKCS#8 DER as received in
 * guarded memory, and the key parsed once (its private parts in OpenSSL's
 * secure heap; NULL when the key is unusable).
 */
struct skey {
	char			 selector[DKIM_SELECTOR_MAX];
	uint8_t			 alg;
	uint8_t			*der;		/* sodium_malloc */
	size_t			 derlen;
	struct evp_pkey_st	*pkey;
};

/* One [dkim] entry with its keys. */
struct sdomain {
	char		 domain[DKIM_DOMAIN_MAX];
	uint8_t		 subdomains;
	uint8_t		 canon_hdr, canon_body;
	unsigned	 nkeys;
	struct skey	 keys[DKIM_KEYS_MAX];
};

/* signer_keys.c */
/* A SIGNER_KEY frame: one entry for the set being received. -1 if malformed. */
int	keys_frame(struct frame *);
/* SIGNER_KEYS_END: the received set replaces the current one. -1 if malformed. */
int	keys_end(struct frame *);
/* The entry for a From: domain, or NULL. */
const struct sdomain *keys_find(const char *domain);
/* Before any key arrives: OpenSSL's secure heap for the parsed keys. */
void	keys_init(void);
/* Wipe and free every key (exit). */
void	keys_clear(void);

/* signer_sign.c */
/*
 * Sign the content [off, off+len) of fd. Returns SIGN_OK with the
 * DKIM-Signature field(s) appended to out, or SIGN_NONE / SIGN_FAIL; detail
 * says what happened, for the log.
 */
int	sign_content(int fd, uint64_t off, uint64_t len, struct buf *out, char *detail, size_t dlen);

#endif
