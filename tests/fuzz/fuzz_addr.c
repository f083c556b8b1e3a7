/* SPDX-License-Identifier: ISC */
/*
 * fuzz_addr.c - libFuzzer target for the RCPT/MAIL path parser
 * (shared/addr.c): any string is accepted or refused with a message, never
 * crashes, and what is accepted keeps the RFC limits and parses again the
 * same way when written back as "<mailbox>".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *s, int flags)
{
	struct addr_path	 p, again;
	const char		*err = NULL;
	char			 buf[ADDR_PATH_MAX + 8], dom[ADDR_DOMAIN_MAX + 1];
	size_t			 n;

	if (addr_parse_path(s, flags, &p, &err) == -1) {
		if (err == NULL || err[0] == '\0')
			abort();
		return;
	}
	if (p.params < s || p.params > s + strlen(s))
		abort();
	if (p.null) {
		if (!(flags & ADDR_F_NULL_OK) || p.mailbox[0] != '\0')
			abort();
		return;
	}
	n = strlen(p.mailbox);
	if (n + 2 > ADDR_PATH_MAX || p.at == 0 || p.at > ADDR_LOCAL_MAX ||
	    p.mailbox[p.at] != '@' || n - p.at - 1 > ADDR_DOMAIN_MAX)
		abort();
	if (addr_domain(p.mailbox, dom, sizeof(dom)) == -1)
		abort();
	(void)snprintf(buf, sizeof(buf), "<%s>", p.mailbox);
	if (addr_parse_path(buf, 0, &again, &err) == -1 ||
	    strcmp(again.mailbox, p.mailbox) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s;
	const char	*err;
	char		 dom[64];

	if (size > 4096)
		return 0;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check(s, 0);
	check(s, ADDR_F_NULL_OK);
	(void)addr_check_domain((const char *)data, size, &err);
	if (addr_check_mailbox(s, true, &err) == 0 && s[0] != '\0' &&
	    addr_domain(s, dom, sizeof(dom)) == -1 && strlen(s) < sizeof(dom))
		abort();
	(void)addr_domain(s, dom, sizeof(dom));
	free(s);
	return 0;
}
