/* SPDX-License-Identifier: ISC */
/*
 * mailhdr.c - RFC 5322 header section scanning and address-list parsing.
 *
 * Runs in outpost-sendmail (and wherever queued content must be looked
 * into). The input is whatever a local program wrote: every index is
 * bounded by the length given, nothing relies on a terminating NUL, and a
 * malformed address list is reported, never guessed at.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mailhdr.h"
#include "msg.h"

/* End of the line starting at off: just past its LF, or len. */
static size_t
line_end(const char *msg, size_t len, size_t off)
{
	const char *nl = memchr(msg + off, '\n', len - off);

	return nl == NULL ? len : (size_t)(nl - msg) + 1;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Length of the field name if the line msg[off, end) starts a header field:
 * printable US-ASCII except ':' (RFC 5322 ftext), then optional WSP
 * (the obsolete "Name : value" form), then ':'. 0 if it does not.
 */
static size_t
field_name_len(const char *msg, size_t off, size_t end, size_t *colon)
{
	size_t i = off, n;

	while (i < end && (unsigned char)msg[i] >= 33 && (unsigned char)msg[i] <= 126 &&
	    msg[i] != ':')
		i++;
	n = i - off;
	if (n == 0)
		return 0;
	while (i < end && is_wsp(msg[i]))
		i++;
	if (i >= end || msg[i] != ':')
		return 0;
	*colon = i;
	return n;
}

static bool
is_empty_line(const char *msg, size_t off, size_t end)
{
	return (end - off == 1 && msg[off] == '\n') ||
	    (end - off == 2 && msg[off] == '\r' && msg[off + 1] == '\n');
}

size_t
mailhdr_section(const char *msg, size_t len, size_t *body)
{
	size_t off = 0, end, colon;

	while (off < len) {
		end = line_end(msg, len, off);
		if (is_empty_line(msg, off, end)) {
			*body = end;
			return off;
		}
		/* A continuation line belongs to the field before it. */
		if (!(off > 0 && is_wsp(msg[off])) && field_name_len(msg, off, end, &colon) == 0) {
			*body = off;
			return off;
		}
		off = end;
	}
	*body = len;
	return len;
}

bool
mailhdr_next(const char *msg, size_t hdrlen, size_t *off, struct mailhdr_field *f)
{
	size_t start = *off, end, colon, n;

	if (start >= hdrlen)
		return false;
	end = line_end(msg, hdrlen, start);
	n = field_name_len(msg, start, end, &colon);
	if (n == 0)
		return false;	/* not produced by mailhdr_section() */
	while (end < hdrlen && is_wsp(msg[end]))
		end = line_end(msg, hdrlen, end);

	f->name = msg + start;
	f->namelen = n;
	f->value = msg + colon + 1;
	f->valuelen = end - (colon + 1);
	if (f->valuelen > 0 && msg[end - 1] == '\n') {
		f->valuelen--;
		if (f->valuelen > 0 && msg[end - 2] == '\r')
			f->valuelen--;
	}
	f->start = start;
	f->end = end;
	*off = end;
	return true;
}

bool
mailhdr_is(const struct mailhdr_field *f, const char *name)
{
	return strlen(name) == f->namelen && strncasecmp(f->name, name, f->namelen) == 0;
}

bool
mailhdr_has(const char *msg, size_t hdrlen, const char *name)
{
	struct mailhdr_field f;
	size_t off = 0;

	while (mailhdr_next(msg, hdrlen, &off, &f))
		if (mailhdr_is(&f, name))
			return true;
	return false;
}

size_t
mailhdr_remove(char *msg, size_t len, size_t hdrlen, const char *name)
{
	struct mailhdr_field f;
	size_t off = 0, removed = 0, n;

	while (mailhdr_next(msg, hdrlen, &off, &f)) {
		if (!mailhdr_is(&f, name))
			continue;
		n = f.end - f.start;
		memmove(msg + f.start, msg + f.end, len - f.end);
		len -= n;
		hdrlen -= n;
		removed += n;
		off = f.start;
	}
	return removed;
}

/*
 * Address-list parsing. The value is read as a sequence of tokens: words
 * (atoms, quoted strings, domain literals), the specials . @ < > : ; , and
 * CFWS (white space, line breaks, comments), which only separates. Words
 * and dots/ats are collected into one addr-spec; a '<' turns what was
 * collected into a display name (dropped); ':' outside <> starts a group,
 * ';' ends it; ',' ends an address.
 */
struct alist {
	char		 buf[ADDR_MAX];
	size_t		 n;
	bool		 overflow;
	bool		 words_adjacent;	/* two words with only CFWS between */
	bool		 last_word;		/* the last token was a word */
	bool		 space;			/* CFWS since the last token */
	bool		 angle_done;		/* an <addr> was taken for this address */
};

static void
al_put(struct alist *a, const char *s, size_t n)
{
	if (a->n + n >= sizeof(a->buf)) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->n, s, n);
	a->n += n;
}

static void
al_reset(struct alist *a)
{
	a->n = 0;
	a->overflow = false;
	a->words_adjacent = false;
	a->last_word = false;
	a->space = false;
}

/* Skip a comment starting at s[i] == '('. Returns the index after it or SIZE_MAX. */
static size_t
skip_comment(const char *s, size_t len, size_t i)
{
	int depth = 0;

	for (; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return SIZE_MAX;
}

/* Copy a quoted string or domain literal starting at s[i], unfolding line
 * breaks. Returns the index after it, or SIZE_MAX if unterminated. */
static size_t
copy_delimited(struct alist *a, const char *s, size_t len, size_t i, char close)
{
	al_put(a, s + i, 1);
	for (i++; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '\\' && close == '"') {
			if (i + 1 >= len)
				return SIZE_MAX;
			al_put(a, s + i, 2);
			i++;
			continue;
		}
		if (close == ']' && (s[i] == ' ' || s[i] == '\t'))
			continue;
		al_put(a, s + i, 1);
		if (s[i] == close)
			return i + 1;
	}
	return SIZE_MAX;
}

static bool
is_special(char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static int
al_emit(struct alist *a, mailhdr_addr_cb cb, void *arg, const char **err)
{
	if (a->overflow) {
		*err = "address too long";
		return -1;
	}
	if (a->n == 0)
		return 0;
	if (a->words_adjacent) {
		*err = "a display name must be followed by an address in <>";
		return -1;
	}
	a->buf[a->n] = '\0';
	if (cb(a->buf, arg) == -1) {
		*err = "stopped";
		return -1;
	}
	return 0;
}

/* Tokenize s[i, len) into a, stopping at a special in stop (returned index
 * points at it) or at the end. Returns SIZE_MAX on error (*err set). */
static size_t
al_collect(struct alist *a, const char *s, size_t len, size_t i, const char *stop,
    const char **err)
{
	size_t j;

	while (i < len) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			a->space = true;
			i++;
		} else if (c == '(') {
			if ((i = skip_comment(s, len, i)) == SIZE_MAX) {
				*err = "unterminated comment";
				return SIZE_MAX;
			}
			a->space = true;
		} else if (strchr(stop, c) != NULL) {
			return i;
		} else if (c == '"' || c == '[') {
			if (a->last_word && a->space)
				a->words_adjacent = true;
			if ((i = copy_delimited(a, s, len, i, c == '"' ? '"' : ']')) == SIZE_MAX) {
				*err = c == '"' ? "unterminated quoted string" :
				    "unterminated domain literal";
				return SIZE_MAX;
			}
			a->last_word = true;
			a->space = false;
		} else if (c == '.' || c == '@') {
			al_put(a, s + i, 1);
			a->last_word = false;
			a->space = false;
			i++;
		} else if (is_special(c)) {
			*err = c == ')' ? "unbalanced ')'" : c == '>' ? "unbalanced '>'" :
			    c == ']' ? "unbalanced ']'" : "misplaced special character";
			return SIZE_MAX;
		} else {
			if (a->last_word && a->space)
				a->words_adjacent = true;
			for (j = i; j < len && !is_special(s[j]) && s[j] != ' ' &&
			    s[j] != '\t' && s[j] != '\r' && s[j] != '\n'; j++)
				;
			al_put(a, s + i, j - i);
			a->last_word = true;
			a->space = false;
			i = j;
		}
	}
	return i;
}

int
mailhdr_addresses(const char *s, size_t len, mailhdr_addr_cb cb, void *arg, const char **err)
{
	struct alist a;
	bool in_group = false;
	size_t i = 0;

	memset(&a, 0, sizeof(a));
	while (i <= len) {
		i = al_collect(&a, s, len, i, "<>:;,", err);
		if (i == SIZE_MAX)
			return -1;
		if (a.angle_done && a.n > 0) {
			*err = "junk after <address>";
			return -1;
		}
		if (i >= len || s[i] == ',' || s[i] == ';') {
			if (i < len && s[i] == ';') {
				if (!in_group) {
					*err = "';' outside a group";
					return -1;
				}
				in_group = false;
			}
			if (!a.angle_done && al_emit(&a, cb, arg, err) == -1)
				return -1;
			al_reset(&a);
			a.angle_done = false;
			if (i >= len)
				break;
			i++;
		} else if (s[i] == ':') {
			if (in_group || a.angle_done) {
				*err = "misplaced ':'";
				return -1;
			}
			in_group = true;	/* what was collected is the group's name */
			al_reset(&a);
			i++;
		} else if (s[i] == '<') {
			if (a.angle_done) {
				*err = "two <addresses> for one recipient";
				return -1;
			}
			al_reset(&a);		/* the display name */
			i++;
			for (;;) {
				i = al_collect(&a, s, len, i, "<>:,;", err);
				if (i == SIZE_MAX)
					return -1;
				if (i >= len) {
					*err = "missing '>'";
					return -1;
				}
				if (s[i] == '>')
					break;
				if (s[i] == ':' || s[i] == ',') {
					/* A source route "@a,@b:": dropped (RFC 5321 C). */
					if (a.n == 0 || a.buf[0] != '@') {
						*err = "misplaced ':' or ',' inside <>";
						return -1;
					}
					if (s[i] == ':')
						al_reset(&a);
					else
						a.n = 0;
					i++;
					continue;
				}
				*err = "misplaced character inside <>";
				return -1;
			}
			i++;
			a.words_adjacent = false;
			if (al_emit(&a, cb, arg, err) == -1)
				return -1;
			al_reset(&a);
			a.angle_done = true;
		} else {	/* '>' */
			*err = "unbalanced '>'";
			return -1;
		}
	}
	if (in_group) {
		*err = "group not closed with ';'";
		return -1;
	}
	return 0;
}
