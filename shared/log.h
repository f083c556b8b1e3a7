/* SPDX-License-Identifier: ISC */
/*
 * log.h - logging for every outpost process.
 *
 * Only the master writes the log. A child hands its lines to the master over
 * its control link (MSG_LOG_LINES, batched); the master stamps each line with
 * the role and pid it knows the sender by, never with anything the child
 * claims, and writes it to syslog (facility mail, the default), systemd's
 * journal with structured fields (master_journal.c), stderr in the
 * foreground, or a file named in the config. So a compromised child can
 * neither hold the log file nor write a line that looks like another
 * process's.
 *
 * Line forms (log_format): syslog, the default, is what Postfix's tools read
 * ("TIME HOST outpost/ROLE[PID]: TEXT" in a file); json is one object per
 * line. The foreground (stderr) keeps the short form "TIME outpost[PID]:
 * ROLE: TEXT" unless json is asked for.
 *
 * Two levels, as the seed describes: basic (MX lookups, transactions,
 * failures) and detailed (connections, SMTP dialogue, DNS). A trace
 * (outpostctl trace) turns detailed lines on for one piece of work only:
 * log_trace() marks the work being done now as traced.
 */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_target { LOG_TO_SYSLOG, LOG_TO_STDERR, LOG_TO_FILE, LOG_TO_MASTER, LOG_TO_JOURNAL };
enum log_level { LOGLEVEL_BASIC = 0, LOGLEVEL_DETAILED = 1 };
enum log_format { LOG_FORMAT_SYSLOG = 0, LOG_FORMAT_JSON = 1 };

/* One line as a child hands it over, and the most lines in one frame. */
#define LOG_LINE_MAX	2048
#define LOG_BATCH_MAX	64

struct event_base;
struct chan;

/* Called once per process (the master, or a tool): the file is opened here. */
void	log_init(const char *procname, enum log_target target, const char *path);
void	log_set_format(enum log_format);
void	log_setproc(const char *procname);
/* In a new child: let go of the log file and of syslog; lines go to the
 * master over fd (the control link) from now on. */
void	log_forward(int master_fd);
/* Once the child's event loop and control link exist: batch lines per loop
 * turn and send them on the link. */
void	log_forward_attach(struct event_base *, struct chan *);
/* Send the lines batched so far (before exit, after a fatal error). */
void	log_flush(void);
/* Kept for old callers: in a child, lines go to the master whatever this says. */
void	log_after_fork(void);
void	log_setlevel(enum log_level level);
/* Until a daemon detaches: its warnings and fatal errors also go to stderr. */
void	log_echo_stderr(bool);
enum log_level log_getlevel(void);
/* Detailed lines are written now: the level is detailed or the work at hand is traced. */
bool	log_detailed(void);
/* Mark the work done from now on as traced (true) or not (false). */
void	log_trace(bool);
/* Reopen the log file (SIGUSR1 for logrotate); no-op for syslog/stderr. */
void	log_reopen(void);
/* The file descriptor of the log file, or -1. */
int	log_fd(void);
/* Replace the log file descriptor (a child has none: it closes fd). */

/*
 * The master: write one line on behalf of a process. role is the process
 * kind's name, instance its instance (-1: the only one), pid the process id
 * the master knows it by; prio a syslog priority. text must be printable.
 */
void	log_write(int prio, const char *role, int instance, long pid, const char *text);
/*
 * The master, logging to the journal (LOG_TO_JOURNAL): the writer of one
 * line with its fields (daemons/master/master_journal.c, the only code that
 * links libsystemd). It returns false when the journal did not take the
 * line, which then goes to stderr.
 */
typedef bool (*log_journal_fn)(int prio, const char *role, int instance, long pid,
    const char *text);
void	log_set_journal(log_journal_fn);
/* Around the lines of one frame: they reach a file or stderr in one write(2). */
void	log_batch_begin(void);
void	log_batch_end(void);

void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));   /* appends strerror(errno) */
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Only written at the detailed level or when traced. */
void	log_detail(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
