/* SPDX-License-Identifier: ISC */
/*
 * qmgr_bounce.c - the bounce (non-delivery notice) of the queue manager,
 * written when recipients of a mail become FAILED, and the delay notice
 * (Action: delayed) the scheduler asks for once a mail waited
 * delay_warning with recipients still deferred (QMGR_DELAY_WARN).
 *
 * An RFC 3464 delivery status notification built by shared/dsn.c from the
 * recipients' last replies and the original content (read through a
 * read-only descriptor of its queue file); should that fail, a plain text
 * notice with one line per failed recipient. Sender <>, MAIL_F_BOUNCE.
 * Never for a mail whose sender is <> or that is itself a bounce (the
 * caller checks). The bounce is written like a submission (qmgr_submit.c)
 * and committed before the FAILED state is recorded, so a crash can at
 * worst repeat a bounce, never lose one. Likewise the delay notice is
 * committed before its mark (qmgr_mark.c) is written: sent once, or in a
 * crash at that very moment twice, never lost.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "config.h"
#include "dsn.h"
#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

/* The original content, read from its queue file. */
struct orig {
	int		fd;
	uint64_t	off;
};

static ssize_t
orig_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct orig *o = arg;

	return pread(o->fd, buf, len, (off_t)(o->off + off));
}

/* The DSN; -1 when it cannot be built (the caller writes plain text). */
static int
bounce_dsn(struct qmgr *q, struct qtx *tx, const struct qmail *m, const uint32_t *failed,
    unsigned n, enum dsn_action action)
{
	struct dsn_mail dm;
	struct dsn_rcpt *dr;
	struct dsn_opts opts;
	struct dsn_out out;
	struct orig o;
	unsigned i;
	int r;

	if ((o.fd = spool_open_ro(q, m->id)) == -1) {
		log_warn("%s: open for the bounce", m->id);
		return -1;
	}
	o.off = m->content_off;
	memset(&dm, 0, sizeof(dm));
	dm.queue_id = m->id;
	dm.sender = m->sender;
	dm.arrival = m->arrival;
	dm.eightbit = (m->flags & MAIL_F_8BIT) != 0;
	dm.read = orig_read;
	dm.read_arg = &o;
	dm.content_len = m->content_len;
	dr = xcalloc(n, sizeof(*dr));
	for (i = 0; i < n; i++) {
		const struct qrcpt *rc = &m->rcpt[failed[i]];

		dr[i].addr = rc->addr;
		dr[i].action = action;
		dr[i].status = rc->dsn[0] ? rc->dsn : NULL;
		dr[i].remote_mta = rc->relay;
		dr[i].diag = rc->reply;
		dr[i].diag_remote = rc->relay != NULL && strcmp(rc->relay, "none") != 0;
		dr[i].last_attempt = tx->env.arrival;
		if (action == DSN_ACTION_DELAYED && q->conf->max_queue_lifetime > 0)
			dr[i].retry_until = m->arrival + q->conf->max_queue_lifetime;
	}
	memset(&opts, 0, sizeof(opts));
	opts.helo_name = q->conf->helo_name;
	opts.now = tx->env.arrival;
	opts.msgid = tx->env.id;
	r = dsn_build(&dm, dr, n, &opts, &out);
	close(o.fd);
	free(dr);
	if (r == -1) {
		log_warnx("%s: cannot build the DSN (%s): plain text bounce", m->id, out.err);
		return -1;
	}
	if (out.eightbit)
		tx->env.flags |= MAIL_F_8BIT;
	r = spool_tx_write(tx, out.buf, out.len);
	dsn_out_free(&out);
	return r;
}

static struct qtx *
notice_make(struct qmgr *q, const struct qmail *m, const uint32_t *failed, unsigned n,
    enum dsn_action action)
{
	const char *host = q->conf->helo_name[0] ? q->conf->helo_name : "localhost";
	char now[64], arrived[64];
	struct qtx *tx;
	unsigned i;
	int r = 0;

	tx = xcalloc(1, sizeof(*tx));
	tx->fd = -1;
	tx->env.arrival = time(NULL);
	tx->env.uid = q->myuid;
	tx->env.flags = MAIL_F_BOUNCE;
	xasprintf(&tx->env.origin, "%s of %s",
	    action == DSN_ACTION_DELAYED ? "delay notice" : "bounce", m->id);
	tx->env.sender = xstrdup("");
	/* A local sender ("root" from cron) gets it where the aliases say. */
	if (qaliases_rewrite(q, m->sender, &tx->env.rcpt, &tx->env.nrcpt) == -1) {
		tx->env.nrcpt = 1;
		tx->env.rcpt = xcalloc(1, sizeof(char *));
		tx->env.rcpt[0] = xstrdup(m->sender);
	}
	tx->rcpt_cap = tx->env.nrcpt;
	qf_id_new(tx->env.id);
	if (spool_tx_create(q, tx) == -1)
		goto fail;
	if (bounce_dsn(q, tx, m, failed, n, action) == 0)
		return tx;
	if (tx->content_len > 0)
		goto fail;	/* a write failed half-way: no second body after it */

	maildate(tx->env.arrival, now, sizeof(now));
	maildate(m->arrival, arrived, sizeof(arrived));
	r |= spool_tx_printf(tx, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host);
	r |= spool_tx_printf(tx, "To: <%s>\r\n", m->sender);
	r |= spool_tx_printf(tx, "Subject: %s\r\n", action == DSN_ACTION_DELAYED ?
	    "Delayed Mail (still being retried)" : "Undelivered Mail Returned to Sender");
	r |= spool_tx_printf(tx, "Date: %s\r\n", now);
	r |= spool_tx_printf(tx, "Message-ID: <%s@%s>\r\n", tx->env.id, host);
	r |= spool_tx_printf(tx, "Auto-Submitted: auto-replied\r\n");
	r |= spool_tx_printf(tx, "MIME-Version: 1.0\r\n");
	r |= spool_tx_printf(tx, "Content-Type: text/plain; charset=utf-8\r\n");
	r |= spool_tx_printf(tx, "Content-Transfer-Encoding: 8bit\r\n\r\n");
	r |= spool_tx_printf(tx, "This is the mail system at host %s.\r\n\r\n", host);
	if (action == DSN_ACTION_DELAYED)
		r |= spool_tx_printf(tx, "Your message (queue id %s, received %s) has not yet been\r\n"
		    "delivered to the following recipients; it is still being retried:\r\n\r\n",
		    m->id, arrived);
	else
		r |= spool_tx_printf(tx, "Your message (queue id %s, received %s) could not be\r\n"
		    "delivered to the following recipients:\r\n\r\n", m->id, arrived);
	for (i = 0; i < n && r == 0; i++) {
		const struct qrcpt *rc = &m->rcpt[failed[i]];

		r |= spool_tx_printf(tx, "<%s>: %s\r\n", rc->addr,
		    rc->reply != NULL ? rc->reply : "delivery failed permanently");
	}
	if (r != 0)
		goto fail;
	return tx;

fail:
	log_warnx("%s: cannot write the bounce", m->id);
	spool_tx_discard(q, tx);
	qtx_free(tx);
	return NULL;
}

struct qtx *
bounce_make(struct qmgr *q, const struct qmail *m, const uint32_t *failed, unsigned n)
{
	return notice_make(q, m, failed, n, DSN_ACTION_FAILED);
}

/* The notice is queued: the mark makes it once only, across restarts. */
static void
delay_committed(struct qmgr *q, struct qtx *tx, bool ok)
{
	char *id = tx->done_arg;
	/* (read back from disk if it was parked while the notice was written) */
	struct qmail *m = park_get(q, id);

	if (!ok) {
		log_warnx("%s: the delay notice could not be queued", id);
		if (m != NULL)
			m->flags &= ~MAIL_F_DELAY_WARNED;	/* a later request may try again */
	} else {
		log_info("%s: sender delay notice: %s", id, tx->env.id);
		if (m != NULL && !m->deleted)
			mark_set(q, m, MAIL_F_DELAY_WARNED, true, NULL, NULL);
	}
	free(id);
}

void
bounce_delay_warn(struct qmgr *q, struct qmail *m)
{
	struct qtx *tx;
	uint32_t *rcpts, i, n = 0;

	/* Never to <>, never about a bounce, once. */
	if (m->sender[0] == '\0' || (m->flags & (MAIL_F_BOUNCE | MAIL_F_DELAY_WARNED)))
		return;
	/* Below queue_min_free: asked again once there is space (qmgr_space.c). */
	if (!space_ok(q, 0)) {
		if (!m->warn_postponed)
			log_warnx("%s: delay notice postponed: queue low on space", m->id);
		m->warn_postponed = true;
		return;
	}
	rcpts = xcalloc(m->nrcpt, sizeof(*rcpts));
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state != RCPT_DELIVERED && m->rcpt[i].state != RCPT_FAILED)
			rcpts[n++] = i;
	if (n > 0 && (tx = notice_make(q, m, rcpts, n, DSN_ACTION_DELAYED)) != NULL) {
		/* set now: a second request while this one commits is not sent twice */
		m->flags |= MAIL_F_DELAY_WARNED;
		tx->done = delay_committed;
		tx->done_arg = xstrdup(m->id);
		submit_commit(q, tx);
	}
	free(rcpts);
}
