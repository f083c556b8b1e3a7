/* SPDX-License-Identifier: ISC */
/*
 * smtpd_txn.c - one mail transaction as qmgr sees it: SUBMIT_BEGIN and the
 * recipients when DATA starts, the message in SUBMIT_DATA frames behind a
 * Received: header, SUBMIT_COMMIT at the final dot, and qmgr's answer
 * (SUBMIT_QUEUED or SUBMIT_ERROR) relayed to the client.
 *
 * Runs in smtpd; called by smtpd_command.c (DATA), smtpd_session.c (input
 * during DATA) and smtpd.c (frames from qmgr, loss of the link). The client
 * hears 250 only after qmgr said the mail is durably queued. Data flows
 * only as fast as qmgr takes it: above SMTPD_QMGR_BACKLOG queued octets the
 * session stops reading its socket until the link drains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"
#include "smtpd.h"

static int
send_frame(struct smtpd_session *s, struct fbuf *fb)
{
	if (fb->overflow) {
		fbuf_free(fb);
		return -1;
	}
	return chan_send(s->txn_chan, fb);
}

static void
send_empty(struct smtpd_session *s, uint16_t type)
{
	(void)send_frame(s, fbuf_new(type, s->reqid));
}

void
txn_reset(struct smtpd_session *s)
{
	size_t	i;

	/*
	 * Sent BEGIN but no answer will come: let qmgr forget it. Not after
	 * COMMIT: the commit cannot be undone; qmgr finishes it and its answer,
	 * finding no session, is dropped (the mail is queued once).
	 */
	if (s->reqid != 0 && s->txn_chan != NULL && s->state != SS_COMMIT)
		send_empty(s, MSG_SUBMIT_ABORT);
	s->reqid = 0;
	s->txn_chan = NULL;
	s->txn_lost = false;
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->rcpt_tried = 0;
	s->sender[0] = '\0';
	s->flags = 0;
	free(s->chunk);
	s->chunk = NULL;
	s->chunklen = 0;
	evtimer_del(s->timer);
}

static void
txn_lost_reply(struct smtpd_session *s)
{
	session_reject(s, "message", 451, "4.3.0",
	    "Queue manager unavailable, try again later");
}

int
txn_begin(struct smtpd_session *s)
{
	struct smtpd		*sd = s->sd;
	const struct config	*conf = sd->conf;
	struct fbuf		*fb;
	char			 origin[512];
	size_t			 i, n;

	if (sd->qmgr == NULL) {
		txn_lost_reply(s);
		return -1;
	}
	s->reqid = smtpd_reqid(sd);
	s->txn_chan = sd->qmgr;
	s->txn_lost = false;

	fb = fbuf_new(MSG_SUBMIT_BEGIN, s->reqid);
	fbuf_add_u32(fb, s->flags);
	fbuf_add_str(fb, s->sender);
	(void)snprintf(origin, sizeof(origin), "smtpd %s [%s] helo=%s", s->txid,
	    s->ip, s->helo);
	fbuf_add_str(fb, origin);
	if (send_frame(s, fb) == -1)
		goto lost;
	for (i = 0; i < s->nrcpt; i++) {
		fb = fbuf_new(MSG_SUBMIT_RCPT, s->reqid);
		fbuf_add_str(fb, s->rcpts[i]);
		if (send_frame(s, fb) == -1)
			goto lost;
	}

	s->chunk = xmalloc(SMTPD_CHUNK);
	n = smtpd_received((char *)s->chunk, SMTPD_CHUNK, s->helo, s->esmtp, s->ip,
	    s->family, conf->helo_name, s->txid, s->nrcpt == 1 ? s->rcpts[0] : NULL,
	    time(NULL));
	s->chunklen = n;
	data_init(&s->data, conf->max_message_size);
	s->state = SS_DATA;
	session_set_timeout(s, SMTPD_DATA_TIMEOUT);
	return 0;

 lost:
	/* chan_send() failed: the link is closed, nothing to abort. */
	s->reqid = 0;
	s->txn_chan = NULL;
	txn_lost_reply(s);
	return -1;
}

static void
flush_chunk(struct smtpd_session *s)
{
	struct fbuf	*fb;

	if (s->chunklen > 0 && s->reqid != 0 && s->data.error == DATA_OK) {
		fb = fbuf_new(MSG_SUBMIT_DATA, s->reqid);
		fbuf_add_bytes(fb, s->chunk, s->chunklen);
		if (send_frame(s, fb) == -1) {
			/* The link's close callback marks the transaction lost. */
			s->reqid = 0;
			s->txn_chan = NULL;
			s->txn_lost = true;
		}
	}
	s->chunklen = 0;
}

static void
data_end(struct smtpd_session *s)
{
	struct smtp_reply	r;
	struct timeval		tv = { SMTPD_COMMIT_TIMEOUT, 0 };

	session_set_timeout(s, (int)s->sd->conf->client_idle_timeout);
	if (s->txn_lost) {
		txn_lost_reply(s);
		txn_reset(s);
		s->state = SS_READY;
		return;
	}
	if (s->data.error != DATA_OK) {
		memset(&r, 0, sizeof(r));
		data_error_reply(s->data.error, s->data.max_size, &r);
		session_reject(s, "message", r.code, r.dsn, "%s", r.text);
		txn_reset(s);
		s->state = SS_READY;
		return;
	}
	flush_chunk(s);
	if (s->reqid == 0 || send_frame(s, fbuf_new(MSG_SUBMIT_COMMIT, s->reqid)) == -1) {
		s->reqid = 0;
		s->txn_chan = NULL;
		txn_lost_reply(s);
		txn_reset(s);
		s->state = SS_READY;
		return;
	}
	free(s->chunk);
	s->chunk = NULL;
	s->state = SS_COMMIT;
	session_pause(s, PAUSE_COMMIT);
	evtimer_add(s->timer, &tv);
}

int
txn_data(struct smtpd_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec	 v;
	struct timeval		 tv = { 0, 10 * 1000 };
	enum data_error		 before = s->data.error;
	size_t			 used;

	if (s->reqid != 0 && chan_pending(s->txn_chan) > SMTPD_QMGR_BACKLOG) {
		/* chan has no drain callback: look again shortly. */
		session_pause(s, PAUSE_QMGR);
		evtimer_add(s->timer, &tv);
		return 0;
	}
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return 0;
	used = data_feed(&s->data, v.iov_base, v.iov_len, s->chunk, SMTPD_CHUNK,
	    &s->chunklen);
	evbuffer_drain(in, used);

	if (s->data.error != DATA_OK && before == DATA_OK && s->reqid != 0) {
		/* Rejected whatever follows: stop queueing now, answer at the dot. */
		send_empty(s, MSG_SUBMIT_ABORT);
		s->reqid = 0;
		s->txn_chan = NULL;
		s->chunklen = 0;
	}
	if (s->data.done || SMTPD_CHUNK - s->chunklen < 2)
		flush_chunk(s);
	if (s->data.done)
		data_end(s);
	return 1;
}

void
txn_timer(int fd, short ev, void *arg)
{
	struct smtpd_session	*s = arg;
	struct timeval		 tv = { 0, 10 * 1000 };

	if (s->pause & PAUSE_QMGR) {
		if (s->reqid != 0 && chan_pending(s->txn_chan) > SMTPD_QMGR_BACKLOG / 2) {
			evtimer_add(s->timer, &tv);
			return;
		}
		session_resume(s, PAUSE_QMGR);
		return;
	}
	if (s->state == SS_COMMIT) {
		log_warnx("%s: no answer from qmgr in %d seconds", s->txid,
		    SMTPD_COMMIT_TIMEOUT);
		txn_lost_reply(s);
		txn_reset(s);		/* no ABORT after COMMIT: qmgr may still queue it */
		s->state = SS_READY;
		session_resume(s, PAUSE_COMMIT);
	}
}

/* qmgr's text goes to the client: keep it printable and one line. */
static void
clean_text(char *dst, size_t len, const char *src)
{
	size_t	i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = (src[i] < 32 || src[i] > 126) ? '?' : src[i];
	dst[i] = '\0';
}

static bool
valid_dsn(const char *dsn, uint16_t code)
{
	const char	*p = dsn;
	size_t		 n;

	if (p[0] != '0' + code / 100 || p[1] != '.')
		return false;
	p += 2;
	n = strspn(p, "0123456789");
	if (n < 1 || n > 3 || p[n] != '.')
		return false;
	p += n + 1;
	n = strspn(p, "0123456789");
	return n >= 1 && n <= 3 && p[n] == '\0';
}

void
session_qmgr_answer(struct smtpd_session *s, const char *queue_id, uint16_t code,
    const char *dsn, const char *text)
{
	char	buf[REPLY_MAX];

	if (s->state != SS_COMMIT)
		return;
	evtimer_del(s->timer);
	if (queue_id != NULL) {
		clean_text(buf, sizeof(buf), queue_id);
		/* the size is logged once, by the queue manager, of the mail as queued */
		log_info("%s: queued as %s, from=<%s>, nrcpt=%zu, client=[%s]",
		    s->txid, buf, s->sender, s->nrcpt, s->ip);
		/* Postfix's received line, which pflogsumm counts. */
		log_info("%s: client=unknown[%s]", buf, s->ip);
		session_reply(s, 250, "2.0.0", "Ok: queued as %s", buf);
	} else {
		if (code < 400 || code > 599)
			code = 451;
		if (!valid_dsn(dsn, code))
			dsn = code < 500 ? "4.3.0" : "5.3.0";
		clean_text(buf, sizeof(buf), text[0] != '\0' ? text : "Not queued");
		session_reject(s, "message", code, dsn, "%s", buf);
	}
	s->reqid = 0;		/* answered: nothing to abort */
	txn_reset(s);
	s->state = SS_READY;
	session_resume(s, PAUSE_COMMIT);
}

void
session_qmgr_lost(struct smtpd_session *s, struct chan *c)
{
	if (s->txn_chan != c || s->reqid == 0)
		return;
	s->reqid = 0;
	s->txn_chan = NULL;
	s->txn_lost = true;
	if (s->state == SS_COMMIT) {
		evtimer_del(s->timer);
		txn_lost_reply(s);
		txn_reset(s);
		s->state = SS_READY;
		session_resume(s, PAUSE_COMMIT);
	}
	/* In DATA the rest of the message is read and dropped; 451 at the dot. */
}
