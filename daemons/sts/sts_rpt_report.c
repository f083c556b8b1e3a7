/* SPDX-License-Identifier: ISC */
/*
 * sts_rpt_report.c - one TLS report (RFC 8460 section 4) of the sts
 * process: the counters of a policy domain as the report's JSON
 * (shared/tlsrpt.c), its MTA-STS policy-string from the policy cache, the
 * report id and file name of section 5, compressed with zlib (gzip). Called
 * by sts_rpt_send.c when a day's reports go out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>

#include "config.h"
#include "log.h"
#include "tlsrpt.h"
#include "xmalloc.h"

#include "sts.h"
#include "sts_rpt.h"

void
rpt_report_unref(struct report *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	free(r->gz);
	free(r);
}

/* RFC 1952 gzip of the JSON (RFC 8460 5.1: the report is compressed). */
static uint8_t *
gzip(const char *in, size_t len, size_t *outlen)
{
	z_stream	 z;
	uint8_t		*out;
	uLong		 cap;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&z, (uLong)len) + 32;
	out = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

/* An MTA-STS policy as its policy-string lines (RFC 8460 4.4), from the cache. */
static unsigned
sts_strings(const char *domain, char (*lines)[STS_HOST_MAX + 16], unsigned max,
    const char **mx, unsigned *nmx)
{
	const struct sts_entry	*all;
	unsigned		 n, i, k, l = 0;

	*nmx = 0;
	all = sts_cache_all(&n);
	for (i = 0; i < n; i++) {
		const struct sts_entry *e = &all[i];

		if (strcasecmp(e->domain, domain) != 0)
			continue;
		snprintf(lines[l++], sizeof(lines[0]), "version: STSv1");
		snprintf(lines[l++], sizeof(lines[0]), "mode: %s", sts_mode_name(e->pol.mode));
		for (k = 0; k < e->pol.nmx && l + 1 < max; k++) {
			snprintf(lines[l++], sizeof(lines[0]), "mx: %s", e->pol.mx[k]);
			mx[(*nmx)++] = e->pol.mx[k];
		}
		snprintf(lines[l++], sizeof(lines[0]), "max_age: %u", e->pol.max_age);
		break;
	}
	return l;
}

/* The report of one policy domain, every policy type counted for it. */
struct report *
rpt_report_build(const struct config *c, const struct rpt_set *set, const char *domain, uint64_t start, uint64_t end)
{
	struct tlsrpt_policy	 pol[TLSRPT_NO_POLICY + 1];
	struct tlsrpt_failure	 fail[TLSRPT_NO_POLICY + 1][RPT_DETAILS_MAX];
	const char		*strs[TLSRPT_NO_POLICY + 1][STS_MX_MAX + 4];
	char			 stsl[STS_MX_MAX + 4][STS_HOST_MAX + 16];
	const char		*stsmx[STS_MX_MAX];
	struct tlsrpt_report	 rep;
	struct report		*r;
	char			 host[HOSTNAME_MAX], contact[512], day[32], *json;
	const char		*sub = host;
	unsigned		 i, k, np = 0, nsts, nstsmx = 0;
	size_t			 jlen;
	struct tm		 tm;
	time_t			 t = (time_t)start;

	tlsrpt_submitter(c->tlsrpt_submitter, c->helo_name, host, sizeof(host));
	memset(pol, 0, sizeof(pol));
	for (i = 0; i < set->n && np <= TLSRPT_NO_POLICY; i++) {
		const struct rpt_policy *p = &set->p[i];
		struct tlsrpt_policy *tp = &pol[np];

		if (strcasecmp(p->domain, domain) != 0)
			continue;
		tp->type = p->type;
		tp->domain = p->domain;
		tp->ok = p->ok;
		tp->failed = p->failed;
		if (p->type == TLSRPT_STS) {
			nsts = sts_strings(domain, stsl, STS_MX_MAX + 4, stsmx, &nstsmx);
			for (k = 0; k < nsts; k++)
				strs[np][k] = stsl[k];
			tp->nstrings = nsts;
			tp->mx = stsmx;
			tp->nmx = nstsmx;
		} else {
			for (k = 0; k < p->nstrings; k++)
				strs[np][k] = p->strings[k];
			tp->nstrings = p->nstrings;
		}
		tp->strings = strs[np];
		for (k = 0; k < p->ndetails; k++) {
			fail[np][k].result_type = tlsrpt_result_name(p->details[k].result);
			fail[np][k].mx_host = p->details[k].mx[0] ? p->details[k].mx : NULL;
			fail[np][k].receiving_ip = p->details[k].ip[0] ? p->details[k].ip : NULL;
			fail[np][k].sending_ip = p->details[k].sending_ip[0] ?
			    p->details[k].sending_ip : NULL;
			fail[np][k].count = p->details[k].count;
		}
		tp->failures = fail[np];
		tp->nfailures = p->ndetails;
		np++;
	}
	r = xcalloc(1, sizeof(*r));
	r->refs = 1;
	strlcpy(r->domain, domain, sizeof(r->domain));
	r->start = start;
	r->end = end;
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y.%m.%dT%H.%M.%SZ", &tm);
	/* RFC 8460 5.3: unique per report; a random part tells apart two sent on one day */
	snprintf(r->id, sizeof(r->id), "%s.%08x+%s@%s", day, arc4random(), domain, sub);
	snprintf(r->file, sizeof(r->file), "%s!%s!%llu!%llu.json.gz", sub, domain,
	    (unsigned long long)start, (unsigned long long)end);
	tlsrpt_postmaster(c->tlsrpt_contact, sub, contact, sizeof(contact));
	memset(&rep, 0, sizeof(rep));
	rep.org = sub;
	rep.contact = contact;
	rep.report_id = r->id;
	rep.start = (int64_t)start;
	rep.end = (int64_t)end;
	rep.policies = pol;
	rep.npolicies = np;
	json = tlsrpt_json(&rep, &jlen);
	r->gz = gzip(json, jlen, &r->gzlen);
	free(json);
	if (r->gz == NULL) {
		log_warnx("TLS-RPT report for %s: gzip failed", domain);
		rpt_report_unref(r);
		return NULL;
	}
	return r;
}
