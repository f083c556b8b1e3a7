/* SPDX-License-Identifier: ISC */
/*
 * aliases.h - the aliases table (/etc/aliases format) and the rewriting of
 * local recipients: names without a domain and names in the myorigin
 * domain become the addresses the table gives, or local_redirect.
 *
 * Parsed by the master (from the file, before handing the table to the
 * queue manager in ALIASES_* frames) and by outpost-sendmail -bi /
 * newaliases (to check the file). Applied by the queue manager to every
 * recipient it accepts, so SMTP and local submissions are rewritten alike.
 *
 * File format, as sendmail's and Postfix's:
 *   # comment (a line whose first non-blank character is '#')
 *   name: address, other-name, address
 *   <blank>continuation of the previous entry's list
 * Names are case-insensitive. A target without '@' is another name (or the
 * local user of that name in myorigin). Only addresses are targets: the
 * "|command", "/file" and ":include:" forms are refused with the line
 * number, since outpost runs no local delivery.
 *
 * Everything here is pure (no I/O but aliases_load) and bounded: targets
 * per entry, entries, expansion depth and results (aliases_expand).
 */
#ifndef OUTPOST_ALIASES_H
#define OUTPOST_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

#define ALIASES_MAX_ENTRIES	10000
#define ALIASES_MAX_TARGETS	200	/* per entry: one entry fits one frame */
#define ALIASES_MAX_DEPTH	8	/* nested names before it is called a loop */
#define ALIASES_MAX_RESULTS	1000	/* addresses one recipient may become */
#define ALIASES_FILE_MAX	(4 * 1024 * 1024)
#define ALIASES_NAME_MAX	64	/* a local part */

struct alias {
	char		 *name;		/* lower case */
	char		**targets;	/* "local@domain", or a bare name */
	size_t		  ntargets;
	unsigned	  line;
};

struct aliases {
	struct alias	*v;		/* sorted by name once complete */
	size_t		 n;
	size_t		 cap;
};

/*
 * Parse text (len bytes) into a (empty before). name is used in messages.
 * Every problem is reported, one "name:line: message\n" each, in err.
 * Returns 0, or -1 (a is then emptied).
 */
int	aliases_parse(struct aliases *a, const char *name, const char *text, size_t len,
	    char *err, size_t errlen);
/* Read and parse path (at most ALIASES_FILE_MAX bytes). Same result. */
int	aliases_load(struct aliases *a, const char *path, char *err, size_t errlen);
void	aliases_free(struct aliases *);

/* Add one entry (frames, parser); targets copied. -1: duplicate or full. */
int	aliases_add(struct aliases *, const char *name, char *const *targets, size_t n,
	    unsigned line);
/* Sort the table for lookups; -1 with err ("name:line: ...") when a name
 * appears twice. */
int	aliases_finish(struct aliases *, const char *name, char *err, size_t errlen);
const struct alias *aliases_find(const struct aliases *, const char *name);

/* Is this domain myorigin (case-insensitive)? */
bool	aliases_is_local(const char *domain, const char *myorigin);

/*
 * Expand one recipient: rcpt ("local@domain" or a bare name) is looked up
 * when it has no domain or its domain is myorigin; a name in the table
 * becomes its targets (expanded again), a local name not in the table
 * becomes redirect when redirect is not "", every other address stays.
 * Each final address is passed to emit once. Returns the number of
 * addresses emitted, or -1 with err filled (a loop, too deep, too many).
 * emit may return -1 to stop (err is then left as it filled it).
 */
int	aliases_expand(const struct aliases *, const char *myorigin, const char *redirect,
	    const char *rcpt, int (*emit)(const char *addr, void *arg), void *arg,
	    char *err, size_t errlen);

/*
 * Check every entry expands (no loop, no depth or size overflow), for
 * newaliases; problems reported as "name:line: message\n". 0 or -1.
 */
int	aliases_check(const struct aliases *, const char *name, const char *myorigin,
	    const char *redirect, char *err, size_t errlen);

/*
 * myorigin as configured: "" means helo_name, an absolute path means the
 * first line of that file (Debian's /etc/mailname). Returns 0, or -1 with
 * err filled when the file cannot be read or holds no valid name.
 */
int	aliases_myorigin(const char *configured, const char *helo_name, char *out, size_t outlen,
	    char *err, size_t errlen);

#endif
