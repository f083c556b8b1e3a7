/* SPDX-License-Identifier: ISC */
/*
 * clock.h - the time of day for timers and due times: the wall clock read
 * once, then advanced by the monotonic clock (clock.c).
 */
#ifndef OUTPOST_CLOCK_H
#define OUTPOST_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds since the epoch, never jumping with the wall clock. */
uint64_t	clock_now(void);
/* wall0 at mono0, read again at mono: wall0 plus what elapsed (pure). */
uint64_t	clock_advance(uint64_t wall0, const struct timespec *mono0,
		    const struct timespec *mono);

#endif
