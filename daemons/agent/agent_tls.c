/* SPDX-License-Identifier: ISC */
/*
 * agent_tls.c - the OpenSSL side of the delivery agent: one client SSL_CTX
 * (TLS 1.2 or later) built before the chroot by agent_prepare(), when the
 * CA store (tls_ca_file, or the system bundle) can still be read; the SSL
 * object of each TLS connection (SNI and the name or address the
 * certificate must match); a bounded cache of sessions per destination for
 * resumption; and the one-line summary of a connection for the logs.
 * agent_session.c asks for an SSL when it starts TLS (STARTTLS or smtps);
 * libevent's OpenSSL filter does the I/O.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "daemons.h"
#include "log.h"
#include "proc.h"

#include "agent.h"

#define TLS_CACHE_MAX		128	/* destinations with a session to resume */

/* Written only here: the context, made once per process. */
static SSL_CTX		*tls_ctx;
static int		 tls_key_idx = -1;	/* SSL ex_data: the session's cache key */
static struct {
	char		 key[TLS_KEY_MAX];
	SSL_SESSION	*sess;
	uint64_t	 used;
} tls_cache[TLS_CACHE_MAX];
static uint64_t		 tls_cache_clock;

static void
tls_errstr(char *buf, size_t len, const char *what)
{
	unsigned long	 e = ERR_get_error();
	char		 es[256];

	if (e == 0)
		strlcpy(es, "unknown error", sizeof(es));
	else
		ERR_error_string_n(e, es, sizeof(es));
	ERR_clear_error();
	snprintf(buf, len, "%s: %s", what, es);
}

static int
tls_cache_find(const char *key)
{
	int	 i;

	for (i = 0; i < TLS_CACHE_MAX; i++)
		if (tls_cache[i].sess != NULL && strcmp(tls_cache[i].key, key) == 0)
			return i;
	return -1;
}

/* OpenSSL hands over a new session (TLS 1.3: after the handshake, from a ticket). */
static int
tls_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	const char	*key = SSL_get_ex_data(ssl, tls_key_idx);
	int		 i, victim = 0;

	if (key == NULL || key[0] == '\0' || !SSL_SESSION_is_resumable(sess))
		return 0;
	if ((i = tls_cache_find(key)) == -1) {
		/* A free slot, or the least recently used one. */
		for (i = 0; i < TLS_CACHE_MAX; i++) {
			if (tls_cache[i].sess == NULL)
				break;
			if (tls_cache[i].used < tls_cache[victim].used)
				victim = i;
		}
		if (i == TLS_CACHE_MAX)
			i = victim;
	}
	if (tls_cache[i].sess != NULL)
		SSL_SESSION_free(tls_cache[i].sess);
	strlcpy(tls_cache[i].key, key, sizeof(tls_cache[i].key));
	tls_cache[i].sess = sess;
	tls_cache[i].used = ++tls_cache_clock;
	return 1;	/* the reference is ours now */
}

static SSL_CTX *
tls_ctx_new(const struct config *c)
{
	SSL_CTX		*ctx;
	const char	*file;
	char		 err[512];

	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS |
	    OPENSSL_INIT_LOAD_CONFIG, NULL);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_errstr(err, sizeof(err), "SSL_CTX_new");
		log_warnx("agent: %s; no TLS", err);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/*
	 * Loaded now, whole: a CA directory would be read lazily at the first
	 * verification, inside the empty chroot, and find nothing.
	 */
	file = c->tls_ca_file[0] != '\0' ? c->tls_ca_file : getenv(X509_get_default_cert_file_env());
	if (file == NULL || file[0] == '\0')
		file = X509_get_default_cert_file();
	if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1) {
		tls_errstr(err, sizeof(err), file);
		log_warnx("agent: cannot load the CA certificates (%s): "
		    "deliveries under tls=verify will fail", err);
	}
	if (!dane_ctx_init(ctx)) {
		tls_errstr(err, sizeof(err), "SSL_CTX_dane_enable");
		log_warnx("agent: %s: deliveries under DANE will fail", err);
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_new_session_cb);
	if (tls_key_idx == -1)
		tls_key_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return ctx;
}

void
tls_init(const struct config *c)
{
	if (tls_ctx == NULL)
		tls_ctx = tls_ctx_new(c);
}

void
tls_shutdown(void)
{
	int	 i;

	for (i = 0; i < TLS_CACHE_MAX; i++)
		if (tls_cache[i].sess != NULL) {
			SSL_SESSION_free(tls_cache[i].sess);
			tls_cache[i].sess = NULL;
		}
	if (tls_ctx != NULL) {
		SSL_CTX_free(tls_ctx);
		tls_ctx = NULL;
	}
}

/* Before chroot and privilege drop: the CA file is still reachable. */
void
agent_prepare(struct proc_ctx *ctx)
{
	tls_init(ctx->conf);
}

bool
tls_host_is_ip(const char *host)
{
	unsigned char	 b[16];

	return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

SSL *
tls_ssl_new(const struct agent_addr *a, int policy, const char *key, char *err, size_t errlen)
{
	SSL		*ssl;
	int		 i;
	bool		 ip = tls_host_is_ip(a->host);

	if (tls_ctx == NULL) {
		snprintf(err, errlen, "TLS is not available in this process");
		return NULL;
	}
	if ((ssl = SSL_new(tls_ctx)) == NULL) {
		tls_errstr(err, errlen, "SSL_new");
		return NULL;
	}
	/* SNI carries names only (RFC 6066 section 3); an address is matched as one. */
	if (!ip) {
		if (SSL_set_tlsext_host_name(ssl, a->host) != 1 || SSL_set1_host(ssl, a->host) != 1) {
			tls_errstr(err, errlen, "setting the server name");
			SSL_free(ssl);
			return NULL;
		}
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	} else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), a->host) != 1) {
		tls_errstr(err, errlen, "setting the server address");
		SSL_free(ssl);
		return NULL;
	}
	/*
	 * Every policy verifies, so that the logs can say whether the peer was
	 * trusted; only "verify" makes a failure end the handshake.
	 */
	SSL_set_verify(ssl, policy == TLS_VERIFY || policy == TLS_STS ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	if (policy == TLS_DANE) {
		/*
		 * No resumption under DANE: a resumed session skips the
		 * certificate, and the TLSA records may have changed since.
		 */
		if (!dane_ssl_setup(ssl, a, err, errlen)) {
			SSL_free(ssl);
			return NULL;
		}
		return ssl;
	}
	SSL_set_ex_data(ssl, tls_key_idx, (void *)(uintptr_t)key);
	if ((i = tls_cache_find(key)) != -1) {
		SSL_set_session(ssl, tls_cache[i].sess);
		tls_cache[i].used = ++tls_cache_clock;
	}
	return ssl;
}

void
tls_forget(const char *key)
{
	int	 i;

	if ((i = tls_cache_find(key)) != -1) {
		SSL_SESSION_free(tls_cache[i].sess);
		tls_cache[i].sess = NULL;
		tls_cache[i].key[0] = '\0';
	}
}

void
tls_describe(SSL *ssl, char *buf, size_t len, bool *verified)
{
	X509		*peer = SSL_get0_peer_certificate(ssl);
	long		 vr = SSL_get_verify_result(ssl);
	int		 bits = 0;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	*verified = peer != NULL && vr == X509_V_OK;
	if (c != NULL)
		SSL_CIPHER_get_bits(c, &bits);
	snprintf(buf, len, "TLS %s, cipher %s (%d bits), %s%s%s%s", SSL_get_version(ssl),
	    c != NULL ? SSL_CIPHER_get_name(c) : "?", bits,
	    *verified ? "peer verified" : "peer not verified",
	    *verified ? "" : " (",
	    *verified ? "" : (peer == NULL ? "no certificate" : X509_verify_cert_error_string(vr)),
	    *verified ? "" : ")");
	if (SSL_session_reused(ssl))
		strlcat(buf, ", resumed", len);
}

void
tls_failure(SSL *ssl, unsigned long e, char *buf, size_t len)
{
	char	 es[256];
	long	 vr;

	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK &&
	    SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
		snprintf(buf, len, "certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
		return;
	}
	if (e == 0) {
		strlcpy(buf, "connection closed during the handshake", len);
		return;
	}
	ERR_error_string_n(e, es, sizeof(es));
	snprintf(buf, len, "%s", es);
}
