/* SPDX-License-Identifier: ISC */
/*
 * master_supervise.c - the master's children: the process table, who talks
 * to whom, starting (fork and exec, master_exec.c), wiring and re-wiring,
 * the restart policy, and the graceful stop.
 *
 * Restart policy (as Postfix throttles only a daemon that dies at start-up):
 * a child that said it was ready and then died is started again at once;
 * the exponential delay applies only to children that die before they are
 * ready. Every death is logged at warning with its exit status and the
 * number of deaths of that process in the last minute; nothing is parked.
 * A stopped child (SIGSTOP from anyone) is noticed (WUNTRACED), killed and
 * so restarted. The listening sockets stay open in the master, so clients
 * wait in the backlog while smtpd restarts.
 *
 * Links never stay down: a child whose link to a peer closed says so
 * (MSG_CTL_LINK_DOWN) and the master gives both a new pair, at most once a
 * second per pair; a report about a peer that is not running, or a pair
 * wired again since the report, is ignored.
 *
 * The master never acts on data a child produced beyond that: on a child's
 * control link it writes log lines and stores metric values (master_log.c),
 * routes control answers, and checks the few control frames a child may send
 * against the process table (a link report must name a peer of the sender's
 * kind); anything else marks the child as misbehaving and it is killed and
 * restarted.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "daemons.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"

static const struct proc_desc procs[] = {
	{ PROC_QMGR,      "qmgr",      USER_QUEUE, ROOT_QUEUE, qmgr_main,      qmgr_prepare },
	{ PROC_SCHEDULER, "scheduler", USER_SCHEDULER, ROOT_EMPTY, scheduler_main, NULL },
	{ PROC_RESOLVER,  "resolver",  USER_RESOLVER,  ROOT_EMPTY, resolver_main,  resolver_prepare },
	{ PROC_SMTPD,     "smtpd",     USER_SMTPD,     ROOT_EMPTY, smtpd_main,     NULL },
	{ PROC_AGENT,     "agent",     USER_MAIL,  ROOT_EMPTY, agent_main,     agent_prepare },
	{ PROC_SIGNER,    "signer",    USER_SIGNER, ROOT_EMPTY, signer_main,    NULL },
	{ PROC_STS,       "sts",       USER_STS,   ROOT_EMPTY, sts_main,       sts_prepare },
};

/* Which kinds of process are linked; the master alone wires them. */
static const struct { int a, b; } links[] = {
	{ PROC_SMTPD,     PROC_QMGR },
	{ PROC_QMGR,      PROC_SCHEDULER },
	{ PROC_SCHEDULER, PROC_RESOLVER },
	{ PROC_SCHEDULER, PROC_AGENT },
	{ PROC_QMGR,      PROC_SIGNER },
	{ PROC_SCHEDULER, PROC_STS },
};

#define RESTART_BACKOFF_MIN	1
#define RESTART_BACKOFF_MAX	60	/* only for children that die before they are ready */
#define STOP_PHASE_TIMEOUT	20	/* seconds each stop phase may take */
#define DEATHS_WARN		5	/* deaths a minute above which the log says "crashing" */
#define RELINK_GAP_MS		1000	/* a pair is linked again at most this often */
#define RELINK_TICK_MS		100
/* One entry per pair at most (reports are merged by link id): room for every pair. */
#define RELINK_PENDING_MAX	(MASTER_MAX_CHILDREN * 4)

static void child_start(struct child *);

/* Pairs to link again; the current link of each pair of children, and when it was made. */
static struct relink {
	unsigned	a, b;		/* indices into m->children */
	uint32_t	id;		/* the link reported down */
} relinks[RELINK_PENDING_MAX];
static unsigned		 nrelinks;
static struct pair {
	uint32_t	id;
	uint64_t	wired;		/* ms, monotonic */
} pairs[MASTER_MAX_CHILDREN][MASTER_MAX_CHILDREN];
static uint32_t		 link_seq;
static struct event	*ev_relink;

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const struct proc_desc *
supervise_proc(const char *name)
{
	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		if (strcmp(procs[i].name, name) == 0)
			return &procs[i];
	return NULL;
}

static bool
kinds_linked(int a, int b)
{
	for (size_t l = 0; l < sizeof(links) / sizeof(links[0]); l++)
		if ((links[l].a == a && links[l].b == b) || (links[l].a == b && links[l].b == a))
			return true;
	return false;
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
send_peer(struct child *to, int kind, unsigned instance, int fd, uint32_t id)
{
	struct fbuf	*fb;

	fb = fbuf_new(MSG_CTL_PEER, 0);
	fbuf_add_u8(fb, (uint8_t)kind);
	fbuf_add_u16(fb, (uint16_t)instance);
	fbuf_add_u32(fb, id);
	fbuf_set_fd(fb, fd);
	chan_send(to->chan, fb);
}

static unsigned
child_index(const struct master *m, const struct child *c)
{
	return (unsigned)(c - m->children);
}

/* Symmetric: the lower index first. */
static struct pair *
pair_of(const struct master *m, const struct child *a, const struct child *b)
{
	unsigned	i = child_index(m, a), j = child_index(m, b);

	return i < j ? &pairs[i][j] : &pairs[j][i];
}

/* One new link between two running children. */
static void
wire_pair(struct master *m, struct child *c, struct child *p)
{
	int	sv[2];

	if (frame_socketpair(sv) == -1) {
		log_warn("socketpair for %s-%s", c->desc->name, p->desc->name);
		return;
	}
	if (++link_seq == 0)
		link_seq = 1;
	send_peer(c, p->desc->kind, p->instance, sv[0], link_seq);
	send_peer(p, c->desc->kind, c->instance, sv[1], link_seq);
	pair_of(m, c, p)->id = link_seq;
	pair_of(m, c, p)->wired = now_ms();
}

/* Give a freshly started child a link to every running peer it talks to. */
static void
wire_child(struct master *m, struct child *c)
{
	for (unsigned i = 0; i < m->nchildren; i++) {
		struct child *p = &m->children[i];
		if (p == c || !kinds_linked(c->desc->kind, p->desc->kind) || p->pid == 0 ||
		    p->chan == NULL)
			continue;
		wire_pair(m, c, p);
	}
}

static void
relink_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct master	*m = arg;
	struct timeval	 tv = { 0, RELINK_TICK_MS * 1000 };
	uint64_t	 now = now_ms();
	unsigned	 i, kept = 0;

	for (i = 0; i < nrelinks; i++) {
		struct relink *r = &relinks[i];
		struct child *a = &m->children[r->a], *b = &m->children[r->b];
		struct pair *p = pair_of(m, a, b);

		/* Gone (its restart links it), or linked again since that link. */
		if (m->stopping || a->pid == 0 || a->chan == NULL || b->pid == 0 ||
		    b->chan == NULL || p->id != r->id)
			continue;
		if (now < p->wired + RELINK_GAP_MS) {
			relinks[kept++] = *r;
			continue;
		}
		log_warnx("link %s-%s was down: linked again", a->title, b->title);
		wire_pair(m, a, b);
	}
	nrelinks = kept;
	if (nrelinks > 0)
		evtimer_add(ev_relink, &tv);
}

/* A child says its link to a peer closed. */
static int
link_down(struct child *c, struct frame *f)
{
	struct master	*m = c->m;
	struct timeval	 tv = { 0, RELINK_TICK_MS * 1000 };
	struct child	*p = NULL;
	uint8_t		 kind;
	uint16_t	 instance;
	uint32_t	 id;
	unsigned	 i, a, b;

	if (!frame_get_u8(f, &kind) || !frame_get_u16(f, &instance) || !frame_get_u32(f, &id) ||
	    !frame_end(f) || !kinds_linked(c->desc->kind, kind))
		return -1;
	for (i = 0; i < m->nchildren; i++)
		if (m->children[i].desc->kind == kind && m->children[i].instance == instance)
			p = &m->children[i];
	if (p == NULL)
		return -1;
	/* About a link already replaced (a restart of the peer, most often). */
	if (m->stopping || id != pair_of(m, c, p)->id)
		return 0;
	log_info("%s reports its link to %s down", c->title, p->title);
	a = child_index(m, c);
	b = child_index(m, p);
	for (i = 0; i < nrelinks; i++)
		if (relinks[i].id == id)
			return 0;	/* the other side said it first */
	if (nrelinks == RELINK_PENDING_MAX) {
		log_warnx("too many links down at once: %s-%s not linked again", c->title, p->title);
		return 0;
	}
	relinks[nrelinks].a = a;
	relinks[nrelinks].b = b;
	relinks[nrelinks].id = id;
	nrelinks++;
	if (!evtimer_pending(ev_relink, NULL))
		evtimer_add(ev_relink, &tv);
	return 0;
}

static int
child_chan_cb(struct chan *ch, struct frame *f, void *arg)
{
	struct child	*c = arg;
	int		 rc;

	if (f == NULL) {
		if (c->chan == ch)
			c->chan = NULL;
		return 0;
	}
	/* Log lines and metrics: written and counted, nothing else (master_log.c). */
	if ((rc = master_child_frame(c, f)) != 1)
		return rc;
	/* The qmgr, the scheduler and the sts process answer control commands; the master routes them. */
	if ((c->desc->kind == PROC_QMGR || c->desc->kind == PROC_SCHEDULER ||
	    c->desc->kind == PROC_STS) &&
	    (f->hdr.type == MSG_CONTROL_REPLY ||
	    f->hdr.type == MSG_CONTROL_END) && control_route_answer(c->m, f) == 0)
		return 0;
	if (f->hdr.type == MSG_CTL_READY && frame_end(f) && !c->ready) {
		c->ready = true;
		c->backoff = RESTART_BACKOFF_MIN;
		log_detail("%s (pid %ld) ready", c->title, (long)c->pid);
		return 0;
	}
	if (f->hdr.type == MSG_CTL_LINK_DOWN && link_down(c, f) == 0)
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
	/* The child execs a fresh image; only its end of sv survives (master_exec.c). */
	if ((pid = exec_spawn(m, c, sv[1])) == -1) {
		log_warn("fork for %s", c->desc->name);
		close(sv[0]);
		close(sv[1]);
		goto retry;
	}
	close(sv[1]);
	c->pid = pid;
	c->ready = false;
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
	master_aliases_send(m, c);
	trace_send(c);
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
			if (procs[i].kind == PROC_AGENT)
				snprintf(c->title, sizeof(c->title), "agent %u", k);
			else
				strlcpy(c->title, procs[i].name, sizeof(c->title));
		}
	}
	if ((ev_relink = evtimer_new(m->base, relink_cb, m)) == NULL)
		fatalx("evtimer_new");
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

/*
 * Count a death in the minute it falls in; returns the count. The minute is
 * measured on the monotonic clock: after the wall clock was set back an
 * hour, time(NULL) kept every death in one "minute" for that hour (a crash
 * storm reported that never was), and a jump forward emptied it.
 */
static unsigned
count_death(struct child *c)
{
	time_t	now = (time_t)(now_ms() / 1000);

	if (now - c->deaths_since >= 60) {
		c->deaths_since = now;
		c->deaths = 0;
	}
	return ++c->deaths;
}

void
supervise_reap(struct master *m)
{
	pid_t	 pid;
	int	 status;
	unsigned deaths;
	char	 how[128], storm[64];

	while ((pid = waitpid(-1, &status, WNOHANG | WUNTRACED)) > 0) {
		struct child *c = NULL;
		for (unsigned i = 0; i < m->nchildren; i++)
			if (m->children[i].pid == pid)
				c = &m->children[i];
		if (c == NULL)
			continue;
		if (WIFSTOPPED(status)) {
			/* Stopped, it serves nobody and holds its links: replace it. */
			log_warnx("%s (pid %ld) was stopped by signal %d (%s): killing it",
			    c->title, (long)pid, WSTOPSIG(status), strsignal(WSTOPSIG(status)));
			kill(pid, SIGKILL);
			continue;
		}
		describe_status(status, how, sizeof(how));
		metrics_child_exited(c);
		c->pid = 0;
		if (c->chan != NULL) {
			chan_close(c->chan, NULL);
			c->chan = NULL;
		}
		if (c->desc->kind == PROC_QMGR || c->desc->kind == PROC_SCHEDULER)
			control_child_gone(m, c->desc->kind);
		if (m->stopping) {
			log_info("%s (pid %ld) %s", c->title, (long)pid, how);
			continue;
		}
		if (c->reload_restart) {
			c->reload_restart = false;
			log_info("%s (pid %ld) %s; starting it with the new configuration",
			    c->title, (long)pid, how);
			child_start(c);
			continue;
		}
		deaths = count_death(c);
		storm[0] = '\0';
		if (deaths > DEATHS_WARN)
			snprintf(storm, sizeof(storm), " (crashing: %u deaths in the last minute)",
			    deaths);
		if (c->ready) {
			/* It had served: replace it at once, its peers are waiting. */
			c->backoff = RESTART_BACKOFF_MIN;
			log_warnx("%s (pid %ld) %s; restarting it now%s", c->title, (long)pid,
			    how, storm);
			child_start(c);
			continue;
		}
		log_warnx("%s (pid %ld) %s before it was ready; restarting in %us%s",
		    c->title, (long)pid, how, c->backoff, storm);
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

/* Only the master holds the log file: the children's lines reach it over their links. */
void
supervise_reopen_logs(struct master *m)
{
	log_reopen();
}
