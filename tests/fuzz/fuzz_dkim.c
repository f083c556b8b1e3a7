/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dkim.c - libFuzzer target for DKIM's parsers and canonicalization
 * (shared/dkim_canon.c, shared/dkim_sign.c): any message yields canonical
 * forms and a header list, never a crash or a read past the input, and the
 * canonical body does not depend on where the blocks were cut. The [dkim]
 * section is fuzzed with the rest of the configuration (fuzz_config).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_sign.h"
#include "mailhdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
collect(void *arg, const void *p, size_t n)
{
	buf_add(arg, p, n);
}

static void
canon_body(enum dkim_canon c, const uint8_t *p, size_t n, size_t step, struct buf *out)
{
	struct dkim_body b;

	dkim_body_init(&b, c, collect, out);
	for (size_t i = 0; i < n; i += step)
		dkim_body_feed(&b, p + i, n - i < step ? n - i : step);
	dkim_body_finish(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_hdrs h;
	struct buf list = { NULL, 0, 0 }, hc = { NULL, 0, 0 };
	const char *why;
	char *copy, dom[256];
	size_t hdr, body, step;

	if (size == 0)
		return 0;
	step = 1 + data[0] % 7;
	/* Exact-size copy: any read past the input is caught by ASan. */
	copy = malloc(size);
	memcpy(copy, data, size);
	hdr = mailhdr_section(copy, size, &body);
	dkim_hdrs_parse(copy, hdr, &h);
	(void)dkim_from_domain(&h, dom, sizeof(dom), &why);
	dkim_header_list(&h, &list);
	for (size_t i = 0; i < h.n; i++) {
		dkim_header_canon(DKIM_RELAXED, h.f[i].p, h.f[i].len, &hc);
		dkim_header_canon(DKIM_SIMPLE, h.f[i].p, h.f[i].len, &hc);
	}
	for (int c = DKIM_SIMPLE; c <= DKIM_RELAXED; c++) {
		struct buf a = { NULL, 0, 0 }, b = { NULL, 0, 0 };
		canon_body(c, (const uint8_t *)copy + body, size - body, size, &a);
		canon_body(c, (const uint8_t *)copy + body, size - body, step, &b);
		if (a.len != b.len || (a.len > 0 && memcmp(a.p, b.p, a.len) != 0))
			abort();
		/* Canonical output has CRLF line ends only. */
		for (size_t i = 0; i < a.len; i++) {
			if (a.p[i] == '\n' && (i == 0 || a.p[i - 1] != '\r'))
				abort();
			if (a.p[i] == '\r' && (i + 1 == a.len || a.p[i + 1] != '\n'))
				abort();
		}
		buf_free(&a);
		buf_free(&b);
	}
	buf_free(&list);
	buf_free(&hc);
	dkim_hdrs_free(&h);
	free(copy);
	return 0;
}
