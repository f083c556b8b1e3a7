/* SPDX-License-Identifier: ISC */
/*
 * fuzz_qmgr_msgid.c - libFuzzer target for the Message-ID the queue
 * manager logs (daemons/qmgr/qmgr_msgid.c): any content yields a bounded,
 * printable string without brackets, never a crash or a read past the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr/qmgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*copy, out[QMGR_MSGID_MAX], small[8];
	size_t	 i;

	/* Exact-size copy: any read past the input is caught by ASan. */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	qmgr_msgid_from_header(copy, size, out, sizeof(out));
	if (strlen(out) >= sizeof(out))
		abort();
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] <= ' ' || (unsigned char)out[i] >= 0x7f ||
		    out[i] == '<' || out[i] == '>')
			abort();
	qmgr_msgid_from_header(copy, size, small, sizeof(small));
	if (strlen(small) >= sizeof(small))
		abort();
	free(copy);
	return 0;
}
