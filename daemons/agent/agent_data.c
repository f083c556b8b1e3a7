/* SPDX-License-Identifier: ISC */
/*
 * agent_data.c - the DATA stream of the delivery agent: turns the queued
 * content into what RFC 5321 §4.5.2 and §2.3.8 require on the wire.
 *
 * - every line ends in CRLF: a bare LF and a bare CR each become CRLF (a lone
 *   CR may not appear on the wire, and treating it as a line end is the only
 *   reading that does not merge two lines);
 * - a line that starts with "." gets a second "." (transparency);
 * - the content always ends with CRLF before the final ".".
 * - lines longer than 998 characters (RFC 5322 §2.1.1) are refused, not cut:
 *   re-encoding them correctly would mean rewriting the MIME structure (a
 *   quoted-printable part, a new Content-Transfer-Encoding header), which
 *   this agent does not do. The mail fails permanently with 5.6.0 and the
 *   session is dropped before the final dot, so the server discards it.
 *   The count is taken before dot-stuffing: a 998-character line that starts
 *   with a dot is sent as 999 characters, as every MTA does.
 * - with reject_8bit (a server without 8BITMIME) a byte >= 0x80 is refused
 *   the same way, so 8-bit mail is never silently corrupted.
 * The encoder keeps its state across calls: content arrives in blocks read
 * by agent_session.c, and a CR may end one block while its LF starts the next.
 */
#include <string.h>

#include "agent.h"
#include "bytes.h"

void
data_enc_init(struct data_enc *e, bool reject_8bit)
{
	memset(e, 0, sizeof(*e));
	e->bol = true;
	e->reject_8bit = reject_8bit;
}

/*
 * The length of the longest start of in[0, n) that the encoder would pass
 * on unchanged and that ends with a CRLF: no dot at a line's start, no bare
 * CR or LF, no line over the limit, no 8-bit byte the server cannot take.
 * Leaves the state alone.
 *
 * A line at a time, not an octet at a time (the agent runs this over every
 * octet it sends): its LF found with memchr, then the checks of the whole
 * line, each a memchr or a word-wide scan.
 */
static size_t
clean_span(const struct data_enc *e, const uint8_t *in, size_t n)
{
	const uint8_t	*lf;
	size_t		 i = 0, cr, linelen = e->linelen;
	bool		 bol = e->bol;

	if (e->cr)
		return 0;
	while (i < n) {
		if (bol && in[i] == '.')
			break;
		if ((lf = memchr(in + i, '\n', n - i)) == NULL)
			break;			/* unfinished: wait for the rest */
		if ((size_t)(lf - in) == i || lf[-1] != '\r')
			break;			/* a bare LF */
		cr = (size_t)(lf - in) - 1;
		if (linelen + (cr - i) > DATA_LINE_MAX ||
		    memchr(in + i, '\r', cr - i) != NULL ||
		    (e->reject_8bit && mem_has_8bit(in + i, cr - i)))
			break;
		i = cr + 2;
		bol = true;
		linelen = 0;
	}
	return i;
}

/*
 * clean_span(), with the state advanced over it exactly as data_enc_feed()
 * would; 0 leaves it untouched. Such a span can go to the socket straight
 * from the file.
 */
size_t
data_enc_clean(struct data_enc *e, const uint8_t *in, size_t n)
{
	size_t	 span;

	if ((span = clean_span(e, in, n)) > 0) {
		e->bol = true;
		e->linelen = 0;
		e->in += span;
		e->out += span;
	}
	return span;
}

ssize_t
data_enc_feed(struct data_enc *e, const uint8_t *in, size_t n, uint8_t *out)
{
	const uint8_t	*lf;
	uint8_t		*o = out;
	size_t		 i = 0, span, stop;
	uint8_t		 c;

	while (i < n) {
		/* Lines that need nothing: copied whole (most of a mail). */
		if ((span = clean_span(e, in + i, n - i)) > 0) {
			memcpy(o, in + i, span);
			o += span;
			i += span;
			e->bol = true;
			e->linelen = 0;
			continue;
		}
		/* The next line (to its LF, or the end) an octet at a time. */
		lf = memchr(in + i, '\n', n - i);
		stop = lf != NULL ? (size_t)(lf - in) + 1 : n;
		for (; i < stop; i++) {
			c = in[i];
			if (e->cr) {
				/* CR LF, or a lone CR taken as a line end: either way CRLF. */
				e->cr = false;
				*o++ = '\r';
				*o++ = '\n';
				e->bol = true;
				e->linelen = 0;
				if (c == '\n')
					continue;
			}
			if (c == '\r') {
				e->cr = true;
				continue;
			}
			if (c == '\n') {
				*o++ = '\r';
				*o++ = '\n';
				e->bol = true;
				e->linelen = 0;
				continue;
			}
			if (c >= 0x80 && e->reject_8bit)
				return DATA_ERR_8BIT;
			if (++e->linelen > DATA_LINE_MAX)
				return DATA_ERR_LONGLINE;
			if (e->bol && c == '.')
				*o++ = '.';
			e->bol = false;
			*o++ = c;
		}
	}
	e->in += n;
	e->out += o - out;
	return o - out;
}

size_t
data_enc_finish(struct data_enc *e, uint8_t *out)
{
	uint8_t	*o = out;

	if (e->cr || !e->bol) {
		*o++ = '\r';
		*o++ = '\n';
	}
	e->cr = false;
	e->bol = true;
	e->linelen = 0;
	memcpy(o, ".\r\n", 3);
	o += 3;
	e->out += o - out;
	return o - out;
}

const char *
data_enc_strerror(int err)
{
	switch (err) {
	case DATA_ERR_LONGLINE:
		return "message has a line longer than 998 characters (RFC 5322), "
		    "which cannot be sent without re-encoding";
	case DATA_ERR_8BIT:
		return "message has 8-bit content but the server does not support 8BITMIME";
	default:
		return "unknown encoding error";
	}
}
