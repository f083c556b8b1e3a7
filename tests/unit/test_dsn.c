/* SPDX-License-Identifier: ISC */
/*
 * test_dsn.c - delivery status notifications (shared/dsn.c): the message
 * structure (headers, a unique boundary, the three parts), every
 * delivery-status field, folding of long diagnostics under 998 octets,
 * CR/LF and control bytes from remote replies made harmless, small vs
 * large and 7-bit vs 8-bit originals, failed vs delayed, several
 * recipients in one report, refusals, and that Python's email package
 * parses the result as multipart/report.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn.h"
#include "check_run.h"

#define HELO	"mx.outpost.example"
#define QID	"0123456789ABCDEF01234567"
#define NOW	1700000000ULL		/* Tue, 14 Nov 2023 22:13:20 +0000 */
#define ARRIVED	1699990000ULL		/* Tue, 14 Nov 2023 19:26:40 +0000 */
#define LAST	1699999000ULL		/* Tue, 14 Nov 2023 21:56:40 +0000 */
#define UNTIL	1700345600ULL		/* Sat, 18 Nov 2023 22:13:20 +0000 */

static const char small_mail[] =
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Subject: lunch on friday\r\n"
    "Message-ID: <orig-1@example.org>\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n"
    "BODY-MARKER\r\n";

static const char lf_mail[] =
    "Subject: lf only\n"
    "From: a@example.org\n"
    "\n"
    "line one\n"
    "line two";		/* no final line ending either */

static const char body8_mail[] =
    "Subject: plain header\r\n"
    "\r\n"
    "caf\xc3\xa9 BODY-MARKER\r\n";

static const char hdr8_mail[] =
    "Subject: caf\xc3\xa9\r\n"
    "\r\n"
    "BODY-MARKER\r\n";

/* Holds the boundary this test suite's default options would choose. */
static const char collide_mail[] =
    "Subject: tricky\r\n"
    "\r\n"
    "--=_" QID ".1700000000/" HELO "\r\n"
    "BODY-MARKER\r\n";

enum content_kind { C_SMALL, C_LF, C_BODY8, C_HDR8, C_COLLIDE, C_LARGE, C_2000, C_EMPTY };

struct dsn_case {
	const char		*name;
	enum content_kind	 content;
	bool			 eightbit;	/* MAIL_F_8BIT given */
	bool			 reader;	/* content through the callback */
	const char		*envid;
	const char		*helo;
	const char		*msgid;
	size_t			 whole_max;
	bool			 allow_8bit;
	struct dsn_rcpt		 rcpt[4];
	size_t			 n;
	enum dsn_orig		 orig;
	bool			 out8;
	const char		*want[14];	/* in the message, raw or unfolded */
	const char		*unwanted[8];
};

#define R550 { "bob@example.net", DSN_ACTION_FAILED, "5.1.1", "mx.example.net[192.0.2.1]:25", \
	"550 5.1.1 <bob@example.net>: user unknown", true, LAST, 0 }

static const struct dsn_case cases[] = {
	{ "failed 550", C_SMALL, .rcpt = { R550 }, .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "Subject: Undelivered Mail Returned to Sender\r\n",
	    "Reporting-MTA: dns; " HELO "\r\n", "X-Outpost-Queue-ID: " QID "\r\n",
	    "Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\r\n",
	    "\r\n\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n"
	    "Status: 5.1.1\r\nRemote-MTA: dns; mx.example.net\r\n",
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: user unknown\r\n",
	    "Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\r\n",
	    "\r\n<bob@example.net>\r\n    Status 5.1.1, last attempt",
	    "    The server mx.example.net replied:\r\n"
	    "        550 5.1.1 <bob@example.net>: user unknown\r\n",
	    "Content-Type: message/rfc822\r\n\r\nFrom: Alice",
	    "BODY-MARKER", "Your original message is attached below." },
	  .unwanted = { "Will-Retry-Until", "Original-Envelope-Id", "192.0.2.1",
	    "Content-Transfer-Encoding", "X-Outpost;" } },

	{ "delayed", C_SMALL, .rcpt = { { "carol@example.com", DSN_ACTION_DELAYED, "4.4.1",
	    "mx2.example.com", "451 4.4.1 try again later", true, LAST, UNTIL } }, .n = 1,
	  .orig = DSN_ORIG_WHOLE,
	  .want = { "Subject: Delayed Mail (still being retried)\r\n", "Action: delayed\r\n",
	    "Status: 4.4.1\r\n", "Will-Retry-Until: Sat, 18 Nov 2023 22:13:20 +0000\r\n",
	    "Delivery will be retried until Sat, 18 Nov 2023 22:13:20 +0000.",
	    "not been delivered yet", "Diagnostic-Code: smtp; 451 4.4.1 try again later" },
	  .unwanted = { "Undelivered", "Action: failed", "given up" } },

	{ "delayed, retry limit unknown", C_SMALL, .rcpt = { { "carol@example.com",
	    DSN_ACTION_DELAYED, "4.4.1", NULL, "connect to mx: refused", false, LAST, 0 } },
	  .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "Action: delayed\r\n", "Diagnostic-Code: X-Outpost; connect to mx: refused" },
	  .unwanted = { "Will-Retry-Until", "Remote-MTA", "retried until" } },

	{ "own reason: null MX", C_SMALL, .rcpt = { { "dave@example.invalid",
	    DSN_ACTION_FAILED, "5.1.10", NULL,
	    "domain example.invalid has a null MX and accepts no mail", false, LAST, 0 } },
	  .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "Status: 5.1.10\r\n", "Diagnostic-Code: X-Outpost; domain example.invalid "
	    "has a null MX and accepts no mail\r\n", "    Reason:\r\n        domain example.invalid" },
	  .unwanted = { "Remote-MTA", "smtp;", "replied:" } },

	{ "re-sends exhausted: 4.x.x failed", C_SMALL, .rcpt = { { "erin@example.net",
	    DSN_ACTION_FAILED, "4.2.2", "mx.example.net", "452 4.2.2 mailbox full", true,
	    LAST, UNTIL } }, .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "Action: failed\r\nStatus: 4.2.2\r\n", "Subject: Undelivered",
	    "Diagnostic-Code: smtp; 452 4.2.2 mailbox full\r\n" },
	  .unwanted = { "Will-Retry-Until", "Delayed" } },

	{ "several recipients, mixed", C_SMALL, .rcpt = { R550,
	    { "frank@example.org", DSN_ACTION_FAILED, "5.7.1", "mx.example.org",
	      "554 5.7.1 rejected by policy", true, LAST, 0 },
	    { "gina@example.com", DSN_ACTION_DELAYED, "4.4.2", "mx.example.com",
	      "421 4.4.2 timeout", true, LAST, UNTIL } }, .n = 3, .orig = DSN_ORIG_WHOLE,
	  .want = { "Subject: Undelivered Mail Returned to Sender\r\n",
	    "Final-Recipient: rfc822; bob@example.net\r\n",
	    "Final-Recipient: rfc822; frank@example.org\r\nAction: failed\r\nStatus: 5.7.1\r\n",
	    "Final-Recipient: rfc822; gina@example.com\r\nAction: delayed\r\nStatus: 4.4.2\r\n",
	    "Will-Retry-Until: Sat, 18 Nov 2023", "given up", "not been delivered yet",
	    "<frank@example.org>", "<gina@example.com>", "554 5.7.1 rejected by policy" } },

	{ "long diagnostic folded", C_SMALL, .rcpt = { { "bob@example.net", DSN_ACTION_FAILED,
	    "5.0.0", "mx.example.net", NULL /* filled by long_diag() */, true, LAST, 0 } },
	  .n = 1, .orig = DSN_ORIG_WHOLE },

	{ "one word of 2000 octets cut", C_SMALL, .rcpt = { { "bob@example.net",
	    DSN_ACTION_FAILED, "5.0.0", "mx.example.net", NULL, true, LAST, 0 } },
	  .n = 1, .orig = DSN_ORIG_WHOLE },

	{ "CR/LF and control bytes in replies", C_SMALL, .rcpt = { {
	    "bob@example.net\r\nX-Evil: 1", DSN_ACTION_FAILED, "5.1.1",
	    "mx.example.net\r\nX-Injected: 1",
	    "550 no such user\r\nBcc: victim@example.org\r\n\r\n--fake\x01\x7f caf\xc3\xa9\ttab",
	    true, LAST, 0 } }, .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "Diagnostic-Code: smtp; 550 no such user Bcc: victim@example.org --fake "
	    "caf?? tab\r\n", "Final-Recipient: rfc822; bob@example.net X-Evil: 1\r\n",
	    "Remote-MTA: dns; mx.example.net\r\n" },
	  .unwanted = { "\nBcc:", "\nX-Evil", "\nX-Injected", "\n--fake", "\x01", "\x7f" } },

	{ "large original: headers only", C_LARGE, .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_HEADERS,
	  .want = { "Content-Type: text/rfc822-headers\r\n\r\nFrom: Alice",
	    "Subject: lunch on friday\r\n", "larger than 65536 bytes" },
	  .unwanted = { "BODY-MARKER", "message/rfc822" } },

	{ "large original through the reader", C_LARGE, .reader = true, .rcpt = { R550 },
	  .n = 1, .orig = DSN_ORIG_HEADERS,
	  .want = { "Content-Type: text/rfc822-headers\r\n", "Subject: lunch on friday\r\n" },
	  .unwanted = { "BODY-MARKER" } },

	{ "whole_max is a setting", C_2000, .whole_max = 1000, .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_HEADERS,
	  .want = { "text/rfc822-headers", "larger than 1000 bytes" },
	  .unwanted = { "BODY-MARKER" } },

	{ "small original through the reader", C_SMALL, .reader = true, .rcpt = { R550 },
	  .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "Content-Type: message/rfc822\r\n\r\nFrom: Alice", "BODY-MARKER" } },

	{ "8-bit body: headers only, 7-bit", C_BODY8, .eightbit = true, .rcpt = { R550 },
	  .n = 1, .orig = DSN_ORIG_HEADERS,
	  .want = { "Content-Type: text/rfc822-headers\r\n\r\nSubject: plain header\r\n",
	    "because it contains 8-bit data" },
	  .unwanted = { "BODY-MARKER", "Content-Transfer-Encoding" } },

	{ "8-bit body without the flag is found", C_BODY8, .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_HEADERS, .unwanted = { "BODY-MARKER" } },

	{ "8-bit header field: base64", C_HDR8, .eightbit = true, .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_HEADERS,
	  .want = { "Content-Type: text/rfc822-headers\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogY2Fmw6kNCg==\r\n" },
	  .unwanted = { "BODY-MARKER" } },

	{ "8-bit allowed (8BITMIME path)", C_BODY8, .eightbit = true, .allow_8bit = true,
	  .rcpt = { R550 }, .n = 1, .orig = DSN_ORIG_WHOLE, .out8 = true,
	  .want = { "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n",
	    "caf\xc3\xa9 BODY-MARKER" } },

	{ "LF-only original becomes CRLF", C_LF, .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_WHOLE,
	  .want = { "\r\n\r\nSubject: lf only\r\nFrom: a@example.org\r\n\r\nline one\r\n"
	    "line two\r\n" } },

	{ "empty original", C_EMPTY, .rcpt = { R550 }, .n = 1, .orig = DSN_ORIG_WHOLE },

	{ "boundary not taken from the original", C_COLLIDE, .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_WHOLE, .want = { "boundary=\"=_" QID ".1700000000/" HELO ".1\"" } },

	{ "malformed status gets the class default", C_SMALL, .rcpt = {
	    { "a@example.net", DSN_ACTION_FAILED, "5.1", NULL, NULL, false, 0, 0 },
	    { "b@example.net", DSN_ACTION_DELAYED, "9.9.9", NULL, NULL, false, 0, 0 },
	    { "c@example.net", DSN_ACTION_FAILED, NULL, "none", "", true, 0, 0 } },
	  .n = 3, .orig = DSN_ORIG_WHOLE,
	  .want = { "rfc822; a@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n\r\n",
	    "rfc822; b@example.net\r\nAction: delayed\r\nStatus: 4.0.0\r\n\r\n",
	    "rfc822; c@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n\r\n" },
	  .unwanted = { "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date",
	    "Will-Retry-Until" } },

	{ "address literal as host name: boundary keeps bchars only", C_SMALL,
	  .helo = "[192.0.2.1]", .rcpt = { R550 }, .n = 1, .orig = DSN_ORIG_WHOLE,
	  .want = { "boundary=\"=_" QID ".1700000000/192.0.2.1\"",
	    "Reporting-MTA: dns; [192.0.2.1]\r\n" } },

	{ "envelope id, message id, no host name", C_SMALL, .envid = "client-id-42",
	  .helo = "", .msgid = "FEDCBA9876543210FEDCBA98", .rcpt = { R550 }, .n = 1,
	  .orig = DSN_ORIG_WHOLE,
	  .want = { "Original-Envelope-Id: client-id-42\r\n", "Reporting-MTA: dns; localhost\r\n",
	    "Message-ID: <FEDCBA9876543210FEDCBA98@localhost>\r\n",
	    "From: Mail Delivery System <MAILER-DAEMON@localhost>\r\n" } },
};

static char *long_text;		/* many words, about 3000 octets */
static char *long_word;		/* one word of 2000 octets */
static char *large_mail;	/* 100 KiB, small_mail's header section */
static size_t large_len;
static char *mail_2000;
static size_t reader_max_off;	/* highest offset the reader was asked for */

static void
fixtures(void)
{
	size_t i, o;

	if (long_text != NULL)
		return;
	long_text = malloc(3100);
	for (i = 0, o = 0; o < 3000; i++)
		o += (size_t)snprintf(long_text + o, 3100 - o, "%sword%zu", o ? " " : "550 ", i);
	long_word = malloc(2001);
	memset(long_word, 'x', 2000);
	long_word[0] = '5', long_word[1] = '5', long_word[2] = '0';
	long_word[2000] = '\0';
	large_len = 100 * 1024;
	large_mail = malloc(large_len);
	memset(large_mail, 'y', large_len);
	memcpy(large_mail, small_mail, sizeof(small_mail) - 1);
	for (i = sizeof(small_mail) - 1 + 70; i < large_len; i += 72)
		large_mail[i] = '\n';
	memcpy(large_mail + large_len - 13, "\nBODY-MARKER\n", 13);
	mail_2000 = malloc(2000);
	memset(mail_2000, 'z', 2000);
	memcpy(mail_2000, small_mail, sizeof(small_mail) - 1);
	for (i = sizeof(small_mail) - 1 + 70; i < 2000; i += 72)
		mail_2000[i] = '\n';
}

struct reader {
	const char	*buf;
	size_t		 len;
	int		 fail;		/* 1: error, 2: short */
};

static ssize_t
read_cb(void *arg, uint64_t off, void *buf, size_t len)
{
	struct reader *r = arg;

	if (r->fail == 1)
		return -1;
	if (off >= r->len || (r->fail == 2 && off >= r->len / 2))
		return 0;
	if (len > r->len - off)
		len = r->len - off;
	if (len > 1000)		/* short reads happen: the builder must loop */
		len = 1000;
	if (r->fail == 2 && len > r->len / 2 - off)
		len = r->len / 2 - off;
	memcpy(buf, r->buf + off, len);
	if (off + len > reader_max_off)
		reader_max_off = off + len;
	return (ssize_t)len;
}

static void
content_of(enum content_kind k, const char **p, size_t *len)
{
	fixtures();
	switch (k) {
	case C_SMALL: *p = small_mail; *len = sizeof(small_mail) - 1; break;
	case C_LF: *p = lf_mail; *len = sizeof(lf_mail) - 1; break;
	case C_BODY8: *p = body8_mail; *len = sizeof(body8_mail) - 1; break;
	case C_HDR8: *p = hdr8_mail; *len = sizeof(hdr8_mail) - 1; break;
	case C_COLLIDE: *p = collide_mail; *len = sizeof(collide_mail) - 1; break;
	case C_LARGE: *p = large_mail; *len = large_len; break;
	case C_2000: *p = mail_2000; *len = 2000; break;
	case C_EMPTY: *p = ""; *len = 0; break;
	}
}

static int
build(const struct dsn_case *c, struct dsn_rcpt *rcpt, struct reader *rd, struct dsn_out *out)
{
	struct dsn_mail m = { .queue_id = QID, .envid = c->envid, .sender = "alice@example.org",
	    .arrival = ARRIVED, .eightbit = c->eightbit };
	struct dsn_opts o = { .helo_name = c->helo ? c->helo : HELO, .now = NOW,
	    .msgid = c->msgid, .whole_max = c->whole_max, .allow_8bit = c->allow_8bit };
	size_t len = 0;
	const char *p = "";

	content_of(c->content, &p, &len);
	m.content_len = len;
	if (c->reader) {
		rd->buf = p;
		rd->len = len;
		m.read = read_cb;
		m.read_arg = rd;
	} else
		m.content = p;
	memcpy(rcpt, c->rcpt, sizeof(c->rcpt));
	if (strcmp(c->name, "long diagnostic folded") == 0)
		rcpt[0].diag = long_text;
	if (strcmp(c->name, "one word of 2000 octets cut") == 0)
		rcpt[0].diag = long_word;
	return dsn_build(&m, rcpt, c->n, &o, out);
}

/* The message with header folding undone (CRLF before a space or tab removed). */
static char *
unfold(const char *s, size_t len)
{
	char *r = malloc(len + 1);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 2 < len && s[i + 1] == '\n' &&
		    (s[i + 2] == ' ' || s[i + 2] == '\t')) {
			i++;
			continue;
		}
		r[o++] = s[i];
	}
	r[o] = '\0';
	return r;
}

static size_t
count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay, *q;

	while ((q = memmem(p, len - (size_t)(p - hay), needle, nl)) != NULL) {
		n++;
		p = q + 1;
	}
	return n;
}

/* What every DSN must be, whatever the case. */
static void
check_structure(const struct dsn_case *c, const struct dsn_rcpt *rcpt,
    const struct dsn_out *out)
{
	const char *s = out->buf, *b, *e, *hdrend;
	char bnd[128], delim[140], want[300];
	size_t i, line = 0, len = out->len;
	bool failed = false;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(out->orig, c->orig);
	ck_assert_int_eq(out->eightbit, c->out8);
	/* CRLF everywhere, no line over 998 octets, 7-bit unless allowed. */
	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			ck_assert_msg(i + 1 < len && s[i + 1] == '\n', "%s: bare CR at %zu", c->name, i);
			ck_assert_msg(line <= 998, "%s: line of %zu octets", c->name, line);
			line = 0;
			i++;
			continue;
		}
		ck_assert_msg(s[i] != '\n', "%s: bare LF at %zu", c->name, i);
		ck_assert_msg(s[i] != '\0', "%s: NUL at %zu", c->name, i);
		if (!c->out8)
			ck_assert_msg(((unsigned char)s[i] & 0x80) == 0, "%s: 8-bit at %zu", c->name, i);
		line++;
	}
	ck_assert_msg(len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n', "%s: no final CRLF",
	    c->name);

	/* The header section. */
	hdrend = memmem(s, len, "\r\n\r\n", 4);
	ck_assert_ptr_nonnull(hdrend);
	ck_assert(strncmp(s, "From: Mail Delivery System <MAILER-DAEMON@", 42) == 0);
	ck_assert(memmem(s, (size_t)(hdrend - s), "\r\nTo: <alice@example.org>\r\n", 27));
	for (i = 0; i < c->n; i++)
		failed |= c->rcpt[i].action == DSN_ACTION_FAILED;
	ck_assert(memmem(s, (size_t)(hdrend - s), failed ?
	    "\r\nSubject: Undelivered Mail Returned to Sender\r\n" :
	    "\r\nSubject: Delayed Mail (still being retried)\r\n", failed ? 48 : 47));
	ck_assert(memmem(s, (size_t)(hdrend - s),
	    "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 41));
	ck_assert(memmem(s, (size_t)(hdrend - s), "\r\nMessage-ID: <", 15));
	ck_assert(memmem(s, (size_t)(hdrend - s), "\r\nAuto-Submitted: auto-replied\r\n", 32));
	ck_assert(memmem(s, (size_t)(hdrend - s), "\r\nMIME-Version: 1.0\r\n", 21));
	b = memmem(s, (size_t)(hdrend - s),
	    "\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"", 75);
	ck_assert_msg(b != NULL, "%s: no multipart/report", c->name);
	b += 75;
	e = memchr(b, '"', (size_t)(hdrend - b));
	ck_assert_ptr_nonnull(e);
	ck_assert(e - b > 0 && e - b <= 70);
	memcpy(bnd, b, (size_t)(e - b));
	bnd[e - b] = '\0';

	/* The boundary occurs only as the 3 delimiters and the close delimiter. */
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", bnd);
	ck_assert_uint_eq(count(s, len, delim), 3);
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", bnd);
	ck_assert_uint_eq(count(s, len, delim), 1);
	ck_assert(len >= strlen(delim) && strcmp(s + len - strlen(delim), delim) == 0);
	snprintf(delim, sizeof(delim), "--%s", bnd);
	ck_assert_uint_eq(count(s, len, delim), 4);

	/* The parts, in order. */
	b = strstr(s, "Content-Type: text/plain; charset=us-ascii\r\n");
	ck_assert_ptr_nonnull(b);
	e = strstr(b, "Content-Type: message/delivery-status\r\n");
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(strstr(e, c->orig == DSN_ORIG_WHOLE ?
	    "Content-Type: message/rfc822\r\n" : "Content-Type: text/rfc822-headers\r\n"));

	/* One block per recipient, each named in the explanation too. */
	ck_assert_uint_eq(count(s, len, "\r\nFinal-Recipient: rfc822; "), c->n);
	ck_assert_uint_eq(count(s, len, "\r\nAction: "), c->n);
	ck_assert_uint_eq(count(s, len, "\r\nStatus: "), c->n);
	for (i = 0; i < c->n; i++) {
		if (strchr(rcpt[i].addr, '\r') != NULL)
			continue;
		snprintf(want, sizeof(want), "\r\nFinal-Recipient: rfc822; %s\r\n", rcpt[i].addr);
		ck_assert_msg(strstr(s, want), "%s: %s", c->name, want);
		snprintf(want, sizeof(want), "\r\n<%s>\r\n", rcpt[i].addr);
		ck_assert_msg(strstr(s, want), "%s: %s", c->name, want);
	}
}

START_TEST(test_cases)
{
	const struct dsn_case *c = &cases[_i];
	struct dsn_rcpt rcpt[4];
	struct reader rd = { 0 };
	struct dsn_out out;
	char *unfolded;
	size_t i;

	reader_max_off = 0;
	ck_assert_msg(build(c, rcpt, &rd, &out) == 0, "%s: %s", c->name, out.err);
	check_structure(c, rcpt, &out);
	unfolded = unfold(out.buf, out.len);
	for (i = 0; i < 14 && c->want[i] != NULL; i++)
		ck_assert_msg(memmem(out.buf, out.len, c->want[i], strlen(c->want[i])) != NULL ||
		    strstr(unfolded, c->want[i]) != NULL, "%s: missing \"%s\"\n%s", c->name,
		    c->want[i], out.buf);
	for (i = 0; i < 8 && c->unwanted[i] != NULL; i++)
		ck_assert_msg(memmem(out.buf, out.len, c->unwanted[i], strlen(c->unwanted[i])) == NULL,
		    "%s: unexpected \"%s\"", c->name, c->unwanted[i]);
	if (c->reader && c->content == C_LARGE)
		ck_assert_uint_le(reader_max_off, DSN_HEADERS_MAX);
	free(unfolded);
	dsn_out_free(&out);
}
END_TEST

START_TEST(test_long_diagnostic)
{
	const struct dsn_case *c = NULL;
	struct dsn_rcpt rcpt[4];
	struct reader rd = { 0 };
	struct dsn_out out;
	const char *d, *e;
	char *unfolded, *want;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, "long diagnostic folded") == 0)
			c = &cases[i];
	ck_assert_int_eq(build(c, rcpt, &rd, &out), 0);
	/* Folded at spaces into lines of at most 78 octets ... */
	d = strstr(out.buf, "\r\nDiagnostic-Code: smtp; 550 word0");
	ck_assert_ptr_nonnull(d);
	for (d += 2; ; d = e + 2) {
		e = strstr(d, "\r\n");
		ck_assert_uint_le((size_t)(e - d), 78);
		if (e[2] != ' ')
			break;
	}
	/* ... that unfold to the reply exactly. */
	unfolded = unfold(out.buf, out.len);
	ck_assert_int_ne(asprintf(&want, "Diagnostic-Code: smtp; %s\r\n", long_text), -1);
	ck_assert_ptr_nonnull(strstr(unfolded, want));
	free(want);
	free(unfolded);
	dsn_out_free(&out);
}
END_TEST

START_TEST(test_reader_same_output)
{
	struct dsn_case c = cases[0];
	struct dsn_rcpt rcpt[4];
	struct reader rd = { 0 };
	struct dsn_out a, b;

	ck_assert_int_eq(build(&c, rcpt, &rd, &a), 0);
	c.reader = true;
	ck_assert_int_eq(build(&c, rcpt, &rd, &b), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert(memcmp(a.buf, b.buf, a.len) == 0);
	dsn_out_free(&a);
	dsn_out_free(&b);
}
END_TEST

struct refusal {
	const char	*name;
	const char	*sender;
	size_t		 n;
	const char	*addr;
	int		 reader_fail;	/* 0, 1 error, 2 short */
	bool		 no_content;
	const char	*err;
};

static const struct refusal refusals[] = {
	{ "null sender", "", 1, "bob@example.net", 0, false, "null sender" },
	{ "no sender", NULL, 1, "bob@example.net", 0, false, "null sender" },
	{ "no recipients", "a@example.org", 0, "bob@example.net", 0, false, "nothing to report" },
	{ "recipient without address", "a@example.org", 1, "", 0, false, "without address" },
	{ "reader fails", "a@example.org", 1, "bob@example.net", 1, false, "cannot read" },
	{ "reader short", "a@example.org", 1, "bob@example.net", 2, false, "shorter" },
	{ "no content at all", "a@example.org", 1, "bob@example.net", 0, true, "no way to read" },
};

START_TEST(test_refusals)
{
	const struct refusal *t = &refusals[_i];
	struct dsn_rcpt r = { t->addr, DSN_ACTION_FAILED, "5.1.1", NULL, "x", false, 0, 0 };
	struct reader rd = { small_mail, sizeof(small_mail) - 1, t->reader_fail };
	struct dsn_mail m = { .queue_id = QID, .sender = t->sender,
	    .content_len = sizeof(small_mail) - 1 };
	struct dsn_opts o = { .helo_name = HELO, .now = NOW };
	struct dsn_out out;

	if (t->reader_fail)
		m.read = read_cb, m.read_arg = &rd;
	else if (!t->no_content)
		m.content = small_mail;
	ck_assert_int_eq(dsn_build(&m, &r, t->n, &o, &out), -1);
	ck_assert_ptr_null(out.buf);
	ck_assert_msg(out.err != NULL && strstr(out.err, t->err) != NULL, "%s: %s", t->name,
	    out.err);
}
END_TEST

/* The checker run by Python: argv = file, then the expected recipients. */
static const char pycheck[] =
    "import sys, email, email.policy\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "m = email.message_from_bytes(raw, policy=email.policy.compat32)\n"
    "assert not m.defects, m.defects\n"
    "assert m.is_multipart()\n"
    "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
    "assert m.get_param('report-type') == 'delivery-status'\n"
    "assert m['Auto-Submitted'] == 'auto-replied'\n"
    "parts = m.get_payload()\n"
    "assert [p.get_content_type() for p in parts] == "
    "['text/plain', 'message/delivery-status', 'message/rfc822'], parts\n"
    "blocks = parts[1].get_payload()\n"
    "assert blocks[0]['Reporting-MTA'] == 'dns; mx.outpost.example'\n"
    "rcpts = [b['Final-Recipient'] for b in blocks[1:]]\n"
    "assert rcpts == ['rfc822; ' + a for a in sys.argv[2:]], rcpts\n"
    "diag = ''.join(blocks[1]['Diagnostic-Code'].split('\\r\\n'))\n"
    "assert diag == 'smtp; 550 5.1.1 <bob@example.net>: user unknown', diag\n"
    "assert blocks[1]['Action'] == 'failed' and blocks[3]['Action'] == 'delayed'\n"
    "orig = parts[2].get_payload()[0]\n"
    "assert orig['Subject'] == 'lunch on friday'\n"
    "text = parts[0].get_payload()\n"
    "assert 'bob@example.net' in text and '550 5.1.1' in text\n"
    "print('python email: ok')\n";

START_TEST(test_python_email_parses)
{
	const struct dsn_case *c = NULL;
	struct dsn_rcpt rcpt[4];
	struct reader rd = { 0 };
	struct dsn_out out;
	char dir[] = "/tmp/test_dsn.XXXXXX", msgpath[64], pypath[64], cmd[300];
	FILE *f;
	size_t i;
	int rc;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_dsn: python3 absent, parse check skipped\n");
		return;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, "several recipients, mixed") == 0)
			c = &cases[i];
	ck_assert_int_eq(build(c, rcpt, &rd, &out), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(msgpath, sizeof(msgpath), "%s/dsn.eml", dir);
	snprintf(pypath, sizeof(pypath), "%s/check.py", dir);
	ck_assert_ptr_nonnull(f = fopen(msgpath, "wb"));
	ck_assert_uint_eq(fwrite(out.buf, 1, out.len, f), out.len);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(pypath, "w"));
	fputs(pycheck, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s %s bob@example.net frank@example.org "
	    "gina@example.com", pypath, msgpath);
	rc = system(cmd);
	unlink(msgpath);
	unlink(pypath);
	rmdir(dir);
	dsn_out_free(&out);
	ck_assert_msg(rc == 0, "Python's email package rejected the DSN (exit %d)", rc);
}
END_TEST

static Suite *
dsn_suite(void)
{
	Suite *s = suite_create("dsn");
	TCase *tc = tcase_create("dsn");

	tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_long_diagnostic);
	tcase_add_test(tc, test_reader_same_output);
	tcase_add_loop_test(tc, test_refusals, 0, sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(tc, test_python_email_parses);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(dsn_suite());
}
