/* SPDX-License-Identifier: ISC */
/*
 * smtpd.c - the smtpd process: SMTP submission listener. Entry point
 * smtpd_main(), called by the child prologue (shared/proc.c) after it
 * chrooted into the empty directory and dropped to the mail user.
 *
 * Owns the listening sockets the master bound for us, the session list and
 * the link to qmgr (adopted at start and again after every qmgr restart).
 * Frames from qmgr are dispatched here to the session whose transaction
 * they answer; the sessions themselves live in smtpd_session.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "xmalloc.h"
#include "smtpd.h"

static void	smtpd_accept(int, short, void *);

uint32_t
smtpd_reqid(struct smtpd *sd)
{
	if (++sd->next_reqid == 0)
		sd->next_reqid = 1;
	return sd->next_reqid;
}

static struct smtpd_session *
session_by_reqid(struct smtpd *sd, uint32_t reqid)
{
	struct smtpd_session	*s;

	TAILQ_FOREACH(s, &sd->sessions, entry)
		if (s->reqid == reqid && s->state == SS_COMMIT)
			return s;
	return NULL;
}

static int
smtpd_qmgr_dispatch(struct chan *c, struct frame *f, void *arg)
{
	struct smtpd		*sd = arg;
	struct smtpd_session	*s, *next;
	char			 id[QUEUE_ID_MAX], dsn[DSN_MAX], text[REPLY_MAX];
	uint16_t		 code;
	uint64_t		 headroom;
	uint8_t			 low;

	if (f == NULL) {
		if (c == sd->qmgr) {
			log_warnx("link to qmgr lost");
			sd->qmgr = NULL;
			if (!sd->stopping)
				proc_link_down(sd->ctx, PROC_QMGR, 0);
		}
		TAILQ_FOREACH_SAFE(s, &sd->sessions, entry, next)
			session_qmgr_lost(s, c);
		return 0;
	}

	switch (f->hdr.type) {
	case MSG_SUBMIT_QUEUED:
		if (!frame_get_str(f, id, sizeof(id)) || !frame_end(f) || id[0] == '\0')
			return -1;
		if ((s = session_by_reqid(sd, f->hdr.reqid)) != NULL && s->txn_chan == c)
			session_qmgr_answer(s, id, 0, NULL, NULL);
		else {
			/* Not undone: the client may send it again (a duplicate), never lose it. */
			for (char *p = id; *p != '\0'; p++)
				if (*p < 0x21 || *p > 0x7e)
					*p = '?';
			log_info("queued as %s, but the client left before hearing it", id);
		}
		return 0;
	case MSG_SUBMIT_ERROR:
		if (!frame_get_u16(f, &code) || !frame_get_str(f, dsn, sizeof(dsn)) ||
		    !frame_get_str(f, text, sizeof(text)) || !frame_end(f))
			return -1;
		if ((s = session_by_reqid(sd, f->hdr.reqid)) != NULL && s->txn_chan == c)
			session_qmgr_answer(s, NULL, code, dsn, text);
		return 0;
	case MSG_QMGR_SPACE:
		if (!frame_get_u8(f, &low) || !frame_get_u64(f, &headroom) ||
		    !frame_end(f))
			return -1;
		if (c == sd->qmgr) {
			sd->space_low = low != 0;
			sd->space_headroom = headroom;
		}
		return 0;
	default:
		log_warnx("unexpected %s frame from qmgr", msg_name(f->hdr.type));
		return -1;
	}
}

void
smtpd_qmgr_link(struct smtpd *sd, int fd)
{
	struct chan	*old = sd->qmgr;

	sd->qmgr = chan_new(sd->base, fd, "qmgr", smtpd_qmgr_dispatch, sd);
	/* A new qmgr tells its free space at once; until then assume room. */
	sd->space_low = false;
	sd->space_headroom = UINT64_MAX;
	/* A new link means qmgr restarted: the old one is dead or dying. */
	if (old != NULL)
		chan_close(old, "replaced by a new qmgr link");
	log_info("link to qmgr up");
}

void
smtpd_init(struct smtpd *sd, struct event_base *base, const struct config *conf)
{
	memset(sd, 0, sizeof(*sd));
	sd->base = base;
	sd->conf = conf;
	TAILQ_INIT(&sd->sessions);
	sd->space_headroom = UINT64_MAX;
	sd->max_sessions = conf->limits[PROC_SMTPD].max_sessions;
	if (sd->max_sessions == 0)
		sd->max_sessions = SMTPD_DEFAULT_SESSIONS;
	if ((sd->accept_pause = evtimer_new(base, smtpd_accept, sd)) == NULL)
		fatalx("evtimer_new");
}

void
smtpd_listen(struct smtpd *sd, int fd)
{
	struct event	*ev;

	if (sd->nlisten >= sizeof(sd->listen_ev) / sizeof(sd->listen_ev[0]))
		fatalx("too many listening sockets");
	if ((ev = event_new(sd->base, fd, EV_READ | EV_PERSIST, smtpd_accept, sd)) == NULL)
		fatalx("event_new");
	event_add(ev, NULL);
	sd->listen_ev[sd->nlisten++] = ev;
}

static void
listeners_enable(struct smtpd *sd, bool on)
{
	unsigned	i;

	for (i = 0; i < sd->nlisten; i++) {
		if (on)
			event_add(sd->listen_ev[i], NULL);
		else
			event_del(sd->listen_ev[i]);
	}
}

static void
smtpd_accept(int fd, short ev, void *arg)
{
	struct smtpd		*sd = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	socklen_t		 len;
	unsigned		 i;
	int			 s;

	if (fd == -1) {
		/* The pause after EMFILE is over: listen again. */
		if (!sd->stopping)
			listeners_enable(sd, true);
		return;
	}
	/* Take what is waiting, a bounded number per wakeup. */
	for (i = 0; i < 64; i++) {
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("accept");
				listeners_enable(sd, false);
				evtimer_add(sd->accept_pause, &tv);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		session_accept(sd, s, (struct sockaddr *)&ss, len);
	}
}

static void
smtpd_stop_deadline(int fd, short ev, void *arg)
{
	struct smtpd		*sd = arg;
	struct smtpd_session	*s, *next;

	if (sd->nsessions > 0)
		log_info("shutdown: dropping %u sessions", sd->nsessions);
	TAILQ_FOREACH_SAFE(s, &sd->sessions, entry, next)
		session_free(s);
	if (sd->ctx != NULL)
		proc_exit_loop(sd->ctx);
}

void
smtpd_session_gone(struct smtpd *sd)
{
	if (sd->stopping && sd->nsessions == 0 && sd->ctx != NULL)
		proc_exit_loop(sd->ctx);
}

void
smtpd_stop(struct smtpd *sd)
{
	struct smtpd_session	*s;
	struct timeval		 tv = { SMTPD_SHUTDOWN_WAIT, 0 };

	if (sd->stopping)
		return;
	sd->stopping = true;
	listeners_enable(sd, false);
	evtimer_del(sd->accept_pause);
	TAILQ_FOREACH(s, &sd->sessions, entry)
		session_stop(s);
	if (sd->nsessions == 0) {
		if (sd->ctx != NULL)
			proc_exit_loop(sd->ctx);
		return;
	}
	if ((sd->stop_ev = evtimer_new(sd->base, smtpd_stop_deadline, sd)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(sd->stop_ev, &tv);
}

static void
smtpd_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct smtpd	*sd = ctx->arg;

	if (kind != PROC_QMGR) {
		log_warnx("unexpected link to %s", proc_kind_name(kind));
		(void)close(fd);
		return;
	}
	smtpd_qmgr_link(sd, fd);
}

static void
smtpd_on_shutdown(struct proc_ctx *ctx)
{
	smtpd_stop(ctx->arg);
}

void
smtpd_main(struct proc_ctx *ctx)
{
	struct smtpd	*sd;
	unsigned	 i;

	/* A client that vanished must not kill the process with SIGPIPE. */
	(void)signal(SIGPIPE, SIG_IGN);

	sd = xcalloc(1, sizeof(*sd));
	smtpd_init(sd, ctx->base, ctx->conf);
	sd->ctx = ctx;
	ctx->arg = sd;
	ctx->on_peer = smtpd_on_peer;
	ctx->on_shutdown = smtpd_on_shutdown;
	for (i = 0; i < ctx->nlisten; i++)
		smtpd_listen(sd, ctx->listen_fds[i]);
	if (ctx->nlisten == 0)
		log_warnx("no listening sockets: SMTP submission is off");
	log_info("started: %u listeners, %u sessions max, message size %llu, "
	    "%u recipients max", ctx->nlisten, sd->max_sessions,
	    (unsigned long long)ctx->conf->max_message_size, ctx->conf->max_recipients);
}
