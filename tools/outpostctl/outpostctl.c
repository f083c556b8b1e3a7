/*
 * outpostctl.c - outpost's control tool (main and command table).
 *
 *   outpostctl check-config [FILE]   validate a configuration without starting anything
 *
 * Commands that act on a running outpost talk to it over its sockets; they
 * are added to the table below as they exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

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
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: outpostctl COMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %s\n", commands[i].help);
	exit(2);
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "outpostctl: unknown command \"%s\"\n", argv[1]);
	usage();
}
