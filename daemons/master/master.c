/*
 * master.c - main of outpost: the root supervisor.
 *
 * It parses and checks the configuration, prepares the state directory and
 * the listening sockets as root, forks every child (master_supervise.c) and
 * then only routes signals: SIGTERM/SIGINT stop gracefully, SIGCHLD restarts,
 * SIGUSR1 reopens the log file. It never reads mail or queue data.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "master.h"

#define OVERRIDES_MAX	32

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: outpost [-dFnR] [-f config] [-o name=value ...]\n"
	    "  -d             stay in the foreground and log to stderr\n"
	    "  -F             stay in the foreground, log as configured (service managers)\n"
	    "  -f config      configuration file (default " SYSCONFDIR "/outpost.conf)\n"
	    "  -o name=value  override a parameter (after the file)\n"
	    "  -n             check the configuration, print it, and exit\n"
	    "  -R             print the reference of every parameter and exit\n");
	exit(2);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct master	*m = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		supervise_stop(m);
		break;
	case SIGCHLD:
		supervise_reap(m);
		break;
	case SIGUSR1:
		log_info("reopening the log file");
		supervise_reopen_logs(m);
		break;
	case SIGHUP: {
		char err[8192];
		log_info("SIGHUP: reloading the configuration");
		(void)master_reload(m, err, sizeof(err));
		break;
	}
	}
}

static void
daemonize(void)
{
	int	fd;

	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > 2)
			close(fd);
	}
}

int
main(int argc, char *argv[])
{
	static struct master m;
	const char	*path = SYSCONFDIR "/outpost.conf";
	int		 ch, i;
	bool		 check_only = false, as_root, log_stderr = false;
	char		 err[8192];
	struct event	*ev;
	const int	 sigs[] = { SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGHUP };

	setproctitle_init(argc, argv, environ);
	while ((ch = getopt(argc, argv, "dFf:no:R")) != -1) {
		switch (ch) {
		case 'd':
			m.foreground = true;
			log_stderr = true;
			break;
		case 'F':
			m.foreground = true;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'o':
			if (m.noverrides == OVERRIDES_MAX)
				usage();
			m.overrides[m.noverrides++] = optarg;
			break;
		case 'R':
			config_print_reference(stdout);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (config_load(&m.conf, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s", err);
		fprintf(stderr, "outpost: configuration %s is invalid\n", path);
		return 1;
	}
	for (i = 0; i < m.noverrides; i++)
		if (config_override(&m.conf, m.overrides[i], err, sizeof(err)) == -1) {
			fprintf(stderr, "%s", err);
			return 1;
		}
	if (secrets_load(&m.conf, m.relay_password, sizeof(m.relay_password), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "outpost: relay_auth_password_file: %s\n", err);
		return 1;
	}
	if (dkim_keys_check(&m.conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "outpost: dkim: %s\n", err);
		return 1;
	}
	/* The resolver reads it as root before its chroot; say so now, not in a restart loop. */
	if (m.conf.dnssec_trust_anchor[0] != '\0' &&
	    access(m.conf.dnssec_trust_anchor, R_OK) == -1) {
		fprintf(stderr, "outpost: dnssec_trust_anchor %s: %s\n", m.conf.dnssec_trust_anchor,
		    strerror(errno));
		return 1;
	}
	if (check_only) {
		config_print(&m.conf, stdout);
		return 0;
	}

	if (log_stderr)
		log_init("master", LOG_TO_STDERR, NULL);
	else if (strcmp(m.conf.log, "syslog") == 0)
		log_init("master", LOG_TO_SYSLOG, NULL);
	else if (strcmp(m.conf.log, "stderr") == 0)
		log_init("master", LOG_TO_STDERR, NULL);
	else
		log_init("master", LOG_TO_FILE, m.conf.log);
	log_setlevel(m.conf.log_level);
	log_echo_stderr(true);

	as_root = geteuid() == 0;
	if (!as_root)
		log_info("not started as root: every process runs as uid %ld, without chroot",
		    (long)geteuid());
	setup_directories(&m.conf, as_root);
	check_pidfile(&m.conf);
	m.nlisten = setup_listeners(&m.conf, m.listen_fds);
	if (!m.foreground)
		daemonize();
	log_echo_stderr(false);
	setup_pidfile(&m.conf);
	setproctitle("master");
	signal(SIGPIPE, SIG_IGN);

	if ((m.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (size_t s = 0; s < sizeof(sigs) / sizeof(sigs[0]); s++) {
		ev = evsignal_new(m.base, sigs[s], signal_cb, &m);
		event_add(ev, NULL);
	}
	log_info("starting: delivery_mode=%s%s%s, resend_attempts=%u, resend_interval=%us, config %s",
	    m.conf.mode == MODE_RELAY ? "relay" : "independent",
	    m.conf.mode == MODE_RELAY ? ", relay_host=" : "",
	    m.conf.mode == MODE_RELAY ? m.conf.relay_host.host : "",
	    m.conf.resend_attempts, m.conf.resend_interval, path);
	if (m.conf.mode == MODE_RELAY && m.conf.nroutes > 0)
		log_info("relay mode: the %zu [routes] entries are ignored", m.conf.nroutes);
	control_init(&m);
	supervise_init(&m);
	supervise_start_all(&m);
	event_base_dispatch(m.base);
	remove_pidfile(&m.conf);
	log_info("stopped");
	return 0;
}
