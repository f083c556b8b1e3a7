/* SPDX-License-Identifier: ISC */
/*
 * agent_timeout.c - how long the delivery agent waits at each stage of an
 * SMTP session, in one table (RFC 5321 §4.5.3.2 for the SMTP stages).
 *
 * agent.c sets them from the config at start (connect_timeout,
 * smtp_command_timeout, smtp_data_timeout, smtp_final_timeout); the values
 * below are the RFC's, used until then. The unit tests shorten them.
 */
#include "agent.h"

static struct {
	const char	*name;		/* "... while <name>" in messages */
	unsigned	 seconds;
} timeouts[STAGE_MAX] = {
	[STAGE_CONNECT] =	{ "connecting", 30 },
	[STAGE_GREETING] =	{ "receiving the initial server greeting", 300 },
	[STAGE_EHLO] =		{ "performing the EHLO handshake", 300 },
	[STAGE_MAIL] =		{ "sending MAIL FROM", 300 },
	[STAGE_RCPT] =		{ "sending RCPT TO", 300 },
	[STAGE_DATA_INIT] =	{ "sending DATA command", 120 },
	[STAGE_DATA_BLOCK] =	{ "sending message body", 180 },
	[STAGE_DATA_END] =	{ "sending end of data -- message may be sent more than once", 600 },
	[STAGE_RSET] =		{ "sending RSET", 120 },
	[STAGE_QUIT] =		{ "sending QUIT", 30 },
	[STAGE_STARTTLS] =	{ "sending STARTTLS", 300 },
	[STAGE_TLS] =		{ "performing the TLS handshake", 300 },
	[STAGE_AUTH] =		{ "authenticating", 300 },
};

unsigned
agent_timeout(enum agent_stage s)
{
	if (s >= STAGE_MAX)
		return 300;
	return timeouts[s].seconds;
}

void
agent_timeout_set(enum agent_stage s, unsigned seconds)
{
	if (s < STAGE_MAX && seconds > 0)
		timeouts[s].seconds = seconds;
}

const char *
agent_stage_name(enum agent_stage s)
{
	if (s >= STAGE_MAX)
		return "?";
	return timeouts[s].name;
}
