/* SPDX-License-Identifier: ISC */
/*
 * master.c - main of outpost: the root supervisor.
 *
 * It parses and checks the configuration, prepares the state directory and
 * the listening sockets as root, starts every child as a fresh image of this
 * binary (fork and exec: master_supervise.c, master_exec.c) and
 * then only routes signals: SIGTERM/SIGINT stop gracefully, SIGCHLD restarts,
 * SIGUSR1 reopens the log file. It never reads mail or queue data.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "config.h"
#include "config_locate.h"
#include "helo_default.h"
#include "log.h"
#include "master.h"
#include "version.h"

#define OVERRIDES_MAX	32

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Asked for (-h), the usage goes to stdout with success; after a mistake, to stderr. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: outpost [-dFhnRV] [-f config] [-o name=value ...]\n"
	    "  -d             stay in the foreground and log to stderr\n"
	    "  -F             stay in the foreground, log as configured (service managers)\n"
	    "  -f config      configuration file (default $OUTPOST_CONFIG, else\n"
	    "                 " SYSCONFDIR "/outpost.conf)\n"
	    "  -o name=value  override a parameter (after the file)\n"
	    "  -n             check the configuration, print it, and exit\n"
	    "  -R             print the reference of every parameter and exit\n"
	    "  -V, --version  print the version and exit\n"
	    "  -h, --help     print this help and exit\n");
	exit(status);
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
	const char	*path = NULL;
	int		 ch;
	bool		 check_only = false, as_root, log_stderr = false;
	char		 err[8192];
	struct event	*ev;
	const int	 sigs[] = { SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGHUP };

	setproctitle_init(argc, argv, environ);
	/* A child image started by the master: its role, nothing of the below. */
	if (argc > 1 && strcmp(argv[1], "-x") == 0)
		exec_child_main(argc, argv);
	m.conf_fd = -1;
	while ((ch = getopt_long(argc, argv, "dFf:hno:RV", long_opts, NULL)) != -1) {
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
				usage(2);
			m.overrides[m.noverrides++] = optarg;
			break;
		case 'R':
			config_print_reference(stdout);
			return 0;
		case 'V':
			version_print(stdout, "outpost");
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	path = config_locate(path);

	if (exec_config_load(&m, path, &m.conf, &m.conf_fd, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s", err);
		fprintf(stderr, "outpost: configuration %s is invalid\n", path);
		return 1;
	}
	/* The password lives in guarded memory, in this process and the agents only. */
	if (sodium_init() < 0 || (m.relay_password = sodium_malloc(RELAY_PASSWORD_MAX)) == NULL) {
		fprintf(stderr, "outpost: sodium_malloc failed\n");
		return 1;
	}
	if (secrets_load(&m.conf, m.relay_password, RELAY_PASSWORD_MAX, err,
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
	if (master_aliases_load(&m.conf, &m.aliases, err, sizeof(err)) == -1) {
		fprintf(stderr, "outpost: aliases:\n%s", err);
		return 1;
	}
	if (check_only) {
		/* what a start would refuse, short of binding and creating */
		if (setup_check_users(&m.conf, err, sizeof(err)) == -1) {
			fprintf(stderr, "outpost: %s\n", err);
			fprintf(stderr, "outpost: configuration %s is invalid\n", path);
			return 1;
		}
		if (!helo_is_qualified(m.conf.helo_name))
			fprintf(stderr, "outpost: warning: helo_name %s has no dot: many servers "
			    "refuse such a name; set helo_name or /etc/mailname to this host's "
			    "full name\n", m.conf.helo_name);
		config_print(&m.conf, stdout);
		return 0;
	}

	if (log_stderr)
		log_init("master", LOG_TO_STDERR, NULL);
	else if (strcmp(m.conf.log, "journal") == 0 ||
	    (strcmp(m.conf.log, "syslog") == 0 && journal_is_stderr())) {
		/* Under systemd the journal is the syslog: its own protocol keeps the fields. */
		journal_init();
		log_init("master", LOG_TO_JOURNAL, NULL);
	} else if (strcmp(m.conf.log, "syslog") == 0)
		log_init("master", LOG_TO_SYSLOG, NULL);
	else if (strcmp(m.conf.log, "stderr") == 0)
		log_init("master", LOG_TO_STDERR, NULL);
	else
		log_init("master", LOG_TO_FILE, m.conf.log);
	log_setlevel(m.conf.log_level);
	log_set_format(m.conf.log_format);
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
	log_info("starting: outpost %s, delivery_mode=%s%s%s, resend_attempts=%u, resend_interval=%us, config %s",
	    outpost_version(), m.conf.mode == MODE_RELAY ? "relay" : "independent",
	    m.conf.mode == MODE_RELAY ? ", relay_host=" : "",
	    m.conf.mode == MODE_RELAY ? m.conf.relay_host.host : "",
	    m.conf.resend_attempts, m.conf.resend_interval, path);
	if (!helo_is_qualified(m.conf.helo_name))
		log_warnx("helo_name %s has no dot: many servers refuse such a name in EHLO; "
		    "set helo_name or /etc/mailname to this host's full name", m.conf.helo_name);
	if (m.conf.mode == MODE_RELAY && m.conf.nroutes > 0)
		log_info("relay mode: the %zu [routes] entries are ignored", m.conf.nroutes);
	control_init(&m);
	metrics_init(&m);
	supervise_init(&m);
	supervise_start_all(&m);
	event_base_dispatch(m.base);
	remove_pidfile(&m.conf);
	log_info("stopped");
	return 0;
}
