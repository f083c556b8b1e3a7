/* SPDX-License-Identifier: ISC */
/*
 * helo_default.c - the default of helo_name. Called by config.c when it
 * sets the defaults (in every process that loads the configuration), and
 * by the unit tests through helo_default_choose().
 *
 * A short host name ("vm") in EHLO is refused by many receivers, so the
 * default follows Debian's convention first: /etc/mailname holds the
 * mail name of the system (Postfix's myorigin reads it too). Without it the
 * host name is used when it is qualified, else its canonical name, the one
 * /etc/hosts (or DNS) gives it. The lookup is made once per process, and
 * only for an unqualified host name.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helo_default.h"

bool
helo_is_qualified(const char *name)
{
	const char *dot = strchr(name, '.');

	/* "host." or ".host" are not qualified names */
	return dot != NULL && dot != name && dot[1] != '\0';
}

/* Letters, digits, '-', '.': what may follow EHLO as a domain. */
static bool
plausible_name(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return false;
	return true;
}

int
helo_canonical(const char *host, char *out, size_t len)
{
	struct addrinfo	 hints, *res = NULL;
	int		 r = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	if (res != NULL && res->ai_canonname != NULL &&
	    strlcpy(out, res->ai_canonname, len) < len)
		r = 0;
	freeaddrinfo(res);
	return r;
}

/* The first line of path, trimmed, when it is a host name. */
static bool
read_mailname(const char *path, char *out, size_t len)
{
	FILE	*fp;
	char	 line[512], *p, *e;

	if (path == NULL || (fp = fopen(path, "r")) == NULL)
		return false;
	p = fgets(line, sizeof(line), fp);
	fclose(fp);
	if (p == NULL)
		return false;
	while (isspace((unsigned char)*p))
		p++;
	e = p + strlen(p);
	while (e > p && (isspace((unsigned char)e[-1]) || e[-1] == '.'))
		*--e = '\0';
	if (!plausible_name(p) || strlcpy(out, p, len) >= len)
		return false;
	return true;
}

void
helo_default_choose(char *out, size_t len, const char *mailname_path,
    const char *hostname, helo_canon_fn canon)
{
	char	canonical[256];

	if (read_mailname(mailname_path, out, len))
		return;
	if (hostname == NULL || !plausible_name(hostname)) {
		strlcpy(out, "localhost", len);
		return;
	}
	if (!helo_is_qualified(hostname) && canon != NULL &&
	    canon(hostname, canonical, sizeof(canonical)) == 0 &&
	    plausible_name(canonical) && helo_is_qualified(canonical) &&
	    strlcpy(out, canonical, len) < len)
		return;
	strlcpy(out, hostname, len);
}

const char *
helo_default(void)
{
	static char	name[256];
	char		host[256];

	if (name[0] != '\0')
		return name;
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	helo_default_choose(name, sizeof(name), HELO_MAILNAME_PATH, host, helo_canonical);
	return name;
}
