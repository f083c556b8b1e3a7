/* SPDX-License-Identifier: ISC */
/*
 * aliases.c - parsing, checking and applying the aliases table (see
 * aliases.h for the format and the rules). Runs in the master and
 * outpost-sendmail (parsing a file root wrote) and in the queue manager
 * (expanding recipients of any submitter): every bound is enforced here,
 * whatever the caller.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "aliases.h"
#include "buf.h"
#include "msg.h"
#include "xmalloc.h"

#define ERRS_MAX	50	/* messages reported before "..." */

struct errs {
	char		*buf;
	size_t		 len;
	const char	*name;
	unsigned	 n;
};

static void __attribute__((format(printf, 3, 4)))
perr(struct errs *e, unsigned line, const char *fmt, ...)
{
	char msg[600];
	size_t used;
	va_list ap;

	if (e->n++ >= ERRS_MAX || e->len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	used = strlen(e->buf);
	if (used < e->len)
		snprintf(e->buf + used, e->len - used, "%s:%u: %s\n", e->name, line, msg);
}

static bool
name_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '=';
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ALIASES_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (; *s != '\0'; s++)
		if (!name_char((unsigned char)*s))
			return false;
	return true;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
}

/* Does s hold an '@' outside a quoted local part? */
static bool
has_domain(const char *s)
{
	bool quoted = false;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (*s == '@' && !quoted)
			return true;
	}
	return false;
}

/*
 * Check one target and normalise it into out: an address stays as written
 * (brackets removed), a bare name is lower-cased. Returns NULL or a reason.
 */
static const char *
target_check(char *t, char *out, size_t outlen)
{
	const char *why = NULL;
	size_t n;

	if (t[0] == '"' && (t[1] == '|' || t[1] == '/'))
		t++;
	if (t[0] == '|')
		return "pipes to commands are not supported (outpost delivers no local mail)";
	if (t[0] == '/')
		return "delivery to files is not supported (outpost delivers no local mail)";
	if (strncasecmp(t, ":include:", 9) == 0)
		return ":include: is not supported: list the addresses in this file";
	n = strlen(t);
	if (n >= 2 && t[0] == '<' && t[n - 1] == '>') {
		t[n - 1] = '\0';
		t++;
	}
	if (t[0] == '\0')
		return "empty address";
	if (has_domain(t)) {
		if (addr_check_mailbox(t, false, &why) == -1)
			return why != NULL ? why : "bad address";
	} else {
		if (strlen(t) >= outlen || !valid_name(t))
			return "not an address (local@domain) nor a valid local name";
		strlcpy(out, t, outlen);
		lower(out);
		return NULL;
	}
	if (strlcpy(out, t, outlen) >= outlen)
		return "address too long";
	return NULL;
}

/* Split a list at commas outside double quotes. */
static char *
next_target(char **pp)
{
	char *p = *pp, *start = p;
	bool quoted = false;

	if (p == NULL)
		return NULL;
	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == ',' && !quoted) {
			*p = '\0';
			*pp = p + 1;
			return start;
		}
	}
	*pp = NULL;
	return start;
}

static void
parse_entry(struct aliases *a, struct errs *e, char *text, unsigned line)
{
	char *colon, *name, *list, *t, **targets = NULL;
	char norm[ADDR_MAX];
	const char *why;
	size_t n = 0, i;
	unsigned before = e->n;

	if ((colon = strchr(text, ':')) == NULL) {
		perr(e, line, "missing ':' after the name");
		return;
	}
	*colon = '\0';
	name = trim(text);
	list = colon + 1;
	if (name[0] == '"' && strlen(name) >= 2 && name[strlen(name) - 1] == '"') {
		name[strlen(name) - 1] = '\0';
		name++;
	}
	if (!valid_name(name)) {
		perr(e, line, "bad name \"%.80s\": letters, digits and . _ - + = only, at most %d",
		    name, ALIASES_NAME_MAX);
		return;
	}
	lower(name);
	while ((t = next_target(&list)) != NULL) {
		t = trim(t);
		if (t[0] == '\0')
			continue;	/* "a, , b" or a trailing comma */
		if ((why = target_check(t, norm, sizeof(norm))) != NULL) {
			perr(e, line, "%s: \"%.80s\": %s", name, t, why);
			continue;
		}
		if (n >= ALIASES_MAX_TARGETS) {
			perr(e, line, "%s: more than %d addresses", name, ALIASES_MAX_TARGETS);
			break;
		}
		targets = xreallocarray(targets, n + 1, sizeof(*targets));
		targets[n++] = xstrdup(norm);
	}
	if (n == 0 && e->n == before)
		perr(e, line, "%s: no address given", name);
	if (e->n == before && aliases_add(a, name, targets, n, line) == -1)
		perr(e, line, "%s: too many entries (at most %d)", name, ALIASES_MAX_ENTRIES);
	for (i = 0; i < n; i++)
		free(targets[i]);
	free(targets);
}

int
aliases_parse(struct aliases *a, const char *fname, const char *text, size_t len,
    char *err, size_t errlen)
{
	struct errs e = { err, errlen, fname, 0 };
	struct buf entry = { NULL, 0, 0 };
	const char *p = text, *end = text + len, *nl;
	unsigned lineno = 0, entry_line = 0;
	size_t n;

	if (errlen > 0)
		err[0] = '\0';
	memset(a, 0, sizeof(*a));
	if (memchr(text, '\0', len) != NULL) {
		perr(&e, 1, "the file holds a NUL byte: not a text file");
		return -1;
	}
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', end - p);
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (p[0] == ' ' || p[0] == '\t') {
			size_t k = 0;

			while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
				k++;
			if (k == n || p[k] == '#')
				;	/* blank or comment line */
			else if (entry_line == 0)
				perr(&e, lineno, "continuation line without an entry before it");
			else {
				buf_str(&entry, " ");
				buf_add(&entry, p, n);
			}
		} else if (n == 0 || p[0] == '#' || (n == 1 && p[0] == '\r')) {
			;	/* blank or comment line */
		} else {
			if (entry_line != 0)
				parse_entry(a, &e, entry.p, entry_line);
			entry.len = 0;
			buf_add(&entry, p, n);
			entry_line = lineno;
		}
		p += n + (nl != NULL ? 1 : 0);
	}
	if (entry_line != 0)
		parse_entry(a, &e, entry.p, entry_line);
	buf_free(&entry);
	if (e.n == 0 && aliases_finish(a, fname, err, errlen) == -1)
		e.n++;
	if (e.n > ERRS_MAX)
		perr(&e, lineno, "... and %u more problems", e.n - ERRS_MAX);
	if (e.n > 0) {
		aliases_free(a);
		return -1;
	}
	return 0;
}

int
aliases_load(struct aliases *a, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t r;
	size_t off = 0;
	int fd, rc;

	memset(a, 0, sizeof(*a));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file\n", path);
		close(fd);
		return -1;
	}
	if (st.st_size > ALIASES_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes\n", path, ALIASES_FILE_MAX);
		close(fd);
		return -1;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		r = read(fd, text + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		snprintf(err, errlen, "%s: read error or changed while read\n", path);
		free(text);
		return -1;
	}
	rc = aliases_parse(a, path, text, off, err, errlen);
	free(text);
	return rc;
}

void
aliases_free(struct aliases *a)
{
	size_t i, k;

	for (i = 0; i < a->n; i++) {
		for (k = 0; k < a->v[i].ntargets; k++)
			free(a->v[i].targets[k]);
		free(a->v[i].targets);
		free(a->v[i].name);
	}
	free(a->v);
	memset(a, 0, sizeof(*a));
}

int
aliases_add(struct aliases *a, const char *name, char *const *targets, size_t n,
    unsigned line)
{
	struct alias *al;
	size_t i;

	if (a->n >= ALIASES_MAX_ENTRIES || n > ALIASES_MAX_TARGETS)
		return -1;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	al = &a->v[a->n++];
	al->name = xstrdup(name);
	lower(al->name);
	al->ntargets = n;
	al->targets = xcalloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++)
		al->targets[i] = xstrdup(targets[i]);
	al->line = line;
	return 0;
}

static int
alias_cmp(const void *x, const void *y)
{
	const struct alias *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

int
aliases_finish(struct aliases *a, const char *name, char *err, size_t errlen)
{
	size_t i;

	if (a->n > 0)
		qsort(a->v, a->n, sizeof(*a->v), alias_cmp);
	for (i = 1; i < a->n; i++)
		if (strcmp(a->v[i - 1].name, a->v[i].name) == 0) {
			snprintf(err, errlen, "%s:%u: \"%s\" is already defined on line %u\n",
			    name, a->v[i].line, a->v[i].name, a->v[i - 1].line);
			return -1;
		}
	return 0;
}

const struct alias *
aliases_find(const struct aliases *a, const char *name)
{
	char key[ALIASES_NAME_MAX + 1];
	size_t lo = 0, hi = a->n, mid;
	int c;

	if (strlcpy(key, name, sizeof(key)) >= sizeof(key))
		return NULL;
	lower(key);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(key, a->v[mid].name);
		if (c == 0)
			return &a->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool
aliases_is_local(const char *domain, const char *myorigin)
{
	return myorigin[0] != '\0' && strcasecmp(domain, myorigin) == 0;
}

struct expand {
	const struct aliases	*a;
	const char		*myorigin;
	const char		*redirect;
	int			(*emit)(const char *, void *);
	void			*arg;
	char			*err;
	size_t			 errlen;
	char			**seen;		/* addresses emitted, for duplicates */
	size_t			 nseen;
	const char		*chain[ALIASES_MAX_DEPTH + 1];
};

static int
emit_once(struct expand *x, const char *addr)
{
	size_t i;

	for (i = 0; i < x->nseen; i++)
		if (strcasecmp(x->seen[i], addr) == 0)
			return 0;
	if (x->nseen >= ALIASES_MAX_RESULTS) {
		snprintf(x->err, x->errlen, "the aliases expand to more than %d addresses",
		    ALIASES_MAX_RESULTS);
		return -1;
	}
	x->seen = xreallocarray(x->seen, x->nseen + 1, sizeof(char *));
	x->seen[x->nseen++] = xstrdup(addr);
	return x->emit(addr, x->arg);
}

/* The entry for a local name: "name", else "name" without its "+extension". */
static const struct alias *
lookup(const struct aliases *a, const char *local, size_t n)
{
	char key[ALIASES_NAME_MAX + 1];
	const struct alias *al;
	char *plus;

	if (n == 0 || n >= sizeof(key))
		return NULL;
	memcpy(key, local, n);
	key[n] = '\0';
	if ((al = aliases_find(a, key)) != NULL)
		return al;
	if ((plus = strchr(key, '+')) != NULL && plus > key) {
		*plus = '\0';
		return aliases_find(a, key);
	}
	return NULL;
}

static int
expand_one(struct expand *x, const char *rcpt, unsigned depth)
{
	const struct alias *al;
	const char *at = NULL, *p;
	char *addr;
	size_t i, llen;
	unsigned d;
	int rc;

	/* The '@' of the domain: the last one (a quoted local part may hold others). */
	for (p = rcpt; *p != '\0'; p++)
		if (*p == '@')
			at = p;
	if (at != NULL && !aliases_is_local(at + 1, x->myorigin))
		return emit_once(x, rcpt);
	llen = at != NULL ? (size_t)(at - rcpt) : strlen(rcpt);
	if ((al = lookup(x->a, rcpt, llen)) == NULL) {
		if (x->redirect[0] != '\0')
			return emit_once(x, x->redirect);
		if (at != NULL)
			return emit_once(x, rcpt);
		if (x->myorigin[0] == '\0') {
			snprintf(x->err, x->errlen, "\"%s\" has no domain and myorigin is empty",
			    rcpt);
			return -1;
		}
		xasprintf(&addr, "%s@%s", rcpt, x->myorigin);
		rc = emit_once(x, addr);
		free(addr);
		return rc;
	}
	for (d = 0; d < depth; d++)
		if (x->chain[d] == al->name) {
			char chain[512];
			size_t used = 0;

			for (unsigned k = 0; k < depth && used < sizeof(chain); k++)
				used += snprintf(chain + used, sizeof(chain) - used, "%s -> ",
				    x->chain[k]);
			snprintf(x->err, x->errlen, "alias loop: %s%s", chain, al->name);
			return -1;
		}
	if (depth >= ALIASES_MAX_DEPTH) {
		snprintf(x->err, x->errlen, "aliases nested more than %d deep at \"%s\"",
		    ALIASES_MAX_DEPTH, al->name);
		return -1;
	}
	x->chain[depth] = al->name;
	for (i = 0; i < al->ntargets; i++)
		if (expand_one(x, al->targets[i], depth + 1) == -1)
			return -1;
	return 0;
}

int
aliases_expand(const struct aliases *a, const char *myorigin, const char *redirect,
    const char *rcpt, int (*emit)(const char *, void *), void *arg, char *err, size_t errlen)
{
	struct expand x;
	size_t i;
	int rc;

	memset(&x, 0, sizeof(x));
	x.a = a;
	x.myorigin = myorigin;
	x.redirect = redirect;
	x.emit = emit;
	x.arg = arg;
	x.err = err;
	x.errlen = errlen;
	rc = expand_one(&x, rcpt, 0);
	for (i = 0; i < x.nseen; i++)
		free(x.seen[i]);
	free(x.seen);
	return rc == -1 ? -1 : (int)x.nseen;
}

static int
emit_nothing(const char *addr, void *arg)
{
	return 0;
}

int
aliases_check(const struct aliases *a, const char *fname, const char *myorigin,
    const char *redirect, char *err, size_t errlen)
{
	struct errs e = { err, errlen, fname, 0 };
	char why[512];
	size_t i;

	if (errlen > 0)
		err[0] = '\0';
	for (i = 0; i < a->n; i++)
		if (aliases_expand(a, myorigin, redirect, a->v[i].name, emit_nothing, NULL, why,
		    sizeof(why)) == -1)
			perr(&e, a->v[i].line, "%s: %s", a->v[i].name, why);
	return e.n > 0 ? -1 : 0;
}

int
aliases_myorigin(const char *configured, const char *helo_name, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char line[512];
	const char *why = NULL;
	FILE *fp;

	if (configured[0] == '\0') {
		strlcpy(out, helo_name, outlen);
		return 0;
	}
	if (configured[0] != '/') {
		strlcpy(line, configured, sizeof(line));
	} else {
		if ((fp = fopen(configured, "re")) == NULL) {
			snprintf(err, errlen, "myorigin: %s: %s", configured, strerror(errno));
			return -1;
		}
		if (fgets(line, sizeof(line), fp) == NULL)
			line[0] = '\0';
		fclose(fp);
		line[strcspn(line, "\r\n")] = '\0';
	}
	if (line[0] == '\0' || addr_check_domain(line, strlen(line), &why) == -1) {
		snprintf(err, errlen, "myorigin: \"%s\"%s%s is not a valid domain", line,
		    configured[0] == '/' ? " from " : "", configured[0] == '/' ? configured : "");
		return -1;
	}
	if (strlcpy(out, line, outlen) >= outlen) {
		snprintf(err, errlen, "myorigin: too long");
		return -1;
	}
	return 0;
}
