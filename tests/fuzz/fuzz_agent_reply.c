/* SPDX-License-Identifier: ISC */
/*
 * fuzz_agent_reply.c - libFuzzer target for the delivery agent's SMTP reply
 * parser and EHLO capability parsing (daemons/agent/agent_reply.c,
 * agent_ehlo.c): whatever a server sends, the parser ends in a bounded
 * reply or a clear error, and the kept text stays printable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const struct reply *r)
{
	struct ehlo_caps	 caps;
	const char		*l;
	size_t			 i, n = 0;

	if (r->code < 200 || r->code > 559 || strlen(r->text) != r->textlen ||
	    r->textlen >= REPLY_MAX || strlen(r->dsn) >= DSN_MAX)
		abort();
	for (i = 0; i < r->textlen; i++)
		if ((unsigned char)r->text[i] < 0x20 && r->text[i] != '\t')
			abort();
	for (l = reply_next_line(r, NULL); l != NULL; l = reply_next_line(r, l))
		n++;
	if (n != r->nlines)
		abort();
	ehlo_parse(r, &caps);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply	 r;
	size_t		 off = 0, used;
	const uint8_t	*nl;
	int		 st;

	reply_init(&r);
	while (off < size) {
		st = reply_feed(&r, (const char *)data + off, size - off, &used);
		if (st == REPLY_ERROR) {
			if (r.error == NULL)
				abort();
			reply_reset(&r);
			/* Resynchronise after the next line, as a fresh reply. */
			nl = memchr(data + off, '\n', size - off);
			if (nl == NULL)
				break;
			off = nl - data + 1;
			continue;
		}
		if (st == REPLY_MORE && used == 0)
			break;
		off += used;
		if (st == REPLY_DONE) {
			check_reply(&r);
			reply_reset(&r);
		}
	}
	reply_free(&r);
	return 0;
}
