/* SPDX-License-Identifier: ISC */
/*
 * resolver_tlsa.c - TLSA lookups for DANE (RFC 7672): the owner name
 * _port._tcp.host of the scheduler's DNS_QUERY_TLSA, the reading of a
 * libunbound TLSA answer (pure: unit tests and a fuzz target), and the
 * DNS_TLSA answer frame. Run by the resolver; resolver_query.c starts the
 * query and calls back here with the result. The DNSSEC verdict travels
 * with the answer: the scheduler alone decides what an insecure or bogus
 * answer means for a delivery.
 */
#include <stdio.h>
#include <string.h>

#include <unbound.h>

#include "chan.h"
#include "dane.h"
#include "frame.h"
#include "log.h"
#include "resolver.h"

size_t
rdata_tlsa_list(const struct ub_result *res, struct ranswer *a, struct dane_rr *out,
    size_t max, uint16_t *seen, const char **why)
{
	struct dane_rr	 rr;
	const char	*rwhy;
	size_t		 i, n = 0;
	int		 rv;

	*seen = 0;
	if (a->status != DNS_OK)
		return 0;
	if (res->qtype != RR_TLSA) {
		*why = "answer of another type";
		a->status = DNS_PERMFAIL;
		return 0;
	}
	for (i = 0; res->data[i] != NULL && i < RESOLVER_RDATA_MAX; i++) {
		if (res->len[i] < 0 || (rv = dane_rr_decode((const uint8_t *)res->data[i],
		    (size_t)res->len[i], &rr, &rwhy)) == -1) {
			/* A broken record set is a failed lookup, not an absent one. */
			*why = "malformed TLSA record";
			a->status = DNS_PERMFAIL;
			return 0;
		}
		(*seen)++;
		if (rv == 1 && n < max)
			out[n++] = rr;
	}
	return n;
}

/* "_25._tcp.mx.example.org"; false when it does not fit or is not a host name. */
bool
rdata_tlsa_owner(const char *host, uint16_t port, char *out, size_t outsz)
{
	int	 w;

	if (!rdata_name_ok(host))
		return false;
	w = snprintf(out, outsz, "_%u._tcp.%s", port, host);
	return w > 0 && (size_t)w < outsz && rdata_name_ok(out);
}

/* Frame and log one TLSA answer (n records, of seen in the answer). */
void
resolver_tlsa_answer(struct resolver *r, struct rquery *q, const struct ranswer *a,
    const struct dane_rr *rr, size_t n, uint16_t seen)
{
	struct fbuf	*fb;
	size_t		 i;

	fb = fbuf_new(MSG_DNS_TLSA, q->reqid);
	fbuf_add_u8(fb, a->status);
	fbuf_add_u8(fb, a->dnssec);
	fbuf_add_u32(fb, a->ttl);
	fbuf_add_u16(fb, seen);
	fbuf_add_u16(fb, (uint16_t)n);
	for (i = 0; i < n; i++) {
		fbuf_add_u8(fb, rr[i].usage);
		fbuf_add_u8(fb, rr[i].selector);
		fbuf_add_u8(fb, rr[i].mtype);
		fbuf_add_bytes(fb, rr[i].data, rr[i].len);
	}
	log_detail("answer %s TLSA: status %u, %u record(s), %zu usable (ttl %u, %s)",
	    q->name, a->status, seen, n, a->ttl, a->dnssec == DNSSEC_SECURE ? "secure" :
	    a->dnssec == DNSSEC_BOGUS ? "bogus" : "insecure");
	if (r->sched == NULL) {
		fbuf_free(fb);
		return;
	}
	if (chan_send(r->sched, fb) == -1)
		log_warnx("cannot answer the scheduler");
}

void
resolver_tlsa_result(struct resolver *r, struct rquery *q, struct rsub *s,
    struct ub_result *res)
{
	struct dane_rr	 rr[DANE_RR_MAX];
	const char	*why = NULL;
	uint16_t	 seen = 0;
	size_t		 n = 0;

	if (res != NULL)
		n = rdata_tlsa_list(res, &s->ans, rr, DANE_RR_MAX, &seen, &why);
	if (why != NULL)
		log_warnx("%s TLSA: bad answer: %s", q->name, why);
	resolver_tlsa_answer(r, q, &s->ans, rr, n, seen);
}
