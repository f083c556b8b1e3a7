/* SPDX-License-Identifier: ISC */
/*
 * log_json.h - one log line as one JSON object (log_format = json), with the
 * fields of a Postfix-form line ("QUEUEID: to=<...>, relay=..., status=sent
 * (reply)") as their own keys, for Loki, Elasticsearch and the journal.
 * Used by the master's log writer (log.c); pure, so it is unit tested and
 * fuzzed.
 */
#ifndef OUTPOST_LOG_JSON_H
#define OUTPOST_LOG_JSON_H

#include <stddef.h>

/*
 * Write the object and a newline into out (always NUL-terminated; a line too
 * long for out is cut and still closed as valid JSON). Returns its length.
 * instance < 0: the process has one instance.
 */
size_t	log_json_line(char *out, size_t outlen, const char *time, const char *host,
	    const char *role, int instance, long pid, const char *level, const char *text);

#endif
