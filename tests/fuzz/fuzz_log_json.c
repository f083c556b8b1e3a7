/* SPDX-License-Identifier: ISC */
/*
 * fuzz_log_json.c - libFuzzer target for the JSON log line (shared/
 * log_json.c): any text a child hands over, in any output size, gives one
 * valid JSON object ending in a newline, NUL-terminated inside the buffer,
 * with no control character and every string closed.
 *
 * Input: 1 byte selecting the output size, then the text (cut at a NUL).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A strict little checker for what log_json_line may write: an object of
 * string and integer values. */
static const char *
skip_string(const char *p)
{
	if (*p++ != '"')
		abort();
	while (*p != '"') {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdef", p[i]) == NULL || p[i] == '\0')
						abort();
				p += 4;
			} else if (*p != '"' && *p != '\\')
				abort();
		}
		p++;
	}
	return p + 1;
}

static void
check(const char *s, size_t n)
{
	const char	*p = s;

	if (strlen(s) != n || n < 3 || s[n - 1] != '\n' || s[n - 2] != '}' || *p++ != '{')
		abort();
	for (;;) {
		p = skip_string(p);
		if (*p++ != ':')
			abort();
		if (*p == '"')
			p = skip_string(p);
		else {
			if (*p == '-')
				p++;
			if (*p < '0' || *p > '9')
				abort();
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == '}')
			break;
		if (*p++ != ',')
			abort();
	}
	if (p != s + n - 2)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	out[8192];
	char		*text;
	size_t		 outlen, n;

	if (size < 1)
		return 0;
	outlen = 24 + (size_t)data[0] * 24;
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	n = log_json_line(out, outlen, "2026-01-01T00:00:00.000000+00:00", "host", "agent", 3,
	    12345, "info", text);
	if (n >= outlen)
		abort();
	check(out, n);
	free(text);
	return 0;
}
