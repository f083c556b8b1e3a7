/* SPDX-License-Identifier: ISC */
/*
 * master_secrets.c - the relay AUTH password: read by the master (root)
 * from relay_auth_password_file and handed to the delivery agents over
 * their control links. Agents never read files. The file must belong to
 * root and be unreadable by group and others; its first line is the
 * password. Every copy is wiped with sodium_memzero when replaced.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"

int
secrets_load(const struct config *c, char *password, size_t len, char *err, size_t errlen)
{
	struct stat	 st;
	char		 buf[1024];
	ssize_t		 n;
	int		 fd;
	char		*nl;

	sodium_memzero(password, len);
	if (c->relay_auth_user[0] == '\0')
		return 0;
	if ((fd = open(c->relay_auth_password_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "%s: %s", c->relay_auth_password_file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", c->relay_auth_password_file);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0 || (geteuid() == 0 && st.st_uid != 0)) {
		snprintf(err, errlen, "%s: must belong to root and be readable by root only "
		    "(chmod 600)", c->relay_auth_password_file);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "%s: empty or unreadable", c->relay_auth_password_file);
		sodium_memzero(buf, sizeof(buf));
		return -1;
	}
	buf[n] = '\0';
	if ((nl = strpbrk(buf, "\r\n")) != NULL)
		*nl = '\0';
	if (buf[0] == '\0' || strlen(buf) >= len) {
		snprintf(err, errlen, "%s: the first line must hold the password (1 to %zu characters)",
		    c->relay_auth_password_file, len - 1);
		sodium_memzero(buf, sizeof(buf));
		return -1;
	}
	strlcpy(password, buf, len);
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

void
secrets_send(struct master *m, struct child *c)
{
	struct fbuf	*fb;

	dkim_keys_send(m, c);
	if (c->desc->kind != PROC_AGENT || m->conf.relay_auth_user[0] == '\0' || c->chan == NULL)
		return;
	fb = fbuf_new(MSG_CTL_RELAY_AUTH, 0);
	/* Before the secret goes in: every copy of the buffer is wiped when freed. */
	fb->wipe = true;
	fbuf_add_str(fb, m->conf.relay_auth_user);
	fbuf_add_str(fb, m->relay_password);
	chan_send(c->chan, fb);
}
