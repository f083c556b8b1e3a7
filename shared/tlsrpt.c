/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt.c - TLS-RPT records and report JSON (RFC 8460), pure. Tested by
 * tests/unit/test_tlsrpt.c and tests/fuzz/fuzz_tlsrpt.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "tlsrpt.h"
#include "xmalloc.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void
add_uri(struct tlsrpt_rua *r, const char *p, size_t n)
{
	while (n > 0 && is_wsp(*p))
		p++, n--;
	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	if (n == 0 || n >= TLSRPT_URI_MAX || r->n >= TLSRPT_RUA_MAX)
		return;
	/* RFC 8460 3: mailto and https; anything else is not ours to use */
	if (!(n > 7 && strncasecmp(p, "mailto:", 7) == 0) &&
	    !(n > 8 && strncasecmp(p, "https://", 8) == 0))
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return;
	memcpy(r->uri[r->n], p, n);
	r->uri[r->n++][n] = '\0';
}

int
tlsrpt_txt_parse(const char *txt, size_t len, struct tlsrpt_rua *r, const char **why)
{
	size_t		 i = 0, klen, vstart, vlen, k, s;
	bool		 first = true, have_rua = false;

	memset(r, 0, sizeof(*r));
	while (i < len) {
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		for (klen = 0; i + klen < len && txt[i + klen] != '=' && txt[i + klen] != ';'; klen++)
			;
		if (i + klen == len || txt[i + klen] != '=') {
			*why = "field without '='";
			goto fail;
		}
		vstart = i + klen + 1;
		for (vlen = 0; vstart + vlen < len && txt[vstart + vlen] != ';'; vlen++)
			if (txt[vstart + vlen] == '\0') {
				*why = "NUL in the record";
				goto fail;
			}
		if (first) {
			size_t vl = vlen;

			while (vl > 0 && is_wsp(txt[vstart + vl - 1]))
				vl--;
			if (klen != 1 || txt[i] != 'v' || vl != 8 ||
			    strncmp(txt + vstart, "TLSRPTv1", 8) != 0) {
				*why = "not a TLS-RPT record (v=TLSRPTv1 first)";
				goto fail;
			}
			first = false;
		} else if (klen == 3 && strncmp(txt + i, "rua", 3) == 0) {
			if (have_rua) {
				*why = "rua given twice";
				goto fail;
			}
			have_rua = true;
			for (k = s = vstart; k <= vstart + vlen; k++)
				if (k == vstart + vlen || txt[k] == ',') {
					add_uri(r, txt + s, k - s);
					s = k + 1;
				}
		}
		i = vstart + vlen;
		if (i < len && txt[i] == ';')
			i++;
	}
	if (first || !have_rua || r->n == 0) {
		*why = first ? "empty record" : !have_rua ? "no rua" : "no mailto: or https: in rua";
		goto fail;
	}
	return 0;
fail:
	memset(r, 0, sizeof(*r));
	return -1;
}

static const char *const result_names[] = {
	"success", "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
	"dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"
};

const char *
tlsrpt_result_name(unsigned r)
{
	return r <= TLSRPT_RESULT_MAX ? result_names[r] : NULL;
}

/* A PKIX failure by its X509 verification result (RFC 8460 4.3.2). */
static enum tlsrpt_result
pkix_result(long v)
{
	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return TLSRPT_CERT_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLSRPT_CERT_EXPIRED;
	default:
		return TLSRPT_CERT_NOT_TRUSTED;
	}
}

enum tlsrpt_result
tlsrpt_classify(unsigned type, unsigned outcome, long v)
{
	if (outcome == TLSO_NO_STARTTLS)
		return TLSRPT_STARTTLS_NOT_SUPPORTED;
	if (type == TLSRPT_TLSA)
		/* DANE: only its TLSA records authenticate (RFC 7672 3.1) */
		return outcome == TLSO_DANE_OK ? TLSRPT_OK : TLSRPT_VALIDATION_FAILURE;
	if (type == TLSRPT_STS) {
		/* MTA-STS: PKIX against the MX name, in testing mode as in enforce */
		if (outcome == TLSO_DANE_OK || (outcome == TLSO_UP && v == X509_V_OK))
			return TLSRPT_OK;
		if (v != X509_V_OK)
			return pkix_result(v);
		return TLSRPT_VALIDATION_FAILURE;
	}
	/* no policy: any TLS counts as success */
	return outcome == TLSO_HANDSHAKE_FAILED ? TLSRPT_VALIDATION_FAILURE : TLSRPT_OK;
}

void
tlsrpt_submitter(const char *conf, const char *helo, char *out, size_t len)
{
	if (conf[0] != '\0')
		strlcpy(out, conf, len);
	else if (helo[0] != '\0')
		strlcpy(out, helo, len);
	else if (gethostname(out, len) == -1 || out[0] == '\0')
		strlcpy(out, "localhost", len);
	out[len - 1] = '\0';
}

void
tlsrpt_postmaster(const char *conf, const char *submitter, char *out, size_t len)
{
	if (conf[0] != '\0')
		strlcpy(out, conf, len);
	else
		snprintf(out, len, "postmaster@%s", submitter);
}

struct jbuf { char *p; size_t len, cap; };

static void
j_raw(struct jbuf *j, const char *s, size_t n)
{
	if (j->len + n + 1 > j->cap) {
		j->cap = (j->len + n + 1) * 2;
		j->p = xreallocarray(j->p, j->cap, 1);
	}
	memcpy(j->p + j->len, s, n);
	j->len += n;
	j->p[j->len] = '\0';
}

static void
j_lit(struct jbuf *j, const char *s)
{
	j_raw(j, s, strlen(s));
}

/* A JSON string (RFC 8259 7): quotes, backslash and control characters escaped. */
static void
j_str(struct jbuf *j, const char *s)
{
	char	 esc[8];

	j_lit(j, "\"");
	for (; s != NULL && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			j_raw(j, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			j_lit(j, esc);
		} else
			j_raw(j, (const char *)&c, 1);
	}
	j_lit(j, "\"");
}

static void
j_u64(struct jbuf *j, uint64_t v)
{
	char	 b[24];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	j_lit(j, b);
}

static void
j_time(struct jbuf *j, int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 b[32];

	gmtime_r(&tt, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	j_str(j, b);
}

char *
tlsrpt_json(const struct tlsrpt_report *r, size_t *len)
{
	static const char *const types[] = { "sts", "tlsa", "no-policy-found" };
	struct jbuf	 j = { NULL, 0, 0 };
	unsigned	 i, k;

	j_lit(&j, "{\"organization-name\":");
	j_str(&j, r->org);
	j_lit(&j, ",\"date-range\":{\"start-datetime\":");
	j_time(&j, r->start);
	j_lit(&j, ",\"end-datetime\":");
	j_time(&j, r->end);
	j_lit(&j, "},\"contact-info\":");
	j_str(&j, r->contact);
	j_lit(&j, ",\"report-id\":");
	j_str(&j, r->report_id);
	j_lit(&j, ",\"policies\":[");
	for (i = 0; i < r->npolicies; i++) {
		const struct tlsrpt_policy *p = &r->policies[i];

		j_lit(&j, i ? ",{\"policy\":{\"policy-type\":" : "{\"policy\":{\"policy-type\":");
		j_str(&j, types[p->type <= TLSRPT_NO_POLICY ? p->type : TLSRPT_NO_POLICY]);
		if (p->nstrings > 0) {
			j_lit(&j, ",\"policy-string\":[");
			for (k = 0; k < p->nstrings; k++) {
				if (k)
					j_lit(&j, ",");
				j_str(&j, p->strings[k]);
			}
			j_lit(&j, "]");
		}
		j_lit(&j, ",\"policy-domain\":");
		j_str(&j, p->domain);
		if (p->nmx > 0) {
			j_lit(&j, ",\"mx-host\":[");
			for (k = 0; k < p->nmx; k++) {
				if (k)
					j_lit(&j, ",");
				j_str(&j, p->mx[k]);
			}
			j_lit(&j, "]");
		}
		j_lit(&j, "},\"summary\":{\"total-successful-session-count\":");
		j_u64(&j, p->ok);
		j_lit(&j, ",\"total-failure-session-count\":");
		j_u64(&j, p->failed);
		j_lit(&j, "}");
		if (p->nfailures > 0) {
			j_lit(&j, ",\"failure-details\":[");
			for (k = 0; k < p->nfailures; k++) {
				const struct tlsrpt_failure *f = &p->failures[k];

				j_lit(&j, k ? ",{\"result-type\":" : "{\"result-type\":");
				j_str(&j, f->result_type);
				if (f->sending_ip != NULL) {
					j_lit(&j, ",\"sending-mta-ip\":");
					j_str(&j, f->sending_ip);
				}
				if (f->receiving_ip != NULL) {
					j_lit(&j, ",\"receiving-ip\":");
					j_str(&j, f->receiving_ip);
				}
				if (f->mx_host != NULL) {
					j_lit(&j, ",\"receiving-mx-hostname\":");
					j_str(&j, f->mx_host);
				}
				j_lit(&j, ",\"failed-session-count\":");
				j_u64(&j, f->count);
				j_lit(&j, "}");
			}
			j_lit(&j, "]");
		}
		j_lit(&j, "}");
	}
	j_lit(&j, "]}");
	*len = j.len;
	return j.p;
}
