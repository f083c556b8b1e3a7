/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtpd_cmd.c - libFuzzer target for what smtpd parses from a client
 * (daemons/smtpd): the command-line parser, and the DATA stream scanner.
 *
 * The first byte picks the mode. Mode 0 parses the rest as one command
 * line: a parse is either a verb or a reply with a 2xx-5xx code. Mode 1
 * feeds the rest to the DATA scanner twice, whole and split at points taken
 * from the input, with a small output buffer: both must agree octet for
 * octet, consume the same input and reach the same end and error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_line(const uint8_t *data, size_t size)
{
	char			line[SMTPD_CMD_MAX + 1];
	struct smtp_cmd		cmd;
	struct smtp_reply	err;

	if (size > SMTPD_CMD_MAX)
		size = SMTPD_CMD_MAX;
	memcpy(line, data, size);
	line[size] = '\0';
	if (smtpd_cmd_parse(line, size, &cmd, &err) == -1) {
		if (err.code < 200 || err.code > 599 || err.dsn == NULL ||
		    err.text[0] == '\0')
			abort();
		return;
	}
	if (cmd.verb == CMD_UNKNOWN || cmd.verb == CMD_NOTIMPL || cmd.arg == NULL)
		abort();
	if (cmd.verb == CMD_RCPT && (cmd.size_set || cmd.body != BODY_NONE))
		abort();	/* RCPT takes no parameters */
	if (cmd.verb == CMD_RCPT && cmd.path.null)
		abort();
}

struct run {
	uint8_t			*out;
	size_t			 outlen;
	size_t			 consumed;
	struct data_state	 d;
};

static void
feed(struct run *r, const uint8_t *in, size_t len, size_t step, uint64_t max)
{
	uint8_t	chunk[7];
	size_t	off = 0, n, used, clen;

	data_init(&r->d, max);
	r->outlen = 0;
	while (off < len && !r->d.done) {
		n = len - off < step ? len - off : step;
		clen = 0;
		used = data_feed(&r->d, in + off, n, chunk, sizeof(chunk), &clen);
		if (used > n || clen > sizeof(chunk) || clen > used + 1)
			abort();
		memcpy(r->out + r->outlen, chunk, clen);
		r->outlen += clen;
		off += used;
		if (used == 0 && !r->d.done)
			abort();	/* stalled with an empty output */
	}
	r->consumed = off;
}

static void
scan_data(const uint8_t *data, size_t size)
{
	struct run	a, b;
	size_t		step;
	uint64_t	max;

	if (size < 2)
		return;
	step = data[0] % 13 + 1;
	max = data[1] % 4 == 0 ? 0 : (uint64_t)data[1] * 4;
	data += 2;
	size -= 2;
	a.out = malloc(size + 8);
	b.out = malloc(size + 8);
	if (a.out == NULL || b.out == NULL)
		abort();
	feed(&a, data, size, size, max);
	feed(&b, data, size, step, max);
	if (a.consumed != b.consumed || a.d.done != b.d.done ||
	    a.d.error != b.d.error || a.outlen != b.outlen ||
	    memcmp(a.out, b.out, a.outlen) != 0 || a.outlen > a.consumed)
		abort();
	if (max != 0 && a.outlen > max)
		abort();
	free(a.out);
	free(b.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	if (data[0] % 2 == 0)
		parse_line(data + 1, size - 1);
	else
		scan_data(data + 1, size - 1);
	return 0;
}
