/* SPDX-License-Identifier: ISC */
/*
 * fuzz_shape.c - libFuzzer target for the traffic-shaping parsers: a
 * [destinations] line (key and value split at the first NUL or '='), its
 * lookups, and the reading of a server reply for throttling and a
 * suggested wait. Any input gives a result or an error, never a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_dest.h"
#include "scheduler/sched_shape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config		 c;
	struct dest_conf	 d;
	char			*text, *eq, err[512], line[1024];

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)shape_reply_throttles(421, "4.7.0", text);
	(void)shape_reply_throttles(451, text, text);
	(void)shape_reply_wait(text, 3600);
	if ((eq = strchr(text, '=')) != NULL) {
		*eq = '\0';
		if (config_dest_parse(text, eq + 1, &d, err, sizeof(err)) == 0) {
			config_dest_format(&d, line, sizeof(line));
			memset(&c, 0, sizeof(c));
			if (config_dest_add(&c, &d, err, sizeof(err)) == 0) {
				(void)config_dest_domain(&c, "a.b.example.org");
				(void)config_dest_mx(&c, "alt1.mx.example.net.");
			}
			free(c.destinations);
		}
	}
	free(text);
	return 0;
}
