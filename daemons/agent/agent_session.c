/* SPDX-License-Identifier: ISC */
/*
 * agent_session.c - one SMTP client connection of the delivery agent: the
 * RFC 5321 state machine from connect to QUIT, run inside the agent's
 * libevent loop (many sessions at once, nothing blocks).
 *
 *   CONNECT [-> TLS (smtps)] -> GREETING -> EHLO (-> HELO)
 *   [-> STARTTLS -> TLS -> EHLO] [-> AUTH (relay host only)] -> [RSET] -> MAIL
 *   -> RCPT... -> DATA -> BODY -> DOT -> IDLE (reusable) -> [next job: RSET ...] or QUIT
 *
 * TLS follows the job's policy (msg.h AGENT_DELIVER): "may" uses STARTTLS
 * when offered and, when the handshake fails, connects to the same address
 * again in clear; "encrypt" and "verify" send nothing in clear but the
 * greeting, EHLO and STARTTLS, and fail the attempt temporarily otherwise.
 * libevent's OpenSSL filter is put on top of the socket's bufferevent
 * (agent_tls.c makes the SSL). Each transaction logs one basic line with
 * the TLS protocol, cipher and whether the peer was verified.
 *
 * With PIPELINING, MAIL and every RCPT go out in one write and DATA after
 * their replies. A failure before the transaction (connect, greeting, EHLO)
 * moves on to the job's next address; once MAIL is sent, failures become
 * per-recipient results. A session whose server misbehaves (malformed or
 * oversize replies, stalls, drops) is closed and its recipients deferred:
 * it never costs more than that session.
 *
 * A session is freed only from a zero-delay event (sess_free_cb), so a
 * callback that closes it never runs on freed memory; callers check s->dead.
 * agent.c creates sessions (session_new), hands idle ones new jobs
 * (session_take) and closes them at shutdown; the session owns the
 * sessions list and counters of struct agent.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sodium.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "tlsrpt.h"
#include "xmalloc.h"

#include "agent.h"

#define DATA_HIWAT		(64 * 1024)	/* stop reading content above this much unsent output */
#define DATA_LOWAT		(16 * 1024)	/* resume below this */
#define READ_HIWAT		(4 * REPLY_LINE_MAX)
#define CMD_MAX			(ADDR_MAX + 128)
#define QUIT_STOP_TIMEOUT	5		/* seconds for QUIT while stopping */


static void	sess_read_cb(struct bufferevent *, void *);
static void	sess_write_cb(struct bufferevent *, void *);
static void	sess_event_cb(struct bufferevent *, short, void *);
static void	sess_timer_cb(evutil_socket_t, short, void *);
static void	sess_free_cb(evutil_socket_t, short, void *);
static void	sess_connect_next(struct agent_session *);
static void	sess_begin(struct agent_session *);
static void	sess_next(struct agent_session *);
static void	sess_error(struct agent_session *, const char *dsn, const char *text);
static void	sess_fail(struct agent_session *, const char *dsn, const char *text, bool warn);
static void	sess_after_ehlo(struct agent_session *);
static void	sess_tls_start(struct agent_session *);
static void	sess_tls_failed(struct agent_session *, const char *why);
static void	sess_tls_up(struct agent_session *);
static void	sess_ready(struct agent_session *);
static void	sess_auth_start(struct agent_session *);
static void	sess_conn_failed(struct agent_session *, uint16_t code, const char *dsn,
		    const char *text, bool warn);

/* Messages are cut to their buffer on purpose: replies are bounded, not precious. */
static void __attribute__((format(printf, 3, 4)))
textf(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static const char *
sess_id(const struct agent_session *s)
{
	return s->job != NULL ? s->job->id : "-";
}

static void
sess_timer(struct agent_session *s, enum agent_stage stage)
{
	struct timeval	 tv = { agent_timeout(stage), 0 };

	if (stage == STAGE_QUIT && s->agent->stopping && tv.tv_sec > QUIT_STOP_TIMEOUT)
		tv.tv_sec = QUIT_STOP_TIMEOUT;
	s->stage = stage;
	evtimer_add(s->timer, &tv);
}

static void	sess_job_done(struct agent_session *);
static void	sess_seg_free(struct agent_session *);
static void	sess_trace(const struct agent_session *);

/* [destinations] mails_per_connection and reuse of the job's destination. */
static void
sess_conn_limits(struct agent_session *s, const struct agent_job *j)
{
	s->mails_max = j->mails_per_conn ? j->mails_per_conn :
	    s->agent->conf->max_mails_per_connection;
	s->no_reuse = j->reuse == 0;
}

/*
 * Free the connection. A TLS session that was up is marked as shut down:
 * OpenSSL drops a session from the resumption cache when its connection is
 * freed without a close_notify, and SMTP servers close after QUIT anyway.
 */
static void
sess_free_bev(struct agent_session *s)
{
	SSL	*ssl;

	agent_race_cancel(s);
	if (s->bev == NULL)
		return;
	if (s->tls && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	bufferevent_free(s->bev);
	s->bev = NULL;
}

/*
 * Close the connection now; the memory goes in the next loop turn. Callers
 * answer the job first; one still attached is deferred here, so every job
 * gets its one answer whatever path closed the session.
 */
static void
sess_close(struct agent_session *s)
{
	if (s->dead)
		return;
	if (s->job != NULL) {
		job_fail_rest(s->job, DELIVERY_TEMPFAIL, 0, "4.3.0", "delivery interrupted");
		sess_job_done(s);
	}
	s->dead = true;
	sess_free_bev(s);
	evtimer_del(s->timer);
	event_active(s->ev_free, 0, 0);
}

static void
sess_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_session	*s = arg;
	struct agent		*a = s->agent;

	TAILQ_REMOVE(&a->sessions, s, entry);
	if (s->state == S_QUIT)
		a->nquitting--;
	else
		a->nsessions--;
	metric_set(MET_SESSIONS, a->nsessions);
	event_free(s->timer);
	event_free(s->ev_free);
	reply_free(&s->reply);
	sess_seg_free(s);
	free(s);
	agent_session_gone(a);
}

/* Detailed lines for this session's work only if it is traced (log.h). */
static void
sess_trace(const struct agent_session *s)
{
	log_trace(s->job != NULL && s->job->traced);
}

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The session is done with its job: answer the scheduler. */
static void
sess_job_done(struct agent_session *s)
{
	struct agent_job	*j = s->job;

	if (s->txn_start_ms != 0) {
		metric_observe(MET_H_SMTP, (now_ms() - s->txn_start_ms) / 1000.0);
		s->txn_start_ms = 0;
	}
	sess_seg_free(s);
	if (j == NULL)
		return;
	s->job = NULL;
	j->sess = NULL;
	agent_job_done(s->agent, j);
}

/*
 * Command lines are built here only, from validated addresses and numbers.
 * The mask flag is the hook for AUTH (credentials are never logged).
 */
static void
sess_cmd(struct agent_session *s, const char *fmt, ...)
{
	char		 buf[CMD_MAX];
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		fatalx("agent: SMTP command too long");
	if (log_detailed()) {
		char	 shown[CMD_MAX];

		/* "AUTH <mechanism>" only: an initial response is a credential. */
		auth_mask(buf, false, shown, sizeof(shown));
		log_detail("%s: %s: > %s", sess_id(s), s->relay, shown);
	}
	memcpy(buf + n, "\r\n", 2);
	evbuffer_add(bufferevent_get_output(s->bev), buf, n + 2);
}

static void
secret_free_cb(const void *data, size_t len, void *arg)
{
	sodium_free((void *)(uintptr_t)data);
}

/*
 * An AUTH line carrying credentials: prefix ("AUTH PLAIN " or "") and the
 * base64 response of this step. The bytes live in guarded memory handed to
 * the output buffer by reference and wiped (sodium_free) once written; the
 * log shows only the mask.
 */
static bool
sess_cmd_secret(struct agent_session *s, const char *prefix)
{
	char	*buf;
	size_t	 pl = strlen(prefix);
	int	 n;

	if ((buf = sodium_malloc(AUTH_LINE_MAX)) == NULL)
		fatalx("agent: sodium_malloc");
	memcpy(buf, prefix, pl);
	n = auth_response(s->auth_mech, s->auth_step, buf + pl, AUTH_LINE_MAX - pl - 2);
	if (n < 0) {
		sodium_free(buf);
		return false;
	}
	memcpy(buf + pl + n, "\r\n", 2);
	if (log_detailed())
		log_detail("%s: %s: > %s%s", sess_id(s), s->relay, prefix, "****");
	if (evbuffer_add_reference(bufferevent_get_output(s->bev), buf, pl + n + 2,
	    secret_free_cb, NULL) == -1) {
		sodium_free(buf);
		return false;
	}
	return true;
}

void
session_new(struct agent *a, struct agent_job *j)
{
	struct agent_session	*s;

	s = xcalloc(1, sizeof(*s));
	s->agent = a;
	s->sid = ++a->next_sid;
	s->state = S_CONNECT;
	reply_init(&s->reply);
	if ((s->timer = evtimer_new(a->ctx->base, sess_timer_cb, s)) == NULL ||
	    (s->ev_free = event_new(a->ctx->base, -1, 0, sess_free_cb, s)) == NULL)
		fatalx("agent: event_new");
	TAILQ_INSERT_TAIL(&a->sessions, s, entry);
	a->nsessions++;
	metric_set(MET_SESSIONS, a->nsessions);
	s->job = j;
	j->sess = s;
	sess_trace(s);
	sess_conn_limits(s, j);
	sess_connect_next(s);
}

/* Every address failed, or none was given: the job is deferred. */
static void
sess_all_failed(struct agent_session *s)
{
	struct agent_job	*j = s->job;

	if (j->last_err[0] == '\0')
		strlcpy(j->last_err, j->naddr == 0 ? "no address to deliver to" :
		    "no address could be tried", sizeof(j->last_err));
	job_fail_rest(j, DELIVERY_TEMPFAIL, j->last_code,
	    j->last_dsn[0] != '\0' ? j->last_dsn : "4.4.1", j->last_err);
	sess_job_done(s);
	sess_close(s);
}

static void
sess_connect_next(struct agent_session *s)
{
	struct agent_job	*j = s->job;
	struct agent_addr	*a;
	int			 e;

	sess_free_bev(s);
	evtimer_del(s->timer);
	memset(&s->caps, 0, sizeof(s->caps));
	reply_reset(&s->reply);
	s->used = s->reused = false;
	s->nmails = 0;
	s->tls = s->tls_verified = s->dane_verified = s->authed = false;
	s->no_starttls = false;
	s->tlsrpt_sent = false;
	s->auth_mech = AUTH_MECH_NONE;
	s->auth_step = 0;
	s->tls_info[0] = '\0';

	for (;;) {
		if (j == NULL || s->agent->stopping) {
			if (j != NULL) {
				job_fail_rest(j, DELIVERY_TEMPFAIL, 0, "4.3.2", "delivery agent shutting down");
				sess_job_done(s);
			}
			sess_close(s);
			return;
		}
		if (j->retry_clear && j->next_addr > 0 && j->tries < AGENT_MAX_TRIES) {
			/* The TLS handshake failed under "may": the same host, in clear. */
			j->retry_clear = false;
			s->no_starttls = true;
			j->next_addr--;
		} else
			j->retry_clear = false;
		if (j->next_addr >= j->naddr || j->tries >= AGENT_MAX_TRIES) {
			sess_all_failed(s);
			return;
		}
		a = &j->addrs[j->next_addr++];
		j->tries++;
		s->addr = *a;
		s->tls_policy = dane_addr_policy(j, a);
		s->dflags = j->dflags;
		textf(s->relay, sizeof(s->relay), "%s[%s]:%u", a->host, a->ip, a->port);
		textf(s->tls_key, sizeof(s->tls_key), "%u/%s", s->tls_policy, s->relay);
		s->state = S_CONNECT;
		if (!s->no_starttls && agent_race_start(s, j->next_addr - 1,
		    s->agent->conf->happy_eyeballs_delay)) {
			sess_timer(s, STAGE_CONNECT);
			return;
		}
		s->bev = bufferevent_socket_new(s->agent->ctx->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (s->bev == NULL)
			fatalx("agent: bufferevent_socket_new");
		bufferevent_setcb(s->bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
		bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIWAT);
		bufferevent_setwatermark(s->bev, EV_WRITE, DATA_LOWAT, 0);
		log_detail("%s: connecting to %s", j->id, s->relay);
		if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&a->ss, a->sslen) == 0) {
			sess_timer(s, STAGE_CONNECT);
			return;
		}
		e = errno;
		textf(j->last_err, sizeof(j->last_err), "connect to %s: %s", s->relay, strerror(e));
		strlcpy(j->last_dsn, "4.4.1", sizeof(j->last_dsn));
		j->last_code = 0;
		log_info("%s: %s", j->id, j->last_err);
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
}

/* Happy Eyeballs (agent_connect.c): the connection that answered first. */
void
session_race_won(struct agent_session *s, int fd, unsigned index)
{
	struct agent_job	*j = s->job;
	struct agent_addr	 t;

	/* The winner sits just before next_addr, where a retry in clear looks. */
	if (index + 2 == j->next_addr) {
		t = j->addrs[index];
		j->addrs[index] = j->addrs[index + 1];
		j->addrs[index + 1] = t;
		index++;
	}
	s->addr = j->addrs[index];
	textf(s->relay, sizeof(s->relay), "%s[%s]:%u", s->addr.host, s->addr.ip, s->addr.port);
	textf(s->tls_key, sizeof(s->tls_key), "%u/%s", j->tls, s->relay);
	s->bev = bufferevent_socket_new(s->agent->ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("agent: bufferevent_socket_new");
	bufferevent_setcb(s->bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIWAT);
	bufferevent_setwatermark(s->bev, EV_WRITE, DATA_LOWAT, 0);
	evtimer_del(s->timer);
	sess_event_cb(s->bev, BEV_EVENT_CONNECTED, s);
}

/* Both families failed at once (refused, unreachable): the next addresses. */
void
session_race_lost(struct agent_session *s, const char *text)
{
	sess_error(s, "4.4.1", text);
}

/* A failure before the transaction: record it, try the next address. */
static void
sess_conn_failed(struct agent_session *s, uint16_t code, const char *dsn, const char *text,
    bool warn)
{
	struct agent_job	*j = s->job;

	if (warn)
		log_warnx("%s: %s", sess_id(s), text);
	else
		log_info("%s: %s", sess_id(s), text);
	if (j == NULL) {
		sess_close(s);
		return;
	}
	metric_inc(MET_CONN_FAILED);
	strlcpy(j->last_err, text, sizeof(j->last_err));
	strlcpy(j->last_dsn, dsn, sizeof(j->last_dsn));
	j->last_code = code;
	sess_connect_next(s);
}

/*
 * Every failure that is not a server reply (drop, timeout, malformed reply,
 * local error) lands here and is judged by where the session was.
 */
static void
sess_error(struct agent_session *s, const char *dsn, const char *text)
{
	sess_fail(s, dsn, text, false);
}

/* warn: the server broke the protocol (logged at warning level). */
static void
sess_fail(struct agent_session *s, const char *dsn, const char *text, bool warn)
{
	struct agent_job	*j = s->job;

	switch (s->state) {
	case S_CONNECT:
	case S_GREETING:
	case S_EHLO:
	case S_HELO:
	case S_STARTTLS:
	case S_AUTH:
		sess_conn_failed(s, 0, dsn, text, warn);
		return;
	case S_TLS:
		sess_tls_failed(s, text);
		return;
	case S_IDLE:
	case S_QUIT:
		log_detail("%s: %s", sess_id(s), text);
		sess_close(s);
		return;
	case S_RSET:
	case S_MAIL:
		/*
		 * A connection kept open may have been closed by the server in
		 * the meantime: nothing was accepted yet, so the job gets one
		 * more chance on a new connection.
		 */
		if (j != NULL && s->reused && !s->mail_replied && !j->fresh_only) {
			log_detail("%s: %s; retrying on a new connection", j->id, text);
			j->fresh_only = true;
			s->job = NULL;
			j->sess = NULL;
			sess_close(s);
			agent_job_requeue(s->agent, j);
			return;
		}
		break;
	default:
		break;
	}
	if (warn)
		log_warnx("%s: %s", sess_id(s), text);
	else
		log_info("%s: %s", sess_id(s), text);
	if (j != NULL) {
		job_fail_rest(j, DELIVERY_TEMPFAIL, 0, dsn, text);
		sess_job_done(s);
	}
	sess_close(s);
}

static void
sess_protocol_error(struct agent_session *s, const char *why)
{
	char	 text[REPLY_MAX];

	textf(text, sizeof(text), "%s sent a malformed reply (%s) while %s",
	    s->relay, why, agent_stage_name(s->stage));
	sess_fail(s, "4.5.0", text, true);
}

static void
sess_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct agent_session	*s = arg;
	char			 text[REPLY_MAX];
	int			 e;

	sess_trace(s);

	if ((events & BEV_EVENT_CONNECTED) && s->state == S_TLS) {
		sess_tls_up(s);
		return;
	}
	if ((events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && s->state == S_TLS) {
		unsigned long	 err = 0, oe;

		/* The first error says why; the rest are consequences. */
		while ((oe = bufferevent_get_openssl_error(bev)) != 0)
			if (err == 0)
				err = oe;
		tls_failure(bufferevent_openssl_get_ssl(bev), err, text, sizeof(text));
		sess_tls_failed(s, text);
		return;
	}
	if (events & BEV_EVENT_CONNECTED) {
		/*
		 * Whole commands and large blocks are written at once: Nagle
		 * would only hold back the last segment of each (the final dot).
		 */
		e = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &e, sizeof(e));
		log_detail("%s: connected to %s", sess_id(s), s->relay);
		agent_connect_answered(s->job, &s->addr);
		if (s->dflags & DELIVER_F_SMTPS) {
			/* Implicit TLS: the handshake comes before the greeting. */
			sess_tls_start(s);
			return;
		}
		s->state = S_GREETING;
		sess_timer(s, STAGE_GREETING);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (s->state == S_CONNECT) {
		e = EVUTIL_SOCKET_ERROR();
		/* libevent reports an immediate refusal without errno. */
		if (e == 0 || e == EINPROGRESS || e == EAGAIN)
			e = ECONNREFUSED;
		textf(text, sizeof(text), "connect to %s: %s", s->relay, strerror(e));
		sess_error(s, "4.4.1", text);
		return;
	}
	if (s->state == S_IDLE)
		textf(text, sizeof(text), "%s closed the idle connection", s->relay);
	else if (events & BEV_EVENT_ERROR)
		textf(text, sizeof(text), "lost connection with %s while %s: %s", s->relay,
		    agent_stage_name(s->stage), strerror(EVUTIL_SOCKET_ERROR()));
	else
		textf(text, sizeof(text), "lost connection with %s while %s", s->relay,
		    agent_stage_name(s->stage));
	sess_error(s, "4.4.2", text);
}

static void
sess_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_session	*s = arg;
	char			 text[REPLY_MAX];

	sess_trace(s);

	switch (s->state) {
	case S_IDLE:
		log_detail("-: %s: idle for %us, closing", s->relay, s->agent->conf->connection_idle);
		session_quit(s);
		return;
	case S_QUIT:
		sess_close(s);
		return;
	case S_CONNECT:
		textf(text, sizeof(text), "connect to %s: Connection timed out", s->relay);
		agent_connect_timed_out(s->job, &s->addr, text);
		sess_error(s, "4.4.1", text);
		return;
	case S_TLS:
		sess_tls_failed(s, "the handshake timed out");
		return;
	default:
		textf(text, sizeof(text), "conversation with %s timed out while %s", s->relay,
		    agent_stage_name(s->stage));
		sess_error(s, "4.4.2", text);
		return;
	}
}

static unsigned
next_valid(const struct agent_job *j, unsigned i)
{
	while (i < j->nrcpt && !j->rcpts[i].valid)
		i++;
	return i;
}

static void
sess_send_rcpt(struct agent_session *s)
{
	struct agent_job	*j = s->job;

	s->rcpt_next = next_valid(j, s->rcpt_next);
	sess_cmd(s, "RCPT TO:<%s>", j->rcpts[s->rcpt_next].addr);
	s->rcpt_next = next_valid(j, s->rcpt_next + 1);
	s->rcpt_sent++;
}

/* Checks that need no round trip, then MAIL (and the RCPTs when pipelining). */
static void
sess_send_mail(struct agent_session *s)
{
	struct agent_job	*j = s->job;
	char			 text[REPLY_MAX], params[64];
	unsigned		 i, nvalid = 0;

	if (!j->sender_valid) {
		job_fail_rest(j, DELIVERY_PERMFAIL, 0, "5.1.7", "bad sender address syntax");
		sess_next(s);
		return;
	}
	if (s->caps.size && s->caps.size_max > 0 && j->len > s->caps.size_max) {
		textf(text, sizeof(text), "message size %llu exceeds size limit %llu of server %s",
		    (unsigned long long)j->len, (unsigned long long)s->caps.size_max, s->relay);
		log_info("%s: %s", j->id, text);
		job_fail_rest(j, DELIVERY_PERMFAIL, 0, "5.3.4", text);
		sess_next(s);
		return;
	}
	if ((j->flags & MAIL_F_8BIT) && !s->caps.eightbitmime) {
		textf(text, sizeof(text), "message has 8-bit content but server %s "
		    "does not support 8BITMIME", s->relay);
		log_info("%s: %s", j->id, text);
		job_fail_rest(j, DELIVERY_PERMFAIL, 0, "5.6.3", text);
		sess_next(s);
		return;
	}
	for (i = 0; i < j->nrcpt; i++) {
		if (j->rcpts[i].valid)
			nvalid++;
		else if (!j->rcpts[i].final)
			job_rcpt_set(&j->rcpts[i], DELIVERY_PERMFAIL, 0, "5.1.3",
			    "bad recipient address syntax");
	}
	if (nvalid == 0) {
		job_fail_rest(j, DELIVERY_PERMFAIL, 0, "5.1.3", "no valid recipient");
		sess_next(s);
		return;
	}

	params[0] = '\0';
	if (s->caps.size)
		snprintf(params, sizeof(params), " SIZE=%llu", (unsigned long long)j->len);
	if ((j->flags & MAIL_F_8BIT) && s->caps.eightbitmime)
		strlcat(params, " BODY=8BITMIME", sizeof(params));
	strlcpy(j->relay, s->relay, sizeof(j->relay));
	log_info("%s: relay=%s, %s, tls=%s", j->id, s->relay, s->tls ? s->tls_info :
	    s->tls_info[0] != '\0' ? s->tls_info : "no TLS", !s->tls ? "none" :
	    s->dane_verified ? "dane-verified" : s->tls_verified && s->tls_policy == TLS_STS ?
	    "sts-verified" : s->tls_verified ? "verified" : "encrypted");
	s->used = true;
	s->nmails++;
	s->mail_replied = s->mail_ok = false;
	s->rcpt_next = 0;
	s->rcpt_rnext = next_valid(j, 0);
	s->rcpt_sent = s->rcpt_replied = s->naccepted = 0;
	s->txn_start_ms = now_ms();
	sess_cmd(s, "MAIL FROM:<%s>%s", j->sender, params);
	if (s->caps.pipelining)
		while (s->rcpt_sent < nvalid)
			sess_send_rcpt(s);
	s->state = S_MAIL;
	sess_timer(s, STAGE_MAIL);
}

/* A transaction ended (with results or not): answer, then go idle or quit. */
static void
sess_transaction_end(struct agent_session *s)
{
	if (s->job != NULL) {
		job_fail_rest(s->job, DELIVERY_TEMPFAIL, 0, "4.0.0", "transaction ended without a result");
		sess_job_done(s);
	}
	sess_next(s);
}

static void
sess_next(struct agent_session *s)
{
	const struct config	*conf = s->agent->conf;
	struct timeval		 tv = { conf->connection_idle, 0 };

	sess_job_done(s);
	if (s->dead)
		return;
	if (s->agent->stopping || s->nmails >= s->mails_max || s->no_reuse ||
	    conf->connection_idle == 0) {
		session_quit(s);
		return;
	}
	s->state = S_IDLE;
	s->reused = false;
	evtimer_add(s->timer, &tv);
	agent_dispatch(s->agent);
}

/*
 * Queue len bytes of the job's content from off for sendfile(). The session
 * sends from a descriptor of its own (closed with the last chain that uses
 * it), so the job's may close whenever its answer is in.
 */
static int
sess_sendfile(struct agent_session *s, uint64_t off, size_t len)
{
	struct agent_job	*j = s->job;
	int			 fd;

	if (s->seg == NULL) {
		if ((fd = dup(j->fd)) == -1)
			return -1;
		s->seg = evbuffer_file_segment_new(fd, (ev_off_t)j->off, (ev_off_t)j->len,
		    EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_LOCKING);
		if (s->seg == NULL) {
			close(fd);
			return -1;
		}
	}
	return evbuffer_add_file_segment(bufferevent_get_output(s->bev), s->seg,
	    (ev_off_t)off, (ev_off_t)len);
}

static void
sess_seg_free(struct agent_session *s)
{
	if (s->seg != NULL) {
		evbuffer_file_segment_free(s->seg);
		s->seg = NULL;
	}
}

/* Content in blocks, as fast as the server takes it, never all at once. */
static void
sess_push_body(struct agent_session *s)
{
	struct agent_job	*j = s->job;
	struct evbuffer		*out = bufferevent_get_output(s->bev);
	struct evbuffer_iovec	 vec;
	const uint8_t		*map, *src, *nl;
	size_t			 span;
	uint8_t			 fin[DATA_ENC_FINISH_MAX];
	char			 text[REPLY_MAX];
	size_t			 want;
	ssize_t			 n, m;

	/*
	 * The stored DKIM-Signature fields go first, through the same encoder;
	 * the queued content is never rewritten (its descriptor is read-only).
	 */
	if (s->enc.in == 0 && j->dkim != NULL && j->dkim[0] != '\0') {
		size_t dl = strlen(j->dkim);
		if (evbuffer_reserve_space(out, DATA_ENC_OUTMAX(dl), &vec, 1) != 1)
			fatalx("agent: evbuffer_reserve_space");
		m = data_enc_feed(&s->enc, (const uint8_t *)j->dkim, dl, vec.iov_base);
		vec.iov_len = m < 0 ? 0 : (size_t)m;
		evbuffer_commit_space(out, &vec, 1);
	}
	map = job_map(j);
	while (evbuffer_get_length(out) < DATA_HIWAT && s->data_off < j->len) {
		want = j->len - s->data_off;
		if (want > AGENT_BLOCK)
			want = AGENT_BLOCK;
		if (map != NULL) {
			src = map + j->off + s->data_off;
			n = (ssize_t)want;
			/*
			 * Plain TCP: what needs no encoding goes from the file to
			 * the socket by sendfile(), never copied here; the encoder
			 * takes only the lines that need it (a dot to double, a
			 * line end to fix), one at a time. Through TLS every byte
			 * is encrypted here anyway: the encoder reads the mapping.
			 */
			if (!s->tls) {
				if ((span = data_enc_clean(&s->enc, src, want)) > 0) {
					if (span < AGENT_SENDFILE_MIN ||
					    sess_sendfile(s, s->data_off, span) == -1)
						evbuffer_add(out, src, span);
					s->data_off += span;
					continue;
				}
				if ((nl = memchr(src, '\n', want)) != NULL)
					n = nl - src + 1;
			}
		} else {
			src = s->agent->rdbuf;
			n = pread(j->fd, s->agent->rdbuf, want, j->off + s->data_off);
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			textf(text, sizeof(text), "cannot read the queued mail: %s",
			    n == 0 ? "shorter than announced" : strerror(errno));
			log_warnx("%s: %s", j->id, text);
			/* Dropped before the final dot: the server discards it. */
			job_fail_rest(j, DELIVERY_TEMPFAIL, 0, "4.3.0", text);
			sess_job_done(s);
			sess_close(s);
			return;
		}
		if (evbuffer_reserve_space(out, DATA_ENC_OUTMAX(n), &vec, 1) != 1)
			fatalx("agent: evbuffer_reserve_space");
		m = data_enc_feed(&s->enc, src, n, vec.iov_base);
		if (m < 0) {
			textf(text, sizeof(text), "%s", data_enc_strerror(m));
			log_info("%s: %s; not delivered to %s", j->id, text, s->relay);
			vec.iov_len = 0;
			evbuffer_commit_space(out, &vec, 1);
			job_fail_rest(j, DELIVERY_PERMFAIL, 0,
			    m == DATA_ERR_8BIT ? "5.6.3" : "5.6.0", text);
			sess_job_done(s);
			sess_close(s);
			return;
		}
		vec.iov_len = m;
		evbuffer_commit_space(out, &vec, 1);
		s->data_off += n;
	}
	if (s->data_off >= j->len) {
		m = data_enc_finish(&s->enc, fin);
		evbuffer_add(out, fin, m);
		log_detail("%s: %s: > [%llu octets of content, %llu on the wire] .", j->id, s->relay,
		    (unsigned long long)s->enc.in, (unsigned long long)s->enc.out);
		s->state = S_DOT;
		sess_timer(s, STAGE_DATA_END);
		return;
	}
	sess_timer(s, STAGE_DATA_BLOCK);
}

static void
sess_write_cb(struct bufferevent *bev, void *arg)
{
	struct agent_session	*s = arg;

	sess_trace(s);

	if (s->state == S_BODY && !s->dead)
		sess_push_body(s);
}

static void
sess_ready(struct agent_session *s)
{
	if (!s->counted) {
		s->counted = true;
		metric_inc(MET_CONN_OK);
		metric_inc(!s->tls ? MET_TLS_NONE : s->tls_verified ? MET_TLS_VERIFIED :
		    MET_TLS_ENCRYPTED);
	}
	if (s->job == NULL) {
		/* The job was dropped while connecting. */
		sess_next(s);
		return;
	}
	sess_begin(s);
}

static void
sess_begin(struct agent_session *s)
{
	if (s->used) {
		sess_cmd(s, "RSET");
		s->state = S_RSET;
		sess_timer(s, STAGE_RSET);
		return;
	}
	sess_send_mail(s);
}

/* ------------------------------------------------------------------ */
/* STARTTLS, implicit TLS and AUTH: between EHLO and the first MAIL    */

static const char *
policy_name(int p)
{
	return tls_policy_name(p);
}

/* After EHLO (or HELO): TLS first, then AUTH, then the transaction. */
static void
sess_after_ehlo(struct agent_session *s)
{
	char	 text[REPLY_MAX];

	if (!s->tls && s->tls_policy != TLS_NONE && !s->no_starttls && s->caps.starttls) {
		sess_cmd(s, "STARTTLS");
		s->state = S_STARTTLS;
		sess_timer(s, STAGE_STARTTLS);
		return;
	}
	if (!s->tls && s->tls_policy != TLS_NONE && !s->no_starttls && !s->caps.starttls)
		agent_tls_report(s, TLSO_NO_STARTTLS, 0);
	if (!s->tls && s->tls_policy >= TLS_ENCRYPT) {
		/* Nothing goes in clear: the greeting and EHLO were all. */
		textf(text, sizeof(text), "TLS is required (tls=%s), but host %s %s",
		    policy_name(s->tls_policy), s->relay, s->caps.starttls ?
		    "could not start it" : "does not offer STARTTLS");
		sess_conn_failed(s, 0, "4.7.4", text, false);
		return;
	}
	if (!s->tls && s->tls_info[0] == '\0')
		textf(s->tls_info, sizeof(s->tls_info), "no TLS (%s)",
		    s->tls_policy == TLS_NONE ? "tls=none" : s->no_starttls ?
		    "handshake failed, sent in clear" : "not offered");
	if ((s->dflags & DELIVER_F_RELAY) && auth_have() && !s->authed) {
		sess_auth_start(s);
		return;
	}
	sess_ready(s);
}

static void
sess_reply_starttls(struct agent_session *s, const struct reply *r)
{
	char	 text[REPLY_MAX];

	if (r->code == 220) {
		/*
		 * Anything the server sent after its 220 came in clear and would
		 * be read as if it were protected (CVE-2011-0411 in reverse).
		 */
		if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
			sess_protocol_error(s, "data after the reply to STARTTLS");
			return;
		}
		sess_tls_start(s);
		return;
	}
	textf(text, sizeof(text), "host %s refused STARTTLS: %s", s->relay, r->text);
	agent_tls_report(s, TLSO_NO_STARTTLS, 0);
	if (s->tls_policy == TLS_MAY && r->code != 421) {
		log_info("%s: %s; continuing without TLS", sess_id(s), text);
		s->no_starttls = true;
		textf(s->tls_info, sizeof(s->tls_info), "no TLS (STARTTLS refused)");
		sess_after_ehlo(s);
		return;
	}
	sess_conn_failed(s, r->code, "4.7.4", text, false);
}

static void
sess_tls_start(struct agent_session *s)
{
	struct bufferevent	*under = s->bev, *bev;
	SSL			*ssl;
	char			 err[256], text[REPLY_MAX];

	if ((ssl = tls_ssl_new(&s->addr, s->tls_policy, s->tls_key, err, sizeof(err))) == NULL) {
		textf(text, sizeof(text), "cannot start TLS with %s: %s", s->relay, err);
		sess_fail(s, "4.7.5", text, false);
		return;
	}
	/* The filter owns the SSL and the socket's bufferevent from now on. */
	bufferevent_setwatermark(under, EV_READ, 0, 0);
	bufferevent_setwatermark(under, EV_WRITE, 0, 0);
	bev = bufferevent_openssl_filter_new(s->agent->ctx->base, under, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		textf(text, sizeof(text), "cannot start TLS with %s", s->relay);
		sess_fail(s, "4.7.5", text, false);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	s->bev = bev;
	bufferevent_setcb(bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
	bufferevent_setwatermark(bev, EV_READ, 0, READ_HIWAT);
	bufferevent_setwatermark(bev, EV_WRITE, DATA_LOWAT, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	reply_reset(&s->reply);
	s->state = S_TLS;
	log_detail("%s: %s: TLS handshake (tls=%s%s)", sess_id(s), s->relay,
	    policy_name(s->tls_policy), (s->dflags & DELIVER_F_SMTPS) ? ", implicit" : "");
	sess_timer(s, STAGE_TLS);
}

static void
sess_tls_up(struct agent_session *s)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(s->bev);
	char	 text[REPLY_MAX];

	evtimer_del(s->timer);
	tls_describe(ssl, s->tls_info, sizeof(s->tls_info), &s->tls_verified);
	if (s->tls_policy == TLS_DANE)
		agent_tls_report(s, dane_ssl_verified(ssl) ? TLSO_DANE_OK : TLSO_DANE_FAILED, 0);
	else
		agent_tls_report(s, TLSO_UP, s->tls_verified ? 0 : agent_tls_x509_result(ssl, false));
	if (s->tls_policy == TLS_DANE) {
		/* SSL_VERIFY_PEER with the TLSA records refused a mismatch already. */
		if (!(s->dane_verified = dane_ssl_verified(ssl))) {
			textf(text, sizeof(text), "TLS with %s: not authenticated by its "
			    "TLSA records", s->relay);
			sess_conn_failed(s, 0, "4.7.5", text, false);
			return;
		}
		strlcat(s->tls_info, ", DANE", sizeof(s->tls_info));
	}
	if ((s->tls_policy == TLS_VERIFY || s->tls_policy == TLS_STS) && !s->tls_verified) {
		/* SSL_VERIFY_PEER refuses this already; a resumed session is checked here. */
		tls_forget(s->tls_key);
		textf(text, sizeof(text), "TLS with %s: %s", s->relay, s->tls_info);
		sess_conn_failed(s, 0, "4.7.5", text, false);
		return;
	}
	s->tls = true;
	log_detail("%s: %s: %s", sess_id(s), s->relay, s->tls_info);
	/* RFC 3207 section 4.2: forget what was said in clear, greet again. */
	memset(&s->caps, 0, sizeof(s->caps));
	if (s->dflags & DELIVER_F_SMTPS) {
		s->state = S_GREETING;
		sess_timer(s, STAGE_GREETING);
		return;
	}
	sess_cmd(s, "EHLO %s", s->agent->conf->helo_name);
	s->state = S_EHLO;
	sess_timer(s, STAGE_EHLO);
}

/*
 * The handshake failed or stalled. Under "may" the same host gets a new
 * connection in clear (as Postfix does); otherwise the next address.
 */
static void
sess_tls_failed(struct agent_session *s, const char *why)
{
	struct agent_job	*j = s->job;
	char			 text[REPLY_MAX];

	tls_forget(s->tls_key);
	textf(text, sizeof(text), "TLS handshake with %s failed: %s", s->relay, why);
	agent_tls_report(s, s->tls_policy == TLS_DANE ? TLSO_DANE_FAILED : TLSO_HANDSHAKE_FAILED,
	    s->bev != NULL ? agent_tls_x509_result(bufferevent_openssl_get_ssl(s->bev), true) : 0);
	if (j != NULL && s->tls_policy == TLS_MAY && !(s->dflags & DELIVER_F_SMTPS)) {
		log_info("%s: %s; retrying without TLS", j->id, text);
		strlcpy(j->last_err, text, sizeof(j->last_err));
		strlcpy(j->last_dsn, "4.7.5", sizeof(j->last_dsn));
		j->last_code = 0;
		j->retry_clear = true;
		sess_connect_next(s);
		return;
	}
	sess_conn_failed(s, 0, "4.7.5", text, false);
}

static void
sess_auth_start(struct agent_session *s)
{
	char	 text[REPLY_MAX];

	if (s->caps.auth[0] == '\0') {
		log_detail("%s: %s offers no AUTH; sending without authentication", sess_id(s),
		    s->relay);
		sess_ready(s);
		return;
	}
	if (!s->tls && !(s->agent->conf->relay_auth_plaintext && agent_addr_loopback(&s->addr))) {
		textf(text, sizeof(text), "not sending the relay credentials to %s "
		    "without TLS", s->relay);
		sess_conn_failed(s, 0, "4.7.0", text, true);
		return;
	}
	s->auth_mech = auth_choose(s->caps.auth);
	s->auth_step = 0;
	if (s->auth_mech == AUTH_MECH_NONE) {
		textf(text, sizeof(text), "relay %s offers no AUTH mechanism outpost supports "
		    "(offered: %s; supported: PLAIN LOGIN)", s->relay, s->caps.auth);
		sess_conn_failed(s, 0, "4.7.0", text, true);
		return;
	}
	s->state = S_AUTH;
	sess_timer(s, STAGE_AUTH);
	if (s->auth_mech == AUTH_MECH_PLAIN) {
		/* RFC 4954 initial response: one round trip. */
		if (!sess_cmd_secret(s, "AUTH PLAIN ")) {
			sess_conn_failed(s, 0, "4.7.0", "relay credentials too long", true);
			return;
		}
		s->auth_step = 1;
		return;
	}
	sess_cmd(s, "AUTH LOGIN");
}

static void
sess_reply_auth(struct agent_session *s, const struct reply *r)
{
	struct agent_job	*j = s->job;
	char			 text[REPLY_MAX];

	if (r->code == 235) {
		s->authed = true;
		log_detail("%s: %s: authenticated (%s)", sess_id(s), s->relay,
		    auth_mech_name(s->auth_mech));
		sess_ready(s);
		return;
	}
	if (r->code == 334 && s->auth_mech == AUTH_MECH_LOGIN && s->auth_step < 2) {
		/* Username:, then Password: (the prompts are not checked: servers vary). */
		if (!sess_cmd_secret(s, "")) {
			sess_conn_failed(s, 0, "4.7.0", "relay credentials too long", true);
			return;
		}
		s->auth_step++;
		sess_timer(s, STAGE_AUTH);
		return;
	}
	if (r->code == 421) {
		/* The server is going away: not a verdict on the credentials. */
		textf(text, sizeof(text), "host %s closed the connection during AUTH: %s",
		    s->relay, r->text);
		sess_conn_failed(s, r->code, r->dsn, text, false);
		return;
	}
	if (r->code == 334) {
		/* A challenge we did not expect: cancel the exchange (RFC 4954 section 4). */
		sess_cmd(s, "*");
		sess_timer(s, STAGE_AUTH);
		s->auth_step = 99;
		return;
	}
	/*
	 * 535 and every other refusal: this attempt only. The mail stays
	 * queued; trying the relay's other addresses with the same
	 * credentials would only be refused again.
	 */
	textf(text, sizeof(text), "relay %s refused the credentials (AUTH %s): %s", s->relay,
	    auth_mech_name(s->auth_mech), r->text);
	log_warnx("%s: %s", sess_id(s), text);
	if (j != NULL) {
		job_fail_rest(j, DELIVERY_TEMPFAIL, r->code, "4.7.8", text);
		sess_job_done(s);
	}
	/* Polite QUIT: the connection is not reused. */
	s->state = S_IDLE;
	session_quit(s);
}

static void
sess_reply_rcpt(struct agent_session *s, const struct reply *r)
{
	struct agent_job	*j = s->job;
	struct agent_rcpt	*rc;

	if (s->rcpt_rnext >= j->nrcpt || s->rcpt_replied >= s->rcpt_sent) {
		sess_protocol_error(s, "more replies than commands");
		return;
	}
	rc = &j->rcpts[s->rcpt_rnext];
	s->rcpt_rnext = next_valid(j, s->rcpt_rnext + 1);
	s->rcpt_replied++;
	if (s->mail_ok && !rc->final) {
		if (reply_class(r) == 2) {
			rc->accepted = true;
			s->naccepted++;
		} else
			job_rcpt_set(rc, job_class_of(r->code), r->code, r->dsn, r->text);
	}
	if (!s->caps.pipelining && s->mail_ok && s->rcpt_next < j->nrcpt) {
		sess_send_rcpt(s);
		sess_timer(s, STAGE_RCPT);
		return;
	}
	if (s->rcpt_replied < s->rcpt_sent) {
		sess_timer(s, STAGE_RCPT);
		return;
	}
	if (!s->mail_ok || s->naccepted == 0) {
		sess_transaction_end(s);
		return;
	}
	sess_cmd(s, "DATA");
	s->state = S_DATA;
	sess_timer(s, STAGE_DATA_INIT);
}

/* A complete reply arrived. */
static void
sess_reply(struct agent_session *s)
{
	struct reply		*r = &s->reply;
	struct agent_job	*j = s->job;
	char			 text[REPLY_MAX];
	int			 cls = reply_class(r);

	evtimer_del(s->timer);
	log_detail("%s: %s: < %s", sess_id(s), s->relay, r->text);

	/* 421: the server is closing the channel, whatever we were doing. */
	if (r->code == 421 && j != NULL && s->state >= S_RSET && s->state <= S_DOT) {
		if (s->state == S_RSET || (s->state == S_MAIL && !s->mail_replied)) {
			sess_error(s, r->dsn, r->text);
			return;
		}
		log_info("%s: %s said: %s", j->id, s->relay, r->text);
		job_fail_rest(j, DELIVERY_TEMPFAIL, r->code, r->dsn, r->text);
		sess_job_done(s);
		sess_close(s);
		return;
	}

	switch (s->state) {
	case S_GREETING:
		if (cls == 2) {
			sess_cmd(s, "EHLO %s", s->agent->conf->helo_name);
			s->state = S_EHLO;
			sess_timer(s, STAGE_EHLO);
			return;
		}
		textf(text, sizeof(text), "host %s refused to talk to me: %s", s->relay, r->text);
		sess_conn_failed(s, r->code, r->dsn, text, false);
		return;
	case S_EHLO:
		if (cls == 2) {
			ehlo_parse(r, &s->caps);
			sess_after_ehlo(s);
			return;
		}
		if (cls == 5) {
			/* An old server: RFC 5321 §3.2 falls back to HELO. */
			sess_cmd(s, "HELO %s", s->agent->conf->helo_name);
			s->state = S_HELO;
			sess_timer(s, STAGE_EHLO);
			return;
		}
		textf(text, sizeof(text), "host %s refused EHLO: %s", s->relay, r->text);
		sess_conn_failed(s, r->code, r->dsn, text, false);
		return;
	case S_HELO:
		if (cls == 2) {
			memset(&s->caps, 0, sizeof(s->caps));
			sess_after_ehlo(s);
			return;
		}
		textf(text, sizeof(text), "host %s refused HELO: %s", s->relay, r->text);
		sess_conn_failed(s, r->code, r->dsn, text, false);
		return;
	case S_STARTTLS:
		sess_reply_starttls(s, r);
		return;
	case S_AUTH:
		sess_reply_auth(s, r);
		return;
	case S_RSET:
		if (cls == 2) {
			sess_send_mail(s);
			return;
		}
		textf(text, sizeof(text), "host %s refused RSET: %s", s->relay, r->text);
		sess_error(s, r->dsn, text);
		return;
	case S_MAIL:
		s->mail_replied = true;
		if (cls == 2)
			s->mail_ok = true;
		else
			job_fail_rest(j, job_class_of(r->code), r->code, r->dsn, r->text);
		if (s->caps.pipelining) {
			s->state = S_RCPT;
			sess_timer(s, STAGE_RCPT);
			return;
		}
		if (!s->mail_ok) {
			sess_transaction_end(s);
			return;
		}
		s->state = S_RCPT;
		sess_send_rcpt(s);
		sess_timer(s, STAGE_RCPT);
		return;
	case S_RCPT:
		sess_reply_rcpt(s, r);
		return;
	case S_DATA:
		if (r->code == 354) {
			s->state = S_BODY;
			data_enc_init(&s->enc, !s->caps.eightbitmime);
			s->data_off = 0;
			sess_push_body(s);
			return;
		}
		if (cls == 4 || cls == 5) {
			job_finish_accepted(j, job_class_of(r->code), r->code, r->dsn, r->text);
			sess_transaction_end(s);
			return;
		}
		sess_protocol_error(s, "unexpected reply to DATA");
		return;
	case S_DOT:
		if (cls == 3) {
			sess_protocol_error(s, "intermediate reply to the end of data");
			return;
		}
		job_finish_accepted(j, job_class_of(r->code), r->code, r->dsn, r->text);
		sess_transaction_end(s);
		return;
	case S_BODY:
		/* The server spoke before the end of data: it refuses the mail. */
		textf(text, sizeof(text), "%s answered before the end of data: %s", s->relay, r->text);
		log_info("%s: %s", sess_id(s), text);
		job_finish_accepted(j, cls == 5 ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL, r->code,
		    r->dsn, text);
		sess_job_done(s);
		sess_close(s);
		return;
	case S_QUIT:
		sess_close(s);
		return;
	case S_IDLE:
	case S_CONNECT:
	default:
		/* Typically a 421 on an idle connection. */
		log_detail("-: %s: unexpected reply, closing: %s", s->relay, r->text);
		sess_close(s);
		return;
	}
}

static void
sess_read_cb(struct bufferevent *bev, void *arg)
{
	struct agent_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 p;
	size_t			 eol;
	const char		*line;
	int			 st;

	sess_trace(s);

	while (!s->dead && s->bev == bev) {
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (p.pos == -1) {
			if (evbuffer_get_length(in) > REPLY_LINE_MAX + 1)
				sess_protocol_error(s, "reply line too long");
			return;
		}
		if ((size_t)p.pos > REPLY_LINE_MAX + 1) {
			sess_protocol_error(s, "reply line too long");
			return;
		}
		line = (const char *)evbuffer_pullup(in, p.pos + eol);
		st = reply_feed_line(&s->reply, line, p.pos);
		evbuffer_drain(in, p.pos + eol);
		if (st == REPLY_ERROR) {
			sess_protocol_error(s, s->reply.error);
			return;
		}
		if (st == REPLY_DONE) {
			sess_reply(s);
			if (!s->dead && s->bev == bev)
				reply_reset(&s->reply);
		}
	}
}

void
session_take(struct agent_session *s, struct agent_job *j)
{
	evtimer_del(s->timer);
	s->job = j;
	j->sess = s;
	sess_conn_limits(s, j);
	s->reused = true;
	sess_trace(s);
	log_detail("%s: reusing the connection to %s", j->id, s->relay);
	sess_begin(s);
}

bool
session_matches(const struct agent_session *s, const struct agent_job *j)
{
	unsigned	 i;

	if (s->dead || s->state != S_IDLE || j->fresh_only)
		return false;
	/* A connection is set up for one TLS policy (and TLSA records), and AUTH
	 * only for the relay. */
	if (s->dflags != j->dflags)
		return false;
	for (i = 0; i < j->naddr; i++) {
		const struct agent_addr *a = &j->addrs[i];

		if (s->tls_policy != dane_addr_policy(j, a) || !dane_addr_same(&s->addr, a))
			continue;
		if (a->port == s->addr.port && a->sslen == s->addr.sslen &&
		    a->ss.ss_family == s->addr.ss.ss_family &&
		    memcmp(&a->ss, &s->addr.ss, a->sslen) == 0)
			return true;
	}
	return false;
}

bool
session_idle(const struct agent_session *s)
{
	return !s->dead && s->state == S_IDLE;
}

bool
session_in_transaction(const struct agent_session *s)
{
	return !s->dead && s->job != NULL && s->state >= S_RSET && s->state <= S_DOT;
}

void
session_quit(struct agent_session *s)
{
	if (s->dead || s->state == S_QUIT)
		return;
	if (s->job != NULL || s->bev == NULL || s->state < S_IDLE) {
		session_abort(s, "connection closed");
		return;
	}
	evtimer_del(s->timer);
	sess_cmd(s, "QUIT");
	s->state = S_QUIT;
	s->agent->nsessions--;
	metric_set(MET_SESSIONS, s->agent->nsessions);
	s->agent->nquitting++;
	sess_timer(s, STAGE_QUIT);
}

bool
session_drop_job(struct agent_session *s)
{
	struct agent_job	*j = s->job;

	if (j == NULL)
		return false;
	if (s->state == S_DOT) {
		/* Past the final dot the server decides; the answer goes nowhere. */
		return true;
	}
	log_info("%s: scheduler link lost, abandoning the delivery to %s", j->id, s->relay);
	s->job = NULL;
	j->sess = NULL;
	sess_close(s);
	return false;
}

void
session_abort(struct agent_session *s, const char *why)
{
	if (s->job != NULL) {
		log_info("%s: %s: %s", s->job->id, s->relay, why);
		job_fail_rest(s->job, DELIVERY_TEMPFAIL, 0, "4.3.2", why);
		sess_job_done(s);
	}
	sess_close(s);
}
