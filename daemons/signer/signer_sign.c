/* SPDX-License-Identifier: ISC */
/*
 * signer_sign.c - one signing request in the signer: the header section is
 * read from the queue file descriptor, the From: domain picks the [dkim]
 * entry, the body is canonicalized and hashed block by block (a large
 * attachment is never held in memory), and each key of the entry makes one
 * DKIM-Signature field. Nothing is written anywhere: the fields go back to
 * the queue manager, which stores them with the mail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_sign.h"
#include "mailhdr.h"
#include "msg.h"
#include "signer.h"
#include "xmalloc.h"

#define SIGN_HDR_MAX	(1024 * 1024)	/* a header section beyond this is not signed */
#define SIGN_BLOCK	(64 * 1024)

static ssize_t
pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = pread(fd, p + done, n - done, (off_t)(off + done));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static void
digest_out(void *arg, const void *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/*
 * SHA-256 of the canonical body: the part already read (have bytes, which
 * end at content offset done), then the rest of the content in blocks.
 */
static int
body_hash(int fd, uint64_t off, uint64_t len, const uint8_t *have, size_t havelen, size_t done,
    enum dkim_canon canon, uint8_t bh[DKIM_HASH_LEN])
{
	struct dkim_body b;
	EVP_MD_CTX *mc;
	uint8_t *blk = NULL;
	uint64_t pos = off + done, end = off + len;
	int rc = -1;

	if ((mc = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(mc, EVP_sha256(), NULL) != 1)
		goto done;
	dkim_body_init(&b, canon, digest_out, mc);
	dkim_body_feed(&b, have, havelen);
	blk = xmalloc(SIGN_BLOCK);
	while (pos < end) {
		size_t n = end - pos > SIGN_BLOCK ? SIGN_BLOCK : (size_t)(end - pos);
		if (pread_full(fd, blk, n, pos) == -1)
			goto done;
		dkim_body_feed(&b, blk, n);
		pos += n;
	}
	dkim_body_finish(&b);
	rc = EVP_DigestFinal_ex(mc, bh, NULL) == 1 ? 0 : -1;
done:
	free(blk);
	EVP_MD_CTX_free(mc);
	return rc;
}

int
sign_content(int fd, uint64_t off, uint64_t len, struct buf *out, char *detail, size_t dlen)
{
	const struct sdomain *d;
	struct dkim_hdrs h = { NULL, 0 };
	struct dkim_signer s;
	uint8_t *head, bh[DKIM_HASH_LEN];
	size_t headlen, hdrlen, body, done = 0;
	const char *why;
	char dom[DKIM_DOMAIN_MAX], err[512], problems[1024];
	int rc = SIGN_FAIL;

	headlen = len > SIGN_HDR_MAX ? SIGN_HDR_MAX : (size_t)len;
	head = xmalloc(headlen ? headlen : 1);
	if (pread_full(fd, head, headlen, off) == -1) {
		snprintf(detail, dlen, "cannot read the queued mail: %s", strerror(errno));
		goto out;
	}
	hdrlen = mailhdr_section((const char *)head, headlen, &body);
	if (body == headlen && headlen < len) {
		snprintf(detail, dlen, "header section larger than %d bytes", SIGN_HDR_MAX);
		goto out;
	}
	dkim_hdrs_parse((const char *)head, hdrlen, &h);
	if (dkim_from_domain(&h, dom, sizeof(dom), &why) == -1) {
		snprintf(detail, dlen, "not signed: %s", why);
		rc = SIGN_NONE;
		goto out;
	}
	if ((d = keys_find(dom)) == NULL) {
		snprintf(detail, dlen, "not signed: no [dkim] entry for %s", dom);
		rc = SIGN_NONE;
		goto out;
	}
	detail[0] = '\0';
	memset(&s, 0, sizeof(s));
	s.domain = d->domain;
	s.canon_hdr = d->canon_hdr;
	s.canon_body = d->canon_body;
	if (body_hash(fd, off, len, head + body, headlen - body, headlen, d->canon_body, bh) == -1) {
		snprintf(detail, dlen, "cannot read the queued mail");
		goto out;
	}
	/*
	 * detail lists the signatures made, then, after "; ", the keys that
	 * could not sign: one list each, whatever the order of the keys.
	 */
	problems[0] = '\0';
	for (unsigned k = 0; k < d->nkeys; k++) {
		s.selector = d->keys[k].selector;
		s.alg = d->keys[k].alg;
		if ((s.pkey = d->keys[k].pkey) == NULL) {
			snprintf(err, sizeof(err), "the key of %s, selector %s, is unusable",
			    d->domain, s.selector);
		} else if (dkim_sign_field(&h, &s, bh, time(NULL), out, err,
		    sizeof(err)) == 0) {
			size_t l = strlen(detail);
			snprintf(detail + l, dlen - l, "%sd=%s s=%s a=%s c=%s/%s", done ? ", " : "",
			    d->domain, s.selector, dkim_alg_name(s.alg), dkim_canon_name(s.canon_hdr),
			    dkim_canon_name(s.canon_body));
			done++;
			err[0] = '\0';
		}
		if (err[0] != '\0') {
			size_t l = strlen(problems);
			snprintf(problems + l, sizeof(problems) - l, "%s%s", l ? "; " : "", err);
		}
	}
	if (problems[0] != '\0') {
		size_t l = strlen(detail);
		snprintf(detail + l, dlen - l, "%s%s", l ? "; " : "", problems);
	}
	rc = done > 0 ? SIGN_OK : SIGN_FAIL;
out:
	dkim_hdrs_free(&h);
	free(head);
	return rc;
}
