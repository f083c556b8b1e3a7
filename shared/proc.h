/* SPDX-License-Identifier: ISC */
/*
 * proc.h - the life of an outpost child process, written once for all.
 *
 * The master forks and execs the outpost binary with a role argument
 * (daemons/master/master_exec.c), so each child is a fresh image with its
 * own address layout; that entry reads the configuration the master
 * validated and calls proc_child(): it chroots (queue directory or an empty one),
 * names the process, drops to its user, applies its rlimits, creates the
 * event loop and the link to the master, then calls the daemon's main
 * (which registers its handlers and returns), enters the role's sandbox
 * (sandbox.h: seccomp, Landlock, default rlimits) and runs the loop.
 *
 * Links to peers arrive as MSG_CTL_PEER frames from the master, at start and
 * again whenever a peer was restarted or a link broke; the daemon's on_peer
 * hook adopts them (a new link replaces the old one to that peer). When the
 * link in use closes, the daemon calls proc_link_down() and the master
 * links the two again. Once the daemon's main returned, the child tells the
 * master it is ready (MSG_CTL_READY): the restart policy depends on it.
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
enum proc_user { USER_MAIL, USER_QUEUE, USER_SMTPD, USER_RESOLVER, USER_SCHEDULER, USER_SIGNER, USER_STS, USER_MAX };

struct proc_desc {
	int		kind;
	const char	*name;
	enum proc_user	user;
	enum proc_root	root;
	proc_main_fn	main;
	/* Optional: runs before chroot and privilege drop (read system files). */
	void		(*prepare)(struct proc_ctx *);
};

/* In the child, after exec: master_fd is the control link, listen_fds smtpd's listeners. Never returns. */
void	proc_child(const struct proc_desc *, const struct config *, unsigned instance,
	    int master_fd, int *listen_fds, unsigned nlisten) __attribute__((noreturn));
void	proc_exit_loop(struct proc_ctx *);
/* The link in use to this peer closed: ask the master for a new one. */
void	proc_link_down(struct proc_ctx *, int kind, unsigned instance);
/* The configured user name of a role; the parameter's name in *param if not NULL. */
const char *proc_user_name(const struct config *, enum proc_user, const char **param);
/* Look up the uid/gid of a user; -1 if unknown. */
int	proc_user_ids(const char *user, uid_t *uid, gid_t *gid);

#endif
