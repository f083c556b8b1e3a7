/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sts_cache.c - libFuzzer target for what the MTA-STS side reads back
 * or from the network: the policy cache file (decoded, and when accepted
 * encoded again to the same bytes) and one TXT record's character-strings.
 * Anything may be rejected; nothing may crash or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts/sts.h"
#include "resolver/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		*copy = malloc(size ? size : 1), *again;
	char		 text[STS_TXT_MAX];
	const char	*why;
	size_t		 n;

	memcpy(copy, data, size);
	if (sts_cache_decode(copy, size, &why) == 0) {
		n = sts_cache_encode(&again);
		if (n != size || memcmp(again, data, n) != 0)
			abort();
		free(again);
	}
	sts_cache_clear();
	if (rdata_txt(copy, size, text, sizeof(text), &why) == 0 && strlen(text) >= sizeof(text))
		abort();
	free(copy);
	return 0;
}
