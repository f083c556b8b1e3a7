/* SPDX-License-Identifier: ISC */
/*
 * buf.c - a growing byte buffer (see buf.h). Growth doubles; running out of
 * memory or size is fatal, as everywhere (xmalloc.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"

void *
buf_reserve(struct buf *b, size_t n)
{
	size_t	 cap;
	char	*r;

	if (n >= SIZE_MAX / 4 - b->len)
		fatalx("buffer size overflow");
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	r = b->p + b->len;
	b->len += n;
	b->p[b->len] = '\0';
	return r;
}

void
buf_add(struct buf *b, const void *s, size_t n)
{
	if (n > 0)
		memcpy(buf_reserve(b, n), s, n);
}

void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 small[512], *s;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("buf_printf");
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("buf_printf");
	buf_add(b, s, (size_t)n);
	free(s);
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
