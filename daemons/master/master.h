/*
 * master.h - private interface of the master process (root supervisor).
 */
#ifndef OUTPOST_MASTER_H
#define OUTPOST_MASTER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "proc.h"

struct event_base;
struct chan;
struct frame;

#define MASTER_MAX_CHILDREN	(PROC_KIND_MAX + 64)

struct child {
	const struct proc_desc	*desc;
	unsigned		 instance;
	pid_t			 pid;		/* 0: not running */
	struct chan		*chan;		/* control link */
	time_t			 started;
	unsigned		 backoff;	/* seconds before the next restart */
	struct event		*ev_restart;
	struct master		*m;
	bool			 reload_restart;	/* stopped for a reload: start again at once */
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
	char			 relay_password[512];	/* wiped when replaced */
	int			 noverrides;
};

/* master_supervise.c */
void	supervise_init(struct master *);
void	supervise_start_all(struct master *);
void	supervise_reap(struct master *);
void	supervise_stop(struct master *);
void	supervise_set_loglevel(struct master *, int level);
void	supervise_reopen_logs(struct master *);

/* master_control.c */
void	control_init(struct master *);
int	control_route_answer(struct master *, struct frame *);
void	control_child_gone(struct master *);

/* master_reload.c */
int	master_reload(struct master *, char *err, size_t errlen);

/* master_secrets.c */
int	secrets_load(const struct config *, char *password, size_t len, char *err, size_t errlen);
void	secrets_send(struct master *, struct child *);

/* master_dkim.c: the key files are read and checked, or sent to the signer */
int	dkim_keys_check(const struct config *, char *err, size_t errlen);
void	dkim_keys_send(struct master *, struct child *);

/* master_setup.c */
void	setup_directories(const struct config *, bool as_root);
int	setup_listeners(const struct config *, int *fds);
void	check_pidfile(const struct config *);
void	setup_pidfile(const struct config *);
void	remove_pidfile(const struct config *);

#endif
