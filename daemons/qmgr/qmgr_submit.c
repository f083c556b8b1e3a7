/* SPDX-License-Identifier: ISC */
/*
 * qmgr_submit.c - SUBMIT_* transactions, from the smtpd link and from
 * clients of the public socket (outpost-sendmail). Run by the qmgr loop.
 *
 * A transaction is keyed by (link, reqid): BEGIN, RCPT..., DATA..., COMMIT
 * (or ABORT). Recipients must all come before the first DATA (the envelope
 * is written ahead of the content). Limits and bad addresses do not close
 * the link: the first problem is remembered and becomes the one answer to
 * COMMIT (552 size, 452 recipients, 553 syntax, 451 local error). On
 * smtpd's link, nor does a well-formed frame out of order: that one link
 * carries every SMTP session, so closing it would punish them all (a local
 * client of the public socket that breaks the protocol loses its own link,
 * as before, and only its own). An ABORT that comes too late
 * (the transaction is committing or finished) is logged and the commit
 * completes, its answer going to the submitter if it is still there; a
 * COMMIT for a transaction qmgr does not know is answered 451; anything
 * else out of order is logged and ignored. Only a malformed frame closes
 * the link; its unfinished transactions are discarded and their incoming
 * files removed. Exactly one answer per COMMIT, sent only after the commit
 * thread made the mail durable.
 *
 * Local submissions get a Received: header naming the submitter's uid,
 * which the kernel told us (SO_PEERCRED), not the client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "qmgr.h"
#include "xmalloc.h"

/* submitter uid recorded for SMTP submissions: not a local user */
#define UID_NONE	UINT32_MAX

static int
qtx_cmp(struct qtx *a, struct qtx *b)
{
	return a->reqid < b->reqid ? -1 : a->reqid > b->reqid;
}

RB_GENERATE(qtx_tree, qtx, entry, qtx_cmp);

void
qtx_free(struct qtx *tx)
{
	qf_envelope_free(&tx->env);
	qf_content_hash_free(&tx->hst);
	free(tx);
}

static void
tx_error(struct qtx *tx, uint16_t code, const char *dsn, const char *text)
{
	if (tx->err_code == 0) {
		tx->err_code = code;
		tx->err_dsn = dsn;
		tx->err_text = text;
	}
}

static void
answer_error(struct qlink *l, uint32_t reqid, uint16_t code, const char *dsn, const char *text)
{
	struct fbuf *fb;

	if (l == NULL || l->chan == NULL)
		return;
	fb = fbuf_new(MSG_SUBMIT_ERROR, reqid);
	fbuf_add_u16(fb, code);
	fbuf_add_str(fb, dsn);
	fbuf_add_str(fb, text);
	chan_send(l->chan, fb);
}

static void
tx_forget(struct qlink *l, struct qtx *tx)
{
	RB_REMOVE(qtx_tree, &l->txs, tx);
	l->ntx--;
}

/* Start the file: provisional prefix, then our Received header for local mail. */
static int
tx_start_content(struct qmgr *q, struct qtx *tx, const uint8_t *first, size_t n)
{
	char date[64], hdr[HOSTNAME_MAX + 160];
	const char *nl;
	const uint8_t *lf;
	int len;

	if (spool_tx_create(q, tx) == -1)
		return -1;
	if (tx->link == NULL || tx->link->kind != QLINK_PUBLIC)
		return 0;
	/* Match the line ending the submitter uses. */
	lf = first != NULL ? memchr(first, '\n', n) : NULL;
	tx->crlf = lf != NULL && lf > first && lf[-1] == '\r';
	nl = tx->crlf ? "\r\n" : "\n";
	maildate(tx->env.arrival, date, sizeof(date));
	len = snprintf(hdr, sizeof(hdr), "Received: by %s (outpost, from userid %u)%s\tid %s; %s%s",
	    q->conf->helo_name[0] ? q->conf->helo_name : "localhost", tx->env.uid, nl,
	    tx->env.id, date, nl);
	if (len < 0 || (size_t)len >= sizeof(hdr))
		return -1;
	return spool_tx_write(tx, hdr, len);
}

/*
 * A well-formed frame out of order: smtpd's link stays (the frame is
 * ignored, or answered by the caller); a public client's closes.
 */
static int
stray_what(struct qlink *l, struct frame *f, const char *what)
{
	log_warnx("%s: %s %s%s", chan_peer(l->chan), msg_name(f->hdr.type), what,
	    l->kind == QLINK_PUBLIC ? ": closing that client's link" : ": ignored");
	return l->kind == QLINK_PUBLIC ? -1 : 0;
}

static int
stray(struct qlink *l, struct frame *f, bool committing)
{
	char what[64];

	snprintf(what, sizeof(what), "for %s transaction %u",
	    committing ? "a committing" : "an unknown", f->hdr.reqid);
	return stray_what(l, f, what);
}

static int
do_begin(struct qlink *l, struct frame *f)
{
	struct qtx *tx, key;
	const char *err = NULL;
	char sender[ADDR_MAX];
	char *origin = NULL, *p;
	uint32_t flags;

	if (!frame_get_u32(f, &flags) || !frame_get_str(f, sender, sizeof(sender)) ||
	    !frame_get_strdup(f, &origin, QF_ORIGIN_MAX) || !frame_end(f)) {
		free(origin);
		return -1;
	}
	key.reqid = f->hdr.reqid;
	if ((tx = RB_FIND(qtx_tree, &l->txs, &key)) != NULL) {
		free(origin);
		if (l->kind != QLINK_PUBLIC && !tx->committing)
			tx_error(tx, 451, "4.3.0", "Transaction begun twice");
		return stray_what(l, f, "twice for one transaction");
	}
	if (l->ntx >= l->maxtx) {
		/*
		 * A local client hoarding transactions loses its own link; smtpd's
		 * (shared by every session) stays: this one's COMMIT is answered
		 * as unknown.
		 */
		log_warnx("%s: more than %u transactions at once", chan_peer(l->chan), l->maxtx);
		free(origin);
		return l->kind == QLINK_PUBLIC ? -1 : 0;
	}
	/* The origin is only logged: make it printable rather than refuse it. */
	for (p = origin; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';

	tx = xcalloc(1, sizeof(*tx));
	tx->reqid = f->hdr.reqid;
	tx->link = l;
	tx->fd = -1;
	tx->submit_flags = flags;
	tx->env.arrival = time(NULL);
	tx->env.uid = l->kind == QLINK_PUBLIC ? l->uid : UID_NONE;
	tx->env.origin = origin;
	tx->env.sender = xstrdup(sender);
	qf_id_new(tx->env.id);
	/* Never trust the submitter's syntax checks: the public socket is open to all. */
	if (addr_check_mailbox(sender, true, &err) == -1 || !qf_str_valid(sender, ADDR_MAX - 1))
		tx_error(tx, 553, "5.1.7", err != NULL ? err : "Bad sender address syntax");
	else if (!space_ok(l->q, 0))
		tx_error(tx, 452, "4.3.1", "Insufficient system storage");
	RB_INSERT(qtx_tree, &l->txs, tx);
	l->ntx++;
	return 0;
}

/*
 * The open transaction a frame continues, or NULL: unknown (never begun,
 * refused, or finished) or already committing (*committing set).
 */
static struct qtx *
find_tx(struct qlink *l, struct frame *f, bool *committing)
{
	struct qtx key, *tx;

	key.reqid = f->hdr.reqid;
	tx = RB_FIND(qtx_tree, &l->txs, &key);
	*committing = tx != NULL && tx->committing;
	return tx != NULL && !tx->committing ? tx : NULL;
}

struct rcpt_add {
	struct qtx	*tx;
	const char	*given;		/* the recipient as the submitter gave it */
};

/*
 * One final recipient address. An address the aliases produced is not
 * added twice ("postmaster: root" and "root" in one mail); one given as
 * it is stays as before, duplicates included.
 */
static int
add_rcpt(const char *addr, void *arg)
{
	struct rcpt_add *ra = arg;
	struct qtx *tx = ra->tx;
	struct qmgr *q = tx->link->q;
	const char *err = NULL;
	uint32_t i;

	if (addr_check_mailbox(addr, false, &err) == -1 || !qf_str_valid(addr, ADDR_MAX - 1)) {
		tx_error(tx, 553, "5.1.3", "Bad recipient address syntax after alias expansion");
		return -1;
	}
	for (i = 0; i < tx->env.nrcpt && strcmp(addr, ra->given) != 0; i++)
		if (strcmp(tx->env.rcpt[i], addr) == 0)
			return 0;
	if (tx->env.nrcpt >= q->conf->max_recipients || tx->env.nrcpt >= QF_RCPT_MAX) {
		tx_error(tx, 452, "4.5.3", "Too many recipients");
		return -1;
	}
	if (tx->env.nrcpt == tx->rcpt_cap) {
		tx->rcpt_cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 4;
		tx->env.rcpt = xreallocarray(tx->env.rcpt, tx->rcpt_cap, sizeof(char *));
	}
	tx->env.rcpt[tx->env.nrcpt++] = xstrdup(addr);
	return 0;
}

static int
do_rcpt(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	struct qtx *tx;
	const char *err = NULL;
	char rcpt[ADDR_MAX], why[512];
	struct rcpt_add ra;
	bool committing;

	if (!frame_get_str(f, rcpt, sizeof(rcpt)) || !frame_end(f))
		return -1;
	if ((tx = find_tx(l, f, &committing)) == NULL)
		return stray(l, f, committing);
	if (tx->prefix_written) {
		tx_error(tx, 451, "4.3.0", "Recipient after data");
		return stray_what(l, f, "after data");
	}
	if (addr_check_mailbox(rcpt, false, &err) == -1 || rcpt[0] == '\0' ||
	    !qf_str_valid(rcpt, ADDR_MAX - 1)) {
		tx_error(tx, 553, "5.1.3", err != NULL ? err : "Bad recipient address syntax");
		return 0;
	}
	/* Local names become what the aliases table says (qmgr_aliases.c). */
	ra.tx = tx;
	ra.given = rcpt;
	if (qaliases_expand(q, rcpt, add_rcpt, &ra, why, sizeof(why)) == -1 && tx->err_code == 0) {
		log_warnx("recipient <%s>: %s", rcpt, why);
		tx_error(tx, 550, "5.4.6", "Alias expansion failed (loop or too many addresses)");
	}
	return 0;
}

static int
do_data(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	const uint8_t *p;
	struct qtx *tx;
	size_t n;
	bool committing;

	if (!frame_get_bytes(f, &p, &n) || !frame_end(f))
		return -1;
	if ((tx = find_tx(l, f, &committing)) == NULL)
		return stray(l, f, committing);
	tx->client_bytes += n;
	if (tx->err_code != 0)
		return 0;
	if (q->conf->max_message_size != 0 && tx->client_bytes > q->conf->max_message_size) {
		tx_error(tx, 552, "5.3.4", "Message size exceeds fixed limit");
		spool_tx_discard(q, tx);	/* give the space back now */
		return 0;
	}
	if (tx->env.nrcpt == 0) {
		tx_error(tx, 503, "5.5.1", "No valid recipients");
		return 0;
	}
	if (!tx->prefix_written && tx_start_content(q, tx, p, n) == -1) {
		tx_error(tx, 451, "4.3.0", "Local error writing the queue file");
		spool_tx_discard(q, tx);
		return 0;
	}
	if (!(tx->env.flags & MAIL_F_8BIT) && mem_has_8bit(p, n))
		tx->env.flags |= MAIL_F_8BIT;
	if (spool_tx_write(tx, p, n) == -1) {
		log_warn("%s: write", tx->env.id);
		tx_error(tx, 451, "4.3.0", "Local error writing the queue file");
		spool_tx_discard(q, tx);
	}
	return 0;
}

static void
commit_done(struct qmgr *q, struct qjob *j)
{
	struct qtx *tx = j->arg;
	struct qlink *l = tx->link;
	struct qf_mail m;
	struct qmail *e;
	struct fbuf *fb;
	char msgid[QMGR_MSGID_MAX], uidtext[32];
	int rfd;
	bool ok = j->error == 0;

	tx->fd = -1;
	if (!ok) {
		close(j->fd);
		errno = j->error;
		log_warn("%s: commit failed", tx->env.id);
		/* Never acknowledged: it must not be delivered later either. */
		if (j->renamed)	/* renamed, but its round's sync failed */
			(void)unlinkat(q->queue_fd, tx->env.id, 0);
		else if (tx->spare[0] != '\0')
			(void)unlinkat(q->spare_fd, tx->spare, 0);
		else
			(void)unlinkat(q->incoming_fd, tx->env.id, 0);
		answer_error(l, tx->reqid, 451, "4.3.0", "Local error committing the queue file");
	} else {
		/* the write descriptor cannot read: the committed file, read-only */
		if ((rfd = spool_open_ro(q, tx->env.id)) != -1) {
			qmgr_msgid_from_file(rfd, tx->prefix_len, tx->content_len, msgid,
			    sizeof(msgid));
			close(rfd);
		} else
			msgid[0] = '\0';
		memset(&m, 0, sizeof(m));
		m.env = tx->env;
		m.content_off = tx->prefix_len;
		m.content_len = tx->content_len;
		memcpy(m.hash, tx->hash, sizeof(m.hash));
		e = qmail_from_file(&m, tx->prefix_len + tx->content_len + QF_TRAILER_LEN);
		/* Keep the descriptor for the state appends to come, within bounds. */
		if (q->nwfd < QMGR_WFD_MAX) {
			e->wfd = j->fd;
			q->nwfd++;
		} else
			close(j->fd);
		qmail_insert(q, e);
		/*
		 * size is the mail as queued (with the fields outpost added),
		 * the one size logged; the uid traces a local submitter (a
		 * script on a hosting server), smtpd's line names the client.
		 */
		if (tx->env.uid != UID_NONE)
			snprintf(uidtext, sizeof(uidtext), ", uid=%u", tx->env.uid);
		else
			uidtext[0] = '\0';
		log_info("%s: from=<%s>, size=%llu, nrcpt=%u, message-id=<%s>%s (queue active)",
		    e->id, e->sender, (unsigned long long)e->content_len, e->nrcpt, msgid,
		    uidtext);
		log_detail("%s: origin=%s uid=%u", e->id, tx->env.origin, tx->env.uid);
		if (l != NULL)
			metric_inc(l->kind == QLINK_SMTPD ? MET_RECEIVED_SMTP : MET_RECEIVED_LOCAL);
		else
			metric_inc(MET_DSN_SENT);	/* a notice of ours: bounce or delay */
		if (l != NULL && l->chan != NULL) {
			fb = fbuf_new(MSG_SUBMIT_QUEUED, tx->reqid);
			fbuf_add_str(fb, e->id);
			chan_send(l->chan, fb);
		} else if (l != NULL)
			log_info("%s: queued, but the submitter left before hearing it", e->id);
		sign_mail(q, e);
	}
	if (tx->done != NULL)
		tx->done(q, tx, ok);
	if (l != NULL) {
		tx_forget(l, tx);
		qmgr_link_unref(l);
	}
	qtx_free(tx);
	free(j);
}

/* Finish the file and hand it to the commit thread; answers later. */
void
submit_commit(struct qmgr *q, struct qtx *tx)
{
	struct qjob *j;

	tx->committing = true;
	if ((!tx->prefix_written && tx_start_content(q, tx, NULL, 0) == -1) ||
	    spool_tx_finish(tx) == -1) {
		log_warn("%s: finishing the queue file", tx->env.id);
		spool_tx_discard(q, tx);
		answer_error(tx->link, tx->reqid, 451, "4.3.0", "Local error writing the queue file");
		if (tx->done != NULL)
			tx->done(q, tx, false);
		if (tx->link != NULL)
			tx_forget(tx->link, tx);
		qtx_free(tx);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = QJOB_COMMIT;
	j->fd = tx->fd;
	strlcpy(j->id, tx->env.id, sizeof(j->id));
	if (tx->spare[0] != '\0') {
		strlcpy(j->from, tx->spare, sizeof(j->from));
		j->length = tx->prefix_len + tx->content_len + QF_TRAILER_LEN;
	}
	j->done = commit_done;
	j->arg = tx;
	if (tx->link != NULL)
		tx->link->refs++;
	qmgr_commit_push(q, j);
}

static int
do_commit(struct qlink *l, struct frame *f)
{
	struct qtx *tx;
	bool committing;

	if (!frame_end(f))
		return -1;
	if ((tx = find_tx(l, f, &committing)) == NULL) {
		if (committing || l->kind == QLINK_PUBLIC)
			return stray(l, f, committing);	/* its one answer is on the way */
		log_warnx("%s: COMMIT for unknown transaction %u: answered", chan_peer(l->chan),
		    f->hdr.reqid);
		answer_error(l, f->hdr.reqid, 451, "4.3.0", "Transaction unknown to the queue manager");
		return 0;
	}
	if (tx->err_code == 0 && tx->env.nrcpt == 0)
		tx_error(tx, 503, "5.5.1", "No valid recipients");
	if (tx->err_code == 0 && l->q->stopping)
		tx_error(tx, 421, "4.3.2", "Queue manager shutting down");
	if (tx->err_code != 0) {
		answer_error(l, tx->reqid, tx->err_code, tx->err_dsn, tx->err_text);
		spool_tx_discard(l->q, tx);
		tx_forget(l, tx);
		qtx_free(tx);
		return 0;
	}
	submit_commit(l->q, tx);
	return 0;
}

static int
do_abort(struct qlink *l, struct frame *f)
{
	struct qtx *tx;
	bool committing;

	if (!frame_end(f))
		return -1;
	if ((tx = find_tx(l, f, &committing)) == NULL) {
		if (l->kind == QLINK_PUBLIC)
			return stray(l, f, committing);
		/* The submitter gave up after COMMIT: the mail is queued all the same. */
		if (committing)
			log_info("%s: abort of transaction %u too late: it is being committed",
			    chan_peer(l->chan), f->hdr.reqid);
		else
			log_detail("%s: abort of finished or unknown transaction %u ignored",
			    chan_peer(l->chan), f->hdr.reqid);
		return 0;
	}
	spool_tx_discard(l->q, tx);
	tx_forget(l, tx);
	qtx_free(tx);
	return 0;
}

int
submit_dispatch(struct qlink *l, struct frame *f)
{
	switch (f->hdr.type) {
	case MSG_SUBMIT_BEGIN:
		return do_begin(l, f);
	case MSG_SUBMIT_RCPT:
		return do_rcpt(l, f);
	case MSG_SUBMIT_DATA:
		return do_data(l, f);
	case MSG_SUBMIT_COMMIT:
		return do_commit(l, f);
	case MSG_SUBMIT_ABORT:
		return do_abort(l, f);
	default:
		/* Well-formed (chan checked its layout), just not a submission frame. */
		return stray_what(l, f, "is not a submission frame");
	}
}

void
submit_link_closed(struct qlink *l)
{
	struct qtx *tx, *next;

	RB_FOREACH_SAFE(tx, qtx_tree, &l->txs, next) {
		if (tx->committing)
			continue;	/* the commit thread has it; it finishes alone */
		log_detail("%s: transaction %u of a closed link discarded", tx->env.id, tx->reqid);
		spool_tx_discard(l->q, tx);
		tx_forget(l, tx);
		qtx_free(tx);
	}
}
