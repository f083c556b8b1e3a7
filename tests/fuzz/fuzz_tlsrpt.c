/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tlsrpt.c - libFuzzer target for TLS-RPT: the input read as an
 * _smtp._tls TXT record, and its text used as every string of a report
 * whose JSON must stay well quoted (no raw control character, as many
 * unescaped quotes as the builder's own). Nothing may crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_rua	 rua;
	const char		*why;
	char			*copy = malloc(size + 1), *json;
	const char		*strs[1];
	struct tlsrpt_failure	 fail;
	struct tlsrpt_policy	 pol;
	struct tlsrpt_report	 rep;
	size_t			 len, i;

	memcpy(copy, data, size);
	copy[size] = '\0';
	if (tlsrpt_txt_parse(copy, size, &rua, &why) == 0 && (rua.n == 0 || rua.n > TLSRPT_RUA_MAX))
		abort();
	strs[0] = copy;
	fail = (struct tlsrpt_failure){ copy, copy, copy, 1, copy };
	pol = (struct tlsrpt_policy){ TLSRPT_STS, copy, strs, 1, strs, 1, 1, 1, &fail, 1 };
	rep = (struct tlsrpt_report){ copy, copy, copy, 0, 86399, &pol, 1 };
	json = tlsrpt_json(&rep, &len);
	for (i = 0; i < len; i++)
		if ((unsigned char)json[i] < 0x20)
			abort();
	free(json);
	free(copy);
	return 0;
}
