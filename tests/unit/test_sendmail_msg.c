/* SPDX-License-Identifier: ISC */
/*
 * test_sendmail_msg.c - how outpost-sendmail prepares a local submission
 * (shared/localmail.c): the lone-dot rule, -t recipient extraction (with
 * Resent- fields, folding, groups, duplicates and command-line additions),
 * Bcc removal, the From:/Date:/Message-ID: fields added when missing (and
 * nothing else touched), the envelope sender, and sysexits codes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "localmail.h"
#include "check_run.h"

#define HELO	"host.example"

/* 2021-03-04 05:06:07 UTC; TZ is set to UTC in main. */
#define NOW	1614834367

static struct localmail_opts
opts(bool extract, const char *fullname)
{
	struct localmail_opts o = {
		.extract = extract,
		.from_addr = "joe@" HELO,
		.fullname = fullname,
		.helo_name = HELO,
		.unique = "0123456789abcdef",
		.now = NOW,
	};
	return o;
}

#define ADDED_LF	"From: joe@host.example\nDate: Thu, 04 Mar 2021 05:06:07 +0000\n" \
			"Message-ID: <20210304050607.0123456789abcdef@host.example>\n"
#define ADDED_CRLF	"From: joe@host.example\r\nDate: Thu, 04 Mar 2021 05:06:07 +0000\r\n" \
			"Message-ID: <20210304050607.0123456789abcdef@host.example>\r\n"
#define COMPLETE	"From: a@b.c\nDate: Mon, 1 Mar 2021 00:00:00 +0000\nMessage-ID: <x@y>\n"

struct prep_case {
	bool		 extract;
	const char	*argv_rcpt;	/* recipients given before, "|"-free list */
	const char	*in;
	const char	*out;		/* NULL: refused */
	const char	*rcpts;		/* joined by '|' */
};

static const struct prep_case preps[] = {
	/* Nothing to add or remove: byte-exact, CRLF or LF, odd bytes kept. */
	{ false, "x@y.z", COMPLETE "Subject: s\n\nbody\n.\n..\n",
	  COMPLETE "Subject: s\n\nbody\n.\n..\n", "x@y.z" },
	{ false, "x@y.z", "From: a@b.c\r\nDate: d\r\nMessage-ID: <i>\r\n\r\nb\rc\x80\0z",
	  "From: a@b.c\r\nDate: d\r\nMessage-ID: <i>\r\n\r\nb\rc\x80\0z", "x@y.z" },
	/* Missing fields appended after the existing ones, same line ending. */
	{ false, "x@y.z", "Subject: s\n\nbody\n", "Subject: s\n" ADDED_LF "\nbody\n", "x@y.z" },
	{ false, "x@y.z", "Subject: s\r\n\r\nbody\r\n", "Subject: s\r\n" ADDED_CRLF "\r\nbody\r\n",
	  "x@y.z" },
	/* No header at all: fields, an empty line, then the body untouched. */
	{ false, "x@y.z", "just a body\n", ADDED_LF "\njust a body\n", "x@y.z" },
	{ false, "x@y.z", "", ADDED_LF, "x@y.z" },
	/* A last field without line ending gets one. */
	{ false, "x@y.z", "Subject: s", "Subject: s\n" ADDED_LF, "x@y.z" },
	/* Case-insensitive field names: nothing added. */
	{ false, "x@y.z", "FROM: a@b.c\nDATE: d\nMESSAGE-id: <i>\n\nb",
	  "FROM: a@b.c\nDATE: d\nMESSAGE-id: <i>\n\nb", "x@y.z" },
	/* Bcc removed with and without -t. */
	{ false, "x@y.z", COMPLETE "Bcc: secret@y.z\nSubject: s\n\nBcc: body stays\n",
	  COMPLETE "Subject: s\n\nBcc: body stays\n", "x@y.z" },
	/* -t: To, Cc, Bcc (folded), duplicates once, argv recipients added first. */
	{ true, "arg@y.z", COMPLETE "To: A <a@y.z>, b@y.z\nCc: c@y.z,\n  a@y.z\n"
	  "Bcc: hidden@y.z,\n\t(comment) other@y.z\nSubject: s\n\nTo: body@y.z\n",
	  COMPLETE "To: A <a@y.z>, b@y.z\nCc: c@y.z,\n  a@y.z\nSubject: s\n\nTo: body@y.z\n",
	  "arg@y.z|a@y.z|b@y.z|c@y.z|hidden@y.z|other@y.z" },
	/* -t with Resent- fields: only those count; Resent-Bcc removed. */
	{ true, NULL, COMPLETE "To: orig@y.z\nResent-To: new@y.z\nResent-Bcc: rb@y.z\n\nb",
	  COMPLETE "To: orig@y.z\nResent-To: new@y.z\n\nb", "new@y.z|rb@y.z" },
	/* -t: groups, unqualified names qualified with helo_name. */
	{ true, NULL, COMPLETE "To: undisclosed-recipients:;\nCc: root, Ops: o@y.z;\n\n",
	  COMPLETE "To: undisclosed-recipients:;\nCc: root, Ops: o@y.z;\n\n",
	  "root@host.example|o@y.z" },
	/* -t: no recipient fields: none found (the caller refuses). */
	{ true, NULL, COMPLETE "\nb", COMPLETE "\nb", "" },
	/* -t: a malformed or invalid address is refused, not guessed at. */
	{ true, NULL, COMPLETE "To: John Doe john@y.z\n\n", NULL, NULL },
	{ true, NULL, COMPLETE "To: a@-bad-.example\n\n", NULL, NULL },
	{ true, NULL, COMPLETE "Cc: <a@b.c\n\n", NULL, NULL },
	/* Without -t, recipient fields are not read. */
	{ false, "x@y.z", COMPLETE "To: John Doe john@y.z\n\n",
	  COMPLETE "To: John Doe john@y.z\n\n", "x@y.z" },
};

static void
join(const struct rcptlist *rl, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < rl->n; i++) {
		if (i > 0)
			strlcat(buf, "|", len);
		strlcat(buf, rl->v[i], len);
	}
}

START_TEST(test_prepare)
{
	const struct prep_case *c = &preps[_i];
	struct localmail_opts o = opts(c->extract, NULL);
	struct rcptlist rl = { NULL, 0, 0 };
	char err[512], got[2048];
	char *out = NULL;
	size_t outlen = 0, inlen;
	int r;

	/* Inputs may hold a NUL: their length is that of the literal. */
	inlen = strlen(c->in);
	if (_i == 1)
		inlen += 2;
	if (c->argv_rcpt != NULL)
		ck_assert_int_eq(rcptlist_add_list(&rl, c->argv_rcpt, strlen(c->argv_rcpt), HELO,
		    err, sizeof(err)), 0);
	r = localmail_prepare(&o, c->in, inlen, &rl, &out, &outlen, err, sizeof(err));
	if (c->out == NULL) {
		ck_assert_msg(r == -1, "case %d: accepted", _i);
		ck_assert(err[0] != '\0');
	} else {
		size_t want = strlen(c->out) + (_i == 1 ? 2 : 0);

		ck_assert_msg(r == 0, "case %d: refused: %s", _i, err);
		ck_assert_msg(outlen == want && memcmp(out, c->out, want) == 0,
		    "case %d: got \"%.*s\"", _i, (int)outlen, out);
		join(&rl, got, sizeof(got));
		ck_assert_msg(strcmp(got, c->rcpts) == 0, "case %d: rcpts \"%s\"", _i, got);
	}
	free(out);
	rcptlist_free(&rl);
}
END_TEST

struct name_case {
	const char	*fullname;
	const char	*from;
};

static const struct name_case names[] = {
	{ "Joe User", "From: \"Joe User\" <joe@host.example>\n" },
	{ "Joe \"the\" U\\ser", "From: \"Joe \\\"the\\\" U\\\\ser\" <joe@host.example>\n" },
	{ "Evil\nBcc: x@y.z", "From: \"EvilBcc: x@y.z\" <joe@host.example>\n" },
	{ "", "From: joe@host.example\n" },
	{ "\r\n", "From: joe@host.example\n" },
	{ "Jos\xc3\xa9", "From: =?UTF-8?B?Sm9zw6k=?= <joe@host.example>\n" },
};

START_TEST(test_fullname)
{
	const struct name_case *c = &names[_i];
	struct localmail_opts o = opts(false, c->fullname);
	struct rcptlist rl = { NULL, 0, 0 };
	char err[256];
	char *out;
	size_t outlen;
	const char *in = "Date: d\nMessage-ID: <i>\n\nb";

	ck_assert_int_eq(localmail_prepare(&o, in, strlen(in), &rl, &out, &outlen, err,
	    sizeof(err)), 0);
	ck_assert_msg(outlen > strlen(c->from) && strstr(out, c->from) != NULL,
	    "case %d: got \"%.*s\"", _i, (int)outlen, out);
	free(out);
}
END_TEST

/* A long non-ASCII name: several encoded words, each whole characters, each short. */
START_TEST(test_fullname_long_utf8)
{
	char name[400] = "", err[256];
	struct localmail_opts o;
	struct rcptlist rl = { NULL, 0, 0 };
	char *out, *line, *w;
	size_t outlen, i;

	for (i = 0; i < 60; i++)
		strlcat(name, "\xc3\xa9", sizeof(name));	/* 60 x 'é' */
	o = opts(false, name);
	ck_assert_int_eq(localmail_prepare(&o, "", 0, &rl, &out, &outlen, err, sizeof(err)), 0);
	line = strndup(out, strcspn(out, "\n"));
	ck_assert_msg(strncmp(line, "From: =?UTF-8?B?", 16) == 0, "%s", line);
	for (w = strstr(line, "=?"); w != NULL; w = strstr(w + 2, "=?")) {
		size_t wl = strstr(w, "?=") - w + 2;

		ck_assert_msg(wl <= 75, "encoded word of %zu chars", wl);
	}
	free(line);
	free(out);
}
END_TEST

struct dot_case {
	const char	*line;
	size_t		 n;
	bool		 ends;
};

static const struct dot_case dots[] = {
	{ ".\n", 2, true },
	{ ".\r\n", 3, true },
	{ ".", 1, true },
	{ "..\n", 3, false },
	{ ". \n", 3, false },
	{ ".x\n", 3, false },
	{ "\n", 1, false },
	{ ".\r", 2, false },
};

START_TEST(test_dot_line)
{
	const struct dot_case *c = &dots[_i];

	ck_assert_msg(localmail_is_dot_line(c->line, c->n) == c->ends, "case %d", _i);
}
END_TEST

struct sender_case {
	const char	*arg;
	const char	*out;	/* NULL: refused */
};

static const struct sender_case senders[] = {
	{ "a@b.c", "a@b.c" },
	{ "<a@b.c>", "a@b.c" },
	{ "<>", "" },
	{ "", "" },
	{ "joe", "joe@host.example" },
	{ "<joe>", "joe@host.example" },
	{ "\"j d\"@b.c", "\"j d\"@b.c" },
	{ "<a@b.c", NULL },
	{ "a b@c.d", NULL },
	{ "a@b.c SIZE=1", NULL },
	{ "a@b.c>", NULL },
	{ "a@", NULL },
};

START_TEST(test_sender)
{
	const struct sender_case *c = &senders[_i];
	char out[512], err[512];
	int r = localmail_sender(c->arg, HELO, out, sizeof(out), err, sizeof(err));

	if (c->out == NULL)
		ck_assert_msg(r == -1, "case %d: accepted as \"%s\"", _i, out);
	else {
		ck_assert_msg(r == 0, "case %d: refused: %s", _i, err);
		ck_assert_str_eq(out, c->out);
	}
}
END_TEST

START_TEST(test_argv_recipients)
{
	struct rcptlist rl = { NULL, 0, 0 };
	char err[512], got[512];
	const char *a = "a@b.c, Name <d@e.f>", *b = "a@b.c", *bad = "a@b.c (x";

	ck_assert_int_eq(rcptlist_add_list(&rl, a, strlen(a), HELO, err, sizeof(err)), 0);
	ck_assert_int_eq(rcptlist_add_list(&rl, b, strlen(b), HELO, err, sizeof(err)), 0);
	join(&rl, got, sizeof(got));
	ck_assert_str_eq(got, "a@b.c|d@e.f");
	ck_assert_int_eq(rcptlist_add_list(&rl, bad, strlen(bad), HELO, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unterminated comment") != NULL, "%s", err);
	ck_assert_int_eq(rcptlist_add_list(&rl, "-oQ/tmp", 7, HELO, err, sizeof(err)), 0);
	ck_assert_str_eq(rl.v[2], "-oQ/tmp@host.example");
	rcptlist_free(&rl);
}
END_TEST

struct exit_case {
	unsigned	 code;
	const char	*dsn;
	int		 ex;
};

static const struct exit_case exits[] = {
	{ 451, "4.3.0", EX_TEMPFAIL },
	{ 421, "", EX_TEMPFAIL },
	{ 452, "4.3.1", EX_TEMPFAIL },
	{ 550, "5.1.1", EX_NOUSER },
	{ 553, "5.1.3", EX_DATAERR },
	{ 552, "5.3.4", EX_DATAERR },
	{ 554, "5.7.1", EX_NOPERM },
	{ 501, "5.5.2", EX_PROTOCOL },
	{ 554, "5.6.0", EX_DATAERR },
	{ 552, "", EX_DATAERR },
	{ 554, "", EX_UNAVAILABLE },
	{ 250, "2.0.0", EX_TEMPFAIL },	/* nonsense: never success */
	{ 0, "", EX_TEMPFAIL },
	{ 999, "9.9.9", EX_TEMPFAIL },
};

START_TEST(test_exit_codes)
{
	const struct exit_case *c = &exits[_i];

	ck_assert_msg(localmail_exit_code(c->code, c->dsn) == c->ex, "case %d: %d", _i,
	    localmail_exit_code(c->code, c->dsn));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sendmail_msg");
	TCase *tc = tcase_create("localmail");

	setenv("TZ", "UTC", 1);
	tcase_add_loop_test(tc, test_prepare, 0, sizeof(preps) / sizeof(preps[0]));
	tcase_add_loop_test(tc, test_fullname, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_test(tc, test_fullname_long_utf8);
	tcase_add_loop_test(tc, test_dot_line, 0, sizeof(dots) / sizeof(dots[0]));
	tcase_add_loop_test(tc, test_sender, 0, sizeof(senders) / sizeof(senders[0]));
	tcase_add_test(tc, test_argv_recipients);
	tcase_add_loop_test(tc, test_exit_codes, 0, sizeof(exits) / sizeof(exits[0]));
	suite_add_tcase(s, tc);

	return check_run(s);
}
