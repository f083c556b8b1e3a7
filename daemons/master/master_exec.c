/* SPDX-License-Identifier: ISC */
/*
 * master_exec.c - children as fresh process images. The master forks and
 * execs its own binary with a role (outpost -x agent -I 3 ...), as OpenSMTPD
 * re-execs since 6.x and Postfix's master spawns its daemons: every child
 * gets its own address layout and stack canary and holds nothing of the
 * master's memory (the relay password stays in the master and reaches the
 * agents alone, over their control links).
 *
 * Both sides live here: exec_spawn() in the master, exec_child_main() in the
 * new image (called from main() before anything else), which then enters the
 * common child prologue, proc_child() in shared/proc.c.
 *
 * Descriptors at fixed numbers in the new image:
 *   0-2  as the master's          3  the control link to the master
 *   4    the configuration text   5  and up: smtpd's listening sockets (-L n)
 *
 * The configuration: the master reads its file once and keeps the very text
 * it validated, in a sealed memfd; children parse that text (plus the same
 * -o overrides) instead of the file. So a child restarted after someone
 * edited the file, even into something broken, runs with exactly what the
 * master runs with, and no child can change what the next one reads. A
 * printed effective configuration would do too, but only as long as every
 * parameter prints back losslessly; the text needs no such promise.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "xmalloc.h"

#define FD_CONTROL	3
#define FD_CONFIG	4
#define FD_LISTEN	5
#define CONF_TEXT_MAX	(16 * 1024 * 1024)
#define FD_PARK		200	/* above every fixed number while they are moved */

static char *
read_all(int fd, const char *name, size_t *lenp, char *err, size_t errlen)
{
	char	*text = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > CONF_TEXT_MAX) {
				snprintf(err, errlen, "%s: file too large\n", name);
				free(text);
				return NULL;
			}
			text = xreallocarray(text, cap, 1);
		}
		n = pread(fd, text + len, cap - len, (off_t)len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s\n", name, strerror(errno));
			free(text);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*lenp = len;
	return text;
}

/* Parse text as the master does: the file's lines, then every -o. */
static int
parse_with_overrides(struct config *c, const char *name, const char *text, size_t len,
    const char *const *ov, int nov, char *err, size_t errlen)
{
	if (config_parse(c, name, text != NULL ? text : "", len, err, errlen) == -1)
		return -1;
	return config_overrides(c, ov, nov, err, errlen);
}

/* A sealed in-memory copy of the text: what every child will parse. */
static int
text_memfd(const char *text, size_t len, char *err, size_t errlen)
{
	size_t	off = 0;
	ssize_t	n;
	int	fd;

	if ((fd = memfd_create("outpost.conf", MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1) {
		snprintf(err, errlen, "memfd_create: %s\n", strerror(errno));
		return -1;
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "memfd write: %s\n", strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		snprintf(err, errlen, "sealing the configuration: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
exec_config_load(struct master *m, const char *path, struct config *c, int *memfd,
    char *err, size_t errlen)
{
	char	*text;
	size_t	 len = 0;
	int	 fd, r;

	*memfd = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s\n", path, strerror(errno));
		config_defaults(c);
		return -1;
	}
	text = read_all(fd, path, &len, err, errlen);
	close(fd);
	if (text == NULL) {
		config_defaults(c);
		return -1;
	}
	r = parse_with_overrides(c, path, text, len, m->overrides, m->noverrides, err, errlen);
	if (r == 0 && (*memfd = text_memfd(text, len, err, errlen)) == -1) {
		config_free(c);
		r = -1;
	}
	free(text);
	return r;
}

/* In the forked child: descriptors to their fixed numbers, then exec. */
static void __attribute__((noreturn))
exec_image(struct master *m, struct child *c, int ctl)
{
	char		 inst[16], nl[16];
	const char	*argv[16 + 2 * 32 + 1];
	int		 park[2 + CONFIG_MAX_LISTEN], n = 0, a = 0, i;
	unsigned	 nlisten = c->desc->kind == PROC_SMTPD ? m->nlisten : 0;

	/* Park every source above the fixed numbers so no dup2 overwrites one. */
	park[n++] = fcntl(ctl, F_DUPFD, FD_PARK);
	park[n++] = fcntl(m->conf_fd, F_DUPFD, FD_PARK);
	for (unsigned l = 0; l < nlisten; l++)
		park[n++] = fcntl(m->listen_fds[l], F_DUPFD, FD_PARK);
	for (i = 0; i < n; i++)
		if (park[i] == -1 || dup2(park[i], FD_CONTROL + i) == -1)
			goto fail;
	/* dup2 leaves the targets without close-on-exec; everything else goes. */
	close_range(FD_CONTROL + n, ~0U, 0);

	snprintf(inst, sizeof(inst), "%u", c->instance);
	snprintf(nl, sizeof(nl), "%u", nlisten);
	argv[a++] = "outpost";
	argv[a++] = "-x";
	argv[a++] = c->desc->name;
	argv[a++] = "-I";
	argv[a++] = inst;
	argv[a++] = "-L";
	argv[a++] = nl;
	argv[a++] = "-f";
	argv[a++] = m->conf.path;
	for (i = 0; i < m->noverrides && i < 32; i++) {
		argv[a++] = "-o";
		argv[a++] = m->overrides[i];
	}
	argv[a] = NULL;
	/* The master's own binary, even if the file was replaced since it started. */
	execv("/proc/self/exe", (char *const *)argv);
 fail:
	dprintf(STDERR_FILENO, "outpost: cannot start %s: %s\n", c->desc->name, strerror(errno));
	_exit(127);
}

pid_t
exec_spawn(struct master *m, struct child *c, int ctl)
{
	pid_t	pid;

	if ((pid = fork()) == 0)
		exec_image(m, c, ctl);
	return pid;
}

static void __attribute__((noreturn))
child_usage(void)
{
	fprintf(stderr, "outpost -x ROLE is started by the outpost master only\n");
	exit(2);
}

/* The new image: read what the master gave us, then the common prologue. */
void
exec_child_main(int argc, char *argv[])
{
	static struct config	 conf;
	static int		 listen_fds[CONFIG_MAX_LISTEN];
	const struct proc_desc	*d = NULL;
	const char		*ov[32], *path = "outpost.conf", *errstr = NULL;
	char			 err[8192], *text;
	unsigned		 instance = 0, nlisten = 0;
	size_t			 len = 0;
	int			 ch, nov = 0;

	optind = 1;
	while ((ch = getopt(argc, argv, "x:I:L:f:o:")) != -1) {
		switch (ch) {
		case 'x':
			if ((d = supervise_proc(optarg)) == NULL)
				child_usage();
			break;
		case 'I':
			instance = (unsigned)strtonum(optarg, 0, 65535, &errstr);
			if (errstr != NULL)
				child_usage();
			break;
		case 'L':
			nlisten = (unsigned)strtonum(optarg, 0, CONFIG_MAX_LISTEN, &errstr);
			if (errstr != NULL)
				child_usage();
			break;
		case 'f':
			path = optarg;
			break;
		case 'o':
			if (nov == 32)
				child_usage();
			ov[nov++] = optarg;
			break;
		default:
			child_usage();
		}
	}
	if (d == NULL || optind != argc || fcntl(FD_CONTROL, F_GETFD) == -1)
		child_usage();

	if ((text = read_all(FD_CONFIG, path, &len, err, sizeof(err))) == NULL ||
	    parse_with_overrides(&conf, path, text, len, ov, nov, err, sizeof(err)) == -1) {
		fprintf(stderr, "outpost %s: the configuration from the master: %s", d->name, err);
		exit(1);
	}
	free(text);
	close(FD_CONFIG);
	for (unsigned i = 0; i < nlisten; i++)
		listen_fds[i] = FD_LISTEN + (int)i;

	/*
	 * A child never holds the log file nor a syslog connection: until
	 * proc_child() switches to forwarding over the control link, a line
	 * goes to the inherited stderr; after, the master writes it, stamped
	 * with the role and pid from its own table (master_log.c).
	 */
	log_init(d->name, LOG_TO_STDERR, NULL);
	log_setlevel(conf.log_level);

	proc_child(d, &conf, instance, FD_CONTROL, nlisten > 0 ? listen_fds : NULL, nlisten);
}
