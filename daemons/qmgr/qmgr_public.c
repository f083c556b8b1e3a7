/*
 * qmgr_public.c - the public submission socket of the queue manager,
 * public/submit.sock (SOCK_SEQPACKET, mode 0666): any local user submits
 * (outpost-sendmail) or lists the queue (-bp) over it. The submitter's uid
 * comes from the kernel (SO_PEERCRED), never from what the client says.
 * Clients are bounded (QMGR_PUBLIC_MAX) and so are their transactions.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "frame.h"
#include "log.h"
#include "qmgr.h"

static void
public_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct qmgr *q = arg;
	struct qlink *l;
	struct ucred cred;
	socklen_t len;
	char name[64];
	int fd, i, sz = 4 * FRAME_MAX;

	for (i = 0; i < 32; i++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
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
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		snprintf(name, sizeof(name), "submit[uid %u pid %d]", (unsigned)cred.uid,
		    (int)cred.pid);
		l = qmgr_link_new(q, fd, QLINK_PUBLIC, name);
		l->uid = cred.uid;
		l->maxtx = QMGR_PUBLIC_TX_MAX;
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
	q->ev_listen = event_new(q->base, fd, EV_READ | EV_PERSIST, public_accept, q);
	event_add(q->ev_listen, NULL);
	return 0;
}

void
public_stop(struct qmgr *q)
{
	if (q->ev_listen == NULL)
		return;
	event_free(q->ev_listen);
	q->ev_listen = NULL;
	close(q->listen_fd);
	q->listen_fd = -1;
}
