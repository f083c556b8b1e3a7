/*
 * log.c - logging for every outpost process (see log.h).
 *
 * The state below is private to this file and set once per process; the
 * level may change at run time on the master's order (MSG_CTL_LOGLEVEL).
 * File logging writes whole lines with one write(2) on an O_APPEND
 * descriptor, so lines of several processes never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	char		 proc[32];
	enum log_target	 target;
	char		 path[1024];
	int		 fd;
	enum log_level	 level;
	bool		 echo_stderr;	/* warnings and fatal errors to stderr as well */
} logstate = { "outpost", LOG_TO_STDERR, "", -1, LOGLEVEL_BASIC, false };

void
log_echo_stderr(bool on)
{
	logstate.echo_stderr = on;
}

void
log_init(const char *procname, enum log_target target, const char *path)
{
	strlcpy(logstate.proc, procname, sizeof(logstate.proc));
	logstate.target = target;
	if (target == LOG_TO_SYSLOG)
		openlog("outpost", LOG_PID | LOG_NDELAY, LOG_MAIL);
	else if (target == LOG_TO_FILE) {
		strlcpy(logstate.path, path, sizeof(logstate.path));
		log_reopen();
		if (logstate.fd == -1) {
			logstate.target = LOG_TO_STDERR;
			log_warn("cannot open log file %s", path);
		}
	}
}

void
log_after_fork(void)
{
	if (logstate.target == LOG_TO_SYSLOG) {
		closelog();
		openlog("outpost", LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

void
log_setproc(const char *procname)
{
	strlcpy(logstate.proc, procname, sizeof(logstate.proc));
}

void
log_setlevel(enum log_level level)
{
	logstate.level = level;
}

enum log_level
log_getlevel(void)
{
	return logstate.level;
}

bool
log_detailed(void)
{
	return logstate.level >= LOGLEVEL_DETAILED;
}

void
log_reopen(void)
{
	int	fd;

	if (logstate.target != LOG_TO_FILE)
		return;
	fd = open(logstate.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return;
	if (logstate.fd != -1)
		close(logstate.fd);
	logstate.fd = fd;
}

int
log_fd(void)
{
	return logstate.target == LOG_TO_FILE ? logstate.fd : -1;
}

void
log_set_file_fd(int fd)
{
	if (logstate.target != LOG_TO_FILE) {
		close(fd);
		return;
	}
	if (logstate.fd != -1)
		close(logstate.fd);
	logstate.fd = fd;
}

static void
log_emit(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char		 msg[8192], line[8400];
	struct tm	 tm;
	struct timespec	 ts;
	int		 n, saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (logstate.echo_stderr && logstate.target != LOG_TO_STDERR && prio <= LOG_WARNING)
		fprintf(stderr, "outpost: %s%s%s\n", msg, suffix ? ": " : "", suffix ? suffix : "");
	switch (logstate.target) {
	case LOG_TO_SYSLOG:
		syslog(prio, "%s: %s%s%s", logstate.proc, msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		break;
	case LOG_TO_FILE:
	case LOG_TO_STDERR:
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ld outpost[%d]: %s: %s%s%s\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    ts.tv_nsec / 1000000, (int)getpid(), logstate.proc, msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		if (n < 0)
			break;
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		(void)!write(logstate.target == LOG_TO_FILE && logstate.fd != -1 ?
		    logstate.fd : STDERR_FILENO, line, n);
		break;
	}
	errno = saved;
}

#define LOG_FN(name, prio, cond, suffix)		\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	ap;					\
	if (!(cond))					\
		return;					\
	va_start(ap, fmt);				\
	log_emit(prio, fmt, ap, suffix);		\
	va_end(ap);					\
}

LOG_FN(log_info, LOG_INFO, 1, NULL)
LOG_FN(log_warnx, LOG_WARNING, 1, NULL)
LOG_FN(log_detail, LOG_INFO, logstate.level >= LOGLEVEL_DETAILED, NULL)
LOG_FN(log_debug, LOG_DEBUG, getenv("OUTPOST_DEBUG") != NULL, NULL)

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	char	err[256];

	strlcpy(err, strerror(errno), sizeof(err));
	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, err);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	char	err[256];

	strlcpy(err, strerror(errno), sizeof(err));
	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
