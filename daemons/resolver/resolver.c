/* SPDX-License-Identifier: ISC */
/*
 * resolver.c - main of the resolver process (user outpost, chrooted into an
 * empty directory), the only process that talks DNS. Called by the process
 * prologue (shared/proc.c): resolver_prepare() before chroot, while
 * /etc/resolv.conf can still be read, then resolver_main().
 *
 * libunbound runs asynchronously in its own thread (ub_ctx_async); its
 * descriptor sits in our libevent loop and ub_process() delivers the
 * answers. It forwards to the servers of dns_servers, or to those of
 * /etc/resolv.conf when that is empty, and caches answers for their TTL.
 * With dnssec_trust_anchor set, libunbound validates every answer below
 * the anchor and each answer carries its verdict (secure, insecure, bogus).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <unbound.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "resolver.h"
#include "xmalloc.h"

#define RESOLV_CONF	"/etc/resolv.conf"

/* Made by resolver_prepare() before chroot, taken over by resolver_main(). */
static struct ub_ctx	*prepared;

static void
ub_option(struct ub_ctx *ub, const char *opt, const char *val)
{
	int	err;

	if ((err = ub_ctx_set_option(ub, opt, val)) != 0)
		log_warnx("libunbound option %s %s: %s", opt, val, ub_strerror(err));
}

/* Log the nameserver lines libunbound takes from resolv.conf. */
static unsigned
log_resolv_conf(const char *path)
{
	FILE		*fp;
	char		 line[512], *p, *e;
	unsigned	 n = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		return 0;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
			continue;
		p += 10 + strspn(p + 10, " \t");
		e = p + strcspn(p, " \t\r\n#;");
		*e = '\0';
		if (*p != '\0') {
			log_info("DNS server %s (from %s)", p, path);
			n++;
		}
	}
	fclose(fp);
	return n;
}

/*
 * Load the DNSSEC trust anchor while the file can still be read: libunbound
 * only notes the name and reads the file when the context is finalized,
 * which would otherwise be the first query, inside the chroot. Removing a
 * local zone that does not exist is the public call that finalizes and does
 * nothing else. After this no option can be changed.
 */
static void
trust_anchor(struct ub_ctx *ub, const char *path)
{
	FILE	*fp;
	int	 err;

	if (path[0] == '\0') {
		log_info("DNSSEC validation off (no dnssec_trust_anchor): every answer is insecure");
		return;
	}
	/* libunbound's own error says only "initialization failure": name the file first. */
	if ((fp = fopen(path, "r")) == NULL)
		fatal("dnssec_trust_anchor %s", path);
	fclose(fp);
	if ((err = ub_ctx_add_ta_file(ub, path)) != 0)
		fatalx("dnssec_trust_anchor %s: %s", path, ub_strerror(err));
	if ((err = ub_ctx_zone_remove(ub, "outpost-finalize.invalid.")) != 0)
		fatalx("dnssec_trust_anchor %s: cannot load it (DS or DNSKEY records in "
		    "zone-file format expected): %s", path, ub_strerror(err));
	log_info("DNSSEC validation on, trust anchor %s", path);
}

static struct ub_ctx *
resolver_setup(const struct config *c)
{
	struct ub_ctx	*ub;
	char		 fwd[300];
	unsigned	 i, n = 0;
	int		 err;

	if ((ub = ub_ctx_create()) == NULL)
		fatalx("resolver: ub_ctx_create failed");
	/* The servers are configured explicitly, often on loopback. */
	ub_option(ub, "do-not-query-localhost:", "no");
	/* A server that was down is asked again soon once it is back. */
	ub_option(ub, "infra-host-ttl:", "60");
	ub_option(ub, "infra-keep-probing:", "yes");
	ub_option(ub, "use-syslog:", "no");
	ub_option(ub, "verbosity:", "0");

	for (i = 0; i < c->ndns_servers; i++) {
		snprintf(fwd, sizeof(fwd), "%s@%u", c->dns_servers[i].host,
		    c->dns_servers[i].port ? c->dns_servers[i].port : 53);
		if ((err = ub_ctx_set_fwd(ub, fwd)) != 0) {
			log_warnx("DNS server %s: %s", fwd, ub_strerror(err));
			continue;
		}
		log_info("DNS server %s (dns_servers)", fwd);
		n++;
	}
	if (c->ndns_servers == 0) {
		n = log_resolv_conf(RESOLV_CONF);
		if ((err = ub_ctx_resolvconf(ub, RESOLV_CONF)) != 0)
			log_warnx("%s: %s", RESOLV_CONF, err == UB_READFILE ?
			    strerror(errno) : ub_strerror(err));
	}
	if (n == 0)
		log_warnx("no DNS server configured or found: resolving from the root servers");
	else
		resolver_open_default_zones(ub);
	if ((err = ub_ctx_async(ub, 1)) != 0)
		fatalx("resolver: ub_ctx_async: %s", ub_strerror(err));
	trust_anchor(ub, c->dnssec_trust_anchor);
	return ub;
}

void
resolver_prepare(struct proc_ctx *ctx)
{
	prepared = resolver_setup(ctx->conf);
}

static void
resolver_ub_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct resolver	*r = arg;
	int		 err;

	if ((err = ub_process(r->ub)) != 0)
		log_warnx("ub_process: %s", ub_strerror(err));
}

static int
resolver_sched_cb(struct chan *c, struct frame *f, void *arg)
{
	struct resolver	*r = arg;

	if (f == NULL) {
		if (r->sched == c) {
			log_warnx("lost the scheduler");
			r->sched = NULL;
			resolver_cancel_all(r);
			proc_link_down(r->ctx, PROC_SCHEDULER, 0);
		}
		return 0;
	}
	if (r->sched != c)
		return 0;
	switch (f->hdr.type) {
	case MSG_DNS_QUERY_ADDR:
	case MSG_DNS_QUERY_MX:
	case MSG_DNS_QUERY_TLSA:
	case MSG_DNS_QUERY_TXT:
		return resolver_query(r, f);
	}
	log_warnx("scheduler: unexpected %s", msg_name(f->hdr.type));
	return -1;
}

static void
resolver_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct resolver	*r = ctx->arg;
	struct chan	*old = r->sched;

	if (kind != PROC_SCHEDULER) {
		log_warnx("unexpected link to %s", proc_kind_name(kind));
		close(fd);
		return;
	}
	if (old != NULL) {
		r->sched = NULL;
		resolver_cancel_all(r);
		chan_close(old, "replaced by a new link");
	}
	r->sched = chan_new(ctx->base, fd, "scheduler", resolver_sched_cb, r);
	log_debug("linked to the scheduler");
}

static void
resolver_on_shutdown(struct proc_ctx *ctx)
{
	struct resolver	*r = ctx->arg;

	/* Questions in flight are the scheduler's to retry. */
	resolver_cancel_all(r);
	proc_exit_loop(ctx);
}

void
resolver_main(struct proc_ctx *ctx)
{
	static struct resolver	 res;
	struct resolver		*r = &res;
	int			 fd;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	TAILQ_INIT(&r->queries);
	/* Without the prepare step (a test run), set up now: resolv.conf may still be readable. */
	r->ub = prepared != NULL ? prepared : resolver_setup(ctx->conf);
	prepared = NULL;
	if ((fd = ub_fd(r->ub)) == -1)
		fatalx("resolver: ub_fd failed");
	if ((r->ub_ev = event_new(ctx->base, fd, EV_READ | EV_PERSIST, resolver_ub_cb,
	    r)) == NULL)
		fatalx("resolver: event_new");
	event_add(r->ub_ev, NULL);
	ctx->arg = r;
	ctx->on_peer = resolver_on_peer;
	ctx->on_shutdown = resolver_on_shutdown;
	log_info("resolver ready (libunbound %s)", ub_version());
}
