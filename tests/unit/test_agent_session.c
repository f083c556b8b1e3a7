/* SPDX-License-Identifier: ISC */
/*
 * test_agent_session.c - the delivery agent driven whole, in this process:
 * agent_main() on a private event loop, a SEQPACKET socketpair standing in
 * for the scheduler (MSG_AGENT_DELIVER in, MSG_AGENT_RESULT out), and
 * scripted SMTP servers forked on 127.0.0.1 ports picked by the kernel.
 *
 * Proves: the RFC 5321 dialogue (PIPELINING or not, EHLO/HELO, SIZE,
 * 8BITMIME), the bytes on the wire, per-recipient results, the move to the
 * next address, connection reuse with RSET, and that hostile servers
 * (endless or huge replies, garbage, bad codes, stalls) cost only their
 * session: the recipients are deferred and the agent keeps delivering.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"

#include "tlsrpt.h"

#include "agent/agent.h"
#include "check_run.h"

/* ------------------------------------------------------------------ */
/* scripted servers                                                    */

enum srv_mode {
	SRV_NORMAL,
	SRV_ENDLESS,		/* endless multi-line greeting */
	SRV_BIGLINE,		/* a 10 MB greeting line */
	SRV_GARBAGE,		/* binary noise */
	SRV_STALL,		/* half a greeting, then silence */
	SRV_CODE999,
	SRV_CODE25X,
	SRV_STALL_DATA,		/* 354, then never reads the body */
	SRV_DROP_AFTER_RCPT,	/* closes instead of answering DATA */
};

struct srv_opts {
	enum srv_mode	 mode;
	const char	*greeting;	/* default "220 mx.test ESMTP" */
	const char	*ehlo;		/* full EHLO reply; NULL: PIPELINING 8BITMIME SIZE */
	const char	*mail_reply;	/* default "250 2.1.0 Ok" */
	const char	*data_reply;	/* default "354 go ahead" */
	const char	*dot_reply;	/* default "250 2.0.0 Ok: queued" */
	const char	*rcpt_421;	/* RCPT containing this gets 421 */
	unsigned	 dot_delay_ms;	/* wait before answering the final dot */
	const char	*starttls_reply;	/* default "454 4.7.0 TLS not available" */
	const char	*auth_reply;	/* the end of an AUTH exchange; default 235 */
};

struct srv {
	pid_t		 pid;
	uint16_t	 port;
	char		 dir[64];	/* transcript and mails */
};

static const char *default_ehlo =
    "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100000000\r\n250 ENHANCEDSTATUSCODES\r\n";

static char	*slurped[16];
static unsigned	 nslurped;

struct conn {
	int	 fd;
	char	 buf[65536];
	size_t	 len;
};

static void
xwrite(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(fd, c, n)) <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			_exit(0);
		}
		c += w;
		n -= w;
	}
}

/* One write per reply, as real servers do (no Nagle stalls in the tests). */
static void
say(struct conn *c, const char *s)
{
	char	 b[4096];
	size_t	 n = strlcpy(b, s, sizeof(b) - 2);

	if (b[n - 1] != '\n') {
		memcpy(b + n, "\r\n", 2);
		n += 2;
	}
	xwrite(c->fd, b, n);
}

/* One line with its CRLF, or NULL at EOF. */
static char *
getline_crlf(struct conn *c, size_t *n)
{
	char	*nl;
	ssize_t	 r;
	static char line[65536];

	for (;;) {
		if ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			*n = nl - c->buf + 1;
			memcpy(line, c->buf, *n);
			line[*n] = '\0';
			memmove(c->buf, nl + 1, c->len - *n);
			c->len -= *n;
			return line;
		}
		if (c->len == sizeof(c->buf))
			_exit(1);
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r <= 0)
			return NULL;
		c->len += r;
	}
}

static void
note(int tfd, const char *fmt, const char *arg)
{
	char	 b[2048];
	int	 n = snprintf(b, sizeof(b), fmt, arg);

	xwrite(tfd, b, n < (int)sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

static void
srv_hostile(struct conn *c, enum srv_mode mode)
{
	static char	 chunk[65536];
	unsigned	 i;

	switch (mode) {
	case SRV_ENDLESS:
		for (i = 0; i < 1000000; i++)
			say(c, "220-still greeting you, and more, and more, and more");
		break;
	case SRV_BIGLINE:
		memset(chunk, 'A', sizeof(chunk));
		xwrite(c->fd, "220 ", 4);
		for (i = 0; i < 160; i++)
			xwrite(c->fd, chunk, sizeof(chunk));
		xwrite(c->fd, "\r\n", 2);
		break;
	case SRV_GARBAGE:
		for (i = 0; i < sizeof(chunk); i++)
			chunk[i] = (char)((i * 7919u) ^ (i >> 3));
		xwrite(c->fd, chunk, sizeof(chunk));
		break;
	case SRV_STALL:
		say(c, "220-mx.test is thinking");
		break;
	case SRV_CODE999:
		say(c, "999 mx.test");
		break;
	case SRV_CODE25X:
		say(c, "25x mx.test");
		break;
	default:
		break;
	}
	sleep(30);
}

static void
srv_session(struct conn *c, const struct srv_opts *o, const char *dir, int tfd, unsigned *nmail)
{
	char		*l, path[128];
	size_t		 n;
	int		 mfd;

	if (o->mode != SRV_NORMAL && o->mode != SRV_STALL_DATA && o->mode != SRV_DROP_AFTER_RCPT) {
		srv_hostile(c, o->mode);
		return;
	}
	say(c, o->greeting ? o->greeting : "220 mx.test ESMTP");
	while ((l = getline_crlf(c, &n)) != NULL) {
		note(tfd, "C: %s", l);
		if (strncasecmp(l, "EHLO", 4) == 0)
			say(c, o->ehlo ? o->ehlo : default_ehlo);
		else if (strncasecmp(l, "HELO", 4) == 0)
			say(c, "250 mx.test");
		else if (strncasecmp(l, "MAIL", 4) == 0)
			say(c, o->mail_reply ? o->mail_reply : "250 2.1.0 Ok");
		else if (strncasecmp(l, "RCPT", 4) == 0) {
			if (o->rcpt_421 && strstr(l, o->rcpt_421)) {
				say(c, "421 4.3.2 going down");
				return;
			}
			if (strstr(l, "perm"))
				say(c, "550 5.1.1 no such user");
			else if (strstr(l, "temp"))
				say(c, "451 4.2.0 try later");
			else
				say(c, "250 2.1.5 Ok");
		} else if (strncasecmp(l, "DATA", 4) == 0) {
			if (o->mode == SRV_DROP_AFTER_RCPT)
				return;
			say(c, o->data_reply ? o->data_reply : "354 go ahead");
			if (o->data_reply && o->data_reply[0] != '3')
				continue;
			if (o->mode == SRV_STALL_DATA) {
				sleep(30);
				return;
			}
			snprintf(path, sizeof(path), "%s/mail.%u", dir, (*nmail)++);
			mfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			for (;;) {
				if ((l = getline_crlf(c, &n)) == NULL) {
					note(tfd, "EOF in DATA\n", NULL);
					close(mfd);
					return;
				}
				if (strcmp(l, ".\r\n") == 0)
					break;
				xwrite(mfd, l, n);
			}
			close(mfd);
			note(tfd, "END OF DATA\n", NULL);
			if (o->dot_delay_ms)
				usleep(o->dot_delay_ms * 1000);
			say(c, o->dot_reply ? o->dot_reply : "250 2.0.0 Ok: queued");
		} else if (strncasecmp(l, "STARTTLS", 8) == 0)
			say(c, o->starttls_reply ? o->starttls_reply : "454 4.7.0 TLS not available");
		else if (strncasecmp(l, "AUTH LOGIN", 10) == 0 && n == 12) {
			/* RFC 4954 with LOGIN's two prompts, each answer in the transcript */
			say(c, "334 VXNlcm5hbWU6");
			if ((l = getline_crlf(c, &n)) == NULL)
				return;
			note(tfd, "C: %s", l);
			say(c, "334 UGFzc3dvcmQ6");
			if ((l = getline_crlf(c, &n)) == NULL)
				return;
			note(tfd, "C: %s", l);
			say(c, o->auth_reply ? o->auth_reply : "235 2.7.0 Authentication successful");
		} else if (strncasecmp(l, "AUTH", 4) == 0)
			say(c, o->auth_reply ? o->auth_reply : "235 2.7.0 Authentication successful");
		else if (strncasecmp(l, "RSET", 4) == 0)
			say(c, "250 2.0.0 Ok");
		else if (strncasecmp(l, "QUIT", 4) == 0) {
			say(c, "221 2.0.0 Bye");
			return;
		} else
			say(c, "502 5.5.2 what?");
	}
}

static void
srv_start(struct srv *s, const struct srv_opts *o)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 lfd, tfd, fd, one = 1;
	unsigned		 nmail = 0;
	char			 path[128];
	struct conn		*c;

	strlcpy(s->dir, "/tmp/agent-test.XXXXXX", sizeof(s->dir));
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);
	s->port = ntohs(sin.sin_port);
	if ((s->pid = fork()) == 0) {
		signal(SIGPIPE, SIG_IGN);
		snprintf(path, sizeof(path), "%s/transcript", s->dir);
		tfd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		c = malloc(sizeof(*c));
		alarm(60);
		/* One connection at a time is enough for these scripts. */
		while ((fd = accept(lfd, NULL, NULL)) != -1) {
			note(tfd, "ACCEPT\n", NULL);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->fd = fd;
			c->len = 0;
			srv_session(c, o, s->dir, tfd, &nmail);
			close(fd);
			note(tfd, "CLOSED\n", NULL);
		}
		_exit(0);
	}
	close(lfd);
}

static void
srv_stop(struct srv *s)
{
	char	 cmd[128];

	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	while (nslurped > 0)
		free(slurped[--nslurped]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		ck_abort_msg("cannot remove %s", s->dir);
}

/* A file the server wrote; freed with the server (srv_stop). */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char		 path[128];
	struct stat	 st;
	char		*p;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_uint_lt(nslurped, 16);
	if ((fd = open(path, O_RDONLY)) == -1) {
		*len = 0;
		return slurped[nslurped++] = strdup("");
	}
	fstat(fd, &st);
	p = malloc(st.st_size + 1);
	*len = read(fd, p, st.st_size);
	p[*len] = '\0';
	close(fd);
	return slurped[nslurped++] = p;
}

static unsigned
count(const char *hay, const char *needle)
{
	unsigned	 n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* A port nothing listens on. */
static uint16_t
dead_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	return ntohs(sin.sin_port);
}

/* ------------------------------------------------------------------ */
/* the agent and a fake scheduler                                      */

static struct config	 conf;
static struct proc_ctx	 ctx;
static int		 sched_fd;

struct result {
	struct event	*ev;
	struct timeval	 tv;
	unsigned	 reached;	/* MSG_AGENT_REACHED frames before the result */
	bool		 got;
	unsigned	 ntls;		/* AGENT_TLS_SESSION frames before the result */
	uint8_t		 tls_outcome;	/* the last one's (shared/tlsrpt.h) */
	uint32_t	 reqid;
	char		 relay[RELAY_MAX];
	uint16_t	 n;
	struct {
		uint32_t index;
		uint8_t	 class;
		uint16_t code;
		char	 dsn[DSN_MAX];
		char	 reply[REPLY_MAX];
	} r[16];
};

static void
agent_setup(void)
{
	int	 sv[2];

	log_init("agent-test", LOG_TO_STDERR, NULL);
	log_setlevel(LOGLEVEL_DETAILED);
	signal(SIGPIPE, SIG_IGN);
	config_defaults(&conf);
	strlcpy(conf.helo_name, "client.test", sizeof(conf.helo_name));
	conf.limits[PROC_AGENT].max_sessions = 8;
	conf.connection_idle = 30;
	conf.connect_timeout = 5;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_AGENT;
	ctx.base = event_base_new();
	agent_main(&ctx);
	ck_assert_int_eq(frame_socketpair(sv), 0);
	ctx.on_peer(&ctx, PROC_SCHEDULER, 0, sv[0]);
	sched_fd = sv[1];
}

struct job_spec {
	const char	*content;
	size_t		 len;		/* 0: strlen(content) */
	uint32_t	 flags;
	const char	*sender;
	const char	*rcpts[8];
	uint16_t	 ports[4];	/* addresses to try, all 127.0.0.1 */
	uint8_t		 tls;		/* enum tls_policy; 0: none */
	uint8_t		 dflags;	/* DELIVER_F_* */
};

static void
send_job(uint32_t reqid, const struct job_spec *j)
{
	static const char	 junk[] = "QUEUE-FILE-HEADER\n";
	char			 path[] = "/tmp/agent-content.XXXXXX";
	struct fbuf		*fb;
	uint8_t			 raw[16] = { 127, 0, 0, 1 };
	size_t			 len = j->len ? j->len : strlen(j->content);
	uint16_t		 i, n;
	int			 fd, rfd;

	/* Content sits after a header, as in a queue file. */
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	xwrite(fd, junk, sizeof(junk) - 1);
	xwrite(fd, j->content, len);
	xwrite(fd, "TRAILER", 7);
	rfd = open(path, O_RDONLY);
	unlink(path);
	close(fd);

	fb = fbuf_new(MSG_AGENT_DELIVER, reqid);
	fbuf_set_fd(fb, rfd);
	fbuf_add_str(fb, "QID0001");
	fbuf_add_str(fb, j->sender ? j->sender : "sender@client.test");
	fbuf_add_u64(fb, sizeof(junk) - 1);
	fbuf_add_u64(fb, len);
	fbuf_add_u32(fb, j->flags);
	fbuf_add_str(fb, "mx.test");
	for (n = 0; n < 4 && j->ports[n] != 0; n++)
		;
	fbuf_add_u16(fb, n);
	for (i = 0; i < n; i++) {
		fbuf_add_u8(fb, 4);
		fbuf_add_raw(fb, raw, sizeof(raw));
		fbuf_add_u16(fb, j->ports[i]);
		fbuf_add_str(fb, "mx.test");
	}
	for (n = 0; n < 8 && j->rcpts[n] != NULL; n++)
		;
	fbuf_add_u16(fb, n);
	for (i = 0; i < n; i++) {
		fbuf_add_u32(fb, 100 + i);
		fbuf_add_str(fb, j->rcpts[i]);
	}
	fbuf_add_u8(fb, j->tls);
	fbuf_add_u8(fb, j->dflags);
	fbuf_add_str(fb, "");
	fbuf_add_u16(fb, 0);		/* no per-address (DANE) policy */
	fbuf_add_u32(fb, 0);			/* mails per connection: as configured */
	fbuf_add_u8(fb, DELIVER_REUSE_DEFAULT);
	ck_assert(!fb->overflow);
	ck_assert_int_eq(frame_send(sched_fd, fb), 0);
	fbuf_free(fb);
}

static void
result_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct result	*res = arg;
	static uint8_t	 buf[FRAME_MAX];
	struct frame	 f;
	const char	*why;
	uint16_t	 i;

	if (ev & EV_TIMEOUT) {
		event_base_loopbreak(ctx.base);
		return;
	}
	if (frame_recv(fd, buf, &f, &why) != 1)
		return;
	if (f.hdr.type == MSG_AGENT_TLS_SESSION) {
		char		 host[HOSTNAME_MAX], ip[64], local[64];
		uint32_t	 verr;

		ck_assert(frame_get_str(&f, host, sizeof(host)));
		ck_assert(frame_get_str(&f, ip, sizeof(ip)));
		ck_assert(frame_get_u8(&f, &res->tls_outcome));
		ck_assert(frame_get_u32(&f, &verr));
		ck_assert(frame_get_str(&f, local, sizeof(local)));
		ck_assert_str_eq(local, "127.0.0.1");	/* sending-mta-ip */
		ck_assert(frame_end(&f));
		res->ntls++;
		return;
	}
	if (f.hdr.type == MSG_AGENT_REACHED) {
		uint8_t		 fam, raw[16];
		uint16_t	 port;

		ck_assert(frame_get_u8(&f, &fam) && (fam == 4 || fam == 6));
		ck_assert(frame_get_raw(&f, raw, sizeof(raw)) && frame_get_u16(&f, &port));
		ck_assert(frame_end(&f));
		res->reached++;
		event_add(res->ev, &res->tv);	/* the result comes next */
		return;
	}
	ck_assert_int_eq(f.hdr.type, MSG_AGENT_RESULT);
	res->reqid = f.hdr.reqid;
	ck_assert(frame_get_str(&f, res->relay, sizeof(res->relay)));
	ck_assert(frame_get_u16(&f, &res->n));
	ck_assert_uint_le(res->n, 16);
	for (i = 0; i < res->n; i++) {
		ck_assert(frame_get_u32(&f, &res->r[i].index));
		ck_assert(frame_get_u8(&f, &res->r[i].class));
		ck_assert(frame_get_u16(&f, &res->r[i].code));
		ck_assert(frame_get_str(&f, res->r[i].dsn, sizeof(res->r[i].dsn)));
		ck_assert(frame_get_str(&f, res->r[i].reply, sizeof(res->r[i].reply)));
	}
	ck_assert(frame_end(&f));
	res->got = true;
	event_base_loopbreak(ctx.base);
}

/* Run the agent until one result arrives (or the time is up). */
static void
wait_result(struct result *res, int seconds)
{
	struct timeval	 tv = { seconds, 0 };
	struct event	*ev;

	memset(res, 0, sizeof(*res));
	ev = event_new(ctx.base, sched_fd, EV_READ | EV_TIMEOUT | EV_PERSIST, result_cb, res);
	res->ev = ev;
	res->tv = tv;
	event_add(ev, &tv);
	event_base_dispatch(ctx.base);
	event_free(ev);
	ck_assert_msg(res->got, "no result within %d s", seconds);
}

/* Let the loop run a little (sessions closing, QUIT sent). */
static void
run_for(int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(ctx.base, &tv);
	event_base_dispatch(ctx.base);
}

static struct job_spec
simple_job(uint16_t port, const char *rcpt)
{
	struct job_spec	 j = { .content = "Subject: t\n\nhello\n" };

	j.rcpts[0] = rcpt;
	j.ports[0] = port;
	return j;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

START_TEST(delivers_with_pipelining_byte_exact)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j = { 0 };
	char		*t, *m, *content, *expect, relay[64];
	size_t		 tl, ml, i;

	/* dots, bare LF, CRLF, an 8-bit body and a 998-character line */
	content = malloc(4096);
	expect = malloc(8192);
	strlcpy(content, "Subject: x\n\n.leading dot\r\n..two\nend. \ncaf\xc3\xa9\n", 4096);
	strlcpy(expect, "Subject: x\r\n\r\n..leading dot\r\n...two\r\nend. \r\ncaf\xc3\xa9\r\n", 8192);
	for (i = 0; i < 998; i++) {
		strlcat(content, "y", 4096);
		strlcat(expect, "y", 8192);
	}
	strlcat(content, "\n.", 4096);
	strlcat(expect, "\r\n..\r\n", 8192);

	srv_start(&s, &o);
	agent_setup();
	j.content = content;
	j.flags = MAIL_F_8BIT;
	j.rcpts[0] = "a@mx.test";
	j.rcpts[1] = "b@mx.test";
	j.ports[0] = s.port;
	send_job(7, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.reqid, 7);
	snprintf(relay, sizeof(relay), "mx.test[127.0.0.1]:%u", s.port);
	ck_assert_str_eq(res.relay, relay);
	ck_assert_uint_eq(res.n, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(res.r[i].index, 100 + i);
		ck_assert_uint_eq(res.r[i].class, DELIVERY_OK);
		ck_assert_uint_eq(res.r[i].code, 250);
		ck_assert_str_eq(res.r[i].dsn, "2.0.0");
		ck_assert_str_eq(res.r[i].reply, "250 2.0.0 Ok: queued");
	}
	m = slurp(s.dir, "mail.0", &ml);
	ck_assert_uint_eq(ml, strlen(expect));
	ck_assert_int_eq(memcmp(m, expect, ml), 0);
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_ptr_nonnull(strstr(t, "C: EHLO client.test\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "BODY=8BITMIME"));
	ck_assert_ptr_nonnull(strstr(t, " SIZE="));
	ck_assert_ptr_nonnull(strstr(t, "C: RCPT TO:<b@mx.test>\r\n"));
	free(content);
	free(expect);
	srv_stop(&s);
}
END_TEST

START_TEST(per_recipient_results)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j = { .content = "Subject: t\n\nbody\n" };

	/* with and without PIPELINING */
	if (_i == 1)
		o.ehlo = "250-mx.test\r\n250 8BITMIME\r\n";
	srv_start(&s, &o);
	agent_setup();
	/* an address that would inject a command never reaches the wire */
	j.rcpts[0] = "bad\r\nRSET@mx.test";
	j.rcpts[1] = "ok@mx.test";
	j.rcpts[2] = "perm@mx.test";
	j.rcpts[3] = "x<y>@mx.test";
	j.rcpts[4] = "temp@mx.test";
	j.ports[0] = s.port;
	send_job(1, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.n, 5);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_PERMFAIL);
	ck_assert_str_eq(res.r[0].dsn, "5.1.3");
	ck_assert_uint_eq(res.r[1].class, DELIVERY_OK);
	ck_assert_str_eq(res.r[1].reply, "250 2.0.0 Ok: queued");
	ck_assert_uint_eq(res.r[2].class, DELIVERY_PERMFAIL);
	ck_assert_uint_eq(res.r[2].code, 550);
	ck_assert_str_eq(res.r[2].dsn, "5.1.1");
	ck_assert_str_eq(res.r[2].reply, "550 5.1.1 no such user");
	ck_assert_uint_eq(res.r[3].class, DELIVERY_PERMFAIL);
	ck_assert_str_eq(res.r[3].dsn, "5.1.3");
	ck_assert_uint_eq(res.r[4].class, DELIVERY_TEMPFAIL);
	ck_assert_uint_eq(res.r[4].code, 451);
	ck_assert_str_eq(res.r[4].dsn, "4.2.0");
	{
		size_t	 tl;
		char	*t = slurp(s.dir, "transcript", &tl);

		ck_assert_uint_eq(count(t, "C: RCPT"), 3);
		ck_assert_uint_eq(count(t, "END OF DATA"), 1);
		ck_assert_ptr_null(strstr(t, "C: RSET"));
	}
	srv_stop(&s);
}
END_TEST

/* EHLO refused: HELO works, but then there is no 8BITMIME. */
START_TEST(helo_fallback)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL, .ehlo = "502 5.5.1 EHLO not implemented" };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	size_t		 tl;
	char		*t;

	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	send_job(1, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
	j.flags = MAIL_F_8BIT;
	j.content = "Subject: caf\xc3\xa9\n\n";
	send_job(2, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_PERMFAIL);
	ck_assert_str_eq(res.r[0].dsn, "5.6.3");
	ck_assert_ptr_nonnull(strstr(res.r[0].reply, "8BITMIME"));
	/* 8-bit content without the flag is refused too, not corrupted */
	j.flags = 0;
	send_job(3, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_PERMFAIL);
	ck_assert_str_eq(res.r[0].dsn, "5.6.3");
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_ptr_nonnull(strstr(t, "C: HELO client.test\r\n"));
	ck_assert_uint_eq(count(t, "END OF DATA"), 1);
	ck_assert_ptr_null(strstr(t, "BODY=8BITMIME"));
	ck_assert_ptr_null(strstr(t, "SIZE="));
	srv_stop(&s);
}
END_TEST

START_TEST(size_limit_is_respected)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL, .ehlo = "250-mx.test\r\n250 SIZE 100" };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	char		 big[1000];
	size_t		 tl;
	char		*t;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	j.content = big;
	send_job(1, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_PERMFAIL);
	ck_assert_str_eq(res.r[0].dsn, "5.3.4");
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_ptr_null(strstr(t, "C: MAIL"));
	srv_stop(&s);
}
END_TEST

START_TEST(long_line_fails_without_delivery)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	char		*big = malloc(3000);
	size_t		 tl;
	char		*t;

	memset(big, 'x', 2999);
	big[2999] = '\0';
	memcpy(big, "Subject: t\n\n", 12);
	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	j.content = big;
	send_job(1, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_PERMFAIL);
	ck_assert_str_eq(res.r[0].dsn, "5.6.0");
	ck_assert_ptr_nonnull(strstr(res.r[0].reply, "998"));
	run_for(300);
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_ptr_nonnull(strstr(t, "EOF in DATA"));
	ck_assert_ptr_null(strstr(t, "END OF DATA"));
	free(big);
	srv_stop(&s);
}
END_TEST

START_TEST(next_address_after_failures)
{
	struct srv_opts	 bad = { .mode = SRV_NORMAL, .greeting = "554 5.3.2 go away" };
	struct srv_opts	 good = { .mode = SRV_NORMAL };
	struct srv	 s1, s2;
	struct result	 res;
	struct job_spec	 j;
	char		 relay[64];

	srv_start(&s1, &bad);
	srv_start(&s2, &good);
	agent_setup();
	j = simple_job(dead_port(), "a@mx.test");
	j.ports[1] = s1.port;
	j.ports[2] = s2.port;
	send_job(1, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
	snprintf(relay, sizeof(relay), "mx.test[127.0.0.1]:%u", s2.port);
	ck_assert_str_eq(res.relay, relay);

	/* all of them failing: deferred with the last error */
	j.ports[2] = 0;
	send_job(2, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_TEMPFAIL);
	ck_assert_str_eq(res.relay, "none");
	ck_assert_ptr_nonnull(strstr(res.r[0].reply, "554 5.3.2 go away"));
	ck_assert_uint_eq(res.r[0].code, 554);

	/* nothing listening at all */
	j.ports[1] = 0;
	send_job(3, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_TEMPFAIL);
	ck_assert_str_eq(res.r[0].dsn, "4.4.1");
	ck_assert_ptr_nonnull(strstr(res.r[0].reply, "Connection refused"));
	srv_stop(&s1);
	srv_stop(&s2);
}
END_TEST

START_TEST(connection_is_reused_with_rset)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	size_t		 tl;
	char		*t;
	int		 i;

	srv_start(&s, &o);
	agent_setup();
	conf.max_mails_per_connection = 3;
	j = simple_job(s.port, "a@mx.test");
	for (i = 0; i < 4; i++) {
		send_job(i, &j);
		wait_result(&res, 10);
		ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
		/* each new connection is reported to the scheduler, a reused one not */
		ck_assert_uint_eq(res.reached, i % 3 == 0 ? 1 : 0);
	}
	run_for(300);
	t = slurp(s.dir, "transcript", &tl);
	/* 3 mails on the first connection, QUIT, the 4th on a second one */
	ck_assert_uint_eq(count(t, "ACCEPT"), 2);
	ck_assert_uint_eq(count(t, "C: RSET"), 2);
	ck_assert_uint_eq(count(t, "C: QUIT"), 1);
	ck_assert_uint_eq(count(t, "END OF DATA"), 4);
	srv_stop(&s);
}
END_TEST

/* Stopping says QUIT to idle servers and ends the loop. */
START_TEST(shutdown_quits_idle_sessions)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	size_t		 tl;
	char		*t;

	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	send_job(1, &j);
	wait_result(&res, 10);
	ctx.on_shutdown(&ctx);
	run_for(3000);	/* returns early once the agent leaves its loop */
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_uint_eq(count(t, "C: QUIT"), 1);
	/* a job arriving now is deferred at once */
	send_job(2, &j);
	wait_result(&res, 5);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_TEMPFAIL);
	srv_stop(&s);
}
END_TEST

/* Stopping lets a transaction in flight finish, answers it, then QUITs. */
START_TEST(shutdown_lets_transaction_finish)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL, .dot_delay_ms = 700 };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	size_t		 tl;
	char		*t;

	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	send_job(1, &j);
	run_for(300);		/* now waiting for the reply to the final dot */
	ctx.on_shutdown(&ctx);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
	run_for(3000);
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_uint_eq(count(t, "END OF DATA"), 1);
	ck_assert_uint_eq(count(t, "C: QUIT"), 1);
	srv_stop(&s);
}
END_TEST

struct hostile_case {
	struct srv_opts	 o;
	const char	*why;		/* part of the deferral reason */
	const char	*dsn;
};

static const struct hostile_case hostile[] = {
	{ { .mode = SRV_ENDLESS }, "too many lines", "4.5.0" },
	{ { .mode = SRV_BIGLINE }, "reply line too long", "4.5.0" },
	{ { .mode = SRV_GARBAGE }, "malformed reply", "4.5.0" },
	{ { .mode = SRV_STALL }, "timed out while receiving the initial server greeting", "4.4.2" },
	{ { .mode = SRV_CODE999 }, "invalid reply code", "4.5.0" },
	{ { .mode = SRV_CODE25X }, "invalid reply code", "4.5.0" },
	{ { .mode = SRV_STALL_DATA }, "timed out while sending message body", "4.4.2" },
	{ { .mode = SRV_DROP_AFTER_RCPT }, "lost connection", "4.4.2" },
	{ { .mode = SRV_NORMAL, .rcpt_421 = "b@" }, "421 4.3.2 going down", "4.3.2" },
	{ { .mode = SRV_NORMAL, .mail_reply = "452 4.3.1 full" }, "452 4.3.1 full", "4.3.1" },
	{ { .mode = SRV_NORMAL, .data_reply = "451 4.3.0 no" }, "451 4.3.0 no", "4.3.0" },
	{ { .mode = SRV_NORMAL, .data_reply = "250 2.0.0 what" }, "unexpected reply to DATA", "4.5.0" },
	{ { .mode = SRV_NORMAL, .dot_reply = "452 4.3.1 disk full" }, "452 4.3.1 disk full", "4.3.1" },
};

/* Each hostile server costs its session only: the agent then delivers elsewhere. */
START_TEST(hostile_server_costs_one_session)
{
	const struct hostile_case *c = &hostile[_i];
	struct srv_opts	 good = { .mode = SRV_NORMAL };
	struct srv	 s, g;
	struct result	 res;
	struct job_spec	 j;
	char		*big = NULL;
	unsigned	 i;

	srv_start(&s, &c->o);
	srv_start(&g, &good);
	agent_setup();
	agent_timeout_set(STAGE_GREETING, 1);
	agent_timeout_set(STAGE_DATA_BLOCK, 1);
	j = simple_job(s.port, "a@mx.test");
	j.rcpts[1] = "b@mx.test";
	if (c->o.mode == SRV_STALL_DATA) {
		/* more than the socket buffers hold */
		big = malloc(32 * 1024 * 1024);
		for (i = 0; i < 32 * 1024 * 1024; i++)
			big[i] = (i % 100 == 99) ? '\n' : 'z';
		j.content = big;
		j.len = 32 * 1024 * 1024;
	}
	send_job(1, &j);
	wait_result(&res, 20);
	ck_assert_uint_eq(res.n, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_msg(res.r[i].class == DELIVERY_TEMPFAIL, "rcpt %u class %u: %s", i,
		    res.r[i].class, res.r[i].reply);
		ck_assert_msg(strstr(res.r[i].reply, c->why) != NULL, "reply \"%s\" lacks \"%s\"",
		    res.r[i].reply, c->why);
		ck_assert_str_eq(res.r[i].dsn, c->dsn);
	}
	j = simple_job(g.port, "c@mx.test");
	send_job(2, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
	free(big);
	srv_stop(&s);
	srv_stop(&g);
}
END_TEST

/* 10 MB streamed in blocks arrive whole, and in order. */
START_TEST(large_mail_is_streamed)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	size_t		 n = 10 * 1024 * 1024, i, ml;
	char		*big = malloc(n), *m;

	for (i = 0; i < n; i++)
		big[i] = (i % 77 == 76) ? '\n' : (char)('a' + (i / 77) % 26);
	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	j.content = big;
	j.len = n;
	send_job(1, &j);
	wait_result(&res, 60);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
	m = slurp(s.dir, "mail.0", &ml);
	ck_assert_uint_eq(ml, n + n / 77 + (n % 77 ? 2 : 0));
	for (i = 0; i < 1000; i++) {
		size_t line = (n / 77) * i / 1000;
		ck_assert_int_eq(memcmp(m + line * 78, big + line * 77, 76), 0);
		ck_assert_int_eq(memcmp(m + line * 78 + 76, "\r\n", 2), 0);
	}
	free(big);
	srv_stop(&s);
}
END_TEST

/* The link to the scheduler dies: its jobs are dropped, a new link works. */
START_TEST(dead_scheduler_link_drops_its_jobs)
{
	struct srv_opts	 stall = { .mode = SRV_STALL };
	struct srv_opts	 good = { .mode = SRV_NORMAL };
	struct srv	 s, g;
	struct result	 res;
	struct job_spec	 j;
	int		 sv[2];

	srv_start(&s, &stall);
	srv_start(&g, &good);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	send_job(1, &j);
	run_for(300);
	close(sched_fd);
	ck_assert_int_eq(frame_socketpair(sv), 0);
	ctx.on_peer(&ctx, PROC_SCHEDULER, 0, sv[0]);
	sched_fd = sv[1];
	run_for(300);
	j = simple_job(g.port, "b@mx.test");
	send_job(2, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.reqid, 2);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
	srv_stop(&s);
	srv_stop(&g);
}
END_TEST

/* ------------------------------------------------------------------ */
/* TLS policy and AUTH, against a server without TLS                   */

#define EHLO_STARTTLS_AUTH \
    "250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n"
#define EHLO_AUTH_PLAIN_LOGIN \
    "250-mx.test\r\n250-PIPELINING\r\n250-AUTH=LOGIN\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n" \
    "250 8BITMIME\r\n"

/* The master's MSG_CTL_RELAY_AUTH, through the agent's control hook. */
static void
give_credentials(const char *user, const char *pass)
{
	static uint8_t	 buf[4096];
	struct fbuf	*fb = fbuf_new(MSG_CTL_RELAY_AUTH, 0);
	struct frame	 f;
	const char	*why;

	fbuf_add_str(fb, user);
	fbuf_add_str(fb, pass);
	memcpy(buf, fb->data, fb->len);
	ck_assert_int_eq(frame_parse(buf, fb->len, -1, &f, &why), 0);
	fbuf_free(fb);
	ck_assert_ptr_nonnull(ctx.on_master);
	ck_assert_int_eq(ctx.on_master(&ctx, &f), 0);
	ck_assert(memmem(buf, sizeof(buf), pass, strlen(pass)) == NULL);
}

/* encrypt/verify without STARTTLS: deferred, no transaction in clear. */
START_TEST(tls_required_but_not_offered)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	char		*t;
	size_t		 tl;

	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	j.tls = _i == 0 ? TLS_ENCRYPT : TLS_VERIFY;
	send_job(1, &j);
	wait_result(&res, 10);
	ck_assert_uint_eq(res.r[0].class, DELIVERY_TEMPFAIL);
	ck_assert_str_eq(res.r[0].dsn, "4.7.4");
	ck_assert_ptr_nonnull(strstr(res.r[0].reply, "does not offer STARTTLS"));
	/* reported once for TLS reporting: starttls-not-supported */
	ck_assert_uint_eq(res.ntls, 1);
	ck_assert_uint_eq(res.tls_outcome, TLSO_NO_STARTTLS);
	run_for(200);
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_ptr_nonnull(strstr(t, "C: EHLO"));
	ck_assert_ptr_null(strstr(t, "C: MAIL"));
	srv_stop(&s);
}
END_TEST

/* may: STARTTLS refused (454) -> the mail goes in clear; encrypt: deferred. */
START_TEST(starttls_refused)
{
	struct srv_opts	 o = { .mode = SRV_NORMAL, .ehlo = EHLO_STARTTLS_AUTH };
	struct srv	 s;
	struct result	 res;
	struct job_spec	 j;
	char		*t;
	size_t		 tl;

	srv_start(&s, &o);
	agent_setup();
	j = simple_job(s.port, "a@mx.test");
	j.tls = _i == 0 ? TLS_MAY : TLS_ENCRYPT;
	send_job(1, &j);
	wait_result(&res, 10);
	run_for(200);
	t = slurp(s.dir, "transcript", &tl);
	ck_assert_ptr_nonnull(strstr(t, "C: STARTTLS"));
	if (_i == 0) {
		ck_assert_uint_eq(res.r[0].class, DELIVERY_OK);
		ck_assert_ptr_nonnull(strstr(t, "C: MAIL"));
	} else {
		ck_assert_uint_eq(res.r[0].class, DELIVERY_TEMPFAIL);
		ck_assert_str_eq(res.r[0].dsn, "4.7.4");
		ck_assert_ptr_null(strstr(t, "C: MAIL"));
	}
	/* AUTH goes to the relay host only */
	ck_assert_ptr_null(strstr(t, "C: AUTH"));
	srv_stop(&s);
}
END_TEST

struct auth_case {
	const char	*ehlo;
	bool		 plaintext_ok;	/* relay_auth_plaintext */
	const char	*auth_reply;
	bool		 relay;		/* DELIVER_F_RELAY */
	int		 class;
	const char	*dsn;
	const char	*in_transcript[4];
	const char	*not_in_transcript[3];
	const char	*in_reply;
};

static const struct auth_case auth_cases[] = {
	/* LOGIN in clear to a loopback relay, allowed by relay_auth_plaintext */
	{ EHLO_STARTTLS_AUTH, true, NULL, true, DELIVERY_OK, "2.0.0",
	  { "C: AUTH LOGIN\r\n", "C: cmVsYXl1c2Vy\r\n", "C: c2VjcmV0LXB3\r\n", "C: MAIL" },
	  { NULL }, NULL },
	/* PLAIN preferred, with an initial response */
	{ EHLO_AUTH_PLAIN_LOGIN, true, NULL, true, DELIVERY_OK, "2.0.0",
	  { "C: AUTH PLAIN AHJlbGF5dXNlcgBzZWNyZXQtcHc=\r\n", "C: MAIL" },
	  { "AUTH LOGIN" }, NULL },
	/* 535: this attempt fails, temporarily, nothing sent */
	{ EHLO_AUTH_PLAIN_LOGIN, true, "535 5.7.8 Authentication credentials invalid", true,
	  DELIVERY_TEMPFAIL, "4.7.8", { "C: AUTH PLAIN", "C: QUIT" }, { "C: MAIL" },
	  "refused the credentials" },
	/* 421 during AUTH: the server leaves, not a refusal of the credentials */
	{ EHLO_AUTH_PLAIN_LOGIN, true, "421 4.3.2 going down", true, DELIVERY_TEMPFAIL, "4.3.2",
	  { "C: AUTH PLAIN" }, { "C: MAIL" }, "closed the connection during AUTH" },
	/* no TLS and no permission for plaintext: the credentials stay here */
	{ EHLO_AUTH_PLAIN_LOGIN, false, NULL, true, DELIVERY_TEMPFAIL, "4.7.0",
	  { "C: EHLO" }, { "C: AUTH", "C: MAIL" }, "without TLS" },
	/* not the relay host: no AUTH at all */
	{ EHLO_AUTH_PLAIN_LOGIN, true, NULL, false, DELIVERY_OK, "2.0.0",
	  { "C: MAIL" }, { "C: AUTH" }, NULL },
	/* a server without AUTH: sent without authentication */
	{ NULL, true, NULL, true, DELIVERY_OK, "2.0.0", { "C: MAIL" }, { "C: AUTH" }, NULL },
	/* no mechanism in common: deferred */
	{ "250-mx.test\r\n250 AUTH CRAM-MD5 GSSAPI\r\n", true, NULL, true, DELIVERY_TEMPFAIL,
	  "4.7.0", { "C: EHLO" }, { "C: AUTH", "C: MAIL" }, "no AUTH mechanism" },
};

START_TEST(relay_auth)
{
	const struct auth_case	*c = &auth_cases[_i];
	struct srv_opts		 o = { .mode = SRV_NORMAL, .ehlo = c->ehlo,
				       .auth_reply = c->auth_reply };
	struct srv		 s;
	struct result		 res;
	struct job_spec		 j;
	char			*t;
	size_t			 tl;
	unsigned		 k;

	srv_start(&s, &o);
	agent_setup();
	conf.relay_auth_plaintext = c->plaintext_ok;
	give_credentials("relayuser", "secret-pw");
	j = simple_job(s.port, "a@mx.test");
	j.tls = TLS_NONE;
	j.dflags = c->relay ? DELIVER_F_RELAY : 0;
	send_job(1, &j);
	wait_result(&res, 10);
	run_for(300);
	ck_assert_uint_eq(res.r[0].class, c->class);
	ck_assert_str_eq(res.r[0].dsn, c->dsn);
	if (c->in_reply != NULL)
		ck_assert_msg(strstr(res.r[0].reply, c->in_reply) != NULL, "reply: %s",
		    res.r[0].reply);
	ck_assert_ptr_null(strstr(res.r[0].reply, "secret-pw"));
	t = slurp(s.dir, "transcript", &tl);
	for (k = 0; k < 4 && c->in_transcript[k] != NULL; k++)
		ck_assert_msg(strstr(t, c->in_transcript[k]) != NULL, "missing %s in:\n%s",
		    c->in_transcript[k], t);
	for (k = 0; k < 3 && c->not_in_transcript[k] != NULL; k++)
		ck_assert_msg(strstr(t, c->not_in_transcript[k]) == NULL, "unexpected %s in:\n%s",
		    c->not_in_transcript[k], t);
	srv_stop(&s);
}
END_TEST

/* A connection set up for one policy or for the relay is not reused for another. */
START_TEST(reuse_respects_tls_policy)
{
	static const struct { uint8_t tls, dflags; bool match; } m[] = {
		{ TLS_MAY, 0, true },
		{ TLS_NONE, 0, false },
		{ TLS_VERIFY, 0, false },
		{ TLS_MAY, DELIVER_F_RELAY, false },
		{ TLS_MAY, DELIVER_F_SMTPS, false },
	};
	struct agent_session	 sess;
	struct agent_job	 job;
	struct agent_addr	 addr;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&addr.ss;
	unsigned		 i;

	memset(&addr, 0, sizeof(addr));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(25);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sslen = sizeof(*sin);
	addr.port = 25;
	memset(&sess, 0, sizeof(sess));
	sess.state = S_IDLE;
	sess.addr = addr;
	sess.tls_policy = TLS_MAY;
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		memset(&job, 0, sizeof(job));
		job.addrs = &addr;
		job.naddr = 1;
		job.tls = m[i].tls;
		job.dflags = m[i].dflags;
		ck_assert_int_eq(session_matches(&sess, &job), m[i].match);
	}
}
END_TEST

static Suite *
agent_session_suite(void)
{
	Suite	*s = suite_create("agent_session");
	TCase	*tc = tcase_create("session");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, delivers_with_pipelining_byte_exact);
	tcase_add_loop_test(tc, per_recipient_results, 0, 2);
	tcase_add_test(tc, helo_fallback);
	tcase_add_test(tc, size_limit_is_respected);
	tcase_add_test(tc, long_line_fails_without_delivery);
	tcase_add_test(tc, next_address_after_failures);
	tcase_add_test(tc, connection_is_reused_with_rset);
	tcase_add_test(tc, shutdown_quits_idle_sessions);
	tcase_add_test(tc, shutdown_lets_transaction_finish);
	tcase_add_loop_test(tc, hostile_server_costs_one_session, 0,
	    sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_test(tc, large_mail_is_streamed);
	tcase_add_test(tc, dead_scheduler_link_drops_its_jobs);
	tcase_add_loop_test(tc, tls_required_but_not_offered, 0, 2);
	tcase_add_loop_test(tc, starttls_refused, 0, 2);
	tcase_add_loop_test(tc, relay_auth, 0, sizeof(auth_cases) / sizeof(auth_cases[0]));
	tcase_add_test(tc, reuse_respects_tls_policy);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(agent_session_suite());
}
