/* SPDX-License-Identifier: ISC */
/*
 * master_control.c - the control socket of the master, used by outpostctl.
 *
 * Only root and members of admin_group may connect (SO_PEERCRED, checked at
 * accept). Every command is logged with who ran it. The master carries out
 * what concerns itself (log level, reload, status) and routes queue
 * commands to the queue manager: the answer frames come back under a route
 * id and are passed to the client unread.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "master.h"
#include "msg.h"
#include "version.h"
#include "xmalloc.h"

#define CONTROL_MAX_CLIENTS	32
#define CONTROL_MAX_ARGS	16
#define CONTROL_ARG_MAX		512

struct control_client {
	struct master	*m;
	struct chan	*chan;
	uid_t		 uid;
	char		 who[96];
};

struct control_route {
	uint32_t		 id;
	int			 kind;		/* the child carrying it out */
	struct control_client	*client;	/* NULL once the client left */
	uint32_t		 client_reqid;
	struct control_route	*next;
};

static struct control_route *routes;
static uint32_t next_route_id = 1;
static unsigned nclients;

static bool
peer_is_admin(const struct config *c, uid_t uid, gid_t gid)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 groups[256];
	int		 ngroups = 256;

	if (uid == 0)
		return true;
	if (c->admin_group[0] == '\0' || (gr = getgrnam(c->admin_group)) == NULL)
		return false;
	if (gid == gr->gr_gid)
		return true;
	if ((pw = getpwuid(uid)) == NULL)
		return false;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) == -1)
		return false;
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == gr->gr_gid)
			return true;
	return false;
}

static void
client_end(struct control_client *cl, uint32_t reqid, int status, const char *msg)
{
	struct fbuf	*fb = fbuf_new(MSG_CONTROL_END, reqid);

	fbuf_add_u8(fb, (uint8_t)status);
	fbuf_add_str(fb, msg);
	chan_send(cl->chan, fb);
}

static void
client_line(struct control_client *cl, uint32_t reqid, const char *line)
{
	struct fbuf	*fb = fbuf_new(MSG_CONTROL_REPLY, reqid);

	fbuf_add_str(fb, line);
	chan_send(cl->chan, fb);
}

static struct child *
find_child(struct master *m, int kind)
{
	for (unsigned i = 0; i < m->nchildren; i++)
		if (m->children[i].desc->kind == kind && m->children[i].pid > 0 &&
		    m->children[i].chan != NULL)
			return &m->children[i];
	return NULL;
}

static void
forward(struct control_client *cl, uint32_t reqid, int kind, const char *cmd,
    char **argv, uint32_t argc)
{
	struct child		*c = find_child(cl->m, kind);
	struct control_route	*r;
	struct fbuf		*fb;

	if (c == NULL) {
		client_end(cl, reqid, 1, kind == PROC_QMGR ? "the queue manager is not running" :
		    kind == PROC_SCHEDULER ? "the scheduler is not running" :
		    "the process for this command is not running");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	r->id = next_route_id++;
	r->client = cl;
	r->client_reqid = reqid;
	r->next = routes;
	routes = r;
	fb = fbuf_new(MSG_CONTROL_REQUEST, r->id);
	fbuf_add_str(fb, cmd);
	fbuf_add_u32(fb, argc);
	for (uint32_t i = 0; i < argc; i++)
		fbuf_add_str(fb, argv[i]);
	chan_send(c->chan, fb);
}

/* Pass an answer frame of a child to the client that asked, unread. */
int
control_route_answer(struct master *m, struct frame *f)
{
	struct control_route	**rp, *r;
	const uint8_t		 *payload = f->p;
	struct fbuf		 *fb;

	for (rp = &routes; (r = *rp) != NULL; rp = &r->next)
		if (r->id == f->hdr.reqid)
			break;
	if (r == NULL)
		return -1;	/* an answer nobody asked for */
	if (r->client != NULL) {
		fb = fbuf_new(f->hdr.type, r->client_reqid);
		fbuf_add_raw(fb, payload, f->len);
		chan_send(r->client->chan, fb);
	}
	if (f->hdr.type == MSG_CONTROL_END) {
		*rp = r->next;
		free(r);
	}
	return 0;
}

/* A child that answers control commands died: tell its clients. */
void
control_child_gone(struct master *m, int kind)
{
	struct control_route **rp, *r;

	for (rp = &routes; (r = *rp) != NULL;) {
		if (r->kind != kind) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		if (r->client != NULL)
			client_end(r->client, r->client_reqid, 1, kind == PROC_SCHEDULER ?
			    "the scheduler stopped before answering" :
			    "the queue manager stopped before answering");
		free(r);
	}
}

/* RSS (kB) and CPU time (s) of a process from /proc, or -1. */
static void
proc_usage(pid_t pid, long *rss_kb, double *cpu)
{
	char		 path[64], buf[1024], *p;
	FILE		*fp;
	unsigned long	 ut, st;
	long		 pages;

	*rss_kb = -1;
	*cpu = -1;
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), fp) != NULL && (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
	    "%*d %*d %*u %*u %ld", &ut, &st, &pages) == 3) {
		*cpu = (double)(ut + st) / sysconf(_SC_CLK_TCK);
		*rss_kb = pages * (sysconf(_SC_PAGESIZE) / 1024);
	}
	fclose(fp);
}

static void
cmd_status(struct control_client *cl, uint32_t reqid)
{
	struct master	*m = cl->m;
	char		 line[256], name[32];
	long		 rss;
	double		 cpu;
	time_t		 up = time(NULL) - metrics_started();

	snprintf(line, sizeof(line), "version: %s", outpost_version());
	client_line(cl, reqid, line);
	snprintf(line, sizeof(line), "uptime: %lldd %02lld:%02lld:%02lld (%lld s)",
	    (long long)up / 86400, (long long)up % 86400 / 3600, (long long)up % 3600 / 60,
	    (long long)up % 60, (long long)up);
	client_line(cl, reqid, line);
	proc_usage(getpid(), &rss, &cpu);
	snprintf(line, sizeof(line), "master: running (pid %ld), rss %ld kB, cpu %.2f s",
	    (long)getpid(), rss, cpu);
	client_line(cl, reqid, line);
	for (unsigned i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		if (c->desc->kind == PROC_AGENT)
			snprintf(name, sizeof(name), "%s %u", c->desc->name, c->instance);
		else
			strlcpy(name, c->desc->name, sizeof(name));
		proc_usage(c->pid, &rss, &cpu);
		if (rss < 0)
			snprintf(line, sizeof(line), "%s: restarting, restarts %u", name,
			    metrics_restarts(c));
		else
			snprintf(line, sizeof(line), "%s: running (pid %ld), restarts %u, rss %ld kB, "
			    "cpu %.2f s", name, (long)c->pid, metrics_restarts(c), rss, cpu);
		client_line(cl, reqid, line);
	}
	snprintf(line, sizeof(line), "queue: mails %llu active, %llu deferred, %llu held; "
	    "recipients %llu active, %llu deferred, %llu held",
	    (unsigned long long)metrics_total(MET_Q_MAILS_ACTIVE),
	    (unsigned long long)metrics_total(MET_Q_MAILS_DEFERRED),
	    (unsigned long long)metrics_total(MET_Q_MAILS_HELD),
	    (unsigned long long)metrics_total(MET_Q_RCPTS_ACTIVE),
	    (unsigned long long)metrics_total(MET_Q_RCPTS_DEFERRED),
	    (unsigned long long)metrics_total(MET_Q_RCPTS_HELD));
	client_line(cl, reqid, line);
	snprintf(line, sizeof(line), "delivery rate: %.1f recipients/s over the last minute; "
	    "totals: %llu delivered, %llu deferred, %llu bounced",
	    metrics_delivery_rate(), (unsigned long long)metrics_total(MET_RCPT_DELIVERED),
	    (unsigned long long)metrics_total(MET_RCPT_DEFERRED),
	    (unsigned long long)(metrics_total(MET_RCPT_BOUNCED_4) +
	    metrics_total(MET_RCPT_BOUNCED_5)));
	client_line(cl, reqid, line);
	snprintf(line, sizeof(line), "log_level: %s",
	    log_getlevel() == LOGLEVEL_DETAILED ? "detailed" : "basic");
	client_line(cl, reqid, line);
	client_end(cl, reqid, 0, "");
}

static int
control_request(struct control_client *cl, struct frame *f)
{
	char		 cmd[64], *argv[CONTROL_MAX_ARGS];
	uint32_t	 argc, i;
	char		 logline[1024], err[4096];
	size_t		 used;
	int		 ok = 0;

	if (!frame_get_str(f, cmd, sizeof(cmd)) || !frame_get_u32(f, &argc) ||
	    argc > CONTROL_MAX_ARGS)
		return -1;
	for (i = 0; i < argc; i++)
		argv[i] = NULL;
	for (i = 0; i < argc; i++)
		if (!frame_get_strdup(f, &argv[i], CONTROL_ARG_MAX))
			goto bad;
	if (!frame_end(f))
		goto bad;
	for (i = 0; i < argc; i++)
		for (char *p = argv[i]; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	for (char *p = cmd; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	used = snprintf(logline, sizeof(logline), "control: %s ran: %s", cl->who, cmd);
	for (i = 0; i < argc && used < sizeof(logline); i++)
		used += snprintf(logline + used, sizeof(logline) - used, " %s", argv[i]);
	log_info("%s", logline);

	if (strcmp(cmd, "log") == 0) {
		if (argc != 1 || (strcmp(argv[0], "basic") != 0 && strcmp(argv[0], "detailed") != 0))
			client_end(cl, f->hdr.reqid, 1, "usage: log basic|detailed");
		else {
			supervise_set_loglevel(cl->m, strcmp(argv[0], "detailed") == 0 ?
			    LOGLEVEL_DETAILED : LOGLEVEL_BASIC);
			log_info("log level is now %s", argv[0]);
			client_end(cl, f->hdr.reqid, 0, "");
		}
	} else if (strcmp(cmd, "reload") == 0) {
		if (master_reload(cl->m, err, sizeof(err)) == -1)
			client_end(cl, f->hdr.reqid, 1, err);
		else
			client_end(cl, f->hdr.reqid, 0, "configuration reloaded");
	} else if (strcmp(cmd, "status") == 0)
		cmd_status(cl, f->hdr.reqid);
	else if (strcmp(cmd, "trace") == 0) {
		ok = trace_command(cl->m, argv, argc, err, sizeof(err));
		client_end(cl, f->hdr.reqid, ok == 0 ? 0 : 1, err);
		ok = 0;
	}
	else if (strcmp(cmd, "queue") == 0 || strcmp(cmd, "show") == 0 ||
	    strcmp(cmd, "flush") == 0 || strcmp(cmd, "delete") == 0 ||
	    strcmp(cmd, "hold") == 0 || strcmp(cmd, "release") == 0 ||
	    strcmp(cmd, "bounce") == 0)
		forward(cl, f->hdr.reqid, PROC_QMGR, cmd, argv, argc);
	else if (strcmp(cmd, "route") == 0)
		forward(cl, f->hdr.reqid, PROC_SCHEDULER, cmd, argv, argc);
	else if (strcmp(cmd, "sts") == 0 || strcmp(cmd, "tlsrpt") == 0)
		forward(cl, f->hdr.reqid, PROC_STS, cmd, argv, argc);
	else if (strcmp(cmd, "destinations") == 0)
		forward(cl, f->hdr.reqid, PROC_SCHEDULER, cmd, argv, argc);
	else
		client_end(cl, f->hdr.reqid, 1, "unknown command");
	goto out;
bad:
	ok = -1;
out:
	for (i = 0; i < argc; i++)
		free(argv[i]);
	return ok;
}

static int
control_client_cb(struct chan *ch, struct frame *f, void *arg)
{
	struct control_client	*cl = arg;
	struct control_route	*r;

	if (f == NULL) {
		for (r = routes; r != NULL; r = r->next)
			if (r->client == cl)
				r->client = NULL;
		nclients--;
		free(cl);
		return 0;
	}
	if (f->hdr.type != MSG_CONTROL_REQUEST)
		return -1;
	return control_request(cl, f);
}

static void
control_accept_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct master		*m = arg;
	struct control_client	*cl;
	struct ucred		 cred;
	socklen_t		 len = sizeof(cred);
	struct passwd		*pw;
	int			 s;

	if ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		close(s);
		return;
	}
	if (!peer_is_admin(&m->conf, cred.uid, cred.gid)) {
		log_warnx("control: refused uid %ld: not root and not in admin_group \"%s\"",
		    (long)cred.uid, m->conf.admin_group);
		close(s);
		return;
	}
	if (nclients >= CONTROL_MAX_CLIENTS) {
		log_warnx("control: too many clients, refused uid %ld", (long)cred.uid);
		close(s);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->m = m;
	cl->uid = cred.uid;
	pw = getpwuid(cred.uid);
	snprintf(cl->who, sizeof(cl->who), "uid %ld (%s)", (long)cred.uid, pw ? pw->pw_name : "?");
	cl->chan = chan_new(m->base, s, "outpostctl", control_client_cb, cl);
	nclients++;
}

void
control_init(struct master *m)
{
	struct sockaddr_un	 sun;
	struct group		*gr;
	struct event		*ev;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	config_control_socket(&m->conf, sun.sun_path, sizeof(sun.sun_path));
	unlink(sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("control socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", sun.sun_path);
	/* The socket is the first gate; the credentials check at accept is the second. */
	if (chmod(sun.sun_path, 0660) == -1)
		fatal("chmod %s", sun.sun_path);
	if (geteuid() == 0 && m->conf.admin_group[0] != '\0') {
		if ((gr = getgrnam(m->conf.admin_group)) == NULL)
			log_warnx("admin_group %s does not exist: only root may use outpostctl",
			    m->conf.admin_group);
		else if (chown(sun.sun_path, 0, gr->gr_gid) == -1)
			log_warn("chown %s", sun.sun_path);
	}
	if (listen(fd, 16) == -1)
		fatal("listen %s", sun.sun_path);
	ev = event_new(m->base, fd, EV_READ | EV_PERSIST, control_accept_cb, m);
	event_add(ev, NULL);
	m->control_fd = fd;
}
