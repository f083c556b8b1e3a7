/* SPDX-License-Identifier: ISC */
/*
 * test_smtpd_data.c - the DATA stream (daemons/smtpd/smtpd_data.c) and the
 * Received: header (smtpd_received.c): end marker, dot-unstuffing, CRLF
 * kept as received, bare CR/LF, line and size limits, any split of the
 * input giving the same result, and the same result as the octet-at-a-time
 * machine on random input.
 */
#include <sys/socket.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildate.h"
#include "smtpd/smtpd.h"
#include "check_run.h"

struct data_case {
	const char	*in;
	const char	*out;		/* unstuffed message (only checked when no error) */
	size_t		 consumed;	/* 0: all of in */
	bool		 done;
	enum data_error	 error;
	uint64_t	 max;
};

static const struct data_case cases[] = {
	{ ".\r\n", "", 0, true, DATA_OK, 0 },
	{ "Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n", 0, true, DATA_OK, 0 },
	/* what follows the end marker is not consumed (pipelined commands) */
	{ "a\r\n.\r\nQUIT\r\n", "a\r\n", 6, true, DATA_OK, 0 },
	/* dot-unstuffing: only the first dot of a line */
	{ "..a\r\n...\r\n.b.\r\nx.y\r\n.\r\n", ".a\r\n..\r\nb.\r\nx.y\r\n", 0, true, DATA_OK, 0 },
	{ "..\r\n.\r\n", ".\r\n", 0, true, DATA_OK, 0 },
	/* not an end marker */
	{ "a\r\n. \r\n", "a\r\n \r\n", 0, false, DATA_OK, 0 },
	{ "a\r\n.x\r\n", "a\r\nx\r\n", 0, false, DATA_OK, 0 },
	{ "a.\r\n", "a.\r\n", 0, false, DATA_OK, 0 },
	/* 8-bit octets and NUL pass through untouched */
	{ "\xff\xfe\x80\r\n.\r\n", "\xff\xfe\x80\r\n", 0, true, DATA_OK, 0 },
	/* bare LF / CR: an error, and never an end marker */
	{ "a\n.\nb\r\n.\r\n", NULL, 0, true, DATA_BARE_LF, 0 },
	{ "a\r\n.\n", NULL, 0, false, DATA_BARE_LF, 0 },
	{ "a\r.\r\n", NULL, 0, false, DATA_BARE_LF, 0 },
	{ "a\rb\r\n.\r\n", NULL, 0, true, DATA_BARE_LF, 0 },
	{ ".\rx\r\n.\r\n", NULL, 0, true, DATA_BARE_LF, 0 },
	{ "a\r\r\n.\r\n", NULL, 0, true, DATA_BARE_LF, 0 },
	/* size: counted after unstuffing, the limit itself is allowed */
	{ "1234\r\n.\r\n", "1234\r\n", 0, true, DATA_OK, 6 },
	{ "12345\r\n.\r\n", NULL, 0, true, DATA_TOO_BIG, 6 },
	{ "..34\r\n.\r\n", ".34\r\n", 0, true, DATA_OK, 5 },
};

static void
feed_all(struct data_state *d, const char *in, size_t len, size_t step,
    uint8_t *out, size_t outcap, size_t *outlen, size_t *consumed)
{
	size_t	off = 0;

	*outlen = 0;
	while (off < len && !d->done) {
		size_t n = len - off < step ? len - off : step;
		size_t used = data_feed(d, (const uint8_t *)in + off, n, out, outcap, outlen);

		ck_assert(used <= n);
		off += used;
		if (used < n && !d->done)
			ck_abort_msg("stalled with room in the output");
	}
	*consumed = off;
}

START_TEST(data_cases_any_split)
{
	const struct data_case	*c = &cases[_i / 4];
	static const size_t	 steps[] = { 1, 2, 3, 4096 };
	struct data_state	 d;
	uint8_t			 out[4096];
	size_t			 outlen, consumed, len = strlen(c->in);

	data_init(&d, c->max);
	feed_all(&d, c->in, len, steps[_i % 4], out, sizeof(out), &outlen, &consumed);
	ck_assert_msg(d.done == c->done, "case %d", _i / 4);
	ck_assert_msg(d.error == c->error, "case %d: error %d", _i / 4, d.error);
	ck_assert_uint_eq(consumed, c->consumed ? c->consumed : len);
	if (c->error == DATA_OK) {
		ck_assert_uint_eq(outlen, strlen(c->out));
		ck_assert(memcmp(out, c->out, outlen) == 0);
		ck_assert_uint_eq(d.size, outlen);
	}
}
END_TEST

/*
 * The octet-at-a-time state machine data_feed() had before its runs inside
 * a line were taken whole (mid_run): the oracle the faster code must match
 * exactly, octet for octet, error for error, on any input and any split.
 */
enum { R_BOL, R_DOT, R_DOTCR, R_MID, R_CR };

static void
ref_error(struct data_state *d, enum data_error e)
{
	if (d->error == DATA_OK)
		d->error = e;
}

static void
ref_emit(struct data_state *d, uint8_t c, uint8_t *out, size_t *outlen)
{
	if (d->error != DATA_OK)
		return;
	if (d->max_size != 0 && d->size >= d->max_size) {
		ref_error(d, DATA_TOO_BIG);
		return;
	}
	d->size++;
	out[(*outlen)++] = c;
}

static void
ref_mid(struct data_state *d, uint8_t c, uint8_t *out, size_t *outlen)
{
	if (c == '\r')
		d->st = R_CR;
	else {
		if (c == '\n')
			ref_error(d, DATA_BARE_LF);
		d->st = R_MID;
	}
	ref_emit(d, c, out, outlen);
}

static size_t
ref_feed(struct data_state *d, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t outcap, size_t *outlen)
{
	size_t	i;

	for (i = 0; i < inlen && !d->done; i++) {
		uint8_t c = in[i];

		if (outcap - *outlen < 2)
			break;
		if (++d->line_len > SMTPD_TEXT_MAX)
			ref_error(d, DATA_LINE_TOO_LONG);
		switch (d->st) {
		case R_BOL:
			if (c == '.') {
				d->line_len--;
				d->st = R_DOT;
			} else
				ref_mid(d, c, out, outlen);
			break;
		case R_DOT:
			if (c == '\r')
				d->st = R_DOTCR;
			else
				ref_mid(d, c, out, outlen);
			break;
		case R_DOTCR:
			if (c == '\n') {
				d->done = true;
				d->line_len = 0;
				break;
			}
			ref_error(d, DATA_BARE_LF);
			ref_emit(d, '\r', out, outlen);
			ref_mid(d, c, out, outlen);
			break;
		case R_MID:
			ref_mid(d, c, out, outlen);
			break;
		case R_CR:
			if (c == '\n') {
				ref_emit(d, c, out, outlen);
				d->st = R_BOL;
				d->line_len = 0;
			} else {
				ref_error(d, DATA_BARE_LF);
				ref_mid(d, c, out, outlen);
			}
			break;
		}
	}
	return i;
}

/* Random mail-like input: lines of varied length (some over the limit),
 * dots at line starts, CRLF mostly, bare CR or LF now and then, an end
 * marker sometimes. */
static size_t
random_input(uint8_t *buf, size_t cap)
{
	size_t	n = 0, len, k;

	while (n + 1100 < cap && random() % 40 != 0) {
		if (random() % 4 == 0)
			buf[n++] = '.';
		len = random() % 8 == 0 ? 900 + (size_t)(random() % 200) : (size_t)(random() % 80);
		for (k = 0; k < len; k++)
			buf[n++] = (uint8_t)(random() % 50 == 0 ? '.' : 'a' + random() % 26);
		switch (random() % 30) {
		case 0:
			buf[n++] = '\n';
			break;
		case 1:
			buf[n++] = '\r';
			break;
		default:
			buf[n++] = '\r';
			buf[n++] = '\n';
		}
	}
	if (random() % 2 == 0) {
		memcpy(buf + n, ".\r\nQUIT\r\n", 9);
		n += 9;
	}
	return n;
}

START_TEST(runs_match_the_octet_machine)
{
	static uint8_t		 in[64 * 1024], out1[8192], out2[8192];
	struct data_state	 a, b;
	size_t			 len, off1, off2, len1, len2, cap, n, u1, u2;
	unsigned		 round;

	srandom(19);
	for (round = 0; round < 3000 + 400; round++) {
		uint64_t max = random() % 3 == 0 ? (uint64_t)(random() % 20000) : 0;

		if (round >= 3000) {
			/* one long line, the line and size limits near each other,
			 * both broken by the same octet among them */
			len = 990 + (round - 3000) % 20;
			memset(in, 'a', len);
			memcpy(in + len, "\r\n.\r\n", 5);
			len += 5;
			max = 990 + (round - 3000) / 20;
		} else
			len = random_input(in, sizeof(in));
		cap = 2 + (size_t)(random() % (sizeof(out1) - 2));
		data_init(&a, max);
		data_init(&b, max);
		off1 = off2 = 0;
		while (off1 < len && !a.done) {
			n = 1 + (size_t)(random() % 3000);
			if (n > len - off1)
				n = len - off1;
			len1 = len2 = 0;	/* the caller empties the output between calls */
			u1 = data_feed(&a, in + off1, n, out1, cap, &len1);
			u2 = ref_feed(&b, in + off2, n, out2, cap, &len2);
			ck_assert_msg(u1 == u2, "round %u: consumed %zu, octet machine %zu",
			    round, u1, u2);
			ck_assert_uint_eq(len1, len2);
			ck_assert(memcmp(out1, out2, len1) == 0);
			ck_assert_int_eq(a.error, b.error);
			ck_assert_int_eq(a.done, b.done);
			ck_assert_uint_eq(a.size, b.size);
			ck_assert_uint_eq(a.line_len, b.line_len);
			ck_assert_int_eq(a.st, b.st);
			off1 += u1;
			off2 += u2;
		}
	}
}
END_TEST

START_TEST(nul_octets_are_kept)
{
	static const char	 in[] = "a\0b\r\n.\r\n";
	struct data_state	 d;
	uint8_t			 out[64];
	size_t			 outlen = 0;

	data_init(&d, 0);
	ck_assert_uint_eq(data_feed(&d, (const uint8_t *)in, sizeof(in) - 1, out,
	    sizeof(out), &outlen), sizeof(in) - 1);
	ck_assert(d.done);
	ck_assert_uint_eq(outlen, 5);
	ck_assert(memcmp(out, "a\0b\r\n", 5) == 0);
}
END_TEST

START_TEST(line_limit_is_1000_with_crlf)
{
	char			*in = malloc(4096);
	uint8_t			 out[4096];
	struct data_state	 d;
	size_t			 outlen = 0;

	/* 998 + CRLF = 1000: allowed */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	data_init(&d, 0);
	data_feed(&d, (uint8_t *)in, 1003, out, sizeof(out), &outlen);
	ck_assert(d.done);
	ck_assert_int_eq(d.error, DATA_OK);

	/* 999 + CRLF: refused */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	data_init(&d, 0);
	outlen = 0;
	data_feed(&d, (uint8_t *)in, 1004, out, sizeof(out), &outlen);
	ck_assert(d.done);
	ck_assert_int_eq(d.error, DATA_LINE_TOO_LONG);

	/*
	 * The dot added for transparency is not counted (RFC 5321
	 * 4.5.3.1.6): "." + 998 + CRLF is 998 octets of text, allowed ...
	 */
	in[0] = '.';
	memset(in + 1, '.', 1);
	memset(in + 2, 'x', 997);
	memcpy(in + 999, "\r\n.\r\n", 5);
	data_init(&d, 0);
	outlen = 0;
	data_feed(&d, (uint8_t *)in, 1004, out, sizeof(out), &outlen);
	ck_assert(d.done);
	ck_assert_int_eq(d.error, DATA_OK);
	ck_assert_uint_eq(outlen, 1000);
	ck_assert(out[0] == '.' && out[1] == 'x');

	/* ... and "." + 999 + CRLF (999 octets of text) is refused */
	in[0] = '.';
	memset(in + 1, '.', 1);
	memset(in + 2, 'x', 998);
	memcpy(in + 1000, "\r\n.\r\n", 5);
	data_init(&d, 0);
	outlen = 0;
	data_feed(&d, (uint8_t *)in, 1005, out, sizeof(out), &outlen);
	ck_assert(d.done);
	ck_assert_int_eq(d.error, DATA_LINE_TOO_LONG);

	/* the limit holds on a line after the first, too */
	memcpy(in, "a\r\n", 3);
	in[3] = '.';
	memset(in + 4, 'x', 998);
	memcpy(in + 1002, "\r\n.\r\n", 5);
	data_init(&d, 0);
	outlen = 0;
	data_feed(&d, (uint8_t *)in, 1007, out, sizeof(out), &outlen);
	ck_assert(d.done);
	ck_assert_int_eq(d.error, DATA_OK);
	free(in);
}
END_TEST

START_TEST(huge_line_uses_no_memory_and_the_end_is_still_found)
{
	enum { MB = 1024 * 1024 };
	uint8_t			*in = malloc(MB);
	uint8_t			 out[SMTPD_CHUNK];
	struct data_state	 d;
	size_t			 outlen = 0, off, i;

	memset(in, 'y', MB);
	data_init(&d, 0);
	for (i = 0; i < 8; i++) {
		/* 8 MB in one line: output stays within one chunk */
		for (off = 0; off < MB; )
			off += data_feed(&d, in + off, MB - off, out, sizeof(out), &outlen);
		ck_assert_uint_le(outlen, sizeof(out));
	}
	ck_assert_int_eq(d.error, DATA_LINE_TOO_LONG);
	ck_assert(!d.done);
	data_feed(&d, (const uint8_t *)"\r\n.\r\n", 5, out, sizeof(out), &outlen);
	ck_assert(d.done);
	free(in);
}
END_TEST

START_TEST(output_full_stops_feeding)
{
	uint8_t			out[4];
	struct data_state	d;
	size_t			outlen = 0, used;

	data_init(&d, 0);
	used = data_feed(&d, (const uint8_t *)"abcdef", 6, out, sizeof(out), &outlen);
	ck_assert_uint_ge(used, 2);
	ck_assert_uint_lt(used, 6);
	ck_assert_uint_eq(outlen, used);
}
END_TEST

START_TEST(error_replies)
{
	struct smtp_reply	r;

	data_error_reply(DATA_TOO_BIG, 1000, &r);
	ck_assert_uint_eq(r.code, 552);
	ck_assert_str_eq(r.dsn, "5.3.4");
	ck_assert(strstr(r.text, "1000") != NULL);
	data_error_reply(DATA_LINE_TOO_LONG, 0, &r);
	ck_assert_uint_eq(r.code, 554);
	data_error_reply(DATA_BARE_LF, 0, &r);
	ck_assert_uint_eq(r.code, 554);
	ck_assert(strstr(r.text, "CRLF") != NULL);
}
END_TEST

START_TEST(received_header_is_folded_and_complete)
{
	char	buf[1024];
	size_t	n;

	/* 2025-11-26 06:26:00 UTC */
	n = smtpd_received(buf, sizeof(buf), "client.example", true, "192.0.2.7",
	    AF_INET, "mx.example", "ABCDEF.1", "rcpt@dest.example", 1764138360);
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_str_eq(buf,
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx.example (outpost) with ESMTP id ABCDEF.1\r\n"
	    "\tfor <rcpt@dest.example>;\r\n"
	    "\tWed, 26 Nov 2025 06:26:00 +0000\r\n");

	n = smtpd_received(buf, sizeof(buf), "h", false, "2001:db8::1",
	    AF_INET6, "mx.example", "X.2", NULL, 0);
	ck_assert_str_eq(buf,
	    "Received: from h ([IPv6:2001:db8::1])\r\n"
	    "\tby mx.example (outpost) with SMTP id X.2;\r\n"
	    "\tThu, 01 Jan 1970 00:00:00 +0000\r\n");
}
END_TEST

START_TEST(received_header_sanitizes_the_client_helo)
{
	char	buf[1024];

	smtpd_received(buf, sizeof(buf), "evil)\r\nX-Injected: (yes", true, "192.0.2.7",
	    AF_INET, "mx", "I.1", NULL, 0);
	ck_assert(strstr(buf, "\r\nX-Injected") == NULL);
	ck_assert(strstr(buf, "from evil???X-Injected:??yes ([192.0.2.7])") != NULL);
	/* only the three folds and the last CRLF */
	{
		int	 lines = 0;
		char	*p;

		for (p = buf; (p = strstr(p, "\r\n")) != NULL; p += 2)
			lines++;
		ck_assert_int_eq(lines, 3);
	}
}
END_TEST

START_TEST(date_is_rfc5322)
{
	char	buf[64];

	maildate(951782400, buf, sizeof(buf));	/* 2000-02-29 */
	ck_assert_str_eq(buf, "Tue, 29 Feb 2000 00:00:00 +0000");
}
END_TEST

static Suite *
data_suite(void)
{
	Suite	*s = suite_create("smtpd_data");
	TCase	*tc = tcase_create("data");

	tcase_add_loop_test(tc, data_cases_any_split, 0, 4 * sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, runs_match_the_octet_machine);
	tcase_add_test(tc, nul_octets_are_kept);
	tcase_add_test(tc, line_limit_is_1000_with_crlf);
	tcase_add_test(tc, huge_line_uses_no_memory_and_the_end_is_still_found);
	tcase_add_test(tc, output_full_stops_feeding);
	tcase_add_test(tc, error_replies);
	tcase_add_test(tc, received_header_is_folded_and_complete);
	tcase_add_test(tc, received_header_sanitizes_the_client_helo);
	tcase_add_test(tc, date_is_rfc5322);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(data_suite());
}
