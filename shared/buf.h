/* SPDX-License-Identifier: ISC */
/*
 * buf.h - a growing byte buffer for building messages, records and lines
 * (DSNs, queue file records, local mail headers, queue listings).
 * The bytes after len are always a NUL, so text can be used as a string.
 */
#ifndef OUTPOST_BUF_H
#define OUTPOST_BUF_H

#include <stddef.h>

struct buf {
	char	*p;		/* NULL until the first byte */
	size_t	 len;
	size_t	 cap;
};

void	 buf_add(struct buf *, const void *, size_t);
void	 buf_str(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...) __attribute__((format(printf, 2, 3)));
/* Append n bytes the caller fills in; returns where they start. */
void	*buf_reserve(struct buf *, size_t n);
void	 buf_free(struct buf *);

#endif
