/* SPDX-License-Identifier: ISC */
/*
 * agent_reply.c - parser of SMTP server replies (RFC 5321 §4.2), run by the
 * delivery agent for every line a remote server sends.
 *
 * The server is untrusted: every reply is bounded in line length, line count
 * and total size, the code must be a real three-digit reply code (2yz..5yz,
 * second digit 0..5) that stays the same on every line, and the stored text
 * is made printable before it reaches logs, results or bounces.
 * Called by agent_session.c line by line, and by the fuzzer via reply_feed().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "xmalloc.h"

#include "agent.h"

void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
}

void
reply_reset(struct reply *r)
{
	r->code = 0;
	r->dsn[0] = '\0';
	r->has_dsn = false;
	r->text[0] = '\0';
	r->textlen = 0;
	r->lineslen = 0;
	r->nlines = 0;
	r->total = 0;
	r->done = false;
	r->error = NULL;
}

void
reply_free(struct reply *r)
{
	free(r->lines);
	memset(r, 0, sizeof(*r));
}

static int
reply_fail(struct reply *r, const char *why)
{
	r->error = why;
	return REPLY_ERROR;
}

/* Appends to the joined text, truncating silently at REPLY_MAX - 1. */
static void
reply_text_add(struct reply *r, const char *s, size_t n)
{
	size_t	 room = sizeof(r->text) - 1 - r->textlen;

	if (n > room)
		n = room;
	memcpy(r->text + r->textlen, s, n);
	r->textlen += n;
	r->text[r->textlen] = '\0';
}

/*
 * "X.Y.Z" at the start of the first line's text (RFC 3463: class 2, 4 or 5,
 * subject 1-3 digits, detail 1-3 digits), taken only when its class agrees
 * with the reply code.
 */
static void
reply_extract_dsn(struct reply *r, const char *t)
{
	size_t	 i = 0, n;
	int	 part;

	if (t[0] != '2' && t[0] != '4' && t[0] != '5')
		return;
	if (t[0] - '0' != r->code / 100)
		return;
	i = 1;
	for (part = 0; part < 2; part++) {
		if (t[i] != '.')
			return;
		i++;
		for (n = 0; n < 3 && t[i] >= '0' && t[i] <= '9'; n++)
			i++;
		if (n == 0 || (t[i] >= '0' && t[i] <= '9'))
			return;
	}
	if (t[i] != '\0' && t[i] != ' ' && t[i] != '\t')
		return;
	if (i >= sizeof(r->dsn))
		return;
	memcpy(r->dsn, t, i);
	r->dsn[i] = '\0';
	r->has_dsn = true;
}

int
reply_feed_line(struct reply *r, const char *line, size_t len)
{
	char	 buf[REPLY_LINE_MAX + 1];
	int	 code;
	bool	 last;
	size_t	 i, tlen;

	if (r->done)
		reply_reset(r);
	r->total += len + 2;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > REPLY_LINE_MAX)
		return reply_fail(r, "reply line too long");
	if (r->total > REPLY_TOTAL_MAX)
		return reply_fail(r, "reply too long");
	if (r->nlines >= REPLY_LINES_MAX)
		return reply_fail(r, "reply has too many lines");

	if (len < 3)
		return reply_fail(r, "reply line too short for a reply code");
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    line[2] < '0' || line[2] > '9')
		return reply_fail(r, "invalid reply code");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3 || line[3] == ' ')
		last = true;
	else if (line[3] == '-')
		last = false;
	else
		return reply_fail(r, "no space or hyphen after the reply code");
	if (r->nlines > 0 && code != r->code)
		return reply_fail(r, "reply code changes within a multi-line reply");
	r->code = code;

	/* The text, made printable: it ends up in logs and bounces. */
	tlen = len > 4 ? len - 4 : 0;
	for (i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)line[4 + i];
		buf[i] = (c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
	}
	buf[tlen] = '\0';

	if (r->lineslen + tlen + 1 > r->linescap) {
		size_t	 ncap = r->linescap ? r->linescap : 1024;

		while (ncap < r->lineslen + tlen + 1)
			ncap *= 2;
		r->lines = xrecallocarray(r->lines, r->linescap, ncap, 1);
		r->linescap = ncap;
	}
	memcpy(r->lines + r->lineslen, buf, tlen + 1);
	r->lineslen += tlen + 1;

	if (r->nlines == 0) {
		reply_text_add(r, line, 3);
		reply_extract_dsn(r, buf);
	}
	if (tlen > 0) {
		reply_text_add(r, " ", 1);
		reply_text_add(r, buf, tlen);
	}
	r->nlines++;

	if (!last)
		return REPLY_MORE;
	if (!r->has_dsn)
		snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
	r->done = true;
	return REPLY_DONE;
}

int
reply_feed(struct reply *r, const char *buf, size_t len, size_t *used)
{
	const char	*nl;
	size_t		 off = 0, n;
	int		 st = REPLY_MORE;

	*used = 0;
	while (off < len) {
		nl = memchr(buf + off, '\n', len - off);
		if (nl == NULL) {
			if (len - off > REPLY_LINE_MAX + 1)
				return reply_fail(r, "reply line too long");
			break;
		}
		n = nl - (buf + off);
		st = reply_feed_line(r, buf + off, n);
		off += n + 1;
		*used = off;
		if (st != REPLY_MORE)
			return st;
	}
	return REPLY_MORE;
}

const char *
reply_next_line(const struct reply *r, const char *prev)
{
	const char	*p;

	if (r->lines == NULL || r->lineslen == 0)
		return NULL;
	if (prev == NULL)
		return r->lines;
	p = prev + strlen(prev) + 1;
	if (p >= r->lines + r->lineslen)
		return NULL;
	return p;
}
