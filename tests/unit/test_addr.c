/* SPDX-License-Identifier: ISC */
/*
 * test_addr.c - RFC 5321 path parsing (shared/addr.c): which paths are
 * accepted and what is kept of them, which are refused and with what
 * message, the length limits, and domain extraction.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "check_run.h"

struct valid_case {
	const char	*in;
	int		 flags;
	const char	*mailbox;	/* what is kept */
	const char	*params;
	bool		 literal;
};

static const struct valid_case valid[] = {
	{ "<user@example.com>", 0, "user@example.com", "", false },
	{ "<User.Name+tag@Example.COM>", 0, "User.Name+tag@Example.COM", "", false },
	{ "<a@b>", 0, "a@b", "", false },
	{ "<x@localhost>", 0, "x@localhost", "", false },
	{ "<!#$%&'*+-/=?^_`{|}~@example.org>", 0, "!#$%&'*+-/=?^_`{|}~@example.org", "", false },
	{ "<a.b.c.d@sub.domain.example>", 0, "a.b.c.d@sub.domain.example", "", false },
	{ "<user@xn--bcher-kva.example>", 0, "user@xn--bcher-kva.example", "", false },
	{ "<user@a-b.c-d.example>", 0, "user@a-b.c-d.example", "", false },
	{ "<user@123.example>", 0, "user@123.example", "", false },
	{ "<user@1.2.3.4>", 0, "user@1.2.3.4", "", false },
	/* quoted local parts */
	{ "<\"john doe\"@example.com>", 0, "\"john doe\"@example.com", "", false },
	{ "<\"a@b\"@example.com>", 0, "\"a@b\"@example.com", "", false },
	{ "<\"quote\\\"inside\"@example.com>", 0, "\"quote\\\"inside\"@example.com", "", false },
	{ "<\"back\\\\slash\"@example.com>", 0, "\"back\\\\slash\"@example.com", "", false },
	{ "<\"\"@example.com>", 0, "\"\"@example.com", "", false },
	{ "<\"a..b\"@example.com>", 0, "\"a..b\"@example.com", "", false },
	{ "<\".leading\"@example.com>", 0, "\".leading\"@example.com", "", false },
	{ "<\"<>()[]:;,\"@example.com>", 0, "\"<>()[]:;,\"@example.com", "", false },
	/* address literals */
	{ "<postmaster@[192.0.2.1]>", 0, "postmaster@[192.0.2.1]", "", true },
	{ "<u@[IPv6:2001:db8::1]>", 0, "u@[IPv6:2001:db8::1]", "", true },
	{ "<u@[ipv6:::1]>", 0, "u@[ipv6:::1]", "", true },
	{ "<u@[IPv6:::ffff:192.0.2.1]>", 0, "u@[IPv6:::ffff:192.0.2.1]", "", true },
	/* source routes are accepted and dropped */
	{ "<@relay.example:user@example.com>", 0, "user@example.com", "", false },
	{ "<@a.example,@b.example:user@example.com>", 0, "user@example.com", "", false },
	/* the null path and parameters */
	{ "<>", ADDR_F_NULL_OK, "", "", false },
	{ "<> SIZE=100", ADDR_F_NULL_OK, "", "SIZE=100", false },
	{ "<a@b.c> SIZE=100 BODY=8BITMIME", 0, "a@b.c", "SIZE=100 BODY=8BITMIME", false },
	{ "<a@b.c>   SIZE=1", 0, "a@b.c", "SIZE=1", false },
	{ "<a@b.c> ", 0, "a@b.c", "", false },
};

struct invalid_case {
	const char	*in;
	int		 flags;
	const char	*err;		/* a part of the message */
};

static const struct invalid_case invalid[] = {
	{ "", 0, "missing address" },
	{ "user@example.com", 0, "enclosed in <>" },
	{ "<>", 0, "null address" },
	{ "<user@example.com", 0, "missing '>'" },
	{ "<user>", 0, "no domain" },
	{ "<user@>", 0, "missing domain" },
	{ "<@example.com>", 0, "source route" },
	{ "<.user@example.com>", 0, "starts with a dot" },
	{ "<user.@example.com>", 0, "ends with a dot" },
	{ "<us..er@example.com>", 0, "two dots" },
	{ "<us er@example.com>", 0, "invalid character in local part" },
	{ "<us(er@example.com>", 0, "invalid character in local part" },
	{ "<us\"er@example.com>", 0, "invalid character in local part" },
	{ "<\"unterminated@example.com>", 0, "unterminated" },
	{ "<\"a\"b@example.com>", 0, "junk after quoted" },
	{ "<\"tab\there\"@example.com>", 0, "control character" },
	{ "<\"x\\\x01\"@example.com>", 0, "invalid quoted pair" },
	{ "<jos\xc3\xa9@example.com>", 0, "SMTPUTF8" },
	{ "<user@ex\xc3\xa4mple.com>", 0, "non-ASCII character in domain" },
	{ "<user@example..com>", 0, "empty label" },
	{ "<user@.example.com>", 0, "empty label" },
	{ "<user@example.com.>", 0, "ends with a dot" },
	{ "<user@-example.com>", 0, "hyphen" },
	{ "<user@example-.com>", 0, "hyphen" },
	{ "<user@exa_mple.com>", 0, "invalid character in domain" },
	{ "<user@exa mple.com>", 0, "invalid character in domain" },
	{ "<user@example.com >", 0, "invalid character in domain" },
	{ "<user@[300.1.1.1]>", 0, "invalid IPv4" },
	{ "<user@[1.2.3]>", 0, "invalid IPv4" },
	{ "<user@[01.2.3.4]>", 0, "invalid IPv4" },
	{ "<user@[]>", 0, "invalid IPv4" },
	{ "<user@[IPv6:2001:db8::g]>", 0, "invalid IPv6" },
	{ "<user@[IPv6:1.2.3.4]>", 0, "invalid IPv6" },
	{ "<user@[IPv6:]>", 0, "invalid IPv6" },
	{ "<user@[2001:db8::1]>", 0, "unsupported address literal" },
	{ "<user@[x-tag:content]>", 0, "unsupported address literal" },
	{ "<user@[192.0.2.1>", 0, "unterminated address literal" },
	{ "<user@[192.0.2.1]x>", 0, "invalid character in domain" },
	{ "<@:user@example.com>", 0, "missing domain" },
	{ "<@a.example;user@example.com>", 0, "invalid character in domain" },
	{ "<@a.example,user@example.com>", 0, "source route" },
	{ "<@a..example:user@example.com>", 0, "empty label" },
	{ "<user@example.com>SIZE=1", 0, "junk after '>'" },
	{ "<user@example.com>>", 0, "junk after '>'" },
	{ "<>x", ADDR_F_NULL_OK, "junk after '>'" },
	{ "<<user@example.com>>", 0, "invalid character in local part" },
};

START_TEST(valid_paths_are_accepted)
{
	const struct valid_case	*c = &valid[_i];
	struct addr_path	 p;
	const char		*err = NULL;

	ck_assert_msg(addr_parse_path(c->in, c->flags, &p, &err) == 0,
	    "%s: %s", c->in, err);
	ck_assert_str_eq(p.mailbox, c->mailbox);
	ck_assert_str_eq(p.params, c->params);
	ck_assert(p.literal == c->literal);
	ck_assert(p.null == (c->mailbox[0] == '\0'));
	if (!p.null)
		ck_assert_int_eq(p.mailbox[p.at], '@');
}
END_TEST

START_TEST(invalid_paths_are_refused_with_a_reason)
{
	const struct invalid_case	*c = &invalid[_i];
	struct addr_path		 p;
	const char			*err = NULL;

	ck_assert_msg(addr_parse_path(c->in, c->flags, &p, &err) == -1,
	    "accepted: %s", c->in);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, c->err) != NULL, "%s: got \"%s\", want \"%s\"",
	    c->in, err, c->err);
}
END_TEST

static char *
repeat(char ch, size_t n)
{
	char	*s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

START_TEST(local_part_limit_is_64)
{
	char			 buf[512];
	char			*l64 = repeat('a', 64), *l65 = repeat('a', 65);
	struct addr_path	 p;
	const char		*err;

	snprintf(buf, sizeof(buf), "<%s@example.com>", l64);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), 0);
	snprintf(buf, sizeof(buf), "<%s@example.com>", l65);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), -1);
	ck_assert(strstr(err, "local part too long") != NULL);
	/* quotes count */
	snprintf(buf, sizeof(buf), "<\"%.62s\"@example.com>", l64);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), 0);
	snprintf(buf, sizeof(buf), "<\"%.63s\"@example.com>", l64);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), -1);
	free(l64);
	free(l65);
}
END_TEST

START_TEST(label_limit_is_63)
{
	char			 buf[512];
	char			*l63 = repeat('b', 63), *l64 = repeat('b', 64);
	struct addr_path	 p;
	const char		*err;

	snprintf(buf, sizeof(buf), "<a@%s.example>", l63);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), 0);
	snprintf(buf, sizeof(buf), "<a@%s.example>", l64);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), -1);
	ck_assert(strstr(err, "label too long") != NULL);
	free(l63);
	free(l64);
}
END_TEST

/* A domain of n octets made of 63-octet labels. */
static void
make_domain(char *buf, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		buf[i] = (i % 64 == 63) ? '.' : 'c';
	if (buf[n - 1] == '.')
		buf[n - 1] = 'c';
	buf[n] = '\0';
}

START_TEST(domain_and_path_limits)
{
	char			 dom[300], buf[600];
	struct addr_path	 p;
	const char		*err;

	/* 255-octet domain: valid alone, but "<a@" + 255 + ">" is 259 > 256 */
	make_domain(dom, 255);
	ck_assert_int_eq(addr_check_domain(dom, strlen(dom), &err), 0);
	snprintf(buf, sizeof(buf), "<a@%s>", dom);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), -1);
	ck_assert_msg(strstr(err, "address too long") != NULL, "%s", err);

	make_domain(dom, 256);
	ck_assert_int_eq(addr_check_domain(dom, strlen(dom), &err), -1);
	ck_assert(strstr(err, "domain too long") != NULL);

	/* exactly 256 octets with the brackets: the longest accepted path */
	make_domain(dom, 252);
	snprintf(buf, sizeof(buf), "<a@%s>", dom);
	ck_assert_uint_eq(strlen(buf), 256);
	ck_assert_msg(addr_parse_path(buf, 0, &p, &err) == 0, "%s", err);
	ck_assert_uint_eq(strlen(p.mailbox), 254);

	make_domain(dom, 253);
	snprintf(buf, sizeof(buf), "<a@%s>", dom);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), -1);

	/* a source route counts towards the 256 octets */
	make_domain(dom, 200);
	snprintf(buf, sizeof(buf), "<@%.60s:a@%s>", dom, dom);
	ck_assert_int_eq(addr_parse_path(buf, 0, &p, &err), -1);
}
END_TEST

START_TEST(check_domain_alone)
{
	const char	*err;

	ck_assert_int_eq(addr_check_domain("example.com", 11, &err), 0);
	ck_assert_int_eq(addr_check_domain("[127.0.0.1]", 11, &err), 0);
	ck_assert_int_eq(addr_check_domain("[IPv6:::1]", 10, &err), 0);
	ck_assert_int_eq(addr_check_domain("", 0, &err), -1);
	ck_assert_int_eq(addr_check_domain("a..b", 4, &err), -1);
	/* the length given is what is checked, not up to a NUL */
	ck_assert_int_eq(addr_check_domain("example.com>junk", 11, &err), 0);
}
END_TEST

struct domain_case {
	const char	*in;
	const char	*out;		/* NULL: -1 */
};

static const struct domain_case domains[] = {
	{ "user@Example.COM", "example.com" },
	{ "user@example.com", "example.com" },
	{ "\"a@b\"@Sub.Example.Org", "sub.example.org" },
	{ "u@[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]" },
	{ "u@[192.0.2.1]", "[192.0.2.1]" },
	{ "", NULL },
	{ "nodomain", NULL },
	{ "trailing@", NULL },
};

START_TEST(domain_is_extracted_in_lower_case)
{
	const struct domain_case	*c = &domains[_i];
	char				 buf[ADDR_DOMAIN_MAX + 1];

	if (c->out == NULL)
		ck_assert_int_eq(addr_domain(c->in, buf, sizeof(buf)), -1);
	else {
		ck_assert_int_eq(addr_domain(c->in, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, c->out);
	}
}
END_TEST

START_TEST(domain_that_does_not_fit_is_refused)
{
	char	buf[8];

	ck_assert_int_eq(addr_domain("u@example.com", buf, sizeof(buf)), -1);
	ck_assert_int_eq(addr_domain("u@exampl", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "exampl");
}
END_TEST

START_TEST(bare_mailboxes_as_frames_carry_them)
{
	const char	*err;

	ck_assert_int_eq(addr_check_mailbox("a@b.example", false, &err), 0);
	ck_assert_int_eq(addr_check_mailbox("\"x y\"@[IPv6:::1]", false, &err), 0);
	ck_assert_int_eq(addr_check_mailbox("", true, &err), 0);
	ck_assert_int_eq(addr_check_mailbox("", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("user", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("<a@b.example>", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("<>", true, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("a@b.example> SIZE=1", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("a@b.example>", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("@r.example:a@b.example", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("x\x01@y.example", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("a b@c.example", false, &err), -1);
	ck_assert_int_eq(addr_check_mailbox("a@b.example\r\nRCPT", false, &err), -1);
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite	*s = suite_create("addr");
	TCase	*tc = tcase_create("addr");

	tcase_add_loop_test(tc, valid_paths_are_accepted, 0,
	    sizeof(valid) / sizeof(valid[0]));
	tcase_add_loop_test(tc, invalid_paths_are_refused_with_a_reason, 0,
	    sizeof(invalid) / sizeof(invalid[0]));
	tcase_add_test(tc, local_part_limit_is_64);
	tcase_add_test(tc, label_limit_is_63);
	tcase_add_test(tc, domain_and_path_limits);
	tcase_add_test(tc, check_domain_alone);
	tcase_add_loop_test(tc, domain_is_extracted_in_lower_case, 0,
	    sizeof(domains) / sizeof(domains[0]));
	tcase_add_test(tc, domain_that_does_not_fit_is_refused);
	tcase_add_test(tc, bare_mailboxes_as_frames_carry_them);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(addr_suite());
}
