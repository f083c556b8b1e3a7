/*
 * master_supervise.c - the master's children: the process table, who talks
 * to whom, starting, wiring, restarting with backoff, and the graceful stop.
 *
 * The master never acts on data a child produced: a child's control link is
 * only watched for closure; any frame on it marks the child as misbehaving and
 * it is killed and restarted.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "daemons.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"

static const struct proc_desc procs[] = {
	{ PROC_QMGR,      "qmgr",      USER_QUEUE, ROOT_QUEUE, qmgr_main,      NULL },
	{ PROC_SCHEDULER, "scheduler", USER_MAIL,  ROOT_EMPTY, scheduler_main, NULL },
	{ PROC_RESOLVER,  "resolver",  USER_MAIL,  ROOT_EMPTY, resolver_main,  resolver_prepare },
	{ PROC_SMTPD,     "smtpd",     USER_MAIL,  ROOT_EMPTY, smtpd_main,     NULL },
	{ PROC_AGENT,     "agent",     USER_MAIL,  ROOT_EMPTY, agent_main,     agent_prepare },
};

/* Which kinds of process are linked; the master alone wires them. */
static const struct { int a, b; } links[] = {
	{ PROC_SMTPD,     PROC_QMGR },
	{ PROC_QMGR,      PROC_SCHEDULER },
	{ PROC_SCHEDULER, PROC_RESOLVER },
	{ PROC_SCHEDULER, PROC_AGENT },
};

#define RESTART_BACKOFF_MIN	1
#define RESTART_BACKOFF_MAX	60
#define STABLE_AFTER		30	/* seconds of life that reset the backoff */
#define STOP_PHASE_TIMEOUT	20	/* seconds each stop phase may take */

static void child_start(struct child *);

static int
cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * A child must not inherit the master's event loop descriptors or other
 * children's links: with them it could disturb the supervisor.
 */
static void
close_all_but(int link, const int *listeners, unsigned nlisteners)
{
	int		keep[CONFIG_MAX_LISTEN + 8];
	unsigned	n = 0, i;
	int		next = 0;

	keep[n++] = 0;
	keep[n++] = 1;
	keep[n++] = 2;
	keep[n++] = link;
	if (log_fd() != -1)
		keep[n++] = log_fd();
	for (i = 0; i < nlisteners; i++)
		keep[n++] = listeners[i];
	qsort(keep, n, sizeof(keep[0]), cmp_int);
	for (i = 0; i < n; i++) {
		if (keep[i] > next)
			close_range(next, keep[i] - 1, 0);
		next = keep[i] + 1;
	}
	close_range(next, ~0U, 0);
}

static bool
kind_running(const struct master *m, int kind)
{
	for (unsigned i = 0; i < m->nchildren; i++)
		if (m->children[i].desc->kind == kind && m->children[i].pid != 0)
			return true;
	return false;
}

static void
send_peer(struct child *to, int kind, unsigned instance, int fd)
{
	struct fbuf	*fb;

	fb = fbuf_new(MSG_CTL_PEER, 0);
	fbuf_add_u8(fb, (uint8_t)kind);
	fbuf_add_u16(fb, (uint16_t)instance);
	fbuf_set_fd(fb, fd);
	chan_send(to->chan, fb);
}

/* Give a freshly started child a link to every running peer it talks to. */
static void
wire_child(struct master *m, struct child *c)
{
	int	sv[2], other;

	for (size_t l = 0; l < sizeof(links) / sizeof(links[0]); l++) {
		if (links[l].a == c->desc->kind)
			other = links[l].b;
		else if (links[l].b == c->desc->kind)
			other = links[l].a;
		else
			continue;
		for (unsigned i = 0; i < m->nchildren; i++) {
			struct child *p = &m->children[i];
			if (p->desc->kind != other || p->pid == 0 || p->chan == NULL)
				continue;
			if (frame_socketpair(sv) == -1) {
				log_warn("socketpair for %s-%s", c->desc->name, p->desc->name);
				continue;
			}
			send_peer(c, p->desc->kind, p->instance, sv[0]);
			send_peer(p, c->desc->kind, c->instance, sv[1]);
		}
	}
}

static int
child_chan_cb(struct chan *ch, struct frame *f, void *arg)
{
	struct child	*c = arg;

	if (f == NULL) {
		if (c->chan == ch)
			c->chan = NULL;
		return 0;
	}
	/* The queue manager and the scheduler answer control commands; the
	 * master routes them. */
	if ((c->desc->kind == PROC_QMGR || c->desc->kind == PROC_SCHEDULER) &&
	    (f->hdr.type == MSG_CONTROL_REPLY ||
	    f->hdr.type == MSG_CONTROL_END) && control_route_answer(c->m, f) == 0)
		return 0;
	/* Anything else from a child is misbehaviour. */
	log_warnx("%s (pid %ld) sent an unexpected %s frame: killing it", c->desc->name,
	    (long)c->pid, msg_name(f->hdr.type));
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	return -1;
}

static void
restart_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct child	*c = arg;

	if (!c->m->stopping && c->pid == 0)
		child_start(c);
}

static void
child_start(struct child *c)
{
	struct master	*m = c->m;
	int		 sv[2];
	pid_t		 pid;

	if (frame_socketpair(sv) == -1) {
		log_warn("socketpair for %s", c->desc->name);
		goto retry;
	}
	switch ((pid = fork())) {
	case -1:
		log_warn("fork for %s", c->desc->name);
		close(sv[0]);
		close(sv[1]);
		goto retry;
	case 0:
		/* Child: keep only the control link, the log and (smtpd) the listeners. */
		close(sv[0]);
		/*
		 * Give the master's loop a private epoll instance first, so that
		 * freeing it cannot touch the master's registrations, then free it:
		 * the child builds its own loop and signal handling.
		 */
		if (event_reinit(m->base) == 0)
			event_base_free(m->base);
		m->base = NULL;
		close_all_but(sv[1], c->desc->kind == PROC_SMTPD ? m->listen_fds : NULL,
		    c->desc->kind == PROC_SMTPD ? m->nlisten : 0);
		log_after_fork();
		proc_child(c->desc, &m->conf, c->instance, sv[1],
		    c->desc->kind == PROC_SMTPD ? m->listen_fds : NULL,
		    c->desc->kind == PROC_SMTPD ? m->nlisten : 0);
	}
	close(sv[1]);
	c->pid = pid;
	c->started = time(NULL);
	c->chan = chan_new(m->base, sv[0], c->desc->name, child_chan_cb, c);
	if (c->desc->kind == PROC_AGENT)
		log_info("started %s %u (pid %ld)", c->desc->name, c->instance, (long)pid);
	else
		log_info("started %s (pid %ld)", c->desc->name, (long)pid);
	/* Say the level before any work: detailed logging must hold from the start. */
	{
		struct fbuf *fb = fbuf_new(MSG_CTL_LOGLEVEL, 0);
		fbuf_add_u8(fb, (uint8_t)log_getlevel());
		chan_send(c->chan, fb);
	}
	secrets_send(m, c);
	wire_child(m, c);
	return;
retry:
	{
		struct timeval tv = { c->backoff, 0 };
		evtimer_add(c->ev_restart, &tv);
	}
}

void
supervise_init(struct master *m)
{
	m->nchildren = 0;
	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		unsigned n = procs[i].kind == PROC_AGENT ? m->conf.limits[PROC_AGENT].count : 1;
		if (procs[i].kind == PROC_SMTPD && m->nlisten == 0)
			n = 0;
		for (unsigned k = 0; k < n && m->nchildren < MASTER_MAX_CHILDREN; k++) {
			struct child *c = &m->children[m->nchildren++];
			memset(c, 0, sizeof(*c));
			c->desc = &procs[i];
			c->instance = k;
			c->m = m;
			c->backoff = RESTART_BACKOFF_MIN;
			c->ev_restart = evtimer_new(m->base, restart_cb, c);
		}
	}
}

void
supervise_start_all(struct master *m)
{
	for (unsigned i = 0; i < m->nchildren; i++)
		child_start(&m->children[i]);
}

static void
describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "stopped with status 0x%x", status);
}

static void stop_next_phase(struct master *);

void
supervise_reap(struct master *m)
{
	pid_t	 pid;
	int	 status;
	char	 how[128];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = NULL;
		for (unsigned i = 0; i < m->nchildren; i++)
			if (m->children[i].pid == pid)
				c = &m->children[i];
		if (c == NULL)
			continue;
		describe_status(status, how, sizeof(how));
		c->pid = 0;
		if (c->chan != NULL) {
			chan_close(c->chan, NULL);
			c->chan = NULL;
		}
		if (c->desc->kind == PROC_QMGR)
			control_child_gone(m);
		if (m->stopping) {
			log_info("%s (pid %ld) %s", c->desc->name, (long)pid, how);
			continue;
		}
		if (c->reload_restart) {
			c->reload_restart = false;
			log_info("%s (pid %ld) %s; starting it with the new configuration",
			    c->desc->name, (long)pid, how);
			child_start(c);
			continue;
		}
		if (time(NULL) - c->started >= STABLE_AFTER)
			c->backoff = RESTART_BACKOFF_MIN;
		log_warnx("%s (pid %ld) %s; restarting in %us", c->desc->name, (long)pid, how,
		    c->backoff);
		struct timeval tv = { c->backoff, 0 };
		evtimer_add(c->ev_restart, &tv);
		c->backoff = c->backoff * 2 > RESTART_BACKOFF_MAX ? RESTART_BACKOFF_MAX : c->backoff * 2;
	}
	if (m->stopping)
		stop_next_phase(m);
}

static void
send_shutdown(struct child *c)
{
	if (c->chan != NULL)
		chan_send(c->chan, fbuf_new(MSG_CTL_SHUTDOWN, 0));
	else if (c->pid > 0)
		kill(c->pid, SIGTERM);
}

static void
stop_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct master	*m = arg;

	for (unsigned i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		bool in_phase = m->stop_phase == 1 ? c->desc->kind != PROC_QMGR : true;
		if (c->pid > 0 && in_phase) {
			log_warnx("%s (pid %ld) did not stop in time: killing it", c->desc->name,
			    (long)c->pid);
			kill(c->pid, SIGKILL);
		}
	}
}

/*
 * Stop in two phases: first everything that produces work for the queue
 * (smtpd, scheduler, agents, resolver), so their last results are recorded;
 * then the queue manager, which owns the durable state.
 */
static void
stop_next_phase(struct master *m)
{
	struct timeval	tv = { STOP_PHASE_TIMEOUT, 0 };
	bool		others = false;

	for (unsigned i = 0; i < m->nchildren; i++)
		if (m->children[i].pid > 0 && m->children[i].desc->kind != PROC_QMGR)
			others = true;
	if (m->stop_phase == 1 && !others) {
		m->stop_phase = 2;
		for (unsigned i = 0; i < m->nchildren; i++)
			if (m->children[i].desc->kind == PROC_QMGR)
				send_shutdown(&m->children[i]);
		evtimer_add(m->ev_stop_timeout, &tv);
	}
	if (m->stop_phase == 2 && !kind_running(m, PROC_QMGR) && !others)
		event_base_loopexit(m->base, NULL);
}

void
supervise_stop(struct master *m)
{
	struct timeval	tv = { STOP_PHASE_TIMEOUT, 0 };

	if (m->stopping)
		return;
	m->stopping = true;
	m->stop_phase = 1;
	log_info("stopping");
	for (unsigned i = 0; i < m->nchildren; i++) {
		evtimer_del(m->children[i].ev_restart);
		if (m->children[i].desc->kind != PROC_QMGR)
			send_shutdown(&m->children[i]);
	}
	m->ev_stop_timeout = evtimer_new(m->base, stop_timeout_cb, m);
	evtimer_add(m->ev_stop_timeout, &tv);
	stop_next_phase(m);
}

void
supervise_set_loglevel(struct master *m, int level)
{
	log_setlevel(level);
	for (unsigned i = 0; i < m->nchildren; i++) {
		if (m->children[i].chan == NULL)
			continue;
		struct fbuf *fb = fbuf_new(MSG_CTL_LOGLEVEL, 0);
		fbuf_add_u8(fb, (uint8_t)level);
		chan_send(m->children[i].chan, fb);
	}
}

void
supervise_reopen_logs(struct master *m)
{
	log_reopen();
	if (log_fd() == -1)
		return;
	for (unsigned i = 0; i < m->nchildren; i++) {
		if (m->children[i].chan == NULL)
			continue;
		int fd = dup(log_fd());
		if (fd == -1)
			continue;
		struct fbuf *fb = fbuf_new(MSG_CTL_LOGFILE, 0);
		fbuf_set_fd(fb, fd);
		chan_send(m->children[i].chan, fb);
	}
}
