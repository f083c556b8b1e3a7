/* SPDX-License-Identifier: ISC */
/*
 * outpostctl.c - outpost's control tool (main and command table).
 *
 *   outpostctl check-config [FILE]   validate a configuration without starting anything
 *   outpostctl dkim-keygen DOMAIN SELECTOR [rsa|ed25519]   a DKIM key and its TXT record
 *   outpostctl [-f FILE] [-o name=value] COMMAND ...
 *                                     talk to the running master over its control
 *                                     socket (root or admin_group only)
 *
 * The instance is found as every outpost program finds it (config_locate.c):
 * -f, then $OUTPOST_CONFIG, then the system file; -o overrides a parameter
 * of that file (state_directory is the one that matters here).
 *
 * The master or the queue manager does the work; this tool sends the
 * command, prints each answer line and exits with the status it is given.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_locate.h"
#include "frame.h"
#include "msg.h"
#include "version.h"
#include "outpostctl.h"

#define ANSWER_TIMEOUT_MS	60000
#define OVERRIDES_MAX		32

static const char	*config_path;
static const char	*overrides[OVERRIDES_MAX];
static int		 noverrides;

/* The -o overrides, after the file; an error in one is fatal (the user typed it). */
static int
apply_overrides(struct config *c)
{
	char	err[4096];

	if (config_overrides(c, overrides, noverrides, err, sizeof(err)) == -1) {
		fputs(err, stderr);
		if (err[0] != '\0' && err[strlen(err) - 1] != '\n')
			fputc('\n', stderr);
		return -1;
	}
	return 0;
}

static int
control_command(int argc, char **argv)
{
	struct config		 c;
	struct sockaddr_un	 sun;
	struct fbuf		*fb;
	struct frame		 f;
	const char		*why = NULL;
	char			 err[8192], line[FRAME_MAX];
	static uint8_t		 buf[FRAME_MAX];
	uint8_t			 status;
	int			 s, r;

	if (config_load(&c, config_path, err, sizeof(err)) == -1) {
		/* A broken file still names the state directory (reload reports the errors). */
		fputs(err, stderr);
		if (c.state_directory[0] != '/')
			return 1;
		fprintf(stderr, "outpostctl: %s has errors; using state_directory %s\n",
		    config_path, c.state_directory);
	}
	if (apply_overrides(&c) == -1) {
		config_free(&c);
		return 1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	config_control_socket(&c, sun.sun_path, sizeof(sun.sun_path));
	config_free(&c);
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "outpostctl: cannot reach outpost at %s: %s\n", sun.sun_path,
		    strerror(errno));
		return 1;
	}
	fb = fbuf_new(MSG_CONTROL_REQUEST, 1);
	fbuf_add_str(fb, argv[0]);
	fbuf_add_u32(fb, (uint32_t)(argc - 1));
	for (int i = 1; i < argc; i++)
		fbuf_add_str(fb, argv[i]);
	if (fb->overflow || frame_send(s, fb) == -1) {
		fprintf(stderr, "outpostctl: cannot send the command: %s\n", strerror(errno));
		fbuf_free(fb);
		return 1;
	}
	fbuf_free(fb);
	for (;;) {
		struct pollfd pfd = { s, POLLIN, 0 };
		if (poll(&pfd, 1, ANSWER_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "outpostctl: no answer from outpost\n");
			return 1;
		}
		r = frame_recv(s, buf, &f, &why);
		if (r == -1 && errno == EAGAIN)
			continue;
		if (r == 0 || r == -1) {
			fprintf(stderr, "outpostctl: outpost closed the connection (not root or "
			    "admin_group?)\n");
			return 1;
		}
		if (r == -2) {
			fprintf(stderr, "outpostctl: malformed answer: %s\n", why);
			return 1;
		}
		if (f.fd != -1)
			close(f.fd);
		if (f.hdr.type == MSG_CONTROL_REPLY) {
			if (!frame_get_str(&f, line, sizeof(line)))
				return 1;
			puts(line);
			continue;
		}
		if (f.hdr.type == MSG_CONTROL_END) {
			if (!frame_get_u8(&f, &status) || !frame_get_str(&f, line, sizeof(line)))
				return 1;
			if (line[0] != '\0')
				fprintf(status == 0 ? stdout : stderr, "%s%s\n",
				    status == 0 ? "" : "outpostctl: ", line);
			return status == 0 ? 0 : 1;
		}
		fprintf(stderr, "outpostctl: unexpected %s answer\n", msg_name(f.hdr.type));
		return 1;
	}
}

/*
 * hold|release|delete|flush|bounce - : the queue ids on standard input, one a
 * line, as postsuper takes them; each is one command, and the exit status
 * says whether every one succeeded.
 */
static int
ids_command(int argc, char **argv)
{
	char	*line = NULL, *args[2];
	size_t	 cap = 0;
	ssize_t	 n;
	int	 failed = 0, done = 0;

	if (argc != 2 || strcmp(argv[1], "-") != 0)
		return control_command(argc, argv);
	while ((n = getline(&line, &cap, stdin)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
		    line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		args[0] = argv[0];
		args[1] = line;
		if (control_command(2, args) != 0)
			failed++;
		done++;
	}
	free(line);
	if (done == 0) {
		fprintf(stderr, "outpostctl: no queue ids on standard input\n");
		return 1;
	}
	return failed ? 1 : 0;
}

static int
cmd_check_config(int argc, char **argv)
{
	struct config	 c;
	char		 err[8192] = "";
	/* FILE, else the file of -f (or OUTPOST_CONFIG), else the default */
	const char	*path = argc > 1 ? argv[1] : config_path;

	if (argc > 2) {
		fprintf(stderr, "usage: outpostctl check-config [FILE]\n");
		return 2;
	}
	if (config_load(&c, path, err, sizeof(err)) == -1 || apply_overrides(&c) == -1) {
		fputs(err, stderr);
		fprintf(stderr, "%s: invalid\n", path);
		config_free(&c);
		return 1;
	}
	printf("%s: valid (delivery_mode=%s, %zu route%s%s)\n", path,
	    c.mode == MODE_RELAY ? "relay" : "independent", c.nroutes, c.nroutes == 1 ? "" : "s",
	    c.mode == MODE_RELAY && c.nroutes > 0 ? ", ignored in relay mode" : "");
	config_free(&c);
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*help;
} commands[] = {
	{ "check-config", cmd_check_config, "check-config [FILE]  validate a configuration" },
	{ "status", control_command, "status               processes (pid, restarts, RSS, CPU), queue, delivery rate" },
	{ "trace", control_command, "trace [SEL [MIN]]    detailed logging for a queue id, @domain, address or client:IP only; "
	    "trace off SEL|all" },
	{ "log", control_command, "log basic|detailed   switch the log level at run time" },
	{ "reload", control_command, "reload               re-read the configuration" },
	{ "queue", control_command, "queue [--json] [@domain]   list the queue (of one domain)" },
	{ "queue", control_command, "queue --summary [--json]   domain x age table (like qshape)" },
	{ "show", control_command, "show ID              envelope, state and content of a mail" },
	{ "flush", ids_command, "flush [ID|@domain|all|-]   re-send now" },
	{ "delete", ids_command, "delete ID|@domain|all|-    remove mail from the queue" },
	{ "hold", ids_command, "hold ID|@domain|all|-      keep mail from delivery" },
	{ "release", ids_command, "release ID|@domain|all|-   release held mail" },
	{ "bounce", ids_command, "bounce ID|-          fail a mail now and bounce it" },
	/* "-": the ids on standard input, one a line */
	{ "route", control_command, "route ADDRESS        where mail to ADDRESS would go (relay, MX, addresses, TLS)" },
	{ "dkim-keygen", cmd_dkim_keygen,
	  "dkim-keygen [-d DIR] DOMAIN SELECTOR [rsa|ed25519]  new DKIM key and its TXT record" },
	{ "sts", control_command, "sts [DOMAIN]         cached MTA-STS policies and their expiry" },
	{ "tlsrpt", control_command, "tlsrpt [send]        TLS-RPT counters of today; send: the reports now" },
	{ "destinations", control_command, "destinations         traffic shaping: limits, throttling, unreachable hosts" },
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Asked for (-h), the usage goes to stdout with success; after a mistake, to stderr. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE	*fp = status == 0 ? stdout : stderr;

	fprintf(fp, "usage: outpostctl [-hV] [-f config] [-o name=value ...] COMMAND [ARGS]\n"
	    "  -f config      the instance's configuration (default $OUTPOST_CONFIG, else\n"
	    "                 " SYSCONFDIR "/outpost.conf)\n"
	    "  -o name=value  override a parameter of that file\n"
	    "  -V, --version  print the version and exit\n"
	    "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %s\n", commands[i].help);
	exit(status);
}

int
main(int argc, char **argv)
{
	int	ch;

	/* '+': options end at the command, whose own arguments may start with '-'. */
	while ((ch = getopt_long(argc, argv, "+f:ho:V", long_opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			config_path = optarg;
			break;
		case 'o':
			if (noverrides == OVERRIDES_MAX)
				usage(2);
			overrides[noverrides++] = optarg;
			break;
		case 'V':
			version_print(stdout, "outpostctl");
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	config_path = config_locate(config_path);
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 2)
		usage(2);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "outpostctl: unknown command \"%s\"\n", argv[1]);
	usage(2);
}
