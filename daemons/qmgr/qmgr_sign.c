/* SPDX-License-Identifier: ISC */
/*
 * qmgr_sign.c - DKIM signing, the queue manager's side: each mail that was
 * committed (or recovered without a DKIM record) is handed to the signer
 * as a read-only descriptor of its queue file; the DKIM-Signature fields
 * that come back are appended to the file as its DKIM record
 * (queue_file.h), and only then is the mail announced to the scheduler, so
 * every attempt sends the same stored fields. Run on the qmgr loop.
 *
 * Signing happens right after "queued" is answered, not before: the
 * submitter never waits for RSA or for a pass over a large body, and a mail
 * is acknowledged by one fsync as before. The price is a window in which a
 * crash leaves a queued mail without its record; recovery finds such mails
 * and signs them before they are scheduled, so no mail goes out unsigned
 * because of it. A mail is signed once: re-sends and restarts use the stored
 * fields, so the signature never changes between attempts.
 *
 * The record also says "looked at, unsigned" (no [dkim] entry for the From:
 * domain, or the signer could not sign it): such a mail is not asked about
 * again. While the signer is down, mails wait (unannounced) and are asked
 * again when its new link arrives. A signer that sends a malformed answer
 * loses its link like any peer; a link in use that closes is reported to
 * the master (proc_link_down), which links the two again within a second,
 * and mail waits for that rather than leave unsigned. At most SIGN_WINDOW
 * requests are out at once, each holding one descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "qmgr.h"
#include "xmalloc.h"

#define SIGN_WINDOW	32
#define SIGN_TRIES	3	/* a mail the signer died on this often goes unsigned */

TAILQ_HEAD(qmail_signq, qmail);

struct qsign {
	struct chan		*link;
	struct qmail_signq	 wait;		/* SIGN_ST_WAIT */
	struct qmail_signq	 asked;		/* SIGN_ST_ASKED */
	unsigned		 nasked;
	uint32_t		 reqid;
};

static void pump(struct qmgr *);

static unsigned
count_wait(struct qsign *s)
{
	struct qmail *m;
	unsigned n = 0;

	TAILQ_FOREACH(m, &s->wait, sign_entry)
		n++;
	return n;
}

void
sign_init(struct qmgr *q)
{
	q->sign = xcalloc(1, sizeof(*q->sign));
	TAILQ_INIT(&q->sign->wait);
	TAILQ_INIT(&q->sign->asked);
}

void
sign_forget(struct qmgr *q, struct qmail *m)
{
	struct qsign *s = q->sign;

	free(m->dkim);
	m->dkim = NULL;
	if (s == NULL)
		return;
	if (m->sign_state == SIGN_ST_WAIT)
		TAILQ_REMOVE(&s->wait, m, sign_entry);
	else if (m->sign_state == SIGN_ST_ASKED) {
		TAILQ_REMOVE(&s->asked, m, sign_entry);
		s->nasked--;
	}
	m->sign_state = SIGN_ST_NONE;
}

void
sign_mail(struct qmgr *q, struct qmail *m)
{
	if (q->conf->ndkim == 0 || q->sign == NULL) {
		sched_announce(q, m);
		return;
	}
	m->sign_state = SIGN_ST_WAIT;
	TAILQ_INSERT_TAIL(&q->sign->wait, m, sign_entry);
	pump(q);
}

static void
pump(struct qmgr *q)
{
	struct qsign *s = q->sign;
	struct qmail *m;
	struct fbuf *fb;
	int fd;

	while (s->link != NULL && s->nasked < SIGN_WINDOW && (m = TAILQ_FIRST(&s->wait)) != NULL) {
		TAILQ_REMOVE(&s->wait, m, sign_entry);
		if (m->deleted) {
			/* deleted while it waited: out of the index, freed by its deletion */
			m->sign_state = SIGN_ST_NONE;
			continue;
		}
		if ((fd = spool_open_ro(q, m->id)) == -1) {
			log_warn("%s: open for signing: sent without a DKIM signature", m->id);
			m->sign_state = SIGN_ST_NONE;
			sched_announce(q, m);
			continue;
		}
		m->sign_state = SIGN_ST_ASKED;
		m->sign_reqid = ++s->reqid;
		TAILQ_INSERT_TAIL(&s->asked, m, sign_entry);
		s->nasked++;
		fb = fbuf_new(MSG_SIGN_REQUEST, m->sign_reqid);
		fbuf_add_str(fb, m->id);
		fbuf_add_u64(fb, m->content_off);
		fbuf_add_u64(fb, m->content_len);
		fbuf_set_fd(fb, fd);
		chan_send(s->link, fb);
	}
}

static int
pwrite_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	ssize_t r;

	while (n > 0) {
		if ((r = pwrite(fd, p, n, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static void
announce_signed(struct qmgr *q, struct qmail *m)
{
	m->sign_state = SIGN_ST_NONE;
	if (--m->inflight == 0 && m->deleted) {
		qmail_free(q, m);
		return;
	}
	if (!m->deleted)
		sched_announce(q, m);
}

/*
 * Append the DKIM record at the end of the good records. It is not synced
 * on its own: an fdatasync per mail would halve the relay rate, and nothing
 * depends on it before the first state record of a delivery attempt, whose
 * fdatasync makes it durable too. Lost in a crash before that, the mail is
 * simply signed again at recovery (no attempt was recorded, so no receiver
 * saw the first signature as a finished delivery).
 */
static void
record_write(struct qmgr *q, struct qmail *m)
{
	uint8_t *rec;
	size_t len;
	int fd;

	m->sign_state = SIGN_ST_WRITE;
	m->inflight++;
	if ((len = qf_dkim_encode(m->dkim, m->hash, &rec)) == 0) {
		announce_signed(q, m);
		return;
	}
	fd = m->wfd != -1 ? m->wfd : openat(q->queue_fd, m->id, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || pwrite_full(fd, rec, len, m->file_len) == -1)
		log_warn("%s: DKIM record not written (it is signed again after a restart)", m->id);
	else
		m->file_len += len;
	if (fd != -1 && fd != m->wfd)
		close(fd);
	free(rec);
	announce_signed(q, m);
}

static int
result(struct qmgr *q, struct frame *f)
{
	struct qsign *s = q->sign;
	struct qmail *m;
	char id[QUEUE_ID_MAX], *fields = NULL, detail[1024];
	uint8_t status;

	if (f->hdr.type != MSG_SIGN_RESULT || !frame_get_str(f, id, sizeof(id)) ||
	    !frame_get_u8(f, &status) || !frame_get_strdup(f, &fields, QF_DKIM_MAX) ||
	    !frame_get_str(f, detail, sizeof(detail)) || !frame_end(f) || status > SIGN_FAIL ||
	    (status == SIGN_OK) != (fields[0] != '\0') || !qf_dkim_valid(fields) ||
	    (status == SIGN_OK && strncmp(fields, "DKIM-Signature:", 15) != 0)) {
		log_warnx("signer sent a malformed %s frame", msg_name(f->hdr.type));
		free(fields);
		return -1;
	}
	for (size_t i = 0; detail[i]; i++)
		if ((unsigned char)detail[i] < 0x20 || detail[i] == 0x7f)
			detail[i] = '?';
	m = qmail_find(q, id);
	if (m == NULL || m->sign_state != SIGN_ST_ASKED || m->sign_reqid != f->hdr.reqid) {
		/* deleted meanwhile (sign_forget took it out of the queue) */
		free(fields);
		return 0;
	}
	TAILQ_REMOVE(&s->asked, m, sign_entry);
	s->nasked--;
	switch (status) {
	case SIGN_OK:
		log_info("%s: dkim: signed (%s)", m->id, detail);
		break;
	case SIGN_NONE:
		log_detail("%s: dkim: %s", m->id, detail);
		break;
	default:
		log_warnx("%s: dkim: not signed: %s", m->id, detail);
		break;
	}
	free(m->dkim);
	m->dkim = fields;
	record_write(q, m);
	pump(q);
	return 0;
}

/*
 * Unanswered requests are asked again, first, on the next link; but a mail
 * the signer went away on SIGN_TRIES times (a mail that crashes it) goes out
 * unsigned rather than stop the queue behind it.
 */
static void
requeue_asked(struct qmgr *q)
{
	struct qsign *s = q->sign;
	struct qmail *m;

	while ((m = TAILQ_LAST(&s->asked, qmail_signq)) != NULL) {
		TAILQ_REMOVE(&s->asked, m, sign_entry);
		s->nasked--;
		if (++m->sign_tries >= SIGN_TRIES) {
			log_warnx("%s: dkim: not signed: the signer failed %d times on this mail",
			    m->id, SIGN_TRIES);
			free(m->dkim);
			m->dkim = xstrdup("");
			record_write(q, m);
			continue;
		}
		m->sign_state = SIGN_ST_WAIT;
		TAILQ_INSERT_HEAD(&s->wait, m, sign_entry);
	}
	s->nasked = 0;
}

static int
link_cb(struct chan *c, struct frame *f, void *arg)
{
	struct qmgr *q = arg;
	struct qsign *s = q->sign;

	if (f != NULL)
		return result(q, f);
	if (s->link != c)
		return 0;
	s->link = NULL;
	requeue_asked(q);
	/* The link in use (a replaced one never gets here): ask for a new one. */
	if (!q->stopping)
		proc_link_down(q->ctx, PROC_SIGNER, 0);
	if (!TAILQ_EMPTY(&s->wait))
		log_info("signer link closed: %u mail%s wait for signing", count_wait(s),
		    count_wait(s) == 1 ? "" : "s");
	return 0;
}

void
sign_link(struct qmgr *q, int fd)
{
	struct qsign *s = q->sign;
	struct chan *old = s->link;

	s->link = NULL;
	if (old != NULL) {
		requeue_asked(q);
		chan_close(old, "replaced by a new signer link");
	}
	s->link = chan_new(q->base, fd, "signer", link_cb, q);
	pump(q);
}
