/* SPDX-License-Identifier: ISC */
/*
 * master_trace.c - outpostctl trace: the master keeps the active traces
 * (a queue id, @domain, an address or client:IP, each until a time) and sends the whole
 * set to every child whenever it changes and to each child it starts
 * (MSG_CTL_TRACE). The children decide what their work matches (trace.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"
#include "trace.h"

static struct {
	char		sel[TRACE_SEL_MAX];
	time_t		until;
} traces[TRACE_MAX];
static unsigned	ntraces;

static void
expire(void)
{
	time_t		now = time(NULL);
	unsigned	i = 0;

	while (i < ntraces) {
		if (traces[i].until <= now)
			traces[i] = traces[--ntraces];
		else
			i++;
	}
}

void
trace_send(struct child *c)
{
	struct fbuf	*fb;

	if (c->chan == NULL)
		return;
	expire();
	fb = fbuf_new(MSG_CTL_TRACE, 0);
	fbuf_add_u16(fb, (uint16_t)ntraces);
	for (unsigned i = 0; i < ntraces; i++) {
		fbuf_add_str(fb, traces[i].sel);
		fbuf_add_u64(fb, (uint64_t)traces[i].until);
	}
	chan_send(c->chan, fb);
}

static void
send_all(struct master *m)
{
	for (unsigned i = 0; i < m->nchildren; i++)
		if (m->children[i].pid > 0)
			trace_send(&m->children[i]);
}

/* trace SEL [minutes] | trace off SEL|all | trace: the list.  0 done, -1 with err. */
int
trace_command(struct master *m, char **argv, unsigned argc, char *out, size_t outlen)
{
	const char	*errstr = NULL;
	long long	 minutes = 10;
	unsigned	 i;
	size_t		 used = 0;

	expire();
	out[0] = '\0';
	if (argc == 0) {
		for (i = 0; i < ntraces && used < outlen; i++)
			used += snprintf(out + used, outlen - used, "%s%s for %lld more seconds",
			    i ? "\n" : "", traces[i].sel, (long long)(traces[i].until - time(NULL)));
		if (ntraces == 0)
			snprintf(out, outlen, "no traces");
		return 0;
	}
	if (strcmp(argv[0], "off") == 0) {
		if (argc != 2) {
			snprintf(out, outlen, "usage: trace off SELECTOR|all");
			return -1;
		}
		for (i = 0; i < ntraces; )
			if (strcmp(argv[1], "all") == 0 || strcmp(traces[i].sel, argv[1]) == 0)
				traces[i] = traces[--ntraces];
			else
				i++;
		send_all(m);
		snprintf(out, outlen, "traces now active: %u", ntraces);
		return 0;
	}
	if (argc > 2 || !trace_selector_ok(argv[0])) {
		snprintf(out, outlen, "usage: trace QUEUEID|@domain|address|client:IP [minutes]");
		return -1;
	}
	if (argc == 2) {
		minutes = strtonum(argv[1], 1, 24 * 60, &errstr);
		if (errstr != NULL) {
			snprintf(out, outlen, "minutes must be 1 to 1440");
			return -1;
		}
	}
	for (i = 0; i < ntraces; i++)
		if (strcmp(traces[i].sel, argv[0]) == 0)
			break;
	if (i == ntraces) {
		if (ntraces >= TRACE_MAX) {
			snprintf(out, outlen, "at most %d traces at once", TRACE_MAX);
			return -1;
		}
		strlcpy(traces[ntraces++].sel, argv[0], sizeof(traces[0].sel));
	}
	traces[i].until = time(NULL) + minutes * 60;
	send_all(m);
	log_info("trace: %s for %lld minutes", argv[0], minutes);
	snprintf(out, outlen, "tracing %s for %lld minutes", argv[0], minutes);
	return 0;
}
