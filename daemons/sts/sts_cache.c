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
#include "sts_file.h"

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

size_t
sts_cache_encode(uint8_t **out)
{
	struct sts_wbuf	 w = { NULL, 0, 0 };
	unsigned	 i, k;

	sts_w_raw(&w, MAGIC, strlen(MAGIC));
	sts_w_u64(&w, ncache);
	for (i = 0; i < ncache; i++) {
		const struct sts_entry *e = &cache[i];

		sts_w_str(&w, e->domain);
		sts_w_str(&w, e->id);
		sts_w_u64(&w, e->fetched);
		sts_w_u64(&w, e->expires);
		sts_w_u64(&w, e->pol.mode);
		sts_w_u64(&w, e->pol.max_age);
		sts_w_u64(&w, e->pol.nmx);
		for (k = 0; k < e->pol.nmx; k++)
			sts_w_str(&w, e->pol.mx[k]);
	}
	*out = w.p;
	return w.len;
}

int
sts_cache_decode(const uint8_t *p, size_t len, const char **why)
{
	struct sts_rbuf		 r = { p, len, 0, false };
	struct sts_entry	*all = NULL;
	uint64_t		 n, i, k, v;

	sts_cache_clear();
	if (len < strlen(MAGIC) || memcmp(p, MAGIC, strlen(MAGIC)) != 0) {
		*why = "not an outpost MTA-STS cache";
		return -1;
	}
	r.off = strlen(MAGIC);
	n = sts_r_u64(&r);
	if (r.bad || n > STS_CACHE_MAX) {
		*why = "bad entry count";
		return -1;
	}
	all = xcalloc(n ? n : 1, sizeof(*all));
	for (i = 0; i < n && !r.bad; i++) {
		struct sts_entry *e = &all[i];

		sts_r_str(&r, e->domain, sizeof(e->domain));
		sts_r_str(&r, e->id, sizeof(e->id));
		e->fetched = sts_r_u64(&r);
		e->expires = sts_r_u64(&r);
		v = sts_r_u64(&r);
		e->pol.mode = (uint8_t)v;
		if (v > STS_MODE_ENFORCE)
			r.bad = true;
		v = sts_r_u64(&r);
		e->pol.max_age = (uint32_t)v;
		if (v > STS_MAX_AGE_MAX)
			r.bad = true;
		v = sts_r_u64(&r);
		if (v > STS_MX_MAX)
			r.bad = true;
		e->pol.nmx = r.bad ? 0 : (unsigned)v;
		for (k = 0; k < e->pol.nmx && !r.bad; k++)
			sts_r_str(&r, e->pol.mx[k], sizeof(e->pol.mx[k]));
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
	uint8_t		*buf;
	size_t		 len;
	const char	*why = NULL;
	int		 r;

	cache_dir = dirfd;
	if (dirfd == -1)
		return;
	r = sts_file_read(dirfd, STS_CACHE_FILE, 64 * 1024 * 1024, &buf, &len, &why);
	if (r == 0)
		return;
	if (r < 0)
		log_warnx("cannot read the policy cache: %s; policies are fetched again", why);
	else if (sts_cache_decode(buf, len, &why) == -1)
		log_warnx("the policy cache is %s; ignored, policies are fetched again", why);
	else
		log_info("%u MTA-STS policies loaded from the cache", ncache);
	free(buf);
}

bool
sts_cache_save(void)
{
	uint8_t		*buf;
	size_t		 len;
	bool		 ok;

	if (cache_dir == -1)
		return false;
	len = sts_cache_encode(&buf);
	if (!(ok = sts_file_write(cache_dir, STS_CACHE_FILE, buf, len)))
		log_warn("writing the policy cache");
	free(buf);
	return ok;
}
