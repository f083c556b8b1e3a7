/* SPDX-License-Identifier: ISC */
/*
 * sendmail_submit.c - outpost-sendmail's side of the public socket
 * (<state_directory>/queue/public/submit.sock, served by the qmgr).
 *
 * One blocking SEQPACKET connection per run: SUBMIT_BEGIN, one SUBMIT_RCPT
 * per recipient, the content in SUBMIT_DATA pieces, SUBMIT_COMMIT, then
 * exactly one answer. Only SUBMIT_QUEUED means success; everything else
 * (no socket, a closed link, a timeout, a malformed or unexpected frame)
 * is reported and turned into a non-zero exit, so that no caller ever
 * believes a mail was queued when it was not.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "frame.h"
#include "localmail.h"
#include "msg.h"
#include "sendmail.h"

#define SUBMIT_REQID	1
#define IO_TIMEOUT	300		/* seconds: the qmgr answers after an fsync */
#define DATA_CHUNK	(64 * 1024)

/* Printable copy of a string that came from another process. */
static void
printable(const char *s, char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n + 1 < len; i++) {
		unsigned char c = s[i];

		buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : c;
	}
	buf[n] = '\0';
}

int
sm_connect(const char *path, const char *what)
{
	struct sockaddr_un sun;
	int s, sz = FRAME_MAX * 2;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", getprogname(), path);
		return -1;
	}
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "%s: socket: %s\n", getprogname(), strerror(errno));
		return -1;
	}
	(void)setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "%s: cannot reach %s at %s: %s%s\n",
		    getprogname(), what, path, strerror(errno),
		    (errno == ENOENT || errno == ECONNREFUSED) ? " (is outpost running?)" : "");
		close(s);
		return -1;
	}
	return s;
}

/*
 * Wait until s is ready for events (frame.c never blocks: it uses
 * MSG_DONTWAIT). Returns 0, or -1 with errno (EAGAIN after IO_TIMEOUT).
 */
static int
wait_ready(int s, short events)
{
	struct pollfd pfd = { s, events, 0 };
	int r;

	do
		r = poll(&pfd, 1, IO_TIMEOUT * 1000);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		errno = EAGAIN;
	return r > 0 ? 0 : -1;
}

/* Send one frame; takes fb. Returns 0, or -1 with errno. */
int
sm_send_frame(int s, struct fbuf *fb)
{
	int r;

	if (fb->overflow) {
		fbuf_free(fb);
		errno = EMSGSIZE;
		return -1;
	}
	while ((r = frame_send(s, fb)) == -1 && (errno == EAGAIN || errno == EINTR))
		if (errno == EAGAIN && wait_ready(s, POLLOUT) == -1)
			break;
	fbuf_free(fb);
	return r;
}

/* Receive one frame into buf; reports failures. 1: frame, 0: EOF, -1: error. */
int
sm_recv_frame(int s, uint8_t *buf, struct frame *f, const char *what)
{
	const char *why = NULL;
	int r;

	while ((r = frame_recv(s, buf, f, &why)) == -1 && (errno == EAGAIN || errno == EINTR))
		if (errno == EAGAIN && wait_ready(s, POLLIN) == -1)
			break;
	if (r == 1 && f->fd != -1) {
		close(f->fd);	/* nobody passes us descriptors */
		f->fd = -1;
	}
	if (r == 0)
		fprintf(stderr, "%s: the queue manager closed the connection before %s\n",
		    getprogname(), what);
	else if (r == -1)
		fprintf(stderr, "%s: no answer from the queue manager (%s): %s\n", getprogname(),
		    what, errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
	else if (r == -2)
		fprintf(stderr, "%s: malformed answer from the queue manager (%s): %s\n",
		    getprogname(), what, why ? why : "?");
	return r == 1 ? 1 : r == 0 ? 0 : -1;
}

static int
send_submission(int s, const struct submission *sub)
{
	struct fbuf *fb;
	size_t i, off, n;

	fb = fbuf_new(MSG_SUBMIT_BEGIN, SUBMIT_REQID);
	fbuf_add_u32(fb, sub->flags);
	fbuf_add_str(fb, sub->sender);
	fbuf_add_str(fb, "local");
	if (sm_send_frame(s, fb) == -1)
		return -1;
	for (i = 0; i < sub->nrcpt; i++) {
		fb = fbuf_new(MSG_SUBMIT_RCPT, SUBMIT_REQID);
		fbuf_add_str(fb, sub->rcpt[i]);
		if (sm_send_frame(s, fb) == -1)
			return -1;
	}
	for (off = 0; off < sub->len; off += n) {
		n = sub->len - off > DATA_CHUNK ? DATA_CHUNK : sub->len - off;
		fb = fbuf_new(MSG_SUBMIT_DATA, SUBMIT_REQID);
		fbuf_add_bytes(fb, sub->data + off, n);
		if (sm_send_frame(s, fb) == -1)
			return -1;
	}
	fb = fbuf_new(MSG_SUBMIT_COMMIT, SUBMIT_REQID);
	return sm_send_frame(s, fb);
}

int
submit_mail(const char *path, const struct submission *sub)
{
	static uint8_t buf[FRAME_MAX];
	struct frame f;
	char id[QUEUE_ID_MAX], enh[DSN_MAX], text[REPLY_MAX], ptext[REPLY_MAX], penh[DSN_MAX];
	uint16_t code;
	int s, r, send_errno = 0;

	/* A queue manager that goes away must not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	if ((s = sm_connect(path, "the outpost queue manager")) == -1)
		return EX_TEMPFAIL;
	if (send_submission(s, sub) == -1) {
		/* The qmgr may have refused and closed: read its reason if any. */
		send_errno = errno;
		shutdown(s, SHUT_WR);
	}
	for (;;) {
		r = sm_recv_frame(s, buf, &f, "confirming the mail was queued");
		if (r != 1)
			break;
		if (f.hdr.reqid != SUBMIT_REQID) {
			fprintf(stderr, "%s: answer for an unknown transaction (%u) from the "
			    "queue manager\n", getprogname(), f.hdr.reqid);
			r = -1;
			break;
		}
		if (f.hdr.type == MSG_SUBMIT_QUEUED) {
			if (!frame_get_str(&f, id, sizeof(id)) || !frame_end(&f)) {
				fprintf(stderr, "%s: malformed SUBMIT_QUEUED from the queue "
				    "manager\n", getprogname());
				r = -1;
				break;
			}
			close(s);
			if (send_errno != 0) {
				/* Not everything was sent, yet it says queued: never trust that. */
				fprintf(stderr, "%s: the queue manager confirmed an incomplete "
				    "mail; treat it as not sent\n", getprogname());
				return EX_TEMPFAIL;
			}
			if (sub->result != NULL)
				strlcpy(sub->result->id, id, sizeof(sub->result->id));
			if (sub->verbose) {
				printable(id, ptext, sizeof(ptext));
				printf("%s: queued as %s\n", getprogname(), ptext);
			}
			return EX_OK;
		}
		if (f.hdr.type == MSG_SUBMIT_ERROR) {
			if (!frame_get_u16(&f, &code) || !frame_get_str(&f, enh, sizeof(enh)) ||
			    !frame_get_str(&f, text, sizeof(text)) || !frame_end(&f)) {
				fprintf(stderr, "%s: malformed SUBMIT_ERROR from the queue "
				    "manager\n", getprogname());
				r = -1;
				break;
			}
			close(s);
			printable(text, ptext, sizeof(ptext));
			printable(enh, penh, sizeof(penh));
			if (sub->result != NULL) {
				sub->result->code = code;
				strlcpy(sub->result->enh, penh, sizeof(sub->result->enh));
				strlcpy(sub->result->text, ptext, sizeof(sub->result->text));
			}
			fprintf(stderr, "%s: mail not queued: %u %s%s%s\n", getprogname(), code,
			    penh, penh[0] ? " " : "", ptext);
			return localmail_exit_code(code, enh);
		}
		fprintf(stderr, "%s: unexpected %s from the queue manager\n", getprogname(),
		    msg_name(f.hdr.type));
		r = -1;
		break;
	}
	close(s);
	if (send_errno != 0)
		fprintf(stderr, "%s: sending the mail failed: %s\n", getprogname(),
		    strerror(send_errno));
	fprintf(stderr, "%s: the mail was NOT queued\n", getprogname());
	return EX_TEMPFAIL;
}

int
submit_list_queue(const char *path)
{
	static uint8_t buf[FRAME_MAX];
	struct frame f;
	struct fbuf *fb;
	uint64_t size, total = 0;
	uint32_t n, count = 0;
	int s;

	signal(SIGPIPE, SIG_IGN);
	if ((s = sm_connect(path, "the outpost queue manager")) == -1)
		return EX_TEMPFAIL;
	fb = fbuf_new(MSG_QUEUE_LIST, SUBMIT_REQID);
	if (sm_send_frame(s, fb) == -1) {
		fprintf(stderr, "%s: asking for the queue listing: %s\n", getprogname(),
		    strerror(errno));
		close(s);
		return EX_TEMPFAIL;
	}
	for (;;) {
		if (sm_recv_frame(s, buf, &f, "the end of the queue listing") != 1)
			break;
		if (f.hdr.type == MSG_QUEUE_ENTRY) {
			if (count == 0)
				queue_print_header();
			if (queue_print_entry(&f, &size) == -1) {
				fprintf(stderr, "%s: malformed QUEUE_ENTRY from the queue "
				    "manager\n", getprogname());
				break;
			}
			count++;
			total += size;
			continue;
		}
		if (f.hdr.type == MSG_QUEUE_LIST_END) {
			if (!frame_get_u32(&f, &n) || !frame_end(&f)) {
				fprintf(stderr, "%s: malformed QUEUE_LIST_END from the queue "
				    "manager\n", getprogname());
				break;
			}
			close(s);
			queue_print_footer(count, total);
			if (n != count) {
				fprintf(stderr, "%s: the queue manager announced %u mails but "
				    "listed %u\n", getprogname(), n, count);
				return EX_TEMPFAIL;
			}
			return EX_OK;
		}
		fprintf(stderr, "%s: unexpected %s from the queue manager\n", getprogname(),
		    msg_name(f.hdr.type));
		break;
	}
	close(s);
	fprintf(stderr, "%s: the queue listing is incomplete\n", getprogname());
	return EX_TEMPFAIL;
}
