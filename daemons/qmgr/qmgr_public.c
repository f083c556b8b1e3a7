/* SPDX-License-Identifier: ISC */
/*
 * qmgr_public.c - the public submission socket of the queue manager,
 * public/submit.sock (SOCK_SEQPACKET, mode 0666): any local user submits
 * (outpost-sendmail) or lists the queue (-bp) over it. The submitter's uid
 * comes from the kernel (SO_PEERCRED), never from what the client says.
 *
 * Clients are bounded (QMGR_PUBLIC_MAX) and so are their transactions. No
 * local user may lock the others out: one uid holds at most
 * public_clients_per_uid of the slots, and a client that sends nothing for
 * client_idle_timeout is dropped (unless it waits for us: a commit or a
 * listing in progress). Running out of descriptors (EMFILE) pauses
 * accepting for a moment instead of spinning on a readable listener.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "qmgr.h"

#define PUBLIC_ACCEPT_PAUSE	1	/* seconds without accepting after EMFILE */

static unsigned
clients_of(struct qmgr *q, uint32_t uid)
{
	struct qlink *l;
	unsigned n = 0;

	TAILQ_FOREACH(l, &q->links, entry)
		if (l->kind == QLINK_PUBLIC && l->chan != NULL && l->uid == uid)
			n++;
	return n;
}

static bool
link_busy(struct qlink *l)
{
	struct qtx *tx;

	if (l->streaming)
		return true;
	RB_FOREACH(tx, qtx_tree, &l->txs)
		if (tx->committing)
			return true;
	return false;
}

static void
public_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct qlink *l = arg;

	if (l->chan == NULL)
		return;
	if (link_busy(l)) {
		/* The client waits for us, not we for it. */
		public_touch(l);
		return;
	}
	log_info("submit.sock: %s: idle for %us, dropped", chan_peer(l->chan),
	    l->q->conf->client_idle_timeout);
	chan_close(l->chan, "idle");
}

void
public_touch(struct qlink *l)
{
	struct timeval tv = { l->q->conf->client_idle_timeout, 0 };

	if (l->idle != NULL)
		evtimer_add(l->idle, &tv);
}

void
public_closed(struct qlink *l)
{
	l->q->npublic--;
	if (l->idle != NULL)
		evtimer_del(l->idle);
}

static void
accept_enable(struct qmgr *q, bool on)
{
	if (q->ev_listen == NULL)
		return;
	if (on)
		event_add(q->ev_listen, NULL);
	else
		event_del(q->ev_listen);
}

static void
public_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct qmgr *q = arg;
	struct qlink *l;
	struct ucred cred;
	struct timeval pause = { PUBLIC_ACCEPT_PAUSE, 0 };
	socklen_t len;
	char name[64];
	int fd, i, sz = 4 * FRAME_MAX;

	if (lfd == -1) {
		/* The pause after EMFILE is over. */
		if (!q->stopping)
			accept_enable(q, true);
		return;
	}
	for (i = 0; i < 32; i++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The listener stays readable: do not spin on it. */
				log_warn("submit.sock: accept, pausing %ds", PUBLIC_ACCEPT_PAUSE);
				accept_enable(q, false);
				evtimer_add(q->accept_pause, &pause);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("submit.sock: accept");
			return;
		}
		if (q->npublic >= QMGR_PUBLIC_MAX || q->stopping) {
			log_warnx("submit.sock: %s: client refused",
			    q->stopping ? "shutting down" : "too many clients");
			close(fd);
			continue;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
			log_warn("submit.sock: SO_PEERCRED");
			close(fd);
			continue;
		}
		if (clients_of(q, cred.uid) >= q->conf->public_clients_per_uid) {
			log_warnx("submit.sock: uid %u pid %d refused: "
			    "public_clients_per_uid %u reached", (unsigned)cred.uid,
			    (int)cred.pid, q->conf->public_clients_per_uid);
			close(fd);
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		snprintf(name, sizeof(name), "submit[uid %u pid %d]", (unsigned)cred.uid,
		    (int)cred.pid);
		l = qmgr_link_new(q, fd, QLINK_PUBLIC, name);
		l->uid = cred.uid;
		l->maxtx = QMGR_PUBLIC_TX_MAX;
		if ((l->idle = evtimer_new(q->base, public_idle, l)) == NULL)
			fatalx("evtimer_new");
		public_touch(l);
		q->npublic++;
	}
}

int
public_listen(struct qmgr *q)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, QMGR_SUBMIT_SOCK, sizeof(sun.sun_path));
	if (unlink(QMGR_SUBMIT_SOCK) == -1 && errno != ENOENT)
		log_warn("unlink %s", QMGR_SUBMIT_SOCK);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("bind %s", QMGR_SUBMIT_SOCK);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(QMGR_SUBMIT_SOCK, 0666) == -1 || listen(fd, 128) == -1) {
		log_warn("%s", QMGR_SUBMIT_SOCK);
		close(fd);
		return -1;
	}
	q->listen_fd = fd;
	if ((q->accept_pause = evtimer_new(q->base, public_accept, q)) == NULL)
		fatalx("evtimer_new");
	q->ev_listen = event_new(q->base, fd, EV_READ | EV_PERSIST, public_accept, q);
	event_add(q->ev_listen, NULL);
	return 0;
}

void
public_stop(struct qmgr *q)
{
	if (q->ev_listen == NULL)
		return;
	evtimer_del(q->accept_pause);
	event_free(q->ev_listen);
	q->ev_listen = NULL;
	close(q->listen_fd);
	q->listen_fd = -1;
}
