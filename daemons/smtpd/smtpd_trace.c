/* SPDX-License-Identifier: ISC */
/*
 * smtpd_trace.c - the detailed lines of one incoming SMTP session (every
 * command and reply, connect and disconnect) and outpostctl trace.
 *
 * Runs in smtpd; the session code calls smtpd_detail() for each detailed
 * line. Such a line is written when the log level is detailed or when the
 * session is traced: from its connect for a "client:IP" trace, or from the
 * MAIL FROM or RCPT TO that names a traced address or @domain. The lines a
 * session wrote before that command belong to the trace too, so while an
 * address trace is active an untraced session keeps them in a bounded buffer
 * (SMTPD_TRACE_LINES lines, SMTPD_TRACE_BYTES octets, the oldest dropped
 * first and counted) that is written out on a match and freed with the
 * session otherwise. Other sessions stay at the basic level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "trace.h"
#include "xmalloc.h"
#include "smtpd.h"

struct smtpd_trace_buf {
	char		data[SMTPD_TRACE_BYTES];	/* lines, each NUL-ended */
	size_t		used;
	unsigned	nlines;
	unsigned	dropped;
};

void
smtpd_trace_start(struct smtpd_session *s)
{
	s->traced = trace_wants_client(s->ip);
}

bool
smtpd_trace_on(const struct smtpd_session *s)
{
	return s->traced || log_getlevel() >= LOGLEVEL_DETAILED || trace_any_address();
}

static void
drop_first(struct smtpd_trace_buf *b)
{
	size_t	n = strlen(b->data) + 1;

	memmove(b->data, b->data + n, b->used - n);
	b->used -= n;
	b->nlines--;
	b->dropped++;
}

static void
keep(struct smtpd_session *s, const char *line)
{
	struct smtpd_trace_buf	*b;
	size_t			 n = strlen(line) + 1;

	if (s->tbuf == NULL)
		s->tbuf = xcalloc(1, sizeof(*s->tbuf));
	b = s->tbuf;
	if (n > sizeof(b->data) / 4)
		n = sizeof(b->data) / 4;	/* a long line is cut, never the buffer's whole */
	while (b->nlines > 0 && (b->nlines >= SMTPD_TRACE_LINES || b->used + n > sizeof(b->data)))
		drop_first(b);
	memcpy(b->data + b->used, line, n - 1);
	b->data[b->used + n - 1] = '\0';
	b->used += n;
	b->nlines++;
}

void
smtpd_detail(struct smtpd_session *s, const char *fmt, ...)
{
	char	line[LOG_LINE_MAX];
	va_list	ap;

	if (!smtpd_trace_on(s))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->traced || log_getlevel() >= LOGLEVEL_DETAILED)
		log_info("%s", line);
	else
		keep(s, line);
}

void
smtpd_trace_match(struct smtpd_session *s, const char *addr)
{
	struct smtpd_trace_buf	*b = s->tbuf;

	if (s->traced || !trace_wants(NULL, NULL, addr))
		return;
	s->traced = true;
	if (b == NULL || log_getlevel() >= LOGLEVEL_DETAILED)
		return;
	if (b->dropped > 0)
		log_info("%s: trace: %u earlier lines of this session were not kept", s->id,
		    b->dropped);
	for (size_t off = 0; off < b->used; off += strlen(b->data + off) + 1)
		log_info("%s", b->data + off);
	free(b);
	s->tbuf = NULL;
}

void
smtpd_trace_free(struct smtpd_session *s)
{
	free(s->tbuf);
	s->tbuf = NULL;
}
