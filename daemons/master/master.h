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
};

/* master_supervise.c */
void	supervise_init(struct master *);
void	supervise_start_all(struct master *);
void	supervise_reap(struct master *);
void	supervise_stop(struct master *);
void	supervise_set_loglevel(struct master *, int level);
void	supervise_reopen_logs(struct master *);

/* master_setup.c */
void	setup_directories(const struct config *, bool as_root);
int	setup_listeners(const struct config *, int *fds);
void	setup_pidfile(const struct config *);
void	remove_pidfile(const struct config *);

#endif
