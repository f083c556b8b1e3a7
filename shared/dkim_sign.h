/* SPDX-License-Identifier: ISC */
/*
 * dkim_sign.h - RFC 6376 signatures: choosing the header fields, building
 * the DKIM-Signature field and signing it with rsa-sha256 or
 * ed25519-sha256 (RFC 8463). OpenSSL (EVP) does SHA-256, RSA and Ed25519,
 * libsodium the base64; canonicalization is dkim_canon.c.
 *
 * Run by the signer (daemons/signer), which alone holds private keys, and
 * by outpostctl dkim-keygen (the TXT record of a new key). The header
 * section comes from the queued content; it is untrusted input.
 */
#ifndef OUTPOST_DKIM_SIGN_H
#define OUTPOST_DKIM_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dkim_canon.h"

struct buf;
struct evp_pkey_st;

#define DKIM_HASH_LEN		32
#define DKIM_HDRS_MAX		1000	/* header fields looked at */
#define DKIM_RSA_MIN_BITS	2048

/* The header fields of a message, in order, as found in the queued content. */
struct dkim_field {
	const char	*p;		/* "Name:value" with folding and line ending */
	size_t		 len;
	const char	*name;
	size_t		 namelen;
};
struct dkim_hdrs {
	struct dkim_field	*f;
	size_t			 n;
};

/* Split a header section (mailhdr_section) into fields; at most DKIM_HDRS_MAX. */
void	dkim_hdrs_parse(const char *hdr, size_t len, struct dkim_hdrs *);
void	dkim_hdrs_free(struct dkim_hdrs *);

/*
 * The domain of the one From: field's first mailbox, lower case. -1 with
 * *why set when there is no From:, more than one, or no usable address.
 */
int	dkim_from_domain(const struct dkim_hdrs *, char *dom, size_t len, const char **why);

/*
 * The h= list for these fields: every present field of the signed list
 * once per instance, and "from" once more than present (oversigning: a
 * From: added on the way breaks the signature). Written to out as
 * "from:from:to:subject"; NUL-terminated.
 */
void	dkim_header_list(const struct dkim_hdrs *, struct buf *out);

struct dkim_signer {
	const char		*domain;	/* d= */
	const char		*selector;	/* s= */
	int			 alg;		/* enum dkim_alg */
	struct evp_pkey_st	*pkey;
	enum dkim_canon		 canon_hdr, canon_body;
};

/*
 * Append one DKIM-Signature field, ending in CRLF, to out. bh is the
 * SHA-256 of the canonical body (canon_body). Returns 0, or -1 with err.
 */
int	dkim_sign_field(const struct dkim_hdrs *, const struct dkim_signer *,
	    const uint8_t bh[DKIM_HASH_LEN], time_t now, struct buf *out, char *err, size_t errlen);

/* "v=DKIM1; k=rsa; p=..." for the public half of pkey; NULL if unsupported. Free it. */
char	*dkim_txt_record(struct evp_pkey_st *pkey);
/* The algorithm of a key (enum dkim_alg), or -1 (RSA below 2048 bits, other types). */
int	dkim_key_alg(struct evp_pkey_st *pkey);

#endif
