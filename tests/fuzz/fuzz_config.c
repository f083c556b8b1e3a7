/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config.c - libFuzzer target for the configuration parser: any text
 * yields a config or a list of errors, never a crash or an overflow.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	c;
	char		err[4096];

	(void)config_parse(&c, "fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (c.nroutes > 0)
		(void)config_route(&c, "a.b.example.org");
	config_free(&c);
	return 0;
}
