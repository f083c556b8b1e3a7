/* SPDX-License-Identifier: ISC */
/*
 * sts_fetch.c - HTTPS fetches of MTA-STS policies with libcurl (RFC 8461
 * 3.3): https://mta-sts.<domain>/.well-known/mta-sts.txt, certificate and
 * name verified against the CA bundle read before the chroot, no redirects,
 * at most 64 KiB, STS_FETCH_TIMEOUT seconds, HTTP 200 with text/plain only.
 * The host name is pinned to the addresses the scheduler got from the
 * resolver (CURLOPT_RESOLVE): this process never asks DNS itself. Transfers
 * run in a curl multi handle driven by a libevent timer while any is active.
 *
 * Also the HTTPS POST of TLS reports (RFC 8460 5.4, sts_post_start): the
 * same verification, no redirects, pinned to the addresses the resolver gave,
 * Content-Type application/tlsrpt+gzip, any 2xx status is success.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

#include "sts.h"

struct fetch {
	CURL			*easy;
	struct curl_slist	*resolve;
	struct curl_slist	*headers;	/* a POST's */
	sts_post_cb		 post_cb;	/* set: a POST, cb unused */
	char			*post_body;
	sts_fetch_cb		 cb;
	void			*arg;
	char			*body;
	size_t			 len;
	bool			 too_big;
	char			 err[CURL_ERROR_SIZE];
};

static CURLM		*multi;
static struct event	*tick;
static unsigned		 active;
static char		*ca_blob;
static size_t		 ca_len;
static bool		 last_webpki;	/* the fetch being reported failed on the certificate */

bool
sts_fetch_webpki_failed(void)
{
	return last_webpki;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fetch	*f = arg;
	size_t		 add = size * n;

	if (f->len + add > STS_POLICY_BYTES_MAX) {
		f->too_big = true;
		return 0;	/* aborts the transfer */
	}
	f->body = xreallocarray(f->body, f->len + add + 1, 1);
	memcpy(f->body + f->len, p, add);
	f->len += add;
	f->body[f->len] = '\0';
	return add;
}

static void
fetch_free(struct fetch *f)
{
	curl_multi_remove_handle(multi, f->easy);
	curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->resolve);
	curl_slist_free_all(f->headers);
	free(f->body);
	free(f->post_body);
	free(f);
	active--;
}

static void
fetch_done(struct fetch *f, CURLcode rc)
{
	long		 code = 0;
	char		*ctype = NULL, err[CURL_ERROR_SIZE + 64];

	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(f->easy, CURLINFO_CONTENT_TYPE, &ctype);
	last_webpki = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
	if (f->post_cb != NULL) {
		if (rc != CURLE_OK)
			snprintf(err, sizeof(err), "%s", f->err[0] ? f->err : curl_easy_strerror(rc));
		else
			snprintf(err, sizeof(err), "HTTP status %ld", code);
		f->post_cb(f->arg, rc == CURLE_OK && code >= 200 && code < 300, err);
	} else if (f->too_big)
		f->cb(f->arg, false, NULL, 0, "policy larger than 64 KiB");
	else if (rc != CURLE_OK) {
		snprintf(err, sizeof(err), "%s", f->err[0] ? f->err : curl_easy_strerror(rc));
		f->cb(f->arg, false, NULL, 0, err);
	} else if (code != 200) {
		snprintf(err, sizeof(err), "HTTP status %ld", code);
		f->cb(f->arg, false, NULL, 0, err);
	} else if (ctype == NULL || strncasecmp(ctype, "text/plain", 10) != 0) {
		/* RFC 8461 3.3: the policy is served as text/plain */
		f->cb(f->arg, false, NULL, 0, "not served as text/plain");
	} else
		f->cb(f->arg, true, f->body ? f->body : "", f->len, NULL);
	fetch_free(f);
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, 50000 };
	CURLMsg		*m;
	int		 running, left;

	curl_multi_perform(multi, &running);
	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		struct fetch *f = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		if (f != NULL)
			fetch_done(f, m->data.result);
	}
	if (active > 0)
		evtimer_add(tick, &tv);
}

bool
sts_fetch_init(struct event_base *base, const char *ca_file, char *err, size_t errlen)
{
	FILE	*fp;
	long	 n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(err, errlen, "curl_global_init failed");
		return false;
	}
	/* Read whole now: the chroot has no CA files. */
	if ((fp = fopen(ca_file, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot read the CA certificates", ca_file);
		return false;
	}
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && n < 64L * 1024 * 1024 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		ca_blob = xmalloc((size_t)n);
		ca_len = fread(ca_blob, 1, (size_t)n, fp);
	}
	fclose(fp);
	if (ca_len == 0) {
		snprintf(err, errlen, "%s: no CA certificates", ca_file);
		return false;
	}
	if ((multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		return false;
	}
	if (base != NULL && (tick = evtimer_new(base, tick_cb, NULL)) == NULL)
		fatalx("sts: evtimer_new");
	return true;
}

void
sts_fetch_attach(struct event_base *base)
{
	if (tick == NULL && (tick = evtimer_new(base, tick_cb, NULL)) == NULL)
		fatalx("sts: evtimer_new");
}

/* The --resolve entry "host:port:addr,[addr6],..." that pins curl to addrs. */
static bool
resolve_entry(char *entry, size_t len, const char *host, unsigned port,
    const uint8_t (*addrs)[17], unsigned naddr)
{
	char		 ip[INET6_ADDRSTRLEN];
	unsigned	 i;
	int		 w;

	w = snprintf(entry, len, "%s:%u:", host, port);
	for (i = 0; i < naddr && w > 0 && (size_t)w < len; i++) {
		inet_ntop(addrs[i][0] == 4 ? AF_INET : AF_INET6, addrs[i] + 1, ip, sizeof(ip));
		w += snprintf(entry + w, len - (size_t)w, addrs[i][0] == 4 ? "%s%s" : "%s[%s]",
		    i ? "," : "", ip);
	}
	return w > 0 && (size_t)w < len;
}

/*
 * A request to url over HTTPS only, to the pinned addresses in entry, the
 * certificate checked against the CA store read at start, no redirect
 * (RFC 8461 3.3), no proxy from the environment, the answer bounded
 * (write_cb). NULL when curl cannot make one.
 */
static struct fetch *
fetch_new(const char *url, const char *entry, const char *agent)
{
	struct fetch		*f;
	struct curl_blob	 blob;

	f = xcalloc(1, sizeof(*f));
	if ((f->easy = curl_easy_init()) == NULL) {
		free(f);
		return NULL;
	}
	f->resolve = curl_slist_append(NULL, entry);
	blob.data = ca_blob;
	blob.len = ca_len;
	blob.flags = CURL_BLOB_NOCOPY;
	curl_easy_setopt(f->easy, CURLOPT_URL, url);
	curl_easy_setopt(f->easy, CURLOPT_RESOLVE, f->resolve);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(f->easy, CURLOPT_CAINFO_BLOB, &blob);
	curl_easy_setopt(f->easy, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)STS_FETCH_TIMEOUT);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->err);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	return f;
}

/* Hand f to the multi handle and wake the tick; on failure f is freed. */
static bool
fetch_add(struct fetch *f)
{
	struct timeval	 tv = { 0, 0 };

	if (curl_multi_add_handle(multi, f->easy) != CURLM_OK) {
		curl_easy_cleanup(f->easy);
		curl_slist_free_all(f->resolve);
		curl_slist_free_all(f->headers);
		free(f->post_body);
		free(f);
		return false;
	}
	active++;
	evtimer_add(tick, &tv);
	return true;
}

bool
sts_fetch_start(const char *domain, const uint8_t (*addrs)[17], unsigned naddr,
    sts_fetch_cb cb, void *arg)
{
	struct fetch	*f;
	char		 host[HOSTNAME_MAX + 16], url[HOSTNAME_MAX + 64];
	char		 entry[HOSTNAME_MAX + 1024];

	if (multi == NULL || tick == NULL || naddr == 0 || active >= STS_FETCHES_MAX)
		return false;
	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", host);
	if (!resolve_entry(entry, sizeof(entry), host, 443, addrs, naddr) ||
	    (f = fetch_new(url, entry, "outpost MTA-STS")) == NULL)
		return false;
	f->cb = cb;
	f->arg = arg;
	if (!fetch_add(f))
		return false;
	log_detail("fetching %s (%s)", url, entry + strlen(host) + 5);
	return true;
}

bool
sts_post_start(const char *url, const char *host, unsigned port, const uint8_t (*addrs)[17],
    unsigned naddr, const void *body, size_t len, sts_post_cb cb, void *arg)
{
	struct fetch	*f;
	char		 entry[HOSTNAME_MAX + 1024];

	if (multi == NULL || tick == NULL || naddr == 0 || active >= STS_FETCHES_MAX ||
	    !resolve_entry(entry, sizeof(entry), host, port, addrs, naddr) ||
	    (f = fetch_new(url, entry, "outpost TLS-RPT")) == NULL)
		return false;
	f->post_cb = cb;
	f->arg = arg;
	f->post_body = xmalloc(len ? len : 1);
	memcpy(f->post_body, body, len);
	f->headers = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->post_body);
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (!fetch_add(f))
		return false;
	log_detail("posting %zu bytes to %s (%s)", len, url, entry);
	return true;
}

void
sts_fetch_shutdown(void)
{
	if (tick != NULL) {
		event_free(tick);
		tick = NULL;
	}
	if (multi != NULL) {
		curl_multi_cleanup(multi);
		multi = NULL;
	}
	free(ca_blob);
	ca_blob = NULL;
}
