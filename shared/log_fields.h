/* SPDX-License-Identifier: ISC */
/*
 * log_fields.h - the fields of a Postfix-form recipient line ("QUEUEID:
 * to=<...>, relay=..., dsn=..., status=sent (reply)"), split for the
 * structured log forms: JSON keys (log_json.c) and the journal's fields
 * (daemons/master/master_journal.c). Pure, unit tested and fuzzed.
 */
#ifndef OUTPOST_LOG_FIELDS_H
#define OUTPOST_LOG_FIELDS_H

#include <stddef.h>

#define LOG_FIELDS_MAX	16
#define LOG_FIELD_KEY	32

struct log_field {
	char		 key[LOG_FIELD_KEY];	/* lower case and '_': "queue_id", "to", "reply" */
	const char	*val;			/* into the text, not NUL-ended */
	size_t		 len;
};

/*
 * Split text when it has exactly that form: the first field is queue_id,
 * then each key=value (<...> values without the brackets; status's word and
 * its parenthesised reply as "status" and "reply"). Returns the number of
 * fields, or 0 when the text is anything else (or has more than max).
 */
size_t	log_fields(const char *text, struct log_field *f, size_t max);

#endif
