/* SPDX-License-Identifier: ISC */
/*
 * smtpd_command.c - the SMTP dialogue: what each command does in each state
 * of a session (RFC 5321 4.1.1, 4.1.4, 4.3.2), with enhanced status codes
 * (RFC 3463) and the ESMTP extensions offered in the EHLO reply.
 *
 * Runs in smtpd; smtpd_session.c calls session_command() with each complete
 * command line, in the order the client sent them (PIPELINING, RFC 2920).
 * The envelope is kept here until DATA; only then does qmgr hear of it
 * (smtpd_txn.c), so an abandoned transaction costs qmgr nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "config.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"
#include "smtpd.h"

static const char *
myname(const struct smtpd *sd)
{
	return sd->conf->helo_name[0] != '\0' ? sd->conf->helo_name : "localhost";
}

static void
cmd_hello(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config	*conf = s->sd->conf;
	char			 helo[256];
	size_t			 n;

	/* HELO/EHLO in the middle of a transaction resets it (RFC 5321 4.1.4). */
	txn_reset(s);
	n = strcspn(cmd->arg, " \t");
	if (n >= sizeof(helo))
		n = sizeof(helo) - 1;
	memcpy(helo, cmd->arg, n);
	helo[n] = '\0';
	smtpd_sanitize(s->helo, sizeof(s->helo), helo);
	s->esmtp = cmd->verb == CMD_EHLO;
	s->state = SS_READY;

	if (!s->esmtp) {
		session_reply(s, 250, NULL, "%s", myname(s->sd));
		return;
	}
	evbuffer_add_printf(bufferevent_get_output(s->bev),
	    "250-%s Hello %s [%s]\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %llu\r\n"
	    "250-8BITMIME\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n",
	    myname(s->sd), s->helo, s->ip,
	    (unsigned long long)conf->max_message_size);
	/* One log line for the five reply lines. */
	smtpd_detail(s, "%s: > 250-%s Hello %s [%s] / PIPELINING / SIZE %llu / 8BITMIME / "
	    "ENHANCEDSTATUSCODES", s->id, myname(s->sd), s->helo, s->ip,
	    (unsigned long long)conf->max_message_size);
}

static void
cmd_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config	*conf = s->sd->conf;

	if (s->state == SS_GREETED) {
		session_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		s->nerrors++;
		return;
	}
	if (s->state != SS_READY) {
		session_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		s->nerrors++;
		return;
	}
	if (cmd->size_set && conf->max_message_size != 0 &&
	    cmd->size > conf->max_message_size) {
		session_reject(s, "MAIL", 552, "5.3.4",
		    "Message size exceeds fixed limit of %llu octets",
		    (unsigned long long)conf->max_message_size);
		return;
	}
	/* qmgr pushes the queue's free space; no round trip per mail. */
	if (s->sd->space_low || (cmd->size_set && cmd->size > s->sd->space_headroom)) {
		session_reject(s, "MAIL", 452, "4.3.1", "Insufficient system storage");
		return;
	}
	if (s->sd->qmgr == NULL) {
		session_reject(s, "MAIL", 451, "4.3.0",
		    "Queue manager unavailable, try again later");
		return;
	}
	(void)strlcpy(s->sender, cmd->path.mailbox, sizeof(s->sender));
	s->flags = cmd->body == BODY_8BITMIME ? SUBMIT_F_8BITMIME : 0;
	s->ntxn++;
	(void)snprintf(s->txid, sizeof(s->txid), "%s.%u", s->id, s->ntxn);
	s->state = SS_MAIL;
	smtpd_detail(s, "%s: from=<%s> declared_size=%llu body=%s", s->txid, s->sender,
	    (unsigned long long)cmd->size,
	    cmd->body == BODY_8BITMIME ? "8BITMIME" : "7BIT");
	session_reply(s, 250, "2.1.0", "Ok");
}

static void
cmd_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config	*conf = s->sd->conf;

	if (s->state != SS_MAIL && s->state != SS_RCPT) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		s->nerrors++;
		return;
	}
	s->rcpt_tried++;
	if (conf->max_recipients != 0 && s->nrcpt >= conf->max_recipients) {
		session_reject(s, "RCPT", 452, "4.5.3", "Too many recipients");
		return;
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpt + 1, sizeof(*s->rcpts));
	s->rcpts[s->nrcpt++] = xstrdup(cmd->path.mailbox);
	s->state = SS_RCPT;
	smtpd_detail(s, "%s: to=<%s>", s->txid, cmd->path.mailbox);
	session_reply(s, 250, "2.1.5", "Ok");
}

static void
cmd_data(struct smtpd_session *s)
{
	if (s->state == SS_GREETED || s->state == SS_READY) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		s->nerrors++;
		return;
	}
	if (s->state == SS_MAIL) {
		if (s->rcpt_tried > 0)
			session_reject(s, "DATA", 554, "5.5.1", "Error: no valid recipients");
		else
			session_reply(s, 503, "5.5.1", "Error: need RCPT command");
		s->nerrors++;
		return;
	}
	if (txn_begin(s) == -1)
		return;
	/* A mail on its way: the junk allowance starts again. */
	s->njunk = 0;
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/*
 * A command that moves no mail forward (NOOP RSET VRFY HELP, unknown):
 * past junk_command_limit of them since the last mail, the session ends,
 * as Postfix's smtpd_junk_command_limit. Returns true when it did.
 */
static bool
junk(struct smtpd_session *s)
{
	unsigned	limit = s->sd->conf->junk_command_limit;

	if (limit == 0 || ++s->njunk <= limit)
		return false;
	log_info("%s: reject: [%s]: 421 4.7.0 junk_command_limit %u reached, "
	    "disconnecting", s->id, s->ip, limit);
	session_reply(s, 421, "4.7.0", "%s Error: too many junk commands, closing",
	    myname(s->sd));
	session_close(s);
	return true;
}

void
session_command(struct smtpd_session *s, char *line, size_t len)
{
	struct smtp_cmd		cmd;
	struct smtp_reply	err;
	char			safe[SMTPD_CMD_MAX];

	if (smtpd_cmd_parse(line, len, &cmd, &err) == -1) {
		if ((cmd.verb == CMD_UNKNOWN || cmd.verb == CMD_NOTIMPL) && junk(s))
			return;
		if (smtpd_trace_on(s)) {
			smtpd_sanitize(safe, sizeof(safe), line);
			smtpd_detail(s, "%s: < %s", s->id, safe);
		}
		/* A refused recipient makes a later DATA "no valid recipients". */
		if (cmd.verb == CMD_RCPT && (s->state == SS_MAIL || s->state == SS_RCPT))
			s->rcpt_tried++;
		/* Address errors are rejects worth the basic log. */
		if (cmd.verb == CMD_MAIL || cmd.verb == CMD_RCPT)
			session_reject(s, cmd.name, err.code, err.dsn, "%s", err.text);
		else
			session_reply(s, err.code, err.dsn, "%s", err.text);
		s->nerrors++;
		return;
	}
	smtpd_detail(s, "%s: < %s", s->id, line);
	/* The command's line is kept or written above: a match writes it too. */
	if (cmd.verb == CMD_MAIL || cmd.verb == CMD_RCPT)
		smtpd_trace_match(s, cmd.path.mailbox);

	switch (cmd.verb) {
	case CMD_HELO:
	case CMD_EHLO:
		cmd_hello(s, &cmd);
		break;
	case CMD_MAIL:
		cmd_mail(s, &cmd);
		break;
	case CMD_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case CMD_DATA:
		cmd_data(s);
		break;
	case CMD_RSET:
		if (junk(s))
			break;
		txn_reset(s);
		if (s->state != SS_GREETED)
			s->state = SS_READY;
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case CMD_NOOP:
		if (junk(s))
			break;
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case CMD_QUIT:
		session_reply(s, 221, "2.0.0", "Bye");
		session_close(s);
		break;
	case CMD_VRFY:
		if (junk(s))
			break;
		session_reply(s, 252, "2.0.0",
		    "Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case CMD_HELP:
		if (junk(s))
			break;
		session_reply(s, 214, "2.0.0",
		    "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
		break;
	default:
		/* smtpd_cmd_parse() refuses every other verb. */
		if (junk(s))
			break;
		session_reply(s, 500, "5.5.2", "Command not recognized");
		s->nerrors++;
		break;
	}
}
