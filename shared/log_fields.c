/* SPDX-License-Identifier: ISC */
/*
 * log_fields.c - split a Postfix-form recipient line into fields (see
 * log_fields.h). Run by the master for every line of a structured log form.
 *
 * The text is a child's, so it is untrusted: nothing is split unless the
 * whole line has the form, and the values only ever point into the text.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "log_fields.h"

static bool
add(struct log_field *f, size_t *n, size_t max, const char *key, size_t klen,
    const char *val, size_t len)
{
	if (*n >= max || klen == 0 || klen >= LOG_FIELD_KEY)
		return false;
	memcpy(f[*n].key, key, klen);
	f[*n].key[klen] = '\0';
	f[*n].val = val;
	f[*n].len = len;
	(*n)++;
	return true;
}

size_t
log_fields(const char *text, struct log_field *f, size_t max)
{
	const char	*p = text, *k, *v, *end, *close;
	size_t		 n = 0, klen;

	while (isalnum((unsigned char)*p))
		p++;
	if (p == text || p - text > 32 || strncmp(p, ": ", 2) != 0)
		return 0;
	if (!add(f, &n, max, "queue_id", 8, text, p - text))
		return 0;
	p += 2;
	while (*p != '\0') {
		k = p;
		while (islower((unsigned char)*p) || *p == '_')
			p++;
		klen = p - k;
		if (klen == 0 || *p != '=')
			return 0;
		v = ++p;
		if (*v == '<') {
			if ((end = strchr(v, '>')) == NULL || !add(f, &n, max, k, klen, v + 1, end - v - 1))
				return 0;
			p = end + 1;
		} else if (klen == 6 && strncmp(k, "status", 6) == 0) {
			/* A word, then the reply in parentheses (it may hold some). */
			end = v;
			while (*end != '\0' && *end != ' ' && *end != ',')
				end++;
			if (!add(f, &n, max, k, klen, v, end - v))
				return 0;
			p = end;
			if (end[0] == ' ' && end[1] == '(') {
				if ((close = strrchr(end + 2, ')')) == NULL ||
				    !add(f, &n, max, "reply", 5, end + 2, close - end - 2))
					return 0;
				p = close + 1;
			}
		} else {
			end = v;
			while (*end != '\0' && *end != ',')
				end++;
			if (!add(f, &n, max, k, klen, v, end - v))
				return 0;
			p = end;
		}
		if (*p == '\0')
			break;
		if (strncmp(p, ", ", 2) != 0)
			return 0;
		p += 2;
	}
	return n;
}
