/* SPDX-License-Identifier: ISC */
/*
 * fuzz_log_fields.c - libFuzzer target for the splitting of a recipient
 * line into fields (shared/log_fields.c), which the journal and JSON forms
 * use on every line a child hands over: whatever the text, no field is read
 * or written outside it, the count stays within max, every key is a short
 * lower-case name, and every value lies inside the text.
 *
 * Input: 1 byte selecting max (0 to 16), then the text (cut at a NUL).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log_field	 f[LOG_FIELDS_MAX];
	char			*text;
	size_t			 max, n, len;

	if (size < 1)
		return 0;
	max = data[0] % (LOG_FIELDS_MAX + 1);
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	len = strlen(text);
	n = log_fields(text, f, max);
	if (n > max)
		abort();
	if (n > 0 && strcmp(f[0].key, "queue_id") != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t klen = strlen(f[i].key);
		if (klen == 0 || klen >= LOG_FIELD_KEY)
			abort();
		for (size_t k = 0; k < klen; k++)
			if ((f[i].key[k] < 'a' || f[i].key[k] > 'z') && f[i].key[k] != '_')
				abort();
		if (f[i].val < text || f[i].val + f[i].len > text + len)
			abort();
	}
	free(text);
	return 0;
}
