/* SPDX-License-Identifier: ISC */
/*
 * test_agent_auth.c - SMTP AUTH pieces of the delivery agent
 * (daemons/agent/agent_auth.c): PLAIN and LOGIN responses (RFC 4616,
 * base64 checked against known encodings), the choice of mechanism, the
 * masking of AUTH lines for logs, the MSG_CTL_RELAY_AUTH frame (credentials
 * kept, the frame's bytes wiped, malformed frames refused) and the loopback
 * test that allows AUTH without TLS.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "msg.h"

#include "agent/agent.h"
#include "check_run.h"

struct plain_case {
	const char	*user, *pass, *b64;
};

static const struct plain_case plain_cases[] = {
	/* base64 of "\0user\0pass" */
	{ "user", "pass", "AHVzZXIAcGFzcw==" },
	{ "tim", "tanstaaftanstaaf", "AHRpbQB0YW5zdGFhZnRhbnN0YWFm" },	/* RFC 4616 section 4 */
	{ "a@b.example", "p w:ü", "AGFAYi5leGFtcGxlAHAgdzrDvA==" },
};

START_TEST(plain_response)
{
	const struct plain_case	*c = &plain_cases[_i];
	char			 out[AUTH_LINE_MAX];

	ck_assert_int_eq(auth_plain_response(c->user, c->pass, out, sizeof(out)),
	    (int)strlen(c->b64));
	ck_assert_str_eq(out, c->b64);
	/* too small an output buffer is refused, not cut */
	ck_assert_int_eq(auth_plain_response(c->user, c->pass, out, strlen(c->b64)), -1);
}
END_TEST

struct login_case {
	const char	*in, *b64;
};

static const struct login_case login_cases[] = {
	{ "user", "dXNlcg==" },
	{ "relayuser@tls.test", "cmVsYXl1c2VyQHRscy50ZXN0" },
	{ "Password:", "UGFzc3dvcmQ6" },
	{ "", "" },
};

START_TEST(login_response)
{
	const struct login_case	*c = &login_cases[_i];
	char			 out[256];

	ck_assert_int_eq(auth_login_response(c->in, out, sizeof(out)), (int)strlen(c->b64));
	ck_assert_str_eq(out, c->b64);
}
END_TEST

struct choose_case {
	const char	*offered;
	int		 mech;
};

static const struct choose_case choose_cases[] = {
	{ "PLAIN LOGIN", AUTH_MECH_PLAIN },
	{ "LOGIN PLAIN", AUTH_MECH_PLAIN },
	{ "login", AUTH_MECH_LOGIN },
	{ "CRAM-MD5 LOGIN", AUTH_MECH_LOGIN },
	{ "SCRAM-SHA-256 DIGEST-MD5 CRAM-MD5 NTLM PLAIN LOGIN", AUTH_MECH_PLAIN },
	{ "CRAM-MD5", AUTH_MECH_NONE },
	{ "", AUTH_MECH_NONE },
	{ "PLAINX XLOGIN", AUTH_MECH_NONE },
};

START_TEST(choose_mechanism)
{
	ck_assert_int_eq(auth_choose(choose_cases[_i].offered), choose_cases[_i].mech);
}
END_TEST

struct mask_case {
	const char	*line;
	bool		 secret;
	const char	*shown;
};

static const struct mask_case mask_cases[] = {
	{ "AUTH PLAIN AHVzZXIAcGFzcw==", false, "AUTH PLAIN ****" },
	{ "auth plain AHVzZXIAcGFzcw==", false, "auth plain ****" },
	{ "AUTH LOGIN", false, "AUTH LOGIN" },
	{ "AUTH LOGIN dXNlcg==", false, "AUTH LOGIN ****" },
	{ "dXNlcg==", true, "****" },
	{ "cGFzcw==", true, "****" },
	{ "MAIL FROM:<a@b>", false, "MAIL FROM:<a@b>" },
	{ "EHLO outpost.test", false, "EHLO outpost.test" },
};

START_TEST(mask_lines)
{
	const struct mask_case	*c = &mask_cases[_i];
	char			 out[128];

	auth_mask(c->line, c->secret, out, sizeof(out));
	ck_assert_str_eq(out, c->shown);
}
END_TEST

/* A received frame as chan would hand it over: payload in a buffer of ours. */
static void
ctl_frame(uint8_t *buf, size_t cap, struct frame *f, const char *user, const char *pass,
    bool extra)
{
	struct fbuf	*fb = fbuf_new(MSG_CTL_RELAY_AUTH, 0);
	const char	*why;

	fbuf_add_str(fb, user);
	fbuf_add_str(fb, pass);
	if (extra)
		fbuf_add_u8(fb, 1);
	ck_assert(fb->len <= cap);
	memcpy(buf, fb->data, fb->len);
	if (extra) {
		/* past the schema check on purpose: the handler must refuse it too */
		memset(f, 0, sizeof(*f));
		memcpy(&f->hdr, buf, sizeof(f->hdr));
		f->p = buf + FRAME_HDR_LEN;
		f->len = fb->len - FRAME_HDR_LEN;
		f->fd = -1;
	} else
		ck_assert_int_eq(frame_parse(buf, fb->len, -1, f, &why), 0);
	fbuf_free(fb);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != 0)
			return false;
	return true;
}

START_TEST(ctl_frame_kept_and_wiped)
{
	uint8_t		 buf[4096];
	struct frame	 f;
	char		 out[AUTH_LINE_MAX];

	auth_clear();
	ck_assert(!auth_have());
	ck_assert_int_eq(auth_response(AUTH_MECH_PLAIN, 0, out, sizeof(out)), -1);

	ctl_frame(buf, sizeof(buf), &f, "user", "pass", false);
	ck_assert_int_eq(auth_ctl_frame(&f), 0);
	ck_assert(auth_have());
	ck_assert_str_eq(auth_user(), "user");
	/* nothing of the payload is left in the receive buffer */
	ck_assert(all_zero(f.p, f.len));
	ck_assert(memmem(buf, sizeof(buf), "pass", 4) == NULL);

	ck_assert_int_gt(auth_response(AUTH_MECH_PLAIN, 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "AHVzZXIAcGFzcw==");
	ck_assert_int_eq(auth_response(AUTH_MECH_PLAIN, 1, out, sizeof(out)), -1);
	ck_assert_int_gt(auth_response(AUTH_MECH_LOGIN, 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "dXNlcg==");
	ck_assert_int_gt(auth_response(AUTH_MECH_LOGIN, 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "cGFzcw==");
	ck_assert_int_eq(auth_response(AUTH_MECH_LOGIN, 2, out, sizeof(out)), -1);

	/* replaced on reload */
	ctl_frame(buf, sizeof(buf), &f, "other", "secret2", false);
	ck_assert_int_eq(auth_ctl_frame(&f), 0);
	ck_assert_str_eq(auth_user(), "other");

	/* an empty user or password: no AUTH */
	ctl_frame(buf, sizeof(buf), &f, "", "", false);
	ck_assert_int_eq(auth_ctl_frame(&f), 0);
	ck_assert(!auth_have());
	auth_clear();
}
END_TEST

START_TEST(ctl_frame_malformed)
{
	uint8_t		 buf[8192];
	struct frame	 f;
	char		 longpw[AUTH_PASS_MAX + 10];

	auth_clear();
	/* trailing bytes */
	ctl_frame(buf, sizeof(buf), &f, "user", "pass", true);
	ck_assert_int_eq(auth_ctl_frame(&f), -1);
	ck_assert(!auth_have());
	ck_assert(all_zero(f.p, f.len));
	/* a password longer than the agent keeps */
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	ctl_frame(buf, sizeof(buf), &f, "user", longpw, false);
	ck_assert_int_eq(auth_ctl_frame(&f), -1);
	ck_assert(!auth_have());
	ck_assert(all_zero(f.p, f.len));
	/* another type is not this handler's */
	f.hdr.type = MSG_CTL_LOGLEVEL;
	ck_assert_int_eq(auth_ctl_frame(&f), -1);
}
END_TEST

struct loop_case {
	const char	*ip;
	bool		 loopback;
};

static const struct loop_case loop_cases[] = {
	{ "127.0.0.1", true },
	{ "127.200.3.4", true },
	{ "::1", true },
	{ "::ffff:127.0.0.1", true },
	{ "10.0.0.1", false },
	{ "128.0.0.1", false },
	{ "::2", false },
	{ "::ffff:10.0.0.1", false },
	{ "2001:db8::1", false },
};

START_TEST(loopback_addresses)
{
	const struct loop_case	*c = &loop_cases[_i];
	struct agent_addr	 a;

	memset(&a, 0, sizeof(a));
	if (strchr(c->ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

		sin6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, c->ip, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

		sin->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, c->ip, &sin->sin_addr), 1);
	}
	ck_assert_int_eq(agent_addr_loopback(&a), c->loopback);
}
END_TEST

#define N(a)	(int)(sizeof(a) / sizeof((a)[0]))

static Suite *
agent_auth_suite(void)
{
	Suite	*s = suite_create("agent_auth");
	TCase	*tc = tcase_create("auth");

	tcase_add_loop_test(tc, plain_response, 0, N(plain_cases));
	tcase_add_loop_test(tc, login_response, 0, N(login_cases));
	tcase_add_loop_test(tc, choose_mechanism, 0, N(choose_cases));
	tcase_add_loop_test(tc, mask_lines, 0, N(mask_cases));
	tcase_add_test(tc, ctl_frame_kept_and_wiped);
	tcase_add_test(tc, ctl_frame_malformed);
	tcase_add_loop_test(tc, loopback_addresses, 0, N(loop_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	log_init("agent-auth-test", LOG_TO_STDERR, NULL);

	return check_run(agent_auth_suite());
}
