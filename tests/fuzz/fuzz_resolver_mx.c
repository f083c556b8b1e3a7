/* SPDX-License-Identifier: ISC */
/*
 * fuzz_resolver_mx.c - libFuzzer target for the resolver's reading of DNS
 * record data: one MX record decoded alone, and the input split into up to
 * 64 records (a length byte before each) read as an MX answer and as A/AAAA
 * answers. Anything may be rejected; nothing may crash or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "resolver/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ub_result res;
	char		*rd[65];
	int		 len[65];
	char		 host[HOSTNAME_MAX];
	struct rmx	 mx[RESOLVER_MX_MAX];
	uint8_t		 addrs[RESOLVER_ADDRS_MAX][16];
	struct ranswer	 a;
	const char	*why;
	uint16_t	 pref;
	size_t		 off = 0, n = 0, i;

	/* exact-size copy so that ASan sees any overread */
	if (size > 0) {
		uint8_t *copy = malloc(size);

		memcpy(copy, data, size);
		(void)rdata_mx(copy, size, &pref, host, sizeof(host), &why);
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
	res.qname = (char *)"fuzz.example";
	res.data = rd;
	res.len = len;
	res.havedata = n > 0;

	res.qtype = 15;
	rdata_classify(0, &res, false, &a);
	(void)rdata_mx_list(&res, &a, mx, RESOLVER_MX_MAX, &why);
	res.qtype = 1;
	rdata_classify(0, &res, true, &a);
	(void)rdata_addrs(&res, 4, addrs, RESOLVER_ADDRS_MAX, &a, &why);
	res.qtype = 28;
	rdata_classify(0, &res, false, &a);
	(void)rdata_addrs(&res, 6, addrs, RESOLVER_ADDRS_MAX, &a, &why);

	for (i = 0; i < n; i++)
		free(rd[i]);
	return 0;
}
