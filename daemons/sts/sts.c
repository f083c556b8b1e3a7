/* SPDX-License-Identifier: ISC */
/*
 * sts.c - main of the MTA-STS process (user sts_user, chrooted into the
 * empty directory): answers the scheduler's STS_GET from its cache, or
 * fetches the policy when the domain's TXT id is new or none is cached
 * (RFC 8461 3.3, 5.1). A policy whose refresh fails is kept until it
 * expires; one close to expiry is refreshed in the background. Called by the
 * process prologue (shared/proc.c): sts_prepare() as root before the chroot
 * (cache directory, CA bundle), then sts_main().
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "xmalloc.h"

#include "sts.h"
#include "sts_rpt.h"
#include "tlsrpt.h"

struct stsd {
	struct proc_ctx	*ctx;
	struct chan	*sched;
	bool		 stopping;
};

struct pending {
	struct stsd	*d;
	uint32_t	 reqid;		/* 0: a background refresh, nobody waits */
	struct chan	*chan;		/* the link the question came on */
	char		 domain[HOSTNAME_MAX];
	char		 id[STS_ID_MAX];
};

static struct stsd	 stsd;
static int		 cache_fd = -1;
static bool		 fetch_ready;
static bool		 prepared;


void
sts_prepare(struct proc_ctx *ctx)
{
	const struct config	*c = ctx->conf;
	char			 dir[1100], err[1200];
	const char		*ca;
	struct stat		 st;
	uid_t			 uid;
	gid_t			 gid;

	/* Our cache directory: created here, ours alone, then held open across the chroot. */
	/* Without it policies still work, only not across restarts: never fatal. */
	snprintf(dir, sizeof(dir), "%s/sts", c->state_directory);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		log_warn("mkdir %s: policies are not kept across restarts", dir);
	else if (geteuid() == 0 && proc_user_ids(c->sts_user, &uid, &gid) == 0 &&
	    (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || chown(dir, uid, gid) == -1))
		log_warn("%s: policies are not kept across restarts", dir);
	else if ((cache_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		log_warn("open %s: policies are not kept across restarts", dir);
	else
		sandbox_allow_dir(cache_fd);	/* the only files it may touch */
	ca = c->tls_ca_file[0] != '\0' ? c->tls_ca_file : getenv(X509_get_default_cert_file_env());
	if (ca == NULL || ca[0] == '\0')
		ca = X509_get_default_cert_file();
	prepared = true;
	if (!(fetch_ready = sts_fetch_init(NULL, ca, err, sizeof(err))))
		log_warnx("%s: no MTA-STS policy can be fetched", err);
	sts_cache_load(cache_fd);
	rpt_load(cache_fd);
}

static void
answer(struct chan *c, uint32_t reqid, const char *domain, const struct sts_entry *e,
    bool fetched)
{
	struct fbuf	*fb;
	unsigned	 i;

	if (c == NULL || reqid == 0)
		return;
	fb = fbuf_new(MSG_STS_POLICY, reqid);
	fbuf_add_str(fb, domain);
	fbuf_add_u8(fb, e != NULL);
	fbuf_add_u8(fb, e != NULL ? e->pol.mode : STS_MODE_NONE);
	fbuf_add_u32(fb, e != NULL ? e->pol.max_age : 0);
	fbuf_add_u64(fb, e != NULL ? e->expires : 0);
	fbuf_add_str(fb, e != NULL ? e->id : "");
	fbuf_add_u8(fb, fetched);
	fbuf_add_u16(fb, e != NULL ? (uint16_t)e->pol.nmx : 0);
	for (i = 0; e != NULL && i < e->pol.nmx; i++)
		fbuf_add_str(fb, e->pol.mx[i]);
	if (chan_send(c, fb) == -1)
		log_warnx("cannot answer the scheduler");
}

static void
fetched_cb(void *arg, bool ok, const char *body, size_t len, const char *err)
{
	struct pending		*p = arg;
	struct sts_policy	 pol;
	struct sts_entry	*e;
	const char		*why = err;
	uint64_t		 now = (uint64_t)time(NULL);
	struct chan		*c = p->chan == p->d->sched ? p->chan : NULL;

	if (ok && sts_policy_parse(body, len, &pol, &why) == 0) {
		sts_cache_put(p->domain, p->id, &pol, now);
		(void)sts_cache_save();
		e = sts_cache_find(p->domain, now);
		log_info("%s: policy id %s fetched: mode %s, max_age %u, %u mx pattern(s)",
		    p->domain, p->id, sts_mode_name(pol.mode), pol.max_age, pol.nmx);
		answer(c, p->reqid, p->domain, e, true);
	} else {
		/* RFC 8461 5.1: a failed refresh keeps the cached policy until it expires */
		e = sts_cache_find(p->domain, now);
		log_warnx("%s: fetching the policy failed: %s%s", p->domain, why,
		    e != NULL ? "; the cached policy stays in force" : "");
		/* RFC 8460 4.3.2.2: a policy that could not be had (a cached one still applies) */
		if (e == NULL)
			rpt_sts_failure(p->domain, ok ? TLSRPT_STS_POLICY_INVALID :
			    sts_fetch_webpki_failed() ? TLSRPT_STS_WEBPKI_INVALID :
			    TLSRPT_STS_FETCH_ERROR);
		answer(c, p->reqid, p->domain, e, false);
	}
	free(p);
}

/*
 * n addresses (u8 family, 16 bytes) from f, the first STS_ADDRS_MAX kept in
 * addrs (family byte first); false on a malformed entry.
 */
bool
sts_frame_addrs(struct frame *f, uint16_t n, uint8_t (*addrs)[17], unsigned *naddr)
{
	uint8_t		 fam, a[16];
	uint16_t	 i;

	*naddr = 0;
	for (i = 0; i < n; i++) {
		if (!frame_get_u8(f, &fam) || !frame_get_raw(f, a, 16) || (fam != 4 && fam != 6))
			return false;
		if (*naddr < STS_ADDRS_MAX) {
			addrs[*naddr][0] = fam;
			memcpy(addrs[*naddr] + 1, a, 16);
			(*naddr)++;
		}
	}
	return true;
}

static int
sts_get(struct stsd *d, struct frame *f)
{
	char		 domain[HOSTNAME_MAX], id[STS_ID_MAX];
	uint8_t		 txt, addrs[STS_ADDRS_MAX][17];
	uint16_t	 n;
	unsigned	 naddr;
	struct sts_entry *e;
	struct pending	*p;
	uint64_t	 now = (uint64_t)time(NULL);
	bool		 want;

	if (!frame_get_str(f, domain, sizeof(domain)) || !frame_get_u8(f, &txt) ||
	    !frame_get_str(f, id, sizeof(id)) || !frame_get_u16(f, &n) || txt > STS_TXT_FAILED)
		return -1;
	if (!sts_frame_addrs(f, n, addrs, &naddr) || !frame_end(f))
		return -1;
	e = sts_cache_find(domain, now);
	/* a new id, no policy yet, or (in the background) one close to expiry */
	want = txt == STS_TXT_ID && (e == NULL || strcmp(e->id, id) != 0);
	if (!want && e != NULL && txt == STS_TXT_ID && e->expires - now < e->pol.max_age / 4 + 1) {
		p = xcalloc(1, sizeof(*p));
		p->d = d;
		strlcpy(p->domain, domain, sizeof(p->domain));
		strlcpy(p->id, id, sizeof(p->id));
		if (!fetch_ready || !sts_fetch_start(domain, (const uint8_t (*)[17])addrs, naddr,
		    fetched_cb, p))
			free(p);
		else
			log_info("%s: refreshing the policy before it expires", domain);
	}
	if (want && fetch_ready) {
		p = xcalloc(1, sizeof(*p));
		p->d = d;
		p->reqid = f->hdr.reqid;
		p->chan = d->sched;
		strlcpy(p->domain, domain, sizeof(p->domain));
		strlcpy(p->id, id, sizeof(p->id));
		if (sts_fetch_start(domain, (const uint8_t (*)[17])addrs, naddr, fetched_cb, p))
			return 0;
		free(p);
		log_warnx("%s: cannot start a fetch (%u address(es))", domain, naddr);
	}
	answer(d->sched, f->hdr.reqid, domain, e, false);
	return 0;
}

/* outpostctl sts [DOMAIN]: one line per cached policy. */
static int
sts_control(struct proc_ctx *ctx, struct frame *f)
{
	char		 cmd[32], dom[HOSTNAME_MAX] = "", line[1024];
	uint32_t	 argc;
	unsigned	 i, k, shown = 0, n;
	uint64_t	 now = (uint64_t)time(NULL);
	struct fbuf	*fb;
	const struct sts_entry *all;
	int		 w;

	if (!frame_get_str(f, cmd, sizeof(cmd)))
		return -1;
	if (strcmp(cmd, "tlsrpt") == 0)
		return rpt_control(ctx, f, cmd);
	if (!frame_get_u32(f, &argc) || argc > 1 ||
	    (argc == 1 && !frame_get_str(f, dom, sizeof(dom))) || !frame_end(f))
		return -1;
	all = sts_cache_all(&n);
	for (i = 0; i < n; i++) {
		const struct sts_entry *e = &all[i];

		if ((dom[0] != '\0' && strcasecmp(dom, e->domain) != 0) || e->expires <= now)
			continue;
		w = snprintf(line, sizeof(line), "%s: mode %s, id %s, max_age %u, expires in "
		    "%llus, mx", e->domain, sts_mode_name(e->pol.mode), e->id, e->pol.max_age,
		    (unsigned long long)(e->expires - now));
		for (k = 0; k < e->pol.nmx && w > 0 && (size_t)w < sizeof(line); k++)
			w += snprintf(line + w, sizeof(line) - (size_t)w, " %s", e->pol.mx[k]);
		fb = fbuf_new(MSG_CONTROL_REPLY, f->hdr.reqid);
		fbuf_add_str(fb, line);
		chan_send(ctx->master, fb);
		shown++;
	}
	fb = fbuf_new(MSG_CONTROL_END, f->hdr.reqid);
	fbuf_add_u8(fb, dom[0] != '\0' && shown == 0);
	fbuf_add_str(fb, dom[0] != '\0' && shown == 0 ? "no MTA-STS policy cached for this domain" :
	    "");
	chan_send(ctx->master, fb);
	return 0;
}

static int
sts_sched_cb(struct chan *c, struct frame *f, void *arg)
{
	struct stsd	*d = arg;

	if (f == NULL) {
		/* The link in use (a replaced one was settled by its successor):
		 * the master links the scheduler again, or a new one after its
		 * restart; questions asked on the old link are not answered. */
		if (d->sched == c) {
			log_warnx("lost the scheduler");
			d->sched = NULL;
			rpt_set_sched(NULL);
			if (!d->stopping)
				proc_link_down(d->ctx, PROC_SCHEDULER, 0);
		}
		return 0;
	}
	if (d->sched != c)
		return 0;
	if (f->hdr.type == MSG_STS_GET)
		return sts_get(d, f);
	return rpt_sched_frame(f);
}

static void
sts_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct stsd	*d = ctx->arg;
	struct chan	*old = d->sched;

	if (kind != PROC_SCHEDULER) {
		log_warnx("unexpected link to %s", proc_kind_name(kind));
		close(fd);
		return;
	}
	if (old != NULL) {
		d->sched = NULL;
		chan_close(old, "replaced by a new link");
	}
	d->sched = chan_new(ctx->base, fd, "scheduler", sts_sched_cb, d);
	rpt_set_sched(d->sched);
}

static void
sts_on_shutdown(struct proc_ctx *ctx)
{
	stsd.stopping = true;
	rpt_shutdown();
	sts_fetch_shutdown();
	proc_exit_loop(ctx);
}

void
sts_main(struct proc_ctx *ctx)
{
	struct stsd	*d = &stsd;

	memset(d, 0, sizeof(*d));
	d->ctx = ctx;
	if (!prepared)
		sts_prepare(ctx);	/* a test run without the prologue */
	sts_fetch_attach(ctx->base);
	rpt_send_init(ctx);
	ctx->arg = d;
	ctx->on_peer = sts_on_peer;
	ctx->on_shutdown = sts_on_shutdown;
	ctx->on_master = sts_control;
	log_info("MTA-STS policy fetcher ready");
}
