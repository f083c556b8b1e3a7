/* SPDX-License-Identifier: ISC */
/*
 * log_json.c - a log line as a JSON object (see log_json.h). Run by the
 * master for every line when log_format = json.
 *
 * The text is a child's, so it is treated as untrusted: it is only ever
 * escaped into JSON strings, and split into fields only when it has exactly
 * the Postfix form; anything else stays a plain "message".
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log_fields.h"
#include "log_json.h"

struct out {
	char	*p;
	size_t	 len, used;
	bool	 full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	/* Keep room for the closing "}\n" and the NUL. */
	if (o->full || o->used + n + 3 > o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->used, s, n);
	o->used += n;
}

static void
puts_raw(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A JSON string of n bytes of s; bytes outside printable ASCII become \u00XX. */
static void
put_jstr(struct out *o, const char *s, size_t n)
{
	char	esc[8];
	size_t	i, start = 0;
	size_t	mark = o->used;

	put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			continue;
		put(o, s + start, i - start);
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(o, esc, 6);
		}
		start = i + 1;
	}
	put(o, s + start, n - start);
	put(o, "\"", 1);
	if (o->full) {
		/* Never leave half a string: drop it whole. */
		o->used = mark;
	}
}

static void
put_key(struct out *o, const char *key, const char *val, size_t n)
{
	size_t	mark = o->used;

	if (o->full)
		return;
	put(o, ",", 1);
	put_jstr(o, key, strlen(key));
	put(o, ":", 1);
	put_jstr(o, val, n);
	if (o->full)
		o->used = mark;		/* never a key without its value */
}

/* A recipient line's fields as their own keys (log_fields.h), all or none. */
static void
rcpt_fields(struct out *o, const char *text)
{
	struct log_field	f[LOG_FIELDS_MAX];
	size_t			n = log_fields(text, f, LOG_FIELDS_MAX);

	for (size_t i = 0; i < n; i++)
		put_key(o, f[i].key, f[i].val, f[i].len);
}

size_t
log_json_line(char *out, size_t outlen, const char *time, const char *host,
    const char *role, int instance, long pid, const char *level, const char *text)
{
	struct out	o = { out, outlen, 0, false };
	char		num[32];

	if (outlen < 24) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	/* A constant first member: every later one is ",key:value", whole or absent. */
	puts_raw(&o, "{\"source\":\"outpost\"");
	put_key(&o, "time", time, strlen(time));
	put_key(&o, "host", host, strlen(host));
	put_key(&o, "process", role, strlen(role));
	if (instance >= 0) {
		snprintf(num, sizeof(num), ",\"instance\":%d", instance);
		puts_raw(&o, num);
	}
	snprintf(num, sizeof(num), ",\"pid\":%ld", pid);
	puts_raw(&o, num);
	put_key(&o, "level", level, strlen(level));
	put_key(&o, "message", text, strlen(text));
	rcpt_fields(&o, text);
	/* put() kept room for these. */
	memcpy(out + o.used, "}\n", 3);
	return o.used + 2;
}
