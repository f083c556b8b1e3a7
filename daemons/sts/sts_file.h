/* SPDX-License-Identifier: ISC */
/*
 * sts_file.h - the sts process's own files (the MTA-STS policy cache, the
 * TLS-RPT counters): little-endian fields with bounds-checked readers, and
 * whole-file reads and atomic replacement beneath its cache directory.
 */
#ifndef OUTPOST_STS_FILE_H
#define OUTPOST_STS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing output buffer. */
struct sts_wbuf { uint8_t *p; size_t len, cap; };

void	 sts_w_raw(struct sts_wbuf *, const void *, size_t);
void	 sts_w_u64(struct sts_wbuf *, uint64_t);
void	 sts_w_str(struct sts_wbuf *, const char *);	/* u16 length, bytes */

/* A reader: any short or malformed field sets bad, and later reads return nothing. */
struct sts_rbuf { const uint8_t *p; size_t len, off; bool bad; };

uint64_t sts_r_u64(struct sts_rbuf *);
uint64_t sts_r_max(struct sts_rbuf *, uint64_t max);	/* above max: bad */
void	 sts_r_str(struct sts_rbuf *, char *out, size_t outsz);	/* NUL inside or too long: bad */

/*
 * Read the whole of dirfd/name (no symlink followed) into *buf (freed by
 * the caller). Returns 1 when read, 0 when there is no such file, -1 with
 * *why set when it cannot be read, -2 (and *why) when it is larger than max.
 */
int	 sts_file_read(int dirfd, const char *name, size_t max, uint8_t **buf, size_t *len,
	    const char **why);
/* Replace dirfd/name by buf: a temporary file, fsync, rename, fsync of the directory. */
bool	 sts_file_write(int dirfd, const char *name, const uint8_t *buf, size_t len);

#endif
