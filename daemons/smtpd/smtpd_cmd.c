/* SPDX-License-Identifier: ISC */
/*
 * smtpd_cmd.c - parse one SMTP command line into a verb, its argument and,
 * for MAIL and RCPT, the path and ESMTP parameters.
 *
 * Runs in smtpd; called by smtpd_session.c for every line outside DATA and
 * by the fuzz target tests/fuzz/fuzz_smtpd_cmd.c. Pure: no state, no I/O.
 * Whether a command is allowed now is the session's business, not this file's.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO", CMD_HELO },
	{ "EHLO", CMD_EHLO },
	{ "MAIL", CMD_MAIL },
	{ "RCPT", CMD_RCPT },
	{ "DATA", CMD_DATA },
	{ "RSET", CMD_RSET },
	{ "NOOP", CMD_NOOP },
	{ "QUIT", CMD_QUIT },
	{ "VRFY", CMD_VRFY },
	{ "HELP", CMD_HELP },
	{ "EXPN", CMD_NOTIMPL },
	{ "BDAT", CMD_NOTIMPL },
	{ "STARTTLS", CMD_NOTIMPL },
	{ "AUTH", CMD_NOTIMPL },
	{ "ETRN", CMD_NOTIMPL },
	{ "TURN", CMD_NOTIMPL },
	{ "SEND", CMD_NOTIMPL },
	{ "SOML", CMD_NOTIMPL },
	{ "SAML", CMD_NOTIMPL },
};

static int
reply(struct smtp_reply *r, uint16_t code, const char *dsn, const char *fmt, const char *s)
{
	r->code = code;
	r->dsn = dsn;
	if (s != NULL)
		(void)snprintf(r->text, sizeof(r->text), fmt, s);
	else
		(void)snprintf(r->text, sizeof(r->text), "%s", fmt);
	return -1;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool
valid_keyword(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || !isalnum((unsigned char)s[0]))
		return false;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126) */
static bool
valid_value(const char *s, size_t n)
{
	size_t	i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < 33 || s[i] > 126 || s[i] == '=')
			return false;
	return true;
}

/* SIZE=1*20DIGIT, RFC 1870; values past uint64 are "too big" anyway. */
static bool
parse_size(const char *s, size_t n, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (n == 0 || n > 20)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static int
parse_params(const char *p, struct smtp_cmd *cmd, struct smtp_reply *err)
{
	char	kw[64];

	while (*p != '\0') {
		const char	*k = p, *v = NULL, *eq;
		size_t		 klen, vlen = 0, n;

		n = strcspn(p, " ");
		eq = memchr(p, '=', n);
		klen = eq != NULL ? (size_t)(eq - p) : n;
		if (eq != NULL) {
			v = eq + 1;
			vlen = n - klen - 1;
		}
		if (!valid_keyword(k, klen) || (v != NULL && !valid_value(v, vlen))) {
			(void)snprintf(kw, sizeof(kw), "%.*s", (int)(n < 40 ? n : 40), k);
			return reply(err, 501, "5.5.4", "Syntax error in parameter \"%s\"", kw);
		}
		(void)snprintf(kw, sizeof(kw), "%.*s", (int)(klen < 40 ? klen : 40), k);

		if (cmd->verb == CMD_MAIL && strcasecmp(kw, "SIZE") == 0) {
			if (cmd->size_set)
				return reply(err, 501, "5.5.4", "Duplicate SIZE parameter", NULL);
			if (v == NULL || !parse_size(v, vlen, &cmd->size))
				return reply(err, 501, "5.5.4", "Bad SIZE value", NULL);
			cmd->size_set = true;
		} else if (cmd->verb == CMD_MAIL && strcasecmp(kw, "BODY") == 0) {
			if (cmd->body != BODY_NONE)
				return reply(err, 501, "5.5.4", "Duplicate BODY parameter", NULL);
			if (v != NULL && vlen == 4 && strncasecmp(v, "7BIT", 4) == 0)
				cmd->body = BODY_7BIT;
			else if (v != NULL && vlen == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
				cmd->body = BODY_8BITMIME;
			else
				return reply(err, 501, "5.5.4",
				    "Bad BODY value (7BIT or 8BITMIME)", NULL);
		} else
			return reply(err, 555, "5.5.4", "Unsupported parameter \"%s\"", kw);

		p += n;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static int
parse_path_cmd(const char *arg, const char *prefix, struct smtp_cmd *cmd,
    struct smtp_reply *err)
{
	const char	*p, *why;
	size_t		 plen = strlen(prefix);
	bool		 mail = cmd->verb == CMD_MAIL;

	if (strncasecmp(arg, prefix, plen) != 0)
		return reply(err, 501, "5.5.4", mail ? "Syntax: MAIL FROM:<address>" :
		    "Syntax: RCPT TO:<address>", NULL);
	/* RFC 5321 has no space after the colon; many clients send one. */
	for (p = arg + plen; *p == ' '; p++)
		;
	if (addr_parse_path(p, mail ? ADDR_F_NULL_OK : 0, &cmd->path, &why) == -1)
		return reply(err, 501, mail ? "5.1.7" : "5.1.3",
		    mail ? "Bad sender address syntax: %s" :
		    "Bad recipient address syntax: %s", why);
	return parse_params(cmd->path.params, cmd, err);
}

int
smtpd_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd, struct smtp_reply *err)
{
	size_t	i, vlen;

	memset(cmd, 0, sizeof(*cmd));
	memset(err, 0, sizeof(*err));
	cmd->arg = "";
	cmd->path.params = "";
	cmd->name = "?";

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		/* Commands are ASCII; TAB is tolerated as a space would be. */
		if ((c < 32 && c != '\t') || c >= 127)
			return reply(err, 500, "5.5.2",
			    "Invalid character in command", NULL);
	}
	vlen = strcspn(line, " \t");
	if (vlen > len)
		vlen = len;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(line, verbs[i].name, vlen) == 0) {
			cmd->verb = verbs[i].verb;
			cmd->name = verbs[i].name;
			break;
		}
	}
	if (cmd->verb == CMD_UNKNOWN)
		return reply(err, 500, "5.5.2", "Command not recognized", NULL);
	if (line[vlen] != '\0') {
		cmd->arg = line + vlen + 1;
		while (*cmd->arg == ' ' || *cmd->arg == '\t')
			cmd->arg++;
	}

	switch (cmd->verb) {
	case CMD_HELO:
	case CMD_EHLO:
		if (*cmd->arg == '\0')
			return reply(err, 501, "5.5.4", cmd->verb == CMD_HELO ?
			    "Syntax: HELO hostname" : "Syntax: EHLO hostname", NULL);
		return 0;
	case CMD_MAIL:
		return parse_path_cmd(cmd->arg, "FROM:", cmd, err);
	case CMD_RCPT:
		return parse_path_cmd(cmd->arg, "TO:", cmd, err);
	case CMD_DATA:
	case CMD_RSET:
	case CMD_QUIT:
		if (*cmd->arg != '\0')
			return reply(err, 501, "5.5.4", "Syntax: %s (no parameters)",
			    cmd->name);
		return 0;
	case CMD_VRFY:
		if (*cmd->arg == '\0')
			return reply(err, 501, "5.5.4", "Syntax: VRFY address", NULL);
		return 0;
	case CMD_NOTIMPL:
		return reply(err, 502, "5.5.1", "Command not implemented", NULL);
	default:
		return 0;
	}
}
