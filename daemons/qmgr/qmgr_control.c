/* SPDX-License-Identifier: ISC */
/*
 * qmgr_control.c - outpostctl's queue commands, carried out by the queue
 * manager. The master routes them here as CONTROL_REQUEST (str command,
 * n32{ str argument }) under a route id; every request is answered with
 * CONTROL_REPLY lines and exactly one CONTROL_END (status 0 done, 1 failed,
 * and a message), same reqid. Called through ctx->on_master (shared/proc.c).
 *
 *   queue [--json] [@domain]  listing (qmgr_list.c), only mails for a domain
 *   queue --summary [--json]  domain x age table, as qshape (qmgr_shape.c)
 *   show ID               envelope, states with every attempt, content (qmgr_list.c)
 *   flush [ID|@domain]    deferred recipients due now (SCHED_FLUSH)
 *   delete ID|@domain|all the file removed durably, the scheduler told;
 *                         @domain: mails whose every queued recipient is there
 *   hold|release ID|@domain|all  a durable mark (qmgr_mark.c); a held mail is
 *                         not scheduled (SCHED_REMOVED) until released
 *                         (announced); @domain: mails with a recipient there
 *   bounce ID             every non-final recipient FAILED, one DSN
 *
 * A command that changes the queue answers only once its change is
 * durable. Commands over many mails (flush @domain, delete and
 * hold|release @domain|all) read the mails waiting on disk a slice per loop
 * turn, one such command at a time, the others waiting their turn (see
 * bulk_start). Output is paced: while the master link holds more than
 * CTL_PENDING_HIGH bytes, a listing waits (ctl_paused), so a queue of any
 * size cannot overflow the link.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "chan.h"
#include "clock.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "qmgr.h"
#include "xmalloc.h"

#define CTL_ARGS_MAX		4
#define CTL_PENDING_HIGH	(256 * 1024)
#define CTL_RESUME_USEC		5000
#define CTL_BOUNCE_REASON	"bounced by the administrator"

static void
ctl_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qctl *c = arg;

	c->step(c);
}

void
ctl_reply(struct qctl *c, const char *line)
{
	struct fbuf *fb;

	fb = fbuf_new(MSG_CONTROL_REPLY, c->reqid);
	fbuf_add_str(fb, line);
	chan_send(c->q->ctx->master, fb);
}

void
ctl_end(struct qctl *c, int status, const char *fmt, ...)
{
	struct fbuf *fb;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fb = fbuf_new(MSG_CONTROL_END, c->reqid);
	fbuf_add_u8(fb, status);
	fbuf_add_str(fb, msg);
	chan_send(c->q->ctx->master, fb);
	if (c->resume != NULL)
		event_free(c->resume);
	free(c);
}

void
ctl_yield(struct qctl *c)
{
	struct timeval tv = { 0, 0 };

	if (c->resume == NULL && (c->resume = evtimer_new(c->q->base, ctl_resume_cb, c)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(c->resume, &tv);
}

bool
ctl_slice_over(struct qctl *c, unsigned n, const struct timespec *t0)
{
	/* the clock is read every 32 items: a read costs more than most items */
	if (n < CTL_SLICE && ((n & 31) != 31 || qmgr_usec_since(t0) <= CTL_SLICE_USEC))
		return false;
	ctl_yield(c);
	return true;
}

bool
ctl_paused(struct qctl *c)
{
	struct timeval tv = { 0, CTL_RESUME_USEC };

	if (chan_pending(c->q->ctx->master) <= CTL_PENDING_HIGH)
		return false;
	if (c->resume == NULL && (c->resume = evtimer_new(c->q->base, ctl_resume_cb, c)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(c->resume, &tv);
	return true;
}

/* A mail an administrator may name: queued and not being deleted. */
static struct qmail *
ctl_mail(struct qctl *c, const char *id)
{
	struct qmail *m;

	strlcpy(c->id, id, sizeof(c->id));
	/* A mail waiting on disk is read back and scheduled again. */
	if ((m = park_get(c->q, id)) == NULL || m->deleted) {
		ctl_end(c, 1, "no such mail: %s", id);
		return NULL;
	}
	return m;
}

static bool
rcpt_final(const struct qrcpt *rc)
{
	return rc->state == RCPT_DELIVERED || rc->state == RCPT_FAILED;
}

static bool
rcpt_in_domain(const char *addr, const char *domain)
{
	const char *at = strrchr(addr, '@');

	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

/* Deferred recipients of m (only those at domain, unless NULL) due now;
 * false when m has no such recipient left in the queue. */
static bool
flush_one(struct qmgr *q, struct qmail *m, const char *domain, uint64_t now)
{
	uint32_t i;
	bool hit = false;

	for (i = 0; i < m->nrcpt; i++) {
		struct qrcpt *rc = &m->rcpt[i];

		if (rcpt_final(rc) || (domain != NULL && !rcpt_in_domain(rc->addr, domain)))
			continue;
		hit = true;
		if (rc->next > now)
			rc->next = now;
	}
	if (hit)	/* read back from disk: the scheduler learns it due */
		sched_announce(q, m);
	return hit;
}

/*
 * flush: due now, in the scheduler and in the index (so that the listing
 * and a later announce agree). Held mails stay held. flush @domain walks
 * the mails on disk first (bulk_start), then ends in flush_end().
 */
static void
flush_end(struct qctl *c)
{
	struct qmgr *q = c->q;
	struct qmail *m;
	uint64_t now = clock_now();	/* the scheduler's clock, as the due times */
	const char *sel = c->id, *domain = c->domain[0] != '\0' ? c->domain : NULL;
	unsigned n = c->count;	/* those made due on disk */

	RB_FOREACH(m, qmail_tree, &q->mails) {
		if ((m->flags & MAIL_F_HELD) || (sel[0] != '\0' && strcmp(sel, m->id) != 0))
			continue;
		n += flush_one(q, m, domain, now);
	}
	if (domain != NULL) {
		char at[HOSTNAME_MAX + 1];

		snprintf(at, sizeof(at), "@%s", domain);
		sched_tell(q, MSG_SCHED_FLUSH, at);
	} else
		sched_tell(q, MSG_SCHED_FLUSH, sel);
	log_info("flush %s%s: %u mails due now", domain != NULL ? "@" : "",
	    domain != NULL ? domain : sel[0] ? sel : "(all)", n);
	if (sel[0] != '\0')
		ctl_end(c, 0, "%s: re-sent now", sel);
	else
		ctl_end(c, 0, "%u mail%s re-sent now", n, n == 1 ? "" : "s");
}

static void bulk_start(struct qctl *, uint8_t op);

enum { BULK_FLUSH = 1, BULK_DELETE, BULK_HOLD, BULK_RELEASE };

static void
cmd_flush(struct qctl *c, const char *sel)
{
	struct qmgr *q = c->q;
	struct qmail *m;

	if (q->sched == NULL || q->sched->chan == NULL) {
		ctl_end(c, 1, "the scheduler is not running: nothing can be sent now");
		return;
	}
	if (sel[0] != '\0' && sel[0] != '@') {
		if ((m = ctl_mail(c, sel)) == NULL)
			return;
		if (m->flags & MAIL_F_HELD) {
			ctl_end(c, 1, "%s is on hold: release it first", m->id);
			return;
		}
	} else if (sel[0] == '@' && (sel[1] == '\0' || strlen(sel) >= HOSTNAME_MAX)) {
		ctl_end(c, 1, "usage: flush [ID|@domain]");
		return;
	} else if (sel[0] == '@') {
		strlcpy(c->domain, sel + 1, sizeof(c->domain));
		bulk_start(c, BULK_FLUSH);
		return;
	} else
		c->count = park_flush_all(q);	/* read back in slices, due now */
	flush_end(c);
}

/* delete */
struct ctl_op {
	struct qctl	*c;
	struct qmail	*mail;
};

/* One durable step is over (counted: it concerned one mail). */
static void
ctl_step_done(struct qctl *c, int error, const char *what, bool counted)
{
	if (error != 0 && c->error == 0)
		c->error = error;
	else if (error == 0 && counted)
		c->ndone++;
	if (--c->pending > 0)
		return;
	if (c->error != 0)
		ctl_end(c, 1, "%s: %s", what, strerror(c->error));
	else if (c->id[0] != '\0')
		ctl_end(c, 0, "%s: %s", c->id, what);
	else
		ctl_end(c, 0, "%u mail%s %s", c->ndone, c->ndone == 1 ? "" : "s", what);
}

static void
deleted(struct qmgr *q, struct qjob *j)
{
	struct ctl_op *op = j->arg;
	struct qmail *m = op->mail;
	int error = j->error;

	if (error != 0) {
		errno = error;
		log_warn("%s: deletion not durable", m->id);
	}
	if (--m->inflight == 0)
		qmail_free(q, m);
	ctl_step_done(op->c, error, "deleted", true);
	free(op);
	free(j);
}

/* A mail deleted on disk without being read back (park_delete). */
static void
deleted_on_disk(struct qmgr *q, struct qjob *j)
{
	if (j->error != 0) {
		errno = j->error;
		log_warn("%s: deletion not durable", j->id);
	}
	ctl_step_done(j->arg, j->error, "deleted", true);
	free(j);
}

static void
delete_one(struct qctl *c, struct qmail *m)
{
	struct qmgr *q = c->q;
	struct ctl_op *op;

	/* Out of the index at once: opens fail, updates are answered "removed". */
	m->deleted = true;
	qmail_remove(q, m);
	sched_tell(q, MSG_SCHED_REMOVED, m->id);
	mark_forget(q, m);
	m->inflight++;
	log_info("%s: deleted by the administrator (from=<%s>, %u recipients)", m->id,
	    m->sender, m->nrcpt);
	op = xcalloc(1, sizeof(*op));
	op->c = c;
	op->mail = m;
	c->pending++;
	qmgr_commit_remove(q, m->id, deleted, op);
}

/* Is m one that delete|hold|release|flush @domain|all names? */
static bool
bulk_names(const struct qctl *c, const struct qmail *m)
{
	if (c->domain[0] == '\0')
		return true;
	/* delete @domain: only mails that wait for nothing else (the others'
	 * recipients would be lost with them) */
	return shape_mail_in_domain(m, c->domain, c->bulk_op == BULK_DELETE);
}

static void
delete_end(struct qctl *c)
{
	struct qmail *m, *next;

	RB_FOREACH_SAFE(m, qmail_tree, &c->q->mails, next)
		if (bulk_names(c, m))
			delete_one(c, m);
	ctl_step_done(c, 0, "deleted", false);
}

static void
cmd_delete(struct qctl *c, const char *arg)
{
	struct qmail *m;

	if (strcmp(arg, "all") == 0 || arg[0] == '@') {
		if (arg[0] == '@' && (arg[1] == '\0' || strlen(arg) >= HOSTNAME_MAX)) {
			ctl_end(c, 1, "usage: delete ID|@domain|all");
			return;
		}
		if (arg[0] == '@')
			strlcpy(c->domain, arg + 1, sizeof(c->domain));
		c->pending = 1;		/* held until every removal is pushed */
		bulk_start(c, BULK_DELETE);
		return;
	}
	if ((m = ctl_mail(c, arg)) == NULL)
		return;
	delete_one(c, m);
}

/* hold, release */
static void
held(struct qmgr *q, void *arg, int error)
{
	struct qctl *c = arg;
	struct qmail *m = qmail_find(q, c->id);

	if (error == 0)
		log_info("%s: on hold", c->id);
	else if (m != NULL && !m->deleted) {
		/* not durable: better scheduled than held only until a restart */
		shape_set_held(q, m, false);
		m->announced = 0;
		sched_announce(q, m);
	}
	c->pending = 1;
	ctl_step_done(c, error, "on hold", true);
}

static void
released(struct qmgr *q, void *arg, int error)
{
	struct qctl *c = arg;
	struct qmail *m = qmail_find(q, c->id);

	if (error == 0 && m != NULL && !m->deleted) {
		shape_set_held(q, m, false);
		m->announced = 0;
		sched_announce(q, m);
		log_info("%s: released from hold", c->id);
	}
	c->pending = 1;
	ctl_step_done(c, error, "released", true);
}

/* hold|release @domain|all: each mark durable, one answer for all. */
struct bulk_op {
	struct qctl	*c;
	char		 id[QUEUE_ID_MAX];
	bool		 on;
};

static void
bulk_marked(struct qmgr *q, void *arg, int error)
{
	struct bulk_op *op = arg;
	struct qmail *m = qmail_find(q, op->id);

	if (m != NULL && !m->deleted && ((op->on && error != 0) || (!op->on && error == 0))) {
		/* released, or a hold that is not durable: scheduled again */
		shape_set_held(q, m, false);
		m->announced = 0;
		sched_announce(q, m);
	}
	if (error == 0)
		log_info("%s: %s", op->id, op->on ? "on hold" : "released from hold");
	ctl_step_done(op->c, error, op->on ? "on hold" : "released", true);
	free(op);
}

static void
mark_one(struct qctl *c, struct qmail *m, bool on)
{
	struct bulk_op *op;

	op = xcalloc(1, sizeof(*op));
	op->c = c;
	op->on = on;
	strlcpy(op->id, m->id, sizeof(op->id));
	if (on) {
		shape_set_held(c->q, m, true);
		sched_tell(c->q, MSG_SCHED_REMOVED, m->id);
	}
	c->pending++;
	mark_set(c->q, m, MAIL_F_HELD, on, bulk_marked, op);
}

static void
hold_end(struct qctl *c)
{
	struct qmail *m;
	bool on = c->bulk_op == BULK_HOLD;

	RB_FOREACH(m, qmail_tree, &c->q->mails)
		if (!m->deleted && on != ((m->flags & MAIL_F_HELD) != 0) && bulk_names(c, m))
			mark_one(c, m, on);
	ctl_step_done(c, 0, on ? "on hold" : "released", false);
}

static void
cmd_hold_bulk(struct qctl *c, const char *sel, bool on)
{
	if (sel[0] == '@' && (sel[1] == '\0' || strlen(sel) >= HOSTNAME_MAX)) {
		ctl_end(c, 1, "usage: %s ID|@domain|all", on ? "hold" : "release");
		return;
	}
	if (sel[0] == '@')
		strlcpy(c->domain, sel + 1, sizeof(c->domain));
	c->pending = 1;		/* held until every mark is asked for */
	bulk_start(c, on ? BULK_HOLD : BULK_RELEASE);
}

/*
 * Bulk commands (flush @domain, delete and hold|release @domain|all) walk
 * the mails on disk from c->cursor, a slice per loop turn (CTL_SLICE files
 * or CTL_SLICE_USEC), so that intake and other commands go on; only then
 * the mails in memory, in one turn, and the answer. Each parked entry is
 * visited at most once whatever the tree does meanwhile (park_next: the
 * next id after the cursor). What the walk leaves in memory is bounded:
 *   flush @domain  a matching mail is made due now on disk (park_flush) and
 *                  read back in its turn, flushed (a mail with recipients
 *                  at other domains too is read back now, its recipients
 *                  there alone due);
 *   delete all     no file is read: the entry goes (park_delete);
 *   delete @domain the file is read, the mail deleted if it waits for that
 *                  domain alone;
 *   hold           the file is read, a matching mail indexed and held (a
 *                  held mail is never on disk);
 *   release        nothing on disk is held: no walk.
 * A mail parked meanwhile behind the cursor would be missed by both walks:
 * the scheduler's QMGR_PARK calls ctl_bulk_parked(), and the command takes
 * such a mail at once. During a flush's walk no parked mail is read back
 * when due (park_pause): the mails it makes due come back once, after it,
 * and each is counted once. One bulk command walks at a time; others wait
 * their turn in q->bulk_wait, in arrival order (so that two walks never
 * take the same mail, and a flush's pause has one owner); each still
 * answers once its own changes are durable.
 */
static void bulk_step(struct qctl *);

static void
bulk_start(struct qctl *c, uint8_t op)
{
	struct qmgr *q = c->q;

	c->bulk_op = op;
	c->cursor[0] = '\0';
	c->step = bulk_step;
	if (q->bulk != NULL) {
		log_detail("control: a bulk command waits for the one running");
		TAILQ_INSERT_TAIL(&q->bulk_wait, c, bulk_entry);
		return;
	}
	q->bulk = c;
	if (op == BULK_FLUSH)
		park_pause(q, true);
	bulk_step(c);
}

/* One mail on disk seen by the walk. */
static void
bulk_visit(struct qctl *c, struct qpark *p)
{
	struct qmgr *q = c->q;
	struct qmail *m;

	if (c->bulk_op == BULK_DELETE && c->domain[0] == '\0') {
		c->pending++;
		park_delete(q, p, deleted_on_disk, c);
		return;
	}
	if ((m = park_peek(q, p)) == NULL)
		return;		/* gone, corrupt, or unreadable now: left as it is */
	if (!bulk_names(c, m)) {
		park_peek_free(m);
		return;
	}
	if (c->bulk_op == BULK_FLUSH && shape_mail_in_domain(m, c->domain, true)) {
		park_peek_free(m);
		park_flush(q, p);
		c->count++;
		return;
	}
	if ((m = park_adopt(q, p, m)) == NULL)
		return;
	if (c->bulk_op == BULK_FLUSH)	/* counted by flush_end(), in memory */
		(void)flush_one(q, m, c->domain, clock_now());
	else if (c->bulk_op == BULK_DELETE)
		delete_one(c, m);
	else
		mark_one(c, m, true);
}

static void
bulk_step(struct qctl *c)
{
	struct qmgr *q = c->q;
	struct timespec t0;
	struct qpark *p;
	unsigned n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = 0; c->bulk_op != BULK_RELEASE && park_next(q, c->cursor, &p); n++) {
		if (ctl_slice_over(c, n, &t0))
			return;
		park_id(p, c->cursor);
		bulk_visit(c, p);
	}
	/* The walk is over: the next command's turn, then this one's end
	 * (which may free c). */
	q->bulk = TAILQ_FIRST(&q->bulk_wait);
	if (q->bulk != NULL) {
		TAILQ_REMOVE(&q->bulk_wait, q->bulk, bulk_entry);
		ctl_yield(q->bulk);
	}
	park_pause(q, q->bulk != NULL && q->bulk->bulk_op == BULK_FLUSH);
	if (c->bulk_op == BULK_FLUSH)
		flush_end(c);
	else if (c->bulk_op == BULK_DELETE)
		delete_end(c);
	else
		hold_end(c);
}

bool
ctl_bulk_parked(struct qctl *c, struct qmail *m)
{
	if (c->cursor[0] == '\0' || strcmp(m->id, c->cursor) > 0 || !bulk_names(c, m))
		return false;	/* the walk sees it, or the command does not name it */
	switch (c->bulk_op) {
	case BULK_FLUSH:
		m->announced = 0;	/* the scheduler forgot it: announced again, due */
		(void)flush_one(c->q, m, c->domain, clock_now());
		return true;	/* counted by flush_end(), in memory */
	case BULK_DELETE:
		delete_one(c, m);
		return true;
	case BULK_HOLD:
		mark_one(c, m, true);
		return true;
	}
	return false;
}

static void
cmd_hold(struct qctl *c, const char *id, bool on)
{
	struct qmail *m;

	if (strcmp(id, "all") == 0 || id[0] == '@') {
		cmd_hold_bulk(c, id, on);
		return;
	}
	if ((m = ctl_mail(c, id)) == NULL)
		return;
	if (on == ((m->flags & MAIL_F_HELD) != 0)) {
		ctl_end(c, on ? 0 : 1, "%s: %s", m->id, on ? "on hold already" : "not on hold");
		return;
	}
	if (on) {
		/* The scheduler forgets it now; the answer waits for the mark. */
		shape_set_held(c->q, m, true);
		sched_tell(c->q, MSG_SCHED_REMOVED, m->id);
		mark_set(c->q, m, MAIL_F_HELD, true, held, c);
	} else
		mark_set(c->q, m, MAIL_F_HELD, false, released, c);
}

/* bounce */
static void
bounced(struct qmgr *q, void *arg, const char *id, bool removed)
{
	struct qctl *c = arg;

	ctl_end(c, 0, "%s: %u recipient%s failed%s", id, c->ndone, c->ndone == 1 ? "" : "s",
	    removed ? ", mail removed" : "");
}

static void
cmd_bounce(struct qctl *c, const char *id)
{
	struct qf_state *st;
	struct qmail *m;
	uint64_t now = (uint64_t)time(NULL);
	uint32_t i, n = 0;

	if ((m = ctl_mail(c, id)) == NULL)
		return;
	st = xcalloc(m->nrcpt, sizeof(*st));
	for (i = 0; i < m->nrcpt; i++) {
		if (rcpt_final(&m->rcpt[i]))
			continue;
		st[n].index = i;
		st[n].state = RCPT_FAILED;
		st[n].attempts = m->rcpt[i].attempts;
		st[n].when = now;
		strlcpy(st[n].dsn, "5.0.0", sizeof(st[n].dsn));
		strlcpy(st[n].reply, CTL_BOUNCE_REASON, sizeof(st[n].reply));
		n++;
	}
	if (n == 0) {
		free(st);
		ctl_end(c, 0, "%s: every recipient is final already", m->id);
		return;
	}
	log_info("%s: %u recipients bounced by the administrator", m->id, n);
	c->ndone = n;
	/* In-flight deliveries may still report; final recipients ignore them. */
	sched_tell(c->q, MSG_SCHED_REMOVED, m->id);
	qmgr_states_apply(c->q, m, st, n, bounced, c);
}

int
control_dispatch(struct proc_ctx *ctx, struct frame *f)
{
	struct qmgr *q = ctx->arg;
	struct qctl *c;
	char cmd[32], argv[CTL_ARGS_MAX][ADDR_MAX];
	uint32_t argc, i;

	if (f->hdr.type == MSG_ALIASES_BEGIN || f->hdr.type == MSG_ALIASES_ENTRY ||
	    f->hdr.type == MSG_ALIASES_END)
		return qaliases_frame(q, f);
	if (f->hdr.type != MSG_CONTROL_REQUEST) {
		log_warnx("master: unexpected %s", msg_name(f->hdr.type));
		return -1;
	}
	if (!frame_get_str(f, cmd, sizeof(cmd)) || !frame_get_u32(f, &argc))
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->reqid = f->hdr.reqid;
	if (argc > CTL_ARGS_MAX) {
		ctl_end(c, 1, "%s: too many arguments", cmd);
		return 0;
	}
	for (i = 0; i < argc; i++) {
		if (!frame_get_str(f, argv[i], sizeof(argv[i]))) {
			ctl_end(c, 1, "%s: argument too long", cmd);
			return 0;
		}
	}
	if (!frame_end(f)) {
		free(c);
		return -1;
	}
	log_detail("control: %s with %u arguments", cmd, argc);

	if (strcmp(cmd, "queue") == 0) {
		bool json = false, summary = false, bad = false;

		for (i = 0; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0)
				json = true;
			else if (strcmp(argv[i], "--summary") == 0)
				summary = true;
			else if (argv[i][0] == '@' && argv[i][1] != '\0' && c->domain[0] == '\0' &&
			    strlen(argv[i]) < sizeof(c->domain))
				strlcpy(c->domain, argv[i] + 1, sizeof(c->domain));
			else
				bad = true;
		}
		if (bad || (summary && c->domain[0] != '\0'))
			ctl_end(c, 1, "usage: queue [--json] [--summary | @domain]");
		else if (summary)
			shape_summary(c, json);
		else
			list_start(c, json);
	} else if (strcmp(cmd, "show") == 0) {
		struct qmail *m;

		if (argc != 1)
			ctl_end(c, 1, "usage: show ID");
		else if ((m = ctl_mail(c, argv[0])) != NULL)
			show_start(c, m);
	} else if (strcmp(cmd, "flush") == 0) {
		if (argc > 1)
			ctl_end(c, 1, "usage: flush [ID|@domain|all]");
		else
			cmd_flush(c, argc == 1 && strcmp(argv[0], "all") != 0 ? argv[0] : "");
	} else if (strcmp(cmd, "delete") == 0) {
		if (argc != 1)
			ctl_end(c, 1, "usage: delete ID|@domain|all");
		else
			cmd_delete(c, argv[0]);
	} else if (strcmp(cmd, "hold") == 0 || strcmp(cmd, "release") == 0) {
		if (argc != 1)
			ctl_end(c, 1, "usage: %s ID|@domain|all", cmd);
		else
			cmd_hold(c, argv[0], cmd[0] == 'h');
	} else if (strcmp(cmd, "bounce") == 0) {
		if (argc != 1)
			ctl_end(c, 1, "usage: bounce ID");
		else
			cmd_bounce(c, argv[0]);
	} else
		ctl_end(c, 1, "%s: not a queue command", cmd);
	return 0;
}
