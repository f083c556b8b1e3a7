/* SPDX-License-Identifier: ISC */
/*
 * dkim_canon.h - RFC 6376 section 3.4 canonicalization of header fields and
 * of the body, "simple" and "relaxed". Pure functions, no I/O, no crypto:
 * used by the signer (daemons/signer) to feed SHA-256, by the unit tests and
 * by the fuzzer.
 *
 * Line endings follow what the delivery agent puts on the wire
 * (daemons/agent/agent_data.c): a bare LF and a bare CR each end a line and
 * become CRLF, and content that does not end in a line ending gets one. The
 * canonical form is therefore computed over the mail as the receiver sees
 * it, not over the bytes as queued.
 */
#ifndef OUTPOST_DKIM_CANON_H
#define OUTPOST_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

enum dkim_canon { DKIM_SIMPLE = 0, DKIM_RELAXED = 1 };

typedef void (*dkim_out_fn)(void *arg, const void *p, size_t n);

/* A body being canonicalized block by block. */
struct dkim_body {
	enum dkim_canon	 canon;
	dkim_out_fn	 out;
	void		*arg;
	bool		 cr;		/* the last byte fed was a CR */
	bool		 wsp;		/* relaxed: whitespace seen, not yet written */
	bool		 content;	/* the current line has content */
	bool		 any;		/* a line was written */
	uint64_t	 nempty;	/* empty lines held back (they may be trailing) */
	uint64_t	 written;	/* canonical bytes passed to out */
	size_t		 blen;
	uint8_t		 b[4096];	/* output gathered before out() */
};

void	dkim_body_init(struct dkim_body *, enum dkim_canon, dkim_out_fn, void *arg);
void	dkim_body_feed(struct dkim_body *, const uint8_t *, size_t);
/* The end of the body: trailing empty lines dropped, a missing last CRLF added. */
void	dkim_body_finish(struct dkim_body *);

/*
 * Append the canonical form of one header field to out: field is the raw
 * field, "Name:value" with its folding and (optionally) its final line
 * ending. The result always ends in CRLF.
 */
void	dkim_header_canon(enum dkim_canon, const char *field, size_t len, struct buf *out);

/* "simple" / "relaxed" -> enum, or -1. */
int	dkim_canon_parse(const char *);
const char *dkim_canon_name(enum dkim_canon);

#endif
