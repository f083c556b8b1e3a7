/* SPDX-License-Identifier: ISC */
/*
 * dsn.c - the delivery status notification builder (RFC 3464, RFC 6522).
 *
 * Called by the queue manager's bounce code (daemons/qmgr/qmgr_bounce.c)
 * and by the tests; see dsn.h for the contract. Pure: the only I/O is the
 * caller's reader callback.
 *
 * The message is built in three separate buffers (the explanation, the
 * delivery-status fields, the original) and then assembled, so that the
 * MIME boundary can be chosen as a string that occurs in none of them.
 * Text from outside is never trusted: it is collapsed to one line of
 * printable ASCII (clean()) before it goes into a header field or the
 * explanation, so a reply with CR/LF cannot add header fields or parts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "buf.h"
#include "dsn.h"
#include "maildate.h"
#include "log.h"
#include "mailhdr.h"
#include "xmalloc.h"

#define CRLF		"\r\n"
#define LINE_MAX_OCTETS	998	/* RFC 5322 2.1.1, without the CRLF */
#define FOLD_WIDTH	78	/* the recommended line length */
#define WORD_MAX	900	/* longer words are cut to stay under 998 */
#define BOUNDARY_MAX	70	/* RFC 2046 5.1.1 */
#define B64_LINE_IN	57	/* 57 bytes make one 76-character base64 line */

/*
 * Untrusted text made fit for one header line: CR, LF, TAB and every other
 * control byte become white space, runs of white space become one space,
 * leading and trailing space is dropped, and 8-bit bytes become '?' (a
 * header and the us-ascii explanation must stay 7-bit).
 */
static char *
clean(const char *s)
{
	size_t i, o = 0, len;
	bool space = false;
	char *r;

	if (s == NULL)
		return xstrdup("");
	len = strlen(s);
	r = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f) {
			space = o > 0;
			continue;
		}
		if (space)
			r[o++] = ' ';
		space = false;
		r[o++] = c >= 0x80 ? '?' : (char)c;
	}
	r[o] = '\0';
	return r;
}

/* A host name for our own fields: letters, digits and ".-_:[]" only. */
static char *
clean_host(const char *s)
{
	size_t i, o = 0, len = s ? strlen(s) : 0;
	char *r = xmalloc(len + 1);

	for (i = 0; i < len && o < 255; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(".-_:[]", c) != NULL)
			r[o++] = (char)c;
	}
	r[o] = '\0';
	return r;
}

/* The remote MTA's host name, "" when no server was reached. */
static char *
remote_host(const char *s)
{
	char *r = clean(s);

	r[strcspn(r, "[ ")] = '\0';
	if (strcmp(r, "none") == 0)
		r[0] = '\0';
	return r;
}

/* "X.Y.Z" per RFC 3463: class 2, 4 or 5, subject and detail 1-3 digits. */
static bool
status_valid(const char *s)
{
	size_t i, k, part;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	for (i = 2, part = 0; part < 2; part++) {
		for (k = 0; s[i] >= '0' && s[i] <= '9'; i++, k++)
			;
		if (k < 1 || k > 3)
			return false;
		if (part == 0 && s[i++] != '.')
			return false;
	}
	return s[i] == '\0';
}

static const char *
status_of(const struct dsn_rcpt *r)
{
	if (status_valid(r->status))
		return r->status;
	return r->action == DSN_ACTION_DELAYED ? "4.0.0" : "5.0.0";
}

/*
 * Write the words of s (clean: single spaces) from column col. Before a
 * word that would pass FOLD_WIDTH the separating space is replaced by brk
 * (CRLF and white space, which is RFC 5322 folding in a header, and a
 * line break with indentation in the explanation), whose last line is
 * brkcol wide. A word longer than WORD_MAX is cut into pieces joined by
 * brk: the only way to keep a line under 998 octets, at the price of a
 * space inside that word once unfolded.
 */
static void
words(struct buf *b, size_t col, const char *s, const char *brk, size_t brkcol)
{
	const char *w = s;
	size_t wl, piece;
	bool first = true;

	while (*w != '\0') {
		wl = strcspn(w, " ");
		do {
			piece = wl > WORD_MAX ? WORD_MAX : wl;
			if (first) {
				first = false;
				if (col + piece > FOLD_WIDTH && col > brkcol) {
					buf_str(b, brk);
					col = brkcol;
				}
			} else if (col + 1 + piece > FOLD_WIDTH) {
				buf_str(b, brk);
				col = brkcol;
			} else {
				buf_add(b, " ", 1);
				col++;
			}
			buf_add(b, w, piece);
			col += piece;
			w += piece;
			wl -= piece;
			/* The rest of a cut word always starts a new line. */
			if (wl > 0)
				col = FOLD_WIDTH;
		} while (wl > 0);
		if (*w == ' ')
			w++;
	}
}

/* One header field "Name: value", value clean, folded. */
static void
field(struct buf *b, const char *name, const char *value)
{
	buf_str(b, name);
	buf_add(b, ":", 1);
	if (*value != '\0') {
		buf_add(b, " ", 1);
		words(b, strlen(name) + 2, value, CRLF " ", 1);
	}
	buf_str(b, CRLF);
}

/* A field whose value is a fixed prefix and untrusted text. */
static void
field2(struct buf *b, const char *name, const char *prefix, const char *text)
{
	char *v;

	xasprintf(&v, "%s%s", prefix, text);
	field(b, name, v);
	free(v);
}

/* A paragraph of the explanation, wrapped, every line starting with indent. */
static void
para(struct buf *b, const char *indent, const char *text)
{
	char *brk;

	xasprintf(&brk, CRLF "%s", indent);
	buf_str(b, indent);
	words(b, strlen(indent), text, brk, strlen(indent));
	buf_str(b, CRLF);
	free(brk);
}

/* What scanning the original found, to decide how it can be returned. */
struct scan {
	size_t	 maxline;
	bool	 has8;
	bool	 hasnul;
};

/*
 * Append s converted to CRLF line endings (LF, CR and CRLF all end a
 * line: the queue holds what the submitter sent, the DSN is all CRLF),
 * ending with a line ending, and note what sc needs to know.
 */
static void
add_crlf(struct buf *b, const char *s, size_t n, struct scan *sc)
{
	size_t i = 0, run, k;

	while (i < n) {
		for (run = 0; i + run < n && s[i + run] != '\r' && s[i + run] != '\n'; run++)
			;
		for (k = 0; k < run; k++) {
			unsigned char c = (unsigned char)s[i + k];

			if (c >= 0x80)
				sc->has8 = true;
			else if (c == 0)
				sc->hasnul = true;
		}
		if (run > sc->maxline)
			sc->maxline = run;
		buf_add(b, s + i, run);
		i += run;
		if (i < n) {
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				i++;
			i++;
		}
		buf_str(b, CRLF);
	}
}

/* Read [0, len) of the original into a new buffer. */
static char *
load(const struct dsn_mail *m, size_t len, const char **err)
{
	char *buf = xmalloc(len + 1);
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = m->read(m->read_arg, got, buf + got, len - got);
		if (r <= 0 || (size_t)r > len - got) {
			*err = r < 0 ? "cannot read the original message" :
			    "the original message is shorter than its size";
			free(buf);
			return NULL;
		}
		got += (size_t)r;
	}
	return buf;
}

static void
add_base64(struct buf *b, const char *s, size_t n)
{
	char line[sodium_base64_ENCODED_LEN(B64_LINE_IN, sodium_base64_VARIANT_ORIGINAL)];
	size_t k;

	for (; n > 0; s += k, n -= k) {
		k = n > B64_LINE_IN ? B64_LINE_IN : n;
		sodium_bin2base64(line, sizeof(line), (const unsigned char *)s, k,
		    sodium_base64_VARIANT_ORIGINAL);
		buf_str(b, line);
		buf_str(b, CRLF);
	}
}

/* The original as the third part: its part header and body in *part. */
struct orig {
	struct buf	 part;
	enum dsn_orig	 kind;
	bool		 eightbit;
	bool		 too_large;	/* only the headers because of its size ... */
	const char	*why;		/* ... or for this reason */
};

static int
build_orig(const struct dsn_mail *m, const struct dsn_opts *o, struct orig *og,
    const char **err)
{
	size_t whole_max = o->whole_max ? o->whole_max : DSN_WHOLE_MAX_DEFAULT;
	size_t len, hdrlen, body;
	struct buf conv = { 0 };
	struct scan sc = { 0 };
	const char *src;
	char *owned = NULL;
	bool whole, ok7;

	whole = m->content_len <= whole_max;
	len = whole ? (size_t)m->content_len :
	    (size_t)(m->content_len < DSN_HEADERS_MAX ? m->content_len : DSN_HEADERS_MAX);
	if (m->content != NULL)
		src = m->content;
	else if (len == 0)
		src = "";
	else if ((src = owned = load(m, len, err)) == NULL)
		return -1;

	if (whole) {
		add_crlf(&conv, src, len, &sc);
		ok7 = !sc.has8 && !m->eightbit;
		/* message/rfc822 may be 7bit or 8bit, never encoded (RFC 2046 5.2.1). */
		if (!sc.hasnul && sc.maxline <= LINE_MAX_OCTETS && (ok7 || o->allow_8bit)) {
			og->kind = DSN_ORIG_WHOLE;
			og->eightbit = !ok7;
			buf_str(&og->part, "Content-Description: Original Message" CRLF);
			buf_str(&og->part, "Content-Type: message/rfc822" CRLF);
			if (og->eightbit)
				buf_str(&og->part, "Content-Transfer-Encoding: 8bit" CRLF);
			buf_str(&og->part, CRLF);
			buf_add(&og->part, conv.p, conv.len);
			goto done;
		}
		og->why = sc.hasnul ? "it contains NUL bytes" :
		    sc.maxline > LINE_MAX_OCTETS ? "it has lines longer than 998 octets" :
		    "it contains 8-bit data";
		free(conv.p);
		conv = (struct buf){ 0 };
		sc = (struct scan){ 0 };
	} else {
		og->too_large = true;
		/* A header section cut short by the read limit ends at a whole line. */
		if (len < m->content_len) {
			while (len > 0 && src[len - 1] != '\n')
				len--;
		}
	}

	hdrlen = mailhdr_section(src, len, &body);
	add_crlf(&conv, src, hdrlen, &sc);
	og->kind = DSN_ORIG_HEADERS;
	buf_str(&og->part, "Content-Description: Original Message Headers" CRLF);
	buf_str(&og->part, "Content-Type: text/rfc822-headers" CRLF);
	if (sc.hasnul || sc.maxline > LINE_MAX_OCTETS || (sc.has8 && !o->allow_8bit)) {
		buf_str(&og->part, "Content-Transfer-Encoding: base64" CRLF CRLF);
		add_base64(&og->part, conv.p, conv.len);
	} else {
		og->eightbit = sc.has8;
		if (og->eightbit)
			buf_str(&og->part, "Content-Transfer-Encoding: 8bit" CRLF);
		buf_str(&og->part, CRLF);
		buf_add(&og->part, conv.p, conv.len);
	}

done:
	free(conv.p);
	free(owned);
	return 0;
}

static bool
any_action(const struct dsn_rcpt *r, size_t n, enum dsn_action a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].action == a)
			return true;
	return false;
}

/* The per-recipient paragraphs of the explanation for one action. */
static void
explain_rcpts(struct buf *b, const struct dsn_rcpt *r, size_t n, enum dsn_action a)
{
	char *addr, *diag, *host, *s, when[40], until[40];
	size_t i;

	for (i = 0; i < n; i++) {
		if (r[i].action != a)
			continue;
		addr = clean(r[i].addr);
		diag = clean(r[i].diag);
		host = remote_host(r[i].remote_mta);
		buf_str(b, CRLF);
		buf_printf(b, "<%s>" CRLF, addr);
		if (r[i].last_attempt != 0) {
			maildate(r[i].last_attempt, when, sizeof(when));
			xasprintf(&s, "Status %s, last attempt %s.", status_of(&r[i]), when);
		} else
			xasprintf(&s, "Status %s.", status_of(&r[i]));
		para(b, "    ", s);
		free(s);
		if (a == DSN_ACTION_DELAYED && r[i].retry_until != 0) {
			maildate(r[i].retry_until, until, sizeof(until));
			xasprintf(&s, "Delivery will be retried until %s.", until);
			para(b, "    ", s);
			free(s);
		}
		if (diag[0] != '\0' && r[i].diag_remote) {
			if (host[0] != '\0')
				xasprintf(&s, "The server %s replied:", host);
			else
				s = xstrdup("The receiving server replied:");
			para(b, "    ", s);
			free(s);
			para(b, "        ", diag);
		} else if (diag[0] != '\0') {
			para(b, "    ", "Reason:");
			para(b, "        ", diag);
		}
		free(addr);
		free(diag);
		free(host);
	}
}

static void
build_text(struct buf *b, const struct dsn_mail *m, const struct dsn_rcpt *r, size_t n,
    const char *host, const struct orig *og, size_t whole_max)
{
	char *qid = clean(m->queue_id), *s, date[40];

	buf_printf(b, "This is the mail delivery system at %s." CRLF CRLF, host);
	if (qid[0] != '\0' && m->arrival != 0) {
		maildate(m->arrival, date, sizeof(date));
		xasprintf(&s, "This report is about your message with queue id %s, "
		    "received %s.", qid, date);
		para(b, "", s);
		free(s);
		buf_str(b, CRLF);
	}
	if (any_action(r, n, DSN_ACTION_FAILED)) {
		para(b, "", "Your message could not be delivered to the recipients "
		    "listed below. Delivery to them has been given up; the reason is "
		    "given for each one.");
		explain_rcpts(b, r, n, DSN_ACTION_FAILED);
		buf_str(b, CRLF);
	}
	if (any_action(r, n, DSN_ACTION_DELAYED)) {
		para(b, "", "Your message has not been delivered yet to the recipients "
		    "listed below. It is still being retried, so you need not send it "
		    "again. You will be notified if delivery finally fails.");
		explain_rcpts(b, r, n, DSN_ACTION_DELAYED);
		buf_str(b, CRLF);
	}
	if (og->kind == DSN_ORIG_WHOLE)
		para(b, "", "Your original message is attached below.");
	else {
		if (og->too_large)
			xasprintf(&s, "The header section of your original message is "
			    "attached below; the whole message is not returned because it "
			    "is larger than %zu bytes.", whole_max);
		else
			xasprintf(&s, "The header section of your original message is "
			    "attached below; the whole message is not returned because %s.",
			    og->why);
		para(b, "", s);
		free(s);
	}
	free(qid);
}

static void
build_status(struct buf *b, const struct dsn_mail *m, const struct dsn_rcpt *r, size_t n,
    const char *host)
{
	char *v, *rhost, date[40];
	size_t i;

	field2(b, "Reporting-MTA", "dns; ", host);
	/* An extension field (RFC 3464 2.4): our queue id, for the postmaster. */
	if (m->queue_id != NULL && m->queue_id[0] != '\0') {
		v = clean(m->queue_id);
		field(b, "X-Outpost-Queue-ID", v);
		free(v);
	}
	if (m->envid != NULL && m->envid[0] != '\0') {
		v = clean(m->envid);
		field(b, "Original-Envelope-Id", v);
		free(v);
	}
	if (m->arrival != 0) {
		maildate(m->arrival, date, sizeof(date));
		field(b, "Arrival-Date", date);
	}
	for (i = 0; i < n; i++) {
		buf_str(b, CRLF);
		v = clean(r[i].addr);
		field2(b, "Final-Recipient", "rfc822; ", v);
		free(v);
		field(b, "Action", r[i].action == DSN_ACTION_DELAYED ? "delayed" : "failed");
		field(b, "Status", status_of(&r[i]));
		rhost = remote_host(r[i].remote_mta);
		if (rhost[0] != '\0')
			field2(b, "Remote-MTA", "dns; ", rhost);
		free(rhost);
		v = clean(r[i].diag);
		/* Our own reasons get a private diagnostic type (RFC 3464 2.3.6). */
		if (v[0] != '\0')
			field2(b, "Diagnostic-Code", r[i].diag_remote ? "smtp; " : "X-Outpost; ", v);
		free(v);
		if (r[i].last_attempt != 0) {
			maildate(r[i].last_attempt, date, sizeof(date));
			field(b, "Last-Attempt-Date", date);
		}
		if (r[i].action == DSN_ACTION_DELAYED && r[i].retry_until != 0) {
			maildate(r[i].retry_until, date, sizeof(date));
			field(b, "Will-Retry-Until", date);
		}
	}
}

static bool
contains(const struct buf *b, const char *needle)
{
	return b->len > 0 && memmem(b->p, b->len, needle, strlen(needle)) != NULL;
}

/*
 * A boundary found in none of the parts: the original's queue id, the
 * time and our host name (RFC 2046 bchars only), with a counter added in
 * the unlikely case that a part holds it already.
 */
static int
choose_boundary(char *bnd, size_t len, const struct dsn_mail *m, const struct dsn_opts *o,
    const char *host, struct buf *parts[3])
{
	char base[BOUNDARY_MAX - 8 + 1], *qid = clean_host(m->queue_id), delim[BOUNDARY_MAX + 3];
	unsigned i, k;

	snprintf(base, sizeof(base), "=_%s.%llu/%s", qid[0] ? qid : "dsn",
	    (unsigned long long)o->now, host);
	free(qid);
	/* Host names may hold '[' and ']' (address literals): not bchars. */
	for (i = 0, k = 0; base[i] != '\0'; i++)
		if (base[i] != '[' && base[i] != ']')
			base[k++] = base[i];
	base[k] = '\0';
	for (i = 0; i < 100000; i++) {
		if (i == 0)
			snprintf(bnd, len, "%s", base);
		else
			snprintf(bnd, len, "%s.%u", base, i);
		snprintf(delim, sizeof(delim), "--%s", bnd);
		for (k = 0; k < 3; k++)
			if (contains(parts[k], delim))
				break;
		if (k == 3)
			return 0;
	}
	return -1;
}

int
dsn_build(const struct dsn_mail *m, const struct dsn_rcpt *r, size_t n,
    const struct dsn_opts *o, struct dsn_out *out)
{
	struct buf text = { 0 }, status = { 0 }, msg = { 0 }, *parts[3];
	struct orig og = { 0 };
	char *host, *sender, *msgid, date[40], bnd[BOUNDARY_MAX + 1];
	size_t i;

	memset(out, 0, sizeof(*out));
	if (m == NULL || r == NULL || o == NULL || n == 0) {
		out->err = "nothing to report";
		return -1;
	}
	if (m->sender == NULL || m->sender[0] == '\0') {
		out->err = "no DSN is sent to the null sender";
		return -1;
	}
	if (m->content == NULL && m->read == NULL && m->content_len > 0) {
		out->err = "no way to read the original message";
		return -1;
	}
	for (i = 0; i < n; i++)
		if (r[i].addr == NULL || r[i].addr[0] == '\0' ||
		    (r[i].action != DSN_ACTION_FAILED && r[i].action != DSN_ACTION_DELAYED)) {
			out->err = "a recipient without address or action";
			return -1;
		}
	if (build_orig(m, o, &og, &out->err) == -1)
		return -1;

	host = clean_host(o->helo_name);
	if (host[0] == '\0') {
		free(host);
		host = xstrdup("localhost");
	}
	build_text(&text, m, r, n, host, &og, o->whole_max ? o->whole_max : DSN_WHOLE_MAX_DEFAULT);
	build_status(&status, m, r, n, host);
	parts[0] = &text;
	parts[1] = &status;
	parts[2] = &og.part;
	if (choose_boundary(bnd, sizeof(bnd), m, o, host, parts) == -1) {
		out->err = "no MIME boundary found that the message does not contain";
		free(text.p);
		free(status.p);
		free(og.part.p);
		free(host);
		return -1;
	}

	sender = clean(m->sender);
	if (o->msgid != NULL && o->msgid[0] != '\0')
		msgid = clean_host(o->msgid);
	else {
		char *qid = clean_host(m->queue_id);

		xasprintf(&msgid, "%s.%llu.dsn", qid[0] ? qid : "outpost",
		    (unsigned long long)o->now);
		free(qid);
	}
	maildate(o->now, date, sizeof(date));
	buf_printf(&msg, "From: Mail Delivery System <MAILER-DAEMON@%s>" CRLF, host);
	/* Column 0: never fold between "<" and the address, only inside an over-long one. */
	buf_str(&msg, "To: <");
	words(&msg, 0, sender, CRLF " ", 1);
	buf_str(&msg, ">" CRLF);
	field(&msg, "Subject", any_action(r, n, DSN_ACTION_FAILED) ?
	    "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)");
	field(&msg, "Date", date);
	buf_printf(&msg, "Message-ID: <%s@%s>" CRLF, msgid, host);
	/* RFC 3834: automatic responders must not answer this. */
	field(&msg, "Auto-Submitted", "auto-replied");
	field(&msg, "MIME-Version", "1.0");
	buf_printf(&msg, "Content-Type: multipart/report; report-type=delivery-status;" CRLF
	    "\tboundary=\"%s\"" CRLF, bnd);
	if (og.eightbit)
		buf_str(&msg, "Content-Transfer-Encoding: 8bit" CRLF);
	buf_str(&msg, CRLF "This is a MIME-encapsulated delivery status notification." CRLF);

	buf_printf(&msg, CRLF "--%s" CRLF, bnd);
	buf_str(&msg, "Content-Description: Notification" CRLF
	    "Content-Type: text/plain; charset=us-ascii" CRLF CRLF);
	buf_add(&msg, text.p, text.len);
	buf_printf(&msg, CRLF "--%s" CRLF, bnd);
	buf_str(&msg, "Content-Description: Delivery report" CRLF
	    "Content-Type: message/delivery-status" CRLF CRLF);
	buf_add(&msg, status.p, status.len);
	buf_printf(&msg, CRLF "--%s" CRLF, bnd);
	buf_add(&msg, og.part.p, og.part.len);
	buf_printf(&msg, CRLF "--%s--" CRLF, bnd);

	/* NUL-terminated for the caller's convenience; len does not count it. */
	buf_add(&msg, "", 1);
	out->buf = msg.p;
	out->len = msg.len - 1;
	out->eightbit = og.eightbit;
	out->orig = og.kind;
	free(text.p);
	free(status.p);
	free(og.part.p);
	free(host);
	free(sender);
	free(msgid);
	return 0;
}

void
dsn_out_free(struct dsn_out *out)
{
	free(out->buf);
	out->buf = NULL;
	out->len = 0;
}
