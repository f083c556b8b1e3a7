/* SPDX-License-Identifier: ISC */
/*
 * dane.c - TLSA record data and the DANE decision for one MX host (RFC 7672).
 * Pure: the resolver decodes records with it, the scheduler decides with it,
 * the unit tests and a fuzz target call both.
 */
#include <string.h>

#include "config.h"
#include "dane.h"

int
dane_rr_decode(const uint8_t *p, size_t len, struct dane_rr *rr, const char **why)
{
	size_t	dlen;

	memset(rr, 0, sizeof(*rr));
	*why = NULL;
	if (p == NULL || len < 4) {
		*why = "TLSA record shorter than 4 bytes";
		return -1;
	}
	rr->usage = p[0];
	rr->selector = p[1];
	rr->mtype = p[2];
	dlen = len - 3;
	if (rr->usage != DANE_USAGE_DANE_TA && rr->usage != DANE_USAGE_DANE_EE) {
		/* RFC 7672 3.1.3: PKIX usages mean nothing without a CA set agreed for SMTP */
		*why = "certificate usage not usable for SMTP";
		return 0;
	}
	if (rr->selector > DANE_SELECTOR_SPKI) {
		*why = "unknown selector";
		return 0;
	}
	switch (rr->mtype) {
	case DANE_MTYPE_SHA256:
		if (dlen != 32) {
			*why = "SHA2-256 data is not 32 bytes";
			return 0;
		}
		break;
	case DANE_MTYPE_SHA512:
		if (dlen != 64) {
			*why = "SHA2-512 data is not 64 bytes";
			return 0;
		}
		break;
	default:
		/* Full(0) is NOT RECOMMENDED by RFC 7671 5.1 and may be kilobytes. */
		*why = "matching type not supported (digests only)";
		return 0;
	}
	rr->len = (uint8_t)dlen;
	memcpy(rr->data, p + 3, dlen);
	return 1;
}

bool
dane_rr_usable(const struct dane_rr *rr)
{
	if (rr->usage != DANE_USAGE_DANE_TA && rr->usage != DANE_USAGE_DANE_EE)
		return false;
	if (rr->selector > DANE_SELECTOR_SPKI)
		return false;
	return (rr->mtype == DANE_MTYPE_SHA256 && rr->len == 32) ||
	    (rr->mtype == DANE_MTYPE_SHA512 && rr->len == 64);
}

bool
dane_wanted(uint8_t policy)
{
	return policy == TLS_DANE || policy == TLS_DANE_ONLY;
}

void
dane_decide(uint8_t policy, bool names_secure, enum dane_tlsa t, struct dane_verdict *v)
{
	bool	only = policy == TLS_DANE_ONLY;

	v->use = true;
	v->tls = policy;
	v->why = "";
	if (!dane_wanted(policy))
		return;
	if (!names_secure || t == DANE_TLSA_NONE) {
		/* Without signed names a TLSA record proves nothing (RFC 7672 2.2). */
		v->tls = TLS_MAY;
		if (only) {
			v->use = false;
			v->why = "no DNSSEC-signed MX and address records (tls=dane-only)";
		}
		return;
	}
	switch (t) {
	case DANE_TLSA_USABLE:
		v->tls = TLS_DANE;
		return;
	case DANE_TLSA_UNUSABLE:
		/* RFC 7672 2.2: still mandatory TLS, without authentication */
		v->tls = TLS_ENCRYPT;
		return;
	case DANE_TLSA_FAILED:
		/* RFC 7672 2.2.1: never fall back to an unprotected session */
		v->use = false;
		v->why = "TLSA lookup failed or DNSSEC-bogus";
		return;
	default:
		v->tls = TLS_MAY;
		if (only) {
			v->use = false;
			v->why = "no TLSA records (tls=dane-only)";
		}
		return;
	}
}

const char *
dane_tlsa_name(enum dane_tlsa t)
{
	switch (t) {
	case DANE_TLSA_NONE:
		return "not looked up";
	case DANE_TLSA_INSECURE:
		return "none or insecure";
	case DANE_TLSA_USABLE:
		return "usable";
	case DANE_TLSA_UNUSABLE:
		return "unusable";
	default:
		return "failed";
	}
}
