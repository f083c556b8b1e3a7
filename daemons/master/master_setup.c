/* SPDX-License-Identifier: ISC */
/*
 * master_setup.c - what the master prepares as root before any child runs:
 * the state directory tree with its owners, the listening sockets handed to
 * smtpd, and the pid file.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

static void
ensure_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, bool chown_it)
{
	struct stat	st;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("cannot create %s", path);
	if (lstat(path, &st) == -1)
		fatal("stat %s", path);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s exists and is not a directory", path);
	if (chown_it && (st.st_uid != uid || st.st_gid != gid) && chown(path, uid, gid) == -1)
		fatal("chown %s", path);
	if ((st.st_mode & 07777) != mode && chmod(path, mode) == -1)
		fatal("chmod %s", path);
}

/*
 * What a start as root requires of the users: every role's user exists and
 * is not root, and none is the queue's owner but the queue manager's. Also
 * run by `outpost -n`, so that a check of the file catches what the start
 * would refuse. Two other roles sharing a uid still work, but each could
 * then signal the other: said at start (warn_shared != 0).
 */
static int
check_users(const struct config *c, uid_t *quid, gid_t *qgid, bool warn_shared,
    char *err, size_t len)
{
	uid_t		 uids[USER_MAX];
	gid_t		 gid;
	const char	*name, *param, *other;

	for (int u = 0; u < USER_MAX; u++) {
		name = proc_user_name(c, u, &param);
		if (proc_user_ids(name, &uids[u], &gid) == -1) {
			snprintf(err, len, "%s %s does not exist: create it (tools/ensure-users, "
			    "see INSTALL) or set %s", param, name, param);
			return -1;
		}
		if (uids[u] == 0) {
			snprintf(err, len, "%s must not be root", param);
			return -1;
		}
		if (u == USER_QUEUE) {
			*quid = uids[u];
			*qgid = gid;
		}
	}
	for (int u = 0; u < USER_MAX; u++)
		for (int v = u + 1; v < USER_MAX; v++) {
			if (uids[u] != uids[v])
				continue;
			proc_user_name(c, u, &param);
			proc_user_name(c, v, &other);
			if (u == USER_QUEUE || v == USER_QUEUE) {
				snprintf(err, len, "%s and %s must differ: only the queue manager "
				    "may own the queue", param, other);
				return -1;
			}
			if (warn_shared)
				log_warnx("%s and %s are the same user: those processes can "
				    "signal each other", param, other);
		}
	return 0;
}

int
setup_check_users(const struct config *c, char *err, size_t len)
{
	uid_t	quid;
	gid_t	qgid;

	return check_users(c, &quid, &qgid, false, err, len);
}

void
setup_directories(const struct config *c, bool as_root)
{
	char		 err[512];
	char		 path[1100];
	uid_t		 quid = 0;
	gid_t		 qgid = 0;
	DIR		*d;
	struct dirent	*de;

	if (as_root && check_users(c, &quid, &qgid, true, err, sizeof(err)) == -1)
		fatalx("%s", err);
	ensure_dir(c->state_directory, 0755, 0, 0, as_root);
	config_queue_dir(c, path, sizeof(path));
	/* 0711: local submitters reach public/submit.sock, nothing else. */
	ensure_dir(path, 0711, quid, qgid, as_root);
	config_empty_dir(c, path, sizeof(path));
	ensure_dir(path, 0555, 0, 0, as_root);
	if ((d = opendir(path)) == NULL)
		fatal("opendir %s", path);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fatalx("%s must be empty: it is the chroot of unprivileged processes", path);
	closedir(d);
}

int
setup_listeners(const struct config *c, int *fds)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 slen;
	unsigned		 i;
	int			 fd, on = 1;

	for (i = 0; i < c->nlisten; i++) {
		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, c->listen[i].host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(c->listen[i].port);
			slen = sizeof(*sin);
		} else if (inet_pton(AF_INET6, c->listen[i].host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(c->listen[i].port);
			slen = sizeof(*sin6);
		} else
			fatalx("listen: %s is not an address", c->listen[i].host);
		if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
			fatal("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		if (bind(fd, (struct sockaddr *)&ss, slen) == -1)
			fatal("cannot listen on [%s]:%u", c->listen[i].host, c->listen[i].port);
		if (listen(fd, 512) == -1)
			fatal("listen");
		fds[i] = fd;
		log_info("listening for SMTP submissions on [%s]:%u", c->listen[i].host,
		    c->listen[i].port);
	}
	return (int)c->nlisten;
}

/* Refuse to start twice on one state directory, before touching its sockets. */
void
check_pidfile(const struct config *c)
{
	char	 path[1100], buf[32];
	int	 fd;
	ssize_t	 n;
	long	 pid;

	config_pid_file(c, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
			if (pid > 1 && pid != getpid() && kill((pid_t)pid, 0) == 0)
				fatalx("outpost already runs with pid %ld (%s)", pid, path);
		}
	}
}

void
setup_pidfile(const struct config *c)
{
	char	 path[1100], buf[32];
	int	 fd;
	ssize_t	 n;

	config_pid_file(c, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1)
		fatal("cannot write %s", path);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, n) != n)
		fatal("write %s", path);
	close(fd);
}

void
remove_pidfile(const struct config *c)
{
	char	path[1100];

	config_pid_file(c, path, sizeof(path));
	unlink(path);
}
