/*
 * outpostctl.c - outpost's control tool (main and command table).
 *
 *   outpostctl check-config [FILE]   validate a configuration without starting anything
 *   outpostctl [-f FILE] COMMAND ...  talk to the running master over its control
 *                                     socket (root or admin_group only)
 *
 * The master or the queue manager does the work; this tool sends the
 * command, prints each answer line and exits with the status it is given.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "msg.h"

#define ANSWER_TIMEOUT_MS	60000

static const char *config_path = SYSCONFDIR "/outpost.conf";

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

static int
cmd_check_config(int argc, char **argv)
{
	struct config	 c;
	char		 err[8192];
	const char	*path = argc > 1 ? argv[1] : SYSCONFDIR "/outpost.conf";

	if (argc > 2) {
		fprintf(stderr, "usage: outpostctl check-config [FILE]\n");
		return 2;
	}
	if (config_load(&c, path, err, sizeof(err)) == -1) {
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
	{ "status", control_command, "status               the processes and the log level" },
	{ "log", control_command, "log basic|detailed   switch the log level at run time" },
	{ "reload", control_command, "reload               re-read the configuration" },
	{ "queue", control_command, "queue [--json]       list the queue" },
	{ "show", control_command, "show ID              envelope, state and content of a mail" },
	{ "flush", control_command, "flush [ID|@domain]   re-send now" },
	{ "delete", control_command, "delete ID|all        remove mail from the queue" },
	{ "hold", control_command, "hold ID              keep a mail from delivery" },
	{ "release", control_command, "release ID           release a held mail" },
	{ "bounce", control_command, "bounce ID            fail a mail now and bounce it" },
	{ "destinations", control_command, "destinations         traffic shaping: limits, throttling, unreachable hosts" },
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: outpostctl [-f config] COMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %s\n", commands[i].help);
	exit(2);
}

int
main(int argc, char **argv)
{
	if (getenv("OUTPOST_CONFIG") != NULL)
		config_path = getenv("OUTPOST_CONFIG");
	if (argc >= 3 && strcmp(argv[1], "-f") == 0) {
		config_path = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		usage();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "outpostctl: unknown command \"%s\"\n", argv[1]);
	usage();
}
