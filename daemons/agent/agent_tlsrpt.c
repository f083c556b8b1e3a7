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
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>

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
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 local[64] = "";
	int			 fd;

	if (s->tlsrpt_sent || j == NULL || j->link == NULL || j->link->dead)
		return;
	s->tlsrpt_sent = true;
	fb = fbuf_new(MSG_AGENT_TLS_SESSION, j->reqid);
	fbuf_add_str(fb, s->addr.host);
	fbuf_add_str(fb, s->addr.ip);
	fbuf_add_u8(fb, (uint8_t)outcome);
	fbuf_add_u32(fb, x509_result < 0 ? (uint32_t)X509_V_ERR_UNSPECIFIED : (uint32_t)x509_result);
	/* sending-mta-ip (RFC 8460 4.4): the address this connection left from */
	if (s->bev != NULL && (fd = bufferevent_getfd(s->bev)) != -1 &&
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, local,
			    sizeof(local));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, local,
			    sizeof(local));
	}
	fbuf_add_str(fb, local);
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
