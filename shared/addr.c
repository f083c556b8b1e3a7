/* SPDX-License-Identifier: ISC */
/*
 * addr.c - RFC 5321 section 4.1.2 path syntax: reverse-paths, forward-paths,
 * local parts (dot-string or quoted), domains and address literals.
 *
 * Runs in smtpd (MAIL FROM:/RCPT TO:) and wherever a domain must be taken
 * out of an address (scheduler). The input is hostile: every octet is
 * checked against the grammar, every length against the RFC limits, and
 * nothing is copied before its length is known to fit.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

/* RFC 5322 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~" */
static bool
is_atext(unsigned char c)
{
	if (isalnum(c) && c < 0x80)
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_letdig(unsigned char c)
{
	return c < 0x80 && isalnum(c);
}

/* Dot-string = Atom *("." Atom). Returns the octets used, 0 on error. */
static size_t
parse_dot_string(const char *s, const char **err)
{
	size_t	i = 0;

	for (;;) {
		size_t start = i;

		while (is_atext((unsigned char)s[i]))
			i++;
		if (i == start) {
			if ((unsigned char)s[i] >= 0x80)
				*err = "non-ASCII character in local part (SMTPUTF8 is not supported)";
			else if (s[i] == '.')
				*err = start == 0 ? "local part starts with a dot" :
				    "two dots in a row in local part";
			else if (s[i] == '@' || s[i] == '>')
				*err = start == 0 ? "empty local part" :
				    "local part ends with a dot";
			else
				*err = "invalid character in local part";
			return 0;
		}
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, s[0] is the quote. */
static size_t
parse_quoted_string(const char *s, const char **err)
{
	size_t	i = 1;

	for (;;) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			unsigned char q = (unsigned char)s[i + 1];

			/* quoted-pairSMTP = %d92 %d32-126 */
			if (q < 32 || q > 126) {
				*err = q == 0 ? "unterminated quoted local part" :
				    "invalid quoted pair in local part";
				return 0;
			}
			i += 2;
			continue;
		}
		if (c == 0) {
			*err = "unterminated quoted local part";
			return 0;
		}
		/* qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
		if (c < 32 || c > 126) {
			*err = c >= 0x80 ?
			    "non-ASCII character in local part (SMTPUTF8 is not supported)" :
			    "control character in quoted local part";
			return 0;
		}
		i++;
	}
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] */
static int
check_labels(const char *s, size_t len, const char **err)
{
	size_t	i = 0;

	if (len == 0) {
		*err = "missing domain";
		return -1;
	}
	if (len > ADDR_DOMAIN_MAX) {
		*err = "domain too long (255 octets max)";
		return -1;
	}
	while (i < len) {
		size_t start = i;

		while (i < len && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];

			if (!is_letdig(c) && c != '-') {
				*err = c >= 0x80 ?
				    "non-ASCII character in domain (use the A-label form)" :
				    "invalid character in domain";
				return -1;
			}
			i++;
		}
		if (i == start) {
			*err = "empty label in domain";
			return -1;
		}
		if (i - start > 63) {
			*err = "domain label too long (63 octets max)";
			return -1;
		}
		if (s[start] == '-' || s[i - 1] == '-') {
			*err = "domain label starts or ends with a hyphen";
			return -1;
		}
		if (i < len) {
			i++;	/* the dot */
			if (i == len) {
				*err = "domain ends with a dot";
				return -1;
			}
		}
	}
	return 0;
}

/* address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General ) "]" */
static int
check_literal(const char *s, size_t len, const char **err)
{
	char		 buf[64];
	unsigned char	 bin[16];
	const char	*in = s + 1;
	size_t		 inlen;
	int		 af = AF_INET;

	if (len < 2 || s[0] != '[' || s[len - 1] != ']') {
		*err = "unterminated address literal";
		return -1;
	}
	inlen = len - 2;
	if (inlen >= 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		af = AF_INET6;
		in += 5;
		inlen -= 5;
	} else if (memchr(in, ':', inlen) != NULL) {
		*err = "unsupported address literal (only IPv4 and IPv6: are known)";
		return -1;
	}
	if (inlen == 0 || inlen >= sizeof(buf) || memchr(in, '\0', inlen) != NULL) {
		*err = af == AF_INET ? "invalid IPv4 address literal" :
		    "invalid IPv6 address literal";
		return -1;
	}
	memcpy(buf, in, inlen);
	buf[inlen] = '\0';
	if (inet_pton(af, buf, bin) != 1) {
		*err = af == AF_INET ? "invalid IPv4 address literal" :
		    "invalid IPv6 address literal";
		return -1;
	}
	return 0;
}

int
addr_check_domain(const char *s, size_t len, const char **err)
{
	if (len > 0 && s[0] == '[')
		return check_literal(s, len, err);
	return check_labels(s, len, err);
}

/* The end of a domain or literal starting at s: the first octet not part of it. */
static size_t
domain_span(const char *s, bool allow_literal)
{
	size_t	i = 0;

	if (allow_literal && s[0] == '[') {
		while (s[i] != '\0' && s[i] != ']')
			i++;
		return s[i] == ']' ? i + 1 : i;
	}
	while (s[i] != '\0' && s[i] != '>' && s[i] != ',' && s[i] != ':' &&
	    s[i] != ' ')
		i++;
	return i;
}

/* A-d-l = At-domain *( "," At-domain ) ":" -- accepted and dropped (RFC 5321 C). */
static size_t
skip_source_route(const char *s, const char **err)
{
	size_t	i = 0;

	if (s[0] != '@')
		return 0;
	for (;;) {
		size_t n;

		if (s[i] != '@') {
			*err = "invalid source route";
			return SIZE_MAX;
		}
		i++;
		n = domain_span(s + i, false);
		if (check_labels(s + i, n, err) == -1)
			return SIZE_MAX;
		i += n;
		if (s[i] == ':')
			return i + 1;
		if (s[i] != ',') {
			*err = "invalid source route";
			return SIZE_MAX;
		}
		i++;
	}
}

int
addr_parse_path(const char *s, int flags, struct addr_path *out, const char **err)
{
	const char	*mb, *dom, *p;
	size_t		 i, n, route, llen, dlen, pathlen;

	memset(out, 0, sizeof(*out));
	out->params = "";
	if (s[0] != '<') {
		*err = s[0] == '\0' ? "missing address" :
		    "address must be enclosed in <>";
		return -1;
	}
	if (s[1] == '>') {
		if (!(flags & ADDR_F_NULL_OK)) {
			*err = "the null address <> is not allowed here";
			return -1;
		}
		out->null = true;
		p = s + 2;
		goto params;
	}

	route = skip_source_route(s + 1, err);
	if (route == SIZE_MAX)
		return -1;
	mb = s + 1 + route;

	if (mb[0] == '"')
		llen = parse_quoted_string(mb, err);
	else
		llen = parse_dot_string(mb, err);
	if (llen == 0)
		return -1;
	if (mb[llen] != '@') {
		if (mb[llen] == '>')
			*err = "address has no domain";
		else if (mb[0] == '"')
			*err = "junk after quoted local part";
		else if ((unsigned char)mb[llen] >= 0x80)
			*err = "non-ASCII character in local part (SMTPUTF8 is not supported)";
		else if (mb[llen] == '\0')
			*err = "missing '>'";
		else
			*err = "invalid character in local part";
		return -1;
	}
	if (llen > ADDR_LOCAL_MAX) {
		*err = "local part too long (64 octets max)";
		return -1;
	}

	dom = mb + llen + 1;
	dlen = domain_span(dom, true);
	if (dom[0] == '[') {
		if (dlen > ADDR_DOMAIN_MAX) {
			*err = "domain too long (255 octets max)";
			return -1;
		}
		if (check_literal(dom, dlen, err) == -1)
			return -1;
		out->literal = true;
	} else if (check_labels(dom, dlen, err) == -1)
		return -1;

	if (dom[dlen] != '>') {
		if (dom[dlen] == '\0')
			*err = "missing '>'";
		else
			*err = "invalid character in domain";
		return -1;
	}

	/* "<" + route + mailbox + ">" */
	pathlen = 1 + route + llen + 1 + dlen + 1;
	if (pathlen > ADDR_PATH_MAX) {
		*err = "address too long (256 octets max)";
		return -1;
	}
	n = llen + 1 + dlen;
	memcpy(out->mailbox, mb, n);
	out->mailbox[n] = '\0';
	out->at = llen;
	p = dom + dlen + 1;

 params:
	if (*p == '\0') {
		out->params = p;
		return 0;
	}
	if (*p != ' ') {
		*err = "junk after '>'";
		return -1;
	}
	for (i = 0; p[i] == ' '; i++)
		;
	out->params = p + i;
	return 0;
}

int
addr_check_mailbox(const char *s, bool null_ok, const char **err)
{
	struct addr_path	p;
	char			buf[ADDR_PATH_MAX + 1];
	size_t			n = strlen(s);

	if (n + 2 > ADDR_PATH_MAX) {
		*err = "address too long (256 octets max)";
		return -1;
	}
	if (s[0] == '@' || s[0] == '<') {
		*err = s[0] == '@' ? "invalid character in local part" :
		    "address must not be enclosed in <> here";
		return -1;
	}
	buf[0] = '<';
	memcpy(buf + 1, s, n);
	buf[n + 1] = '>';
	buf[n + 2] = '\0';
	if (addr_parse_path(buf, null_ok ? ADDR_F_NULL_OK : 0, &p, err) == -1)
		return -1;
	if (p.params[0] != '\0' || strcmp(p.mailbox, s) != 0) {
		*err = "junk after the address";
		return -1;
	}
	return 0;
}

int
addr_domain(const char *mailbox, char *buf, size_t len)
{
	const char	*at;
	size_t		 i, n;

	/* A domain never holds '@'; a quoted local part may, so take the last. */
	if ((at = strrchr(mailbox, '@')) == NULL || at[1] == '\0')
		return -1;
	at++;
	n = strlen(at);
	if (n >= len)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)at[i]);
	buf[n] = '\0';
	return 0;
}
