/* SPDX-License-Identifier: ISC */
/*
 * sts_file.c - field encoding and durable whole-file writes for the sts
 * process's cache files (see sts_file.h). A file is replaced only whole:
 * written beside the old one, flushed, renamed over it, and the directory
 * flushed, so a crash leaves either the old file or the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmalloc.h"

#include "sts_file.h"

void
sts_w_raw(struct sts_wbuf *w, const void *v, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->p = xreallocarray(w->p, w->cap, 1);
	}
	memcpy(w->p + w->len, v, n);
	w->len += n;
}

void
sts_w_u64(struct sts_wbuf *w, uint64_t v)
{
	uint8_t	 b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	sts_w_raw(w, b, 8);
}

void
sts_w_str(struct sts_wbuf *w, const char *s)
{
	size_t	 n = strlen(s);
	uint8_t	 b[2] = { (uint8_t)n, (uint8_t)(n >> 8) };

	sts_w_raw(w, b, 2);
	sts_w_raw(w, s, n);
}

uint64_t
sts_r_u64(struct sts_rbuf *r)
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

uint64_t
sts_r_max(struct sts_rbuf *r, uint64_t max)
{
	uint64_t v = sts_r_u64(r);

	if (v > max) {
		r->bad = true;
		return 0;
	}
	return v;
}

void
sts_r_str(struct sts_rbuf *r, char *out, size_t outsz)
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
sts_file_read(int dirfd, const char *name, size_t max, uint8_t **bufp, size_t *lenp,
    const char **why)
{
	uint8_t		*buf = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 r;
	int		 fd, rc = -1;

	*bufp = NULL;
	*lenp = 0;
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return 0;
		*why = strerror(errno);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				rc = -2;
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		if ((r = read(fd, buf + len, cap - len)) == -1) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max) {
		rc = -2;
		goto fail;
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 1;
fail:
	if (rc == -2)
		*why = "larger than any the sts process writes";
	close(fd);
	free(buf);
	return rc;
}

bool
sts_file_write(int dirfd, const char *name, const uint8_t *buf, size_t len)
{
	char		 tmp[256];
	size_t		 off = 0;
	ssize_t		 w;
	int		 fd, saved;

	if (strlcpy(tmp, name, sizeof(tmp)) >= sizeof(tmp) ||
	    strlcat(tmp, ".tmp", sizeof(tmp)) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return false;
	}
	(void)unlinkat(dirfd, tmp, 0);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return false;
	while (off < len) {
		if ((w = write(fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) == -1 || fsync(dirfd) == -1)
		goto fail;
	return true;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	errno = saved;
	return false;
}
