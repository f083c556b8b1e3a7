/* SPDX-License-Identifier: ISC */
/*
 * fuzz_resolver_tlsa.c - libFuzzer target for the reading of TLSA record
 * data (DANE): one record decoded alone, and the input split into up to 64
 * records (a length byte before each) read as a TLSA answer, secure and
 * bogus. Anything may be rejected; nothing may crash or read out of bounds,
 * and every record kept must be one the agent accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "dane.h"
#include "resolver/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ub_result res;
	char		*rd[65];
	int		 len[65];
	struct dane_rr	 rr[DANE_RR_MAX], one;
	struct ranswer	 a;
	const char	*why;
	uint16_t	 seen;
	size_t		 off = 0, n = 0, i, k;

	/* exact-size copy so that ASan sees any overread */
	if (size > 0) {
		uint8_t *copy = malloc(size);

		memcpy(copy, data, size);
		if (dane_rr_decode(copy, size, &one, &why) == 1 && !dane_rr_usable(&one))
			abort();
		free(copy);
	}

	while (off < size && n < 64) {
		size_t l = data[off++];

		if (l > size - off)
			l = size - off;
		rd[n] = malloc(l ? l : 1);
		memcpy(rd[n], data + off, l);
		len[n++] = (int)l;
		off += l;
	}
	rd[n] = NULL;
	memset(&res, 0, sizeof(res));
	res.qname = (char *)"_25._tcp.fuzz.example";
	res.qtype = RR_TLSA;
	res.data = rd;
	res.len = len;
	res.havedata = n > 0;

	for (k = 0; k < 2; k++) {
		res.secure = k == 0;
		res.bogus = k == 1;
		why = NULL;
		rdata_classify(0, &res, false, &a);
		n = rdata_tlsa_list(&res, &a, rr, DANE_RR_MAX, &seen, &why);
		if (n > DANE_RR_MAX || n > seen)
			abort();
		for (i = 0; i < n; i++)
			if (!dane_rr_usable(&rr[i]))
				abort();
	}

	for (i = 0; rd[i] != NULL; i++)
		free(rd[i]);
	return 0;
}
