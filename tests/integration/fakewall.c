/* SPDX-License-Identifier: ISC */
/*
 * fakewall.c - an LD_PRELOAD shim for tests: the wall clock (time(),
 * gettimeofday(), clock_gettime(CLOCK_REALTIME)) is shifted by a number of
 * seconds that the test writes into the file named by $FAKEWALL_FILE (a
 * little-endian int64, read through a shared mapping made at load time, so
 * processes that chroot or drop privileges afterwards still see changes).
 * The monotonic clock is left alone: a jump of the wall clock, nothing else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile const int64_t	*offset;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void
fakewall_init(void)
{
	const char	*path = getenv("FAKEWALL_FILE");
	void		*m;
	int		 fd;

	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
	    "clock_gettime");
	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	m = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m != MAP_FAILED)
		offset = m;
}

static int64_t
shift(void)
{
	return offset != NULL ? *offset : 0;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int	r = real_clock_gettime(id, ts);

	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += shift();
	return r;
}

time_t
time(time_t *t)
{
	struct timespec	ts;
	time_t		now;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	if (t != NULL)
		*t = now;
	return now;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec	ts;

	(void)tz;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	if (tv != NULL) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}
