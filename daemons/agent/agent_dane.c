/* SPDX-License-Identifier: ISC */
/*
 * agent_dane.c - DANE in the delivery agent (RFC 7672): the per-address TLS
 * policy and TLSA records the scheduler sends with a job, and their hand-over
 * to OpenSSL's own DANE verification (SSL_dane_enable, SSL_dane_tlsa_add);
 * nothing here matches certificates itself. Run by the agent; called by
 * agent_job.c (decoding), agent_tls.c (context, SSL) and agent_session.c
 * (which policy a connection has, whether the peer was DANE-authenticated).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "frame.h"
#include "log.h"

#include "agent.h"

bool
dane_ctx_init(SSL_CTX *ctx)
{
	/* SHA2-256 and SHA2-512 are OpenSSL's defaults for matching types 1 and 2. */
	return SSL_CTX_dane_enable(ctx) > 0;
}

bool
dane_job_decode(struct frame *f, struct agent_job *j, const char **why)
{
	uint16_t	 n, nrr, i, k;
	const uint8_t	*p;
	size_t		 len;

	if (!frame_get_u16(f, &n))
		return false;
	if (n == 0)
		return true;
	if (n != j->naddr) {
		*why = "per-address TLS policies do not match the addresses";
		return false;
	}
	for (i = 0; i < n; i++) {
		struct agent_addr *a = &j->addrs[i];

		if (!frame_get_u8(f, &a->tls) || !frame_get_u16(f, &nrr))
			return false;
		if (a->tls > TLS_STS || a->tls == TLS_DANE_ONLY || nrr > DANE_RR_MAX ||
		    (nrr > 0 && a->tls != TLS_DANE)) {
			*why = "bad per-address TLS policy";
			return false;
		}
		a->has_tls = true;
		a->nrr = (uint8_t)nrr;
		for (k = 0; k < nrr; k++) {
			struct dane_rr *rr = &a->rr[k];

			if (!frame_get_u8(f, &rr->usage) || !frame_get_u8(f, &rr->selector) ||
			    !frame_get_u8(f, &rr->mtype) || !frame_get_bytes(f, &p, &len))
				return false;
			if (len > DANE_DATA_MAX) {
				*why = "TLSA data too long";
				return false;
			}
			rr->len = (uint8_t)len;
			memcpy(rr->data, p, len);
			if (!dane_rr_usable(rr)) {
				*why = "unusable TLSA record";
				return false;
			}
		}
	}
	return true;
}

uint8_t
dane_addr_policy(const struct agent_job *j, const struct agent_addr *a)
{
	return a->has_tls ? a->tls : j->tls;
}

bool
dane_addr_same(const struct agent_addr *a, const struct agent_addr *b)
{
	if (a->has_tls != b->has_tls || a->tls != b->tls || a->nrr != b->nrr)
		return false;
	return a->nrr == 0 || memcmp(a->rr, b->rr, a->nrr * sizeof(a->rr[0])) == 0;
}

bool
dane_ssl_setup(SSL *ssl, const struct agent_addr *a, char *err, size_t errlen)
{
	unsigned	 i, added = 0;
	int		 rv;

	if (a->nrr == 0) {
		/* dane-only towards an address literal, or a scheduler bug: never clear */
		snprintf(err, errlen, "no usable TLSA record for %s", a->host);
		return false;
	}
	if (SSL_dane_enable(ssl, a->host) <= 0) {
		snprintf(err, errlen, "cannot enable DANE for %s", a->host);
		ERR_clear_error();
		return false;
	}
	/* RFC 7672 3.1.1: with DANE-EE the certificate's names do not matter. */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < a->nrr; i++) {
		const struct dane_rr *rr = &a->rr[i];

		rv = SSL_dane_tlsa_add(ssl, rr->usage, rr->selector, rr->mtype,
		    rr->data, rr->len);
		if (rv > 0)
			added++;
		else
			ERR_clear_error();
	}
	if (added == 0) {
		snprintf(err, errlen, "OpenSSL took none of the %u TLSA records of %s",
		    a->nrr, a->host);
		return false;
	}
	/* A failed match ends the handshake: nothing is ever sent unauthenticated. */
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return true;
}

bool
dane_ssl_verified(SSL *ssl)
{
	return SSL_get_verify_result(ssl) == X509_V_OK &&
	    SSL_get0_dane_authority(ssl, NULL, NULL) >= 0;
}
