/* SPDX-License-Identifier: ISC */
/*
 * proc.c - the start of every outpost child (see proc.h), run in a fresh
 * image of the outpost binary (the master forks and execs it with a role,
 * daemons/master/master_exec.c). The order matters: everything that needs privileges or
 * the file system happens before chroot and the switch of user; the event
 * loop and the first frame read come after.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "proc.h"
#include "trace.h"
#include "xmalloc.h"

#include "sandbox.h"

/* The parameter naming each role's user; USER_MAIL is the agents'. */
static const struct {
	const char	*param;
	size_t		 off;
} proc_users[USER_MAX] = {
	[USER_MAIL]	 = { "user",		offsetof(struct config, user) },
	[USER_QUEUE]	 = { "queue_user",	offsetof(struct config, queue_user) },
	[USER_SMTPD]	 = { "smtpd_user",	offsetof(struct config, smtpd_user) },
	[USER_RESOLVER]	 = { "resolver_user",	offsetof(struct config, resolver_user) },
	[USER_SCHEDULER] = { "scheduler_user",	offsetof(struct config, scheduler_user) },
	[USER_SIGNER]	 = { "signer_user",	offsetof(struct config, signer_user) },
	[USER_STS]	 = { "sts_user",	offsetof(struct config, sts_user) },
};

const char *
proc_user_name(const struct config *conf, enum proc_user u, const char **param)
{
	if ((unsigned)u >= USER_MAX)
		fatalx("unknown process user %d", (int)u);
	if (param != NULL)
		*param = proc_users[u].param;
	return (const char *)conf + proc_users[u].off;
}

int
proc_user_ids(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	if ((pw = getpwnam(user)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

void
proc_exit_loop(struct proc_ctx *ctx)
{
	event_base_loopexit(ctx->base, NULL);
}

/*
 * The id of the newest link to each peer: daemons always use the newest
 * (a new link replaces the old), so that is the one a report is about, and
 * the master can tell a report about a link it already replaced.
 */
static struct peer_link {
	int		kind;
	unsigned	instance;
	uint32_t	id;
} *peer_links;
static size_t npeer_links;

static struct peer_link *
peer_link(int kind, unsigned instance)
{
	for (size_t i = 0; i < npeer_links; i++)
		if (peer_links[i].kind == kind && peer_links[i].instance == instance)
			return &peer_links[i];
	peer_links = xreallocarray(peer_links, npeer_links + 1, sizeof(*peer_links));
	peer_links[npeer_links].kind = kind;
	peer_links[npeer_links].instance = instance;
	peer_links[npeer_links].id = 0;
	return &peer_links[npeer_links++];
}

/*
 * A link that was in use closed: the master links the two processes again
 * (or does nothing if the peer is gone: its restart brings a new link).
 * Daemons call this only for the link they used, never for one they replaced.
 */
void
proc_link_down(struct proc_ctx *ctx, int kind, unsigned instance)
{
	struct fbuf	*fb;

	if (ctx == NULL || ctx->master == NULL)
		return;
	fb = fbuf_new(MSG_CTL_LINK_DOWN, 0);
	fbuf_add_u8(fb, (uint8_t)kind);
	fbuf_add_u16(fb, (uint16_t)instance);
	fbuf_add_u32(fb, peer_link(kind, instance)->id);
	chan_send(ctx->master, fb);
}

static int
proc_master_cb(struct chan *c, struct frame *f, void *arg)
{
	struct proc_ctx	*ctx = arg;
	uint8_t		 kind, level;
	uint16_t	 instance;
	uint32_t	 id;
	int		 fd;

	if (f == NULL) {
		/* Without a master nothing supervises us: leave. */
		log_warnx("lost the master, exiting");
		exit(0);
	}
	switch (f->hdr.type) {
	case MSG_CTL_PEER:
		if (!frame_get_u8(f, &kind) || !frame_get_u16(f, &instance) ||
		    !frame_get_u32(f, &id) || !frame_end(f) || f->fd == -1 || kind >= PROC_KIND_MAX)
			return -1;
		fd = f->fd;
		f->fd = -1;
		peer_link(kind, instance)->id = id;
		if (ctx->on_peer == NULL) {
			log_warnx("link to %s offered but not wanted", proc_kind_name(kind));
			close(fd);
			return 0;
		}
		ctx->on_peer(ctx, kind, instance, fd);
		return 0;
	case MSG_CTL_SHUTDOWN:
		if (!frame_end(f))
			return -1;
		if (ctx->on_shutdown != NULL)
			ctx->on_shutdown(ctx);
		else
			proc_exit_loop(ctx);
		return 0;
	case MSG_CTL_LOGLEVEL:
		if (!frame_get_u8(f, &level) || !frame_end(f) || level > LOGLEVEL_DETAILED)
			return -1;
		log_setlevel(level);
		return 0;
	case MSG_CTL_TRACE:
		return trace_frame(f) ? 0 : -1;
	case MSG_CONTROL_REQUEST:
		if (ctx->on_master != NULL)
			return ctx->on_master(ctx, f);
		/* A process without control commands says so instead of failing. */
		{
			struct fbuf *fb = fbuf_new(MSG_CONTROL_END, f->hdr.reqid);
			fbuf_add_u8(fb, 1);
			fbuf_add_str(fb, "this process takes no control commands");
			chan_send(c, fb);
		}
		return 0;
	default:
		if (ctx->on_master != NULL)
			return ctx->on_master(ctx, f);
		return -1;
	}
}

static void
proc_sigterm_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct proc_ctx	*ctx = arg;

	if (ctx->on_shutdown != NULL)
		ctx->on_shutdown(ctx);
	else
		proc_exit_loop(ctx);
}

static void
proc_limits(const struct proc_desc *d, const struct config *conf)
{
	const struct proc_limits *l = &conf->limits[d->kind];
	struct rlimit	 rl;

	if (l->open_files > 0) {
		rl.rlim_cur = rl.rlim_max = l->open_files;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			fatal("%s: setrlimit(RLIMIT_NOFILE, %llu)", d->name,
			    (unsigned long long)l->open_files);
	}
	if (l->memory > 0) {
		rl.rlim_cur = rl.rlim_max = l->memory;
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			fatal("%s: setrlimit(RLIMIT_AS, %llu)", d->name,
			    (unsigned long long)l->memory);
	}
	if (l->nice != 0) {
		errno = 0;
		if (nice(l->nice) == -1 && errno != 0)
			log_warn("%s: nice(%d)", d->name, l->nice);
	}
}

void
proc_child(const struct proc_desc *d, const struct config *conf, unsigned instance,
    int master_fd, int *listen_fds, unsigned nlisten)
{
	static struct proc_ctx ctx;
	char		 root[1100], title[64];
	const char	*user;
	uid_t		 uid;
	gid_t		 gid;
	struct event	*ev_term;

	/* The log file stays with the master: lines go over the control link. */
	log_forward(master_fd);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.kind = d->kind;
	ctx.instance = instance;
	ctx.listen_fds = listen_fds;
	ctx.nlisten = nlisten;

	if (d->kind == PROC_AGENT)
		snprintf(title, sizeof(title), "%s %u", d->name, instance);
	else
		strlcpy(title, d->name, sizeof(title));
	log_setproc(title);
	setproctitle("%s", title);

	/* The default dispositions: the master coordinates stopping. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);	/* ^C in the foreground reaches the whole group */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);

	if (d->prepare != NULL)
		d->prepare(&ctx);

	user = proc_user_name(conf, d->user, NULL);
	if (d->root == ROOT_QUEUE)
		config_queue_dir(conf, root, sizeof(root));
	else
		config_empty_dir(conf, root, sizeof(root));

	if (geteuid() == 0) {
		if (proc_user_ids(user, &uid, &gid) == -1)
			fatalx("%s: unknown user %s", d->name, user);
		if (d->root != ROOT_NONE) {
			if (chroot(root) == -1)
				fatal("%s: chroot(%s)", d->name, root);
			if (chdir("/") == -1)
				fatal("%s: chdir(/)", d->name);
		}
		if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			fatal("%s: cannot drop privileges to %s", d->name, user);
		if (setuid(0) != -1)
			fatalx("%s: could regain root after dropping privileges", d->name);
		ctx.privileged = true;
	} else if (d->root != ROOT_NONE) {
		/* Not root: no chroot, but the same relative view of the files. */
		if (chdir(root) == -1)
			fatal("%s: chdir(%s)", d->name, root);
	}
	proc_limits(d, conf);

	if ((ctx.base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", d->name);
	ctx.master = chan_new(ctx.base, master_fd, "master", proc_master_cb, &ctx);
	log_forward_attach(ctx.base, ctx.master);
	/* Always: outpostctl status shows the queue and rates from these too. */
	metrics_attach(ctx.base, ctx.master, conf->metrics_destinations);
	ev_term = evsignal_new(ctx.base, SIGTERM, proc_sigterm_cb, &ctx);
	event_add(ev_term, NULL);

	d->main(&ctx);
	sandbox_enter(d->kind, conf);
	/* Start-up is over: from now on a death is a crash, restarted at once. */
	chan_send(ctx.master, fbuf_new(MSG_CTL_READY, 0));
	event_base_dispatch(ctx.base);
	exit(0);
}
