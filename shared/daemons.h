/* SPDX-License-Identifier: ISC */
/*
 * daemons.h - the entry point of each child process, for the master's
 * process table (daemons/master) and nothing else.
 */
#ifndef OUTPOST_DAEMONS_H
#define OUTPOST_DAEMONS_H

struct proc_ctx;

void	qmgr_main(struct proc_ctx *);
void	qmgr_prepare(struct proc_ctx *);	/* before chroot: the queue's file system */
void	scheduler_main(struct proc_ctx *);
void	resolver_main(struct proc_ctx *);
void	resolver_prepare(struct proc_ctx *);	/* before chroot: system resolver settings */
void	smtpd_main(struct proc_ctx *);
void	agent_main(struct proc_ctx *);
void	agent_prepare(struct proc_ctx *);	/* before chroot: TLS context, CA certificates */
void	signer_main(struct proc_ctx *);
void	sts_main(struct proc_ctx *);
void	sts_prepare(struct proc_ctx *);		/* before chroot: cache directory, CA bundle */

#endif
