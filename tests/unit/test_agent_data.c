/* SPDX-License-Identifier: ISC */
/*
 * test_agent_data.c - the delivery agent's DATA encoding
 * (daemons/agent/agent_data.c): CRLF line ends from LF, CR or CRLF input,
 * dot-stuffing, the final dot, the 998-character line limit and 8-bit
 * content for servers without 8BITMIME. Every case is also run split into
 * blocks at every possible offset, as the agent reads content in blocks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "check_run.h"

struct data_case {
	const char	*in;
	const char	*out;		/* NULL: refused with err */
	bool		 reject_8bit;
	int		 err;
};

static const struct data_case cases[] = {
	{ "", ".\r\n", false, 0 },
	{ "a\r\n", "a\r\n.\r\n", false, 0 },
	{ "a\n", "a\r\n.\r\n", false, 0 },
	{ "a", "a\r\n.\r\n", false, 0 },
	{ "a\nb\nc", "a\r\nb\r\nc\r\n.\r\n", false, 0 },
	{ "a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n.\r\n", false, 0 },
	{ "\n\n", "\r\n\r\n.\r\n", false, 0 },
	{ "\r\n\r\n", "\r\n\r\n.\r\n", false, 0 },
	/* a bare CR is a line end too: never put a lone CR on the wire */
	{ "a\rb", "a\r\nb\r\n.\r\n", false, 0 },
	{ "a\r", "a\r\n.\r\n", false, 0 },
	{ "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n", false, 0 },
	/* dot-stuffing: only at the start of a line */
	{ ".", "..\r\n.\r\n", false, 0 },
	{ ".\n", "..\r\n.\r\n", false, 0 },
	{ "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n", false, 0 },
	{ "a\r\n.\r\n", "a\r\n..\r\n.\r\n", false, 0 },
	{ "..x\n", "...x\r\n.\r\n", false, 0 },
	{ "a.b\n.c.\n", "a.b\r\n..c.\r\n.\r\n", false, 0 },
	{ "a\r.b", "a\r\n..b\r\n.\r\n", false, 0 },
	{ "\n.", "\r\n..\r\n.\r\n", false, 0 },
	/* 8-bit and NUL bytes pass when the server takes them */
	{ "caf\xc3\xa9\n", "caf\xc3\xa9\r\n.\r\n", false, 0 },
	{ "caf\xc3\xa9\n", NULL, true, DATA_ERR_8BIT },
	{ "plain\n", "plain\r\n.\r\n", true, 0 },
};

static size_t
encode(const char *in, size_t len, bool reject_8bit, size_t split, uint8_t *out, int *err)
{
	struct data_enc	 e;
	size_t		 off = 0, n;
	ssize_t		 m;

	*err = 0;
	data_enc_init(&e, reject_8bit);
	while (off < len) {
		n = len - off;
		if (split > 0 && n > split)
			n = split;
		m = data_enc_feed(&e, (const uint8_t *)in + off, n, out + (e.out));
		if (m < 0) {
			*err = (int)m;
			return 0;
		}
		ck_assert_uint_le((size_t)m, DATA_ENC_OUTMAX(n));
		off += n;
	}
	n = data_enc_finish(&e, out + e.out);
	ck_assert_uint_le(n, DATA_ENC_FINISH_MAX);
	return e.out;
}

START_TEST(content_is_encoded_for_the_wire)
{
	const struct data_case	*c = &cases[_i];
	size_t			 len = strlen(c->in), split, n;
	uint8_t			 out[256];
	int			 err;

	for (split = 0; split <= len; split++) {
		n = encode(c->in, len, c->reject_8bit, split, out, &err);
		if (c->out == NULL) {
			ck_assert_int_eq(err, c->err);
			continue;
		}
		ck_assert_int_eq(err, 0);
		ck_assert_msg(n == strlen(c->out) && memcmp(out, c->out, n) == 0,
		    "case %d split %zu: got \"%.*s\"", _i, split, (int)n, out);
	}
}
END_TEST

/* 998 characters pass (with a leading dot too), 999 do not, wherever the line is. */
START_TEST(line_limit_is_998)
{
	static const size_t	 lens[] = { 998, 999, 5000 };
	static const char	*pre[] = { "", "head\n", "head\r\n" };
	char			*in;
	uint8_t			*out;
	size_t			 i, k, len, n, split;
	int			 err;

	in = malloc(8000);
	out = malloc(DATA_ENC_OUTMAX(8000) + DATA_ENC_FINISH_MAX);
	for (i = 0; i < 3; i++) {
		for (k = 0; k < 3; k++) {
			len = strlen(pre[k]);
			memcpy(in, pre[k], len);
			memset(in + len, _i == 0 ? 'x' : '.', lens[i]);
			len += lens[i];
			memcpy(in + len, "\nend\n", 5);
			len += 5;
			for (split = 0; split < 4; split++) {
				n = encode(in, len, false, split == 0 ? 0 : 997 + split, out, &err);
				if (lens[i] <= DATA_LINE_MAX) {
					ck_assert_int_eq(err, 0);
					ck_assert_uint_eq(n, len + 2 + 3 + (k == 1) + (_i == 1));
				} else
					ck_assert_int_eq(err, DATA_ERR_LONGLINE);
			}
		}
	}
	free(in);
	free(out);
}
END_TEST

/* The worst case for output growth stays inside DATA_ENC_OUTMAX. */
START_TEST(output_bound_holds)
{
	static const char	*pat[] = { "\n", "\r", ".\n", "\r.", "\n." };
	char			 in[1024];
	uint8_t			 out[DATA_ENC_OUTMAX(1024) + DATA_ENC_FINISH_MAX];
	size_t			 i, plen = strlen(pat[_i]), n;
	int			 err;

	for (i = 0; i < sizeof(in); i++)
		in[i] = pat[_i][i % plen];
	n = encode(in, sizeof(in), false, 0, out, &err);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_le(n, DATA_ENC_OUTMAX(sizeof(in)) + DATA_ENC_FINISH_MAX);
	ck_assert_int_eq(memcmp(out + n - 5, "\r\n.\r\n", 5), 0);
}
END_TEST

/*
 * The agent over plain TCP: spans data_enc_clean() passes go out as they
 * are (from the file, by sendfile), the encoder takes one line at a time
 * in between. Returns the wire bytes as encode() does.
 */
static size_t
encode_spans(const char *in, size_t len, bool reject_8bit, size_t split, uint8_t *out, int *err)
{
	struct data_enc	 e;
	const uint8_t	*src, *nl;
	size_t		 off = 0, n, span, o = 0;
	ssize_t		 m;

	*err = 0;
	data_enc_init(&e, reject_8bit);
	while (off < len) {
		n = len - off;
		if (split > 0 && n > split)
			n = split;
		src = (const uint8_t *)in + off;
		if ((span = data_enc_clean(&e, src, n)) > 0) {
			ck_assert_uint_le(span, n);
			memcpy(out + o, src, span);
			o += span;
			off += span;
			ck_assert_uint_eq(e.out, o);
			continue;
		}
		if ((nl = memchr(src, '\n', n)) != NULL)
			n = nl - src + 1;
		m = data_enc_feed(&e, src, n, out + o);
		if (m < 0) {
			*err = (int)m;
			return 0;
		}
		o += m;
		off += n;
	}
	o += data_enc_finish(&e, out + o);
	ck_assert_uint_eq(e.out, o);
	return o;
}

START_TEST(clean_spans_give_the_same_wire_bytes)
{
	const struct data_case	*c = &cases[_i];
	size_t			 len = strlen(c->in), split, n;
	uint8_t			 out[256];
	int			 err;

	for (split = 0; split <= len; split++) {
		n = encode_spans(c->in, len, c->reject_8bit, split, out, &err);
		if (c->out == NULL) {
			ck_assert_int_eq(err, c->err);
			continue;
		}
		ck_assert_int_eq(err, 0);
		ck_assert_msg(n == strlen(c->out) && memcmp(out, c->out, n) == 0,
		    "case %d split %zu: got \"%.*s\"", _i, split, (int)n, out);
	}
}
END_TEST

/* What data_enc_clean() passes and where it stops. */
START_TEST(clean_span_stops_where_encoding_is_needed)
{
	static const struct {
		const char	*in;
		bool		 bol, reject_8bit;
		size_t		 want;
	} t[] = {
		{ "abc\r\ndef\r\n", true, false, 10 },
		{ "abc\r\ndef", true, false, 5 },		/* an unfinished line waits */
		{ "abc\r\n.def\r\n", true, false, 5 },	/* a dot to double */
		{ ".abc\r\n", false, false, 6 },		/* mid-line: no doubling */
		{ ".abc\r\n", true, false, 0 },
		{ "abc\ndef\r\n", true, false, 0 },		/* bare LF */
		{ "a\rb\r\n", true, false, 0 },		/* bare CR */
		{ "abc\r", true, false, 0 },		/* its LF is in the next block */
		{ "caf\xc3\xa9\r\n", true, false, 7 },
		{ "caf\xc3\xa9\r\n", true, true, 0 },
		{ "ok\r\ncaf\xc3\xa9\r\n", true, true, 4 },
	};
	struct data_enc	 e;
	size_t		 n;

	data_enc_init(&e, t[_i].reject_8bit);
	e.bol = t[_i].bol;
	n = data_enc_clean(&e, (const uint8_t *)t[_i].in, strlen(t[_i].in));
	ck_assert_uint_eq(n, t[_i].want);
	ck_assert_uint_eq(e.in, n);
	ck_assert(n == 0 ? e.bol == t[_i].bol : e.bol && e.linelen == 0);
}
END_TEST

/* A line of 998 passes as a span, 999 does not (the encoder refuses it). */
START_TEST(clean_span_keeps_the_line_limit)
{
	char		 in[1100];
	struct data_enc	 e;

	memset(in, 'x', sizeof(in));
	memcpy(in + 998, "\r\n", 2);
	data_enc_init(&e, false);
	ck_assert_uint_eq(data_enc_clean(&e, (const uint8_t *)in, 1000), 1000);
	memset(in, 'x', sizeof(in));
	memcpy(in + 999, "\r\n", 2);
	data_enc_init(&e, false);
	ck_assert_uint_eq(data_enc_clean(&e, (const uint8_t *)in, 1001), 0);
	/* the line begun before counts too */
	data_enc_init(&e, false);
	e.bol = false;
	e.linelen = 990;
	ck_assert_uint_eq(data_enc_clean(&e, (const uint8_t *)in, 10), 0);
}
END_TEST

/* Random mail-like content: lines short and long (around the 998 limit),
 * dots, bare CRs and LFs, an 8-bit octet now and then. Returns its length. */
static size_t
random_mail(uint8_t *buf, size_t cap)
{
	size_t	 n = 0, len, k;

	while (n + 1100 < cap && random() % 30 != 0) {
		len = random() % 10 == 0 ? 990 + (size_t)(random() % 20) :
		    (size_t)(random() % 90);
		for (k = 0; k < len; k++)
			buf[n++] = random() % 400 == 0 ? 0xc3 :
			    random() % 60 == 0 ? '.' : 'a' + random() % 26;
		switch (random() % 40) {
		case 0:
			buf[n++] = '\n';
			break;
		case 1:
			buf[n++] = '\r';
			break;
		case 2:
			break;
		default:
			buf[n++] = '\r';
			buf[n++] = '\n';
		}
	}
	return n;
}

/*
 * The octet-at-a-time scan data_enc_clean() was before it took a line at a
 * time: kept here as the oracle the faster one must agree with.
 */
static size_t
clean_octets(struct data_enc *e, const uint8_t *in, size_t n)
{
	size_t	 i, clean = 0, linelen = e->linelen;
	bool	 bol = e->bol;
	uint8_t	 c;

	if (e->cr)
		return 0;
	for (i = 0; i < n; i++) {
		c = in[i];
		if (c == '\r') {
			if (i + 1 >= n || in[i + 1] != '\n')
				break;
			i++;
			clean = i + 1;
			bol = true;
			linelen = 0;
			continue;
		}
		if (c == '\n' || (bol && c == '.') || (c >= 0x80 && e->reject_8bit) ||
		    ++linelen > DATA_LINE_MAX)
			break;
		bol = false;
	}
	if (clean > 0) {
		e->bol = true;
		e->linelen = 0;
		e->in += clean;
		e->out += clean;
	}
	return clean;
}

/* Random mail-like blocks (long lines, dots, bare CRs and LFs, 8-bit octets
 * now and then), random encoder states: the same span, the same state. */
START_TEST(clean_span_agrees_with_the_octet_scan)
{
	static uint8_t	 buf[8192];
	struct data_enc	 a, b;
	size_t		 n, len, k, want, got;
	unsigned	 round;

	srandom(23);
	for (round = 0; round < 3000; round++) {
		n = random_mail(buf, sizeof(buf));
		data_enc_init(&a, random() % 3 == 0);
		a.bol = random() % 4 != 0;
		a.linelen = a.bol ? 0 : (size_t)(random() % 1000);
		a.cr = random() % 50 == 0;
		b = a;
		/* a block may start and end anywhere */
		k = n > 0 ? (size_t)random() % (n / 4 + 1) : 0;
		len = n - k - (n - k > 0 ? (size_t)random() % ((n - k) / 4 + 1) : 0);
		want = clean_octets(&a, buf + k, len);
		got = data_enc_clean(&b, buf + k, len);
		ck_assert_msg(got == want, "round %u: %zu, the octet scan %zu", round, got, want);
		ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	}
}
END_TEST

/* The octet-at-a-time encoder data_enc_feed() was before it copied clean
 * lines whole: the oracle of the test below. */
static ssize_t
feed_octets(struct data_enc *e, const uint8_t *in, size_t n, uint8_t *out)
{
	uint8_t	*o = out;
	size_t	 i;
	uint8_t	 c;

	for (i = 0; i < n; i++) {
		c = in[i];
		if (e->cr) {
			e->cr = false;
			*o++ = '\r';
			*o++ = '\n';
			e->bol = true;
			e->linelen = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			e->cr = true;
			continue;
		}
		if (c == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			e->bol = true;
			e->linelen = 0;
			continue;
		}
		if (c >= 0x80 && e->reject_8bit)
			return DATA_ERR_8BIT;
		if (++e->linelen > DATA_LINE_MAX)
			return DATA_ERR_LONGLINE;
		if (e->bol && c == '.')
			*o++ = '.';
		e->bol = false;
		*o++ = c;
	}
	e->in += n;
	e->out += o - out;
	return o - out;
}

/* Random mail-like content fed in random pieces to both encoders: the same
 * wire bytes, the same state after every piece, the same first error. */
START_TEST(feed_agrees_with_the_octet_encoder)
{
	static uint8_t	 buf[8192], wa[DATA_ENC_OUTMAX(8192)], wb[DATA_ENC_OUTMAX(8192)];
	struct data_enc	 a, b;
	size_t		 n, off, piece;
	ssize_t		 ra, rb;
	unsigned	 round;

	srandom(29);
	for (round = 0; round < 3000; round++) {
		n = random_mail(buf, sizeof(buf));
		data_enc_init(&a, random() % 3 == 0);
		b = a;
		for (off = 0; off < n; off += piece) {
			piece = random() % 3 == 0 ? n - off : 1 + (size_t)random() % (n - off);
			ra = feed_octets(&a, buf + off, piece, wa);
			rb = data_enc_feed(&b, buf + off, piece, wb);
			ck_assert_msg(ra == rb, "round %u at %zu: %zd, the octet encoder %zd",
			    round, off, rb, ra);
			if (ra < 0)
				break;
			ck_assert(memcmp(wa, wb, (size_t)ra) == 0);
			ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
		}
	}
}
END_TEST

static Suite *
agent_data_suite(void)
{
	Suite	*s = suite_create("agent_data");
	TCase	*tc = tcase_create("data");

	tcase_add_loop_test(tc, content_is_encoded_for_the_wire, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, line_limit_is_998, 0, 2);
	tcase_add_loop_test(tc, output_bound_holds, 0, 5);
	tcase_add_loop_test(tc, clean_spans_give_the_same_wire_bytes, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, clean_span_stops_where_encoding_is_needed, 0, 11);
	tcase_add_test(tc, clean_span_keeps_the_line_limit);
	tcase_add_test(tc, clean_span_agrees_with_the_octet_scan);
	tcase_add_test(tc, feed_agrees_with_the_octet_encoder);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(agent_data_suite());
}
