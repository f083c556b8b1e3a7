/* SPDX-License-Identifier: ISC */
/*
 * dsn.h - building delivery status notifications (RFC 3464 inside an
 * RFC 6522 multipart/report), the bounces and delay warnings sent to the
 * envelope sender of a mail.
 *
 * Run by the queue manager (daemons/qmgr/qmgr_bounce.c), which owns the
 * queued content; kept in shared/ because it is pure: memory in, memory
 * out, no I/O of its own (the content may come through a reader callback
 * the caller supplies), no global state, UTC dates (the queue manager is
 * chrooted without time-zone files).
 *
 * The output is a complete RFC 5322 message with CRLF line endings
 * everywhere (the original is converted to CRLF too, whatever the
 * submitter used), no line longer than 998 octets, and 7-bit clean unless
 * the caller allows 8-bit data (see dsn_opts.allow_8bit). Everything that
 * came from outside (remote replies, addresses, host names) is made
 * printable ASCII on one line before it is written.
 */
#ifndef OUTPOST_DSN_H
#define OUTPOST_DSN_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The original is returned whole up to this size unless told otherwise. */
#define DSN_WHOLE_MAX_DEFAULT	(64 * 1024)
/* At most this much of a large original is read to find its header section. */
#define DSN_HEADERS_MAX		(256 * 1024)

/*
 * Reads up to len bytes of the original content at offset off into buf
 * (pread-like). Returns the count read, 0 at the end, -1 on error.
 */
typedef ssize_t (*dsn_read_fn)(void *arg, uint64_t off, void *buf, size_t len);

/* The mail being reported on. */
struct dsn_mail {
	const char	*queue_id;	/* NULL or "": not shown */
	const char	*envid;		/* RFC 3461 ENVID (decoded); NULL: none given */
	const char	*sender;	/* envelope sender, never "" (<> gets no DSN) */
	uint64_t	 arrival;	/* unix seconds; 0: unknown, not shown */
	bool		 eightbit;	/* the content has 8-bit bytes (MAIL_F_8BIT) */
	/* The content: a byte range, or when content is NULL, a reader. */
	const char	*content;
	dsn_read_fn	 read;
	void		*read_arg;
	uint64_t	 content_len;
};

enum dsn_action {
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
};

/* One recipient being reported on. */
struct dsn_rcpt {
	const char	*addr;		/* the recipient as it was given to us */
	enum dsn_action	 action;
	const char	*status;	/* "5.1.1"; NULL/malformed: 5.0.0 or 4.0.0 */
	/*
	 * The server that answered: a host name; anything from '[' on is
	 * dropped, so the agents' "host[ip]:port" may be passed as it is.
	 * NULL, "" or "none": no server was reached.
	 */
	const char	*remote_mta;
	/* The server's reply text ("550 5.1.1 <x@y>: user unknown") or our
	 * own reason ("null MX: domain accepts no mail"); NULL/"": none. */
	const char	*diag;
	bool		 diag_remote;	/* diag is a server's reply (smtp; ...) */
	uint64_t	 last_attempt;	/* unix seconds; 0: not shown */
	uint64_t	 retry_until;	/* delayed only; 0: not known, not shown */
};

struct dsn_opts {
	const char	*helo_name;	/* our host name; NULL/"": "localhost" */
	uint64_t	 now;		/* the reporting time (Date:) */
	/* Left part of the DSN's Message-ID, e.g. the DSN's own queue id;
	 * NULL: made from the original's queue id and now. */
	const char	*msgid;
	/* Return the original whole when it is at most this large (and 7-bit
	 * clean), else only its header section. 0: DSN_WHOLE_MAX_DEFAULT. */
	size_t		 whole_max;
	/*
	 * May the DSN carry 8-bit data? Only when the path that will carry it
	 * is known to offer 8BITMIME (RFC 6152). When false (the usual case:
	 * a DSN is queued before its route is known), an 8-bit original is
	 * returned as its header section only, and 8-bit header fields are
	 * base64-encoded, so the DSN is 7-bit clean.
	 */
	bool		 allow_8bit;
};

enum dsn_orig {
	DSN_ORIG_WHOLE,		/* message/rfc822 */
	DSN_ORIG_HEADERS,	/* text/rfc822-headers */
};

struct dsn_out {
	char		*buf;		/* the message, malloc'd; free with dsn_out_free */
	size_t		 len;
	bool		 eightbit;	/* buf has 8-bit bytes (only with allow_8bit) */
	enum dsn_orig	 orig;		/* how the original was returned */
	const char	*err;		/* static reason when dsn_build() fails */
};

/*
 * Build one DSN about mail for the n recipients in rcpt (n >= 1; failed
 * and delayed may be mixed: the Subject says "Undelivered" when any
 * failed). Returns 0 with out filled, or -1 with out->err set (bad
 * arguments, or the reader failed or returned less than content_len).
 */
int	dsn_build(const struct dsn_mail *mail, const struct dsn_rcpt *rcpt, size_t n,
	    const struct dsn_opts *opts, struct dsn_out *out);
void	dsn_out_free(struct dsn_out *);

#endif
