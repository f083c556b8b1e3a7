/* SPDX-License-Identifier: ISC */
/*
 * sendmail_control.c - outpost-sendmail's side of the master's control
 * socket, for the two commands a system-MTA interface needs from the
 * running instance: "reload" (newaliases, -bi) and "route" (-bv, -bt).
 * The socket is for root and admin_group only; a refusal (EACCES at
 * connect, or the link closed before any answer) is reported to the
 * caller as such, so that it can say what it did without the instance.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "msg.h"
#include "sendmail.h"

#define CONTROL_REQID	1
#define CONTROL_TIMEOUT	60	/* seconds for each answer frame */

static void
clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int
control_run(const struct config *c, const char *cmd, int argc, char **argv, FILE *out,
    char *msg, size_t msglen)
{
	static uint8_t buf[FRAME_MAX];
	static char line[FRAME_MAX];
	struct sockaddr_un sun;
	struct fbuf *fb;
	struct frame f;
	const char *why = NULL;
	uint8_t status;
	bool answered = false;
	int s, r, i;

	msg[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	config_control_socket(c, sun.sun_path, sizeof(sun.sun_path));
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		snprintf(msg, msglen, "%s: %s", sun.sun_path, strerror(e));
		close(s);
		errno = e;
		return -1;
	}
	fb = fbuf_new(MSG_CONTROL_REQUEST, CONTROL_REQID);
	fbuf_add_str(fb, cmd);
	fbuf_add_u32(fb, (uint32_t)argc);
	for (i = 0; i < argc; i++)
		fbuf_add_str(fb, argv[i]);
	if (sm_send_frame(s, fb) == -1) {
		snprintf(msg, msglen, "sending the command: %s", strerror(errno));
		close(s);
		errno = EPERM;	/* a refused client is closed at once */
		return -1;
	}
	for (;;) {
		while ((r = frame_recv(s, buf, &f, &why)) == -1 && errno == EINTR)
			;
		if (r == -1 && errno == EAGAIN) {
			/* frame_recv does not block: wait for the answer, bounded. */
			struct pollfd pfd = { s, POLLIN, 0 };

			if (poll(&pfd, 1, CONTROL_TIMEOUT * 1000) <= 0) {
				snprintf(msg, msglen, "no answer from outpost within %ds", CONTROL_TIMEOUT);
				close(s);
				return -2;
			}
			continue;
		}
		if (r == 0 || r == -1) {
			close(s);
			if (!answered) {
				snprintf(msg, msglen, "outpost closed the connection: not root "
				    "and not in admin_group");
				errno = EPERM;
				return -1;
			}
			snprintf(msg, msglen, "outpost closed the connection before the end");
			return -2;
		}
		if (r == -2) {
			snprintf(msg, msglen, "malformed answer: %s", why ? why : "?");
			close(s);
			return -2;
		}
		if (f.fd != -1)
			close(f.fd);
		answered = true;
		if (f.hdr.type == MSG_CONTROL_REPLY && frame_get_str(&f, line, sizeof(line))) {
			clean(line);
			fprintf(out, "%s\n", line);
			continue;
		}
		if (f.hdr.type == MSG_CONTROL_END && frame_get_u8(&f, &status) &&
		    frame_get_str(&f, line, sizeof(line))) {
			clean(line);
			strlcpy(msg, line, msglen);
			close(s);
			return status == 0 ? 0 : 1;
		}
		snprintf(msg, msglen, "unexpected %s answer", msg_name(f.hdr.type));
		close(s);
		return -2;
	}
}
