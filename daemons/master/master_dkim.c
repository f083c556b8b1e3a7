/* SPDX-License-Identifier: ISC */
/*
 * master_dkim.c - the DKIM private keys, on their way to the signer.
 *
 * The master (root) reads each key file of the [dkim] section when the
 * signer starts and again on every reload, sends the keys as SIGNER_KEY
 * frames and wipes every copy it made: the key stays in no other process.
 * A key file must be a regular file of root's, readable by root only,
 * holding one PEM "PRIVATE KEY" (PKCS#8, what outpostctl dkim-keygen and
 * openssl genpkey write) or "RSA PRIVATE KEY". The master only undoes the
 * PEM armour (libsodium's base64 into guarded memory); it never parses the
 * key: the signer does, so that the master never holds it in OpenSSL's heap.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "chan.h"
#include "dkim_conf.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"

#define KEY_FILE_MAX	16384

/* One key in guarded memory; NULL with err set on failure. */
static uint8_t *
key_load(const char *path, size_t *derlen, char *err, size_t errlen)
{
	static const char *const labels[] = { "PRIVATE KEY", "RSA PRIVATE KEY" };
	struct stat st;
	char *pem = NULL, *b = NULL, *e = NULL, begin[64], end[64];
	uint8_t *der = NULL;
	ssize_t n;
	size_t cap;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > KEY_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of 1 to %d bytes", path, KEY_FILE_MAX);
		goto fail;
	}
	if ((st.st_mode & 077) != 0 || (geteuid() == 0 && st.st_uid != 0)) {
		snprintf(err, errlen, "%s: must belong to root and be readable by root only "
		    "(chmod 600)", path);
		goto fail;
	}
	if ((pem = sodium_malloc(st.st_size + 1)) == NULL)
		fatal("sodium_malloc");
	if ((n = read(fd, pem, st.st_size)) != st.st_size) {
		snprintf(err, errlen, "%s: short read", path);
		goto fail;
	}
	pem[n] = '\0';
	for (size_t i = 0; i < 2 && b == NULL; i++) {
		snprintf(begin, sizeof(begin), "-----BEGIN %s-----", labels[i]);
		snprintf(end, sizeof(end), "-----END %s-----", labels[i]);
		if ((b = strstr(pem, begin)) != NULL && (e = strstr(b, end)) != NULL)
			b += strlen(begin);
		else
			b = NULL;
	}
	if (b == NULL) {
		snprintf(err, errlen, "%s: no PEM \"PRIVATE KEY\" in it", path);
		goto fail;
	}
	cap = (size_t)(e - b);
	if ((der = sodium_malloc(cap)) == NULL)
		fatal("sodium_malloc");
	if (sodium_base642bin(der, cap, b, e - b, " \t\r\n", derlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || *derlen == 0) {
		snprintf(err, errlen, "%s: the PEM body is not base64", path);
		sodium_free(der);
		der = NULL;
		goto fail;
	}
fail:
	close(fd);
	if (pem != NULL)
		sodium_free(pem);	/* wipes */
	return der;
}

int
dkim_keys_check(const struct config *c, char *err, size_t errlen)
{
	uint8_t *der;
	size_t len;

	if (sodium_init() < 0)
		fatalx("sodium_init");
	for (size_t i = 0; i < c->ndkim; i++)
		for (unsigned k = 0; k < c->dkim[i].nkeys; k++) {
			if ((der = key_load(c->dkim[i].keys[k].path, &len, err, errlen)) == NULL)
				return -1;
			sodium_free(der);
		}
	return 0;
}

void
dkim_keys_send(struct master *m, struct child *c)
{
	const struct config *conf = &m->conf;
	struct fbuf *fb;
	uint8_t *der[DKIM_KEYS_MAX];
	size_t len[DKIM_KEYS_MAX];
	char err[1200];
	uint32_t sent = 0;

	if (c->desc->kind != PROC_SIGNER || c->chan == NULL)
		return;
	for (size_t i = 0; i < conf->ndkim; i++) {
		const struct dkim_domain *d = &conf->dkim[i];
		unsigned n = 0;

		for (unsigned k = 0; k < d->nkeys; k++) {
			der[k] = key_load(d->keys[k].path, &len[k], err, sizeof(err));
			if (der[k] == NULL)
				log_warnx("dkim: %s: mail from %s is not signed with selector %s",
				    err, d->domain, d->keys[k].selector);
			else
				n++;
		}
		if (n == 0)
			continue;
		fb = fbuf_new(MSG_SIGNER_KEY, 0);
		/* Before the key goes in: every copy of the buffer is wiped when freed. */
		fb->wipe = true;
		fbuf_add_str(fb, d->domain);
		fbuf_add_u8(fb, d->subdomains);
		fbuf_add_u8(fb, d->canon_hdr);
		fbuf_add_u8(fb, d->canon_body);
		fbuf_add_u16(fb, (uint16_t)n);
		for (unsigned k = 0; k < d->nkeys; k++) {
			if (der[k] == NULL)
				continue;
			fbuf_add_str(fb, d->keys[k].selector);
			fbuf_add_u8(fb, d->keys[k].alg);
			fbuf_add_bytes(fb, der[k], len[k]);
			sodium_free(der[k]);
		}
		chan_send(c->chan, fb);
		sent++;
	}
	fb = fbuf_new(MSG_SIGNER_KEYS_END, 0);
	fbuf_add_u32(fb, sent);
	chan_send(c->chan, fb);
}
