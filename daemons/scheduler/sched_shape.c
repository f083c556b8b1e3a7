/* SPDX-License-Identifier: ISC */
/*
 * sched_shape.c - the pure parts of traffic shaping: the token bucket of a
 * rate limit, the AIMD window of an adaptive concurrency, and the reading
 * of replies that ask a sender to slow down. No clock, no I/O: callers
 * pass the time (sched_shape_run.c in the scheduler; tests/unit).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sched_shape.h"

void
tbucket_init(struct tbucket *tb, unsigned rate, unsigned period, uint64_t now_ms)
{
	uint64_t	per_sec;

	memset(tb, 0, sizeof(*tb));
	tb->rate = rate;
	tb->period = period ? period : 1;
	/*
	 * The burst is one second's worth (at least one token): a limit of
	 * 600/m sends 10 at once at most, never 600 after an idle minute, so
	 * any window of the period stays within the limit plus that second.
	 */
	per_sec = (uint64_t)rate / tb->period;
	tb->burst = (per_sec > 1 ? per_sec : 1) * TBUCKET_UNIT;
	tb->tokens = tb->burst;
	tb->last_ms = now_ms;
}

static void
tbucket_refill(struct tbucket *tb, uint64_t now_ms)
{
	uint64_t	elapsed;

	if (now_ms <= tb->last_ms)
		return;
	elapsed = now_ms - tb->last_ms;
	/* A full period refills any bucket; the cap keeps the product small. */
	if (elapsed > (uint64_t)tb->period * 1000)
		elapsed = (uint64_t)tb->period * 1000;
	/* tokens per ms = rate / (period * 1000), in TBUCKET_UNIT */
	tb->tokens += elapsed * tb->rate * (TBUCKET_UNIT / 1000) / tb->period;
	if (tb->tokens > tb->burst)
		tb->tokens = tb->burst;
	tb->last_ms = now_ms;
}

bool
tbucket_take(struct tbucket *tb, uint64_t now_ms)
{
	if (tb->rate == 0)
		return true;
	tbucket_refill(tb, now_ms);
	if (tb->tokens < TBUCKET_UNIT)
		return false;
	tb->tokens -= TBUCKET_UNIT;
	return true;
}

uint64_t
tbucket_wait(struct tbucket *tb, uint64_t now_ms)
{
	uint64_t	missing, per_ms_num;

	if (tb->rate == 0)
		return 0;
	tbucket_refill(tb, now_ms);
	if (tb->tokens >= TBUCKET_UNIT)
		return 0;
	missing = TBUCKET_UNIT - tb->tokens;
	per_ms_num = (uint64_t)tb->rate * (TBUCKET_UNIT / 1000);	/* per period ms */
	/* ceil(missing * period / per_ms_num) */
	return (missing * tb->period + per_ms_num - 1) / per_ms_num;
}

void
aimd_init(struct aimd *a, unsigned max)
{
	memset(a, 0, sizeof(*a));
	a->max = max ? max : 1;
	a->cur = a->max;
}

bool
aimd_throttled(struct aimd *a, uint32_t gen)
{
	unsigned	next;

	if (gen != a->gen)
		return false;	/* started before the last cut: already answered */
	a->gen++;
	a->successes = 0;
	next = a->cur / 2;
	if (next < 1)
		next = 1;
	if (next == a->cur)
		return false;
	a->cur = next;
	return true;
}

bool
aimd_success(struct aimd *a)
{
	if (a->cur >= a->max) {
		a->successes = 0;
		return false;
	}
	if (++a->successes < a->cur)
		return false;
	a->successes = 0;
	a->cur++;
	return true;
}

/* Case-insensitive substring. */
static const char *
find_word(const char *text, const char *word)
{
	size_t	n = strlen(word);

	for (; *text; text++)
		if (strncasecmp(text, word, n) == 0)
			return text;
	return NULL;
}

bool
shape_reply_throttles(uint16_t code, const char *dsn, const char *text)
{
	static const char *const words[] = { "rate", "too many", "throttl", "too fast",
	    "slow down", "try again later", "temporarily deferred", "connection limit",
	    "concurrent" };
	size_t	i;

	if (code == 421)
		return true;
	if (dsn == NULL || strncmp(dsn, "4.7.", 4) != 0 || text == NULL)
		return false;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (find_word(text, words[i]) != NULL)
			return true;
	return false;
}

bool
shape_reply_unreachable(uint16_t code, const char *dsn)
{
	return code == 0 && dsn != NULL && strcmp(dsn, "4.4.1") == 0;
}

unsigned
shape_reply_wait(const char *text, unsigned max)
{
	static const char *const leads[] = { "try again in ", "retry in ", "retry after ",
	    "try again after ", "wait ", "again in " };
	const char	*p;
	unsigned long	 v;
	char		*end;
	size_t		 i;

	if (text == NULL)
		return 0;
	for (i = 0; i < sizeof(leads) / sizeof(leads[0]); i++) {
		if ((p = find_word(text, leads[i])) == NULL)
			continue;
		p += strlen(leads[i]);
		if (!isdigit((unsigned char)*p))
			continue;
		v = strtoul(p, &end, 10);
		while (*end == ' ')
			end++;
		if (strncasecmp(end, "min", 3) == 0 || (end[0] == 'm' && !isalpha((unsigned char)end[1])))
			v = v > max / 60 ? max : v * 60;
		else if (strncasecmp(end, "hour", 4) == 0 || (end[0] == 'h' && !isalpha((unsigned char)end[1])))
			v = v > max / 3600 ? max : v * 3600;
		if (v > max)
			v = max;
		return (unsigned)v;
	}
	return 0;
}
