/* SPDX-License-Identifier: ISC */
/*
 * qmgr_shape.c - the queue's shape: counts by state for the metrics (a
 * collector run before each push, metrics.h), the domain x age table of
 * `outpostctl queue --summary` (as Postfix's qshape), and which mails a
 * domain selector names. Run by the queue manager; called by qmgr_control.c.
 *
 * A mail is held when marked so; otherwise active while a recipient was
 * never tried, else deferred. Recipients count by their own state (those of
 * a held mail as held); final ones are not in the queue any more, and a
 * mail whose every recipient is final counts nowhere (it is on its way out:
 * its removal is being made durable).
 *
 * The counts (q->shape) are kept exact at every change instead of counted
 * by a walk of the queue: a mail's part is a function of its MAIL_F_HELD
 * flag and its recipients' states, so it is taken out before such a change
 * (shape_leave) and put back after (shape_enter), and counted in and out
 * with the index itself (qmail_insert, qmail_remove). A change costs two
 * passes over that one mail's recipients (a compare and an add each), never
 * a look at the rest of the queue; the collector only copies the counts,
 * and a change asks for a push within 0.1 s (metrics_push_soon), so that
 * `outpostctl status` shows a deferral or a hold at once whatever the queue
 * holds. qmgr_shape_recount() is the walk, kept as the reference for the
 * tests (tests/unit/test_qmgr_control.c) and for builds with QMGR_SHAPE_CHECK
 * (make asan), which compare it with the counts at each push.
 *
 * The same changes keep q->held, the indexed mails whose MAIL_F_HELD is set,
 * so that the expiry of held mails (qmgr_expire.c) visits those alone: a node
 * per held mail, none for the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "qmgr.h"
#include "xmalloc.h"

/* m's part in the counts added to s (add) or taken from it. */
static void
shape_add(struct qshape *s, const struct qmail *m, bool add)
{
	uint64_t	 mails[SHAPE_MAX] = { 0 }, rcpts[SHAPE_MAX] = { 0 };
	uint32_t	 pending = 0, deferred = 0, i;

	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state == RCPT_PENDING)
			pending++;
		else if (m->rcpt[i].state == RCPT_DEFERRED)
			deferred++;
	}
	if (pending + deferred == 0)
		return;
	if (m->flags & MAIL_F_HELD) {
		mails[SHAPE_HELD] = 1;
		rcpts[SHAPE_HELD] = pending + deferred;
	} else {
		mails[pending > 0 ? SHAPE_ACTIVE : SHAPE_DEFERRED] = 1;
		rcpts[SHAPE_ACTIVE] = pending;
		rcpts[SHAPE_DEFERRED] = deferred;
	}
	for (i = 0; i < SHAPE_MAX; i++) {
		if (add) {
			s->mails[i] += mails[i];
			s->rcpts[i] += rcpts[i];
		} else {
			s->mails[i] -= mails[i];
			s->rcpts[i] -= rcpts[i];
		}
	}
}

static int
qheld_cmp(struct qheld *a, struct qheld *b)
{
	uintptr_t x = (uintptr_t)a->mail, y = (uintptr_t)b->mail;

	return x < y ? -1 : x > y;
}

RB_GENERATE(qheld_tree, qheld, entry, qheld_cmp);

/* m in q->held (on) or not. */
static void
held_track(struct qmgr *q, struct qmail *m, bool on)
{
	struct qheld	 key, *h;

	key.mail = m;
	h = RB_FIND(qheld_tree, &q->held, &key);
	if (on && h == NULL) {
		h = xcalloc(1, sizeof(*h));
		h->mail = m;
		RB_INSERT(qheld_tree, &q->held, h);
	} else if (!on && h != NULL) {
		RB_REMOVE(qheld_tree, &q->held, h);
		free(h);
	}
}

void
shape_index(struct qmgr *q, struct qmail *m, bool in)
{
	shape_add(&q->shape, m, in);
	if (m->flags & MAIL_F_HELD)
		held_track(q, m, in);
	metrics_push_soon();
}

void
shape_enter(struct qmgr *q, const struct qmail *m)
{
	if (!m->deleted) {
		shape_add(&q->shape, m, true);
		metrics_push_soon();
	}
}

void
shape_leave(struct qmgr *q, const struct qmail *m)
{
	if (!m->deleted)
		shape_add(&q->shape, m, false);
}

void
shape_set_held(struct qmgr *q, struct qmail *m, bool on)
{
	shape_leave(q, m);
	if (on)
		m->flags |= MAIL_F_HELD;
	else
		m->flags &= ~MAIL_F_HELD;
	if (!m->deleted)
		held_track(q, m, on);
	shape_enter(q, m);
}

void
qmgr_shape_recount(const struct qmgr *q, struct qshape *s)
{
	struct qmail *m;

	memset(s, 0, sizeof(*s));
	/* RB_FOREACH takes a non-const head; the walk changes nothing. */
	RB_FOREACH(m, qmail_tree, (struct qmail_tree *)&q->mails)
		shape_add(s, m, true);
	park_shape_recount(q, s);
}

void
qmgr_metrics_collect(void *arg)
{
	struct qmgr	*q = arg;

#ifdef QMGR_SHAPE_CHECK
	struct qshape	 ref;

	qmgr_shape_recount(q, &ref);
	if (memcmp(&ref, &q->shape, sizeof(ref)) != 0)
		fatalx("queue shape: counts %llu/%llu/%llu mails, a walk finds %llu/%llu/%llu",
		    (unsigned long long)q->shape.mails[0], (unsigned long long)q->shape.mails[1],
		    (unsigned long long)q->shape.mails[2], (unsigned long long)ref.mails[0],
		    (unsigned long long)ref.mails[1], (unsigned long long)ref.mails[2]);
#endif
	metric_set(MET_Q_MAILS_ACTIVE, q->shape.mails[SHAPE_ACTIVE]);
	metric_set(MET_Q_MAILS_DEFERRED, q->shape.mails[SHAPE_DEFERRED]);
	metric_set(MET_Q_ON_DISK, q->pdue.n);
	metric_set(MET_Q_MAILS_HELD, q->shape.mails[SHAPE_HELD]);
	metric_set(MET_Q_RCPTS_ACTIVE, q->shape.rcpts[SHAPE_ACTIVE]);
	metric_set(MET_Q_RCPTS_DEFERRED, q->shape.rcpts[SHAPE_DEFERRED]);
	metric_set(MET_Q_RCPTS_HELD, q->shape.rcpts[SHAPE_HELD]);
}

bool
shape_mail_in_domain(const struct qmail *m, const char *domain, bool every)
{
	bool		 any = false;
	const char	*at;

	for (uint32_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state == RCPT_DELIVERED || m->rcpt[i].state == RCPT_FAILED)
			continue;
		at = strrchr(m->rcpt[i].addr, '@');
		if (at != NULL && strcasecmp(at + 1, domain) == 0)
			any = true;
		else if (every)
			return false;
	}
	return any;
}

/*
 * queue --summary: like Postfix's qshape, the mails still queued per
 * recipient domain (a mail counts once for each of its domains) and age
 * bucket in minutes. The busiest SHAPE_ROWS domains are shown, then TOTAL.
 */
#define SHAPE_BUCKETS	10
#define SHAPE_ROWS	100
#define SHAPE_TRACK	4096

static const unsigned bucket_min[SHAPE_BUCKETS] = { 5, 10, 20, 40, 80, 160, 320, 640, 1280, 0 };

struct shape_row {
	char		 domain[HOSTNAME_MAX];
	uint64_t	 total;
	uint64_t	 n[SHAPE_BUCKETS];
	uint64_t	 last;		/* the mail counted last (serial + 1), once per mail */
};

static int
cmp_row(const void *a, const void *b)
{
	const struct shape_row *x = a, *y = b;

	return x->total < y->total ? 1 : x->total > y->total ? -1 : strcmp(x->domain, y->domain);
}

static unsigned
bucket_of(uint64_t age_s)
{
	unsigned i;

	for (i = 0; i < SHAPE_BUCKETS - 1; i++)
		if (age_s < (uint64_t)bucket_min[i] * 60)
			return i;
	return SHAPE_BUCKETS - 1;
}

static void
row_line(struct qctl *c, const struct shape_row *r, bool json)
{
	char	line[1024];
	size_t	used;

	if (json) {
		used = snprintf(line, sizeof(line), "{\"domain\":\"%s\",\"total\":%llu,\"buckets\":{",
		    r->domain, (unsigned long long)r->total);
		for (unsigned i = 0; i < SHAPE_BUCKETS && used < sizeof(line); i++) {
			if (bucket_min[i] != 0)
				used += snprintf(line + used, sizeof(line) - used, "%s\"%u\":%llu",
				    i ? "," : "", bucket_min[i], (unsigned long long)r->n[i]);
			else
				used += snprintf(line + used, sizeof(line) - used, ",\"%u+\":%llu",
				    bucket_min[i - 1], (unsigned long long)r->n[i]);
		}
		if (used < sizeof(line))
			snprintf(line + used, sizeof(line) - used, "}}");
	} else {
		used = snprintf(line, sizeof(line), "%32s %6llu", r->domain,
		    (unsigned long long)r->total);
		for (unsigned i = 0; i < SHAPE_BUCKETS && used < sizeof(line); i++)
			used += snprintf(line + used, sizeof(line) - used, " %5llu",
			    (unsigned long long)r->n[i]);
	}
	ctl_reply(c, line);
}

/* One mail's part in the summary table (serial: which mail, from 1). */
static void
summary_add(struct shape_row *rows, unsigned *nrows, unsigned *other, struct shape_row *total,
    const struct qmail *m, uint64_t serial, uint64_t now)
{
	unsigned b = bucket_of(now > m->arrival ? now - m->arrival : 0), k;
	bool counted = false;

	for (uint32_t i = 0; i < m->nrcpt; i++) {
		const char *at;
		if (m->rcpt[i].state == RCPT_DELIVERED || m->rcpt[i].state == RCPT_FAILED)
			continue;
		at = strrchr(m->rcpt[i].addr, '@');
		at = at != NULL ? at + 1 : "(no domain)";
		for (k = 0; k < *nrows; k++)
			if (strcasecmp(rows[k].domain, at) == 0)
				break;
		if (k == *nrows) {
			if (*nrows == SHAPE_TRACK) {
				(*other)++;
				continue;
			}
			strlcpy(rows[(*nrows)++].domain, at, sizeof(rows[0].domain));
		}
		if (rows[k].last != serial) {
			rows[k].last = serial;
			rows[k].total++;
			rows[k].n[b]++;
		}
		counted = true;
	}
	if (counted) {
		total->total++;
		total->n[b]++;
	}
}

/* A summary being made: the mails on disk are read a slice per loop turn. */
struct summary {
	struct shape_row	*rows;
	struct shape_row	 total;
	unsigned		 nrows, other;
	uint64_t		 serial, now;
	bool			 json;
};

static void
summary_end(struct qctl *c)
{
	struct summary	*sm = c->summary;
	char		 head[512];
	size_t		 used;
	unsigned	 k;

	qsort(sm->rows, sm->nrows, sizeof(*sm->rows), cmp_row);
	if (!sm->json) {
		used = snprintf(head, sizeof(head), "%32s %6s", "", "T");
		for (unsigned i = 0; i < SHAPE_BUCKETS && used < sizeof(head); i++) {
			if (bucket_min[i] != 0)
				used += snprintf(head + used, sizeof(head) - used, " %5u", bucket_min[i]);
			else
				used += snprintf(head + used, sizeof(head) - used, " %4u+",
				    bucket_min[i - 1]);
		}
		ctl_reply(c, head);
	}
	row_line(c, &sm->total, sm->json);
	for (k = 0; k < sm->nrows && k < SHAPE_ROWS; k++)
		row_line(c, &sm->rows[k], sm->json);
	c->summary = NULL;
	if (sm->json)
		ctl_end(c, 0, "%s", "");
	else
		ctl_end(c, 0, "%u domain%s%s (ages in minutes)", sm->nrows, sm->nrows == 1 ? "" : "s",
		    sm->nrows > SHAPE_ROWS ? ", the busiest shown" : "");
	free(sm->rows);
	free(sm);
}

/*
 * The mails waiting on disk, their files read one at a time, a slice per
 * loop turn so that intake and other commands go on meanwhile. (A mail
 * that moves between memory and disk during the summary may count twice
 * or not at all: a summary is a picture of a moving queue.)
 */
static void
summary_step(struct qctl *c)
{
	struct summary	*sm = c->summary;
	struct timespec	 t0;
	struct qpark	*p;
	struct qmail	*m;
	unsigned	 n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = 0; park_next(c->q, c->cursor, &p); n++) {
		if (ctl_slice_over(c, n, &t0))
			return;
		park_id(p, c->cursor);
		if ((m = park_peek(c->q, p)) == NULL)
			continue;
		summary_add(sm->rows, &sm->nrows, &sm->other, &sm->total, m, ++sm->serial, sm->now);
		park_peek_free(m);
	}
	summary_end(c);
}

void
shape_summary(struct qctl *c, bool json)
{
	struct summary	*sm;
	struct qmail	*m;

	sm = xcalloc(1, sizeof(*sm));
	sm->rows = xcalloc(SHAPE_TRACK, sizeof(*sm->rows));
	sm->now = (uint64_t)time(NULL);
	sm->json = json;
	strlcpy(sm->total.domain, "TOTAL", sizeof(sm->total.domain));
	/* The mails in memory at once: no file to read. */
	RB_FOREACH(m, qmail_tree, &c->q->mails)
		summary_add(sm->rows, &sm->nrows, &sm->other, &sm->total, m, ++sm->serial, sm->now);
	c->summary = sm;
	c->cursor[0] = '\0';
	c->step = summary_step;
	summary_step(c);
}
