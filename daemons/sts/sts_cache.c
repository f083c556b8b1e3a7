/* SPDX-License-Identifier: ISC */
/*
 * sts_cache.c - MTA-STS policies kept by the sts process (RFC 8461 5.1): in
 * memory, and in <state_directory>/sts/policies so that they survive a
 * restart. The file is binary and length-prefixed (never text parsed back),
 * written whole and atomically after each change: temporary file, fsync,
 * rename, fsync of the directory. A damaged file is ignored as a whole (the
 * policies are fetched again), never half-read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

#include "sts.h"

#define MAGIC		"OUTPOST-STS-1\n"

static struct sts_entry	*cache;
static unsigned		 ncache;
static int		 cache_dir = -1;

void
sts_cache_clear(void)
{
	free(cache);
	cache = NULL;
	ncache = 0;
}

struct sts_entry *
sts_cache_find(const char *domain, uint64_t now)
{
	unsigned	 i;

	for (i = 0; i < ncache; i++)
		if (strcmp(cache[i].domain, domain) == 0)
			return cache[i].expires > now ? &cache[i] : NULL;
	return NULL;
}

const struct sts_entry *
sts_cache_all(unsigned *n)
{
	*n = ncache;
	return cache;
}

void
sts_cache_put(const char *domain, const char *id, const struct sts_policy *p, uint64_t now)
{
	struct sts_entry	*e = NULL;
	unsigned		 i, oldest = 0;

	for (i = 0; i < ncache; i++)
		if (strcmp(cache[i].domain, domain) == 0)
			e = &cache[i];
	if (e == NULL && ncache < STS_CACHE_MAX) {
		cache = xreallocarray(cache, ncache + 1, sizeof(*cache));
		e = &cache[ncache++];
	} else if (e == NULL) {
		/* full: the policy closest to expiry makes room */
		for (i = 1; i < ncache; i++)
			if (cache[i].expires < cache[oldest].expires)
				oldest = i;
		e = &cache[oldest];
	}
	memset(e, 0, sizeof(*e));
	strlcpy(e->domain, domain, sizeof(e->domain));
	strlcpy(e->id, id, sizeof(e->id));
	e->pol = *p;
	e->fetched = now;
	e->expires = now + p->max_age;
}

/* Little-endian writer and reader of the file's fields. */
struct wbuf { uint8_t *p; size_t len, cap; };

static void
w_raw(struct wbuf *w, const void *v, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->p = xreallocarray(w->p, w->cap, 1);
	}
	memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void
w_u64(struct wbuf *w, uint64_t v)
{
	uint8_t	 b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_raw(w, b, 8);
}

static void
w_str(struct wbuf *w, const char *s)
{
	size_t	 n = strlen(s);
	uint8_t	 b[2] = { (uint8_t)n, (uint8_t)(n >> 8) };

	w_raw(w, b, 2);
	w_raw(w, s, n);
}

size_t
sts_cache_encode(uint8_t **out)
{
	struct wbuf	 w = { NULL, 0, 0 };
	unsigned	 i, k;

	w_raw(&w, MAGIC, strlen(MAGIC));
	w_u64(&w, ncache);
	for (i = 0; i < ncache; i++) {
		const struct sts_entry *e = &cache[i];

		w_str(&w, e->domain);
		w_str(&w, e->id);
		w_u64(&w, e->fetched);
		w_u64(&w, e->expires);
		w_u64(&w, e->pol.mode);
		w_u64(&w, e->pol.max_age);
		w_u64(&w, e->pol.nmx);
		for (k = 0; k < e->pol.nmx; k++)
			w_str(&w, e->pol.mx[k]);
	}
	*out = w.p;
	return w.len;
}

struct rbuf { const uint8_t *p; size_t len, off; bool bad; };

static uint64_t
r_u64(struct rbuf *r)
{
	uint64_t v = 0;

	if (r->bad || r->len - r->off < 8) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += 8;
	return v;
}

static void
r_str(struct rbuf *r, char *out, size_t outsz)
{
	size_t	 n;

	out[0] = '\0';
	if (r->bad || r->len - r->off < 2) {
		r->bad = true;
		return;
	}
	n = r->p[r->off] | (size_t)r->p[r->off + 1] << 8;
	r->off += 2;
	if (n >= outsz || r->len - r->off < n || memchr(r->p + r->off, '\0', n) != NULL) {
		r->bad = true;
		return;
	}
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	r->off += n;
}

int
sts_cache_decode(const uint8_t *p, size_t len, const char **why)
{
	struct rbuf		 r = { p, len, 0, false };
	struct sts_entry	*all = NULL;
	uint64_t		 n, i, k, v;

	sts_cache_clear();
	if (len < strlen(MAGIC) || memcmp(p, MAGIC, strlen(MAGIC)) != 0) {
		*why = "not an outpost MTA-STS cache";
		return -1;
	}
	r.off = strlen(MAGIC);
	n = r_u64(&r);
	if (r.bad || n > STS_CACHE_MAX) {
		*why = "bad entry count";
		return -1;
	}
	all = xcalloc(n ? n : 1, sizeof(*all));
	for (i = 0; i < n && !r.bad; i++) {
		struct sts_entry *e = &all[i];

		r_str(&r, e->domain, sizeof(e->domain));
		r_str(&r, e->id, sizeof(e->id));
		e->fetched = r_u64(&r);
		e->expires = r_u64(&r);
		v = r_u64(&r);
		e->pol.mode = (uint8_t)v;
		if (v > STS_MODE_ENFORCE)
			r.bad = true;
		v = r_u64(&r);
		e->pol.max_age = (uint32_t)v;
		if (v > STS_MAX_AGE_MAX)
			r.bad = true;
		v = r_u64(&r);
		if (v > STS_MX_MAX)
			r.bad = true;
		e->pol.nmx = r.bad ? 0 : (unsigned)v;
		for (k = 0; k < e->pol.nmx && !r.bad; k++)
			r_str(&r, e->pol.mx[k], sizeof(e->pol.mx[k]));
		if (e->domain[0] == '\0')
			r.bad = true;
	}
	if (r.bad || r.off != r.len) {
		free(all);
		*why = "damaged or truncated";
		return -1;
	}
	cache = all;
	ncache = (unsigned)n;
	return 0;
}

void
sts_cache_load(int dirfd)
{
	uint8_t		*buf = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 r;
	const char	*why;
	int		 fd;

	cache_dir = dirfd;
	if (dirfd == -1)
		return;
	if ((fd = openat(dirfd, STS_CACHE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno != ENOENT)
			log_warn("cannot read the policy cache");
		return;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > 64 * 1024 * 1024) {
				log_warnx("the policy cache is too large; ignored");
				goto out;
			}
			buf = xreallocarray(buf, cap, 1);
		}
		if ((r = read(fd, buf + len, cap - len)) == -1) {
			log_warn("reading the policy cache");
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (sts_cache_decode(buf, len, &why) == -1)
		log_warnx("the policy cache is %s; ignored, policies are fetched again", why);
	else
		log_info("%u MTA-STS policies loaded from the cache", ncache);
out:
	free(buf);
	close(fd);
}

bool
sts_cache_save(void)
{
	uint8_t		*buf;
	size_t		 len, off = 0;
	ssize_t		 w;
	int		 fd;
	const char	*tmp = STS_CACHE_FILE ".tmp";

	if (cache_dir == -1)
		return false;
	len = sts_cache_encode(&buf);
	(void)unlinkat(cache_dir, tmp, 0);
	if ((fd = openat(cache_dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		log_warn("cannot write the policy cache");
		free(buf);
		return false;
	}
	while (off < len) {
		if ((w = write(fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	if (renameat(cache_dir, tmp, cache_dir, STS_CACHE_FILE) == -1 || fsync(cache_dir) == -1) {
		fd = -1;
		goto fail;
	}
	free(buf);
	return true;
fail:
	log_warn("writing the policy cache");
	if (fd != -1)
		close(fd);
	(void)unlinkat(cache_dir, tmp, 0);
	free(buf);
	return false;
}
