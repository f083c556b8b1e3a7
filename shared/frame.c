/* SPDX-License-Identifier: ISC */
/*
 * frame.c - encoding, decoding and socket I/O of outpost's IPC frames
 * (see frame.h for the wire layout). Used by every process and by the
 * command-line tools that talk to the queue manager.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "frame.h"
#include "msg.h"
#include "xmalloc.h"

struct fbuf *
fbuf_new(uint16_t type, uint32_t reqid)
{
	struct fbuf		*fb;
	struct frame_hdr	 hdr;

	fb = xcalloc(1, sizeof(*fb));
	fb->cap = 256;
	fb->data = xmalloc(fb->cap);
	fb->fd = -1;
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.reqid = reqid;
	hdr.len = FRAME_HDR_LEN;
	memcpy(fb->data, &hdr.len, 4);
	memcpy(fb->data + 4, &hdr.type, 2);
	memcpy(fb->data + 6, &hdr.flags, 2);
	memcpy(fb->data + 8, &hdr.reqid, 4);
	fb->len = FRAME_HDR_LEN;
	return fb;
}

void
fbuf_free(struct fbuf *fb)
{
	if (fb == NULL)
		return;
	if (fb->fd != -1)
		close(fb->fd);
	if (fb->wipe)
		sodium_memzero(fb->data, fb->cap);
	free(fb->data);
	free(fb);
}

static void
fbuf_put(struct fbuf *fb, const void *p, size_t n)
{
	uint32_t	len;

	if (fb->overflow || n > FRAME_MAX - fb->len) {
		fb->overflow = true;
		return;
	}
	if (fb->len + n > fb->cap) {
		size_t ncap = fb->cap;
		while (ncap < fb->len + n)
			ncap *= 2;
		if (ncap > FRAME_MAX)
			ncap = FRAME_MAX;
		if (fb->wipe) {
			/* No stale copy of a secret may stay behind in freed memory. */
			uint8_t *nd = xmalloc(ncap);
			memcpy(nd, fb->data, fb->len);
			sodium_memzero(fb->data, fb->cap);
			free(fb->data);
			fb->data = nd;
		} else
			fb->data = xreallocarray(fb->data, ncap, 1);
		fb->cap = ncap;
	}
	memcpy(fb->data + fb->len, p, n);
	fb->len += n;
	len = fb->len;
	memcpy(fb->data, &len, 4);
}

void fbuf_add_u8(struct fbuf *fb, uint8_t v) { fbuf_put(fb, &v, 1); }
void fbuf_add_u16(struct fbuf *fb, uint16_t v) { fbuf_put(fb, &v, 2); }
void fbuf_add_u32(struct fbuf *fb, uint32_t v) { fbuf_put(fb, &v, 4); }
void fbuf_add_u64(struct fbuf *fb, uint64_t v) { fbuf_put(fb, &v, 8); }

void
fbuf_add_raw(struct fbuf *fb, const void *p, size_t n)
{
	fbuf_put(fb, p, n);
}

void
fbuf_add_bytes(struct fbuf *fb, const void *p, size_t n)
{
	if (n > FRAME_PAYLOAD_MAX) {
		fb->overflow = true;
		return;
	}
	fbuf_add_u32(fb, (uint32_t)n);
	if (n > 0)
		fbuf_put(fb, p, n);
}

void
fbuf_add_str(struct fbuf *fb, const char *s)
{
	if (s == NULL)
		s = "";
	fbuf_add_bytes(fb, s, strlen(s));
}

void
fbuf_set_fd(struct fbuf *fb, int fd)
{
	uint16_t	flags = FRAME_F_FD;

	if (fb->fd != -1)
		close(fb->fd);
	fb->fd = fd;
	memcpy(fb->data + 6, &flags, 2);
}

size_t
fbuf_room(const struct fbuf *fb)
{
	return fb->overflow ? 0 : FRAME_MAX - fb->len;
}

static bool
frame_take(struct frame *f, void *out, size_t n)
{
	if (f->bad || n > f->len - f->off) {
		f->bad = true;
		return false;
	}
	memcpy(out, f->p + f->off, n);
	f->off += n;
	return true;
}

bool frame_get_u8(struct frame *f, uint8_t *v) { return frame_take(f, v, 1); }
bool frame_get_u16(struct frame *f, uint16_t *v) { return frame_take(f, v, 2); }
bool frame_get_u32(struct frame *f, uint32_t *v) { return frame_take(f, v, 4); }
bool frame_get_u64(struct frame *f, uint64_t *v) { return frame_take(f, v, 8); }

bool
frame_get_raw(struct frame *f, void *out, size_t n)
{
	return frame_take(f, out, n);
}

bool
frame_get_bytes(struct frame *f, const uint8_t **p, size_t *len)
{
	uint32_t	n;

	if (!frame_get_u32(f, &n))
		return false;
	if (n > f->len - f->off) {
		f->bad = true;
		return false;
	}
	*p = f->p + f->off;
	*len = n;
	f->off += n;
	return true;
}

static bool
frame_get_strview(struct frame *f, const uint8_t **p, size_t *len, size_t max)
{
	if (!frame_get_bytes(f, p, len))
		return false;
	if (*len > max || memchr(*p, '\0', *len) != NULL) {
		f->bad = true;
		return false;
	}
	return true;
}

bool
frame_get_str(struct frame *f, char *buf, size_t bufsz)
{
	const uint8_t	*p;
	size_t		 len;

	if (bufsz == 0 || !frame_get_strview(f, &p, &len, bufsz - 1))
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return true;
}

bool
frame_get_strdup(struct frame *f, char **out, size_t maxlen)
{
	const uint8_t	*p;
	size_t		 len;

	if (!frame_get_strview(f, &p, &len, maxlen))
		return false;
	*out = xmalloc(len + 1);
	memcpy(*out, p, len);
	(*out)[len] = '\0';
	return true;
}

bool
frame_end(struct frame *f)
{
	return !f->bad && f->off == f->len;
}

int
frame_parse(const uint8_t *buf, size_t n, int fd, struct frame *f, const char **why)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (n < FRAME_HDR_LEN) {
		*why = "short frame";
		return -1;
	}
	memcpy(&f->hdr.len, buf, 4);
	memcpy(&f->hdr.type, buf + 4, 2);
	memcpy(&f->hdr.flags, buf + 6, 2);
	memcpy(&f->hdr.reqid, buf + 8, 4);
	if (f->hdr.len != n || n > FRAME_MAX) {
		*why = "frame length does not match its datagram";
		return -1;
	}
	if (f->hdr.flags & ~FRAME_F_ALL) {
		*why = "unknown frame flags";
		return -1;
	}
	if (((f->hdr.flags & FRAME_F_FD) != 0) != (fd != -1)) {
		*why = "descriptor flag does not match the descriptors passed";
		return -1;
	}
	if (!msg_known(f->hdr.type)) {
		*why = "unknown frame type";
		return -1;
	}
	f->p = buf + FRAME_HDR_LEN;
	f->len = n - FRAME_HDR_LEN;
	f->fd = fd;
	/* The layout check of msg.c: no handler ever sees a frame of the wrong shape. */
	if (!msg_validate(f, why)) {
		f->fd = -1;
		return -1;
	}
	return 0;
}

int
frame_send(int sock, const struct fbuf *fb)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	if (fb->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = fb->data;
	iov.iov_len = fb->len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fb->fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fb->fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != fb->len) {	/* cannot happen on SEQPACKET */
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
frame_recv(int sock, uint8_t *buf, struct frame *f, const char **why)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	int		 fd = -1, nfds = 0, i, fds[8];
	bool		 extra = false;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = FRAME_MAX;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	/* Collect every descriptor first: extras and strays must be closed. */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		int cnt = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < cnt; i++) {
			int one;
			memcpy(&one, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (nfds < 8)
				fds[nfds++] = one;
			else
				close(one);
		}
	}
	if (nfds > 0)
		fd = fds[0];
	for (i = 1; i < nfds; i++) {
		close(fds[i]);
		extra = true;
	}
	if (n == 0 && nfds == 0)
		return 0;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || extra) {
		if (fd != -1)
			close(fd);
		*why = (msg.msg_flags & MSG_TRUNC) ? "oversized frame" :
		    "more than one descriptor in a frame";
		return -2;
	}
	if (frame_parse(buf, (size_t)n, fd, f, why) == -1) {
		if (fd != -1)
			close(fd);
		return -2;
	}
	return 1;
}

int
frame_socketpair(int sv[2])
{
	int	size = FRAME_MAX * 4, i;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		(void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	return 0;
}
