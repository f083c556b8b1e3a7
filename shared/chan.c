/* SPDX-License-Identifier: ISC */
/*
 * chan.c - a framed IPC link inside a libevent loop (see chan.h).
 * Used by every daemon for its links to the master and to its peers.
 *
 * Sending tries the socket at once and queues only what does not fit, so
 * the common case costs one sendmsg. Receiving drains up to a bounded number
 * of frames per wake-up so one busy peer cannot starve the others.
 * A chan is freed only from its own event handlers or a zero-delay event,
 * never while a callback still runs on it.
 *
 * A descriptor-carrying frame can also be refused while the socket has room:
 * the kernel caps the descriptors a user has in flight (sent, not yet
 * received) at its RLIMIT_NOFILE, and sendmsg then fails with ETOOMANYREFS.
 * That is back-pressure from a peer that is busy, not a broken link: the
 * frame waits in the queue and is tried again after a short pause (the
 * socket being writable, a write event would fire at once and spin).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

#define CHAN_RECV_BURST		64
#define CHAN_QUEUE_MAX		(64u * 1024 * 1024)	/* a peer this far behind is stuck */
#define CHAN_INFLIGHT_RETRY_US	2000	/* pause after ETOOMANYREFS */

struct chan {
	int		 fd;
	char		 peer[64];
	chan_cb		 cb;
	void		*arg;
	struct event	*ev_read;
	struct event	*ev_write;
	struct event	*ev_retry;	/* timer: descriptors in flight at the limit */
	struct event	*ev_free;
	struct fbuf	*qhead, *qtail;
	size_t		 qbytes;
	bool		 closed;
	bool		 in_cb;
	uint8_t		*rbuf;
	void		(*drain_cb)(struct chan *, void *);
};

/* Links open in this process (a metric: outpost_links_open). */
static unsigned nchans;

unsigned
chan_count(void)
{
	return nchans;
}

static void chan_read_cb(evutil_socket_t, short, void *);
static void chan_write_cb(evutil_socket_t, short, void *);
static void chan_free_cb(evutil_socket_t, short, void *);

struct chan *
chan_new(struct event_base *base, int fd, const char *peername, chan_cb cb, void *arg)
{
	struct chan	*c;

	c = xcalloc(1, sizeof(*c));
	nchans++;
	c->fd = fd;
	strlcpy(c->peer, peername, sizeof(c->peer));
	c->cb = cb;
	c->arg = arg;
	c->rbuf = xmalloc(FRAME_MAX);
	evutil_make_socket_nonblocking(fd);
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
	c->ev_write = event_new(base, fd, EV_WRITE, chan_write_cb, c);
	c->ev_retry = evtimer_new(base, chan_write_cb, c);
	c->ev_free = event_new(base, -1, 0, chan_free_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_retry == NULL ||
	    c->ev_free == NULL)
		fatalx("chan_new: event_new");
	event_add(c->ev_read, NULL);
	return c;
}

const char *chan_peer(const struct chan *c) { return c->peer; }
void *chan_arg(const struct chan *c) { return c->arg; }
void chan_set_arg(struct chan *c, void *arg) { c->arg = arg; }
size_t chan_pending(const struct chan *c) { return c->qbytes; }
void chan_set_drain_cb(struct chan *c, void (*cb)(struct chan *, void *)) { c->drain_cb = cb; }

static void
chan_drop_queue(struct chan *c)
{
	struct fbuf	*fb;

	while ((fb = c->qhead) != NULL) {
		c->qhead = fb->next;
		fbuf_free(fb);
	}
	c->qtail = NULL;
	c->qbytes = 0;
}

static void
chan_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chan	*c = arg;

	/* Tell the owner once, then release everything. */
	c->cb(c, NULL, c->arg);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_retry);
	event_free(c->ev_free);
	chan_drop_queue(c);
	close(c->fd);
	free(c->rbuf);
	nchans--;
	free(c);
}

void
chan_close(struct chan *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	if (why != NULL)
		log_warnx("link to %s closed: %s", c->peer, why);
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_del(c->ev_retry);
	chan_drop_queue(c);
	event_active(c->ev_free, 0, 0);
}

/*
 * After a failed send of the queue's head (or of a frame about to be
 * queued): arm the right wake-up and return true, or return false when the
 * error means the link is broken.
 */
static bool
chan_wait_to_send(struct chan *c, int err)
{
	static const struct timeval retry = { 0, CHAN_INFLIGHT_RETRY_US };

	if (err == EAGAIN || err == ENOBUFS) {
		event_add(c->ev_write, NULL);
		return true;
	}
	if (err == ETOOMANYREFS) {
		if (!evtimer_pending(c->ev_retry, NULL))
			evtimer_add(c->ev_retry, &retry);
		return true;
	}
	return false;
}

int
chan_send(struct chan *c, struct fbuf *fb)
{
	if (c->closed) {
		fbuf_free(fb);
		return -1;
	}
	if (fb->overflow) {
		log_warnx("frame %s to %s exceeds the frame size limit: not sent",
		    msg_name(*(uint16_t *)(fb->data + 4)), c->peer);
		fbuf_free(fb);
		return -1;
	}
	if (c->qhead == NULL) {
		if (frame_send(c->fd, fb) == 0) {
			fbuf_free(fb);
			return 0;
		}
		if (!chan_wait_to_send(c, errno)) {
			fbuf_free(fb);
			chan_close(c, strerror(errno));
			return -1;
		}
	}
	if (c->qbytes + fb->len > CHAN_QUEUE_MAX) {
		fbuf_free(fb);
		chan_close(c, "peer does not read its frames");
		return -1;
	}
	fb->next = NULL;
	if (c->qtail != NULL)
		c->qtail->next = fb;
	else
		c->qhead = fb;
	c->qtail = fb;
	c->qbytes += fb->len;
	return 0;
}

static void
chan_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chan	*c = arg;
	struct fbuf	*fb;

	while ((fb = c->qhead) != NULL) {
		if (frame_send(c->fd, fb) == -1) {
			if (!chan_wait_to_send(c, errno))
				chan_close(c, strerror(errno));
			return;
		}
		c->qhead = fb->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		c->qbytes -= fb->len;
		fbuf_free(fb);
	}
	if (c->drain_cb != NULL && !c->closed)
		c->drain_cb(c, c->arg);
}

static void
chan_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chan	*c = arg;
	struct frame	 f;
	const char	*why = NULL;
	char		 reason[160];
	int		 i, r;

	for (i = 0; i < CHAN_RECV_BURST && !c->closed; i++) {
		r = frame_recv(c->fd, c->rbuf, &f, &why);
		if (r == -1) {
			if (errno == EAGAIN)
				return;
			chan_close(c, strerror(errno));
			return;
		}
		if (r == 0) {
			chan_close(c, NULL);
			return;
		}
		if (r == -2) {
			snprintf(reason, sizeof(reason), "malformed frame: %s", why);
			chan_close(c, reason);
			return;
		}
		c->in_cb = true;
		r = c->cb(c, &f, c->arg);
		c->in_cb = false;
		if (f.fd != -1)
			close(f.fd);
		if (r == -1 && !c->closed) {
			snprintf(reason, sizeof(reason), "malformed %s frame", msg_name(f.hdr.type));
			chan_close(c, reason);
			return;
		}
	}
}
