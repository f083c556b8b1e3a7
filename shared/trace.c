/* SPDX-License-Identifier: ISC */
/*
 * trace.c - the set of active traces in a child (see trace.h). Every
 * process that logs work for a mail (smtpd, scheduler, agents, resolver)
 * links it; the master sends the set.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "frame.h"
#include "trace.h"

static struct trace {
	char		sel[TRACE_SEL_MAX];
	uint64_t	until;
} traces[TRACE_MAX];
static unsigned	ntraces;

/* The binary form of a client address selector's address ("client:ADDR"). */
static bool
client_addr(const char *ip, uint8_t bin[16], int *family)
{
	if (inet_pton(AF_INET, ip, bin) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, ip, bin) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

static bool
is_client(const char *sel)
{
	return strncmp(sel, TRACE_CLIENT, sizeof(TRACE_CLIENT) - 1) == 0;
}

bool
trace_selector_ok(const char *s)
{
	size_t	n = strlen(s);
	uint8_t	bin[16];
	int	family;

	if (n == 0 || n >= TRACE_SEL_MAX)
		return false;
	if (is_client(s))
		return client_addr(s + sizeof(TRACE_CLIENT) - 1, bin, &family);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	if (s[0] == '@')
		return n > 1 && strchr(s + 1, '@') == NULL;
	return true;
}

bool
trace_frame(struct frame *f)
{
	struct trace	tmp[TRACE_MAX];
	uint16_t	n;

	if (!frame_get_u16(f, &n) || n > TRACE_MAX)
		return false;
	for (uint16_t i = 0; i < n; i++)
		if (!frame_get_str(f, tmp[i].sel, sizeof(tmp[i].sel)) ||
		    !trace_selector_ok(tmp[i].sel) || !frame_get_u64(f, &tmp[i].until))
			return false;
	if (!frame_end(f))
		return false;
	memcpy(traces, tmp, n * sizeof(tmp[0]));
	ntraces = n;
	return true;
}

unsigned
trace_count(void)
{
	unsigned	n = 0;
	uint64_t	now = (uint64_t)time(NULL);

	for (unsigned i = 0; i < ntraces; i++)
		if (traces[i].until > now)
			n++;
	return n;
}

bool
trace_wants(const char *qid, const char *domain, const char *addr)
{
	uint64_t	 now;
	const char	*at;

	if (ntraces == 0)
		return false;
	now = (uint64_t)time(NULL);
	for (unsigned i = 0; i < ntraces; i++) {
		const char *s = traces[i].sel;
		if (traces[i].until <= now || is_client(s))
			continue;
		if (s[0] == '@') {
			if (domain != NULL && strcasecmp(domain, s + 1) == 0)
				return true;
			if (addr != NULL && (at = strrchr(addr, '@')) != NULL &&
			    strcasecmp(at + 1, s + 1) == 0)
				return true;
		} else if (strchr(s, '@') != NULL) {
			if (addr != NULL && strcasecmp(addr, s) == 0)
				return true;
		} else if (qid != NULL && strcmp(qid, s) == 0)
			return true;
	}
	return false;
}

bool
trace_wants_client(const char *ip)
{
	uint8_t		 a[16], b[16];
	int		 fa, fb;
	uint64_t	 now = (uint64_t)time(NULL);

	if (ntraces == 0 || !client_addr(ip, a, &fa))
		return false;
	for (unsigned i = 0; i < ntraces; i++) {
		if (traces[i].until <= now || !is_client(traces[i].sel) ||
		    !client_addr(traces[i].sel + sizeof(TRACE_CLIENT) - 1, b, &fb))
			continue;
		/* Compared as binary: "::1" and "0:0::1" are one address. */
		if (fa == fb && memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

bool
trace_any_address(void)
{
	uint64_t	now;

	if (ntraces == 0)
		return false;	/* smtpd asks for each reply: no clock read then */
	now = (uint64_t)time(NULL);

	for (unsigned i = 0; i < ntraces; i++)
		if (traces[i].until > now && !is_client(traces[i].sel) &&
		    strchr(traces[i].sel, '@') != NULL)
			return true;
	return false;
}
