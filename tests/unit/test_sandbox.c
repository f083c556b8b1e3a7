/* SPDX-License-Identifier: ISC */
/*
 * test_sandbox.c - each role's seccomp filter (shared/sandbox.c), loaded for
 * real in a forked process: what it must refuse kills that process with
 * SIGSYS, what the role needs still works; the scheduler's profile with
 * shared_limits (TCP to Redis), and its Landlock rule (that port only).
 * Default rlimits per role.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "proc_kind.h"
#include "sandbox.h"
#include "check_run.h"

#define KIND_UNKNOWN	(PROC_KIND_MAX + 7)	/* a child no profile describes */
#define SCHED_SHARED	(PROC_KIND_MAX + 8)	/* the scheduler with shared_limits set */

enum act {
	ACT_BASE,	/* pipe I/O, time, own pid, signal to itself: every role */
	ACT_EXECVE,
	ACT_OPEN,
	ACT_OPENAT,
	ACT_KILL_PARENT,
	ACT_PTRACE,
	ACT_FORK,
	ACT_SOCKET_INET,
	ACT_SETUID,
	ACT_SOCKET_UDP,
	ACT_MMAP_EXEC,
	ACT_OPENSSL,
};

static const char *const act_names[] = {
	"base", "execve", "open", "openat", "kill(parent)", "ptrace", "fork", "socket(AF_INET)", "setuid",
	"socket(AF_INET, SOCK_DGRAM)", "mmap(PROT_EXEC)",
	"OpenSSL digest, key generation and signature",
};

static int	 link_fds[2];

/* What a signer or an agent does with OpenSSL long after its start. */
static int
openssl_works(void)
{
	unsigned char	 md[EVP_MAX_MD_SIZE], sig[64];
	unsigned int	 mdlen;
	size_t		 siglen = sizeof(sig);
	EVP_PKEY	*k;
	EVP_MD_CTX	*mc;
	int		 ok;

	if (EVP_Digest("abc", 3, md, &mdlen, EVP_sha256(), NULL) != 1)
		return -1;
	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		return -1;
	mc = EVP_MD_CTX_new();
	ok = mc != NULL && EVP_DigestSignInit(mc, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(mc, sig, &siglen, md, mdlen) == 1;
	EVP_MD_CTX_free(mc);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/* Runs in the sandboxed child; returning means the call was let through. */
static void
act(enum act a)
{
	int		 fd;
	char		 c = 'x';
	struct timespec	 ts;
	char *const	 argv[] = { (char *)"true", NULL };

	switch (a) {
	case ACT_BASE:
		/* A link made before the filter, as the master's socketpairs are. */
		if (write(link_fds[1], &c, 1) != 1 || read(link_fds[0], &c, 1) != 1)
			_exit(3);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (kill(getpid(), 0) == -1)
			_exit(4);
		free(malloc(1 << 20));
		close(link_fds[0]);
		break;
	case ACT_EXECVE:
		execve("/bin/true", argv, NULL);
		break;
	case ACT_OPEN:
		/* The raw call: glibc's open() is openat() on most architectures. */
#ifdef SYS_open
		fd = (int)syscall(SYS_open, "/dev/null", O_RDONLY);
#else
		fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
#endif
		if (fd != -1)
			close(fd);
		break;
	case ACT_OPENAT:
		if ((fd = openat(AT_FDCWD, "/dev/null", O_RDONLY)) != -1)
			close(fd);
		break;
	case ACT_KILL_PARENT:
		kill(getppid(), 0);
		break;
	case ACT_PTRACE:
		ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
		break;
	case ACT_FORK:
		if (fork() == 0)
			_exit(0);
		break;
	case ACT_SOCKET_INET:
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1)
			close(fd);
		break;
	case ACT_SETUID:
		(void)!setuid(getuid());
		break;
	case ACT_SOCKET_UDP:
		if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) != -1)
			close(fd);
		break;
	case ACT_OPENSSL:
		if (openssl_works() == -1)
			_exit(5);
		break;
	case ACT_MMAP_EXEC:
		(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	}
}

/* 0: the child went on and exited 0; SIGSYS: the filter killed it. */
static int
run_filtered(int kind, enum act a)
{
	static struct config c;
	pid_t	 pid;
	int	 status;

	/* The profile comes from the config, as in sandbox_enter(). */
	config_defaults(&c);
	if (kind == SCHED_SHARED) {
		strlcpy(c.shared_limits, "redis://127.0.0.1:6380", sizeof(c.shared_limits));
		kind = PROC_SCHEDULER;
	}
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, link_fds), 0);
	if ((pid = fork()) == -1)
		ck_abort_msg("fork");
	if (pid == 0) {
		sandbox_prepare();
		if (sandbox_seccomp(kind, &c, false) == -1)
			_exit(2);
		act(a);
		_exit(0);
	}
	close(link_fds[0]);
	close(link_fds[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "kind %d, %s: exit status %d", kind, act_names[a], WEXITSTATUS(status));
	return 0;
}

#define ALLOWED	0
#define KILLED	SIGSYS

static const struct {
	int		 kind;
	enum act	 a;
	int		 want;
} cases[] = {
	/* What every role needs. */
	{ PROC_QMGR, ACT_BASE, ALLOWED },
	{ PROC_SCHEDULER, ACT_BASE, ALLOWED },
	{ PROC_RESOLVER, ACT_BASE, ALLOWED },
	{ PROC_SMTPD, ACT_BASE, ALLOWED },
	{ PROC_AGENT, ACT_BASE, ALLOWED },
	{ PROC_SIGNER, ACT_BASE, ALLOWED },
	{ PROC_STS, ACT_BASE, ALLOWED },
	{ SCHED_SHARED, ACT_BASE, ALLOWED },
	{ KIND_UNKNOWN, ACT_BASE, ALLOWED },
	/* No role executes, traces, signals another process, forks or changes ids. */
	{ PROC_QMGR, ACT_EXECVE, KILLED },
	{ PROC_SCHEDULER, ACT_EXECVE, KILLED },
	{ PROC_RESOLVER, ACT_EXECVE, KILLED },
	{ PROC_SMTPD, ACT_EXECVE, KILLED },
	{ PROC_AGENT, ACT_EXECVE, KILLED },
	{ PROC_SIGNER, ACT_EXECVE, KILLED },
	{ PROC_STS, ACT_EXECVE, KILLED },
	{ SCHED_SHARED, ACT_EXECVE, KILLED },
	{ KIND_UNKNOWN, ACT_EXECVE, KILLED },
	{ PROC_QMGR, ACT_KILL_PARENT, KILLED },
	{ PROC_SCHEDULER, ACT_KILL_PARENT, KILLED },
	{ PROC_RESOLVER, ACT_KILL_PARENT, KILLED },
	{ PROC_SMTPD, ACT_KILL_PARENT, KILLED },
	{ PROC_AGENT, ACT_KILL_PARENT, KILLED },
	{ PROC_SIGNER, ACT_KILL_PARENT, KILLED },
	{ PROC_STS, ACT_KILL_PARENT, KILLED },
	{ SCHED_SHARED, ACT_KILL_PARENT, KILLED },
	{ KIND_UNKNOWN, ACT_KILL_PARENT, KILLED },
	{ PROC_QMGR, ACT_PTRACE, KILLED },
	{ PROC_SCHEDULER, ACT_PTRACE, KILLED },
	{ PROC_RESOLVER, ACT_PTRACE, KILLED },
	{ PROC_SMTPD, ACT_PTRACE, KILLED },
	{ PROC_AGENT, ACT_PTRACE, KILLED },
	{ PROC_SIGNER, ACT_PTRACE, KILLED },
	{ PROC_STS, ACT_PTRACE, KILLED },
	{ SCHED_SHARED, ACT_PTRACE, KILLED },
	{ KIND_UNKNOWN, ACT_PTRACE, KILLED },
	{ PROC_QMGR, ACT_FORK, KILLED },
	{ PROC_SCHEDULER, ACT_FORK, KILLED },
	{ PROC_RESOLVER, ACT_FORK, KILLED },
	{ PROC_SMTPD, ACT_FORK, KILLED },
	{ PROC_AGENT, ACT_FORK, KILLED },
	{ PROC_SIGNER, ACT_FORK, KILLED },
	{ PROC_STS, ACT_FORK, KILLED },
	{ SCHED_SHARED, ACT_FORK, KILLED },
	{ KIND_UNKNOWN, ACT_FORK, KILLED },
	{ PROC_SMTPD, ACT_SETUID, KILLED },
	{ PROC_AGENT, ACT_SETUID, KILLED },
	{ PROC_SIGNER, ACT_SETUID, KILLED },
	{ PROC_STS, ACT_SETUID, KILLED },
	/* Files: the queue manager, and the sts process (Landlock keeps each
	 * beneath its directory: the queue, the policy cache). */
	{ PROC_QMGR, ACT_OPENAT, ALLOWED },
	{ PROC_STS, ACT_OPENAT, ALLOWED },
	{ PROC_SIGNER, ACT_OPEN, KILLED },
	{ PROC_SIGNER, ACT_OPENAT, KILLED },
	{ SCHED_SHARED, ACT_OPEN, KILLED },
	{ SCHED_SHARED, ACT_OPENAT, KILLED },
	{ PROC_SCHEDULER, ACT_OPEN, KILLED },
	{ PROC_SCHEDULER, ACT_OPENAT, KILLED },
	{ PROC_RESOLVER, ACT_OPEN, KILLED },
	{ PROC_RESOLVER, ACT_OPENAT, KILLED },
	{ PROC_SMTPD, ACT_OPEN, KILLED },
	{ PROC_SMTPD, ACT_OPENAT, KILLED },
	{ PROC_AGENT, ACT_OPEN, KILLED },
	{ PROC_AGENT, ACT_OPENAT, KILLED },
	{ KIND_UNKNOWN, ACT_OPENAT, KILLED },
	/* New Internet sockets: agents, the resolver, the sts process (HTTPS),
	 * and the scheduler only when it shares limits through Redis. */
	{ PROC_AGENT, ACT_SOCKET_INET, ALLOWED },
	{ PROC_RESOLVER, ACT_SOCKET_INET, ALLOWED },
	{ PROC_STS, ACT_SOCKET_INET, ALLOWED },
	{ SCHED_SHARED, ACT_SOCKET_INET, ALLOWED },
	{ PROC_SIGNER, ACT_SOCKET_INET, KILLED },
	{ PROC_SMTPD, ACT_SOCKET_INET, KILLED },
	{ PROC_SCHEDULER, ACT_SOCKET_INET, KILLED },
	{ PROC_QMGR, ACT_SOCKET_INET, KILLED },
	{ KIND_UNKNOWN, ACT_SOCKET_INET, KILLED },
	/* UDP: the resolver only; agents speak TCP. */
	{ PROC_RESOLVER, ACT_SOCKET_UDP, ALLOWED },
	{ PROC_AGENT, ACT_SOCKET_UDP, KILLED },
	{ PROC_SMTPD, ACT_SOCKET_UDP, KILLED },
	{ PROC_STS, ACT_SOCKET_UDP, KILLED },		/* no DNS of its own */
	{ PROC_SIGNER, ACT_SOCKET_UDP, KILLED },
	{ SCHED_SHARED, ACT_SOCKET_UDP, KILLED },
	/* W^X: no role maps new executable memory. */
	{ PROC_QMGR, ACT_MMAP_EXEC, KILLED },
	{ PROC_RESOLVER, ACT_MMAP_EXEC, KILLED },
	{ PROC_SMTPD, ACT_MMAP_EXEC, KILLED },
	{ PROC_AGENT, ACT_MMAP_EXEC, KILLED },
	{ PROC_SIGNER, ACT_MMAP_EXEC, KILLED },
	{ PROC_STS, ACT_MMAP_EXEC, KILLED },
	{ SCHED_SHARED, ACT_MMAP_EXEC, KILLED },
	{ KIND_UNKNOWN, ACT_MMAP_EXEC, KILLED },
	/* OpenSSL after the filter: nothing left for it to open. */
	{ PROC_AGENT, ACT_OPENSSL, ALLOWED },
	{ PROC_SIGNER, ACT_OPENSSL, ALLOWED },		/* DKIM signatures */
	{ PROC_STS, ACT_OPENSSL, ALLOWED },		/* HTTPS */
	{ KIND_UNKNOWN, ACT_OPENSSL, ALLOWED },
};

START_TEST(filter_refuses_or_allows)
{
	int	 got = run_filtered(cases[_i].kind, cases[_i].a);

	ck_assert_msg(got == cases[_i].want, "%s, %s: %s (signal %d), expected %s",
	    cases[_i].kind == KIND_UNKNOWN ? "unknown kind" : cases[_i].kind == SCHED_SHARED ?
	    "scheduler with shared_limits" : proc_kind_name(cases[_i].kind),
	    act_names[cases[_i].a], got == 0 ? "allowed" : "killed", got,
	    cases[_i].want == 0 ? "allowed" : "killed by SIGSYS");
}
END_TEST

/* ------------------------------------------------------------ Landlock TCP */

/* A listening TCP socket on 127.0.0.1; its port in *port. */
static int
listener(uint16_t *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Under kind's Landlock rules (conf choosing the profile), connect to
 * 127.0.0.1:port: 0 when it connected, else the errno. */
static int
landlock_connect(int kind, const struct config *conf, uint16_t port)
{
	struct sockaddr_in	 sin;
	pid_t			 pid;
	int			 status, fd;

	if ((pid = fork()) == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 || sandbox_landlock(kind, conf) < 4)
			_exit(250);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			_exit(251);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(port);
		_exit(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 : errno);
	}
	ck_assert_int_ne(pid, -1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) < 250,
	    "Landlock rules not entered (status 0x%x)", status);
	return WEXITSTATUS(status);
}

/* With shared_limits the scheduler connects to the Redis port and nowhere else. */
START_TEST(landlock_scheduler_connects_to_redis_only)
{
	static struct config c;
	uint16_t	 redis, other;
	int		 lr, lo;

	if (sandbox_landlock_abi() < 4) {
		fprintf(stderr, "landlock_scheduler_connects_to_redis_only: the kernel has no "
		    "Landlock TCP rules (ABI %d < 4): not checked\n", sandbox_landlock_abi());
		return;
	}
	lr = listener(&redis);
	lo = listener(&other);
	config_defaults(&c);
	snprintf(c.shared_limits, sizeof(c.shared_limits), "redis://127.0.0.1:%u", redis);
	ck_assert_int_eq(landlock_connect(PROC_SCHEDULER, &c, redis), 0);
	ck_assert_int_eq(landlock_connect(PROC_SCHEDULER, &c, other), EACCES);
	/* Without shared_limits: no TCP connect at all. */
	c.shared_limits[0] = '\0';
	ck_assert_int_eq(landlock_connect(PROC_SCHEDULER, &c, redis), EACCES);
	/* An agent delivers to any port (routes, relay). */
	ck_assert_int_eq(landlock_connect(PROC_AGENT, &c, other), 0);
	close(lr);
	close(lo);
}
END_TEST

/* ----------------------------------------------------------------- rlimits */

/* The limit a child of this test can get: sandbox_rlimits lowers only. */
static rlim_t
capped(rlim_t want)
{
	struct rlimit	 rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max ? rl.rlim_max : want;
}

/* A child reports its limits on a pipe after sandbox_rlimits. */
static void
limits_of(int kind, const struct config *c, struct rlimit out[4])
{
	static const int res[4] = { RLIMIT_CORE, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE };
	int	 p[2], status;
	pid_t	 pid;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		/* stdout and stderr may be files here: what the daemon would see is a socket. */
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		sandbox_rlimits(kind, c);
		for (int i = 0; i < 4; i++)
			getrlimit(res[i], &out[i]);
		_exit(write(p[1], out, 4 * sizeof(out[0])) == 4 * (ssize_t)sizeof(out[0]) ? 0 : 1);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], out, 4 * sizeof(out[0])), 4 * sizeof(out[0]));
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(default_rlimits_per_role)
{
	struct config	 c;
	struct rlimit	 l[4];

	config_defaults(&c);
	c.limits[PROC_SMTPD].max_sessions = 100;
	c.limits[PROC_AGENT].max_sessions = 50;

	limits_of(PROC_SMTPD, &c, l);
	ck_assert_uint_eq(l[0].rlim_max, 0);		/* no core */
	ck_assert_uint_eq(l[1].rlim_max, 0);		/* never forks */
	ck_assert_uint_eq(l[2].rlim_max, 0);		/* writes no file */
	ck_assert_uint_eq(l[3].rlim_cur, 2 * 100 + 64);	/* from max_sessions */

	limits_of(PROC_AGENT, &c, l);
	/* sessions, their messages, Happy Eyeballs' second sockets, evicted
	 * sessions still saying QUIT */
	ck_assert_uint_eq(l[3].rlim_cur, 4 * 50 + 64);

	/* the scheduler: every agent session's message may be in flight to it */
	limits_of(PROC_SCHEDULER, &c, l);
	ck_assert_uint_eq(l[3].rlim_cur, 64 + c.limits[PROC_AGENT].count +
	    2 * c.limits[PROC_AGENT].count * 50);

	limits_of(PROC_QMGR, &c, l);
	ck_assert_uint_eq(l[0].rlim_max, 0);
	ck_assert_uint_eq(l[1].rlim_max, 0);		/* its threads start before */
	ck_assert(l[2].rlim_max != 0);			/* it writes the queue */
	/* a file per mail received or delivered, twice, and spares */
	ck_assert_uint_eq(l[3].rlim_cur, capped(2 * (100 + c.limits[PROC_AGENT].count * 50) +
	    1024));

	limits_of(PROC_RESOLVER, &c, l);
	ck_assert(l[1].rlim_max != 0);			/* libunbound starts a thread */
	ck_assert_uint_eq(l[2].rlim_max, 0);
	ck_assert_uint_eq(l[3].rlim_cur, capped(1024));	/* libunbound's sockets */

	limits_of(PROC_SIGNER, &c, l);
	ck_assert_uint_eq(l[0].rlim_max, 0);
	ck_assert_uint_eq(l[1].rlim_max, 0);
	ck_assert_uint_eq(l[2].rlim_max, 0);		/* reads what it is handed, writes nothing */
	ck_assert_uint_eq(l[3].rlim_cur, 64 + c.limits[PROC_AGENT].count);

	limits_of(PROC_STS, &c, l);
	ck_assert_uint_eq(l[0].rlim_max, 0);
	ck_assert_uint_eq(l[1].rlim_max, 0);
	ck_assert(l[2].rlim_max != 0);			/* its policy cache */
	ck_assert_uint_eq(l[3].rlim_cur, 64 + c.limits[PROC_AGENT].count);

	/* open_files in the config wins: the default leaves it alone. */
	c.limits[PROC_SMTPD].open_files = 77;
	limits_of(PROC_SMTPD, &c, l);
	ck_assert(l[3].rlim_cur != 2 * 100 + 64);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite	*s = suite_create("sandbox");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, filter_refuses_or_allows, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, landlock_scheduler_connects_to_redis_only);
	tcase_add_test(tc, default_rlimits_per_role);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(sandbox_suite());
}
