/* SPDX-License-Identifier: ISC */
/*
 * localmail.c - preparing a locally submitted message (outpost-sendmail):
 * the lone-dot rule, recipients from arguments and header fields, the
 * envelope sender, Bcc removal and the From:/Date:/Message-ID: fields a
 * local program may leave out. See localmail.h for the rules.
 *
 * Runs in outpost-sendmail, as the submitting user, on input that user
 * wrote: nothing here is trusted more than the queue manager trusts it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <sodium.h>

#include "addr.h"
#include "buf.h"
#include "localmail.h"
#include "mailhdr.h"
#include "msg.h"
#include "xmalloc.h"

#define FULLNAME_MAX	200	/* bytes of -F kept: one header line stays short */

bool
localmail_is_dot_line(const char *line, size_t n)
{
	return (n == 1 && line[0] == '.') ||
	    (n == 2 && line[0] == '.' && line[1] == '\n') ||
	    (n == 3 && line[0] == '.' && line[1] == '\r' && line[2] == '\n');
}

/* Does addr have a domain, i.e. an '@' outside a quoted local part? */
static bool
qualified(const char *addr)
{
	const char *p = addr;

	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		if (*p == '"')
			p++;
	}
	return strchr(p, '@') != NULL;
}

/* Check one address as an RFC 5321 path, qualifying it first. */
static int
check_addr(const char *addr, const char *helo_name, int flags, char *out, size_t outlen,
    char *err, size_t errlen)
{
	struct addr_path ap;
	const char *why;
	char *path;

	if (addr[0] != '\0' && !qualified(addr))
		xasprintf(&path, "<%s@%s>", addr, helo_name);
	else
		xasprintf(&path, "<%s>", addr);
	if (addr_parse_path(path, flags, &ap, &why) == -1 || ap.params[0] != '\0') {
		snprintf(err, errlen, "bad address \"%s\": %s", addr,
		    ap.params[0] != '\0' ? "junk after the address" : why);
		free(path);
		return -1;
	}
	free(path);
	if (strlcpy(out, ap.mailbox, outlen) >= outlen) {
		snprintf(err, errlen, "bad address \"%s\": too long", addr);
		return -1;
	}
	return 0;
}

struct add_ctx {
	struct rcptlist	*rl;
	const char	*helo_name;
	char		*err;
	size_t		 errlen;
};

static int
add_one(const char *addr, void *arg)
{
	struct add_ctx *c = arg;
	struct rcptlist *rl = c->rl;
	char mb[ADDR_PATH_MAX];
	size_t i;

	if (addr[0] == '\0')
		return 0;	/* "<>" as a recipient means nothing */
	if (check_addr(addr, c->helo_name, 0, mb, sizeof(mb), c->err, c->errlen) == -1)
		return -1;
	for (i = 0; i < rl->n; i++)
		if (strcmp(rl->v[i], mb) == 0)
			return 0;
	if (rl->n == rl->cap) {
		rl->v = xreallocarray(rl->v, rl->cap ? rl->cap * 2 : 8, sizeof(*rl->v));
		rl->cap = rl->cap ? rl->cap * 2 : 8;
	}
	rl->v[rl->n++] = xstrdup(mb);
	return 0;
}

int
rcptlist_add_list(struct rcptlist *rl, const char *list, size_t len, const char *helo_name,
    char *err, size_t errlen)
{
	struct add_ctx c = { rl, helo_name, err, errlen };
	const char *why;

	err[0] = '\0';
	if (mailhdr_addresses(list, len, add_one, &c, &why) == -1) {
		if (err[0] == '\0')
			snprintf(err, errlen, "malformed address list \"%.*s\": %s",
			    (int)(len > 200 ? 200 : len), list, why);
		return -1;
	}
	return 0;
}

void
rcptlist_free(struct rcptlist *rl)
{
	size_t i;

	for (i = 0; i < rl->n; i++)
		free(rl->v[i]);
	free(rl->v);
	memset(rl, 0, sizeof(*rl));
}

int
localmail_sender(const char *arg, const char *helo_name, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char buf[ADDR_MAX];
	size_t n = strlen(arg);

	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "sender address too long");
		return -1;
	}
	if (arg[0] == '<') {
		if (n < 2 || arg[n - 1] != '>') {
			snprintf(err, errlen, "bad sender address \"%s\": missing '>'", arg);
			return -1;
		}
		memcpy(buf, arg + 1, n - 2);
		buf[n - 2] = '\0';
	} else
		strlcpy(buf, arg, sizeof(buf));
	if (buf[0] == '\0') {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	if (check_addr(buf, helo_name, 0, out, outlen, err, errlen) == -1) {
		char why[512];

		strlcpy(why, err, sizeof(why));
		snprintf(err, errlen, "sender: %s", why);
		return -1;
	}
	return 0;
}

/*
 * The display name of an added From: as a quoted string, or as RFC 2047
 * encoded words when it holds non-ASCII bytes (taken as UTF-8). Control
 * characters are dropped: a full name must never start a new header line.
 */
static void
add_display_name(struct buf *b, const char *name)
{
	char clean[FULLNAME_MAX + 1];
	size_t i, n = 0;
	bool eight = false;

	for (i = 0; name[i] != '\0' && n < FULLNAME_MAX; i++) {
		unsigned char c = name[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c >= 0x80)
			eight = true;
		clean[n++] = c;
	}
	/* Do not end inside a UTF-8 sequence cut by the limit. */
	if (name[i] != '\0')
		while (n > 0 && ((unsigned char)clean[n - 1] & 0xc0) == 0x80)
			n--;
	if (n > 0 && name[i] != '\0' && (unsigned char)clean[n - 1] >= 0xc0)
		n--;
	clean[n] = '\0';
	if (n == 0)
		return;

	if (!eight) {
		buf_str(b, "\"");
		for (i = 0; i < n; i++) {
			if (clean[i] == '"' || clean[i] == '\\')
				buf_str(b, "\\");
			buf_add(b, clean + i, 1);
		}
		buf_str(b, "\" ");
		return;
	}
	/* Encoded words of at most 45 input bytes (60 base64 characters, a
	 * word of 72 < 75), each ending on a character boundary. */
	for (i = 0; i < n;) {
		size_t take = n - i > 45 ? 45 : n - i;
		char enc[128];

		if (i + take < n)
			while (take > 1 && ((unsigned char)clean[i + take] & 0xc0) == 0x80)
				take--;
		sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)clean + i, take,
		    sodium_base64_VARIANT_ORIGINAL);
		if (i > 0)
			buf_str(b, " ");
		buf_str(b, "=?UTF-8?B?");
		buf_str(b, enc);
		buf_str(b, "?=");
		i += take;
	}
	buf_str(b, " ");
}

static bool
is_rcpt_field(const struct mailhdr_field *f, bool resent)
{
	if (resent)
		return mailhdr_is(f, "Resent-To") || mailhdr_is(f, "Resent-Cc") ||
		    mailhdr_is(f, "Resent-Bcc");
	return mailhdr_is(f, "To") || mailhdr_is(f, "Cc") || mailhdr_is(f, "Bcc");
}

static int
extract_rcpts(const char *msg, size_t hdrlen, struct rcptlist *rl, const char *helo_name,
    char *err, size_t errlen)
{
	struct mailhdr_field f;
	size_t off = 0;
	bool resent = mailhdr_has(msg, hdrlen, "Resent-To") ||
	    mailhdr_has(msg, hdrlen, "Resent-Cc") || mailhdr_has(msg, hdrlen, "Resent-Bcc");

	while (mailhdr_next(msg, hdrlen, &off, &f)) {
		if (!is_rcpt_field(&f, resent))
			continue;
		if (rcptlist_add_list(rl, f.value, f.valuelen, helo_name, err, errlen) == -1) {
			char why[512];

			strlcpy(why, err, sizeof(why));
			snprintf(err, errlen, "%.*s: field: %s", (int)f.namelen, f.name, why);
			return -1;
		}
	}
	return 0;
}

int
localmail_prepare(const struct localmail_opts *o, const char *msg, size_t len,
    struct rcptlist *rl, char **out, size_t *outlen, char *err, size_t errlen)
{
	struct buf b = { NULL, 0, 0 };
	char *copy;
	const char *eol, *nl;
	size_t hdrlen, body, removed;
	char date[64];
	struct tm tm;

	*out = NULL;
	*outlen = 0;
	hdrlen = mailhdr_section(msg, len, &body);
	if (o->extract && extract_rcpts(msg, hdrlen, rl, o->helo_name, err, errlen) == -1)
		return -1;

	copy = xmalloc(len + 1);
	memcpy(copy, msg, len);
	removed = mailhdr_remove(copy, len, hdrlen, "Bcc");
	len -= removed, hdrlen -= removed, body -= removed;
	removed = mailhdr_remove(copy, len, hdrlen, "Resent-Bcc");
	len -= removed, hdrlen -= removed, body -= removed;

	/* Added lines end like the message's first line does. */
	nl = memchr(copy, '\n', len);
	eol = (nl != NULL && nl > copy && nl[-1] == '\r') ? "\r\n" : "\n";

	buf_add(&b, copy, hdrlen);
	if (hdrlen > 0 && copy[hdrlen - 1] != '\n')
		buf_str(&b, eol);
	if (!mailhdr_has(copy, hdrlen, "From")) {
		buf_str(&b, "From: ");
		size_t mark = b.len;

		if (o->fullname != NULL)
			add_display_name(&b, o->fullname);
		if (b.len > mark) {
			buf_str(&b, "<");
			buf_str(&b, o->from_addr);
			buf_str(&b, ">");
		} else
			buf_str(&b, o->from_addr);
		buf_str(&b, eol);
	}
	if (!mailhdr_has(copy, hdrlen, "Date")) {
		localtime_r(&o->now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_str(&b, "Date: ");
		buf_str(&b, date);
		buf_str(&b, eol);
	}
	if (!mailhdr_has(copy, hdrlen, "Message-ID")) {
		gmtime_r(&o->now, &tm);
		strftime(date, sizeof(date), "%Y%m%d%H%M%S", &tm);
		buf_str(&b, "Message-ID: <");
		buf_str(&b, date);
		buf_str(&b, ".");
		buf_str(&b, o->unique);
		buf_str(&b, "@");
		buf_str(&b, o->helo_name);
		buf_str(&b, ">");
		buf_str(&b, eol);
	}
	/* A body that follows the fields without an empty line gets one. */
	if (body == hdrlen && body < len)
		buf_str(&b, eol);
	buf_add(&b, copy + hdrlen, len - hdrlen);
	free(copy);
	*out = b.p;
	*outlen = b.len;
	return 0;
}

int
localmail_exit_code(unsigned code, const char *dsn)
{
	unsigned cls = 0, subj = 0, det = 0;

	if (code >= 400 && code < 500)
		return EX_TEMPFAIL;
	if (code < 500 || code >= 600)
		return EX_TEMPFAIL;	/* not a refusal we understand: try later */
	if (dsn != NULL)
		(void)sscanf(dsn, "%u.%u.%u", &cls, &subj, &det);
	if (cls == 5) {
		switch (subj) {
		case 1:
			if (det == 1 || det == 2 || det == 6 || det == 10)
				return EX_NOUSER;
			return EX_DATAERR;		/* address syntax */
		case 3:
			return det == 4 ? EX_DATAERR : EX_UNAVAILABLE;	/* too big */
		case 5:
			return EX_PROTOCOL;
		case 6:
			return EX_DATAERR;		/* content */
		case 7:
			return EX_NOPERM;
		default:
			break;
		}
	}
	switch (code) {
	case 552:
	case 553:
	case 501:
		return EX_DATAERR;
	case 550:
	case 551:
		return EX_NOUSER;
	default:
		return EX_UNAVAILABLE;
	}
}
