/* SPDX-License-Identifier: ISC */
/*
 * sts_policy.c - MTA-STS records, policies and MX matching (RFC 8461), pure. Used
 * by the process that fetches policies and by the scheduler; tested by
 * tests/unit/test_sts.c and tests/fuzz/fuzz_sts.c.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "sts_policy.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int
sts_txt_parse(const char *txt, size_t len, char id[STS_ID_MAX], const char **why)
{
	size_t		 i = 0, klen, vlen, vstart;
	bool		 first = true, have_id = false;

	id[0] = '\0';
	while (i < len) {
		/* field: *WSP key "=" value *WSP (";" | end) */
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		klen = 0;
		while (i + klen < len && txt[i + klen] != '=' && txt[i + klen] != ';')
			klen++;
		if (i + klen == len || txt[i + klen] != '=') {
			*why = "field without '='";
			goto fail;
		}
		vstart = i + klen + 1;
		vlen = 0;
		while (vstart + vlen < len && txt[vstart + vlen] != ';')
			vlen++;
		while (vlen > 0 && is_wsp(txt[vstart + vlen - 1]))
			vlen--;
		if (first) {
			/* RFC 8461 3.1: the record begins with v=STSv1 */
			if (klen != 1 || txt[i] != 'v' || vlen != 5 ||
			    memcmp(txt + vstart, "STSv1", 5) != 0) {
				*why = "not an MTA-STS record (v=STSv1 first)";
				goto fail;
			}
			first = false;
		} else if (klen == 2 && memcmp(txt + i, "id", 2) == 0) {
			if (have_id || vlen < 1 || vlen >= STS_ID_MAX) {
				*why = "id repeated or of a bad length";
				goto fail;
			}
			for (size_t k = 0; k < vlen; k++)
				if (!isalnum((unsigned char)txt[vstart + k])) {
					*why = "id is not alphanumeric";
					goto fail;
				}
			memcpy(id, txt + vstart, vlen);
			id[vlen] = '\0';
			have_id = true;
		}
		i = vstart + vlen;
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i < len && txt[i] == ';')
			i++;
	}
	if (first || !have_id) {
		*why = first ? "empty record" : "no id";
		goto fail;
	}
	return 0;
fail:
	id[0] = '\0';
	return -1;
}

/* An mx pattern: a host name, or "*." and a host name (one label replaced). */
static bool
pattern_ok(const char *p)
{
	size_t	 len = strlen(p), lab = 0, i;

	if (strncmp(p, "*.", 2) == 0)
		p += 2, len -= 2;
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c == '_') || ++lab > 63)
			return false;
	}
	return lab > 0;
}

int
sts_policy_parse(const char *text, size_t len, struct sts_policy *p, const char **why)
{
	size_t		 i = 0, eol, klen, vstart, vend;
	bool		 have_version = false, have_mode = false, have_age = false;

	memset(p, 0, sizeof(*p));
	if (len > STS_POLICY_BYTES_MAX) {
		*why = "policy larger than 64 KiB";
		return -1;
	}
	while (i < len) {
		for (eol = i; eol < len && text[eol] != '\n'; eol++)
			if (text[eol] == '\0') {
				*why = "NUL in the policy";
				return -1;
			}
		vend = eol;
		if (vend > i && text[vend - 1] == '\r')
			vend--;
		if (vend == i) {	/* an empty line (the final one, often) */
			i = eol + 1;
			continue;
		}
		for (klen = 0; i + klen < vend && text[i + klen] != ':'; klen++)
			;
		if (i + klen == vend || klen == 0) {
			*why = "line without a key and ':'";
			return -1;
		}
		vstart = i + klen + 1;
		while (vstart < vend && is_wsp(text[vstart]))
			vstart++;
		while (vend > vstart && is_wsp(text[vend - 1]))
			vend--;
#define KEY(s)	(klen == sizeof(s) - 1 && memcmp(text + i, s, klen) == 0)
#define VAL(s)	(vend - vstart == sizeof(s) - 1 && memcmp(text + vstart, s, vend - vstart) == 0)
		if (KEY("version")) {
			if (have_version || !VAL("STSv1")) {
				*why = "version is not STSv1";
				return -1;
			}
			have_version = true;
		} else if (KEY("mode")) {
			if (have_mode) {
				*why = "mode given twice";
				return -1;
			}
			if (VAL("enforce"))
				p->mode = STS_MODE_ENFORCE;
			else if (VAL("testing"))
				p->mode = STS_MODE_TESTING;
			else if (VAL("none"))
				p->mode = STS_MODE_NONE;
			else {
				*why = "mode is not enforce, testing or none";
				return -1;
			}
			have_mode = true;
		} else if (KEY("max_age")) {
			uint64_t v = 0;
			size_t k;

			if (have_age || vend == vstart || vend - vstart > 10) {
				*why = "bad max_age";
				return -1;
			}
			for (k = vstart; k < vend; k++) {
				if (!isdigit((unsigned char)text[k])) {
					*why = "max_age is not a number";
					return -1;
				}
				v = v * 10 + (uint64_t)(text[k] - '0');
			}
			if (v > STS_MAX_AGE_MAX)
				v = STS_MAX_AGE_MAX;	/* RFC 8461 3.2: at most a year is used */
			p->max_age = (uint32_t)v;
			have_age = true;
		} else if (KEY("mx")) {
			char	 pat[STS_HOST_MAX];
			size_t	 vl = vend - vstart, k;

			if (vl == 0 || vl >= sizeof(pat)) {
				*why = "bad mx pattern";
				return -1;
			}
			for (k = 0; k < vl; k++)
				pat[k] = (char)tolower((unsigned char)text[vstart + k]);
			pat[vl] = '\0';
			if (vl > 1 && pat[vl - 1] == '.')
				pat[--vl] = '\0';
			if (!pattern_ok(pat)) {
				*why = "bad mx pattern";
				return -1;
			}
			if (p->nmx < STS_MX_MAX)
				memcpy(p->mx[p->nmx++], pat, vl + 1);
		}
		/* other keys: ignored (RFC 8461 3.2, extensions) */
#undef KEY
#undef VAL
		i = eol + 1;
	}
	if (!have_version || !have_mode || !have_age) {
		*why = !have_version ? "no version" : !have_mode ? "no mode" : "no max_age";
		return -1;
	}
	if (p->mode != STS_MODE_NONE && p->nmx == 0) {
		*why = "no mx pattern";
		return -1;
	}
	return 0;
}

bool
sts_mx_match(const struct sts_policy *p, const char *host)
{
	char		 h[STS_HOST_MAX];
	size_t		 len, i;
	const char	*dot;

	if ((len = strlcpy(h, host, sizeof(h))) >= sizeof(h) || len == 0)
		return false;
	if (h[len - 1] == '.')
		h[--len] = '\0';
	for (i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];

		if (strncmp(pat, "*.", 2) == 0) {
			/* the wildcard stands for exactly one leftmost label (RFC 8461 4.1) */
			if ((dot = strchr(h, '.')) != NULL && dot != h &&
			    strcasecmp(dot + 1, pat + 2) == 0)
				return true;
		} else if (strcasecmp(h, pat) == 0)
			return true;
	}
	return false;
}

const char *
sts_mode_name(uint8_t m)
{
	return m == STS_MODE_ENFORCE ? "enforce" : m == STS_MODE_TESTING ? "testing" : "none";
}
