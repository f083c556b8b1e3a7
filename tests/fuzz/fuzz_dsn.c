/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dsn.c - libFuzzer target for the DSN builder (shared/dsn.c): any
 * original content and any reply text, address or host name from outside
 * give a DSN whose lines are CRLF and at most 998 octets, with no NUL, no
 * 8-bit byte unless allowed, and a boundary found only at its 4 delimiters.
 *
 * Input: 1 byte of flags, then the untrusted text (used as the reply, the
 * recipient address and the remote host), a NUL byte, then the content.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t	*p;
	size_t		 len;
};

static ssize_t
rd_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct rd *r = arg;

	if (off >= r->len)
		return 0;
	if (len > r->len - off)
		len = r->len - off;
	if (len > 777)
		len = 777;
	memcpy(buf, r->p + off, len);
	return (ssize_t)len;
}

static size_t
count(const char *s, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = s, *q;

	while ((q = memmem(p, len - (size_t)(p - s), needle, nl)) != NULL) {
		n++;
		p = q + 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t whole[] = { 0, 1, 64, 1000 };
	const uint8_t *nul;
	struct dsn_mail m = { .queue_id = "0123456789ABCDEF01234567", .sender = "a@example.org",
	    .arrival = 1 };
	struct dsn_rcpt r[2];
	struct dsn_opts o = { .helo_name = "mx.example.org", .now = 2 };
	struct dsn_out out;
	struct rd rd;
	char *text, *b, *e, delim[100];
	size_t i, line = 0, tlen;
	uint8_t fl;

	if (size < 1)
		return 0;
	fl = data[0];
	data++, size--;
	nul = memchr(data, '\0', size);
	tlen = nul ? (size_t)(nul - data) : size;
	text = malloc(tlen + 1);
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	rd.p = nul ? nul + 1 : data + size;
	rd.len = nul ? size - tlen - 1 : 0;

	m.eightbit = fl & 1;
	o.allow_8bit = fl & 2;
	o.whole_max = whole[(fl >> 5) & 3];
	m.content_len = rd.len;
	if (fl & 16) {
		m.read = rd_read;
		m.read_arg = &rd;
	} else
		m.content = (const char *)rd.p;
	r[0] = (struct dsn_rcpt){ text[0] ? text : "x@y", (fl & 4) ? DSN_ACTION_DELAYED :
	    DSN_ACTION_FAILED, text, text, text, fl & 8, 3, 4 };
	r[1] = (struct dsn_rcpt){ "b@example.net", DSN_ACTION_FAILED, "5.1.1", NULL, text,
	    false, 0, 0 };

	if (dsn_build(&m, r, (fl & 128) ? 2 : 1, &o, &out) != 0)
		abort();	/* valid arguments are never refused */
	if (out.eightbit && !o.allow_8bit)
		abort();
	for (i = 0; i < out.len; i++) {
		unsigned char c = (unsigned char)out.buf[i];

		if (c == '\r') {
			if (i + 1 >= out.len || out.buf[i + 1] != '\n' || line > 998)
				abort();
			line = 0;
			i++;
			continue;
		}
		if (c == '\n' || c == '\0' || (c >= 0x80 && !out.eightbit))
			abort();
		line++;
	}
	if (line != 0)
		abort();
	b = strstr(out.buf, "boundary=\"");
	if (b == NULL || (e = strchr(b + 10, '"')) == NULL || e - b - 10 > 70)
		abort();
	memcpy(delim, "--", 2);
	memcpy(delim + 2, b + 10, (size_t)(e - b - 10));
	delim[2 + e - b - 10] = '\0';
	if (count(out.buf, out.len, delim) != 4)
		abort();
	dsn_out_free(&out);
	free(text);
	return 0;
}
