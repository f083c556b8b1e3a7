/* SPDX-License-Identifier: ISC */
/*
 * mailhdr.h - scanning the header section of an RFC 5322 message.
 *
 * Used by outpost-sendmail (recipients from To/Cc/Bcc with -t, Bcc
 * removal, missing From/Date/Message-ID) and by anyone who must find a
 * header field in queued content. Works on the raw bytes as submitted:
 * lines end in LF or CRLF, folded fields keep their folding, nothing is
 * copied or rewritten except by mailhdr_remove(). Pure functions on
 * untrusted input.
 */
#ifndef OUTPOST_MAILHDR_H
#define OUTPOST_MAILHDR_H

#include <stdbool.h>
#include <stddef.h>

/* One header field: "Name:value" up to and including its last line ending. */
struct mailhdr_field {
	const char	*name;
	size_t		 namelen;
	const char	*value;		/* after the colon, folding kept */
	size_t		 valuelen;	/* without the final line ending */
	size_t		 start;		/* offset of the field's first byte */
	size_t		 end;		/* offset after its last line ending */
};

/*
 * The header section of msg: returns its length (the fields, each with its
 * line endings). *body is set to where the body starts: after the empty
 * line that separates them, or at the first line that is not a header
 * field (no empty line then: *body == the return value), or len.
 */
size_t	mailhdr_section(const char *msg, size_t len, size_t *body);

/* Next field of msg[0, hdrlen) from *off. Returns true with f filled. */
bool	mailhdr_next(const char *msg, size_t hdrlen, size_t *off, struct mailhdr_field *f);

/* Case-insensitive comparison of the field's name. */
bool	mailhdr_is(const struct mailhdr_field *f, const char *name);

/* Is there a field called name in msg[0, hdrlen)? */
bool	mailhdr_has(const char *msg, size_t hdrlen, const char *name);

/*
 * Remove every field called name from the header section msg[0, hdrlen)
 * in place (the bytes after it move down). Returns the number of bytes
 * removed; the caller shortens both the section and the message by it.
 */
size_t	mailhdr_remove(char *msg, size_t len, size_t hdrlen, const char *name);

/*
 * The addresses of an RFC 5322 address-list (a To:/Cc:/Bcc: value or a
 * command-line argument): display names, comments, groups and source
 * routes are dropped, each addr-spec is passed to cb as "local@domain"
 * (or just "local" when written without a domain), NUL-terminated, with
 * folding whitespace removed and quoted local parts kept quoted.
 * cb returns 0 to go on or -1 to stop (mailhdr_addresses then returns -1).
 * Returns 0, or -1 with *err set to a static message when the list is
 * malformed (unterminated quote, comment or <>, address too long).
 */
typedef int (*mailhdr_addr_cb)(const char *addr, void *arg);
int	mailhdr_addresses(const char *value, size_t len, mailhdr_addr_cb cb, void *arg,
	    const char **err);

#endif
