/* SPDX-License-Identifier: ISC */
/*
 * sts_rpt_store.c - the TLS reporting counters of the sts process: per
 * policy domain and policy type, successful and failed sessions and the
 * failure details (result type, receiving MX host and address). Kept in
 * <state_directory>/sts/tlsrpt so that a restart loses nothing: binary and
 * length-prefixed like the policy cache, written whole and atomically
 * (temporary file, fsync, rename, fsync of the directory) a few seconds
 * after a change and at shutdown. Bounded: RPT_POLICIES_MAX policies of
 * RPT_DETAILS_MAX details each. A damaged file is never half-trusted: it is
 * renamed to tlsrpt.corrupt and the day starts from zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "tlsrpt.h"
#include "xmalloc.h"

#include "sts_file.h"
#include "sts_rpt.h"

#define MAGIC		"OUTPOST-TLSRPT-1\n"
#define SAVE_DELAY	5	/* seconds: counts of a burst of sessions share one write */

static struct rpt_set	 cur;
static int		 rpt_dir = -1;
static struct event	*save_ev;

struct rpt_set *
rpt_current(void)
{
	return &cur;
}

void
rpt_set_free(struct rpt_set *s)
{
	if (s == NULL)
		return;
	free(s->p);
	s->p = NULL;
	s->n = s->cap = 0;
	s->start = 0;
}

struct rpt_set *
rpt_take(void)
{
	struct rpt_set	*s = xcalloc(1, sizeof(*s));

	*s = cur;
	memset(&cur, 0, sizeof(cur));
	return s;
}

static struct rpt_policy *
policy_get(struct rpt_set *s, const char *domain, unsigned type)
{
	unsigned	 i;

	for (i = 0; i < s->n; i++)
		if (s->p[i].type == type && strcasecmp(s->p[i].domain, domain) == 0)
			return &s->p[i];
	if (s->n >= RPT_POLICIES_MAX)
		return NULL;
	if (s->n == s->cap) {
		/* doubling: a policy is some kilobytes, copied once per doubling */
		s->cap = s->cap ? s->cap * 2 : 8;
		s->p = xreallocarray(s->p, s->cap, sizeof(*s->p));
	}
	memset(&s->p[s->n], 0, sizeof(s->p[s->n]));
	strlcpy(s->p[s->n].domain, domain, sizeof(s->p[s->n].domain));
	s->p[s->n].type = (uint8_t)type;
	return &s->p[s->n++];
}

bool
rpt_count(struct rpt_set *s, uint64_t now, const char *domain, unsigned type, unsigned result,
    const char *mx, const char *ip, const char *sending_ip, const char *const *strings,
    unsigned nstrings)
{
	struct rpt_policy	*p;
	struct rpt_detail	*d = NULL;
	unsigned		 i;

	if (domain[0] == '\0' || type > TLSRPT_NO_POLICY || result > TLSRPT_RESULT_MAX ||
	    (p = policy_get(s, domain, type)) == NULL)
		return false;
	if (s->start == 0)
		s->start = now;
	/* the policy strings seen last describe the policy (tlsa: the records) */
	if (nstrings > 0) {
		p->nstrings = 0;
		for (i = 0; i < nstrings && i < RPT_STRINGS_MAX; i++)
			strlcpy(p->strings[p->nstrings++], strings[i], RPT_STRING_MAX);
	}
	if (result == TLSRPT_OK) {
		p->ok++;
		return true;
	}
	p->failed++;
	for (i = 0; i < p->ndetails; i++)
		if (p->details[i].result == result && strcasecmp(p->details[i].mx, mx) == 0 &&
		    strcmp(p->details[i].ip, ip) == 0 &&
		    strcmp(p->details[i].sending_ip, sending_ip) == 0) {
			d = &p->details[i];
			break;
		}
	if (d == NULL && p->ndetails < RPT_DETAILS_MAX) {
		d = &p->details[p->ndetails++];
		d->result = (uint8_t)result;
		strlcpy(d->mx, mx, sizeof(d->mx));
		strlcpy(d->ip, ip, sizeof(d->ip));
		strlcpy(d->sending_ip, sending_ip, sizeof(d->sending_ip));
	}
	if (d != NULL)
		d->count++;
	return true;
}

size_t
rpt_encode(const struct rpt_set *s, uint8_t **out)
{
	struct sts_wbuf	 w = { NULL, 0, 0 };
	unsigned	 i, k;

	sts_w_raw(&w, MAGIC, strlen(MAGIC));
	sts_w_u64(&w, s->start);
	sts_w_u64(&w, s->n);
	for (i = 0; i < s->n; i++) {
		const struct rpt_policy *p = &s->p[i];

		sts_w_str(&w, p->domain);
		sts_w_u64(&w, p->type);
		sts_w_u64(&w, p->ok);
		sts_w_u64(&w, p->failed);
		sts_w_u64(&w, p->nstrings);
		for (k = 0; k < p->nstrings; k++)
			sts_w_str(&w, p->strings[k]);
		sts_w_u64(&w, p->ndetails);
		for (k = 0; k < p->ndetails; k++) {
			sts_w_u64(&w, p->details[k].result);
			sts_w_str(&w, p->details[k].mx);
			sts_w_str(&w, p->details[k].ip);
			sts_w_str(&w, p->details[k].sending_ip);
			sts_w_u64(&w, p->details[k].count);
		}
	}
	*out = w.p;
	return w.len;
}

int
rpt_decode(const uint8_t *buf, size_t len, struct rpt_set *out, const char **why)
{
	struct sts_rbuf	 r = { buf, len, 0, false };
	struct rpt_set	 s;
	uint64_t	 i, k;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if (len < strlen(MAGIC) || memcmp(buf, MAGIC, strlen(MAGIC)) != 0) {
		*why = "not an outpost TLS-RPT counter file";
		return -1;
	}
	r.off = strlen(MAGIC);
	s.start = sts_r_u64(&r);
	s.n = (unsigned)sts_r_max(&r, RPT_POLICIES_MAX);
	if (r.bad) {
		*why = "bad policy count";
		return -1;
	}
	s.p = xcalloc(s.n ? s.n : 1, sizeof(*s.p));
	for (i = 0; i < s.n && !r.bad; i++) {
		struct rpt_policy *p = &s.p[i];
		uint64_t sum = 0;

		sts_r_str(&r, p->domain, sizeof(p->domain));
		p->type = (uint8_t)sts_r_max(&r, TLSRPT_NO_POLICY);
		p->ok = sts_r_u64(&r);
		p->failed = sts_r_u64(&r);
		p->nstrings = (unsigned)sts_r_max(&r, RPT_STRINGS_MAX);
		for (k = 0; k < p->nstrings && !r.bad; k++)
			sts_r_str(&r, p->strings[k], sizeof(p->strings[k]));
		p->ndetails = (unsigned)sts_r_max(&r, RPT_DETAILS_MAX);
		for (k = 0; k < p->ndetails && !r.bad; k++) {
			struct rpt_detail *d = &p->details[k];

			d->result = (uint8_t)sts_r_max(&r, TLSRPT_RESULT_MAX);
			sts_r_str(&r, d->mx, sizeof(d->mx));
			sts_r_str(&r, d->ip, sizeof(d->ip));
			sts_r_str(&r, d->sending_ip, sizeof(d->sending_ip));
			d->count = sts_r_u64(&r);
			if (d->result == TLSRPT_OK || d->count == 0 || sum + d->count < sum)
				r.bad = true;
			sum += d->count;
		}
		/* the details are a part of the failures, never more */
		if (p->domain[0] == '\0' || sum > p->failed)
			r.bad = true;
		for (k = 0; k < i && !r.bad; k++)
			if (s.p[k].type == p->type && strcasecmp(s.p[k].domain, p->domain) == 0)
				r.bad = true;	/* one entry per policy */
	}
	if (r.bad || r.off != r.len) {
		free(s.p);
		*why = "damaged or truncated";
		return -1;
	}
	if (s.n == 0) {
		free(s.p);
		s.p = NULL;
	}
	s.cap = s.n;
	*out = s;
	return 0;
}

void
rpt_load(int dirfd)
{
	uint8_t		*buf;
	size_t		 len;
	const char	*why = NULL;
	int		 r;

	rpt_dir = dirfd;
	rpt_set_free(&cur);
	if (dirfd == -1)
		return;
	r = sts_file_read(dirfd, RPT_FILE, RPT_FILE_MAX * 2, &buf, &len, &why);
	if (r == 0)
		return;
	if (r == -1) {
		log_warnx("cannot read the TLS-RPT counters: %s", why);
		return;
	}
	if (r == 1 && rpt_decode(buf, len, &cur, &why) == 0) {
		log_info("TLS-RPT counters of %u policy domain(s) loaded", cur.n);
		free(buf);
		return;
	}
	free(buf);
	/* Kept for a look, never read again: the day's counts start over. */
	if (renameat(dirfd, RPT_FILE, dirfd, RPT_FILE ".corrupt") == -1)
		log_warn("the TLS-RPT counter file is %s and cannot be moved aside", why);
	else
		log_warnx("the TLS-RPT counter file is %s: moved to %s.corrupt, counting starts "
		    "from zero", why, RPT_FILE);
}

bool
rpt_save(void)
{
	uint8_t		*buf;
	size_t		 len;
	bool		 ok;

	if (save_ev != NULL)
		evtimer_del(save_ev);
	if (rpt_dir == -1)
		return false;
	len = rpt_encode(&cur, &buf);
	if (!(ok = sts_file_write(rpt_dir, RPT_FILE, buf, len)))
		log_warn("writing the TLS-RPT counters");
	free(buf);
	return ok;
}

static void
save_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)rpt_save();
}

void
rpt_save_soon(void)
{
	struct timeval	 tv = { SAVE_DELAY, 0 };

	if (save_ev == NULL && (save_ev = evtimer_new(rpt_event_base(), save_cb, NULL)) == NULL)
		fatalx("sts: evtimer_new");
	if (!evtimer_pending(save_ev, NULL))
		evtimer_add(save_ev, &tv);
}

void
rpt_store_shutdown(void)
{
	if (save_ev != NULL && evtimer_pending(save_ev, NULL))
		(void)rpt_save();
	if (save_ev != NULL) {
		event_free(save_ev);
		save_ev = NULL;
	}
}
