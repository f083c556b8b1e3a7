/* SPDX-License-Identifier: ISC */
/*
 * signer_keys.c - the signer's key table (signer.h). Keys arrive from the
 * master; each DER copy lives in its own sodium_malloc region (guard pages,
 * locked, wiped on free), and the frame buffer it came in is wiped at once.
 * Each key is also parsed once, when it arrives: with OpenSSL 3 parsing
 * costs half a millisecond, ten times an Ed25519 signature. OpenSSL keeps
 * the private parts of a parsed key in its secure heap (keys_init: locked,
 * between guard pages, cleared on free), the counterpart of sodium_malloc.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "dkim_sign.h"
#include "frame.h"
#include "log.h"
#include "signer.h"
#include "xmalloc.h"

static struct sdomain	*cur;		/* the set in use */
static size_t		 ncur;
static struct sdomain	*next;		/* the set being received */
static size_t		 nnext;

#define SECURE_HEAP	(256 * 1024)	/* room for many RSA-4096 keys, two sets at once */

/*
 * OpenSSL's parsers copy key bytes into short-lived buffers of the ordinary
 * heap and free them without clearing (the inner OCTET STRING of an Ed25519
 * key, for one). In the signer every OpenSSL allocation is therefore wiped
 * when it is freed, so that a replaced key does not linger in freed memory.
 */
static void *
wipe_malloc(size_t n, const char *file, int line)
{
	return malloc(n);
}

static void
wipe_free(void *p, const char *file, int line)
{
	if (p != NULL)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void *
wipe_realloc(void *p, size_t n, const char *file, int line)
{
	void *q;
	size_t old;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p, file, line);
		return NULL;
	}
	if ((q = malloc(n)) == NULL)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	wipe_free(p, file, line);
	return q;
}

void
keys_init(void)
{
	if (CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free) != 1)
		log_warnx("dkim: OpenSSL allocated memory before the signer started: "
		    "its freed buffers are not wiped");
	if (CRYPTO_secure_malloc_init(SECURE_HEAP, 64) != 1)
		log_warnx("dkim: no OpenSSL secure heap: parsed keys live in the ordinary heap");
}

static void
key_free(struct skey *k)
{
	EVP_PKEY_free(k->pkey);		/* clears the private parts */
	k->pkey = NULL;
	if (k->der != NULL)
		sodium_free(k->der);	/* wipes first */
	k->der = NULL;
}

static void
set_free(struct sdomain *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < set[i].nkeys; k++)
			key_free(&set[i].keys[k]);
	free(set);
}

int
keys_frame(struct frame *f)
{
	struct sdomain d;
	const uint8_t *der;
	size_t derlen;
	uint16_t n;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	if (!frame_get_str(f, d.domain, sizeof(d.domain)) || !frame_get_u8(f, &d.subdomains) ||
	    !frame_get_u8(f, &d.canon_hdr) || !frame_get_u8(f, &d.canon_body) ||
	    !frame_get_u16(f, &n) || n == 0 || n > DKIM_KEYS_MAX || d.canon_hdr > 1 || d.canon_body > 1)
		goto out;
	for (unsigned k = 0; k < n; k++) {
		struct skey *sk = &d.keys[k];
		if (!frame_get_str(f, sk->selector, sizeof(sk->selector)) || !frame_get_u8(f, &sk->alg) ||
		    !frame_get_bytes(f, &der, &derlen) || derlen == 0 || derlen > 16384)
			goto out;
		if ((sk->der = sodium_malloc(derlen)) == NULL)
			fatalx("signer: sodium_malloc for a key");
		memcpy(sk->der, der, derlen);
		sk->derlen = derlen;
		d.nkeys++;
		/* Checked now, so that a bad key is reported once, not per mail. */
		const uint8_t *p = sk->der;
		sk->pkey = d2i_AutoPrivateKey(NULL, &p, (long)sk->derlen);
		if (sk->pkey == NULL || dkim_key_alg(sk->pkey) != sk->alg) {
			log_warnx("dkim: the key of %s, selector %s, is not a usable %s key: "
			    "mail from %s is not signed with it", d.domain, sk->selector,
			    dkim_alg_name(sk->alg), d.domain);
			EVP_PKEY_free(sk->pkey);
			sk->pkey = NULL;
		}
	}
	if (!frame_end(f))
		goto out;
	next = xreallocarray(next, nnext + 1, sizeof(*next));
	next[nnext++] = d;
	memset(&d, 0, sizeof(d));
	rc = 0;
out:
	/* The receive buffer's copy goes now, whatever the frame held. */
	sodium_memzero((void *)(uintptr_t)f->p, f->len);
	if (rc == -1)
		for (unsigned k = 0; k < d.nkeys; k++)
			key_free(&d.keys[k]);
	return rc;
}

int
keys_end(struct frame *f)
{
	uint32_t n;

	if (!frame_get_u32(f, &n) || !frame_end(f) || n != nnext) {
		set_free(next, nnext);
		next = NULL;
		nnext = 0;
		return -1;
	}
	set_free(cur, ncur);
	cur = next;
	ncur = nnext;
	next = NULL;
	nnext = 0;
	log_info("dkim: %zu signing domain%s loaded", ncur, ncur == 1 ? "" : "s");
	return 0;
}

const struct sdomain *
keys_find(const char *domain)
{
	const char *p;
	size_t i;

	for (i = 0; i < ncur; i++)
		if (!cur[i].subdomains && strcmp(cur[i].domain, domain) == 0)
			return &cur[i];
	/* ".example.org" covers example.org and every name below it. */
	for (p = domain; p != NULL; p = (p = strchr(p, '.')) != NULL ? p + 1 : NULL)
		for (i = 0; i < ncur; i++)
			if (cur[i].subdomains && strcmp(cur[i].domain, p) == 0)
				return &cur[i];
	return NULL;
}

void
keys_clear(void)
{
	set_free(cur, ncur);
	set_free(next, nnext);
	cur = next = NULL;
	ncur = nnext = 0;
}
