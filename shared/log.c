/* SPDX-License-Identifier: ISC */
/*
 * log.c - logging for every outpost process (see log.h).
 *
 * The state below is private to this file and set once per process; the
 * level may change at run time on the master's order (MSG_CTL_LOGLEVEL).
 * In the master, file logging writes whole lines with one write(2) on an
 * O_APPEND descriptor. In a child, lines are cleaned of control characters
 * (the master refuses them), batched for one turn of the event loop and sent
 * as one MSG_LOG_LINES frame: a burst of lines costs one frame, not one
 * write per line.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "log_json.h"
#include "msg.h"

static struct {
	char		 proc[32];
	enum log_target	 target;
	enum log_format	 format;
	char		 path[1024];
	int		 fd;
	enum log_level	 level;
	bool		 echo_stderr;	/* warnings and fatal errors to stderr as well */
	bool		 traced;	/* the work at hand is traced: detailed lines too */
	char		 host[256];
	char		 ident[96];	/* syslog ident of the line being written */
	/* A child: the link to the master and the batch being filled. */
	int		 master_fd;
	struct chan	*chan;
	struct event	*ev_flush;
	struct fbuf	*batch;
	uint16_t	 nbatch;
	pthread_t	 main_thread;	/* the batch and its timer belong to it */
	log_journal_fn	 journal;	/* the master, LOG_TO_JOURNAL */
} logstate = { .proc = "outpost", .target = LOG_TO_STDERR, .format = LOG_FORMAT_SYSLOG,
	       .fd = -1, .level = LOGLEVEL_BASIC, .master_fd = -1 };

void
log_echo_stderr(bool on)
{
	logstate.echo_stderr = on;
}

static void
log_hostname(void)
{
	char	*dot;

	if (gethostname(logstate.host, sizeof(logstate.host)) == -1 || logstate.host[0] == '\0')
		strlcpy(logstate.host, "localhost", sizeof(logstate.host));
	logstate.host[sizeof(logstate.host) - 1] = '\0';
	/* syslog's host field is the short name */
	if ((dot = strchr(logstate.host, '.')) != NULL)
		*dot = '\0';
}

void
log_init(const char *procname, enum log_target target, const char *path)
{
	strlcpy(logstate.proc, procname, sizeof(logstate.proc));
	logstate.target = target;
	log_hostname();
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
log_set_format(enum log_format f)
{
	logstate.format = f;
}

static void log_flush_now(bool);

static void
log_exit_flush(void)
{
	log_flush_now(true);
}

void
log_forward(int master_fd)
{
	static bool	registered;

	if (!registered && atexit(log_exit_flush) == 0)
		registered = true;
	if (logstate.fd != -1)
		close(logstate.fd);
	logstate.fd = -1;
	if (logstate.target == LOG_TO_SYSLOG)
		closelog();
	logstate.target = LOG_TO_MASTER;
	logstate.master_fd = master_fd;
	logstate.main_thread = pthread_self();
}

static void
log_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	log_flush();
}

void
log_forward_attach(struct event_base *base, struct chan *c)
{
	logstate.chan = c;
	logstate.ev_flush = evtimer_new(base, log_flush_cb, NULL);
	log_flush();
}

/* Send the batch; wait a little for room when the process is about to die. */
static void
log_send(struct fbuf *fb, bool dying)
{
	struct pollfd	pfd;
	int		tries;

	if (logstate.chan != NULL && !dying) {
		chan_send(logstate.chan, fb);
		return;
	}
	for (tries = 0; tries < 10; tries++) {
		if (frame_send(logstate.master_fd, fb) == 0 || errno != EAGAIN)
			break;
		pfd.fd = logstate.master_fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, 100);
	}
	fbuf_free(fb);
}

static void
log_flush_now(bool dying)
{
	struct fbuf	*fb = logstate.batch;
	uint8_t		*count;

	if (fb == NULL)
		return;
	logstate.batch = NULL;
	/* The count leads the payload (n16{ u8 s }): fill it in now. */
	count = fb->data + FRAME_HDR_LEN;
	memcpy(count, &logstate.nbatch, sizeof(logstate.nbatch));
	logstate.nbatch = 0;
	log_send(fb, dying);
}

void
log_flush(void)
{
	log_flush_now(false);
}

/* A child: queue one cleaned line for the master. */
static void
log_to_master(int prio, const char *text, bool dying)
{
	char	line[LOG_LINE_MAX];
	size_t	i;

	for (i = 0; text[i] != '\0' && i + 1 < sizeof(line); i++)
		line[i] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) ? '?' : text[i];
	line[i] = '\0';
	if (!pthread_equal(pthread_self(), logstate.main_thread)) {
		/* Another thread (qmgr's commit threads): its line goes alone, at once. */
		struct fbuf *fb = fbuf_new(MSG_LOG_LINES, 0);
		fbuf_add_u16(fb, 1);
		fbuf_add_u8(fb, (uint8_t)prio);
		fbuf_add_str(fb, line);
		log_send(fb, true);
		return;
	}
	if (logstate.batch != NULL && (logstate.nbatch >= LOG_BATCH_MAX ||
	    fbuf_room(logstate.batch) < i + 16))
		log_flush_now(false);
	if (logstate.batch == NULL) {
		logstate.batch = fbuf_new(MSG_LOG_LINES, 0);
		fbuf_add_u16(logstate.batch, 0);
		if (logstate.ev_flush != NULL) {
			struct timeval now = { 0, 0 };
			evtimer_add(logstate.ev_flush, &now);
		}
	}
	fbuf_add_u8(logstate.batch, (uint8_t)prio);
	fbuf_add_str(logstate.batch, line);
	logstate.nbatch++;
	/* Before the event loop runs nothing would flush; a dying process flushes at once. */
	if (dying || logstate.ev_flush == NULL)
		log_flush_now(dying);
}

void
log_after_fork(void)
{
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
	return logstate.level >= LOGLEVEL_DETAILED || logstate.traced;
}

void
log_trace(bool on)
{
	logstate.traced = on;
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

static const char *
prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: return "fatal";
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_DEBUG: return "debug";
	default: return "info";
	}
}

/* The master's lines of one child frame, written at once (log_batch_end). */
static struct {
	bool	 on;
	size_t	 len;
	char	 buf[64 * 1024];
} wbatch;

static void
log_out(const char *line, size_t n)
{
	int	fd = logstate.target == LOG_TO_FILE && logstate.fd != -1 ? logstate.fd : STDERR_FILENO;

	if (wbatch.on) {
		if (wbatch.len + n > sizeof(wbatch.buf)) {
			(void)!write(fd, wbatch.buf, wbatch.len);
			wbatch.len = 0;
		}
		memcpy(wbatch.buf + wbatch.len, line, n);
		wbatch.len += n;
		return;
	}
	(void)!write(fd, line, n);
}

void
log_batch_begin(void)
{
	wbatch.on = true;
	wbatch.len = 0;
}

void
log_batch_end(void)
{
	wbatch.on = false;
	if (wbatch.len > 0)
		log_out(wbatch.buf, wbatch.len);
	wbatch.len = 0;
}

void
log_set_journal(log_journal_fn fn)
{
	logstate.journal = fn;
}

void
log_write(int prio, const char *role, int instance, long pid, const char *text)
{
	char		 line[LOG_LINE_MAX + 1024], stamp[64], tz[8], who[48];
	struct tm	 tm;
	struct timespec	 ts;
	int		 n;

	if (logstate.target == LOG_TO_JOURNAL && logstate.journal != NULL &&
	    logstate.journal(prio, role, instance, pid, text))
		return;

	if (logstate.target == LOG_TO_SYSLOG) {
		/* syslog(3) writes "ident: text": the ident carries the real sender. */
		snprintf(logstate.ident, sizeof(logstate.ident), "outpost/%s[%ld]", role, pid);
		openlog(logstate.ident, LOG_NDELAY, LOG_MAIL);
		syslog(prio, "%s", text);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(tz, sizeof(tz), "%z", &tm);
	if (instance >= 0)
		snprintf(who, sizeof(who), "%s %d", role, instance);
	else
		strlcpy(who, role, sizeof(who));
	if (logstate.format == LOG_FORMAT_JSON) {
		snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%.3s:%.2s",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts.tv_nsec / 1000, tz, tz + 3);
		n = (int)log_json_line(line, sizeof(line), stamp, logstate.host, role, instance,
		    pid, prio_name(prio), text);
	} else if (logstate.target == LOG_TO_FILE) {
		/* RFC 3339 with the zone: syslog's form, which pflogsumm reads. */
		n = snprintf(line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%.3s:%.2s %s outpost/%s[%ld]: %s\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts.tv_nsec / 1000, tz, tz + 3, logstate.host, role, pid, text);
	} else
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ld outpost[%ld]: %s: %s\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    ts.tv_nsec / 1000000, pid, who, text);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_out(line, (size_t)n);
}

static void
log_emit(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char	msg[LOG_LINE_MAX + 300];
	int	saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL) {
		strlcat(msg, ": ", sizeof(msg));
		strlcat(msg, suffix, sizeof(msg));
	}
	if (logstate.echo_stderr && logstate.target != LOG_TO_STDERR && prio <= LOG_WARNING)
		fprintf(stderr, "outpost: %s\n", msg);
	if (logstate.target == LOG_TO_MASTER)
		log_to_master(prio, msg, prio <= LOG_CRIT);
	else
		log_write(prio, logstate.proc, -1, (long)getpid(), msg);
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
LOG_FN(log_detail, LOG_INFO, log_detailed(), NULL)
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
