/* SPDX-License-Identifier: ISC */
/*
 * dkim_canon.c - RFC 6376 section 3.4 canonicalization (dkim_canon.h).
 * Run in the signer; pure code over memory, unit-tested and fuzzed.
 */
#include <ctype.h>
#include <string.h>

#include "buf.h"
#include "dkim_canon.h"

static void
emit(struct dkim_body *b, const void *p, size_t n)
{
	if (b->blen + n > sizeof(b->b)) {
		b->out(b->arg, b->b, b->blen);
		b->blen = 0;
	}
	if (n > sizeof(b->b)) {
		b->out(b->arg, p, n);
	} else {
		memcpy(b->b + b->blen, p, n);
		b->blen += n;
	}
	b->written += n;
}

static void
emit_byte(struct dkim_body *b, uint8_t c)
{
	if (b->blen == sizeof(b->b)) {
		b->out(b->arg, b->b, b->blen);
		b->blen = 0;
	}
	b->b[b->blen++] = c;
	b->written++;
}

void
dkim_body_init(struct dkim_body *b, enum dkim_canon canon, dkim_out_fn out, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->canon = canon;
	b->out = out;
	b->arg = arg;
}

/*
 * A line ended. A line with content is written with its CRLF at once; an
 * empty one is only counted, because empty lines at the end of the body are
 * not part of either canonical form (sections 3.4.3 and 3.4.4).
 */
static void
line_end(struct dkim_body *b)
{
	if (b->content) {
		emit(b, "\r\n", 2);
		b->any = true;
	} else
		b->nempty++;
	b->content = false;
	b->wsp = false;
}

static void
content_byte(struct dkim_body *b, uint8_t c)
{
	if (b->canon == DKIM_RELAXED && (c == ' ' || c == '\t')) {
		/* Runs of whitespace become one space, and none at the end of a line. */
		b->wsp = true;
		return;
	}
	/* Empty lines held back were not trailing after all. */
	for (; b->nempty > 0; b->nempty--) {
		emit(b, "\r\n", 2);
		b->any = true;
	}
	if (b->wsp) {
		emit_byte(b, ' ');
		b->wsp = false;
	}
	emit_byte(b, c);
	b->content = true;
}

void
dkim_body_feed(struct dkim_body *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (b->cr) {
			b->cr = false;
			line_end(b);
			if (c == '\n')
				continue;
		}
		if (c == '\r')
			b->cr = true;
		else if (c == '\n')
			line_end(b);
		else
			content_byte(b, c);
	}
}

void
dkim_body_finish(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = false;
		line_end(b);
	}
	/* The agent ends unterminated content with CRLF. */
	if (b->content || b->wsp)
		line_end(b);
	/* An empty body is CRLF in simple and nothing in relaxed (3.4.3, 3.4.4). */
	if (b->canon == DKIM_SIMPLE && !b->any)
		emit(b, "\r\n", 2);
	if (b->blen > 0)
		b->out(b->arg, b->b, b->blen);
	b->blen = 0;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

void
dkim_header_canon(enum dkim_canon canon, const char *f, size_t len, struct buf *out)
{
	size_t i, colon, end;
	bool wsp = false, started = false;

	/* The final line ending is not part of the field's text. */
	end = len;
	while (end > 0 && (f[end - 1] == '\n' || f[end - 1] == '\r'))
		end--;
	if (canon == DKIM_SIMPLE) {
		/* Unchanged, except line endings as the agent sends them. */
		for (i = 0; i < end; i++) {
			if (f[i] == '\r') {
				buf_add(out, "\r\n", 2);
				if (i + 1 < end && f[i + 1] == '\n')
					i++;
			} else if (f[i] == '\n')
				buf_add(out, "\r\n", 2);
			else
				buf_add(out, &f[i], 1);
		}
		buf_add(out, "\r\n", 2);
		return;
	}
	/* relaxed: name in lower case, no whitespace around the colon. */
	colon = 0;
	while (colon < end && f[colon] != ':')
		colon++;
	i = colon;
	while (i > 0 && (is_wsp(f[i - 1]) || f[i - 1] == '\r' || f[i - 1] == '\n'))
		i--;
	for (size_t k = 0; k < i; k++) {
		char c = (char)tolower((unsigned char)f[k]);
		buf_add(out, &c, 1);
	}
	buf_add(out, ":", 1);
	/* Value unfolded, whitespace runs made one space, none at either end. */
	for (i = colon + 1; i < end; i++) {
		char c = f[i];

		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			wsp = true;
			continue;
		}
		if (wsp && started)
			buf_add(out, " ", 1);
		wsp = false;
		started = true;
		buf_add(out, &c, 1);
	}
	buf_add(out, "\r\n", 2);
}

int
dkim_canon_parse(const char *s)
{
	if (strcmp(s, "simple") == 0)
		return DKIM_SIMPLE;
	if (strcmp(s, "relaxed") == 0)
		return DKIM_RELAXED;
	return -1;
}

const char *
dkim_canon_name(enum dkim_canon c)
{
	return c == DKIM_RELAXED ? "relaxed" : "simple";
}
