/* SPDX-License-Identifier: ISC */
/*
 * test_smtpd_cmd.c - smtpd's command line parser (daemons/smtpd/smtpd_cmd.c):
 * verbs, arguments, MAIL/RCPT paths and ESMTP parameters, and the reply
 * (code and enhanced status) for every malformed line.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd.h"
#include "check_run.h"

struct ok_case {
	const char	*line;
	enum smtp_verb	 verb;
	const char	*arg;		/* NULL: not checked */
	const char	*mailbox;	/* MAIL/RCPT */
	uint64_t	 size;
	bool		 size_set;
	enum smtp_body	 body;
};

static const struct ok_case ok[] = {
	{ "EHLO client.example", CMD_EHLO, "client.example", NULL, 0, false, 0 },
	{ "ehlo [192.0.2.1]", CMD_EHLO, "[192.0.2.1]", NULL, 0, false, 0 },
	{ "HELO x", CMD_HELO, "x", NULL, 0, false, 0 },
	{ "MAIL FROM:<a@b.example>", CMD_MAIL, NULL, "a@b.example", 0, false, BODY_NONE },
	{ "mail from:<a@b.example>", CMD_MAIL, NULL, "a@b.example", 0, false, BODY_NONE },
	{ "MAIL FROM: <a@b.example>", CMD_MAIL, NULL, "a@b.example", 0, false, BODY_NONE },
	{ "MAIL FROM:<>", CMD_MAIL, NULL, "", 0, false, BODY_NONE },
	{ "MAIL FROM:<a@b.example> SIZE=12345", CMD_MAIL, NULL, "a@b.example", 12345, true, BODY_NONE },
	{ "MAIL FROM:<a@b.example> size=0", CMD_MAIL, NULL, "a@b.example", 0, true, BODY_NONE },
	{ "MAIL FROM:<a@b.example> BODY=8BITMIME", CMD_MAIL, NULL, "a@b.example", 0, false, BODY_8BITMIME },
	{ "MAIL FROM:<a@b.example> body=7bit SIZE=1", CMD_MAIL, NULL, "a@b.example", 1, true, BODY_7BIT },
	{ "MAIL FROM:<> SIZE=99999999999999999999", CMD_MAIL, NULL, "", UINT64_MAX, true, BODY_NONE },
	{ "MAIL FROM:<a@b.example>  SIZE=5  BODY=7BIT ", CMD_MAIL, NULL, "a@b.example", 5, true, BODY_7BIT },
	{ "RCPT TO:<\"x y\"@[IPv6:::1]>", CMD_RCPT, NULL, "\"x y\"@[IPv6:::1]", 0, false, 0 },
	{ "RCPT TO:<@r.example:u@d.example>", CMD_RCPT, NULL, "u@d.example", 0, false, 0 },
	{ "rcpt to: <u@d.example>", CMD_RCPT, NULL, "u@d.example", 0, false, 0 },
	{ "DATA", CMD_DATA, "", NULL, 0, false, 0 },
	{ "data ", CMD_DATA, "", NULL, 0, false, 0 },
	{ "RSET", CMD_RSET, "", NULL, 0, false, 0 },
	{ "NOOP", CMD_NOOP, "", NULL, 0, false, 0 },
	{ "NOOP anything at all", CMD_NOOP, "anything at all", NULL, 0, false, 0 },
	{ "QUIT", CMD_QUIT, "", NULL, 0, false, 0 },
	{ "VRFY postmaster", CMD_VRFY, "postmaster", NULL, 0, false, 0 },
	{ "HELP", CMD_HELP, "", NULL, 0, false, 0 },
	{ "HELP MAIL", CMD_HELP, "MAIL", NULL, 0, false, 0 },
	{ "EHLO\tclient", CMD_EHLO, "client", NULL, 0, false, 0 },
};

struct bad_case {
	const char	*line;
	uint16_t	 code;
	const char	*dsn;
	const char	*text;		/* a part of the reply text */
};

static const struct bad_case bad[] = {
	{ "", 500, "5.5.2", "not recognized" },
	{ "FOO", 500, "5.5.2", "not recognized" },
	{ "MAILFROM:<a@b>", 500, "5.5.2", "not recognized" },
	{ "GET / HTTP/1.0", 500, "5.5.2", "not recognized" },
	{ "EHLO", 501, "5.5.4", "EHLO hostname" },
	{ "HELO ", 501, "5.5.4", "HELO hostname" },
	{ "MAIL", 501, "5.5.4", "MAIL FROM:" },
	{ "MAIL TO:<a@b>", 501, "5.5.4", "MAIL FROM:" },
	{ "MAIL FROM:a@b.example", 501, "5.1.7", "enclosed in <>" },
	{ "MAIL FROM:<a@b.example", 501, "5.1.7", "missing '>'" },
	{ "MAIL FROM:<a..b@example>", 501, "5.1.7", "two dots" },
	{ "MAIL FROM:<a@b.example> SIZE=", 501, "5.5.4", "Syntax error in parameter" },
	{ "MAIL FROM:<a@b.example> SIZE", 501, "5.5.4", "Bad SIZE" },
	{ "MAIL FROM:<a@b.example> SIZE=12x", 501, "5.5.4", "Bad SIZE" },
	{ "MAIL FROM:<a@b.example> SIZE=-1", 501, "5.5.4", "Bad SIZE" },
	{ "MAIL FROM:<a@b.example> SIZE=123456789012345678901", 501, "5.5.4", "Bad SIZE" },
	{ "MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 501, "5.5.4", "Duplicate SIZE" },
	{ "MAIL FROM:<a@b.example> BODY=BINARYMIME", 501, "5.5.4", "Bad BODY" },
	{ "MAIL FROM:<a@b.example> BODY", 501, "5.5.4", "Bad BODY" },
	{ "MAIL FROM:<a@b.example> BODY=7BIT BODY=7BIT", 501, "5.5.4", "Duplicate BODY" },
	{ "MAIL FROM:<a@b.example> SMTPUTF8", 555, "5.5.4", "Unsupported parameter \"SMTPUTF8\"" },
	{ "MAIL FROM:<a@b.example> AUTH=<>", 555, "5.5.4", "Unsupported parameter \"AUTH\"" },
	{ "MAIL FROM:<a@b.example> RET=HDRS", 555, "5.5.4", "Unsupported parameter" },
	{ "MAIL FROM:<a@b.example> -X=1", 501, "5.5.4", "Syntax error in parameter" },
	{ "MAIL FROM:<a@b.example> X=a=b", 501, "5.5.4", "Syntax error in parameter" },
	{ "RCPT TO:<>", 501, "5.1.3", "null address" },
	{ "RCPT TO:<postmaster>", 501, "5.1.3", "no domain" },
	{ "RCPT FROM:<a@b>", 501, "5.5.4", "RCPT TO:" },
	{ "RCPT TO:<a@b.example> NOTIFY=NEVER", 555, "5.5.4", "Unsupported parameter \"NOTIFY\"" },
	{ "RCPT TO:<a@b.example> SIZE=1", 555, "5.5.4", "Unsupported parameter \"SIZE\"" },
	{ "DATA now", 501, "5.5.4", "DATA" },
	{ "RSET x", 501, "5.5.4", "RSET" },
	{ "QUIT please", 501, "5.5.4", "QUIT" },
	{ "VRFY", 501, "5.5.4", "VRFY" },
	{ "EXPN list", 502, "5.5.1", "not implemented" },
	{ "STARTTLS", 502, "5.5.1", "not implemented" },
	{ "BDAT 10 LAST", 502, "5.5.1", "not implemented" },
	{ "AUTH PLAIN", 502, "5.5.1", "not implemented" },
	{ "EHLO caf\xc3\xa9", 500, "5.5.2", "Invalid character" },
	{ "NOOP \x01", 500, "5.5.2", "Invalid character" },
	{ "NOOP \x7f", 500, "5.5.2", "Invalid character" },
};

START_TEST(good_lines_parse)
{
	const struct ok_case	*c = &ok[_i];
	struct smtp_cmd		 cmd;
	struct smtp_reply	 err;

	ck_assert_msg(smtpd_cmd_parse(c->line, strlen(c->line), &cmd, &err) == 0,
	    "%s: %u %s %s", c->line, err.code, err.dsn, err.text);
	ck_assert_int_eq(cmd.verb, c->verb);
	if (c->arg != NULL)
		ck_assert_str_eq(cmd.arg, c->arg);
	if (c->mailbox != NULL)
		ck_assert_str_eq(cmd.path.mailbox, c->mailbox);
	ck_assert(cmd.size_set == c->size_set);
	if (c->size_set)
		ck_assert_uint_eq(cmd.size, c->size);
	ck_assert_int_eq(cmd.body, c->body);
}
END_TEST

START_TEST(bad_lines_get_the_right_reply)
{
	const struct bad_case	*c = &bad[_i];
	struct smtp_cmd		 cmd;
	struct smtp_reply	 err;

	ck_assert_msg(smtpd_cmd_parse(c->line, strlen(c->line), &cmd, &err) == -1,
	    "accepted: %s", c->line);
	ck_assert_uint_eq(err.code, c->code);
	ck_assert_str_eq(err.dsn, c->dsn);
	ck_assert_msg(strstr(err.text, c->text) != NULL, "%s: got \"%s\"", c->line,
	    err.text);
}
END_TEST

START_TEST(nul_inside_a_line_is_refused)
{
	const char		 line[] = "NOOP a\0b";
	struct smtp_cmd		 cmd;
	struct smtp_reply	 err;

	ck_assert_int_eq(smtpd_cmd_parse(line, sizeof(line) - 1, &cmd, &err), -1);
	ck_assert_uint_eq(err.code, 500);
}
END_TEST

static Suite *
cmd_suite(void)
{
	Suite	*s = suite_create("smtpd_cmd");
	TCase	*tc = tcase_create("cmd");

	tcase_add_loop_test(tc, good_lines_parse, 0, sizeof(ok) / sizeof(ok[0]));
	tcase_add_loop_test(tc, bad_lines_get_the_right_reply, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, nul_inside_a_line_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(cmd_suite());
}
