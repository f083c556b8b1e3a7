/*
 * log.h - logging for every outpost process.
 *
 * Each process logs with its own name as prefix ("qmgr: ..."). Output goes to
 * syslog (facility mail) by default, to stderr in the foreground, or to a file
 * named in the config. Two levels, as the seed describes: basic (MX lookups,
 * transactions, failures) and detailed (connections, SMTP dialogue, DNS).
 */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_target { LOG_TO_SYSLOG, LOG_TO_STDERR, LOG_TO_FILE };
enum log_level { LOGLEVEL_BASIC = 0, LOGLEVEL_DETAILED = 1 };

/* Called once per process (after fork, before chroot: the file is opened here). */
void	log_init(const char *procname, enum log_target target, const char *path);
void	log_setproc(const char *procname);
/* In a new child whose inherited descriptors were closed: reconnect to syslog (before chroot). */
void	log_after_fork(void);
void	log_setlevel(enum log_level level);
/* Until a daemon detaches: its warnings and fatal errors also go to stderr. */
void	log_echo_stderr(bool);
enum log_level log_getlevel(void);
bool	log_detailed(void);
/* Reopen the log file (SIGUSR1 for logrotate); no-op for syslog/stderr. */
void	log_reopen(void);
/* The file descriptor of the log file, or -1 (kept open across chroot). */
int	log_fd(void);
/* Replace the log file descriptor (children get a reopened one from the master). */
void	log_set_file_fd(int);

void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));   /* appends strerror(errno) */
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Only written at the detailed level. */
void	log_detail(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
