/* SPDX-License-Identifier: ISC */
/*
 * smtpd_received.c - the trace header smtpd puts on top of every submitted
 * message (RFC 5321 4.4, RFC 5322 3.6.7), and the sanitizing of client
 * strings that end up in headers and logs.
 *
 * Runs in smtpd; called by smtpd_session.c when DATA begins. The queue id
 * is not known before the commit, so the header names the session and
 * transaction id instead, which the logs tie to the queue id.
 */
#include <stdio.h>
#include <string.h>

#include "maildate.h"
#include "smtpd.h"

void
smtpd_sanitize(char *dst, size_t len, const char *src)
{
	size_t	i;

	if (len == 0)
		return;
	for (i = 0; i + 1 < len && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		/* No controls, no 8-bit, nothing that ends a comment or quotes. */
		if (c <= 32 || c >= 127 || c == '(' || c == ')' || c == '\\' ||
		    c == '"' || c == ';')
			c = '?';
		dst[i] = (char)c;
	}
	dst[i] = '\0';
}

size_t
smtpd_received(char *buf, size_t len, const char *helo, bool esmtp, const char *ip,
    int family, const char *myname, const char *id, const char *rcpt, time_t now)
{
	char	h[256], me[256], date[64];
	int	n;

	smtpd_sanitize(h, sizeof(h), helo[0] != '\0' ? helo : "unknown");
	smtpd_sanitize(me, sizeof(me), myname[0] != '\0' ? myname : "localhost");
	maildate((uint64_t)now, date, sizeof(date));
	/* rcpt passed addr_parse_path(): printable ASCII, at most 254 octets. */
	if (rcpt != NULL && strlen(rcpt) >= ADDR_PATH_MAX)
		rcpt = NULL;

	/* One element per folded line, each well under 998 octets. */
	n = snprintf(buf, len,
	    "Received: from %s ([%s%s])\r\n"
	    "\tby %s (outpost) with %s id %s%s%s%s;\r\n"
	    "\t%s\r\n",
	    h, family == AF_INET6 ? "IPv6:" : "", ip,
	    me, esmtp ? "ESMTP" : "SMTP", id,
	    rcpt != NULL ? "\r\n\tfor <" : "", rcpt != NULL ? rcpt : "",
	    rcpt != NULL ? ">" : "", date);
	if (n < 0 || (size_t)n >= len)
		return 0;
	return (size_t)n;
}
