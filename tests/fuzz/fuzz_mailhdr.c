/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mailhdr.c - libFuzzer target for RFC 5322 header scanning and the
 * local-submission preparation built on it (shared/mailhdr.c,
 * shared/localmail.c): any message yields a prepared message or a clear
 * refusal, never a crash, an overflow or a read past the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "localmail.h"
#include "mailhdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count(const char *addr, void *arg)
{
	(*(size_t *)arg) += strlen(addr) + 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct localmail_opts o = {
		.extract = true, .from_addr = "u@h.example", .fullname = "F",
		.helo_name = "h.example", .unique = "00", .now = 0,
	};
	struct rcptlist rl = { NULL, 0, 0 };
	struct mailhdr_field f;
	const char *msg = (const char *)data, *err;
	char *copy, *out, ebuf[512];
	size_t body, hdr, off = 0, n = 0, outlen;

	/* Exact-size copy: any read past the input is caught by ASan. */
	copy = malloc(size ? size : 1);
	memcpy(copy, msg, size);
	hdr = mailhdr_section(copy, size, &body);
	while (mailhdr_next(copy, hdr, &off, &f))
		(void)mailhdr_addresses(f.value, f.valuelen, count, &n, &err);
	(void)mailhdr_remove(copy, size, hdr, "Bcc");
	free(copy);

	if (localmail_prepare(&o, msg, size, &rl, &out, &outlen, ebuf, sizeof(ebuf)) == 0)
		free(out);
	rcptlist_free(&rl);
	return 0;
}
