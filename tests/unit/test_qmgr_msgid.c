/* SPDX-License-Identifier: ISC */
/*
 * test_qmgr_msgid.c - the Message-ID the queue manager logs: found in any
 * case and any position of the header section, folded values joined,
 * brackets and unprintable bytes removed (no forged log lines), a field in
 * the body ignored, "" when there is none, output bounded.
 */
#include <check.h>
#include <string.h>

#include "qmgr/qmgr.h"
#include "check_run.h"

static const struct {
	const char	*name;
	const char	*msg;
	const char	*want;
} cases[] = {
	{ "plain", "Message-ID: <a.b@example.org>\r\n\r\nbody\r\n", "a.b@example.org" },
	{ "lower case, after others", "Subject: x\nmessage-id:<x@y>\n\nb\n", "x@y" },
	{ "folded", "Message-Id:\r\n <long.id@host.example>\r\n\r\n", "long.id@host.example" },
	{ "none", "Subject: x\r\n\r\nMessage-ID: <in@body>\r\n", "" },
	{ "empty message", "", "" },
	{ "control bytes dropped", "Message-ID: <a\x1b[31mb@c>\r\n\r\n", "a[31mb@c" },
	{ "first of two", "Message-ID: <1@a>\r\nMessage-ID: <2@a>\r\n\r\n", "1@a" },
	{ "after Received", "Received: from x\r\n\tby y; date\r\nMessage-ID: <r@s>\r\n\r\n", "r@s" },
};

START_TEST(msgid_cases)
{
	char	out[QMGR_MSGID_MAX];

	qmgr_msgid_from_header(cases[_i].msg, strlen(cases[_i].msg), out, sizeof(out));
	ck_assert_msg(strcmp(out, cases[_i].want) == 0, "%s: got \"%s\"", cases[_i].name, out);
}
END_TEST

START_TEST(msgid_is_bounded)
{
	char	msg[2048], out[16];

	memcpy(msg, "Message-ID: <", 13);
	memset(msg + 13, 'x', 1000);
	memcpy(msg + 1013, ">\r\n\r\n", 6);
	qmgr_msgid_from_header(msg, strlen(msg), out, sizeof(out));
	ck_assert_uint_eq(strlen(out), sizeof(out) - 1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("qmgr_msgid");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, msgid_cases, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, msgid_is_bounded);
	suite_add_tcase(s, tc);
	return check_run(s);
}
