/* SPDX-License-Identifier: ISC */
/*
 * agent_ehlo.c - the ESMTP capabilities a server announces in its EHLO reply
 * (RFC 5321 §4.1.1.1), read by the delivery agent after a 250 to EHLO.
 *
 * The first line is the server's greeting name; every further line is a
 * keyword (case-insensitive) with optional parameters. Unknown keywords are
 * ignored; a SIZE parameter that is not a plain number is treated as
 * "no announced limit" rather than trusted.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "agent.h"

/* Compares the keyword of a capability line; *params points past it. */
static bool
ehlo_keyword(const char *line, const char *kw, const char **params)
{
	size_t	 n = strlen(kw);

	if (strncasecmp(line, kw, n) != 0)
		return false;
	if (line[n] != '\0' && line[n] != ' ' && line[n] != '\t' &&
	    !(line[n] == '=' && strcasecmp(kw, "AUTH") == 0))
		return false;
	line += n;
	while (*line == ' ' || *line == '\t' || *line == '=')
		line++;
	*params = line;
	return true;
}

void
ehlo_parse(const struct reply *r, struct ehlo_caps *caps)
{
	const char	*line, *params, *errstr;
	long long	 n;
	char		 num[32];
	size_t		 i;

	memset(caps, 0, sizeof(*caps));
	caps->esmtp = true;
	line = reply_next_line(r, NULL);
	if (line == NULL)
		return;
	/* The first line names the server; capabilities follow. */
	while ((line = reply_next_line(r, line)) != NULL) {
		if (ehlo_keyword(line, "PIPELINING", &params))
			caps->pipelining = true;
		else if (ehlo_keyword(line, "8BITMIME", &params))
			caps->eightbitmime = true;
		else if (ehlo_keyword(line, "STARTTLS", &params))
			caps->starttls = true;
		else if (ehlo_keyword(line, "SMTPUTF8", &params))
			caps->smtputf8 = true;
		else if (ehlo_keyword(line, "ENHANCEDSTATUSCODES", &params))
			caps->enhancedstatuscodes = true;
		else if (ehlo_keyword(line, "CHUNKING", &params))
			caps->chunking = true;
		else if (ehlo_keyword(line, "DSN", &params))
			caps->dsn = true;
		else if (ehlo_keyword(line, "AUTH", &params)) {
			if (caps->auth[0] != '\0')
				strlcat(caps->auth, " ", sizeof(caps->auth));
			strlcat(caps->auth, params, sizeof(caps->auth));
		} else if (ehlo_keyword(line, "SIZE", &params)) {
			caps->size = true;
			caps->size_max = 0;
			for (i = 0; i < sizeof(num) - 1 && isdigit((unsigned char)params[i]); i++)
				num[i] = params[i];
			num[i] = '\0';
			if (i == 0 || (params[i] != '\0' && params[i] != ' '))
				continue;
			n = strtonum(num, 0, INT64_MAX, &errstr);
			if (errstr == NULL)
				caps->size_max = (uint64_t)n;
		}
	}
}
