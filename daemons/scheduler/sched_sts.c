/* SPDX-License-Identifier: ISC */
/*
 * sched_sts.c - MTA-STS for a destination (RFC 8461): once a recipient
 * domain's addresses are known and no DANE applies (DANE takes precedence,
 * RFC 8461 section 2), look up _mta-sts.<domain> TXT, then the addresses of
 * mta-sts.<domain>, and ask the sts process for the policy (fetched or
 * cached). mode enforce keeps only the MX hosts matching the policy, each
 * with verified TLS against its name (TLS_STS); none left defers. mode
 * testing changes nothing and logs what enforce would have refused. Run by
 * the scheduler; called by sched_dest.c and scheduler.c (the sts link).
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "scheduler.h"
#include "xmalloc.h"

static bool
dane_applies(const struct dest *d)
{
	unsigned	 i;

	for (i = 0; i < d->naddrs; i++)
		if (d->addrs[i].tls == TLS_DANE ||
		    (dane_wanted(d->tls) && d->addrs[i].tls == TLS_ENCRYPT))
			return true;
	return false;
}

/*
 * Without the sts process the domain's policy is unknown. Going on without
 * it would let a crash of that network-facing process (it fetches policies
 * from any host) turn MTA-STS off for every destination; so the destination
 * waits until the process is linked again (sched_sts_up), at most the lookup
 * timeout (sched_dest_tick), after which its mails are deferred.
 */
static void
sts_wait(struct dest *d)
{
	log_info("%s: %s: waiting for the MTA-STS process", d->res_id, d->lookup);
	d->sts_wait = true;
}

bool
sched_sts_start(struct sched *s, struct dest *d)
{
	d->sts_mode = STS_MODE_NONE;
	d->sts_wait = false;
	if (!s->conf->mta_sts || strncmp(d->key, "mx:", 3) != 0 || d->naddrs == 0)
		return false;
	if (dane_applies(d)) {
		log_detail("%s: %s: DANE applies, MTA-STS not looked at", d->res_id, d->lookup);
		return false;
	}
	if (s->sts == NULL) {
		sts_wait(d);
		return true;
	}
	d->sts_txt = STS_TXT_NONE;
	d->sts_id[0] = '\0';

	sched_dnsq_send(s, d, DNSQ_TXT, 0);
	return true;
}

static void
sts_get(struct sched *s, struct dest *d, const uint8_t (*addrs)[17], unsigned naddr)
{
	struct dnsq	*q;
	struct fbuf	*fb;
	unsigned	 i;

	if (s->sts == NULL) {
		sts_wait(d);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->reqid = sched_reqid(s);
	q->kind = DNSQ_STS;
	q->dest = d;
	fb = fbuf_new(MSG_STS_GET, q->reqid);
	fbuf_add_str(fb, d->lookup);
	fbuf_add_u8(fb, d->sts_txt);
	fbuf_add_str(fb, d->sts_id);
	fbuf_add_u16(fb, (uint16_t)naddr);
	for (i = 0; i < naddr; i++)
		sched_put_addr(fb, addrs[i][0], addrs[i] + 1);
	RB_INSERT(sched_dnsq_tree, &s->dnsqs, q);
	d->pending++;
	if (chan_send(s->sts, fb) == -1)
		log_warnx("%s: cannot ask the MTA-STS process", d->res_id);
}

/* The sts process is gone: its questions in flight wait for the next one. */
void
sched_sts_lost(struct sched *s)
{
	struct dnsq	*q, *next;

	RB_FOREACH_SAFE(q, sched_dnsq_tree, &s->dnsqs, next) {
		if (q->kind != DNSQ_STS)
			continue;
		RB_REMOVE(sched_dnsq_tree, &s->dnsqs, q);
		if (q->dest != NULL && q->dest->res == RES_BUSY) {
			if (q->dest->pending > 0)
				q->dest->pending--;
			sts_wait(q->dest);
		}
		free(q);
	}
}

/* A new sts process: the destinations that waited take their MTA-STS step. */
void
sched_sts_up(struct sched *s)
{
	struct dest	*d, *next;

	RB_FOREACH_SAFE(d, sched_dest_tree, &s->dests, next) {
		if (!d->sts_wait)
			continue;
		d->sts_wait = false;
		if (d->res == RES_BUSY && !sched_sts_start(s, d))
			sched_dest_finish(s, d);
	}
}

int
sched_sts_txt_frame(struct sched *s, struct frame *f, struct dest *d)
{
	uint8_t		 status, sec;
	uint32_t	 ttl;
	uint16_t	 n, i;
	char		 text[STS_TXT_MAX], id[STS_ID_MAX];
	const char	*why;
	unsigned	 nsts = 0;

	if (!frame_get_u8(f, &status) || !frame_get_u8(f, &sec) || !frame_get_u32(f, &ttl) ||
	    !frame_get_u16(f, &n) || status > DNS_PERMFAIL)
		return -1;
	id[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!frame_get_str(f, text, sizeof(text)))
			return -1;
		/* RFC 8461 3.1: records not starting v=STSv1 are discarded; not exactly one: none */
		if (strncmp(text, "v=STSv1", 7) != 0)
			continue;
		nsts++;
		if (sts_txt_parse(text, strlen(text), id, &why) == -1)
			id[0] = '\0';
	}
	if (!frame_end(f))
		return -1;
	if (d == NULL)
		return 0;
	if (status == DNS_OK && nsts == 1 && id[0] != '\0') {
		d->sts_txt = STS_TXT_ID;
		strlcpy(d->sts_id, id, sizeof(d->sts_id));
		log_detail("%s: _mta-sts.%s: policy id %s", d->res_id, d->lookup, id);
		sched_dnsq_send(s, d, DNSQ_STS_ADDR, 0);
		return 0;
	}
	d->sts_txt = status == DNS_OK || status == DNS_NODATA || status == DNS_NXDOMAIN ?
	    STS_TXT_NONE : STS_TXT_FAILED;
	/* no (usable) record: only a cached policy can still apply (RFC 8461 5.1) */
	sts_get(s, d, NULL, 0);
	return 0;
}

int
sched_sts_addr_frame(struct sched *s, struct frame *f, struct dest *d)
{
	uint8_t		 status, sec, fam, a[16], addrs[16][17];
	uint32_t	 ttl;
	uint16_t	 n, i;
	unsigned	 naddr = 0;

	if (!frame_get_u8(f, &status) || !frame_get_u8(f, &sec) || !frame_get_u32(f, &ttl) ||
	    !frame_get_u16(f, &n) || status > DNS_PERMFAIL)
		return -1;
	for (i = 0; i < n; i++) {
		if (!sched_get_addr(f, &fam, a))
			return -1;
		if (naddr < 16) {
			addrs[naddr][0] = fam;
			memcpy(addrs[naddr] + 1, a, 16);
			naddr++;
		}
	}
	if (!frame_end(f))
		return -1;
	if (d == NULL)
		return 0;
	if (status != DNS_OK)
		log_info("%s: mta-sts.%s has no address: the cached policy, if any, applies",
		    d->res_id, d->lookup);
	sts_get(s, d, (const uint8_t (*)[17])addrs, status == DNS_OK ? naddr : 0);
	return 0;
}

int
sched_sts_policy_frame(struct sched *s, struct frame *f)
{
	struct dnsq		 key, *q;
	struct dest		*d = NULL;
	struct sts_policy	 pol;
	char			 domain[HOSTNAME_MAX], id[STS_ID_MAX], why[REPLY_MAX];
	uint8_t			 found, fetched;
	uint64_t		 expires;
	uint16_t		 n, i;
	unsigned		 k, kept = 0;

	memset(&pol, 0, sizeof(pol));
	if (!frame_get_str(f, domain, sizeof(domain)) || !frame_get_u8(f, &found) ||
	    !frame_get_u8(f, &pol.mode) || !frame_get_u32(f, &pol.max_age) ||
	    !frame_get_u64(f, &expires) || !frame_get_str(f, id, sizeof(id)) ||
	    !frame_get_u8(f, &fetched) || !frame_get_u16(f, &n) || n > STS_MX_MAX ||
	    pol.mode > STS_MODE_ENFORCE)
		return -1;
	for (i = 0; i < n; i++)
		if (!frame_get_str(f, pol.mx[i], sizeof(pol.mx[i])))
			return -1;
	pol.nmx = n;
	if (!frame_end(f))
		return -1;
	key.reqid = f->hdr.reqid;
	if ((q = RB_FIND(sched_dnsq_tree, &s->dnsqs, &key)) == NULL || q->kind != DNSQ_STS)
		return 0;
	RB_REMOVE(sched_dnsq_tree, &s->dnsqs, q);
	d = q->dest;
	free(q);
	if (d == NULL || d->res != RES_BUSY)
		return 0;
	if (d->pending > 0)
		d->pending--;
	if (!found || pol.mode == STS_MODE_NONE) {
		log_detail("%s: %s: no MTA-STS policy in force", d->res_id, d->lookup);
		sched_dest_finish(s, d);
		return 0;
	}
	log_info("%s: MTA-STS policy of %s: mode %s, id %s, %u mx pattern(s), %s, "
	    "expires in %llds", d->res_id, d->lookup, sts_mode_name(pol.mode), id, pol.nmx,
	    fetched ? "fetched" : "cached", (long long)(expires - s->now()));
	for (k = 0; k < d->naddrs; k++) {
		struct sched_addr *a = &d->addrs[k];

		if (!sts_mx_match(&pol, a->host)) {
			log_info("%s: MX host %s of %s is not in its MTA-STS policy%s", d->res_id,
			    a->host, d->lookup, pol.mode == STS_MODE_ENFORCE ? ": not used" :
			    " (testing: used anyway)");
			if (pol.mode == STS_MODE_ENFORCE)
				continue;
		} else if (pol.mode == STS_MODE_ENFORCE)
			a->tls = TLS_STS;	/* verified against the CA store and the MX name */
		d->addrs[kept++] = *a;
	}
	d->naddrs = kept;
	d->sts_mode = pol.mode;
	if (pol.mode == STS_MODE_ENFORCE)
		d->per_addr = true;
	if (kept == 0) {
		snprintf(why, sizeof(why), "no MX host of %s matches its MTA-STS policy "
		    "(mode enforce)", d->lookup);
		sched_dest_defer(s, d, "4.7.5", why);
		return 0;
	}
	sched_dest_finish(s, d);
	return 0;
}
