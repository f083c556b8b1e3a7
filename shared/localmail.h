/* SPDX-License-Identifier: ISC */
/*
 * localmail.h - what outpost-sendmail does to a locally submitted message
 * before it hands it to the queue manager (like Postfix's cleanup does for
 * local mail), kept apart from the tool's main so unit tests link it.
 *
 *  - input: without -i, a line holding a lone "." ends the message;
 *  - recipients: command-line address lists, and with -t those of the
 *    To:/Cc:/Bcc: fields (Resent-To:/-Cc:/-Bcc: instead when any Resent-
 *    field exists); unqualified addresses get "@helo_name"; duplicates
 *    are dropped; each is checked as an RFC 5321 path (shared/addr.h);
 *  - content: Bcc: and Resent-Bcc: fields are removed; From:, Date: and
 *    Message-ID: are appended to the header section when missing, with
 *    the line ending the message uses; a body that does not start after an
 *    empty line gets one. Every other byte is kept as submitted.
 */
#ifndef OUTPOST_LOCALMAIL_H
#define OUTPOST_LOCALMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Without -i: does this input line (with its line ending) end the message? */
bool	localmail_is_dot_line(const char *line, size_t n);

struct rcptlist {
	char		**v;
	size_t		 n;
	size_t		 cap;
};

/*
 * Add the addresses of an address list (one command-line argument or a
 * header field's value) to rl. Returns 0, or -1 with err filled
 * ("bad recipient address \"x\": reason").
 */
int	rcptlist_add_list(struct rcptlist *rl, const char *list, size_t len,
	    const char *helo_name, char *err, size_t errlen);
void	rcptlist_free(struct rcptlist *);

/*
 * The envelope sender from -f/-r: "<>" or "" is the null sender (out is
 * ""), angle brackets are optional, an unqualified name gets "@helo_name".
 * Returns 0, or -1 with err filled.
 */
int	localmail_sender(const char *arg, const char *helo_name, char *out, size_t outlen,
	    char *err, size_t errlen);

struct localmail_opts {
	bool		 extract;	/* -t: recipients from the header */
	const char	*from_addr;	/* address for an added From: */
	const char	*fullname;	/* display name for it, NULL or "" for none */
	const char	*helo_name;	/* Message-ID domain, unqualified addresses */
	const char	*unique;	/* the random part of an added Message-ID */
	time_t		 now;		/* for an added Date: */
};

/*
 * Prepare msg (len bytes as read) for queueing. With opts->extract the
 * header's recipients are added to rl. *out (allocated, *outlen bytes) is
 * the content to queue. Returns 0, or -1 with err filled.
 */
int	localmail_prepare(const struct localmail_opts *opts, const char *msg, size_t len,
	    struct rcptlist *rl, char **out, size_t *outlen, char *err, size_t errlen);

/* The sysexits code for a refusal by the queue manager (code and enhanced status). */
int	localmail_exit_code(unsigned code, const char *dsn);

#endif
