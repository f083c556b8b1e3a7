/* SPDX-License-Identifier: ISC */
/*
 * test_smtpd_session.c - smtpd sessions end to end inside one process: a
 * client on a stream socketpair, smtpd's real event code, and a scripted
 * qmgr on a SEQPACKET link that decodes every frame smtpd sends.
 * Proves the dialogue (order, sequence errors, pipelining), what reaches
 * qmgr (envelope, Received header, unstuffed bytes), limits, relaying
 * refusal, qmgr errors and qmgr going away or coming back, flow control.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "smtpd/smtpd.h"
#include "check_run.h"

/* The scripted queue manager. */
struct fakeq {
	int		 fd;
	bool		 reading;	/* false: frames pile up in the socket */
	uint16_t	 err_code;	/* answer COMMIT with SUBMIT_ERROR when set */
	const char	*err_dsn, *err_text;
	bool		 silent;	/* never answer COMMIT */
	unsigned	 nbegin, nrcpt, ncommit, nabort, nqueued;
	uint32_t	 flags;
	char		 sender[ADDR_MAX];
	char		 origin[512];
	char		 rcpt[8][ADDR_MAX];
	uint8_t		*data;
	size_t		 datalen, datacap;
	uint32_t	 reqid;
};

struct env {
	struct event_base	*base;
	struct config		 conf;
	struct smtpd		 sd;
	struct fakeq		 q;
	int			 client;	/* our end of the session */
	char			*in;		/* what the client received */
	size_t			 inlen, incap, seen;
	bool			 eof;
};

static uint8_t	rbuf[FRAME_MAX];

static void
fakeq_frame(struct env *e, struct frame *f)
{
	struct fakeq	*q = &e->q;
	const uint8_t	*p;
	size_t		 n;
	struct fbuf	*fb;
	char		 id[32];

	switch (f->hdr.type) {
	case MSG_SUBMIT_BEGIN:
		q->nbegin++;
		q->reqid = f->hdr.reqid;
		q->datalen = 0;
		q->nrcpt = 0;
		ck_assert(frame_get_u32(f, &q->flags));
		ck_assert(frame_get_str(f, q->sender, sizeof(q->sender)));
		ck_assert(frame_get_str(f, q->origin, sizeof(q->origin)));
		break;
	case MSG_SUBMIT_RCPT:
		ck_assert_uint_eq(f->hdr.reqid, q->reqid);
		ck_assert_uint_lt(q->nrcpt, 8);
		ck_assert(frame_get_str(f, q->rcpt[q->nrcpt], sizeof(q->rcpt[0])));
		q->nrcpt++;
		break;
	case MSG_SUBMIT_DATA:
		ck_assert_uint_eq(f->hdr.reqid, q->reqid);
		ck_assert(frame_get_bytes(f, &p, &n));
		ck_assert_uint_lt(n, FRAME_PAYLOAD_MAX);
		if (q->datalen + n > q->datacap) {
			q->datacap = (q->datalen + n) * 2;
			q->data = realloc(q->data, q->datacap);
			ck_assert_ptr_nonnull(q->data);
		}
		memcpy(q->data + q->datalen, p, n);
		q->datalen += n;
		break;
	case MSG_SUBMIT_COMMIT:
		ck_assert_uint_eq(f->hdr.reqid, q->reqid);
		q->ncommit++;
		if (q->silent)
			break;
		if (q->err_code != 0) {
			fb = fbuf_new(MSG_SUBMIT_ERROR, f->hdr.reqid);
			fbuf_add_u16(fb, q->err_code);
			fbuf_add_str(fb, q->err_dsn);
			fbuf_add_str(fb, q->err_text);
		} else {
			q->nqueued++;
			snprintf(id, sizeof(id), "Q%u", q->nqueued);
			fb = fbuf_new(MSG_SUBMIT_QUEUED, f->hdr.reqid);
			fbuf_add_str(fb, id);
		}
		ck_assert_int_eq(frame_send(q->fd, fb), 0);
		fbuf_free(fb);
		break;
	case MSG_SUBMIT_ABORT:
		q->nabort++;
		break;
	default:
		ck_abort_msg("unexpected frame %u", f->hdr.type);
	}
	ck_assert(frame_end(f));
}

static void
pump(struct env *e)
{
	struct frame	 f;
	const char	*why;
	ssize_t		 n;

	(void)event_base_loop(e->base, EVLOOP_NONBLOCK);
	while (e->q.reading && e->q.fd != -1 && frame_recv(e->q.fd, rbuf, &f, &why) == 1)
		fakeq_frame(e, &f);
	for (;;) {
		if (e->inlen + 4096 > e->incap) {
			e->incap = e->incap * 2 + 8192;
			e->in = realloc(e->in, e->incap + 1);
		}
		n = read(e->client, e->in + e->inlen, e->incap - e->inlen);
		if (n > 0) {
			e->inlen += (size_t)n;
			e->in[e->inlen] = '\0';
			continue;
		}
		if (n == 0)
			e->eof = true;
		break;
	}
}

static void
pump_ms(struct env *e, int ms)
{
	int	i;

	for (i = 0; i < ms; i++) {
		pump(e);
		usleep(1000);
	}
}

/* Wait for the client to receive text (after what earlier expects consumed). */
static void
expect(struct env *e, const char *text)
{
	char	*hit;
	int	 i;

	for (i = 0; i < 3000; i++) {
		pump(e);
		if (e->in != NULL && (hit = strstr(e->in + e->seen, text)) != NULL) {
			e->seen = (size_t)(hit - e->in) + strlen(text);
			return;
		}
		usleep(1000);
	}
	ck_abort_msg("never received \"%s\"; got: %s", text,
	    e->in ? e->in + e->seen : "(nothing)");
}

static void
expect_eof(struct env *e)
{
	int	i;

	for (i = 0; i < 3000 && !e->eof; i++) {
		pump(e);
		usleep(1000);
	}
	ck_assert_msg(e->eof, "connection not closed");
}

static void
say(struct env *e, const char *text)
{
	size_t	len = strlen(text), off = 0;
	ssize_t	n;

	while (off < len) {
		n = write(e->client, text + off, len - off);
		if (n == -1 && errno == EAGAIN) {
			pump(e);
			continue;
		}
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
}

static void
connect_from(struct env *e, const char *ip)
{
	struct sockaddr_in	sin;
	int			sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	e->client = sv[1];
	free(e->in);
	e->in = NULL;
	e->inlen = e->incap = e->seen = 0;
	e->eof = false;
	session_accept(&e->sd, sv[0], (struct sockaddr *)&sin, sizeof(sin));
}

static void
connect_from6(struct env *e, const char *ip)
{
	struct sockaddr_in6	sin6;
	int			sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(40000);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	e->client = sv[1];
	free(e->in);
	e->in = NULL;
	e->inlen = e->incap = e->seen = 0;
	e->eof = false;
	session_accept(&e->sd, sv[0], (struct sockaddr *)&sin6, sizeof(sin6));
}

static void
qmgr_up(struct env *e)
{
	int	qv[2];

	ck_assert_int_eq(frame_socketpair(qv), 0);
	smtpd_qmgr_link(&e->sd, qv[0]);
	e->q.fd = qv[1];
	e->q.reading = true;
}

static void
setup(struct env *e, void (*tune)(struct config *))
{
	char	err[256];

	memset(e, 0, sizeof(*e));
	log_init("smtpd", LOG_TO_STDERR, NULL);
	ck_assert_int_eq(config_parse(&e->conf, "t", "", 0, err, sizeof(err)), 0);
	strlcpy(e->conf.helo_name, "mx.test", sizeof(e->conf.helo_name));
	if (tune != NULL)
		tune(&e->conf);
	e->base = event_base_new();
	smtpd_init(&e->sd, e->base, &e->conf);
	qmgr_up(e);
	connect_from(e, "127.0.0.1");
	expect(e, "220 mx.test ESMTP outpost\r\n");
}

/* Free everything, so leak checkers see a clean exit. */
static void
teardown(struct env *e)
{
	struct smtpd_session	*s, *next;
	int			 i;

	TAILQ_FOREACH_SAFE(s, &e->sd.sessions, entry, next)
		session_free(s);
	if (e->sd.qmgr != NULL)
		chan_close(e->sd.qmgr, NULL);
	for (i = 0; i < 5; i++)
		(void)event_base_loop(e->base, EVLOOP_NONBLOCK);
	event_free(e->sd.accept_pause);
	if (e->sd.stop_ev != NULL)
		event_free(e->sd.stop_ev);
	event_base_free(e->base);
	if (e->q.fd != -1)
		close(e->q.fd);
	close(e->client);
	free(e->in);
	free(e->q.data);
	config_free(&e->conf);
}

static void
hello(struct env *e)
{
	say(e, "EHLO client.test\r\n");
	expect(e, "250 ENHANCEDSTATUSCODES\r\n");
}

START_TEST(ehlo_offers_the_extensions)
{
	struct env	e;

	setup(&e, NULL);
	say(&e, "EHLO client.test\r\n");
	expect(&e, "250-mx.test Hello client.test [127.0.0.1]\r\n"
	    "250-PIPELINING\r\n250-SIZE 36700160\r\n250-8BITMIME\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n");
	say(&e, "HELO other\r\n");
	expect(&e, "250 mx.test\r\n");
	say(&e, "NOOP\r\nVRFY someone\r\nHELP\r\nQUIT\r\n");
	expect(&e, "250 2.0.0 Ok\r\n");
	expect(&e, "252 2.0.0 ");
	expect(&e, "214 2.0.0 ");
	expect(&e, "221 2.0.0 Bye\r\n");
	expect_eof(&e);
	ck_assert_uint_eq(e.sd.nsessions, 0);
	teardown(&e);
}
END_TEST

START_TEST(a_mail_is_queued_with_its_exact_bytes)
{
	struct env	 e;
	const char	*hdr_end;

	setup(&e, NULL);
	hello(&e);
	say(&e, "MAIL FROM:<sender@client.test> BODY=8BITMIME SIZE=100\r\n");
	expect(&e, "250 2.1.0 Ok\r\n");
	say(&e, "RCPT TO:<Rcpt@Dest.Example>\r\n");
	expect(&e, "250 2.1.5 Ok\r\n");
	say(&e, "DATA\r\n");
	expect(&e, "354 ");
	ck_assert_uint_eq(e.q.nbegin, 1);
	say(&e, "Subject: hi\r\n\r\n..dot\r\n\xe9t\xe9\r\n.\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q1\r\n");

	ck_assert_uint_eq(e.q.ncommit, 1);
	ck_assert_str_eq(e.q.sender, "sender@client.test");
	ck_assert_uint_eq(e.q.flags, SUBMIT_F_8BITMIME);
	ck_assert(strstr(e.q.origin, "[127.0.0.1]") != NULL);
	ck_assert_uint_eq(e.q.nrcpt, 1);
	ck_assert_str_eq(e.q.rcpt[0], "Rcpt@Dest.Example");
	e.q.data = realloc(e.q.data, e.q.datalen + 1);
	e.q.data[e.q.datalen] = '\0';
	ck_assert_msg(strncmp((char *)e.q.data,
	    "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (outpost) with ESMTP id ",
	    78) == 0, "%s", e.q.data);
	ck_assert(strstr((char *)e.q.data, "\r\n\tfor <Rcpt@Dest.Example>;\r\n\t") != NULL);
	hdr_end = strstr((char *)e.q.data, "+0000\r\n");
	ck_assert_ptr_nonnull(hdr_end);
	ck_assert_str_eq(hdr_end + 7, "Subject: hi\r\n\r\n.dot\r\n\xe9t\xe9\r\n");

	/* a second transaction in the same session */
	say(&e, "MAIL FROM:<>\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "x\r\n.\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q2\r\n");
	ck_assert_str_eq(e.q.sender, "");
	ck_assert_uint_eq(e.q.flags, 0);
	ck_assert_uint_eq(e.q.nrcpt, 2);
	e.q.data[e.q.datalen - 1] = '\0';
	ck_assert(strstr((char *)e.q.data, "\tfor <") == NULL);
	teardown(&e);
}
END_TEST

START_TEST(pipelined_commands_are_answered_in_order)
{
	struct env	e;

	setup(&e, NULL);
	/* everything in one write, the message and what follows included */
	say(&e, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n"
	    "RCPT TO:<bad>\r\nRCPT TO:<z@y.test>\r\nDATA\r\n"
	    "line 1\r\nQUIT\r\n.\r\nRSET\r\nMAIL FROM:<c@d.test>\r\nQUIT\r\n");
	expect(&e, "250 ENHANCEDSTATUSCODES\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n501 5.1.3 Bad recipient address syntax: address has no domain\r\n"
	    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n");
	expect_eof(&e);
	ck_assert_uint_eq(e.q.nrcpt, 2);
	/* "QUIT" inside the message is data */
	ck_assert(memmem(e.q.data, e.q.datalen, "line 1\r\nQUIT\r\n", 14) != NULL);
	ck_assert(e.q.datalen >= 14 &&
	    memcmp(e.q.data + e.q.datalen - 14, "line 1\r\nQUIT\r\n", 14) == 0);
	teardown(&e);
}
END_TEST

START_TEST(commands_out_of_sequence)
{
	struct env	e;

	setup(&e, NULL);
	say(&e, "MAIL FROM:<a@b.test>\r\n");
	expect(&e, "503 5.5.1 Error: send HELO/EHLO first\r\n");
	hello(&e);
	say(&e, "RCPT TO:<a@b.test>\r\n");
	expect(&e, "503 5.5.1 Error: need MAIL command\r\n");
	say(&e, "DATA\r\n");
	expect(&e, "503 5.5.1 Error: need MAIL command\r\n");
	say(&e, "MAIL FROM:<a@b.test>\r\n");
	expect(&e, "250 2.1.0 Ok\r\n");
	say(&e, "MAIL FROM:<a@b.test>\r\n");
	expect(&e, "503 5.5.1 Error: nested MAIL command\r\n");
	say(&e, "DATA\r\n");
	expect(&e, "503 5.5.1 Error: need RCPT command\r\n");
	say(&e, "RCPT TO:<>\r\n");
	expect(&e, "501 5.1.3 ");
	say(&e, "DATA\r\n");
	expect(&e, "554 5.5.1 Error: no valid recipients\r\n");
	say(&e, "RSET\r\n");
	expect(&e, "250 2.0.0 Ok\r\n");
	say(&e, "RCPT TO:<a@b.test>\r\n");
	expect(&e, "503 5.5.1 Error: need MAIL command\r\n");
	say(&e, "FOO\r\n");
	expect(&e, "500 5.5.2 Command not recognized\r\n");
	/* EHLO resets a transaction */
	say(&e, "MAIL FROM:<a@b.test>\r\nEHLO again\r\nRCPT TO:<a@b.test>\r\n");
	expect(&e, "503 5.5.1 Error: need MAIL command\r\n");
	ck_assert_uint_eq(e.q.nbegin, 0);
	teardown(&e);
}
END_TEST

START_TEST(overlong_command_lines_are_refused_without_buffering)
{
	struct env	 e;
	char		*big;
	size_t		 i;

	setup(&e, NULL);
	hello(&e);
	/* 510 octets + CRLF = 512: the longest allowed */
	if ((big = malloc(4 * 1024 * 1024 + 16)) == NULL)
		ck_abort_msg("out of memory");
	memset(big, 'x', 600);
	memcpy(big, "NOOP ", 5);
	memcpy(big + 510, "\r\n", 3);
	say(&e, big);
	expect(&e, "250 2.0.0 Ok\r\n");
	memcpy(big + 510, "y\r\n", 4);
	say(&e, big);
	expect(&e, "500 5.5.2 Line too long (512 octets max)\r\n");
	/* a 4 MB line: input stays small while it streams */
	memset(big, 'z', 4 * 1024 * 1024);
	big[4 * 1024 * 1024] = '\0';
	for (i = 0; i < 4; i++) {
		say(&e, big + i * 1024 * 1024 + (i == 3 ? 0 : 3 * 1024 * 1024));
		pump_ms(&e, 2);
	}
	memcpy(big, "\r\nNOOP\r\n", 9);
	say(&e, big);
	expect(&e, "500 5.5.2 Line too long (512 octets max)\r\n250 2.0.0 Ok\r\n");
	free(big);
	teardown(&e);
}
END_TEST

static void
two_rcpts(struct config *c)
{
	c->max_recipients = 2;
}

START_TEST(recipient_limit)
{
	struct env	e;

	setup(&e, two_rcpts);
	hello(&e);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<1@b.test>\r\nRCPT TO:<2@b.test>\r\n"
	    "RCPT TO:<3@b.test>\r\nDATA\r\n");
	expect(&e, "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n354 ");
	say(&e, "hi\r\n.\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q1\r\n");
	ck_assert_uint_eq(e.q.nrcpt, 2);
	teardown(&e);
}
END_TEST

static void
small_messages(struct config *c)
{
	c->max_message_size = 100;
}

START_TEST(size_limit_declared_and_actual)
{
	struct env	e;

	setup(&e, small_messages);
	say(&e, "EHLO c\r\n");
	expect(&e, "250-SIZE 100\r\n");
	say(&e, "MAIL FROM:<a@b.test> SIZE=101\r\n");
	expect(&e, "552 5.3.4 Message size exceeds fixed limit of 100 octets\r\n");
	say(&e, "MAIL FROM:<a@b.test> SIZE=100\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890123456789\r\n.\r\n");
	expect(&e, "552 5.3.4 Message too big (100 octets max)\r\n");
	ck_assert_uint_eq(e.q.nabort, 1);
	ck_assert_uint_eq(e.q.ncommit, 0);
	/* the session goes on */
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "small\r\n.\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q1\r\n");
	teardown(&e);
}
END_TEST

START_TEST(long_text_line_and_bare_lf_reject_the_message)
{
	struct env	 e;
	char		 line[1100];

	setup(&e, NULL);
	hello(&e);
	memset(line, 'a', sizeof(line));
	memcpy(line + 1001, "\r\n.\r\n", 6);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, line);
	expect(&e, "554 5.6.0 Message has a line longer than 1000 octets\r\n");
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "a\n.\nMAIL FROM:<evil@x.test>\n\r\n.\r\n");
	expect(&e, "554 5.6.0 Message has a bare CR or LF");
	ck_assert_uint_eq(e.q.nabort, 2);
	ck_assert_uint_eq(e.q.ncommit, 0);
	teardown(&e);
}
END_TEST

START_TEST(qmgr_errors_are_relayed)
{
	struct env	e;

	setup(&e, NULL);
	e.q.err_code = 452;
	e.q.err_dsn = "4.3.1";
	e.q.err_text = "Insufficient system storage";
	hello(&e);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "x\r\n.\r\n");
	expect(&e, "452 4.3.1 Insufficient system storage\r\n");
	/* a bogus code, status and text are not passed on as such */
	e.q.err_code = 250;
	e.q.err_dsn = "2.0.0";
	e.q.err_text = "evil\r\n250 ok";
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "x\r\n.\r\n");
	expect(&e, "451 4.3.0 evil??250 ok\r\n");
	teardown(&e);
}
END_TEST

START_TEST(qmgr_lost_during_data_then_back)
{
	struct env	e;

	setup(&e, NULL);
	hello(&e);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "part one\r\n");
	pump_ms(&e, 5);
	close(e.q.fd);
	e.q.fd = -1;
	pump_ms(&e, 5);
	say(&e, "part two\r\n.\r\n");
	expect(&e, "451 4.3.0 Queue manager unavailable, try again later\r\n");
	say(&e, "MAIL FROM:<a@b.test>\r\n");
	expect(&e, "451 4.3.0 ");
	/* qmgr restarted: a new link arrives */
	qmgr_up(&e);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "again\r\n.\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q1\r\n");
	teardown(&e);
}
END_TEST

START_TEST(qmgr_lost_while_committing)
{
	struct env	e;

	setup(&e, NULL);
	e.q.silent = true;
	hello(&e);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "x\r\n.\r\nNOOP\r\n");
	pump_ms(&e, 20);
	ck_assert_uint_eq(e.q.ncommit, 1);
	/* no reply to the dot yet, and the pipelined NOOP waits behind it */
	ck_assert(strstr(e.in + e.seen, "250") == NULL);
	close(e.q.fd);
	e.q.fd = -1;
	expect(&e, "451 4.3.0 Queue manager unavailable, try again later\r\n250 2.0.0 Ok\r\n");
	teardown(&e);
}
END_TEST

START_TEST(clients_outside_the_allowed_networks_are_refused)
{
	struct env	e;

	setup(&e, NULL);
	connect_from(&e, "192.0.2.1");
	expect(&e, "554 5.7.1 mx.test: [192.0.2.1] is not allowed to submit mail");
	expect_eof(&e);
	ck_assert_uint_eq(e.sd.nsessions, 1);
	teardown(&e);
}
END_TEST

START_TEST(ipv6_clients)
{
	struct env	e;

	setup(&e, NULL);
	close(e.client);
	connect_from6(&e, "::1");
	expect(&e, "220 ");
	say(&e, "EHLO v6\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	say(&e, "x\r\n.\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q1\r\n");
	ck_assert(strstr(e.q.origin, "[::1]") != NULL);
	ck_assert(memmem(e.q.data, e.q.datalen, "from v6 ([IPv6:::1])\r\n", 22) != NULL);
	/* an IPv4-mapped client is an IPv4 client */
	connect_from6(&e, "::ffff:127.0.0.1");
	expect(&e, "220 ");
	say(&e, "EHLO v4\r\n");
	expect(&e, "250-mx.test Hello v4 [127.0.0.1]\r\n");
	/* outside the allowed networks */
	connect_from6(&e, "2001:db8::1");
	expect(&e, "554 5.7.1 ");
	expect_eof(&e);
	teardown(&e);
}
END_TEST

static void
one_session(struct config *c)
{
	c->limits[PROC_SMTPD].max_sessions = 1;
}

START_TEST(session_limit)
{
	struct env	e;
	int		first;

	setup(&e, one_session);
	first = e.client;
	connect_from(&e, "127.0.0.1");
	expect(&e, "421 4.3.2 mx.test Too many connections, try again later\r\n");
	expect_eof(&e);
	close(first);
	pump_ms(&e, 10);
	ck_assert_uint_eq(e.sd.nsessions, 0);
	connect_from(&e, "127.0.0.1");
	expect(&e, "220 ");
	teardown(&e);
}
END_TEST

START_TEST(slow_qmgr_throttles_the_client)
{
	struct env	 e;
	size_t		 total = 8 * 1024 * 1024, sent = 0, line = 0, max_pending = 0;
	char		*msg;
	ssize_t		 n;
	int		 i;

	setup(&e, NULL);
	hello(&e);
	say(&e, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
	expect(&e, "354 ");
	e.q.reading = false;
	msg = malloc(total + 8);
	for (i = 0; (size_t)i < total; i++) {
		if (line == 78) {
			msg[i++] = '\r';
			msg[i] = '\n';
			line = 0;
		} else {
			msg[i] = (char)('a' + i % 26);
			line++;
		}
	}
	memcpy(msg + total - 2, "\r\n", 2);
	/* push until the client cannot write any more: smtpd stopped reading */
	for (i = 0; i < 2000 && sent < total; i++) {
		n = write(e.client, msg + sent, total - sent);
		if (n > 0)
			sent += (size_t)n;
		pump(&e);
		if (e.sd.qmgr != NULL && chan_pending(e.sd.qmgr) > max_pending)
			max_pending = chan_pending(e.sd.qmgr);
	}
	ck_assert_msg(sent < total, "smtpd took everything while qmgr did not read");
	ck_assert_uint_le(max_pending, SMTPD_QMGR_BACKLOG + 2 * SMTPD_CHUNK);
	/* qmgr reads again: the whole message arrives intact */
	e.q.reading = true;
	while (sent < total) {
		n = write(e.client, msg + sent, total - sent);
		if (n > 0)
			sent += (size_t)n;
		pump(&e);
	}
	say(&e, ".\r\n");
	expect(&e, "250 2.0.0 Ok: queued as Q1\r\n");
	ck_assert(e.q.datalen > total);
	ck_assert(memcmp(e.q.data + e.q.datalen - total, msg, total) == 0);
	free(msg);
	teardown(&e);
}
END_TEST

START_TEST(garbage_gets_errors_then_the_door)
{
	struct env	e;
	int		i;

	setup(&e, NULL);
	for (i = 0; i < 25; i++)
		say(&e, "\x01\x02garbage\xff\r\n");
	expect(&e, "500 5.5.2 Invalid character in command\r\n");
	expect(&e, "421 4.7.0 mx.test Too many errors, closing\r\n");
	expect_eof(&e);
	teardown(&e);
}
END_TEST

START_TEST(shutdown_closes_idle_sessions)
{
	struct env	e;

	setup(&e, NULL);
	hello(&e);
	smtpd_stop(&e.sd);
	expect(&e, "421 4.3.2 mx.test Service shutting down\r\n");
	expect_eof(&e);
	ck_assert_uint_eq(e.sd.nsessions, 0);
	teardown(&e);
}
END_TEST

/* Backpressure, not the junk-command limit, is what the next test is about. */
static void
no_junk_limit(struct config *c)
{
	c->junk_command_limit = 0;
}

/*
 * A client that pipelines commands without reading the replies: smtpd
 * stops reading it once its replies back up, then serves it in full.
 */
START_TEST(a_client_that_does_not_read_is_paused_then_served)
{
	struct env		 e;
	struct smtpd_session	*s;
	static const char	 noop[] = "NOOP\r\n";
	const size_t		 k = 100000, len = k * (sizeof(noop) - 1);
	char			*buf, *p;
	size_t			 off = 0, i, n250 = 0;
	ssize_t			 n;
	int			 idle = 0, tries;

	setup(&e, no_junk_limit);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < k; i++)
		memcpy(buf + i * (sizeof(noop) - 1), noop, sizeof(noop) - 1);
	/* write without reading a single reply, until smtpd stops taking input */
	while (off < len && idle < 200) {
		n = write(e.client, buf + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			idle = 0;
		} else {
			ck_assert(n == -1 && errno == EAGAIN);
			idle++;
		}
		(void)event_base_loop(e.base, EVLOOP_NONBLOCK);
	}
	ck_assert_uint_lt(off, len);
	s = TAILQ_FIRST(&e.sd.sessions);
	ck_assert_ptr_nonnull(s);
	ck_assert(s->pause & PAUSE_OUTPUT);
	/* now read: every command gets its reply, in order, none lost */
	for (tries = 0; tries < 100000 && (off < len || n250 < k); tries++) {
		if (off < len && (n = write(e.client, buf + off, len - off)) > 0)
			off += (size_t)n;
		pump(&e);
		while (e.in != NULL && (p = strstr(e.in + e.seen, "250 2.0.0 Ok\r\n")) != NULL) {
			e.seen = (size_t)(p - e.in) + 14;
			n250++;
		}
	}
	ck_assert_uint_eq(n250, k);
	say(&e, "QUIT\r\n");
	expect(&e, "221 2.0.0 Bye\r\n");
	expect_eof(&e);
	free(buf);
	teardown(&e);
}
END_TEST

static Suite *
session_suite(void)
{
	Suite	*s = suite_create("smtpd_session");
	TCase	*tc = tcase_create("session");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ehlo_offers_the_extensions);
	tcase_add_test(tc, a_mail_is_queued_with_its_exact_bytes);
	tcase_add_test(tc, pipelined_commands_are_answered_in_order);
	tcase_add_test(tc, commands_out_of_sequence);
	tcase_add_test(tc, overlong_command_lines_are_refused_without_buffering);
	tcase_add_test(tc, recipient_limit);
	tcase_add_test(tc, size_limit_declared_and_actual);
	tcase_add_test(tc, long_text_line_and_bare_lf_reject_the_message);
	tcase_add_test(tc, qmgr_errors_are_relayed);
	tcase_add_test(tc, qmgr_lost_during_data_then_back);
	tcase_add_test(tc, qmgr_lost_while_committing);
	tcase_add_test(tc, clients_outside_the_allowed_networks_are_refused);
	tcase_add_test(tc, ipv6_clients);
	tcase_add_test(tc, session_limit);
	tcase_add_test(tc, slow_qmgr_throttles_the_client);
	tcase_add_test(tc, garbage_gets_errors_then_the_door);
	tcase_add_test(tc, shutdown_closes_idle_sessions);
	tcase_add_test(tc, a_client_that_does_not_read_is_paused_then_served);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);

	return check_run(session_suite());
}
