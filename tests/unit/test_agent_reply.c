/* SPDX-License-Identifier: ISC */
/*
 * test_agent_reply.c - the delivery agent's SMTP reply parser and EHLO
 * capability parsing (daemons/agent/agent_reply.c, agent_ehlo.c): single and
 * multi-line replies, enhanced status codes, malformed and oversize replies
 * from hostile servers, and what a server's EHLO announces.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "check_run.h"

struct reply_case {
	const char	*in;		/* raw bytes from the server */
	int		 status;	/* REPLY_DONE, REPLY_MORE or REPLY_ERROR */
	int		 code;
	const char	*dsn;
	bool		 has_dsn;
	const char	*text;		/* joined text, or a part of the error */
	unsigned	 nlines;
};

static const struct reply_case replies[] = {
	/* single line, with and without enhanced status */
	{ "220 mx.example ESMTP\r\n", REPLY_DONE, 220, "2.0.0", false, "220 mx.example ESMTP", 1 },
	{ "250 2.1.0 Ok\r\n", REPLY_DONE, 250, "2.1.0", true, "250 2.1.0 Ok", 1 },
	{ "550 5.1.1 <x@y>: Recipient address rejected\r\n", REPLY_DONE, 550, "5.1.1", true,
	  "550 5.1.1 <x@y>: Recipient address rejected", 1 },
	{ "451 4.7.1 Try again later\r\n", REPLY_DONE, 451, "4.7.1", true, "451 4.7.1 Try again later", 1 },
	{ "452 4.5.3 Too many recipients\r\n", REPLY_DONE, 452, "4.5.3", true,
	  "452 4.5.3 Too many recipients", 1 },
	{ "250 2.0.0 Ok: queued as 3Fx\r\n", REPLY_DONE, 250, "2.0.0", true,
	  "250 2.0.0 Ok: queued as 3Fx", 1 },
	{ "554 5.123.456 odd but valid\r\n", REPLY_DONE, 554, "5.123.456", true,
	  "554 5.123.456 odd but valid", 1 },
	/* a code alone, a bare LF, a trailing space */
	{ "250\r\n", REPLY_DONE, 250, "2.0.0", false, "250", 1 },
	{ "250 Ok\n", REPLY_DONE, 250, "2.0.0", false, "250 Ok", 1 },
	{ "354 End data with <CR><LF>.<CR><LF>\r\n", REPLY_DONE, 354, "3.0.0", false,
	  "354 End data with <CR><LF>.<CR><LF>", 1 },
	/* enhanced status that does not count */
	{ "550 4.1.1 class disagrees with the code\r\n", REPLY_DONE, 550, "5.0.0", false,
	  "550 4.1.1 class disagrees with the code", 1 },
	{ "250 2.1 too short\r\n", REPLY_DONE, 250, "2.0.0", false, "250 2.1 too short", 1 },
	{ "250 2.1.0000 detail too long\r\n", REPLY_DONE, 250, "2.0.0", false,
	  "250 2.1.0000 detail too long", 1 },
	{ "250 2.1.0x glued\r\n", REPLY_DONE, 250, "2.0.0", false, "250 2.1.0x glued", 1 },
	{ "250 3.1.0 not a class\r\n", REPLY_DONE, 250, "2.0.0", false, "250 3.1.0 not a class", 1 },
	/* multi-line */
	{ "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", REPLY_DONE, 250, "2.0.0", false,
	  "250 mx.example PIPELINING 8BITMIME", 3 },
	{ "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n", REPLY_DONE, 550, "5.7.1", true,
	  "550 5.7.1 first 5.7.1 second 5.7.1 third", 3 },
	{ "220-banner\r\n220-\r\n220 ready\r\n", REPLY_DONE, 220, "2.0.0", false,
	  "220 banner ready", 3 },
	{ "250-first\r\n", REPLY_MORE, 250, "", false, "", 1 },
	/* control bytes and 8-bit bytes in the text are made printable */
	{ "250 a\x01" "b\x7f" "c\xff" "d\te\r\n", REPLY_DONE, 250, "2.0.0", false, "250 a?b?c?d\te", 1 },
	/* malformed */
	{ "999 no such code\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "25x bad digit\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "199 preliminary\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "260 second digit\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "600 too high\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "2500 four digits\r\n", REPLY_ERROR, 0, "", false, "no space or hyphen", 0 },
	{ "250_x\r\n", REPLY_ERROR, 0, "", false, "no space or hyphen", 0 },
	{ "25\r\n", REPLY_ERROR, 0, "", false, "too short", 0 },
	{ "\r\n", REPLY_ERROR, 0, "", false, "too short", 0 },
	{ "hello there\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "\x16\x03\x01\x02\x05\r\n", REPLY_ERROR, 0, "", false, "invalid reply code", 0 },
	{ "250-a\r\n251 b\r\n", REPLY_ERROR, 0, "", false, "code changes", 0 },
	{ "250-a\r\n550 b\r\n", REPLY_ERROR, 0, "", false, "code changes", 0 },
};

static int
feed_all(struct reply *r, const char *in, size_t len)
{
	size_t	 used;
	int	 st;

	st = reply_feed(r, in, len, &used);
	if (st == REPLY_DONE)
		ck_assert_uint_eq(used, len);
	return st;
}

START_TEST(replies_parse_as_expected)
{
	const struct reply_case	*c = &replies[_i];
	struct reply		 r;
	int			 st;

	reply_init(&r);
	st = feed_all(&r, c->in, strlen(c->in));
	ck_assert_msg(st == c->status, "case %d \"%s\": status %d, want %d (%s)", _i, c->in, st,
	    c->status, r.error ? r.error : "");
	if (st == REPLY_ERROR) {
		ck_assert_ptr_nonnull(r.error);
		ck_assert_msg(strstr(r.error, c->text) != NULL, "error \"%s\" lacks \"%s\"",
		    r.error, c->text);
	} else {
		ck_assert_int_eq(r.code, c->code);
		ck_assert_uint_eq(r.nlines, c->nlines);
		if (st == REPLY_DONE) {
			ck_assert_str_eq(r.dsn, c->dsn);
			ck_assert_int_eq(r.has_dsn, c->has_dsn);
			ck_assert_str_eq(r.text, c->text);
		}
	}
	reply_free(&r);
}
END_TEST

/* A hostile server: one line far beyond the limit, with or without its end. */
START_TEST(overlong_line_is_refused)
{
	struct reply	 r;
	size_t		 n = 10 * 1024 * 1024, used;
	char		*big = malloc(n + 3);

	memset(big, 'A', n);
	memcpy(big, "250 ", 4);
	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, big, n, &used), REPLY_ERROR);
	ck_assert_str_eq(r.error, "reply line too long");
	memcpy(big + n, "\r\n", 2);
	reply_reset(&r);
	ck_assert_int_eq(reply_feed(&r, big, n + 2, &used), REPLY_ERROR);
	ck_assert_str_eq(r.error, "reply line too long");
	reply_free(&r);
	free(big);
}
END_TEST

START_TEST(line_at_the_limit_is_accepted)
{
	struct reply	 r;
	char		 line[REPLY_LINE_MAX + 3];

	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	reply_init(&r);
	ck_assert_int_eq(reply_feed_line(&r, line, REPLY_LINE_MAX), REPLY_DONE);
	ck_assert_uint_eq(r.textlen, REPLY_MAX - 1);	/* the kept text is cut, not the parse */
	reply_reset(&r);
	ck_assert_int_eq(reply_feed_line(&r, line, REPLY_LINE_MAX + 1), REPLY_ERROR);
	reply_free(&r);
}
END_TEST

/* An endless multi-line reply stops at the line or byte bound. */
START_TEST(endless_multiline_is_bounded)
{
	struct reply	 r;
	char		 line[600];
	unsigned	 i;
	int		 st = REPLY_MORE;

	reply_init(&r);
	for (i = 0; i < 100000 && st == REPLY_MORE; i++) {
		int n = snprintf(line, sizeof(line), "250-%0*u", _i == 0 ? 5 : 500, i);
		st = reply_feed_line(&r, line, n);
	}
	ck_assert_int_eq(st, REPLY_ERROR);
	ck_assert_uint_le(i, REPLY_LINES_MAX + 1);
	ck_assert_ptr_nonnull(strstr(r.error, _i == 0 ? "too many lines" : "reply too long"));
	reply_free(&r);
}
END_TEST

/* Pipelined replies arriving together: each is consumed on its own. */
START_TEST(feed_stops_after_each_reply)
{
	const char	*in = "250 2.1.0 Ok\r\n550 5.1.1 no\r\n250-a\r\n250 b\r\n25";
	struct reply	 r;
	size_t		 off = 0, used;

	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, in, strlen(in), &used), REPLY_DONE);
	ck_assert_int_eq(r.code, 250);
	off += used;
	reply_reset(&r);
	ck_assert_int_eq(reply_feed(&r, in + off, strlen(in) - off, &used), REPLY_DONE);
	ck_assert_int_eq(r.code, 550);
	ck_assert_str_eq(r.dsn, "5.1.1");
	off += used;
	reply_reset(&r);
	ck_assert_int_eq(reply_feed(&r, in + off, strlen(in) - off, &used), REPLY_DONE);
	ck_assert_int_eq(r.code, 250);
	ck_assert_uint_eq(r.nlines, 2);
	off += used;
	reply_reset(&r);
	ck_assert_int_eq(reply_feed(&r, in + off, strlen(in) - off, &used), REPLY_MORE);
	ck_assert_uint_eq(used, 0);
	reply_free(&r);
}
END_TEST

START_TEST(lines_are_kept_in_order)
{
	struct reply	 r;
	const char	*l;
	size_t		 used;
	const char	*in = "250-one\r\n250-two two\r\n250 three\r\n";

	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, in, strlen(in), &used), REPLY_DONE);
	l = reply_next_line(&r, NULL);
	ck_assert_str_eq(l, "one");
	l = reply_next_line(&r, l);
	ck_assert_str_eq(l, "two two");
	l = reply_next_line(&r, l);
	ck_assert_str_eq(l, "three");
	ck_assert_ptr_null(reply_next_line(&r, l));
	reply_free(&r);
}
END_TEST

struct ehlo_case {
	const char	*in;
	bool		 pipelining, eightbitmime, size;
	uint64_t	 size_max;
	bool		 starttls, smtputf8, chunking;
	const char	*auth;
};

static const struct ehlo_case ehlos[] = {
	{ "250 mx.example\r\n", false, false, false, 0, false, false, false, "" },
	{ "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
	  "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
	  "250-SMTPUTF8\r\n250 CHUNKING\r\n", true, true, true, 10240000, true, true, true, "" },
	{ "250-mx\r\n250-pipelining\r\n250-8bitmime\r\n250 size\r\n", true, true, true, 0,
	  false, false, false, "" },
	{ "250-mx\r\n250-SIZE 0\r\n250 AUTH PLAIN LOGIN\r\n", false, false, true, 0, false, false,
	  false, "PLAIN LOGIN" },
	{ "250-mx\r\n250-AUTH=LOGIN\r\n250 AUTH PLAIN\r\n", false, false, false, 0, false, false,
	  false, "LOGIN PLAIN" },
	/* look-alikes and bad parameters */
	{ "250-mx\r\n250-PIPELININGX\r\n250-8BITMIMEY\r\n250 SIZEX 10\r\n", false, false, false, 0,
	  false, false, false, "" },
	{ "250-mx\r\n250 SIZE 12abc\r\n", false, false, true, 0, false, false, false, "" },
	{ "250-mx\r\n250 SIZE 99999999999999999999999\r\n", false, false, true, 0, false, false,
	  false, "" },
	{ "250-mx\r\n250 SIZE -5\r\n", false, false, true, 0, false, false, false, "" },
	/* the greeting line is not a capability */
	{ "250-PIPELINING\r\n250 HELP\r\n", false, false, false, 0, false, false, false, "" },
};

START_TEST(ehlo_capabilities)
{
	const struct ehlo_case	*c = &ehlos[_i];
	struct reply		 r;
	struct ehlo_caps	 caps;
	size_t			 used;

	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, c->in, strlen(c->in), &used), REPLY_DONE);
	ehlo_parse(&r, &caps);
	ck_assert(caps.esmtp);
	ck_assert_int_eq(caps.pipelining, c->pipelining);
	ck_assert_int_eq(caps.eightbitmime, c->eightbitmime);
	ck_assert_int_eq(caps.size, c->size);
	ck_assert_uint_eq(caps.size_max, c->size_max);
	ck_assert_int_eq(caps.starttls, c->starttls);
	ck_assert_int_eq(caps.smtputf8, c->smtputf8);
	ck_assert_int_eq(caps.chunking, c->chunking);
	ck_assert_str_eq(caps.auth, c->auth);
	reply_free(&r);
}
END_TEST

static Suite *
agent_reply_suite(void)
{
	Suite	*s = suite_create("agent_reply");
	TCase	*tc = tcase_create("reply");
	TCase	*te = tcase_create("ehlo");

	tcase_add_loop_test(tc, replies_parse_as_expected, 0, sizeof(replies) / sizeof(replies[0]));
	tcase_add_test(tc, overlong_line_is_refused);
	tcase_add_test(tc, line_at_the_limit_is_accepted);
	tcase_add_loop_test(tc, endless_multiline_is_bounded, 0, 2);
	tcase_add_test(tc, feed_stops_after_each_reply);
	tcase_add_test(tc, lines_are_kept_in_order);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(te, ehlo_capabilities, 0, sizeof(ehlos) / sizeof(ehlos[0]));
	suite_add_tcase(s, te);
	return s;
}

int
main(void)
{
	return check_run(agent_reply_suite());
}
