/* SPDX-License-Identifier: ISC */
/*
 * fuzz_aliases.c - libFuzzer target for the aliases file parser and the
 * expansion of recipients through what it parsed: any text yields a table
 * or a list of errors, and any table expands within its bounds (loops and
 * depth refused), never a crash or an overflow.
 */
#include <stddef.h>
#include <stdint.h>

#include "aliases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count(const char *addr, void *arg)
{
	(*(unsigned *)arg)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aliases	a;
	char		err[4096];
	unsigned	n = 0;
	size_t		i;

	if (aliases_parse(&a, "fuzz.aliases", (const char *)data, size, err, sizeof(err)) == -1)
		return 0;
	(void)aliases_check(&a, "fuzz.aliases", "example.org", "", err, sizeof(err));
	for (i = 0; i < a.n && i < 8; i++)
		(void)aliases_expand(&a, "example.org", i % 2 ? "admin@example.net" : "",
		    a.v[i].name, count, &n, err, sizeof(err));
	(void)aliases_expand(&a, "example.org", "", "root@EXAMPLE.org", count, &n, err,
	    sizeof(err));
	aliases_free(&a);
	return 0;
}
