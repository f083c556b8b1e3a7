/* SPDX-License-Identifier: ISC */
/*
 * smtpd_data.c - the message octets of a DATA command: find the end marker
 * CRLF "." CRLF, remove dot-stuffing, and enforce the line and size limits.
 *
 * Runs in smtpd; called by smtpd_session.c with whatever the socket gave,
 * in pieces of any size. Line endings are kept exactly as received. Only
 * CRLF ends a line: a bare LF or CR is neither a line end nor allowed
 * (RFC 5321 2.3.8), so "\n.\n" can never end a message here and be read
 * differently by the next server ("SMTP smuggling"). Errors do not stop the
 * scan: the end marker must still be found to answer the client in sync.
 * Memory is constant whatever the input: overlong lines are counted, not kept.
 * The line limit counts text octets and CRLF, not the dot added for
 * transparency: 998 octets that start with "." arrive as 999 + CRLF.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "smtpd.h"

enum {
	D_BOL = 0,	/* at the start of a line */
	D_DOT,		/* a '.' opened the line */
	D_DOTCR,	/* ".\r" opened the line */
	D_MID,		/* inside a line */
	D_CR,		/* a '\r' inside a line, LF expected */
};

void
data_init(struct data_state *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->st = D_BOL;
	d->max_size = max_size;
}

static void
set_error(struct data_state *d, enum data_error e)
{
	if (d->error == DATA_OK)
		d->error = e;
}

static void
emit(struct data_state *d, uint8_t c, uint8_t *out, size_t *outlen)
{
	if (d->error != DATA_OK)
		return;
	if (d->max_size != 0 && d->size >= d->max_size) {
		set_error(d, DATA_TOO_BIG);
		return;
	}
	d->size++;
	out[(*outlen)++] = c;
}

/* One octet inside a line (not at its start). */
static void
mid(struct data_state *d, uint8_t c, uint8_t *out, size_t *outlen)
{
	if (c == '\r')
		d->st = D_CR;
	else {
		if (c == '\n')
			set_error(d, DATA_BARE_LF);
		d->st = D_MID;
	}
	emit(d, c, out, outlen);
}

/*
 * Inside a line, the octets up to the next CR or LF mean nothing to the
 * state machine: they are counted and copied as one run (memchr and memcpy
 * instead of a call per octet, most of smtpd's time on large mails), with
 * exactly the limits the octet loop applies. Returns the octets taken.
 */
static size_t
mid_run(struct data_state *d, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t outcap, size_t *outlen)
{
	const uint8_t	*cr, *lf;
	size_t		 n, room = outcap - *outlen, copy, at_line, at_size;

	/* the octet loop stops with fewer than 2 octets of room */
	n = inlen < room - 1 ? inlen : room - 1;
	if ((cr = memchr(in, '\r', n)) != NULL)
		n = (size_t)(cr - in);
	if ((lf = memchr(in, '\n', n)) != NULL)
		n = (size_t)(lf - in);
	if (n == 0)
		return 0;
	if (d->error == DATA_OK) {
		/* The first octet of the run that breaks each limit, as the
		 * octet loop meets them: the line check before the size check. */
		at_line = d->line_len >= SMTPD_TEXT_MAX ? 0 : SMTPD_TEXT_MAX - d->line_len;
		at_size = d->max_size == 0 ? SIZE_MAX :
		    d->size >= d->max_size ? 0 : (size_t)(d->max_size - d->size);
		copy = n;
		if (at_line < copy)
			copy = at_line;
		if (at_size < copy)
			copy = at_size;
		memcpy(out + *outlen, in, copy);
		*outlen += copy;
		d->size += copy;
		if (at_line < n && at_line <= at_size)
			set_error(d, DATA_LINE_TOO_LONG);
		else if (at_size < n)
			set_error(d, DATA_TOO_BIG);
	}
	d->line_len += n;
	return n;
}

size_t
data_feed(struct data_state *d, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t outcap, size_t *outlen)
{
	size_t	i, run;

	for (i = 0; i < inlen && !d->done; i++) {
		uint8_t c = in[i];

		if (d->st == D_MID && outcap - *outlen >= 2 &&
		    (run = mid_run(d, in + i, inlen - i, out, outcap, outlen)) > 0) {
			i += run - 1;
			continue;
		}

		/* Every octet below writes at most two. */
		if (outcap - *outlen < 2)
			break;
		if (++d->line_len > SMTPD_TEXT_MAX)
			set_error(d, DATA_LINE_TOO_LONG);

		switch (d->st) {
		case D_BOL:
			if (c == '.') {
				/*
				 * The dot at the start of a line is either
				 * transparency or the end marker; neither is
				 * text, and RFC 5321 4.5.3.1.6 does not count
				 * it toward the 1000-octet limit.
				 */
				d->line_len--;
				d->st = D_DOT;
			} else
				mid(d, c, out, outlen);
			break;
		case D_DOT:
			if (c == '\r')
				d->st = D_DOTCR;
			else
				mid(d, c, out, outlen);	/* the stuffed dot is dropped */
			break;
		case D_DOTCR:
			if (c == '\n') {
				d->done = true;
				d->line_len = 0;
				break;
			}
			/* "." + bare CR: the dot was stuffing, the CR is an error */
			set_error(d, DATA_BARE_LF);
			emit(d, '\r', out, outlen);
			mid(d, c, out, outlen);
			break;
		case D_MID:
			mid(d, c, out, outlen);
			break;
		case D_CR:
			if (c == '\n') {
				emit(d, c, out, outlen);
				d->st = D_BOL;
				d->line_len = 0;
			} else {
				set_error(d, DATA_BARE_LF);
				mid(d, c, out, outlen);
			}
			break;
		}
	}
	return i;
}

void
data_error_reply(enum data_error e, uint64_t max_size, struct smtp_reply *r)
{
	switch (e) {
	case DATA_TOO_BIG:
		r->code = 552;
		r->dsn = "5.3.4";
		(void)snprintf(r->text, sizeof(r->text),
		    "Message too big (%llu octets max)", (unsigned long long)max_size);
		break;
	case DATA_LINE_TOO_LONG:
		r->code = 554;
		r->dsn = "5.6.0";
		(void)snprintf(r->text, sizeof(r->text),
		    "Message has a line longer than %d octets", SMTPD_TEXT_MAX);
		break;
	case DATA_BARE_LF:
		r->code = 554;
		r->dsn = "5.6.0";
		(void)snprintf(r->text, sizeof(r->text),
		    "Message has a bare CR or LF; lines must end with CRLF");
		break;
	default:
		r->code = 250;
		r->dsn = "2.0.0";
		(void)snprintf(r->text, sizeof(r->text), "Ok");
		break;
	}
}
