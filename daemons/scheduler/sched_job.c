/* SPDX-License-Identifier: ISC */
/*
 * sched_job.c - transactions: a group of one mail's recipients for one
 * destination. Run by the scheduler; created by sched_mail.c, queued by
 * sched_dest.c, driven by the frames of the queue manager and the agents
 * (scheduler.c).
 *
 * Life of a job: WAITING in its destination's queue -> OPENING (QMGR_OPEN
 * sent, an agent slot reserved) -> AT_AGENT (AGENT_DELIVER sent with the
 * descriptor) -> UPDATING (outcomes sent as QMGR_UPDATE) -> applied to the
 * mail when QMGR_UPDATED comes back. A job whose outcome is known while no
 * queue manager is linked is HELD until the new queue manager lists its mail.
 * A job whose mail left the schedule (deleted, put on hold, or not listed
 * again) lives on as an orphan; its outcome still goes to the queue
 * manager, which records it for a held mail and answers "removed" for a
 * deleted one. A mail listed again adopts its orphans (ids are never reused).
 *
 * A dead agent interrupts its jobs: the recipients are retried after
 * SCHED_INTERRUPT_DELAY without counting an attempt (sched_policy_interrupted), so
 * a kill of an agent mid-transaction never costs a recipient one of its
 * attempts; a duplicate is possible only when the agent died after the
 * server accepted the data and before the result reached us.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "xmalloc.h"

int
sched_job_cmp(const struct job *a, const struct job *b)
{
	return (a->reqid > b->reqid) - (a->reqid < b->reqid);
}

RB_GENERATE(sched_job_tree, job, entry, sched_job_cmp)

static void	job_record(struct sched *, struct job *);
static void	job_send_updates(struct sched *, struct job *);

struct job *
sched_job_new(struct sched *s, struct mail *m, struct dest *d)
{
	struct job	*j;

	j = xcalloc(1, sizeof(*j));
	j->reqid = sched_reqid(s);
	j->state = JOB_WAITING;
	j->mail = m;
	strlcpy(j->id, m->id, sizeof(j->id));
	j->arrival = m->arrival;
	j->dest = d;
	j->agent = -1;
	strlcpy(j->relay, "none", sizeof(j->relay));
	RB_INSERT(sched_job_tree, &s->jobs, j);
	TAILQ_INSERT_TAIL(&m->jobs, j, mail_entry);
	return j;
}

void
sched_job_add_rcpt(struct job *j, struct mail *m, uint32_t index)
{
	struct job_rcpt	*r;

	j->rcpts = xreallocarray(j->rcpts, j->nrcpt + 1, sizeof(*j->rcpts));
	r = &j->rcpts[j->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->index = index;
	r->attempts = m->rcpts[index].attempts;
	r->addr = xstrdup(m->rcpts[index].addr);
	j->bytes += strlen(r->addr) + 8;
	m->rcpts[index].busy = true;
}

static struct job *
job_find(struct sched *s, uint32_t reqid)
{
	struct job	key;

	key.reqid = reqid;
	return RB_FIND(sched_job_tree, &s->jobs, &key);
}

static struct job_rcpt *
job_rcpt(struct job *j, uint32_t index)
{
	unsigned	lo = 0, hi = j->nrcpt;

	/* rcpts are added in increasing index order */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (j->rcpts[mid].index == index)
			return &j->rcpts[mid];
		if (j->rcpts[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Off its destination's waiting list, if it is on it. */
static void
job_dequeue(struct sched *s, struct job *j)
{
	if (!j->queued)
		return;
	TAILQ_REMOVE(&j->dest->waiting, j, dest_entry);
	j->queued = false;
	j->dest->nwaiting--;
	s->nwaiting--;
	j->dest = NULL;
}

static void
job_unlink(struct sched *s, struct job *j)
{
	unsigned	i;

	job_dequeue(s, j);
	if (j->mail != NULL) {
		for (i = 0; i < j->nrcpt; i++)
			if (j->rcpts[i].index < j->mail->nrcpt)
				j->mail->rcpts[j->rcpts[i].index].busy = false;
		TAILQ_REMOVE(&j->mail->jobs, j, mail_entry);
		j->mail = NULL;
	} else
		TAILQ_REMOVE(&s->orphans, j, mail_entry);
}

static void
job_free(struct sched *s, struct job *j)
{
	unsigned	i;

	sched_shape_released(s, j);
	sched_probe_done(s, j);
	sched_dead_deferred(s, j);
	job_unlink(s, j);
	RB_REMOVE(sched_job_tree, &s->jobs, j);
	for (i = 0; i < j->nrcpt; i++) {
		free(j->rcpts[i].addr);
		free(j->rcpts[i].reply);
	}
	free(j->rcpts);
	free(j);
}

/* Give back the destination and agent slots of an opening or running job. */
static void
job_release(struct sched *s, struct job *j)
{
	if (j->state != JOB_OPENING && j->state != JOB_AT_AGENT)
		return;
	sched_shape_released(s, j);
	sched_probe_done(s, j);
	if (j->dest != NULL) {
		if (j->dest->active > 0)
			j->dest->active--;
		sched_dest_ready(s, j->dest);
		j->dest = NULL;
	}
	if (j->agent >= 0 && (unsigned)j->agent < s->nagents &&
	    s->agents[j->agent].load > 0)
		s->agents[j->agent].load--;
	j->agent = -1;
	event_active(s->dispatch_ev, EV_TIMEOUT, 0);
}

static void
rcpt_outcome(struct sched *s, const struct job *j, struct job_rcpt *r, int cls,
    uint16_t code, const char *dsn, const char *reply)
{
	struct resend_policy	 p;
	struct policy_out	 out;

	sched_policy_from_config(s->conf, &p);
	sched_policy_next(&p, r->attempts, j->arrival, s->now(), cls, &out);
	r->done = true;
	r->interrupted = false;
	r->state = out.state;
	r->new_attempts = out.attempts;
	r->next = out.next;
	r->code = code;
	strlcpy(r->dsn, dsn != NULL ? dsn : "", sizeof(r->dsn));
	free(r->reply);
	r->reply = xstrndup(reply != NULL ? reply : "", REPLY_MAX - 1);
}

/* Every recipient without an outcome gets this one, then it is recorded. */
void
sched_job_fail(struct sched *s, struct job *j, int cls, uint16_t code, const char *dsn,
    const char *reply)
{
	unsigned	i;

	for (i = 0; i < j->nrcpt; i++)
		if (!j->rcpts[i].done)
			rcpt_outcome(s, j, &j->rcpts[i], cls, code, dsn, reply);
	job_release(s, j);
	j->dest = NULL;		/* never queued, or released: nothing ties it to a destination */
	job_record(s, j);
}

/*
 * The mail outlived max_queue_lifetime before these recipients got a verdict
 * (never tried: waiting for a resolver, or due but not yet sent): each fails
 * now with 4.4.7, its count of attempts unchanged, and is recorded.
 */
static void
job_expire(struct sched *s, struct job *j)
{
	unsigned	i;

	job_dequeue(s, j);
	j->dest = NULL;
	for (i = 0; i < j->nrcpt; i++) {
		struct job_rcpt *r = &j->rcpts[i];

		if (r->done)
			continue;
		r->done = true;
		r->interrupted = false;
		r->state = RCPT_FAILED;
		r->new_attempts = r->attempts;
		r->next = 0;
		r->code = 0;
		strlcpy(r->dsn, "4.4.7", sizeof(r->dsn));
		free(r->reply);
		r->reply = xstrdup(SCHED_EXPIRED_REASON);
	}
	job_record(s, j);
}

unsigned
sched_job_expire(struct sched *s, struct mail *m)
{
	struct job	*j, *next;
	uint32_t	 i;
	uint64_t	 now = s->now();
	unsigned	 n = 0;

	/* Transactions still waiting for their destination's DNS answer give
	 * up; those at a resolved destination, or running, go on. */
	TAILQ_FOREACH_SAFE(j, &m->jobs, mail_entry, next)
		if (j->state == JOB_WAITING && (j->dest == NULL || j->dest->res != RES_DONE)) {
			n += j->nrcpt;
			job_expire(s, j);
		}
	j = NULL;
	for (i = 0; i < m->nrcpt; i++) {
		struct srcpt *r = &m->rcpts[i];

		if (r->busy || r->state == RCPT_DELIVERED || r->state == RCPT_FAILED)
			continue;
		/*
		 * One tried before gets its last attempt now (the policy
		 * fails it with the server's own reply); one never tried
		 * fails at once.
		 */
		if (r->attempts > 0) {
			if (r->next > now)
				r->next = now;
			continue;
		}
		if (j == NULL)
			j = sched_job_new(s, m, NULL);
		sched_job_add_rcpt(j, m, i);
		n++;
	}
	if (j != NULL)
		job_expire(s, j);
	return n;
}

/* The transaction was cut short without a verdict on the destination. */
static void
job_interrupt(struct sched *s, struct job *j, const char *why)
{
	const struct config	*c = s->conf;
	struct policy_out	 out;
	unsigned		 i, interrupts;

	job_release(s, j);
	for (i = 0; i < j->nrcpt; i++) {
		struct job_rcpt *r = &j->rcpts[i];

		if (r->done)
			continue;
		interrupts = 0;
		if (j->mail != NULL && r->index < j->mail->nrcpt)
			interrupts = j->mail->rcpts[r->index].interrupts;
		if (interrupts >= SCHED_INTERRUPTS_FREE) {
			rcpt_outcome(s, j, r, DELIVERY_TEMPFAIL, 0, "4.3.0", why);
			continue;
		}
		sched_policy_interrupted(r->attempts, interrupts, c->resend_attempts,
		    c->resend_interval, s->now(), &out);
		r->done = true;
		r->interrupted = true;
		r->state = out.state;
		r->new_attempts = out.attempts;
		r->next = out.next;
		strlcpy(r->dsn, "4.3.0", sizeof(r->dsn));
		free(r->reply);
		r->reply = xstrdup(why);
	}
	job_record(s, j);
}

/* The outcomes are known: write them into the mail and forget the job. */
static void
job_apply(struct sched *s, struct job *j, bool removed)
{
	struct mail	*m = j->mail;
	unsigned	 i;

	if (m != NULL) {
		for (i = 0; i < j->nrcpt; i++) {
			struct job_rcpt	*r = &j->rcpts[i];
			struct srcpt	*mr;

			if (r->index >= m->nrcpt || !r->done)
				continue;
			mr = &m->rcpts[r->index];
			mr->state = r->state;
			mr->attempts = r->new_attempts;
			mr->next = r->next;
			if (r->interrupted && mr->interrupts < UINT8_MAX)
				mr->interrupts++;
		}
	}
	job_free(s, j);
	if (m != NULL) {
		if (removed)
			sched_mail_free(s, m, true);
		else
			sched_mail_check(s, m);
	}
}

static void
job_record(struct sched *s, struct job *j)
{
	unsigned	 i, nrec = 0;

	for (i = 0; i < j->nrcpt; i++) {
		struct job_rcpt *r = &j->rcpts[i];

		sched_log_rcpt(j->id, r->addr, j->relay, j->arrival, j->dispatched_ms,
		    r->new_attempts, r->dsn, r->state, r->reply);
		if (!r->interrupted)
			nrec++;
	}
	if (nrec == 0) {
		job_apply(s, j, false);
		return;
	}
	/*
	 * A job without its mail after the whole queue was listed belongs to
	 * a mail that was deleted or put on hold: the queue manager records
	 * the outcome of a held mail and ignores that of a deleted one.
	 */
	if (s->qmgr == NULL || (j->mail == NULL && !s->loaded)) {
		j->state = JOB_HELD;
		return;
	}
	job_send_updates(s, j);
}

/* Bytes one QMGR_UPDATE entry takes. */
static size_t
update_entry_len(const struct job *j, const struct job_rcpt *r)
{
	return 4 + 1 + 4 + 8 + 2 + 4 + strlen(r->dsn) + 4 + strlen(r->reply) +
	    4 + strlen(j->relay);
}

/* Does this outcome go to the queue manager? */
static bool
update_needed(const struct job *j, const struct job_rcpt *r)
{
	const struct srcpt	*mr;

	if (r->interrupted || !r->done)
		return false;
	/* After a queue manager restart, what the queue already holds is not sent again. */
	if (j->mail != NULL && r->index < j->mail->nrcpt) {
		mr = &j->mail->rcpts[r->index];
		if (mr->state == RCPT_DELIVERED || mr->state == RCPT_FAILED ||
		    mr->attempts > r->new_attempts)
			return false;
		/* an expiry (sched_job_expire) changes the state, not the count */
		if (mr->attempts == r->new_attempts && mr->state == r->state)
			return false;
	}
	return true;
}

/* QMGR_UPDATE, split over as many frames as needed. */
static void
job_send_updates(struct sched *s, struct job *j)
{
	unsigned	 i = 0, first, n;
	size_t		 room;
	struct fbuf	*fb;

	j->state = JOB_UPDATING;
	j->updates = 0;
	while (i < j->nrcpt) {
		room = FRAME_PAYLOAD_MAX - (4 + strlen(j->id) + 4);
		first = i;
		n = 0;
		for (; i < j->nrcpt; i++) {
			size_t	len;

			if (!update_needed(j, &j->rcpts[i]))
				continue;
			len = update_entry_len(j, &j->rcpts[i]);
			if (len > room)
				break;
			room -= len;
			n++;
		}
		if (n == 0)
			break;
		fb = fbuf_new(MSG_QMGR_UPDATE, j->reqid);
		fbuf_add_str(fb, j->id);
		fbuf_add_u32(fb, n);
		for (; first < i; first++) {
			const struct job_rcpt *r = &j->rcpts[first];

			if (!update_needed(j, r))
				continue;
			fbuf_add_u32(fb, r->index);
			fbuf_add_u8(fb, r->state);
			fbuf_add_u32(fb, r->new_attempts);
			/*
			 * A failure has no next attempt: it carries our time
			 * instead, so that a bounce the queue manager must
			 * postpone is due on our clock, not on its wall clock
			 * (they differ by any jump since we started).
			 */
			fbuf_add_u64(fb, r->state == RCPT_FAILED ? s->now() : r->next);
			fbuf_add_u16(fb, r->code);
			fbuf_add_str(fb, r->dsn);
			fbuf_add_str(fb, r->reply);
			fbuf_add_str(fb, j->relay);
		}
		if (chan_send(s->qmgr, fb) == -1) {
			log_warnx("%s: cannot send the update", j->id);
			break;
		}
		j->updates++;
	}
	if (j->updates == 0)
		job_apply(s, j, false);
}

int
sched_job_updated(struct sched *s, struct frame *f)
{
	char		 id[QUEUE_ID_MAX];
	uint8_t		 removed;
	struct job	*j;

	if (!frame_get_str(f, id, sizeof(id)) || !frame_get_u8(f, &removed) ||
	    !frame_end(f))
		return -1;
	if ((j = job_find(s, f->hdr.reqid)) == NULL || j->state != JOB_UPDATING ||
	    strcmp(j->id, id) != 0) {
		log_warnx("qmgr: unexpected update answer for %s", id);
		return -1;
	}
	if (--j->updates > 0)
		return 0;
	job_apply(s, j, removed != 0);
	sched_check_stop(s);
	return 0;
}

/* The agent to use for a destination: the least loaded, or the one that
 * served the destination last (it may hold an open connection to it). */
static int
job_pick_agent(struct sched *s, const struct dest *d)
{
	int		best = -1;
	unsigned	i;

	for (i = 0; i < s->nagents; i++) {
		if (s->agents[i].chan == NULL || s->agents[i].load >= s->max_sessions)
			continue;
		if (best < 0 || s->agents[i].load < s->agents[best].load)
			best = (int)i;
	}
	if (best < 0)
		return -1;
	/* A throttled destination stays with the agent whose idle connections
	 * already hold the receiver's slots (sched_shape_sticky). */
	if (d->last_agent >= 0 && (unsigned)d->last_agent < s->nagents &&
	    s->agents[d->last_agent].chan != NULL &&
	    s->agents[d->last_agent].load < s->max_sessions &&
	    (s->agents[d->last_agent].load <= s->agents[best].load + SCHED_STICKY_SLACK ||
	    sched_shape_sticky(d)))
		return d->last_agent;
	return best;
}

/*
 * Start waiting jobs, one per destination in turn, while destinations have
 * concurrency left and agents have sessions left. What cannot start stays
 * queued: agents are never handed more than they can run.
 */
void
sched_job_dispatch(struct sched *s)
{
	struct dest	*d;
	struct job	*j;
	struct fbuf	*fb;
	struct dead_addr *probe;
	bool		 wait;
	int		 agent;

	while (!s->stopping && s->qmgr != NULL && (d = TAILQ_FIRST(&s->ready)) != NULL) {
		TAILQ_REMOVE(&s->ready, d, ready_entry);
		d->on_ready = false;
		if (d->res != RES_DONE || d->err_cls != DELIVERY_OK || d->nwaiting == 0)
			continue;	/* sched_dest_ready() puts it back when that changes */
		if (sched_dead_defer(s, d))
			continue;	/* every address is known not to answer */
		probe = sched_probe_gate(s, d, &wait);
		if (wait)
			continue;	/* its address is being probed: wakes up after */
		if (!sched_shape_may_start(s, d))
			continue;	/* waits on its budget (concurrency, rate, pause) */
		if ((agent = job_pick_agent(s, d)) < 0) {
			TAILQ_INSERT_HEAD(&s->ready, d, ready_entry);
			d->on_ready = true;
			break;		/* job_release() resumes */
		}
		j = TAILQ_FIRST(&d->waiting);
		TAILQ_REMOVE(&d->waiting, j, dest_entry);
		j->queued = false;
		d->nwaiting--;
		s->nwaiting--;
		d->active++;
		d->last_agent = agent;
		s->agents[agent].load++;
		j->agent = agent;
		j->state = JOB_OPENING;
		j->dispatched_ms = sched_log_now_ms();
		sched_shape_started(s, d, j);
		if (probe != NULL)
			sched_probe_started(probe, j);
		fb = fbuf_new(MSG_QMGR_OPEN, j->reqid);
		fbuf_add_str(fb, j->id);
		if (chan_send(s->qmgr, fb) == -1)
			log_warnx("%s: cannot ask the queue manager", j->id);
		if (d->nwaiting > 0) {
			TAILQ_INSERT_TAIL(&s->ready, d, ready_entry);
			d->on_ready = true;
		}
	}
	if (s->nwaiting < SCHED_WAITING_MAX / 2 && !TAILQ_EMPTY(&s->due))
		event_active(s->due_ev, EV_TIMEOUT, 0);
}

/* A job whose open was answered while it cannot run any more goes back to its queue. */
static void
job_requeue(struct sched *s, struct job *j)
{
	struct dest	*d = j->dest;

	job_release(s, j);
	j->state = JOB_WAITING;
	if (d == NULL || j->mail == NULL) {
		job_free(s, j);
		return;
	}
	j->dest = d;
	TAILQ_INSERT_HEAD(&d->waiting, j, dest_entry);
	j->queued = true;
	d->nwaiting++;
	s->nwaiting++;
	sched_dest_ready(s, d);
}

static int job_opened(struct sched *, struct frame *, bool, uint64_t, uint64_t, uint32_t,
    const char *, const char *);

int
sched_job_opened(struct sched *s, struct frame *f, bool ok)
{
	uint64_t	 off = 0, len = 0;
	uint32_t	 flags = 0;
	char		 reason[256], *dkim = NULL;
	int		 rc;

	if (ok) {
		if (!frame_get_u64(f, &off) || !frame_get_u64(f, &len) ||
		    !frame_get_u32(f, &flags) || !frame_get_strdup(f, &dkim, DKIM_FIELDS_MAX) ||
		    !frame_end(f) || f->fd == -1) {
			free(dkim);
			return -1;
		}
	} else if (!frame_get_str(f, reason, sizeof(reason)) || !frame_end(f))
		return -1;
	rc = job_opened(s, f, ok, off, len, flags, dkim, reason);
	free(dkim);
	return rc;
}

/* The stored DKIM-Signature fields pass through to the agent unread. */
static int
job_opened(struct sched *s, struct frame *f, bool ok, uint64_t off, uint64_t len, uint32_t flags,
    const char *dkim, const char *reason)
{
	struct job	*j;
	struct dest	*d;
	struct fbuf	*fb;
	unsigned	 i, nlive;
	bool		 live[SCHED_ADDRS_MAX];

	/* A stale answer (the job was requeued meanwhile): its fd is closed by chan. */
	if ((j = job_find(s, f->hdr.reqid)) == NULL || j->state != JOB_OPENING)
		return 0;
	if (s->stopping) {
		job_release(s, j);
		job_free(s, j);
		sched_check_stop(s);
		return 0;
	}
	if (!ok) {
		log_warnx("%s: queue manager cannot open the mail: %s", j->id, reason);
		job_interrupt(s, j, "queue file cannot be opened");
		return 0;
	}
	d = j->dest;
	if (j->agent < 0 || s->agents[j->agent].chan == NULL || d == NULL ||
	    j->mail == NULL) {
		job_requeue(s, j);
		return 0;
	}

	fb = fbuf_new(MSG_AGENT_DELIVER, j->reqid);
	fbuf_set_fd(fb, f->fd);
	f->fd = -1;
	fbuf_add_str(fb, j->id);
	fbuf_add_str(fb, j->mail->sender);
	fbuf_add_u64(fb, off);
	fbuf_add_u64(fb, len);
	fbuf_add_u32(fb, flags);
	fbuf_add_str(fb, d->name);
	/* Addresses in the unreachable-host cache are left out, unless all are. */
	if ((nlive = sched_dead_live(s, d, live)) == 0) {
		memset(live, 1, sizeof(live));
		nlive = d->naddrs;
	}
	fbuf_add_u16(fb, (uint16_t)nlive);
	for (i = 0; i < d->naddrs; i++) {
		if (!live[i])
			continue;
		sched_put_addr(fb, d->addrs[i].family, d->addrs[i].addr);
		fbuf_add_u16(fb, d->addrs[i].port);
		fbuf_add_str(fb, d->addrs[i].host);
	}
	fbuf_add_u16(fb, (uint16_t)j->nrcpt);
	for (i = 0; i < j->nrcpt; i++) {
		fbuf_add_u32(fb, j->rcpts[i].index);
		fbuf_add_str(fb, j->rcpts[i].addr);
	}
	/* under DANE the policy is per address (sched_dane_put); this one is unused */
	fbuf_add_u8(fb, dane_wanted(d->tls) ? TLS_MAY : d->tls);
	fbuf_add_u8(fb, d->dflags);
	fbuf_add_str(fb, dkim);
	sched_dane_put(fb, d, live);	/* the policy of each address sent */
	sched_shape_put_conn(fb, d);	/* mails per connection, reuse */
	j->state = JOB_AT_AGENT;
	if (chan_send(s->agents[j->agent].chan, fb) == -1) {
		log_warnx("%s: cannot hand the mail to agent %d", j->id, j->agent);
		job_interrupt(s, j, "delivery agent unavailable");
	}
	return 0;
}

int
sched_job_result(struct sched *s, unsigned agent, struct frame *f)
{
	struct job	*j;
	struct job_rcpt	*r;
	uint16_t	 n, i, code;
	uint32_t	 index;
	uint8_t		 cls;
	char		 dsn[DSN_MAX], *reply = NULL;

	if ((j = job_find(s, f->hdr.reqid)) == NULL || j->state != JOB_AT_AGENT ||
	    j->agent != (int)agent) {
		log_warnx("agent %u: result for an unknown transaction", agent);
		return -1;
	}
	if (!frame_get_str(f, j->relay, sizeof(j->relay)) || !frame_get_u16(f, &n))
		return -1;
	for (i = 0; i < n; i++) {
		if (!frame_get_u32(f, &index) || !frame_get_u8(f, &cls) ||
		    !frame_get_u16(f, &code) || !frame_get_str(f, dsn, sizeof(dsn)) ||
		    !frame_get_strdup(f, &reply, FRAME_MAX) || cls > DELIVERY_PERMFAIL ||
		    (r = job_rcpt(j, index)) == NULL || r->done) {
			free(reply);
			log_warnx("agent %u: bad result for %s", agent, j->id);
			return -1;
		}
		rcpt_outcome(s, j, r, cls, code, dsn, reply);
		free(reply);
		reply = NULL;
	}
	if (!frame_end(f))
		return -1;
	sched_shape_result(s, j);
	/* A recipient the agent said nothing about was not delivered. */
	sched_job_fail(s, j, DELIVERY_TEMPFAIL, 0, "4.3.0", "no result from the delivery agent");
	sched_check_stop(s);
	return 0;
}

void
sched_job_agent_lost(struct sched *s, unsigned agent)
{
	struct job	*j, *next;

	RB_FOREACH_SAFE(j, sched_job_tree, &s->jobs, next) {
		if (j->agent != (int)agent)
			continue;
		if (j->state == JOB_OPENING)
			job_requeue(s, j);
		else if (j->state == JOB_AT_AGENT)
			job_interrupt(s, j, "delivery agent died");
	}
	if (agent < s->nagents)
		s->agents[agent].load = 0;
}

/*
 * The queue manager is gone: opens will not be answered, updates in flight
 * may or may not have been written. Both are settled when the new queue
 * manager lists the mails again (sched_job_mail_loaded).
 */
void
sched_job_qmgr_lost(struct sched *s)
{
	struct job	*j, *next;

	RB_FOREACH_SAFE(j, sched_job_tree, &s->jobs, next) {
		if (j->state == JOB_OPENING) {
			job_release(s, j);
			job_free(s, j);
		} else if (j->state == JOB_UPDATING) {
			j->state = JOB_HELD;
			j->updates = 0;
		}
	}
}

/* The mail is forgotten: queued jobs go, running ones wait as orphans. */
void
sched_job_mail_detach(struct sched *s, struct mail *m)
{
	struct job	*j;

	while ((j = TAILQ_FIRST(&m->jobs)) != NULL) {
		if (j->state == JOB_WAITING) {
			job_free(s, j);
			continue;
		}
		TAILQ_REMOVE(&m->jobs, j, mail_entry);
		j->mail = NULL;
		TAILQ_INSERT_TAIL(&s->orphans, j, mail_entry);
	}
}

/* A mail was listed: adopt the transactions that still run or wait to be recorded. */
void
sched_job_mail_loaded(struct sched *s, struct mail *m)
{
	struct job	*j, *next;
	unsigned	 i;

	/* Ids are never reused: a mail listed again (a restart, a release from
	 * hold) is the same mail, and its running transactions are its own. */
	TAILQ_FOREACH_SAFE(j, &s->orphans, mail_entry, next) {
		if (strcmp(j->id, m->id) != 0)
			continue;
		TAILQ_REMOVE(&s->orphans, j, mail_entry);
		j->mail = m;
		TAILQ_INSERT_TAIL(&m->jobs, j, mail_entry);
		for (i = 0; i < j->nrcpt; i++)
			if (j->rcpts[i].index < m->nrcpt)
				m->rcpts[j->rcpts[i].index].busy = true;
		if (j->state == JOB_HELD && s->qmgr != NULL)
			job_send_updates(s, j);
	}
}

/*
 * Every mail was listed: held outcomes of mails not listed go to the queue
 * manager as they are; it records those of a mail on hold and answers
 * "removed" for a mail that is gone.
 */
void
sched_job_load_done(struct sched *s)
{
	struct job	*j, *next;

	TAILQ_FOREACH_SAFE(j, &s->orphans, mail_entry, next)
		if (j->state == JOB_HELD && s->qmgr != NULL)
			job_send_updates(s, j);
}

/* Shutdown: queued jobs are forgotten; running ones are awaited. */
void
sched_job_stop(struct sched *s)
{
	struct job	*j, *next;

	RB_FOREACH_SAFE(j, sched_job_tree, &s->jobs, next)
		if (j->state == JOB_WAITING || j->state == JOB_HELD)
			job_free(s, j);
}

unsigned
sched_job_in_flight(struct sched *s)
{
	struct job	*j;
	unsigned	 n = 0;

	RB_FOREACH(j, sched_job_tree, &s->jobs)
		if (j->state == JOB_OPENING || j->state == JOB_AT_AGENT ||
		    j->state == JOB_UPDATING)
			n++;
	return n;
}
