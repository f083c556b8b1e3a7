/* SPDX-License-Identifier: ISC */
/*
 * sandbox.h - what each child may still do once its start-up is over:
 * default rlimits, PR_SET_NO_NEW_PRIVS, a seccomp allow-list per role and
 * Landlock rules where the kernel has them.
 *
 * proc_child() (shared/proc.c) calls sandbox_enter() once, after chroot, the
 * switch of user and the daemon's main (which opens what it needs), right
 * before the event loop runs. A system call outside the role's list kills
 * the process (SIGSYS): a missing entry is loud, never a silent failure.
 */
#ifndef OUTPOST_SANDBOX_H
#define OUTPOST_SANDBOX_H

#include <stdbool.h>
#include <sys/resource.h>

struct config;

/* Apply kind's rlimits, then (unless sandbox = no) its seccomp filter and
 * Landlock rules. Fatal when the filter or the rules cannot be loaded. */
void	sandbox_enter(int kind, const struct config *conf);
/* Before sandbox_enter(), in a role whose profile has a directory of its own
 * (the sts process's policy cache): the descriptor of that directory. */
void	sandbox_allow_dir(int dirfd);

/* The pieces, for tests: the role's default rlimits (those the config does
 * not set), and its seccomp filter alone (log_only: SCMP_ACT_LOG instead of
 * killing), the profile chosen by kind and conf as sandbox_enter() does (the
 * scheduler's with shared_limits set: TCP to Redis; conf may be NULL).
 * sandbox_seccomp returns 0, or -1 with errno set. */
void	sandbox_rlimits(int kind, const struct config *conf);
int	sandbox_seccomp(int kind, const struct config *conf, bool log_only);
/* What libraries would otherwise do lazily, opening files, once the filter
 * forbids it: the time zone, OpenSSL's set-up. Part of sandbox_enter. */
void	sandbox_prepare(void);
/* Landlock ABI version of the running kernel, 0 when it has none. */
int	sandbox_landlock_abi(void);
/* Landlock rules of the role (TCP connects: DNS ports for the resolver, the
 * Redis port for the scheduler with shared_limits, any port for agents and
 * the sts process, none for the others); returns the ABI used, 0 when
 * unavailable, -1 on error. */
int	sandbox_landlock(int kind, const struct config *conf);
/* The role's profile in one line, for the log. */
const char *sandbox_profile_name(int kind);

#endif
