/*
 * qmgr_submit.c - SUBMIT_* transactions, from the smtpd link and from
 * clients of the public socket (outpost-sendmail). Run by the qmgr loop.
 *
 * A transaction is keyed by (link, reqid): BEGIN, RCPT..., DATA..., COMMIT
 * (or ABORT). Recipients must all come before the first DATA (the envelope
 * is written ahead of the content). Limits and bad addresses do not close
 * the link: the first problem is remembered and becomes the one answer to
 * COMMIT (552 size, 452 recipients, 553 syntax, 451 local error). A frame
 * out of protocol order closes the link; its unfinished transactions are
 * discarded and their incoming files removed. Exactly one answer per
 * COMMIT, sent only after the commit thread made the mail durable.
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
#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
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

static bool
has_8bit(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] & 0x80)
			return true;
	return false;
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
	if (RB_FIND(qtx_tree, &l->txs, &key) != NULL) {
		log_warnx("%s: transaction %u begun twice", chan_peer(l->chan), f->hdr.reqid);
		free(origin);
		return -1;
	}
	if (l->ntx >= l->maxtx) {
		log_warnx("%s: more than %u transactions at once", chan_peer(l->chan), l->maxtx);
		free(origin);
		return -1;
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
	RB_INSERT(qtx_tree, &l->txs, tx);
	l->ntx++;
	return 0;
}

static struct qtx *
find_tx(struct qlink *l, struct frame *f)
{
	struct qtx key, *tx;

	key.reqid = f->hdr.reqid;
	tx = RB_FIND(qtx_tree, &l->txs, &key);
	if (tx == NULL || tx->committing) {
		log_warnx("%s: %s for unknown transaction %u", chan_peer(l->chan),
		    msg_name(f->hdr.type), f->hdr.reqid);
		return NULL;
	}
	return tx;
}

static int
do_rcpt(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	struct qtx *tx;
	const char *err = NULL;
	char rcpt[ADDR_MAX];

	if (!frame_get_str(f, rcpt, sizeof(rcpt)) || !frame_end(f))
		return -1;
	if ((tx = find_tx(l, f)) == NULL)
		return -1;
	if (tx->prefix_written) {
		log_warnx("%s: recipient after data in transaction %u", chan_peer(l->chan), tx->reqid);
		return -1;
	}
	if (addr_check_mailbox(rcpt, false, &err) == -1 || rcpt[0] == '\0' ||
	    !qf_str_valid(rcpt, ADDR_MAX - 1)) {
		tx_error(tx, 553, "5.1.3", err != NULL ? err : "Bad recipient address syntax");
		return 0;
	}
	if (tx->env.nrcpt >= q->conf->max_recipients || tx->env.nrcpt >= QF_RCPT_MAX) {
		tx_error(tx, 452, "4.5.3", "Too many recipients");
		return 0;
	}
	if (tx->env.nrcpt == tx->rcpt_cap) {
		tx->rcpt_cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 4;
		tx->env.rcpt = xreallocarray(tx->env.rcpt, tx->rcpt_cap, sizeof(char *));
	}
	tx->env.rcpt[tx->env.nrcpt++] = xstrdup(rcpt);
	return 0;
}

static int
do_data(struct qlink *l, struct frame *f)
{
	struct qmgr *q = l->q;
	const uint8_t *p;
	struct qtx *tx;
	size_t n;

	if (!frame_get_bytes(f, &p, &n) || !frame_end(f))
		return -1;
	if ((tx = find_tx(l, f)) == NULL)
		return -1;
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
	if (has_8bit(p, n))
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
	bool ok = j->error == 0;

	tx->fd = -1;
	if (!ok) {
		close(j->fd);
		errno = j->error;
		log_warn("%s: commit failed", tx->env.id);
		/* Never acknowledged: it must not be delivered later either. */
		if (tx->spare[0] != '\0')
			(void)unlinkat(q->spare_fd, tx->spare, 0);
		else
			(void)unlinkat(q->incoming_fd, tx->env.id, 0);
		(void)unlinkat(q->queue_fd, tx->env.id, 0);
		answer_error(l, tx->reqid, 451, "4.3.0", "Local error committing the queue file");
	} else {
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
		log_info("%s: from=<%s>, size=%llu, nrcpt=%u (queue active)", e->id, e->sender,
		    (unsigned long long)e->content_len, e->nrcpt);
		log_detail("%s: origin=%s uid=%u", e->id, tx->env.origin, tx->env.uid);
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

	if (!frame_end(f))
		return -1;
	if ((tx = find_tx(l, f)) == NULL)
		return -1;
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

	if (!frame_end(f))
		return -1;
	if ((tx = find_tx(l, f)) == NULL)
		return -1;
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
		log_warnx("%s: unexpected %s", chan_peer(l->chan), msg_name(f->hdr.type));
		return -1;
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
