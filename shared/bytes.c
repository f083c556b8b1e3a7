/* SPDX-License-Identifier: ISC */
/*
 * bytes.c - content scans at memory speed (bytes.h).
 */
#include <stdint.h>
#include <string.h>

#include "bytes.h"

#define HIGH_BITS	0x8080808080808080ULL
#define BLOCK		64

bool
mem_has_8bit(const void *buf, size_t n)
{
	const uint8_t *p = buf;
	uint64_t w, acc;
	size_t i = 0, j;

	/* The OR of a block's words tested once: no branch per octet, and the
	 * compiler may use vector registers for the block. memcpy: no
	 * alignment is assumed. */
	for (; i + BLOCK <= n; i += BLOCK) {
		acc = 0;
		for (j = 0; j < BLOCK; j += sizeof(w)) {
			memcpy(&w, p + i + j, sizeof(w));
			acc |= w;
		}
		if (acc & HIGH_BITS)
			return true;
	}
	for (; i < n; i++)
		if (p[i] & 0x80)
			return true;
	return false;
}
