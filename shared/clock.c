/* SPDX-License-Identifier: ISC */
/*
 * clock.c - the time of day as outpost's due times see it. Re-send times
 * are stored as wall-clock seconds (they must survive a restart), but a
 * running process measures them against the wall clock read once at its
 * first call and advanced by CLOCK_MONOTONIC afterwards: a wall-clock jump
 * (an administrator's date -s, a virtual machine resumed, NTP stepping)
 * then neither makes every deferred mail due at once nor freezes the
 * retries for the length of a backward jump. Timers themselves are libevent
 * timers, which run on the monotonic clock already.
 *
 * Used by the scheduler (its now() function); any process may call it.
 * A restart reads the wall clock anew, so a jump is taken into account
 * there, once.
 */
#include <stdbool.h>

#include "clock.h"
#include "log.h"

uint64_t
clock_advance(uint64_t wall0, const struct timespec *mono0, const struct timespec *mono)
{
	int64_t	elapsed;

	elapsed = (int64_t)mono->tv_sec - (int64_t)mono0->tv_sec;
	if (mono->tv_nsec < mono0->tv_nsec)
		elapsed--;
	/* The monotonic clock never goes back; be safe should it seem to. */
	if (elapsed < 0)
		elapsed = 0;
	return wall0 + (uint64_t)elapsed;
}

uint64_t
clock_now(void)
{
	static bool		anchored;
	static uint64_t		wall0;
	static struct timespec	mono0;
	struct timespec		mono;

	if (clock_gettime(CLOCK_MONOTONIC, &mono) == -1)
		fatal("clock_gettime");
	if (!anchored) {
		wall0 = (uint64_t)time(NULL);
		mono0 = mono;
		anchored = true;
	}
	return clock_advance(wall0, &mono0, &mono);
}
