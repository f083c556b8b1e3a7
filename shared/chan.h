/* SPDX-License-Identifier: ISC */
/*
 * chan.h - a framed link inside a libevent loop.
 *
 * A chan owns one SEQPACKET socket. Incoming frames are parsed (frame.h) and
 * handed to the callback; outgoing frames are sent at once or queued until the
 * socket drains. A malformed frame or a callback that returns -1 logs the
 * reason with the peer's name and closes the link; the callback then sees one
 * final call with f == NULL. Callers never free a chan from inside its
 * callback except by returning -1 or via chan_close() (deferred safely).
 */
#ifndef OUTPOST_CHAN_H
#define OUTPOST_CHAN_H

#include <stdint.h>

#include "frame.h"

struct event_base;
struct chan;

/* Return 0 when the frame was fine, -1 when it was malformed (closes the link). */
typedef int (*chan_cb)(struct chan *, struct frame *, void *arg);

struct chan	*chan_new(struct event_base *, int fd, const char *peername, chan_cb, void *arg);
/* Queue a frame; takes ownership of fb. Returns -1 (fb freed) if the link is closed or fb overflowed. */
int		 chan_send(struct chan *, struct fbuf *);
/* Close the link: pending output is dropped; the callback gets f == NULL once. */
void		 chan_close(struct chan *, const char *why);
const char	*chan_peer(const struct chan *);
void		*chan_arg(const struct chan *);
void		 chan_set_arg(struct chan *, void *);
/* Bytes waiting in the send queue (flow control for bulk senders). */
size_t		 chan_pending(const struct chan *);
/* Links open in this process. */
unsigned	 chan_count(void);
/* Called once each time a non-empty send queue has drained completely. */
void		 chan_set_drain_cb(struct chan *, void (*)(struct chan *, void *));

#endif
