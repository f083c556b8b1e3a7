/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tlsrpt_store.c - libFuzzer target for the TLS-RPT counter file the
 * sts process reads back at start (sts_rpt_store.c): decoded, and when
 * accepted encoded again to the same bytes and counted into without
 * breaking its bounds. Anything may be rejected; nothing may crash or read
 * out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts/sts_rpt.h"
#include "tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		*copy = malloc(size ? size : 1), *again;
	struct rpt_set	 s;
	const char	*why;
	size_t		 n;

	memcpy(copy, data, size);
	if (rpt_decode(copy, size, &s, &why) == 0) {
		n = rpt_encode(&s, &again);
		if (n != size || memcmp(again, data, n) != 0)
			abort();
		free(again);
		if (s.n > RPT_POLICIES_MAX)
			abort();
		(void)rpt_count(&s, 1, "fuzz.example", TLSRPT_STS, TLSRPT_CERT_EXPIRED,
		    "mx.fuzz.example", "192.0.2.1", "198.51.100.7", NULL, 0);
		rpt_set_free(&s);
	}
	free(copy);
	return 0;
}
