/* SPDX-License-Identifier: ISC */
/*
 * qmgr_park.c - mails that wait on disk for their next re-send: a bounded
 * active set in memory, as Postfix's queue manager keeps one, so that a
 * queue of any size costs the queue manager and the scheduler a small entry
 * per mail instead of the whole mail.
 *
 * While the scheduler holds more than queue_active_limit mails, it hands
 * back (QMGR_PARK) each mail whose open recipients all wait for a later
 * re-send; at start, past that many indexed mails, such a mail is parked as
 * it is indexed and never sent to the scheduler. A parked mail is one
 * struct qpark: its id in binary, its due time, its place in a min-heap of
 * due times (q->pdue, shared/dueheap.h, one timer for the earliest) and in a tree by id
 * (q->parked), and what its file cannot say (the delay-notice mark of
 * flags/). Its recipients, sender and replies are freed; its file is the
 * record. When it comes due (or a command names it), the file is read and
 * verified again as at start, indexed, and announced to the scheduler. A
 * flush of the whole queue makes every parked mail due now, read back a
 * slice per loop turn (PARK_LOAD_BATCH mails or PARK_LOAD_USEC). The
 * listing, queue --summary, flush @domain and delete|hold @domain|all walk
 * the parked set by id (park_next) a slice per loop turn (qmgr_control.c
 * says how): they read a file for the moment (park_peek), take a mail into
 * memory only when they change it (park_adopt), make one due now
 * (park_flush), or remove one without reading it (park_delete).
 *
 * A parked mail counts in q->shape as the deferred mail it is (every open
 * recipient deferred: the condition for parking), with ndeferred recipients.
 *
 * Races with the scheduler: QMGR_PARK says how many SCHED_FLUSH frames the
 * scheduler had read. When the queue manager has sent more, a flush is on
 * its way that the forgotten mail would miss: the mail is announced again
 * (with the flushed recipients due now), not parked. A mail that changed
 * meanwhile (held, deleted, a recipient due) is never parked either. While
 * a bulk command walks the parked set, a mail handed back behind its cursor
 * would be seen by neither of its walks (on disk, then in memory): the
 * command takes it instead (ctl_bulk_parked). Refusing the park would not
 * do: the scheduler would hand the mail back again at once, every loop
 * turn, for as long as the walk lasts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "dueheap.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "qmgr.h"
#include "xmalloc.h"

#define PARK_ID_LEN	12	/* 24 hex digits */
#define PARK_LOAD_BATCH	256	/* mails loaded per loop turn when due */
#define PARK_LOAD_USEC	10000
#define PARK_RETRY	60	/* seconds before a file unreadable now is read again */

struct qpark {
	RB_ENTRY(qpark)	 entry;
	uint64_t	 due;
	uint32_t	 hidx;		/* in q->pdue */
	uint32_t	 ndeferred;	/* its recipients in q->shape */
	uint8_t		 id[PARK_ID_LEN];
	uint8_t		 flags;		/* MAIL_F_DELAY_WARNED from flags/ */
	bool		 flush;		/* flushed (outpostctl flush): due now when read back */
};

static int
hexval(char c)
{
	return c >= 'A' ? c - 'A' + 10 : c - '0';
}

/* id: a valid queue id (qf_id_valid): 24 upper-case hex digits. */
static void
id_pack(const char *id, uint8_t out[PARK_ID_LEN])
{
	unsigned i;

	for (i = 0; i < PARK_ID_LEN; i++)
		out[i] = (uint8_t)(hexval(id[2 * i]) << 4 | hexval(id[2 * i + 1]));
}

static void
id_unpack(const uint8_t in[PARK_ID_LEN], char out[QUEUE_ID_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned i;

	for (i = 0; i < PARK_ID_LEN; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * PARK_ID_LEN] = '\0';
}

/* Byte order of the packed ids is the order of the hex strings. */
static int
qpark_cmp(struct qpark *a, struct qpark *b)
{
	return memcmp(a->id, b->id, PARK_ID_LEN);
}

RB_PROTOTYPE(qpark_tree, qpark, entry, qpark_cmp);
RB_GENERATE(qpark_tree, qpark, entry, qpark_cmp);

/* The min-heap of due times (shared/dueheap.h). */
static uint64_t
due_key(const void *e)
{
	return ((const struct qpark *)e)->due;
}

static void
due_place(void *e, uint32_t i)
{
	((struct qpark *)e)->hidx = i;
}

/* A parked mail's part in the queue's counts: one deferred mail. */
static void
shape_parked(struct qshape *s, const struct qpark *p, bool add)
{
	if (add) {
		s->mails[SHAPE_DEFERRED]++;
		s->rcpts[SHAPE_DEFERRED] += p->ndeferred;
	} else {
		s->mails[SHAPE_DEFERRED]--;
		s->rcpts[SHAPE_DEFERRED] -= p->ndeferred;
	}
}

static void park_arm(struct qmgr *);

void
park_init(struct qmgr *q)
{
	RB_INIT(&q->parked);
	dueheap_init(&q->pdue, due_key, due_place);
}

struct qpark *
park_find(struct qmgr *q, const char *id)
{
	struct qpark key;

	if (q->pdue.n == 0 || !qf_id_valid(id))
		return NULL;
	id_pack(id, key.id);
	return RB_FIND(qpark_tree, &q->parked, &key);
}

bool
park_wanted(struct qmgr *q, const struct qmail *m, bool asked)
{
	uint64_t now = clock_now();
	uint32_t i;
	bool deferred = false;

	if (!asked && (q->conf->queue_active_limit == 0 ||
	    q->nmails < q->conf->queue_active_limit))
		return false;
	if (m->deleted || m->inflight > 0 || (m->flags & MAIL_F_HELD) ||
	    m->sign_state != SIGN_ST_NONE || m->warn_postponed || q->stopping)
		return false;
	for (i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *rc = &m->rcpt[i];

		if (rc->state == RCPT_DELIVERED || rc->state == RCPT_FAILED)
			continue;
		if (rc->state != RCPT_DEFERRED || rc->next <= now)
			return false;
		deferred = true;
	}
	return deferred;
}

uint64_t
park_due(struct qmgr *q, const struct qmail *m)
{
	uint64_t due = 0, warn;
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_DEFERRED && (due == 0 || m->rcpt[i].next < due))
			due = m->rcpt[i].next;
	warn = mail_delay_warn_at(m->arrival, q->conf->delay_warning, m->flags,
	    m->sender[0] == '\0');
	if (warn != 0 && warn < due)
		due = warn;
	return due;
}

void
park_mail(struct qmgr *q, struct qmail *m, uint64_t due, bool indexed)
{
	struct qpark *p;
	uint32_t i;

	p = xcalloc(1, sizeof(*p));
	id_pack(m->id, p->id);
	p->due = due;
	p->flags = m->flags & MAIL_F_DELAY_WARNED;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_DEFERRED)
			p->ndeferred++;
	if (RB_INSERT(qpark_tree, &q->parked, p) != NULL) {
		free(p);	/* cannot be: an id is indexed or parked, never both */
		log_warnx("%s: parked twice", m->id);
		return;
	}
	if (indexed)
		qmail_remove(q, m);
	dueheap_add(&q->pdue, p);
	shape_parked(&q->shape, p, true);
	metrics_push_soon();
	log_detail("%s: waits on disk until its re-send", m->id);
	qmail_free(q, m);
	park_arm(q);
}

/* Leave the parked set; the queue's counts lose its part. */
static void
park_drop(struct qmgr *q, struct qpark *p)
{
	RB_REMOVE(qpark_tree, &q->parked, p);
	dueheap_remove(&q->pdue, p->hidx);
	shape_parked(&q->shape, p, false);
	metrics_push_soon();
}

/* The mail of a parked entry read from its file, not indexed; NULL with
 * *r the reason (spool_read: 0 gone, -1 corrupt, -2 unreadable now). */
static struct qmail *
park_read(struct qmgr *q, const struct qpark *p, int *r)
{
	char id[QUEUE_ID_MAX];
	struct qf_mail fm;
	struct qmail *m;

	id_unpack(p->id, id);
	if ((*r = spool_read(q, id, &q->park_buf, &q->park_bufcap, &fm)) <= 0)
		return NULL;
	m = qmail_from_file(&fm, fm.valid_len);
	qf_mail_free(&fm);
	m->flags |= p->flags;
	return m;
}

struct qmail *
park_adopt(struct qmgr *q, struct qpark *p, struct qmail *m)
{
	bool flush = p->flush;
	uint64_t now = clock_now();
	uint32_t i;

	park_drop(q, p);
	free(p);
	if (qmail_final(m)) {	/* cannot be: a parked mail has open recipients */
		spool_remove(q, m);
		qmail_free(q, m);
		return NULL;
	}
	for (i = 0; flush && i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_DEFERRED && m->rcpt[i].next > now)
			m->rcpt[i].next = now;
	qmail_insert(q, m);
	log_detail("%s: read back from disk", m->id);
	return m;
}

/*
 * Index a parked mail again (p is freed); NULL when it is gone, or when its
 * file cannot be read now: then it stays parked and is tried again in a
 * minute, never dropped from the queue for a passing error.
 */
static struct qmail *
park_load(struct qmgr *q, struct qpark *p)
{
	struct qmail *m;
	int r;

	if ((m = park_read(q, p, &r)) != NULL)
		return park_adopt(q, p, m);
	if (r == -2) {
		p->due = clock_now() + PARK_RETRY;
		dueheap_fix(&q->pdue, p->hidx);
		park_arm(q);
	} else {
		park_drop(q, p);
		free(p);
	}
	return NULL;
}

struct qmail *
park_get(struct qmgr *q, const char *id)
{
	struct qpark *p;
	struct qmail *m;

	if ((m = qmail_find(q, id)) != NULL || (p = park_find(q, id)) == NULL)
		return m;
	if ((m = park_load(q, p)) != NULL)
		sched_announce(q, m);
	park_arm(q);
	return m;
}

void
park_flush(struct qmgr *q, struct qpark *p)
{
	p->due = 0;
	p->flush = true;
	dueheap_fix(&q->pdue, p->hidx);
	park_arm(q);
}

void
park_delete(struct qmgr *q, struct qpark *p, void (*done)(struct qmgr *, struct qjob *),
    void *arg)
{
	char id[QUEUE_ID_MAX];

	/* Its file is not read: the entry knows all the queue's counts and
	 * marks need (a parked mail is never held). */
	id_unpack(p->id, id);
	mark_forget_id(q, id, p->flags);
	log_info("%s: deleted by the administrator (on disk, %u recipients deferred)", id,
	    p->ndeferred);
	park_drop(q, p);
	free(p);
	qmgr_commit_remove(q, id, done, arg);
}

void
park_pause(struct qmgr *q, bool paused)
{
	q->park_paused = paused;
	park_arm(q);
}

unsigned
park_flush_all(struct qmgr *q)
{
	uint32_t i;

	/* All due at 0: still a heap. Read back a slice per loop turn, so a
	 * flush of a million mails never holds up intake or other commands. */
	for (i = 0; i < q->pdue.n; i++) {
		struct qpark *p = q->pdue.v[i];

		p->due = 0;
		p->flush = true;
	}
	q->park_armed = UINT64_MAX;	/* armed anew below */
	park_arm(q);
	return q->pdue.n;
}

/* Load and announce the mails that are due, a slice per loop turn. */
static void
park_due_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qmgr *q = arg;
	struct timespec t0;
	struct qpark *p;
	struct qmail *m;
	uint64_t now = clock_now();
	unsigned n;

	q->park_armed = 0;
	if (q->park_paused)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sched_batch_begin(q);
	for (n = 0; n < PARK_LOAD_BATCH && (p = dueheap_top(&q->pdue)) != NULL &&
	    p->due <= now && !q->stopping; n++) {
		if ((m = park_load(q, p)) != NULL)
			sched_announce(q, m);
		if (qmgr_usec_since(&t0) > PARK_LOAD_USEC)
			break;
	}
	sched_batch_end(q);
	park_arm(q);
}

/* Arm the timer for the earliest due time, unless it is armed for it. */
static void
park_arm(struct qmgr *q)
{
	struct timeval tv = { 0, 0 };
	struct qpark *top;
	uint64_t now, due;

	if (q->park_ev == NULL && (q->park_ev = evtimer_new(q->base, park_due_cb, q)) == NULL)
		fatalx("evtimer_new");
	if ((top = dueheap_top(&q->pdue)) == NULL || q->stopping || q->park_paused) {
		if (q->park_armed != 0)
			evtimer_del(q->park_ev);
		q->park_armed = 0;
		return;
	}
	due = top->due;
	if (due == 0)
		due = 1;
	if (due == q->park_armed)
		return;
	if (q->park_armed != 0)
		evtimer_del(q->park_ev);
	now = clock_now();
	if (due > now)
		tv.tv_sec = (time_t)(due - now);
	evtimer_add(q->park_ev, &tv);
	q->park_armed = due;
}

int
park_frame(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	char id[QUEUE_ID_MAX];
	struct qmail *m;
	uint64_t due, own, now = clock_now();
	uint32_t nflush;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_get_u64(f, &due) ||
	    !frame_get_u32(f, &nflush) || !frame_end(f))
		return -1;
	if (!qf_id_valid(id)) {
		log_warnx("scheduler: park of a malformed queue id");
		return -1;
	}
	/* Deleted or held meanwhile: the scheduler was told, nothing to give. */
	if ((m = qmail_find(q, id)) == NULL || m->deleted || (m->flags & MAIL_F_HELD))
		return 0;
	if (nflush != l->nflush_sent || !park_wanted(q, m, true)) {
		/* A flush on its way, or the mail changed: the scheduler must
		 * have it back (with any flushed recipient due now). */
		m->announced = 0;
		sched_announce(q, m);
		return 0;
	}
	/* Behind the cursor of a bulk command walking the parked mails, it
	 * would be missed by that walk: the command takes it now if it names it. */
	if (q->bulk != NULL && ctl_bulk_parked(q->bulk, m))
		return 0;
	/* The scheduler's due time, never later than the file's own. */
	own = park_due(q, m);
	if (due > own)
		due = own;
	if (due < now)
		due = now;
	park_mail(q, m, due, true);
	return 0;
}

bool
park_next(struct qmgr *q, const char *cursor, struct qpark **pp)
{
	struct qpark key, *p;

	*pp = NULL;
	if (q->pdue.n == 0)
		return false;
	if (cursor[0] == '\0')
		p = RB_MIN(qpark_tree, &q->parked);
	else {
		id_pack(cursor, key.id);
		p = RB_NFIND(qpark_tree, &q->parked, &key);
		if (p != NULL && memcmp(p->id, key.id, PARK_ID_LEN) == 0)
			p = RB_NEXT(qpark_tree, &q->parked, p);
	}
	*pp = p;
	return p != NULL;
}

void
park_id(const struct qpark *p, char id[QUEUE_ID_MAX])
{
	id_unpack(p->id, id);
}

struct qmail *
park_peek(struct qmgr *q, struct qpark *p)
{
	struct qmail *m;
	int r;

	if ((m = park_read(q, p, &r)) == NULL && r != -2) {
		park_drop(q, p);	/* gone, or corrupt and moved aside */
		free(p);
	}
	return m;
}

void
park_peek_free(struct qmail *m)
{
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++) {
		strpool_put(m->rcpt[i].reply);
		strpool_put(m->rcpt[i].relay);
	}
	free(m->dkim);
	free(m);
}

void
park_shape_recount(const struct qmgr *q, struct qshape *s)
{
	struct qpark *p;

	RB_FOREACH(p, qpark_tree, (struct qpark_tree *)&q->parked)
		shape_parked(s, p, true);
}
