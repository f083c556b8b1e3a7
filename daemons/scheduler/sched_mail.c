/* SPDX-License-Identifier: ISC */
/*
 * sched_mail.c - the mails the scheduler knows, as the queue manager lists
 * them (SCHED_MAIL, SCHED_RCPT..., SCHED_MAIL_END), and when each recipient
 * is due. Run by the scheduler; called from the queue manager link
 * (scheduler.c), and by sched_job.c when outcomes are recorded.
 *
 * Due times: a mail with a recipient due now is on s->due; a mail whose
 * next recipient (or delay notice) is due later sits in a binary min-heap
 * keyed by that time (s->wakes) with one timer for the earliest.
 *
 * Nothing here is durable: when the queue manager link dies every mail is
 * dropped and the new queue manager lists them again.
 *
 * Also here: SCHED_FLUSH (outpostctl flush: matching deferred recipients
 * due now) and the delay notice: once a mail with a deferred recipient is
 * delay_warning old (mail_delay_warn_at), QMGR_DELAY_WARN asks the queue
 * manager for it, once; MAIL_F_DELAY_WARNED comes back in later listings.
 * And max_queue_lifetime: a mail that reaches it with recipients never
 * tried (or waiting for a DNS answer) has them failed (sched_job_expire).
 *
 * Memory: while more than queue_active_limit mails are here, a mail whose
 * open recipients all wait for a later re-send, with no transaction, is
 * handed back (QMGR_PARK with its due time) and forgotten: the queue
 * manager keeps it on disk, with a small index entry, and lists it again
 * when it is due or flushed. So a queue of any size costs the scheduler
 * memory for at most queue_active_limit idle mails, as Postfix's active
 * queue does. Mails are handed back from an event of their own (s->parkq),
 * never from inside sched_mail_check(), whose callers still use the mail.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "dueheap.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "xmalloc.h"

int
sched_mail_cmp(const struct mail *a, const struct mail *b)
{
	return strcmp(a->id, b->id);
}

RB_GENERATE(sched_mail_tree, mail, entry, sched_mail_cmp)

struct mail *
sched_mail_find(struct sched *s, const char *id)
{
	struct mail	key;

	if (strlcpy(key.id, id, sizeof(key.id)) >= sizeof(key.id))
		return NULL;
	return RB_FIND(sched_mail_tree, &s->mails, &key);
}

const char *
sched_rcpt_domain(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	if (at == NULL || at[1] == '\0' || at == addr)
		return NULL;
	return at + 1;
}

/*
 * Due times later than now live in a binary min-heap of mails keyed by
 * wake_at (s->wakes, shared/dueheap.h), with one timer armed for the
 * earliest: adding, moving or removing a mail costs O(log n), a wake-up
 * touches only the mails due, and nothing scans every mail. (One libevent
 * timer per mail cost some 140 bytes of event each.)
 */
static uint64_t
wake_key(const void *e)
{
	return ((const struct mail *)e)->wake_at;
}

static void
wake_place(void *e, uint32_t i)
{
	((struct mail *)e)->wake_idx = i;
}

void
sched_mail_init(struct sched *s)
{
	dueheap_init(&s->wakes, wake_key, wake_place);
}

static void
wake_remove(struct sched *s, struct mail *m)
{
	if (m->wake_idx != SCHED_WAKE_NONE)
		dueheap_remove(&s->wakes, m->wake_idx);
}

static void
wake_put(struct sched *s, struct mail *m, uint64_t at)
{
	m->wake_at = at;
	if (m->wake_idx != SCHED_WAKE_NONE)
		dueheap_fix(&s->wakes, m->wake_idx);
	else
		dueheap_add(&s->wakes, m);
}

static void wake_cb(evutil_socket_t, short, void *);

/* Arm the timer for the top of the heap, unless it is armed for it already. */
static void
wake_arm(struct sched *s)
{
	struct timeval tv = { 0, 0 };
	struct mail *top;
	uint64_t now, at;

	if (s->wake_ev == NULL && (s->wake_ev = evtimer_new(s->base, wake_cb, s)) == NULL)
		fatalx("evtimer_new");
	if ((top = dueheap_top(&s->wakes)) == NULL) {
		if (s->wake_armed != 0)
			evtimer_del(s->wake_ev);
		s->wake_armed = 0;
		return;
	}
	at = top->wake_at;
	if (at == s->wake_armed)
		return;
	now = s->now();
	if (at > now)
		tv.tv_sec = (time_t)(at - now);
	evtimer_add(s->wake_ev, &tv);
	s->wake_armed = at;
}

static void
wake_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sched *s = arg;
	struct mail *m;
	uint64_t now = s->now();
	unsigned n;

	s->wake_armed = 0;
	for (n = 0; n < SCHED_WAKE_BATCH && (m = dueheap_top(&s->wakes)) != NULL; n++) {
		if (m->wake_at > now)
			break;
		wake_remove(s, m);
		sched_mail_check(s, m);
	}
	wake_arm(s);
}

/*
 * After a large drain, give the freed memory back to the system: glibc
 * keeps freed chunks in its arenas, so a queue of a million mails would
 * keep its peak size for the life of the process.
 */
static void
mail_trim(struct sched *s)
{
	static unsigned peak;

	if (s->nmails > peak)
		peak = s->nmails;
	if (peak >= 4096 && s->nmails <= peak / 4) {
		(void)malloc_trim(0);
		peak = s->nmails;
	}
}

void
sched_mail_free(struct sched *s, struct mail *m, bool gone)
{
	uint32_t	 i;

	if (gone)
		log_debug("%s: no longer scheduled", m->id);
	sched_job_mail_detach(s, m);
	if (m->on_due)
		TAILQ_REMOVE(&s->due, m, due_entry);
	if (m->on_park)
		TAILQ_REMOVE(&s->parkq, m, park_entry);
	wake_remove(s, m);
	RB_REMOVE(sched_mail_tree, &s->mails, m);
	s->nmails--;
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i].addr);
	free(m->sender);
	free(m);	/* with its recipients (mail_new) */
	mail_trim(s);
}

void
sched_mail_drop_all(struct sched *s)
{
	struct mail	*m;

	while ((m = RB_MIN(sched_mail_tree, &s->mails)) != NULL)
		sched_mail_free(s, m, false);
}

/*
 * May m leave memory? More than queue_active_limit mails here, a queue
 * manager to take it, and nothing of it running or due: every open
 * recipient deferred (tried before) and waiting for a later time.
 */
static bool
mail_parkable(struct sched *s, struct mail *m, uint64_t now)
{
	uint32_t	 i;
	bool		 deferred = false;

	if (s->conf->queue_active_limit == 0 || s->nmails <= s->conf->queue_active_limit ||
	    s->qmgr == NULL || s->stopping || !m->complete || m->on_due ||
	    (m->flags & MAIL_F_HELD) || !TAILQ_EMPTY(&m->jobs) ||
	    m->wake_idx == SCHED_WAKE_NONE || m->wake_at <= now)
		return false;
	for (i = 0; i < m->nrcpt; i++) {
		struct srcpt *r = &m->rcpts[i];

		if (r->state == RCPT_DELIVERED || r->state == RCPT_FAILED)
			continue;
		if (r->state != RCPT_DEFERRED || r->busy || r->next <= now)
			return false;
		deferred = true;
	}
	return deferred;
}

#define SCHED_PARK_BATCH	1000	/* mails handed back per loop turn */

static void
park_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sched	*s = arg;
	struct mail	*m;
	struct fbuf	*fb;
	uint64_t	 now = s->now();
	unsigned	 n;

	for (n = 0; n < SCHED_PARK_BATCH && (m = TAILQ_FIRST(&s->parkq)) != NULL; n++) {
		TAILQ_REMOVE(&s->parkq, m, park_entry);
		m->on_park = false;
		if (!mail_parkable(s, m, now))
			continue;
		fb = fbuf_new(MSG_QMGR_PARK, 0);
		fbuf_add_str(fb, m->id);
		fbuf_add_u64(fb, m->wake_at);
		fbuf_add_u32(fb, s->nflush);
		if (chan_send(s->qmgr, fb) != 0)
			break;
		log_debug("%s: waits on disk until its re-send", m->id);
		sched_mail_free(s, m, false);
	}
	if (!TAILQ_EMPTY(&s->parkq))
		event_active(s->park_ev, EV_TIMEOUT, 0);
}

static void
park_later(struct sched *s, struct mail *m)
{
	if (m->on_park)
		return;
	if (s->park_ev == NULL && (s->park_ev = event_new(s->base, -1, 0, park_cb, s)) == NULL)
		fatalx("event_new");
	TAILQ_INSERT_TAIL(&s->parkq, m, park_entry);
	m->on_park = true;
	event_active(s->park_ev, EV_TIMEOUT, 0);
}

/* Ask the queue manager for the sender's delay notice, once. */
static void
mail_delay_warn(struct sched *s, struct mail *m)
{
	struct fbuf	*fb;

	if (s->qmgr == NULL)
		return;
	fb = fbuf_new(MSG_QMGR_DELAY_WARN, 0);
	fbuf_add_str(fb, m->id);
	if (chan_send(s->qmgr, fb) == 0) {
		m->flags |= MAIL_F_DELAY_WARNED;
		log_info("%s: still deferred after %us: delay notice to the sender",
		    m->id, s->conf->delay_warning);
	}
}

/*
 * Put the mail on the due list when a recipient is due now, and arm its timer
 * for the earliest later one (or for its delay notice, when that comes first).
 */
void
sched_mail_check(struct sched *s, struct mail *m)
{
	uint64_t	 now = s->now(), first = 0, warn, expires = 0;
	bool		 due = false, deferred = false, open = false;
	uint32_t	 i;
	unsigned	 n;

	if (!m->complete || (m->flags & MAIL_F_HELD) || s->stopping)
		return;
	/*
	 * max_queue_lifetime holds for every mail, also one never tried (its
	 * transactions waiting for a resolver): not only after a failure.
	 */
	if (s->conf->max_queue_lifetime > 0) {
		expires = m->arrival + s->conf->max_queue_lifetime;
		if (expires <= now && (n = sched_job_expire(s, m)) > 0)
			log_info("%s: in the queue for %llus: max_queue_lifetime expired for "
			    "%u recipients never tried or waiting for DNS", m->id,
			    (unsigned long long)(now - m->arrival), n);
	}
	for (i = 0; i < m->nrcpt; i++) {
		struct srcpt *r = &m->rcpts[i];

		if (r->state == RCPT_DEFERRED)
			deferred = true;
		if (r->state == RCPT_DELIVERED || r->state == RCPT_FAILED)
			continue;
		open = true;
		if (r->busy)
			continue;
		if (r->next <= now)
			due = true;
		else if (first == 0 || r->next < first)
			first = r->next;
	}
	if (open && expires > now && (first == 0 || expires < first))
		first = expires;
	warn = mail_delay_warn_at(m->arrival, s->conf->delay_warning, m->flags,
	    m->sender[0] == '\0');
	if (deferred && warn != 0) {
		if (warn <= now)
			mail_delay_warn(s, m);
		else if (first == 0 || warn < first)
			first = warn;
	}
	if (due && !m->on_due) {
		TAILQ_INSERT_TAIL(&s->due, m, due_entry);
		m->on_due = true;
		event_active(s->due_ev, EV_TIMEOUT, 0);
	}
	if (first != 0)
		wake_put(s, m, first);
	else
		wake_remove(s, m);
	wake_arm(s);
	if (mail_parkable(s, m, now))
		park_later(s, m);
}

/* A recipient of the mail being listed. */
static int
rcpt_frame(struct sched *s, struct frame *f)
{
	char		 id[QUEUE_ID_MAX];
	struct mail	*m;
	uint32_t	 index, attempts;
	uint8_t		 state;
	uint64_t	 next;
	char		*addr = NULL;
	struct srcpt	*r;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_get_u32(f, &index) ||
	    !frame_get_u8(f, &state) || !frame_get_u32(f, &attempts) ||
	    !frame_get_u64(f, &next) || !frame_get_strdup(f, &addr, ADDR_MAX) ||
	    !frame_end(f))
		goto bad;
	if ((m = sched_mail_find(s, id)) == NULL || m->complete) {
		log_warnx("qmgr: recipient of %s outside a listing", id);
		goto bad;
	}
	if (index >= m->nrcpt || state >= RCPT_STATE_MAX || m->rcpts[index].loaded) {
		log_warnx("%s: bad recipient record %u", id, index);
		goto bad;
	}
	r = &m->rcpts[index];
	r->addr = addr;
	r->state = state;
	r->attempts = attempts;
	r->next = next;
	r->loaded = true;
	return 0;
 bad:
	free(addr);
	return -1;
}

/* The fields of a mail's announcement, before its recipients. */
struct mail_head {
	char		 id[QUEUE_ID_MAX];
	uint64_t	 arrival;
	uint64_t	 size;
	uint32_t	 flags;
	char		*sender;
	uint32_t	 nrcpt;
};

static bool
mail_head_get(struct frame *f, struct mail_head *h)
{
	h->sender = NULL;
	if (!frame_get_str(f, h->id, sizeof(h->id)) || !frame_get_u64(f, &h->arrival) ||
	    !frame_get_u64(f, &h->size) || !frame_get_u32(f, &h->flags) ||
	    !frame_get_strdup(f, &h->sender, ADDR_MAX) || !frame_get_u32(f, &h->nrcpt) ||
	    h->id[0] == '\0' || h->nrcpt == 0 || h->nrcpt > SCHED_RCPT_MAX) {
		log_warnx("qmgr: bad mail record");
		free(h->sender);
		h->sender = NULL;
		return false;
	}
	return true;
}

/*
 * A mail and its recipients in one allocation (a queue of a million mails
 * pays one malloc header and rounding per mail, not two); it takes the
 * sender. Listed again: the new listing is the truth.
 */
static struct mail *
mail_new(struct sched *s, struct mail_head *h)
{
	struct mail	*m, *old;

	m = xcalloc(1, sizeof(*m) + (size_t)h->nrcpt * sizeof(*m->rcpts));
	m->s = s;
	TAILQ_INIT(&m->jobs);
	strlcpy(m->id, h->id, sizeof(m->id));
	m->arrival = h->arrival;
	m->size = h->size;
	m->flags = h->flags;
	m->sender = h->sender;
	h->sender = NULL;
	m->nrcpt = h->nrcpt;
	m->rcpts = (struct srcpt *)(m + 1);
	m->wake_idx = SCHED_WAKE_NONE;
	/* One descent of the tree, not a lookup and then an insert: with a
	 * million ids alike in their first bytes, strcmp in this tree was a
	 * quarter of the scheduler's loading time. */
	if ((old = RB_INSERT(sched_mail_tree, &s->mails, m)) != NULL) {
		sched_mail_free(s, old, false);
		RB_INSERT(sched_mail_tree, &s->mails, m);
	}
	s->nmails++;
	return m;
}

/* Every recipient is known: the mail is scheduled. */
static void
mail_complete(struct sched *s, struct mail *m)
{
	m->complete = true;
	log_debug("%s: scheduled, %u recipients", m->id, m->nrcpt);
	sched_job_mail_loaded(s, m);
	sched_mail_check(s, m);
}

static int
mail_begin(struct sched *s, struct frame *f)
{
	struct mail_head h;

	if (!mail_head_get(f, &h))
		return -1;
	if (!frame_end(f)) {
		free(h.sender);
		return -1;
	}
	(void)mail_new(s, &h);
	return 0;
}

static int
mail_end(struct sched *s, struct frame *f)
{
	char		 id[QUEUE_ID_MAX];
	struct mail	*m;
	uint32_t	 i;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_end(f))
		return -1;
	if ((m = sched_mail_find(s, id)) == NULL || m->complete) {
		log_warnx("qmgr: end of %s outside a listing", id);
		return -1;
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (!m->rcpts[i].loaded) {
			log_warnx("%s: recipient %u missing from the listing", id, i);
			return -1;
		}
	}
	mail_complete(s, m);
	return 0;
}

/* SCHED_MAILS: whole mails, as SCHED_MAIL, its SCHED_RCPTs and
 * SCHED_MAIL_END give them one frame each. */
static int
mails_frame(struct sched *s, struct frame *f)
{
	struct mail_head h;
	struct mail	*m;
	struct srcpt	*r;
	uint16_t	 n, k;
	uint32_t	 i;
	uint8_t		 state;

	if (!frame_get_u16(f, &n))
		return -1;
	for (k = 0; k < n; k++) {
		if (!mail_head_get(f, &h))
			return -1;
		m = mail_new(s, &h);
		for (i = 0; i < m->nrcpt; i++) {
			r = &m->rcpts[i];
			if (!frame_get_u8(f, &state) || !frame_get_u32(f, &r->attempts) ||
			    !frame_get_u64(f, &r->next) ||
			    !frame_get_strdup(f, &r->addr, ADDR_MAX) || state >= RCPT_STATE_MAX) {
				log_warnx("%s: bad recipient record %u", m->id, i);
				sched_mail_free(s, m, false);
				return -1;
			}
			r->state = state;
			r->loaded = true;
		}
		mail_complete(s, m);
	}
	return frame_end(f) ? 0 : -1;
}

static int
mail_removed(struct sched *s, struct frame *f)
{
	char		 id[QUEUE_ID_MAX];
	struct mail	*m;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_end(f))
		return -1;
	if ((m = sched_mail_find(s, id)) != NULL)
		sched_mail_free(s, m, true);
	return 0;
}

/* Does the recipient address belong to domain (case-insensitive)? */
static bool
rcpt_in_domain(const char *addr, const char *domain)
{
	const char	*d = sched_rcpt_domain(addr);

	return d != NULL && strcasecmp(d, domain) == 0;
}

/* m's open recipients (of domain @sel only, if sel says so) due now; any? */
static bool
flush_mail(struct sched *s, struct mail *m, const char *sel, uint64_t now)
{
	uint32_t	 i;
	bool		 hit = false;

	for (i = 0; i < m->nrcpt; i++) {
		struct srcpt *r = &m->rcpts[i];

		if (r->state == RCPT_DELIVERED || r->state == RCPT_FAILED)
			continue;
		if (sel[0] == '@' && !rcpt_in_domain(r->addr, sel + 1))
			continue;
		hit = true;
		if (!r->busy && r->next > now)
			r->next = now;
	}
	if (hit)
		sched_mail_check(s, m);
	return hit;
}

/* sel: a queue id (looked up, not searched for), @domain, or "" for all. */
unsigned
sched_mail_flush(struct sched *s, const char *sel)
{
	struct mail	*m;
	uint64_t	 now = s->now();
	unsigned	 n = 0;

	if (sel[0] != '\0' && sel[0] != '@')
		return (m = sched_mail_find(s, sel)) != NULL && flush_mail(s, m, sel, now);
	RB_FOREACH(m, sched_mail_tree, &s->mails)
		if (flush_mail(s, m, sel, now))
			n++;
	return n;
}

static int
mail_flush_frame(struct sched *s, struct frame *f)
{
	char		 sel[HOSTNAME_MAX + 2];
	unsigned	 n;

	if (!frame_get_str(f, sel, sizeof(sel)) || !frame_end(f))
		return -1;
	s->nflush++;	/* the queue manager compares it with what it sent (QMGR_PARK) */
	n = sched_mail_flush(s, sel);
	log_info("flush %s: %u mails due now", sel[0] ? sel : "(all)", n);
	return 0;
}

int
sched_mail_frame(struct sched *s, struct frame *f)
{
	switch (f->hdr.type) {
	case MSG_SCHED_MAIL:
		return mail_begin(s, f);
	case MSG_SCHED_RCPT:
		return rcpt_frame(s, f);
	case MSG_SCHED_MAIL_END:
		return mail_end(s, f);
	case MSG_SCHED_MAILS:
		return mails_frame(s, f);
	case MSG_SCHED_REMOVED:
		return mail_removed(s, f);
	case MSG_SCHED_FLUSH:
		return mail_flush_frame(s, f);
	case MSG_SCHED_LOAD_DONE:
		if (!frame_end(f))
			return -1;
		s->loaded = true;
		log_info("queue loaded: %u mails", s->nmails);
		sched_job_load_done(s);
		return 0;
	}
	return -1;
}

/* Order a mail's due recipients by destination so that each group becomes
 * one or more transactions. */
struct due_rcpt {
	struct dest	*dest;
	uint32_t	 index;
};

static int
due_cmp(const void *a, const void *b)
{
	const struct due_rcpt	*x = a, *y = b;

	if (x->dest != y->dest)
		return (uintptr_t)x->dest < (uintptr_t)y->dest ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

static void
mail_schedule(struct sched *s, struct mail *m)
{
	struct due_rcpt	*d;
	size_t		 n = 0, i;
	uint64_t	 now = s->now();
	unsigned	 max;
	struct job	*j = NULL;

	d = xreallocarray(NULL, m->nrcpt, sizeof(*d));
	for (i = 0; i < m->nrcpt; i++) {
		struct srcpt	*r = &m->rcpts[i];
		const char	*domain;

		if (r->busy || r->state == RCPT_DELIVERED || r->state == RCPT_FAILED ||
		    r->next > now)
			continue;
		if ((domain = sched_rcpt_domain(r->addr)) == NULL) {
			j = sched_job_new(s, m, NULL);
			sched_job_add_rcpt(j, m, (uint32_t)i);
			sched_job_fail(s, j, DELIVERY_PERMFAIL, 0, "5.1.3",
			    "bad recipient address syntax");
			continue;
		}
		d[n].dest = sched_dest_get(s, domain);
		d[n].index = (uint32_t)i;
		n++;
	}
	qsort(d, n, sizeof(*d), due_cmp);
	j = NULL;
	for (i = 0; i < n; i++) {
		/* per destination: [destinations] rcpt_per_transaction */
		max = sched_shape_rcpt_max(s, d[i].dest);
		if (max == 0 || max > UINT16_MAX)
			max = UINT16_MAX;
		if (j != NULL && (d[i].dest != j->dest || j->nrcpt >= max ||
		    j->bytes >= SCHED_JOB_BYTES)) {
			sched_dest_enqueue(s, j->dest, j);
			j = NULL;
		}
		if (j == NULL)
			j = sched_job_new(s, m, d[i].dest);
		sched_job_add_rcpt(j, m, d[i].index);
	}
	if (j != NULL)
		sched_dest_enqueue(s, j->dest, j);
	free(d);
}

void
sched_mail_run_due(struct sched *s)
{
	struct mail	*m;
	unsigned	 n = 0;

	while ((m = TAILQ_FIRST(&s->due)) != NULL && !s->stopping) {
		if (s->nwaiting >= SCHED_WAITING_MAX)
			return;		/* resumed by sched_job_dispatch() */
		if (n++ >= SCHED_DUE_BATCH) {
			event_active(s->due_ev, EV_TIMEOUT, 0);
			return;
		}
		TAILQ_REMOVE(&s->due, m, due_entry);
		m->on_due = false;
		mail_schedule(s, m);
		sched_mail_check(s, m);
	}
}
