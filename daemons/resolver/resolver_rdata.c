/* SPDX-License-Identifier: ISC */
/*
 * resolver_rdata.c - what the resolver reads out of libunbound's results:
 * the verdict (status, DNSSEC, TTL), A/AAAA record data, and MX record data
 * (a preference and a wire-format name, decoded here because libunbound
 * hands record data over raw). Pure functions; run by the resolver, called
 * by resolver_query.c, the unit tests and the fuzz target.
 *
 * Everything in a DNS answer is untrusted: lengths are checked before every
 * read, names are held to host name syntax, counts are bounded.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unbound.h>

#include "resolver.h"

#define RR_A	1
#define RR_MX	15
#define RR_AAAA	28

static bool
label_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

bool
rdata_name_ok(const char *name)
{
	size_t	len = strlen(name), lab = 0, i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!label_char((unsigned char)name[i]) || ++lab > 63)
			return false;
	}
	return lab > 0;
}

int
rdata_name(const uint8_t *p, size_t len, char *out, size_t outsz, const char **why)
{
	size_t	off = 0, o = 0, l, i;

	if (outsz < 2) {
		*why = "no room";
		return -1;
	}
	for (;;) {
		if (off >= len) {
			*why = "name runs past the record";
			return -1;
		}
		l = p[off++];
		if (l == 0)
			break;
		if (l > 63) {
			*why = (l & 0xc0) == 0xc0 ? "compressed name in record data" :
			    "bad label length";
			return -1;
		}
		if (off + l > len) {
			*why = "label runs past the record";
			return -1;
		}
		if (off + l >= 255) {
			*why = "name longer than 255 octets";
			return -1;
		}
		if (o + l + 2 > outsz) {
			*why = "name too long";
			return -1;
		}
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < l; i++) {
			unsigned char c = p[off + i];

			if (!label_char(c)) {
				*why = "character not allowed in a host name";
				return -1;
			}
			out[o++] = (char)tolower(c);
		}
		off += l;
	}
	if (off != len) {
		*why = "bytes after the name";
		return -1;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

int
rdata_mx(const uint8_t *p, size_t len, uint16_t *pref, char *host, size_t hostsz,
    const char **why)
{
	if (len < 3) {
		*why = "MX record too short";
		return -1;
	}
	*pref = (uint16_t)(p[0] << 8 | p[1]);
	return rdata_name(p + 2, len - 2, host, hostsz, why);
}

static bool
canon_differs(const char *canon, const char *qname)
{
	size_t	a, b;

	if (canon == NULL || qname == NULL)
		return false;
	a = strlen(canon);
	b = strlen(qname);
	if (a > 0 && canon[a - 1] == '.')
		a--;
	if (b > 0 && qname[b - 1] == '.')
		b--;
	return a != b || strncasecmp(canon, qname, a) != 0;
}

void
rdata_classify(int err, const struct ub_result *res, bool mxtarget, struct ranswer *a)
{
	a->status = DNS_TEMPFAIL;
	a->dnssec = DNSSEC_INSECURE;
	a->ttl = 0;
	if (err != 0 || res == NULL)
		return;
	a->dnssec = res->secure ? DNSSEC_SECURE : res->bogus ? DNSSEC_BOGUS :
	    DNSSEC_INSECURE;
	a->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
	if (res->bogus)
		return;			/* validation failed: never used, maybe later */
	if (res->rcode == 3 || res->nxdomain)
		a->status = DNS_NXDOMAIN;
	else if (res->rcode != 0)
		a->status = DNS_TEMPFAIL;
	else if (mxtarget && canon_differs(res->canonname, res->qname))
		a->status = DNS_PERMFAIL;	/* RFC 2181 10.3: an MX names no alias */
	else if (!res->havedata || res->data == NULL || res->data[0] == NULL)
		a->status = DNS_NODATA;
	else
		a->status = DNS_OK;
}

static int
rmx_cmp(const void *x, const void *y)
{
	const struct rmx	*a = x, *b = y;

	return (a->pref > b->pref) - (a->pref < b->pref);
}

size_t
rdata_mx_list(const struct ub_result *res, struct ranswer *a, struct rmx *out, size_t max,
    const char **why)
{
	struct rmx	*all;
	size_t		 i, n = 0, nnull = 0;

	if (a->status != DNS_OK)
		return 0;
	if (res->qtype != RR_MX) {
		*why = "answer of another type";
		a->status = DNS_PERMFAIL;
		return 0;
	}
	for (i = 0; res->data[i] != NULL && i < RESOLVER_RDATA_MAX; i++)
		;
	if ((all = calloc(i, sizeof(*all))) == NULL) {
		*why = "out of memory";
		a->status = DNS_TEMPFAIL;
		return 0;
	}
	for (i = 0; res->data[i] != NULL && i < RESOLVER_RDATA_MAX; i++) {
		if (res->len[i] < 0 || rdata_mx((const uint8_t *)res->data[i],
		    (size_t)res->len[i], &all[n].pref, all[n].host, sizeof(all[n].host),
		    why) == -1) {
			free(all);
			a->status = DNS_PERMFAIL;
			return 0;
		}
		if (strcmp(all[n].host, ".") == 0) {
			nnull++;	/* RFC 7505: a null MX stands alone */
			continue;
		}
		n++;
	}
	if (n == 0) {
		free(all);
		a->status = nnull > 0 ? DNS_NULLMX : DNS_NODATA;
		return 0;
	}
	/* stable enough: the scheduler shuffles equal preferences anyway */
	qsort(all, n, sizeof(*all), rmx_cmp);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(*all));
	free(all);
	return n;
}

size_t
rdata_addrs(const struct ub_result *res, uint8_t family, uint8_t (*out)[16], size_t max,
    struct ranswer *a, const char **why)
{
	size_t	i, n = 0, want = family == 4 ? 4 : 16;

	if (a->status != DNS_OK)
		return 0;
	if (res->qtype != (family == 4 ? RR_A : RR_AAAA)) {
		*why = "answer of another type";
		a->status = DNS_PERMFAIL;
		return 0;
	}
	for (i = 0; res->data[i] != NULL && i < RESOLVER_RDATA_MAX; i++) {
		if (res->len[i] < 0 || (size_t)res->len[i] != want) {
			*why = "address record of the wrong length";
			a->status = DNS_PERMFAIL;
			return 0;
		}
		if (n < max) {
			memset(out[n], 0, 16);
			memcpy(out[n], res->data[i], want);
			n++;
		}
	}
	return n;
}
