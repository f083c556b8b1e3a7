/* SPDX-License-Identifier: ISC */
/*
 * sched_dane.c - DANE for a destination (RFC 7672): which MX hosts get a TLSA
 * lookup, what the answer means for the addresses of each host, and the
 * per-address part of AGENT_DELIVER that carries policy and records to the
 * agent. Run by the scheduler; called by sched_dest.c while a destination
 * resolves and by sched_job.c when a transaction is handed to an agent. The
 * decision itself is dane_decide() (shared/dane.c, pure, unit-tested).
 *
 * Only a host whose MX answer (when there was an MX lookup) and address
 * answer were both DNSSEC-secure is looked up: an attacker who can forge the
 * names could forge the absence of TLSA records as well (RFC 7672 2.2).
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "tlsrpt.h"
#include "xmalloc.h"

static bool
names_secure(const struct dest *d, const struct dest_host *h)
{
	return d->mx_dnssec == DNSSEC_SECURE && h->dnssec == DNSSEC_SECURE &&
	    h->status == DNS_OK && h->naddr > 0;
}

bool
sched_dane_query(struct sched *s, struct dest *d, unsigned host)
{
	struct dest_host	*h = &d->hosts[host];

	h->tlsa = DANE_TLSA_NONE;
	memset(&h->dane, 0, sizeof(h->dane));
	if (!dane_wanted(d->tls) || d->is_ip || !names_secure(d, h))
		return false;
	h->tlsa = DANE_TLSA_FAILED;	/* until an answer says otherwise */
	sched_dnsq_send(s, d, DNSQ_TLSA, host);
	return true;
}

static enum dane_tlsa
tlsa_verdict(uint8_t status, uint8_t sec, uint16_t seen, unsigned usable)
{
	if (sec == DNSSEC_BOGUS)
		return DANE_TLSA_FAILED;
	switch (status) {
	case DNS_OK:
		if (sec != DNSSEC_SECURE)
			return DANE_TLSA_INSECURE;
		return usable > 0 ? DANE_TLSA_USABLE : seen > 0 ? DANE_TLSA_UNUSABLE :
		    DANE_TLSA_INSECURE;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		/* a denial, signed or not: no TLSA records, so no DANE */
		return DANE_TLSA_INSECURE;
	default:
		return DANE_TLSA_FAILED;
	}
}

int
sched_dane_tlsa_frame(struct sched *s, struct frame *f, struct dest *d, unsigned host)
{
	uint8_t		 status, sec;
	uint32_t	 ttl;
	uint16_t	 seen, n, i;
	struct dest_dane dane;
	struct dest_host *h;
	const uint8_t	*p;
	size_t		 len;

	memset(&dane, 0, sizeof(dane));
	if (!frame_get_u8(f, &status) || !frame_get_u8(f, &sec) ||
	    !frame_get_u32(f, &ttl) || !frame_get_u16(f, &seen) ||
	    !frame_get_u16(f, &n) || status > DNS_PERMFAIL || sec > DNSSEC_BOGUS ||
	    n > DANE_RR_MAX || n > seen)
		return -1;
	for (i = 0; i < n; i++) {
		struct dane_rr *rr = &dane.rr[i];

		if (!frame_get_u8(f, &rr->usage) || !frame_get_u8(f, &rr->selector) ||
		    !frame_get_u8(f, &rr->mtype) || !frame_get_bytes(f, &p, &len) ||
		    len > DANE_DATA_MAX)
			return -1;
		rr->len = (uint8_t)len;
		memcpy(rr->data, p, len);
		/* the resolver sends only usable records: anything else is a bug there */
		if (!dane_rr_usable(rr))
			return -1;
	}
	dane.nrr = n;
	if (!frame_end(f))
		return -1;
	if (d == NULL || host >= d->nhosts)
		return 0;
	h = &d->hosts[host];
	h->tlsa = tlsa_verdict(status, sec, seen, n);
	h->dane = dane;
	if (h->tlsa != DANE_TLSA_FAILED && ttl > 0 && ttl < d->ttl)
		d->ttl = ttl;
	log_info("%s: TLSA of %s: %s (%u record(s), %u usable, %s)", d->res_id,
	    h->mx.host, dane_tlsa_name(h->tlsa), seen, n, sec == DNSSEC_SECURE ?
	    "secure" : sec == DNSSEC_BOGUS ? "bogus" : "insecure");
	/* RFC 8460 4.3.2.1: no session could be tried under a bogus TLSA answer */
	if (sec == DNSSEC_BOGUS)
		sched_tlsrpt_policy_failure(s, d, TLSRPT_TLSA, TLSRPT_DNSSEC_INVALID, h->mx.host);
	if (d->pending == 0)
		sched_dest_addrs_done(s, d);
	return 0;
}

bool
sched_dane_host(struct sched *s, struct dest *d, struct dest_host *h, uint8_t *tls,
    uint8_t *dane, const char **why)
{
	struct dane_verdict	 v;

	*dane = 0;
	*tls = d->tls;
	*why = "";
	if (!dane_wanted(d->tls))
		return true;
	dane_decide(d->tls, names_secure(d, h), h->tlsa, &v);
	*tls = v.tls;
	*why = v.why;
	/* RFC 8460 4.3.2.1: dane-only, and this host has no validated TLSA records */
	if (!v.use && d->tls == TLS_DANE_ONLY && h->tlsa != DANE_TLSA_FAILED)
		sched_tlsrpt_policy_failure(s, d, TLSRPT_TLSA, TLSRPT_DANE_REQUIRED, h->mx.host);
	if (!v.use)
		return false;
	d->per_addr = true;
	if (v.tls == TLS_DANE) {
		d->dane = xreallocarray(d->dane, d->ndane + 1, sizeof(*d->dane));
		d->dane[d->ndane] = h->dane;
		*dane = (uint8_t)d->ndane++;
	}
	log_detail("%s: host %s of %s: tls=%s (TLSA %s)", d->res_id, h->mx.host, d->lookup,
	    tls_policy_name(v.tls), dane_tlsa_name(h->tlsa));
	return true;
}

void
sched_dane_put(struct fbuf *fb, const struct dest *d, const bool *live)
{
	unsigned	 i, k, n = 0;

	if (!dane_wanted(d->tls) && !d->per_addr) {
		fbuf_add_u16(fb, 0);
		return;
	}
	/* One policy per address sent: those the unreachable-host cache left in. */
	for (i = 0; i < d->naddrs; i++)
		n += live[i] ? 1 : 0;
	fbuf_add_u16(fb, (uint16_t)n);
	for (i = 0; i < d->naddrs; i++) {
		const struct sched_addr *a = &d->addrs[i];
		const struct dest_dane *dd = NULL;

		if (!live[i])
			continue;

		if (d->is_ip) {
			/*
			 * An address literal has no name to sign: dane is may, and
			 * dane-only is TLS_DANE with no record, which the agent
			 * refuses (deferred, never sent in clear).
			 */
			fbuf_add_u8(fb, d->tls == TLS_DANE_ONLY ? TLS_DANE : TLS_MAY);
			fbuf_add_u16(fb, 0);
			continue;
		}
		fbuf_add_u8(fb, a->tls);
		if (a->tls == TLS_DANE && a->dane < d->ndane)
			dd = &d->dane[a->dane];
		fbuf_add_u16(fb, dd != NULL ? (uint16_t)dd->nrr : 0);
		for (k = 0; dd != NULL && k < dd->nrr; k++) {
			fbuf_add_u8(fb, dd->rr[k].usage);
			fbuf_add_u8(fb, dd->rr[k].selector);
			fbuf_add_u8(fb, dd->rr[k].mtype);
			fbuf_add_bytes(fb, dd->rr[k].data, dd->rr[k].len);
		}
	}
}

void
sched_dane_reset(struct dest *d)
{
	free(d->dane);
	d->dane = NULL;
	d->ndane = 0;
}
