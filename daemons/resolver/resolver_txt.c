/* SPDX-License-Identifier: ISC */
/*
 * resolver_txt.c - TXT lookups (for MTA-STS's _mta-sts.<domain>, RFC 8461
 * 3.1): the reading of TXT record data (pure: unit tests and a fuzz target)
 * and the DNS_TXT answer frame. Run by the resolver; resolver_query.c starts
 * the query and calls back here with the result. What the text means is the
 * scheduler's business (shared/sts.c).
 */
#include <string.h>

#include <unbound.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "resolver.h"
#include "sts_policy.h"

int
rdata_txt(const uint8_t *p, size_t len, char *out, size_t outsz, const char **why)
{
	size_t	 off = 0, o = 0, l;

	/* one or more <length><bytes> character-strings (RFC 1035 3.3.14) */
	if (len == 0) {
		*why = "empty TXT record";
		return -1;
	}
	while (off < len) {
		l = p[off++];
		if (l > len - off) {
			*why = "character-string past the end of the record";
			return -1;
		}
		if (memchr(p + off, '\0', l) != NULL) {
			*why = "NUL byte in a TXT record";
			return -1;
		}
		if (o + l >= outsz) {
			*why = "TXT record too long";
			return -1;
		}
		memcpy(out + o, p + off, l);
		o += l;
		off += l;
	}
	out[o] = '\0';
	return 0;
}

void
resolver_txt_answer(struct resolver *r, struct rquery *q, struct rsub *s,
    struct ub_result *res)
{
	struct fbuf	*fb;
	char		 text[STS_TXT_MAX];
	const char	*why = NULL;
	size_t		 i, n = 0, bad = 0;
	uint16_t	 count = 0;

	fb = fbuf_new(MSG_DNS_TXT, q->reqid);
	if (s->ans.status == DNS_OK && res != NULL && res->qtype != RR_TXT)
		s->ans.status = DNS_PERMFAIL;
	fbuf_add_u8(fb, s->ans.status);
	fbuf_add_u8(fb, s->ans.dnssec);
	fbuf_add_u32(fb, s->ans.ttl);
	if (s->ans.status == DNS_OK && res != NULL) {
		for (i = 0; res->data[i] != NULL && i < RESOLVER_RDATA_MAX; i++)
			n++;
		for (i = 0; i < n && count < 32; i++)
			if (res->len[i] >= 0 && rdata_txt((const uint8_t *)res->data[i],
			    (size_t)res->len[i], text, sizeof(text), &why) == 0)
				count++;
	}
	fbuf_add_u16(fb, count);
	for (i = 0, count = 0; s->ans.status == DNS_OK && res != NULL && i < n && count < 32; i++) {
		if (res->len[i] >= 0 && rdata_txt((const uint8_t *)res->data[i],
		    (size_t)res->len[i], text, sizeof(text), &why) == 0) {
			fbuf_add_str(fb, text);
			count++;
		} else
			bad++;
	}
	if (bad > 0)
		log_detail("%s TXT: %zu record(s) left out: %s", q->name, bad, why);
	log_detail("answer %s TXT: status %u, %u record(s) (ttl %u)", q->name, s->ans.status,
	    count, s->ans.ttl);
	if (r->sched == NULL) {
		fbuf_free(fb);
		return;
	}
	if (chan_send(r->sched, fb) == -1)
		log_warnx("cannot answer the scheduler");
}
