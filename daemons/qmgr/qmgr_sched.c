/* SPDX-License-Identifier: ISC */
/*
 * qmgr_sched.c - the queue manager's side of the scheduler link, and the
 * resumable streams over the index (announcing the queue to a new
 * scheduler link, listing it to a public client).
 *
 * Announce: each mail is sent as SCHED_MAIL, SCHED_RCPT..., SCHED_MAIL_END,
 * once per scheduler link (generation), then SCHED_LOAD_DONE. New mails are
 * announced as they are committed, and mails indexed at start as they are
 * indexed (their ids may sort before the stream's cursor); SCHED_LOAD_DONE
 * waits for the end of the indexing. A stream pauses while the link has more
 * than QMGR_STREAM_HIGH bytes waiting and resumes from the last id sent.
 *
 * QMGR_OPEN answers with a read-only descriptor of the queue file.
 * QMGR_UPDATE applies recipient states: a bounce for new FAILED recipients
 * is committed first, then the state records are appended and made durable
 * by the commit thread, then QMGR_UPDATED is sent; a mail whose recipients
 * are all final is removed. A bounce that cannot be written is postponed
 * on the scheduler's clock: a FAILED entry's "next" is the scheduler's
 * time of the verdict (clock_now() there), to which resend_interval is
 * added; it is not recorded. The same path serves outpostctl bounce
 * (qmgr_states_apply). An update for a mail that was deleted meanwhile is
 * answered "removed" and otherwise ignored. QMGR_DELAY_WARN asks for the
 * sender's delay notice (qmgr_bounce.c).
 *
 * A mail on hold (MAIL_F_HELD) is not announced; it is when released.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "clock.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

/* One update on its way to the disk. */
struct qupdate {
	struct qmail	*mail;
	struct qf_state	*st;
	unsigned	 n;
	bool		 unlinked;	/* removed by a REMOVE job */
	bool		 reannounce;	/* failures turned deferred: the scheduler must hear */
	uint64_t	 verdict_at;	/* the failures' time on the scheduler's clock; 0: unknown */
	qupdate_done_fn	 done;
	void		*arg;
};

/* The scheduler's QMGR_UPDATE being answered. */
struct qanswer {
	struct qlink	*link;
	uint32_t	 reqid;
};

/*
 * While the queue is indexed or streamed to the scheduler, mails go out
 * SCHED_BATCH_BYTES at a time in SCHED_MAILS frames: one sendmsg and one
 * wake-up of the scheduler per frame instead of three per mail (sendmsg was
 * over a quarter of the queue manager's indexing time). Anything else sent on the
 * link flushes the batch first, so the scheduler sees the same order.
 */
#define SCHED_BATCH_BYTES	(32 * 1024)

/* Bytes a mail takes in a SCHED_MAILS frame (strings: u32 length + bytes). */
static size_t
batch_size(const struct qmail *m)
{
	size_t n;
	uint32_t i;

	n = 4 + strlen(m->id) + 8 + 8 + 4 + 4 + (m->sender ? strlen(m->sender) : 0) + 4;
	for (i = 0; i < m->nrcpt; i++)
		n += 1 + 4 + 8 + 4 + strlen(m->rcpt[i].addr);
	return n;
}

static void
batch_flush(struct qlink *l)
{
	struct fbuf *fb = l->batch;
	uint16_t n = l->nbatch;

	if (fb == NULL)
		return;
	l->batch = NULL;
	l->nbatch = 0;
	memcpy(fb->data + FRAME_HDR_LEN, &n, sizeof(n));	/* the n16 count */
	if (l->chan != NULL)
		chan_send(l->chan, fb);
	else
		fbuf_free(fb);
}

/* Add the mail to the link's batch; false if it is too large for one. */
static bool
batch_add(struct qlink *l, const struct qmail *m)
{
	size_t need = batch_size(m);
	uint32_t i;

	if (need + FRAME_HDR_LEN + 2 > SCHED_BATCH_BYTES)
		return false;
	if (l->batch != NULL && (l->batch->len + need > SCHED_BATCH_BYTES ||
	    l->nbatch == UINT16_MAX))
		batch_flush(l);
	if (l->batch == NULL) {
		l->batch = fbuf_new(MSG_SCHED_MAILS, 0);
		fbuf_add_u16(l->batch, 0);
	}
	fbuf_add_str(l->batch, m->id);
	fbuf_add_u64(l->batch, m->arrival);
	fbuf_add_u64(l->batch, m->content_len);
	fbuf_add_u32(l->batch, m->flags);
	fbuf_add_str(l->batch, m->sender);
	fbuf_add_u32(l->batch, m->nrcpt);
	for (i = 0; i < m->nrcpt; i++) {
		fbuf_add_u8(l->batch, m->rcpt[i].state);
		fbuf_add_u32(l->batch, m->rcpt[i].attempts);
		fbuf_add_u64(l->batch, m->rcpt[i].next);
		fbuf_add_str(l->batch, m->rcpt[i].addr);
	}
	l->nbatch++;
	return true;
}

static void
announce(struct qlink *l, struct qmail *m)
{
	struct fbuf *fb;
	uint32_t i;

	/* A mail waiting for its DKIM signature is announced once signed. */
	if (m->announced == l->gen || (m->flags & MAIL_F_HELD) || m->sign_state != SIGN_ST_NONE)
		return;
	m->announced = l->gen;
	if (l->batching && batch_add(l, m))
		return;
	batch_flush(l);
	fb = fbuf_new(MSG_SCHED_MAIL, 0);
	fbuf_add_str(fb, m->id);
	fbuf_add_u64(fb, m->arrival);
	fbuf_add_u64(fb, m->content_len);
	fbuf_add_u32(fb, m->flags);
	fbuf_add_str(fb, m->sender);
	fbuf_add_u32(fb, m->nrcpt);
	chan_send(l->chan, fb);
	for (i = 0; i < m->nrcpt && l->chan != NULL; i++) {
		fb = fbuf_new(MSG_SCHED_RCPT, 0);
		fbuf_add_str(fb, m->id);
		fbuf_add_u32(fb, i);
		fbuf_add_u8(fb, m->rcpt[i].state);
		fbuf_add_u32(fb, m->rcpt[i].attempts);
		fbuf_add_u64(fb, m->rcpt[i].next);
		fbuf_add_str(fb, m->rcpt[i].addr);
		chan_send(l->chan, fb);
	}
	fb = fbuf_new(MSG_SCHED_MAIL_END, 0);
	fbuf_add_str(fb, m->id);
	chan_send(l->chan, fb);
}

void
sched_announce(struct qmgr *q, struct qmail *m)
{
	if (q->sched != NULL && q->sched->chan != NULL)
		announce(q->sched, m);
}

void
sched_batch_begin(struct qmgr *q)
{
	if (q->sched != NULL && q->sched->chan != NULL)
		q->sched->batching = true;
}

void
sched_batch_end(struct qmgr *q)
{
	if (q->sched == NULL)
		return;
	q->sched->batching = false;
	batch_flush(q->sched);
}

void
sched_tell(struct qmgr *q, uint16_t type, const char *str)
{
	struct fbuf *fb;

	if (q->sched == NULL || q->sched->chan == NULL)
		return;
	batch_flush(q->sched);
	fb = fbuf_new(type, 0);
	fbuf_add_str(fb, str);
	chan_send(q->sched->chan, fb);
	if (type == MSG_SCHED_FLUSH)
		q->sched->nflush_sent++;	/* compared with QMGR_PARK's (qmgr_park.c) */
}

/* One QUEUE_ENTRY: as many recipients as fit in a frame. */
static void
list_entry(struct qlink *l, struct qmail *m)
{
	struct fbuf *fb;
	size_t room, need;
	uint32_t i, n;

	fb = fbuf_new(MSG_QUEUE_ENTRY, l->stream_reqid);
	fbuf_add_str(fb, m->id);
	fbuf_add_u64(fb, m->arrival);
	fbuf_add_u64(fb, m->content_len);
	fbuf_add_u32(fb, m->flags);
	fbuf_add_str(fb, m->sender);
	fbuf_add_u32(fb, m->nrcpt);
	room = fbuf_room(fb) - 2;
	for (n = 0; n < m->nrcpt && n < UINT16_MAX; n++) {
		need = 4 + strlen(m->rcpt[n].addr) + 1 + 4 + 8 + 4 +
		    (m->rcpt[n].reply ? strlen(m->rcpt[n].reply) : 0);
		if (need > room)
			break;
		room -= need;
	}
	fbuf_add_u16(fb, n);
	for (i = 0; i < n; i++) {
		fbuf_add_str(fb, m->rcpt[i].addr);
		fbuf_add_u8(fb, m->rcpt[i].state);
		fbuf_add_u32(fb, m->rcpt[i].attempts);
		fbuf_add_u64(fb, m->rcpt[i].next);
		fbuf_add_str(fb, m->rcpt[i].reply);
	}
	chan_send(l->chan, fb);
}

static void
load_done(struct qlink *l)
{
	batch_flush(l);
	chan_send(l->chan, fbuf_new(MSG_SCHED_LOAD_DONE, 0));
	log_info("scheduler link %u: %u mails announced", l->gen, l->streamed);
}

void
sched_recovered(struct qmgr *q, struct qmail *m)
{
	struct qlink *l = q->sched;

	if (l == NULL || l->chan == NULL || m->announced == l->gen ||
	    (m->flags & MAIL_F_HELD))
		return;
	l->streamed++;
	announce(l, m);
}

void
sched_recovery_done(struct qmgr *q)
{
	struct qlink *l = q->sched;

	if (l != NULL && l->chan != NULL && !l->streaming)
		load_done(l);
}

static void
stream_run(struct qlink *l)
{
	struct qmgr *q = l->q;
	struct qmail key, *m;
	struct fbuf *fb;
	struct timeval tv = { 0, 5000 };

	if (l->chan == NULL || !l->streaming)
		return;
	if (l->cursor[0] == '\0')
		m = RB_MIN(qmail_tree, &q->mails);
	else {
		strlcpy(key.id, l->cursor, sizeof(key.id));
		m = RB_NFIND(qmail_tree, &q->mails, &key);
		if (m != NULL && strcmp(m->id, l->cursor) == 0)
			m = RB_NEXT(qmail_tree, &q->mails, m);
	}
	for (; m != NULL && l->chan != NULL; m = RB_NEXT(qmail_tree, &q->mails, m)) {
		if (chan_pending(l->chan) > QMGR_STREAM_HIGH) {
			evtimer_add(l->resume, &tv);
			return;
		}
		if (l->kind == QLINK_SCHED) {
			if (!(m->flags & MAIL_F_HELD) && m->announced != l->gen)
				l->streamed++;
			announce(l, m);
		} else {
			list_entry(l, m);
			l->streamed++;
		}
		strlcpy(l->cursor, m->id, sizeof(l->cursor));
	}
	if (l->chan == NULL)
		return;
	l->streaming = false;
	if (l->kind == QLINK_SCHED) {
		/* Still indexing: sched_recovery_done() ends the load. */
		if (!spool_indexing(q))
			load_done(l);
	} else {
		fb = fbuf_new(MSG_QUEUE_LIST_END, l->stream_reqid);
		fbuf_add_u32(fb, l->streamed);
		chan_send(l->chan, fb);
	}
}

static void
stream_step(evutil_socket_t fd, short ev, void *arg)
{
	struct qlink *l = arg;
	bool batch = l->kind == QLINK_SCHED;

	l->batching = batch;
	stream_run(l);
	if (batch) {
		l->batching = false;
		batch_flush(l);
	}
}

void
stream_start(struct qlink *l, uint32_t reqid)
{
	l->streaming = true;
	l->stream_reqid = reqid;
	l->cursor[0] = '\0';
	l->streamed = 0;
	if (l->resume == NULL)
		l->resume = evtimer_new(l->q->base, stream_step, l);
	stream_step(-1, 0, l);
}

static int
do_open(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	char id[QUEUE_ID_MAX];
	struct qmail *m;
	struct fbuf *fb;
	int fd;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_end(f))
		return -1;
	if (!qf_id_valid(id)) {
		log_warnx("scheduler: open of a malformed queue id");
		return -1;
	}
	if ((m = qmail_find(q, id)) == NULL || (fd = spool_open_ro(q, id)) == -1) {
		fb = fbuf_new(MSG_QMGR_OPEN_FAIL, f->hdr.reqid);
		fbuf_add_str(fb, m == NULL ? "no such mail in the queue" : strerror(errno));
		if (m != NULL)
			log_warn("%s: open for delivery", id);
		chan_send(l->chan, fb);
		return 0;
	}
	log_detail("%s: opened for delivery", id);
	fb = fbuf_new(MSG_QMGR_OPENED, f->hdr.reqid);
	fbuf_add_u64(fb, m->content_off);
	fbuf_add_u64(fb, m->content_len);
	fbuf_add_u32(fb, m->flags);
	fbuf_add_str(fb, m->dkim);
	fbuf_set_fd(fb, fd);
	chan_send(l->chan, fb);
	return 0;
}

static void
answer_updated(struct qlink *l, uint32_t reqid, const char *id, bool removed)
{
	struct fbuf *fb;

	if (l == NULL || l->chan == NULL)
		return;
	fb = fbuf_new(MSG_QMGR_UPDATED, reqid);
	fbuf_add_str(fb, id);
	fbuf_add_u8(fb, removed);
	chan_send(l->chan, fb);
}

static void
update_answered(struct qmgr *q, void *arg, const char *id, bool removed)
{
	struct qanswer *a = arg;

	answer_updated(a->link, a->reqid, id, removed);
	qmgr_link_unref(a->link);
	free(a);
}

static void
update_finish(struct qmgr *q, struct qupdate *u)
{
	struct qmail *m = u->mail;
	char id[QUEUE_ID_MAX];
	bool removed = m->deleted;

	strlcpy(id, m->id, sizeof(id));
	if (--m->inflight == 0) {
		if (m->deleted)
			qmail_free(q, m);	/* its deletion is durable already */
		else if (qmail_final(m)) {
			if (u->unlinked)
				log_info("%s: removed", m->id);
			else
				spool_remove(q, m);
			mark_forget(q, m);
			qmail_remove(q, m);
			qmail_free(q, m);
			removed = true;
		}
	}
	u->done(q, u->arg, id, removed);
	/* After the answer: the new listing replaces the scheduler's copy. */
	if (u->reannounce && !removed && !m->deleted && !(m->flags & MAIL_F_HELD)) {
		m->announced = 0;
		sched_announce(q, m);
	}
	free(u->st);
	free(u);
}

static void
update_synced(struct qmgr *q, struct qjob *j)
{
	struct qupdate *u = j->arg;

	if (j->fd != -1)
		close(j->fd);
	if (j->error != 0) {
		errno = j->error;
		log_warn("%s: %s not durable", u->mail->id,
		    j->kind == QJOB_REMOVE ? "removal" : "state update");
	}
	free(j);
	update_finish(q, u);
}

static void
update_write(struct qmgr *q, struct qupdate *u)
{
	struct qjob *j;
	int fd;

	if (u->mail->deleted) {
		/* deleted while its bounce was written: nothing left to record in */
		update_finish(q, u);
		return;
	}
	if (u->mail->inflight == 1 && qmail_final(u->mail)) {
		/* Finished: the removal itself is the durable record. */
		u->unlinked = true;
		qmgr_commit_remove(q, u->mail->id, update_synced, u);
		return;
	}
	if ((fd = spool_state_append(q, u->mail, u->st, u->n)) == -1) {
		log_warnx("%s: state update kept in memory only", u->mail->id);
		update_finish(q, u);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = QJOB_SYNC;
	j->fd = fd;
	strlcpy(j->id, u->mail->id, sizeof(j->id));
	j->done = update_synced;
	j->arg = u;
	qmgr_commit_push(q, j);
}

/*
 * The bounce for u's failed recipients cannot be written now (no space, a
 * write error): they become deferred, with their failure kept, and are
 * tried again after resend_interval; the bounce is made when they fail
 * again. A failure is never recorded without its bounce.
 *
 * The due time is resend_interval after the verdict on the clock the
 * scheduler compares due times with: the wall clock read at its start and
 * advanced by the monotonic clock (clock.c). After a wall-clock jump the
 * qmgr's time(NULL) is off by the jump, and a due time taken from it froze
 * the bounce for as long (or made it due at once, again and again). The
 * scheduler gives its time with each failure; without it (outpostctl
 * bounce, a held mail's expiry) the qmgr's own clock_now() stands in, which
 * agrees with the scheduler's unless one of them started again since a jump.
 */
static void
bounce_postpone(struct qmgr *q, struct qupdate *u)
{
	struct qmail *m = u->mail;
	uint64_t next = (u->verdict_at != 0 ? u->verdict_at : clock_now()) +
	    q->conf->resend_interval;
	unsigned i, n = 0;

	shape_leave(q, m);
	for (i = 0; i < u->n; i++) {
		if (u->st[i].state != RCPT_FAILED)
			continue;
		u->st[i].state = RCPT_DEFERRED;
		u->st[i].next = next;
		m->rcpt[u->st[i].index].state = RCPT_DEFERRED;
		m->rcpt[u->st[i].index].next = next;
		n++;
	}
	shape_enter(q, m);
	if (n == 0)
		return;
	u->reannounce = true;
	log_warnx("%s: bounce postponed (%s): %u recipients deferred for %us", m->id,
	    q->space_low ? "queue low on space" : "cannot write it", n,
	    q->conf->resend_interval);
}

static void
update_bounced(struct qmgr *q, struct qtx *tx, bool ok)
{
	struct qupdate *u = tx->done_arg;

	if (ok)
		log_info("%s: sender non-delivery notification: %s", u->mail->id, tx->env.id);
	else {
		log_warnx("%s: the bounce could not be queued", u->mail->id);
		bounce_postpone(q, u);
	}
	update_write(q, u);
}

static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static int
do_update(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	char id[QUEUE_ID_MAX], relay[HOSTNAME_MAX + 64];
	struct qf_state *st = NULL;
	struct qanswer *a;
	struct qmail *m;
	uint32_t n, i;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_get_u32(f, &n) || n == 0 ||
	    n > QF_RCPT_MAX || n > f->len / 31)
		return -1;
	st = xcalloc(n, sizeof(*st));
	for (i = 0; i < n; i++) {
		if (!frame_get_u32(f, &st[i].index) || !frame_get_u8(f, &st[i].state) ||
		    !frame_get_u32(f, &st[i].attempts) || !frame_get_u64(f, &st[i].next) ||
		    !frame_get_u16(f, &st[i].code) ||
		    !frame_get_str(f, st[i].dsn, sizeof(st[i].dsn)) ||
		    !frame_get_str(f, st[i].reply, sizeof(st[i].reply)) ||
		    !frame_get_str(f, relay, sizeof(relay)) || st[i].state >= RCPT_STATE_MAX)
			goto bad;
		strlcpy(st[i].relay, relay, sizeof(st[i].relay));
		sanitize(st[i].dsn);
		sanitize(st[i].reply);
		sanitize(st[i].relay);
		st[i].when = time(NULL);
	}
	if (!frame_end(f))
		goto bad;
	if ((m = qmail_find(q, id)) == NULL) {
		/* deleted by an administrator while a delivery ran */
		log_info("%s: no longer queued: outcome of %u recipients ignored", id, n);
		answer_updated(l, f->hdr.reqid, id, true);
		free(st);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (st[i].index >= m->nrcpt)
			goto bad;

	log_detail("%s: update of %u recipients", m->id, n);
	a = xcalloc(1, sizeof(*a));
	a->link = l;
	l->refs++;
	a->reqid = f->hdr.reqid;
	qmgr_states_apply(q, m, st, n, update_answered, a);
	return 0;

bad:
	free(st);
	return -1;
}

void
qmgr_states_apply(struct qmgr *q, struct qmail *m, struct qf_state *st, unsigned n,
    qupdate_done_fn done, void *arg)
{
	struct qupdate *u;
	struct qrcpt *rc;
	struct qtx *tx;
	uint64_t verdict_at = 0;
	uint32_t i, k, nfailed = 0, *failed = NULL;

	/* Apply in memory; final recipients stay final. */
	failed = xcalloc(n, sizeof(*failed));
	shape_leave(q, m);
	for (i = 0, k = 0; i < n; i++) {
		rc = &m->rcpt[st[i].index];
		if (rc->state == RCPT_DELIVERED || rc->state == RCPT_FAILED) {
			log_detail("%s: recipient %u is final already: update ignored",
			    m->id, st[i].index);
			continue;
		}
		if (st[i].state == RCPT_FAILED) {
			failed[nfailed++] = st[i].index;
			/* the scheduler's time of the verdict, for bounce_postpone */
			if (st[i].next > verdict_at)
				verdict_at = st[i].next;
			st[i].next = 0;
		}
		rc->state = st[i].state;
		rc->attempts = st[i].attempts;
		rc->next = st[i].next;
		rc->code = st[i].code;
		strpool_put(rc->reply);
		rc->reply = strpool_get(st[i].reply);
		strpool_put(rc->relay);
		rc->relay = strpool_get(st[i].relay);
		strlcpy(rc->dsn, st[i].dsn, sizeof(rc->dsn));
		if (k != i)
			st[k] = st[i];
		k++;
	}
	shape_enter(q, m);

	u = xcalloc(1, sizeof(*u));
	u->done = done;
	u->arg = arg;
	u->mail = m;
	u->st = st;
	u->n = k;
	u->verdict_at = verdict_at;
	m->inflight++;
	if (k == 0) {
		free(failed);
		update_finish(q, u);
		return;
	}
	if (nfailed > 0 && m->sender[0] != '\0' && !(m->flags & MAIL_F_BOUNCE)) {
		/* Below queue_min_free the bounce is not even tried: it waits. */
		if (space_ok(q, 0) && (tx = bounce_make(q, m, failed, nfailed)) != NULL) {
			tx->done = update_bounced;
			tx->done_arg = u;
			free(failed);
			submit_commit(q, tx);
			return;
		}
		free(failed);
		bounce_postpone(q, u);
		update_write(q, u);
		return;
	}
	if (nfailed > 0)
		log_info("%s: %s: no bounce", m->id, m->sender[0] == '\0' ?
		    "sender <>" : "a bounce that failed");
	free(failed);
	update_write(q, u);
}

static int
do_delay_warn(struct qlink *l, struct frame *f)
{
	char id[QUEUE_ID_MAX];
	struct qmail *m;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_end(f))
		return -1;
	if ((m = qmail_find(l->q, id)) != NULL)
		bounce_delay_warn(l->q, m);
	return 0;
}

int
sched_dispatch(struct qlink *l, struct frame *f)
{
	switch (f->hdr.type) {
	case MSG_QMGR_OPEN:
		return do_open(l, f);
	case MSG_QMGR_UPDATE:
		return do_update(l, f);
	case MSG_QMGR_DELAY_WARN:
		return do_delay_warn(l, f);
	case MSG_QMGR_PARK:
		return park_frame(l, f);
	case MSG_TLSRPT_MAIL:
		return tlsrpt_mail(l, f);
	default:
		log_warnx("scheduler: unexpected %s", msg_name(f->hdr.type));
		return -1;
	}
}
