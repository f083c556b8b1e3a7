/*
 * proc.h - the life of an outpost child process, written once for all.
 *
 * The master forks a child and calls proc_child(): it keeps only the
 * descriptors the child needs, chroots (queue directory or an empty one),
 * names the process, drops to its user, applies its rlimits, creates the
 * event loop and the link to the master, then calls the daemon's main
 * (which registers its handlers and returns), enters the role's sandbox
 * (sandbox.h: seccomp, Landlock, default rlimits) and runs the loop.
 *
 * Links to peers arrive as MSG_CTL_PEER frames from the master, at start and
 * again whenever a peer was restarted; the daemon's on_peer hook adopts them.
 */
#ifndef OUTPOST_PROC_H
#define OUTPOST_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "proc_kind.h"

struct event_base;
struct chan;
struct config;
struct frame;

struct proc_ctx {
	const struct config	*conf;
	int			 kind;
	unsigned		 instance;
	struct event_base	*base;
	struct chan		*master;
	int			*listen_fds;	/* smtpd: bound listening sockets */
	unsigned		 nlisten;
	bool			 privileged;	/* started as root and dropped */

	/* Set by the daemon's main. */
	void	(*on_peer)(struct proc_ctx *, int kind, unsigned instance, int fd);
	/* Graceful stop: finish or hand back work, then call proc_exit_loop(). */
	void	(*on_shutdown)(struct proc_ctx *);
	/* MSG_CONTROL_REQUEST from the master (outpostctl commands routed to this
	 * process): answer on ctx->master with CONTROL_REPLY frames and one
	 * CONTROL_END, same reqid. Return -1 if malformed. */
	int	(*on_master)(struct proc_ctx *, struct frame *);
	void	*arg;
};

typedef void (*proc_main_fn)(struct proc_ctx *);

/* Where a child lives and as whom. */
enum proc_root { ROOT_NONE, ROOT_QUEUE, ROOT_EMPTY };
/* One uid per role (parameters user, queue_user, smtpd_user, resolver_user,
 * scheduler_user): a child may signal or trace only processes of its own uid. */
enum proc_user { USER_MAIL, USER_QUEUE, USER_SMTPD, USER_RESOLVER, USER_SCHEDULER, USER_MAX };

struct proc_desc {
	int		kind;
	const char	*name;
	enum proc_user	user;
	enum proc_root	root;
	proc_main_fn	main;
	/* Optional: runs before chroot and privilege drop (read system files). */
	void		(*prepare)(struct proc_ctx *);
};

/* In the child, after fork. keep_fds lists descriptors that survive (master link, listeners). Never returns. */
void	proc_child(const struct proc_desc *, const struct config *, unsigned instance,
	    int master_fd, int *listen_fds, unsigned nlisten) __attribute__((noreturn));
void	proc_exit_loop(struct proc_ctx *);
/* The configured user name of a role; the parameter's name in *param if not NULL. */
const char *proc_user_name(const struct config *, enum proc_user, const char **param);
/* Look up the uid/gid of a user; -1 if unknown. */
int	proc_user_ids(const char *user, uid_t *uid, gid_t *gid);

#endif
