/* SPDX-License-Identifier: ISC */
/*
 * fuzz_agent_data.c - libFuzzer target for the delivery agent's DATA encoding
 * (daemons/agent/agent_data.c). The first byte picks the block size the
 * content is fed in; the rest is the content. Checks that the output never
 * outgrows its bound, holds no bare CR or LF, ends with CRLF "." CRLF, and
 * decodes (dot removal) back to the content with every line end as CRLF;
 * or that a refusal was right (a line over 998 characters, 8-bit bytes).
 * Then encodes it again as the agent does over plain TCP (the spans
 * data_enc_clean() passes taken as they are, the encoder for the lines
 * between) and checks that the wire bytes are the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The content with LF, CR and CRLF all made CRLF, and a final CRLF. */
static size_t
normalise(const uint8_t *in, size_t n, uint8_t *out, size_t *maxline, bool *eight)
{
	size_t	 i, o = 0, line = 0;

	*maxline = 0;
	*eight = false;
	for (i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			line = 0;
			continue;
		}
		if (in[i] >= 0x80)
			*eight = true;
		if (++line > *maxline)
			*maxline = line;
		out[o++] = in[i];
	}
	if (o > 0 && !(o >= 2 && out[o - 2] == '\r' && out[o - 1] == '\n' && line == 0)) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* The plain-TCP way (agent_session.c); returns the bytes, or 0 on a refusal. */
static size_t
encode_spans(const uint8_t *data, size_t size, size_t block, bool reject, uint8_t *out)
{
	struct data_enc	 e;
	const uint8_t	*nl;
	size_t		 off = 0, n, span, o = 0;
	ssize_t		 m;

	data_enc_init(&e, reject);
	while (off < size) {
		n = size - off < block ? size - off : block;
		if ((span = data_enc_clean(&e, data + off, n)) > 0) {
			if (span > n)
				abort();
			memcpy(out + o, data + off, span);
			o += span;
			off += span;
			continue;
		}
		if ((nl = memchr(data + off, '\n', n)) != NULL)
			n = nl - (data + off) + 1;
		if ((m = data_enc_feed(&e, data + off, n, out + o)) < 0)
			return 0;
		o += m;
		off += n;
	}
	o += data_enc_finish(&e, out + o);
	if (e.out != o)
		abort();
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct data_enc	 e;
	uint8_t		*out, *norm, *dec;
	size_t		 block, off = 0, n, o = 0, nn, d = 0, i, maxline;
	ssize_t		 m;
	bool		 eight, reject, bol = true;

	if (size < 1)
		return 0;
	block = 1 + data[0] % 64;
	reject = data[0] & 0x80;
	data++;
	size--;
	out = malloc(DATA_ENC_OUTMAX(size) + DATA_ENC_FINISH_MAX);
	norm = malloc(2 * size + 2);
	dec = malloc(DATA_ENC_OUTMAX(size) + DATA_ENC_FINISH_MAX);
	nn = normalise(data, size, norm, &maxline, &eight);

	data_enc_init(&e, reject);
	while (off < size) {
		n = size - off < block ? size - off : block;
		m = data_enc_feed(&e, data + off, n, out + o);
		if (m < 0) {
			if (m == DATA_ERR_LONGLINE && maxline <= DATA_LINE_MAX)
				abort();
			if (m == DATA_ERR_8BIT && !(reject && eight))
				abort();
			goto done;
		}
		if ((size_t)m > DATA_ENC_OUTMAX(n))
			abort();
		o += m;
		off += n;
	}
	if (maxline > DATA_LINE_MAX || (reject && eight))
		abort();
	o += data_enc_finish(&e, out + o);
	if (o < 3 || memcmp(out + o - 3, ".\r\n", 3) != 0)
		abort();
	for (i = 0; i < o; i++) {
		if (out[i] == '\r' && (i + 1 >= o || out[i + 1] != '\n'))
			abort();
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
	}
	/* Undo transparency: drop the first dot of each line; stop at the lone dot. */
	for (i = 0; i < o - 3; i++) {
		if (bol && out[i] == '.') {
			bol = false;
			continue;
		}
		bol = out[i] == '\n';
		dec[d++] = out[i];
	}
	if (d != nn || memcmp(dec, norm, d) != 0)
		abort();
	if (encode_spans(data, size, block, reject, dec) != o || memcmp(dec, out, o) != 0)
		abort();
done:
	free(out);
	free(norm);
	free(dec);
	return 0;
}
