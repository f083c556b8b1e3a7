/* SPDX-License-Identifier: ISC */
/*
 * test_sendmail_hdr.c - header scanning for outpost-sendmail
 * (shared/mailhdr.c): where the header section ends, fields with folding
 * and either line ending, field removal, and address lists as found in
 * To:/Cc:/Bcc: (display names, comments, groups, quoting, source routes)
 * with the malformed ones refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailhdr.h"
#include "check_run.h"

struct section_case {
	const char	*msg;
	size_t		 hdrlen;
	size_t		 body;
};

static const struct section_case sections[] = {
	{ "", 0, 0 },
	{ "Subject: x\n\nbody\n", 11, 12 },
	{ "Subject: x\r\n\r\nbody\r\n", 12, 14 },
	{ "Subject: x\r\n folded\r\nTo: a\r\n\r\nb", 28, 30 },
	{ "Subject: x", 10, 10 },			/* a field at EOF */
	{ "Subject: x\n", 11, 11 },			/* no body at all */
	{ "Hello world\nSubject: x\n", 0, 0 },	/* no header at all */
	{ " folded first\n", 0, 0 },		/* continuation without a field */
	{ "\nbody\n", 0, 1 },			/* empty header */
	{ "Subject: x\nnot a header\n", 11, 11 },	/* body without empty line */
	{ "Subject : obsolete\n\n", 19, 20 },	/* WSP before the colon */
	{ "X-Ctl:\x01\n\n", 8, 9 },
	{ "Bad Name: x\n\n", 0, 0 },		/* space inside a name */
	{ ": no name\n\n", 0, 0 },
	{ "Subject: a\rb\n\n", 13, 14 },		/* a bare CR is data */
};

START_TEST(test_section)
{
	const struct section_case *c = &sections[_i];
	size_t body = 999, n;

	n = mailhdr_section(c->msg, strlen(c->msg), &body);
	ck_assert_msg(n == c->hdrlen && body == c->body, "case %d: hdrlen %zu body %zu, "
	    "want %zu %zu", _i, n, body, c->hdrlen, c->body);
}
END_TEST

START_TEST(test_fields_folding)
{
	const char *m = "To: a@x,\r\n\tb@y\r\nSubject:  s \r\nX-Empty:\r\n\r\nbody";
	struct mailhdr_field f;
	size_t body, hdr = mailhdr_section(m, strlen(m), &body), off = 0;

	ck_assert(mailhdr_next(m, hdr, &off, &f));
	ck_assert(mailhdr_is(&f, "to") && mailhdr_is(&f, "TO"));
	ck_assert_int_eq(f.valuelen, strlen(" a@x,\r\n\tb@y"));
	ck_assert(memcmp(f.value, " a@x,\r\n\tb@y", f.valuelen) == 0);
	ck_assert_int_eq(f.start, 0);
	ck_assert_int_eq(f.end, 16);
	ck_assert(mailhdr_next(m, hdr, &off, &f));
	ck_assert(mailhdr_is(&f, "Subject"));
	ck_assert(f.valuelen == 4 && memcmp(f.value, "  s ", 4) == 0);
	ck_assert(mailhdr_next(m, hdr, &off, &f));
	ck_assert(mailhdr_is(&f, "X-Empty") && f.valuelen == 0);
	ck_assert(!mailhdr_next(m, hdr, &off, &f));
	ck_assert(mailhdr_has(m, hdr, "subject"));
	ck_assert(!mailhdr_has(m, hdr, "Subj"));
	ck_assert(!mailhdr_has(m, hdr, "body"));
}
END_TEST

struct remove_case {
	const char	*in;
	const char	*name;
	const char	*out;
};

static const struct remove_case removes[] = {
	{ "To: a\nBcc: b\nSubject: s\n\nBcc: in body\n", "Bcc",
	  "To: a\nSubject: s\n\nBcc: in body\n" },
	{ "Bcc: b,\r\n c\r\nBCC: d\r\nTo: a\r\n\r\nx", "bcc", "To: a\r\n\r\nx" },
	{ "To: a\nBcc: last", "Bcc", "To: a\n" },
	{ "To: a\n\n", "Bcc", "To: a\n\n" },
	{ "Bcc-Like: keep\nXBcc: keep\n\n", "Bcc", "Bcc-Like: keep\nXBcc: keep\n\n" },
};

START_TEST(test_remove)
{
	const struct remove_case *c = &removes[_i];
	size_t len = strlen(c->in), body, hdr, n;
	char *buf = strdup(c->in);

	hdr = mailhdr_section(buf, len, &body);
	n = mailhdr_remove(buf, len, hdr, c->name);
	len -= n;
	ck_assert_msg(len == strlen(c->out) && memcmp(buf, c->out, len) == 0,
	    "case %d: got \"%.*s\"", _i, (int)len, buf);
	free(buf);
}
END_TEST

struct addr_case {
	const char	*in;
	const char	*out;	/* addresses joined by '|', or NULL: refused */
};

static const struct addr_case addrs[] = {
	{ "a@example.com", "a@example.com" },
	{ " a@example.com , b@example.org ", "a@example.com|b@example.org" },
	{ "John Doe <john@example.com>", "john@example.com" },
	{ "\"Doe, John\" <john@example.com>, jane@example.com",
	  "john@example.com|jane@example.com" },
	{ "john@example.com (John Doe)", "john@example.com" },
	{ "(comment (nested) \\) ) a@b.c", "a@b.c" },
	{ "undisclosed-recipients:;", "" },
	{ "Team: a@x.org, B <b@y.org>; c@z.org", "a@x.org|b@y.org|c@z.org" },
	{ "\"quoted local\"@example.com", "\"quoted local\"@example.com" },
	{ "\"q\\\"x\"@example.com", "\"q\\\"x\"@example.com" },
	{ "<@relay.example,@other.example:user@example.com>", "user@example.com" },
	{ "user@[192.0.2.1]", "user@[192.0.2.1]" },
	{ "a@example.com,\r\n\tb@example.com", "a@example.com|b@example.com" },
	{ "John\r\n Doe\r\n <john@example.com>", "john@example.com" },
	{ "root", "root" },
	{ "root, postmaster", "root|postmaster" },
	{ "", "" },
	{ " , ,a@b.c,, ", "a@b.c" },
	{ "<>", "" },
	{ "J. Q. Public <jqp@example.com>", "jqp@example.com" },
	{ "=?UTF-8?B?w6k=?= <e@example.com>", "e@example.com" },
	{ "a . b @ example . com", "a.b@example.com" },
	/* refused */
	{ "John Doe john@example.com", NULL },
	{ "\"unterminated@example.com", NULL },
	{ "(unterminated a@b.c", NULL },
	{ "John <john@example.com", NULL },
	{ "a@b.c>", NULL },
	{ "a@b.c)", NULL },
	{ "<a@b.c> <d@e.f>", NULL },
	{ "<a@b.c> junk", NULL },
	{ "Group: a@b.c", NULL },
	{ "a@b.c;", NULL },
	{ "x: y: a@b.c;;", NULL },
	{ "user@[192.0.2.1", NULL },
};

static int
collect(const char *a, void *arg)
{
	char *buf = arg;

	if (buf[0] != '\0')
		strcat(buf, "|");
	strcat(buf, a);
	return 0;
}

START_TEST(test_addresses)
{
	const struct addr_case *c = &addrs[_i];
	char got[2048] = "";
	const char *err = NULL;
	int r;

	r = mailhdr_addresses(c->in, strlen(c->in), collect, got, &err);
	if (c->out == NULL) {
		ck_assert_msg(r == -1, "case %d \"%s\": accepted as \"%s\"", _i, c->in, got);
		ck_assert(err != NULL && err[0] != '\0');
	} else {
		ck_assert_msg(r == 0, "case %d \"%s\": refused: %s", _i, c->in, err);
		ck_assert_msg(strcmp(got, c->out) == 0, "case %d \"%s\": got \"%s\"", _i,
		    c->in, got);
	}
}
END_TEST

START_TEST(test_address_too_long)
{
	char in[2000], got[4096] = "";
	const char *err = NULL;

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	ck_assert_int_eq(mailhdr_addresses(in, strlen(in), collect, got, &err), -1);
	ck_assert_str_eq(err, "address too long");
}
END_TEST

static int
stop_at_second(const char *a, void *arg)
{
	int *n = arg;

	return ++*n == 2 ? -1 : 0;
}

START_TEST(test_callback_stops)
{
	const char *in = "a@b.c, d@e.f, g@h.i", *err = NULL;
	int n = 0;

	ck_assert_int_eq(mailhdr_addresses(in, strlen(in), stop_at_second, &n, &err), -1);
	ck_assert_int_eq(n, 2);
}
END_TEST

/* Not NUL-terminated input: nothing past len is read. */
START_TEST(test_bounded)
{
	char buf[8];
	char got[64] = "";
	const char *err;
	size_t body;

	memcpy(buf, "To: a\"@x", 8);
	ck_assert_int_eq(mailhdr_section(buf, 5, &body), 5);
	ck_assert_int_eq(mailhdr_addresses(buf + 4, 1, collect, got, &err), 0);
	ck_assert_str_eq(got, "a");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sendmail_hdr");
	TCase *tc = tcase_create("mailhdr");

	tcase_add_loop_test(tc, test_section, 0, sizeof(sections) / sizeof(sections[0]));
	tcase_add_test(tc, test_fields_folding);
	tcase_add_loop_test(tc, test_remove, 0, sizeof(removes) / sizeof(removes[0]));
	tcase_add_loop_test(tc, test_addresses, 0, sizeof(addrs) / sizeof(addrs[0]));
	tcase_add_test(tc, test_address_too_long);
	tcase_add_test(tc, test_callback_stops);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);

	return check_run(s);
}
