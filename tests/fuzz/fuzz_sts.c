/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sts.c - libFuzzer target for the MTA-STS parsers: the input read as
 * a _mta-sts TXT record and as a policy file (exact-size copies, so that
 * ASan sees any overread), and every host name of the input matched against
 * the policy it gave. Anything may be rejected; nothing may crash, and what
 * is accepted must keep the documented bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy	 p;
	char			 id[STS_ID_MAX], host[STS_HOST_MAX];
	const char		*why;
	char			*copy = malloc(size ? size : 1);
	size_t			 i;

	memcpy(copy, data, size);
	if (sts_txt_parse(copy, size, id, &why) == 0 &&
	    (id[0] == '\0' || strlen(id) >= STS_ID_MAX))
		abort();
	if (sts_policy_parse(copy, size, &p, &why) == 0) {
		if (p.nmx > STS_MX_MAX || p.max_age > STS_MAX_AGE_MAX ||
		    (p.mode != STS_MODE_NONE && p.nmx == 0))
			abort();
		for (i = 0; i < p.nmx; i++)
			if (strlen(p.mx[i]) >= STS_HOST_MAX)
				abort();
		/* the first line of the input as a host name */
		for (i = 0; i < size && i + 1 < sizeof(host) && data[i] != '\n'; i++)
			host[i] = data[i] ? (char)data[i] : 'x';
		host[i] = '\0';
		(void)sts_mx_match(&p, host);
	}
	free(copy);
	return 0;
}
