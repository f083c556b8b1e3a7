/* SPDX-License-Identifier: ISC */
/*
 * smtpd_session.c - one SMTP client connection: accepting or refusing it,
 * the socket I/O (a libevent bufferevent), the loop that takes pipelined
 * command lines and DATA octets from the input in order, and replies.
 *
 * Runs in smtpd; smtpd.c calls session_accept() for each connection and the
 * qmgr dispatch calls session_qmgr_*(). Memory per session is bounded: the
 * input buffer stops reading at SMTPD_INPUT_MAX, command lines longer than
 * SMTPD_CMD_MAX are discarded while they arrive, and reading stops while the
 * client does not read its replies or qmgr has not taken the data.
 * A session is freed only from its own event callbacks (never while a
 * caller up the stack still holds it).
 *
 * Replies are written by the session itself (session_flush), once the
 * callback that produced them returns, so pipelined replies go out in one
 * write; the bufferevent's write event is enabled only while a reply does
 * not fit in the socket. Arming and disarming it for every reply cost two
 * epoll_ctl calls per reply.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "xmalloc.h"
#include "smtpd.h"

static void	session_readcb(struct bufferevent *, void *);
static void	session_writecb(struct bufferevent *, void *);
static void	session_eventcb(struct bufferevent *, short, void *);
static void	session_process(struct smtpd_session *);
static void	session_flush(evutil_socket_t, short, void *);
static void	session_output_cb(struct evbuffer *, const struct evbuffer_cb_info *, void *);

static const char *
myname(const struct smtpd *sd)
{
	return sd->conf->helo_name[0] != '\0' ? sd->conf->helo_name : "localhost";
}

/* Printable address of a peer; IPv4-mapped IPv6 shows as IPv4. */
static void
peer_name(const struct sockaddr *sa, char *buf, size_t len, int *family, uint16_t *port)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	*family = sa->sa_family;
	*port = 0;
	if (sa->sa_family == AF_INET) {
		*port = ntohs(sin->sin_port);
		if (inet_ntop(AF_INET, &sin->sin_addr, buf, len) != NULL)
			return;
	} else if (sa->sa_family == AF_INET6) {
		*port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			*family = AF_INET;
			if (inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, len) != NULL)
				return;
		} else if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, len) != NULL)
			return;
	}
	(void)snprintf(buf, len, "unknown");
}

/* Refuse a connection without a session: one reply, best effort, close. */
static void
refuse(int fd, const char *msg)
{
	(void)send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)close(fd);
}

void
session_accept(struct smtpd *sd, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct smtpd_session	*s;
	char			 ip[64], msg[512], why[128];
	const char		*limit;
	uint8_t			 rnd[8];
	int			 family;
	uint16_t		 port;
	size_t			 i;

	peer_name(sa, ip, sizeof(ip), &family, &port);
	if (!config_network_allowed(sd->conf, sa)) {
		log_info("reject: connect from [%s]:%u: 554 5.7.1 relay access denied",
		    ip, port);
		(void)snprintf(msg, sizeof(msg),
		    "554 5.7.1 %s: [%s] is not allowed to submit mail (relay access denied)\r\n",
		    myname(sd), ip);
		refuse(fd, msg);
		return;
	}
	if (sd->stopping || sd->nsessions >= sd->max_sessions) {
		log_info("reject: connect from [%s]:%u: 421 4.3.2 %s", ip, port,
		    sd->stopping ? "shutting down" : "too many sessions");
		(void)snprintf(msg, sizeof(msg), "421 4.3.2 %s %s, try again later\r\n",
		    myname(sd), sd->stopping ? "Service shutting down" :
		    "Too many connections");
		refuse(fd, msg);
		return;
	}
	if ((limit = limit_admit(sd->conf, ip, why, sizeof(why))) != NULL) {
		log_info("reject: connect from [%s]:%u: 421 4.7.0 %s", ip, port, limit);
		(void)snprintf(msg, sizeof(msg),
		    "421 4.7.0 %s Error: too many connections from [%s], try again later\r\n",
		    myname(sd), ip);
		refuse(fd, msg);
		return;
	}

	s = xcalloc(1, sizeof(*s));
	s->sd = sd;
	(void)strlcpy(s->ip, ip, sizeof(s->ip));
	s->family = family;
	s->port = port;
	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		(void)snprintf(s->id + 2 * i, sizeof(s->id) - 2 * i, "%02X", rnd[i]);
	s->state = SS_GREETED;

	if ((s->bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("%s: cannot make a bufferevent for [%s]", s->id, ip);
		limit_release(sd->conf, ip);
		(void)close(fd);
		free(s);
		return;
	}
	if ((s->timer = evtimer_new(sd->base, txn_timer, s)) == NULL)
		fatalx("evtimer_new");
	if ((s->flush = event_new(sd->base, -1, 0, session_flush, s)) == NULL)
		fatalx("event_new");
	bufferevent_setcb(s->bev, session_readcb, session_writecb, session_eventcb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_INPUT_MAX);
	session_set_timeout(s, (int)sd->conf->client_idle_timeout);
	if (evbuffer_add_cb(bufferevent_get_output(s->bev), session_output_cb, s) == NULL)
		fatalx("evbuffer_add_cb");
	/* A new bufferevent writes by itself; here session_flush does. */
	bufferevent_disable(s->bev, EV_WRITE);
	bufferevent_enable(s->bev, EV_READ);

	TAILQ_INSERT_TAIL(&sd->sessions, s, entry);
	sd->nsessions++;
	metric_set(MET_SESSIONS, sd->nsessions);
	smtpd_trace_start(s);
	smtpd_detail(s, "%s: connect from [%s]:%u", s->id, ip, port);
	session_reply(s, 220, NULL, "%s ESMTP outpost", myname(sd));
}

void
session_free(struct smtpd_session *s)
{
	struct smtpd	*sd = s->sd;

	txn_reset(s);
	smtpd_detail(s, "%s: disconnect from [%s]:%u transactions=%u", s->id, s->ip,
	    s->port, s->ntxn);
	smtpd_trace_free(s);
	TAILQ_REMOVE(&sd->sessions, s, entry);
	sd->nsessions--;
	limit_release(sd->conf, s->ip);
	metric_set(MET_SESSIONS, sd->nsessions);
	bufferevent_free(s->bev);
	event_free(s->timer);
	event_free(s->flush);
	free(s);
	smtpd_session_gone(sd);
}

void
session_set_timeout(struct smtpd_session *s, int seconds)
{
	struct timeval	tv = { seconds, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
vreply(struct smtpd_session *s, uint16_t code, const char *dsn, const char *fmt,
    va_list ap)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	char		 text[512];

	(void)vsnprintf(text, sizeof(text), fmt, ap);
	if (dsn != NULL)
		evbuffer_add_printf(out, "%u %s %s\r\n", code, dsn, text);
	else
		evbuffer_add_printf(out, "%u %s\r\n", code, text);
	if (smtpd_trace_on(s))
		smtpd_detail(s, "%s: > %u %s%s%s", s->id, code, dsn ? dsn : "",
		    dsn ? " " : "", text);
}

void
session_reply(struct smtpd_session *s, uint16_t code, const char *dsn,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vreply(s, code, dsn, fmt, ap);
	va_end(ap);
}

void
session_reject(struct smtpd_session *s, const char *what, uint16_t code,
    const char *dsn, const char *fmt, ...)
{
	va_list	ap;
	char	text[512];

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_info("%s: reject: %s from [%s]: %u %s %s; from=<%s> helo=<%s>", s->id,
	    what, s->ip, code, dsn, text, s->sender, s->helo);
	session_reply(s, code, dsn, "%s", text);
}

void
session_close(struct smtpd_session *s)
{
	s->state = SS_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		/* Nothing to flush: the session would never be freed. */
		session_reply(s, 221, NULL, "%s closing connection", myname(s->sd));
	} else if (!(bufferevent_get_enabled(s->bev) & EV_WRITE)) {
		/* A write timeout disabled writing; the last reply must still go out. */
		event_active(s->flush, 0, 0);
	}
}

void
session_pause(struct smtpd_session *s, unsigned why)
{
	s->pause |= why;
	bufferevent_disable(s->bev, EV_READ);
}

void
session_resume(struct smtpd_session *s, unsigned why)
{
	if (!(s->pause & why))
		return;
	s->pause &= ~why;
	if (s->pause != 0 || s->state == SS_CLOSING)
		return;
	bufferevent_enable(s->bev, EV_READ);
	/* Input may already wait in the buffer: no read event would announce it. */
	session_process(s);
}

void
session_stop(struct smtpd_session *s)
{
	if (s->state == SS_GREETED || s->state == SS_READY) {
		session_reply(s, 421, "4.3.2", "%s Service shutting down",
		    myname(s->sd));
		session_close(s);
	}
	/* Others finish their transaction; the command loop stops them after. */
}

/*
 * One command line from the input. Returns 1 when something was consumed,
 * 0 when a complete line has not arrived yet.
 */
static int
command_step(struct smtpd_session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	char		 line[SMTPD_CMD_MAX + 1];
	unsigned char	*p, *lf;
	size_t		 avail, look, n;

	if ((avail = evbuffer_get_length(in)) == 0)
		return 0;
	look = avail < SMTPD_CMD_MAX ? avail : SMTPD_CMD_MAX;
	if ((p = evbuffer_pullup(in, (ssize_t)look)) == NULL)
		fatalx("evbuffer_pullup");
	if ((lf = memchr(p, '\n', look)) == NULL) {
		if (look < SMTPD_CMD_MAX)
			return 0;
		/* No LF within the limit: drop octets as they come, answer at the LF. */
		evbuffer_drain(in, look);
		s->skip_line = true;
		return 1;
	}
	n = (size_t)(lf - p) + 1;
	if (s->skip_line) {
		evbuffer_drain(in, n);
		s->skip_line = false;
		s->nerrors++;
		session_reply(s, 500, "5.5.2", "Line too long (%d octets max)",
		    SMTPD_CMD_MAX);
		return 1;
	}
	memcpy(line, p, n);
	evbuffer_drain(in, n);
	n--;			/* the LF */
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	session_command(s, line, n);
	return 1;
}

static void
session_process(struct smtpd_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	int		 more;

	while (s->pause == 0 && s->state != SS_CLOSING && s->state != SS_COMMIT) {
		if (evbuffer_get_length(out) > SMTPD_OUTPUT_MAX) {
			session_pause(s, PAUSE_OUTPUT);
			break;
		}
		if (s->nerrors >= SMTPD_MAX_ERRORS) {
			session_reply(s, 421, "4.7.0", "%s Too many errors, closing",
			    myname(s->sd));
			log_info("%s: too many errors from [%s], disconnecting",
			    s->id, s->ip);
			session_close(s);
			break;
		}
		if (s->sd->stopping && (s->state == SS_GREETED || s->state == SS_READY)) {
			session_stop(s);
			break;
		}
		if (s->state == SS_DATA)
			more = txn_data(s);
		else
			more = command_step(s);
		if (!more)
			break;
	}
}

static void
session_readcb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

/* New output: write it once the running callback is done. */
static void
session_output_cb(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	struct smtpd_session	*s = arg;

	if (info->n_added > 0 && !(bufferevent_get_enabled(s->bev) & EV_WRITE))
		event_active(s->flush, 0, 0);
}

static void
session_flush(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_session	*s = arg;
	struct evbuffer		*out = bufferevent_get_output(s->bev);

	if (bufferevent_get_enabled(s->bev) & EV_WRITE)
		return;		/* the bufferevent is writing */
	if (evbuffer_get_length(out) > 0) {
		/* The bufferevent keeps its output's start frozen; it thaws it likewise. */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, bufferevent_getfd(s->bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) > 0) {
		/*
		 * The client is slow (EAGAIN) or gone (an error): the
		 * bufferevent writes the rest, with the write timeout, and
		 * reports an error to session_eventcb.
		 */
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	session_writecb(s->bev, s);
}

static void
session_writecb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session	*s = arg;

	/* Called when the output buffer has drained completely. */
	bufferevent_disable(bev, EV_WRITE);
	if (s->state == SS_CLOSING) {
		session_free(s);
		return;
	}
	session_resume(s, PAUSE_OUTPUT);
}

static void
session_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session	*s = arg;

	if ((what & BEV_EVENT_TIMEOUT) && s->state != SS_CLOSING) {
		log_info("%s: timeout from [%s] in state %d", s->id, s->ip, s->state);
		session_reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
		    myname(s->sd));
		session_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		smtpd_detail(s, "%s: connection error from [%s]: %s", s->id, s->ip,
		    strerror(errno));
	else if ((what & BEV_EVENT_EOF) && s->state != SS_CLOSING &&
	    s->state != SS_GREETED && s->state != SS_READY)
		log_info("%s: lost connection from [%s] during a transaction",
		    s->id, s->ip);
	session_free(s);
}
