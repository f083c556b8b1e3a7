/* SPDX-License-Identifier: ISC */
/*
 * agent_tlsrpt.c - what the delivery agent tells the scheduler about each
 * connection's TLS, for TLS reporting (RFC 8460): once per connection that
 * got as far as EHLO, MSG_AGENT_TLS_SESSION with the MX host, its address,
 * the outcome (shared/tlsrpt.h: no STARTTLS, handshake failed, up, DANE
 * authenticated or not) and OpenSSL's certificate verification result. The
 * agent knows no policy: the scheduler names it, the sts process counts.
 * Called by agent_session.c.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "tlsrpt.h"

#include "agent.h"

void
agent_tls_report(struct agent_session *s, unsigned outcome, long x509_result)
{
	const struct agent_job	*j = s->job;
	struct fbuf		*fb;

	if (s->tlsrpt_sent || j == NULL || j->link == NULL || j->link->dead)
		return;
	s->tlsrpt_sent = true;
	fb = fbuf_new(MSG_AGENT_TLS_SESSION, j->reqid);
	fbuf_add_str(fb, s->addr.host);
	fbuf_add_str(fb, s->addr.ip);
	fbuf_add_u8(fb, (uint8_t)outcome);
	fbuf_add_u32(fb, x509_result < 0 ? (uint32_t)X509_V_ERR_UNSPECIFIED : (uint32_t)x509_result);
	if (chan_send(j->link->chan, fb) == -1)
		log_debug("%s: cannot report the TLS outcome", j->id);
}

long
agent_tls_x509_result(struct ssl_st *ssl, bool handshake_failed)
{
	long	 vr;

	if (ssl == NULL)
		return X509_V_OK;
	vr = SSL_get_verify_result(ssl);
	/* a failed handshake that verified nothing has no certificate verdict */
	if (handshake_failed && SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
		return X509_V_OK;
	if (vr == X509_V_OK && SSL_get0_peer_certificate(ssl) == NULL && !handshake_failed)
		return X509_V_ERR_UNSPECIFIED;	/* no certificate at all: nothing verified */
	return vr;
}
