/* SPDX-License-Identifier: ISC */
/*
 * master.h - private interface of the master process (root supervisor).
 */
#ifndef OUTPOST_MASTER_H
#define OUTPOST_MASTER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "aliases.h"
#include "config.h"
#include "proc.h"

struct event_base;
struct chan;
struct frame;

#define MASTER_MAX_CHILDREN	(PROC_KIND_MAX + 64)

struct child {
	const struct proc_desc	*desc;
	unsigned		 instance;
	char			 title[32];	/* "qmgr", "agent 3": for logs */
	pid_t			 pid;		/* 0: not running */
	struct chan		*chan;		/* control link */
	time_t			 started;
	bool			 ready;		/* said MSG_CTL_READY: a death is a crash */
	unsigned		 backoff;	/* seconds before the next restart */
	time_t			 deaths_since;	/* start of the minute deaths are counted in */
	unsigned		 deaths;
	struct event		*ev_restart;
	struct master		*m;
	bool			 reload_restart;	/* stopped for a reload: start again at once */
};

/* The local names table in force (master_aliases.c). */
struct master_aliases {
	struct aliases		 table;
	char			 myorigin[256];
	char			 redirect[512];
};

struct master {
	struct config		 conf;
	struct event_base	*base;
	struct child		 children[MASTER_MAX_CHILDREN];
	unsigned		 nchildren;
	int			 listen_fds[CONFIG_MAX_LISTEN];
	unsigned		 nlisten;
	bool			 stopping;
	int			 stop_phase;
	struct event		*ev_stop_timeout;
	bool			 foreground;
	int			 control_fd;
	const char		*overrides[32];	/* -o, applied again on reload */
	char			*relay_password;	/* sodium_malloc(RELAY_PASSWORD_MAX) */
	int			 noverrides;
	int			 conf_fd;	/* sealed memfd: the config text children parse */
	struct master_aliases	 aliases;
};

#define RELAY_PASSWORD_MAX	512

/* master_supervise.c */
const struct proc_desc *supervise_proc(const char *name);
void	supervise_init(struct master *);
void	supervise_start_all(struct master *);
void	supervise_reap(struct master *);
void	supervise_stop(struct master *);
void	supervise_set_loglevel(struct master *, int level);
void	supervise_reopen_logs(struct master *);

/* master_control.c */
void	control_init(struct master *);
int	control_route_answer(struct master *, struct frame *);
void	control_child_gone(struct master *, int kind);

/* master_reload.c */
int	master_reload(struct master *, char *err, size_t errlen);
/* Which kinds of process hold a parameter that differs (bit 1 << kind); names in buf. */
unsigned reload_changed(const struct config *o, const struct config *n, char *buf, size_t len);

/* master_log.c: a child's log and metric frames; 1 if the type is not one of them */
int	master_child_frame(struct child *, struct frame *);

/* master_metrics.c */
void	metrics_init(struct master *);
int	metrics_child_frame(struct child *, struct frame *);
void	metrics_child_exited(struct child *);
unsigned metrics_restarts(struct child *);

/* master_trace.c */
void	trace_send(struct child *);
int	trace_command(struct master *, char **argv, unsigned argc, char *out, size_t outlen);

/* master_journal.c: log lines to systemd's journal with their fields */
bool	journal_is_stderr(void);
void	journal_init(void);
/* master_metrics_conn.c: at most max connections open on the endpoint */
struct evhttp;
struct evhttp_bound_socket;
void	metrics_conn_limit(struct event_base *, struct evhttp *, struct evhttp_bound_socket *,
	    unsigned max);
unsigned metrics_conn_open(void);
/* master_metrics.c: totals for status */
uint64_t metrics_total(unsigned id);
double	metrics_delivery_rate(void);
time_t	metrics_started(void);

/* master_secrets.c */
int	secrets_load(const struct config *, char *password, size_t len, char *err, size_t errlen);
void	secrets_send(struct master *, struct child *);

/* master_exec.c */
int	exec_config_load(struct master *, const char *path, struct config *, int *memfd,
	    char *err, size_t errlen);
pid_t	exec_spawn(struct master *, struct child *, int ctl_fd);
void	exec_child_main(int argc, char *argv[]) __attribute__((noreturn));
/* master_aliases.c */
int	master_aliases_load(const struct config *, struct master_aliases *, char *err,
	    size_t errlen);
void	master_aliases_replace(struct master *, struct master_aliases *);
void	master_aliases_send(struct master *, struct child *);
/* master_dkim.c: the key files are read and checked, or sent to the signer */
int	dkim_keys_check(const struct config *, char *err, size_t errlen);
void	dkim_keys_send(struct master *, struct child *);

/* master_setup.c */
int	setup_check_users(const struct config *, char *err, size_t len);
void	setup_directories(const struct config *, bool as_root);
int	setup_listeners(const struct config *, int *fds);
void	check_pidfile(const struct config *);
void	setup_pidfile(const struct config *);
void	remove_pidfile(const struct config *);

#endif
