/* SPDX-License-Identifier: ISC */
/*
 * sandbox.c - the confinement of every outpost child, entered once from
 * proc_child() (shared/proc.c) when its start-up is done (see sandbox.h).
 *
 * A role's profile is a row of profiles[]: which groups of system calls it
 * may make on top of a base every libevent daemon needs (its links, timers,
 * memory), which file rights Landlock grants beneath its root, whether it
 * makes TCP connections, whether it starts threads, whether it writes files.
 * A kind without a row (a new child not described yet) gets the base alone:
 * its links and nothing else.
 *
 * What no role may do, whatever its row: open a path outside its queue,
 * execve, fork, ptrace, signal another process, change ids, map executable
 * memory, mount, load modules. The action for anything not listed is SCMP_ACT_KILL_PROCESS:
 * a missing entry shows as a child killed by SIGSYS in the master's log,
 * never as a quiet failure.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <openssl/crypto.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proc_kind.h"
#include "sandbox.h"

/* Groups of system calls beyond the base. */
#define SYS_ACCEPT	0x01	/* accept connections on listeners set up before */
#define SYS_CONNECT	0x02	/* new TCP sockets to the Internet, connect */
#define SYS_BIND	0x04	/* bind (libunbound picks random source ports) */
#define SYS_QUEUE	0x08	/* paths beneath its root: the queue manager only */
#define SYS_THREADS	0x10	/* threads started after the sandbox (libunbound's) */
#define SYS_UDP		0x20	/* UDP sockets too (DNS) */
#define SYS_DIR		0x40	/* file calls beneath the one directory sandbox_allow_dir() named */

struct profile {
	int		 kind;
	const char	*desc;		/* for the log and the README's table */
	unsigned	 sys;		/* SYS_* */
	bool		 fs;		/* Landlock: rights beneath its root, else none */
	/* Landlock: TCP connects allowed (none, DNS ports, the shared-limits
	 * Redis port, any) */
	enum { TCP_NONE, TCP_DNS, TCP_REDIS, TCP_ANY } tcp;
	bool		 writes_files;	/* else RLIMIT_FSIZE 0 */
};

static const struct profile profiles[] = {
	{ PROC_QMGR, "queue: its links, the public socket, files beneath the queue directory",
	  SYS_ACCEPT | SYS_QUEUE, true, TCP_NONE, true },
	{ PROC_SCHEDULER, "links only", 0, false, TCP_NONE, false },
	{ PROC_RESOLVER, "links, UDP/TCP sockets to DNS servers, libunbound's thread",
	  SYS_CONNECT | SYS_UDP | SYS_BIND | SYS_THREADS, false, TCP_DNS, false },
	{ PROC_SMTPD, "links, accepting SMTP clients on its listeners; no files, no new sockets",
	  SYS_ACCEPT, false, TCP_NONE, false },
	{ PROC_AGENT, "links, TCP connections to mail servers; no files",
	  SYS_CONNECT, false, TCP_ANY, false },
	{ PROC_SIGNER, "links only: reads the message descriptors it is handed; no files, no sockets",
	  0, false, TCP_NONE, false },
	{ PROC_STS, "links, TCP connections to policy servers (HTTPS), files beneath its cache directory",
	  SYS_CONNECT | SYS_DIR, false, TCP_ANY, true },
};

/* The strictest profile a libevent daemon with socketpair links survives on. */
static const struct profile strictest = { -1, "links only (no profile of its own)", 0, false, TCP_NONE, false };

static const struct profile *
profile_of(int kind)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (profiles[i].kind == kind)
			return &profiles[i];
	return &strictest;
}

/* With shared_limits the scheduler talks to Redis over TCP as well: the
 * filter lets it make TCP sockets and connect, Landlock (ABI 4 and later)
 * only to the Redis port. */
static const struct profile scheduler_shared = { PROC_SCHEDULER,
    "links, TCP connections to the shared-limits Redis", SYS_CONNECT, false, TCP_REDIS, false };

static const struct profile *
profile_for(int kind, const struct config *conf)
{
	if (kind == PROC_SCHEDULER && conf != NULL && conf->shared_limits[0] != '\0')
		return &scheduler_shared;
	return profile_of(kind);
}

const char *
sandbox_profile_name(int kind)
{
	return profile_of(kind)->desc;
}

/* ------------------------------------------------------------------ rlimits */

/* Is anything this process writes a regular file (a log file, or stderr
 * redirected to one)? Then RLIMIT_FSIZE 0 would kill it with SIGXFSZ. */
static bool
writes_regular_file(void)
{
	struct stat	 st;
	int		 fds[] = { STDOUT_FILENO, STDERR_FILENO, log_fd() };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] != -1 && fstat(fds[i], &st) == 0 && S_ISREG(st.st_mode))
			return true;
	return false;
}

static void
set_limit(int resource, const char *name, rlim_t want)
{
	struct rlimit	 rl;

	if (getrlimit(resource, &rl) == -1)
		fatal("getrlimit(%s)", name);
	/* Lower only: without root the hard limit cannot rise again. */
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = want;
	if (setrlimit(resource, &rl) == -1)
		fatal("setrlimit(%s, %llu)", name, (unsigned long long)want);
}

/* Descriptors a role needs: its links, plus what its sessions hold. */
static rlim_t
open_files_default(int kind, const struct config *conf)
{
	const struct proc_limits *l = conf->limits;
	rlim_t		 agents = (rlim_t)l[PROC_AGENT].count * l[PROC_AGENT].max_sessions;

	switch (kind) {
	case PROC_SMTPD:
		/* A client socket per session, twice for sessions closing while
		 * new ones are accepted; links, listeners and the loop's own. */
		return 2 * (rlim_t)l[PROC_SMTPD].max_sessions + 64;
	case PROC_AGENT:
		/*
		 * Per session a server socket and a message (a second socket
		 * while Happy Eyeballs races), and a socket per idle session
		 * evicted to make room that still waits for its QUIT's answer
		 * (at most max_sessions of them, agent_dispatch).
		 */
		return 4 * (rlim_t)l[PROC_AGENT].max_sessions + 64;
	case PROC_QMGR:
		/* A file per mail being received or delivered, spares, links. */
		return 2 * ((rlim_t)l[PROC_SMTPD].max_sessions + agents) + 1024;
	case PROC_RESOLVER:
		return 1024;	/* libunbound's outgoing sockets */
	case PROC_SCHEDULER:
		/* Few files of its own, but each job hands a mail's descriptor
		 * to an agent, and the kernel caps the descriptors in flight
		 * (sent, not yet read by the busy agent) at this limit. */
		return 2 * agents + 64 + l[PROC_AGENT].count;
	default:
		return 64 + l[PROC_AGENT].count;
	}
}

void
sandbox_rlimits(int kind, const struct config *conf)
{
	const struct profile *p = profile_of(kind);

	set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0);
	/* No new process or thread from here on. The resolver's libunbound
	 * starts its thread later; a non-zero limit would count every process
	 * of its uid, so it keeps what it has (its filter allows threads only). */
	if (!(p->sys & SYS_THREADS))
		set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", 0);
	if (!p->writes_files && !writes_regular_file())
		set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", 0);
	/* open_files set in the config was applied by proc_child and wins. */
	if (kind < 0 || kind >= PROC_KIND_MAX || conf->limits[kind].open_files == 0)
		set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", open_files_default(kind, conf));
}

/* ------------------------------------------------------------------ seccomp */

/* Every role: the event loop, its links, memory, time, exiting. */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "pread64", "close", "lseek", "fstat",
	"munmap", "mremap", "madvise", "brk", "mlock", "munlock",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
	"getresuid", "getresgid", "getpgrp",
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"poll", "ppoll", "select", "pselect6",
	"fcntl", "dup", "dup2", "dup3", "close_range",
	"sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown",
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	"futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity",
	"getrandom", "uname", "getrusage", "sysinfo",
	"exit", "exit_group", "restart_syscall",
	NULL
};

static const char *const accept_calls[] = { "accept", "accept4", NULL };
static const char *const connect_calls[] = { "connect", NULL };
static const char *const bind_calls[] = { "bind", NULL };

/* Paths: for the queue manager, whose root is the queue directory and whose
 * Landlock rules allow nothing outside it. */
static const char *const queue_calls[] = {
	"open", "openat", "newfstatat", "stat", "lstat", "statx", "access", "faccessat", "faccessat2",
	"getdents64", "statfs", "fstatfs", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat",
	"rename", "renameat", "renameat2", "link", "linkat",
	"fsync", "fdatasync", "sync_file_range", "syncfs", "ftruncate", "fallocate", "fchmod", "flock",
	"pwrite64", "utimensat", "umask",
	NULL
};

/*
 * The one directory outside its root a role may use (SYS_DIR): opened
 * before the chroot by the role's prepare hook (the sts process's policy
 * cache). Landlock grants file rights beneath it and nowhere else.
 */
static int	allowed_dir = -1;

void
sandbox_allow_dir(int dirfd)
{
	allowed_dir = dirfd;
}

static int
allow_list(scmp_filter_ctx sc, const char *const *names)
{
	int	 nr, r;

	for (; *names != NULL; names++) {
		/* A name the architecture lacks (e.g. "open" on arm64) is skipped. */
		if ((nr = seccomp_syscall_resolve_name(*names)) == __NR_SCMP_ERROR || nr < 0)
			continue;
		if ((r = seccomp_rule_add(sc, SCMP_ACT_ALLOW, nr, 0)) < 0) {
			errno = -r;
			return -1;
		}
	}
	return 0;
}

#define RULE(action, call, n, ...) do {						\
	if ((r = seccomp_rule_add(sc, (action), SCMP_SYS(call), (n), ##__VA_ARGS__)) < 0)	\
		goto fail;								\
} while (0)

static int role_filter_load(const struct profile *, bool log_only);

/* The very filter sandbox_enter() loads, the config choosing the profile. */
int
sandbox_seccomp(int kind, const struct config *conf, bool log_only)
{
	return role_filter_load(profile_for(kind, conf), log_only);
}

static int
role_filter_load(const struct profile *p, bool log_only)
{
	scmp_filter_ctx	 sc;
	int		 r = 0;
	pid_t		 self = getpid();

	if ((sc = seccomp_init(log_only ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	/* Threads started before (the queue manager's commit threads) get the
	 * same filter; NO_NEW_PRIVS is set by the load. */
	if ((r = seccomp_attr_set(sc, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
	    (r = seccomp_attr_set(sc, SCMP_FLTATR_CTL_NNP, 1)) < 0)
		goto fail;
	if (allow_list(sc, base_calls) == -1 ||
	    ((p->sys & SYS_ACCEPT) && allow_list(sc, accept_calls) == -1) ||
	    ((p->sys & SYS_CONNECT) && allow_list(sc, connect_calls) == -1) ||
	    ((p->sys & SYS_BIND) && allow_list(sc, bind_calls) == -1) ||
	    ((p->sys & (SYS_QUEUE | SYS_DIR)) && allow_list(sc, queue_calls) == -1)) {
		r = -errno;
		goto fail;
	}

	/* fstat() is fstatat(fd, "", AT_EMPTY_PATH) in glibc: no path lookup. */
	if (!(p->sys & (SYS_QUEUE | SYS_DIR)))
		RULE(SCMP_ACT_ALLOW, newfstatat, 1, SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	/* Signals only to itself (raise, abort); prlimit only to read. */
	RULE(SCMP_ACT_ALLOW, kill, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self, 0));
	RULE(SCMP_ACT_ALLOW, tgkill, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self, 0));
	RULE(SCMP_ACT_ALLOW, prlimit64, 2, SCMP_A0(SCMP_CMP_EQ, 0, 0), SCMP_A2(SCMP_CMP_EQ, 0, 0));
	/* libevent asks how much is readable; stdio asks whether it writes to a terminal. */
	RULE(SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0));
	RULE(SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, FIONBIO, 0));
	RULE(SCMP_ACT_ALLOW, ioctl, 1, SCMP_A1(SCMP_CMP_EQ, TCGETS, 0));
	/* glibc's syslog() reconnects to /dev/log after a syslog restart; in the
	 * chroot that fails anyway: refuse it gently instead of killing. */
	RULE(SCMP_ACT_ERRNO(EACCES), socket, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	/* W^X: no new executable memory once started (all code is loaded). */
	RULE(SCMP_ACT_ALLOW, mmap, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	RULE(SCMP_ACT_ALLOW, mprotect, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* The delivery agent sends queued content by sendfile() over plain TCP. */
	if (p->kind == PROC_AGENT)
		RULE(SCMP_ACT_ALLOW, sendfile, 0);
	/* Internet sockets: TCP (the type's low bits; flags such as
	 * SOCK_NONBLOCK sit above them), and UDP where the role talks DNS. */
	if (p->sys & SYS_CONNECT) {
		RULE(SCMP_ACT_ALLOW, socket, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET, 0),
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
		RULE(SCMP_ACT_ALLOW, socket, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0),
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
	}
	if (p->sys & SYS_UDP) {
		RULE(SCMP_ACT_ALLOW, socket, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET, 0),
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM));
		RULE(SCMP_ACT_ALLOW, socket, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0),
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM));
	}
	if (p->sys & SYS_THREADS) {
		/* Threads, never processes: clone only with CLONE_THREAD; clone3's
		 * flags sit behind a pointer, so glibc is told to use clone. */
		RULE(SCMP_ACT_ALLOW, clone, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
		RULE(SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
		/* libunbound's pipes to its thread, made with the first query. */
		RULE(SCMP_ACT_ALLOW, pipe2, 0);
	}
	if ((r = seccomp_load(sc)) < 0)
		goto fail;
	seccomp_release(sc);
	return 0;
fail:
	seccomp_release(sc);
	errno = -r;
	return -1;
}

/* ----------------------------------------------------------------- Landlock */

/* Newer than Debian 12's kernel headers: ABI 3 (truncate), 4 (TCP), 5 (device
 * ioctl), 6 (scopes). The kernel takes the larger attribute struct as long as
 * the fields it does not know are zero. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)
#endif
#ifndef LANDLOCK_RULE_NET_PORT
#define LANDLOCK_RULE_NET_PORT		2
#endif
#define SB_NET_BIND_TCP			(1ULL << 0)
#define SB_NET_CONNECT_TCP		(1ULL << 1)
#define SB_SCOPE_ABSTRACT_UNIX		(1ULL << 0)
#define SB_SCOPE_SIGNAL			(1ULL << 1)

struct sb_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};

struct sb_net_port_attr {
	uint64_t	allowed_access;
	uint64_t	port;
};

int
sandbox_landlock_abi(void)
{
	long	 v;

	v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

static uint64_t
fs_rights(int abi)
{
	uint64_t	 all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */

	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return all;
}

static int
add_port(int rfd, uint16_t port)
{
	struct sb_net_port_attr	 np = { SB_NET_CONNECT_TCP, port };

	return (int)syscall(__NR_landlock_add_rule, rfd, LANDLOCK_RULE_NET_PORT, &np, 0);
}

int
sandbox_landlock(int kind, const struct config *conf)
{
	const struct profile *p = profile_for(kind, conf);
	struct sb_ruleset_attr	 ra;
	struct landlock_path_beneath_attr pb;
	int		 abi, rfd, dfd, r = 0;

	if ((abi = sandbox_landlock_abi()) <= 0)
		return 0;
	memset(&ra, 0, sizeof(ra));
	/* Every file right is handled: what is not granted below is denied. */
	ra.handled_access_fs = fs_rights(abi);
	/* TCP: no bind anywhere (libunbound's TCP sockets bind to port 0,
	 * which Landlock does not check); connects as the role needs. */
	if (abi >= 4)
		ra.handled_access_net = SB_NET_BIND_TCP | (p->tcp == TCP_ANY ? 0 : SB_NET_CONNECT_TCP);
	/* No signal to any process outside its own domain, no abstract socket. */
	if (abi >= 6)
		ra.scoped = SB_SCOPE_ABSTRACT_UNIX | SB_SCOPE_SIGNAL;
	if ((rfd = (int)syscall(__NR_landlock_create_ruleset, &ra, sizeof(ra), 0)) == -1)
		return -1;

	if (p->fs) {
		/* Its root (the queue directory), minus what a queue never holds. */
		if ((dfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
			goto fail;
		memset(&pb, 0, sizeof(pb));
		pb.allowed_access = fs_rights(abi) & ~(LANDLOCK_ACCESS_FS_EXECUTE |
		    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM |
		    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_IOCTL_DEV);
		pb.parent_fd = dfd;
		r = (int)syscall(__NR_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
		close(dfd);
		if (r == -1)
			goto fail;
	}
	if ((p->sys & SYS_DIR) && allowed_dir != -1) {
		/* Its own directory: plain files only, as beneath the queue. */
		memset(&pb, 0, sizeof(pb));
		pb.allowed_access = fs_rights(abi) & ~(LANDLOCK_ACCESS_FS_EXECUTE |
		    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM |
		    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_IOCTL_DEV);
		pb.parent_fd = allowed_dir;
		if (syscall(__NR_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == -1)
			goto fail;
	}
	if (abi >= 4 && p->tcp == TCP_REDIS) {
		struct hostport	 hp;

		/* config_check() accepted it: redis://ADDRESS[:PORT] */
		if (strncmp(conf->shared_limits, "redis://", 8) != 0 ||
		    hostport_parse(conf->shared_limits + 8, 6379, &hp) == -1) {
			errno = EINVAL;
			goto fail;
		}
		if (add_port(rfd, hp.port) == -1)
			goto fail;
	}
	if (abi >= 4 && p->tcp == TCP_DNS) {
		/* DNS over TCP (truncated answers) to its servers' ports only. */
		if (add_port(rfd, 53) == -1)
			goto fail;
		for (unsigned i = 0; i < conf->ndns_servers; i++)
			if (conf->dns_servers[i].port != 53 && add_port(rfd, conf->dns_servers[i].port) == -1)
				goto fail;
	}
	if (syscall(__NR_landlock_restrict_self, rfd, 0) == -1)
		goto fail;
	close(rfd);
	return abi;
fail:
	r = errno;
	close(rfd);
	errno = r;
	return -1;
}

/* ----------------------------------------------------------------- together */

void
sandbox_prepare(void)
{
	/* localtime_r() would look for /etc/localtime on its first call. */
	tzset();
	/* OpenSSL reads its configuration on first use (a process started as a
	 * fresh image that first signs or hashes after this point); in the
	 * chroot the file is missing, which it accepts, but the open() is made. */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_CIPHERS |
	    OPENSSL_INIT_ADD_ALL_DIGESTS, NULL) != 1)
		fatalx("OpenSSL initialisation failed");
}

void
sandbox_enter(int kind, const struct config *conf)
{
	int		 abi;

	sandbox_rlimits(kind, conf);
	if (conf->sandbox == SANDBOX_NO) {
		log_info("sandbox = no: no system call filter, no Landlock rules");
		return;
	}
	sandbox_prepare();
	/* Before Landlock, which an unprivileged process may only enter so. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
	if ((abi = sandbox_landlock(kind, conf)) == -1)
		fatal("Landlock rules");
	if (abi == 0)
		log_info("the kernel has no Landlock: seccomp filter and chroot only");
	if (conf->sandbox == SANDBOX_LOG)
		log_warnx("sandbox = log: refused system calls are only logged by the kernel");
	if (role_filter_load(profile_for(kind, conf), conf->sandbox == SANDBOX_LOG) == -1)
		fatal("seccomp filter");
	log_detail("sandbox: seccomp %s; Landlock ABI %d (%s)", profile_for(kind, conf)->desc, abi,
	    abi == 0 ? "none" : profile_for(kind, conf)->fs ? "files beneath its root only" : "no files");
}
