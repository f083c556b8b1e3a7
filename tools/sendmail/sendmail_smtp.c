/* SPDX-License-Identifier: ISC */
/*
 * sendmail_smtp.c - outpost-sendmail -bs: one SMTP session on standard
 * input and output, as Symfony Mailer's default transport and other
 * programs use it ("sendmail -bs"), with no network in between.
 *
 * The same checks as the listener: command lines are parsed by smtpd's
 * own parser and the DATA stream by its own reader (dot-unstuffing, CRLF
 * line endings, line and size limits; daemons/smtpd/smtpd_cmd.c and
 * smtpd_data.c, linked in). Commands may end with a bare LF, which a
 * local pipe often sends. Pipelined commands are answered in order and
 * the replies are flushed whenever the input runs dry. Each mail goes to
 * the queue manager over the public socket like any local submission, so
 * the kernel records the caller's uid; 250 is said only once it is
 * durably queued, and a refusal by the queue manager is passed on as its
 * SMTP reply.
 *
 * Bounded: SMTPD_CMD_TIMEOUT for each command and SMTPD_DATA_TIMEOUT for
 * each piece of content (then 421 and exit), SMTPD_MAX_ERRORS protocol
 * errors, max_recipients and max_message_size.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "sendmail.h"
#include "smtpd/smtpd.h"
#include "xmalloc.h"

struct input {
	char		 buf[SMTPD_INPUT_MAX];
	size_t		 off, len;
	bool		 eof;
};

struct session {
	const struct config	*conf;
	const char		*sockpath;
	struct input		 in;
	bool			 greeted, esmtp, in_mail;
	unsigned		 nerrors, rcpt_tried;
	char			 sender[ADDR_PATH_MAX];
	uint32_t		 flags;
	char			**rcpt;
	size_t			 nrcpt;
};

static void __attribute__((format(printf, 4, 5)))
reply(struct session *s, unsigned code, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	printf("%u ", code);
	if (dsn != NULL && s->esmtp)
		printf("%s ", dsn);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\r\n");
}

static void __attribute__((noreturn))
bye(int code)
{
	fflush(stdout);
	exit(code);
}

/* Read more input, flushing replies first; waits at most timeout seconds. */
static int
fill(struct session *s, int timeout)
{
	struct input *in = &s->in;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	ssize_t n;
	int r;

	if (fflush(stdout) == EOF)
		bye(EX_IOERR);	/* the client went away */
	if (in->off > 0) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	if (in->len == sizeof(in->buf))
		return 0;
	do
		r = poll(&pfd, 1, timeout * 1000);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		printf("421 4.4.2 %s Error: timeout exceeded\r\n", s->conf->helo_name);
		bye(EX_TEMPFAIL);
	}
	do
		n = read(STDIN_FILENO, in->buf + in->len, sizeof(in->buf) - in->len);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		in->eof = true;
		return -1;
	}
	in->len += (size_t)n;
	return 0;
}

/*
 * The next command line without its line ending, NUL-terminated in place.
 * NULL at the end of the input. An overlong line is answered and skipped.
 */
static char *
next_line(struct session *s, size_t *lenp)
{
	struct input *in = &s->in;
	char *start, *nl;
	static char empty[1];
	size_t n;
	bool skipping = false;

	for (;;) {
		start = in->buf + in->off;
		nl = memchr(start, '\n', in->len - in->off);
		if (nl != NULL) {
			n = (size_t)(nl - start);
			in->off += n + 1;
			if (skipping || n + 1 > SMTPD_CMD_MAX) {
				reply(s, 500, "5.5.2", "Error: line too long");
				skipping = false;
				if (++s->nerrors >= SMTPD_MAX_ERRORS)
					return *lenp = 0, empty;	/* the caller says 421 */
				continue;
			}
			if (n > 0 && start[n - 1] == '\r')
				n--;
			start[n] = '\0';
			*lenp = n;
			return start;
		}
		if (in->len - in->off >= SMTPD_CMD_MAX) {
			/* Drop what is buffered of an overlong line, keep reading to its end. */
			skipping = true;
			in->off = in->len;
		}
		if (fill(s, SMTPD_CMD_TIMEOUT) == -1)
			return NULL;
	}
}

static void
tx_reset(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	free(s->rcpt);
	s->rcpt = NULL;
	s->nrcpt = 0;
	s->rcpt_tried = 0;
	s->in_mail = false;
	s->sender[0] = '\0';
	s->flags = 0;
}

/* DATA: read the content up to the end marker, then queue it. */
static void
do_data(struct session *s)
{
	struct input *in = &s->in;
	struct data_state ds;
	struct smtp_reply err;
	struct submit_result res;
	struct submission sub;
	uint8_t *out = NULL;
	size_t outlen = 0, cap = 0, used, avail;
	int rc;

	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	data_init(&ds, s->conf->max_message_size);
	while (!ds.done) {
		avail = in->len - in->off;
		if (avail == 0) {
			if (fill(s, SMTPD_DATA_TIMEOUT) == -1) {
				/* The caller went away mid-message: nothing was queued. */
				free(out);
				bye(EX_TEMPFAIL);
			}
			continue;
		}
		/* Room for every octet (after an error nothing more is written). */
		if (cap - outlen < avail + 16) {
			cap = outlen + avail + 65536;
			out = xreallocarray(out, cap, 1);
		}
		used = data_feed(&ds, (const uint8_t *)in->buf + in->off, avail, out, cap,
		    &outlen);
		in->off += used;
		if (used == 0 && !ds.done) {
			/* No progress although room was made: never spin. */
			free(out);
			reply(s, 451, "4.3.0", "Error: internal error reading the message");
			bye(EX_SOFTWARE);
		}
	}
	if (ds.error != DATA_OK) {
		data_error_reply(ds.error, s->conf->max_message_size, &err);
		reply(s, err.code, err.dsn, "%s", err.text);
		free(out);
		tx_reset(s);
		return;
	}
	memset(&sub, 0, sizeof(sub));
	memset(&res, 0, sizeof(res));
	sub.sender = s->sender;
	sub.rcpt = s->rcpt;
	sub.nrcpt = s->nrcpt;
	sub.data = out != NULL ? (const char *)out : "";
	sub.len = outlen;
	sub.flags = s->flags;
	sub.result = &res;
	rc = submit_mail(s->sockpath, &sub);
	if (rc == EX_OK)
		reply(s, 250, "2.0.0", "Ok: queued as %s", res.id);
	else if (res.code >= 400 && res.code < 600)
		reply(s, res.code, res.enh[0] ? res.enh : (res.code < 500 ? "4.0.0" : "5.0.0"),
		    "%s", res.text);
	else
		reply(s, 451, "4.3.0", "Error: queue manager unavailable, try again later");
	free(out);
	tx_reset(s);
}

static void
command(struct session *s, char *line, size_t len)
{
	struct smtp_cmd cmd;
	struct smtp_reply err;

	if (smtpd_cmd_parse(line, len, &cmd, &err) == -1) {
		if (cmd.verb == CMD_RCPT && s->in_mail)
			s->rcpt_tried++;
		reply(s, err.code, err.dsn, "%s", err.text);
		s->nerrors++;
		return;
	}
	switch (cmd.verb) {
	case CMD_HELO:
	case CMD_EHLO:
		tx_reset(s);
		s->greeted = true;
		s->esmtp = cmd.verb == CMD_EHLO;
		if (!s->esmtp) {
			reply(s, 250, NULL, "%s", s->conf->helo_name);
			break;
		}
		printf("250-%s Hello local user %u\r\n250-PIPELINING\r\n250-SIZE %llu\r\n"
		    "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n", s->conf->helo_name,
		    (unsigned)getuid(), (unsigned long long)s->conf->max_message_size);
		break;
	case CMD_MAIL:
		if (!s->greeted || s->in_mail) {
			reply(s, 503, "5.5.1", s->greeted ? "Error: nested MAIL command" :
			    "Error: send HELO/EHLO first");
			s->nerrors++;
			break;
		}
		if (cmd.size_set && s->conf->max_message_size != 0 &&
		    cmd.size > s->conf->max_message_size) {
			reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %llu octets",
			    (unsigned long long)s->conf->max_message_size);
			break;
		}
		strlcpy(s->sender, cmd.path.mailbox, sizeof(s->sender));
		s->flags = cmd.body == BODY_8BITMIME ? SUBMIT_F_8BITMIME : 0;
		s->in_mail = true;
		reply(s, 250, "2.1.0", "Ok");
		break;
	case CMD_RCPT:
		if (!s->in_mail) {
			reply(s, 503, "5.5.1", "Error: need MAIL command");
			s->nerrors++;
			break;
		}
		s->rcpt_tried++;
		if (s->conf->max_recipients != 0 && s->nrcpt >= s->conf->max_recipients) {
			reply(s, 452, "4.5.3", "Too many recipients");
			break;
		}
		s->rcpt = xreallocarray(s->rcpt, s->nrcpt + 1, sizeof(*s->rcpt));
		s->rcpt[s->nrcpt++] = xstrdup(cmd.path.mailbox);
		reply(s, 250, "2.1.5", "Ok");
		break;
	case CMD_DATA:
		if (!s->in_mail || s->nrcpt == 0) {
			if (s->in_mail && s->rcpt_tried > 0)
				reply(s, 554, "5.5.1", "Error: no valid recipients");
			else
				reply(s, 503, "5.5.1", s->in_mail ? "Error: need RCPT command" :
				    "Error: need MAIL command");
			s->nerrors++;
			break;
		}
		do_data(s);
		break;
	case CMD_RSET:
		tx_reset(s);
		reply(s, 250, "2.0.0", "Ok");
		break;
	case CMD_NOOP:
		reply(s, 250, "2.0.0", "Ok");
		break;
	case CMD_QUIT:
		reply(s, 221, "2.0.0", "Bye");
		tx_reset(s);
		bye(EX_OK);
	case CMD_VRFY:
		reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept message and attempt "
		    "delivery");
		break;
	case CMD_HELP:
		reply(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY "
		    "HELP");
		break;
	default:
		reply(s, 500, "5.5.2", "Command not recognized");
		s->nerrors++;
		break;
	}
}

int
smtp_stdio(const struct config *conf, const char *sockpath)
{
	static struct session s;
	char *line;
	size_t len;

	signal(SIGPIPE, SIG_IGN);
	s.conf = conf;
	s.sockpath = sockpath;
	printf("220 %s ESMTP outpost\r\n", conf->helo_name);
	while ((line = next_line(&s, &len)) != NULL) {
		if (s.nerrors < SMTPD_MAX_ERRORS)
			command(&s, line, len);
		if (s.nerrors >= SMTPD_MAX_ERRORS) {
			printf("421 4.7.0 %s Error: too many errors\r\n", conf->helo_name);
			tx_reset(&s);
			bye(EX_PROTOCOL);
		}
	}
	/* End of input without QUIT: an open transaction is dropped. */
	tx_reset(&s);
	fflush(stdout);
	return EX_OK;
}
