/* SPDX-License-Identifier: ISC */
/*
 * sendmail_aliases.c - newaliases (argv[0]) and -bi: check the aliases
 * file named by the configuration, every problem with its line number,
 * then ask the running outpost to reload (the master reads the file and
 * hands the table to the queue manager). There is no database to build:
 * outpost reads the text file itself.
 *
 * Exit: 0 checked and reloaded (or outpost not running: it reads the file
 * when it starts); EX_DATAERR the file has errors; EX_NOINPUT it cannot be
 * read; EX_CONFIG no aliases file configured; EX_NOPERM checked but not permitted to reload;
 * EX_TEMPFAIL the reload failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include "aliases.h"
#include "config.h"
#include "sendmail.h"

int
newaliases(const struct config *c)
{
	struct aliases a;
	char myorigin[256], err[8192], msg[4096];
	int r;

	if (c->aliases[0] == '\0') {
		fprintf(stderr, "%s: no aliases file configured (set aliases = /etc/aliases in "
		    "%s)\n", getprogname(), c->path);
		return EX_CONFIG;
	}
	sm_myorigin(c, myorigin, sizeof(myorigin));
	if (access(c->aliases, R_OK) == -1) {
		fprintf(stderr, "%s: %s: %s\n", getprogname(), c->aliases, strerror(errno));
		return EX_NOINPUT;
	}
	if (aliases_load(&a, c->aliases, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s", err);
		fprintf(stderr, "%s: %s has errors: not reloaded\n", getprogname(), c->aliases);
		return EX_DATAERR;
	}
	if (aliases_check(&a, c->aliases, myorigin, c->local_redirect, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s", err);
		fprintf(stderr, "%s: %s has errors: not reloaded\n", getprogname(), c->aliases);
		aliases_free(&a);
		return EX_DATAERR;
	}
	printf("%s: %zu aliases\n", c->aliases, a.n);
	aliases_free(&a);

	r = control_run(c, "reload", 0, NULL, stdout, msg, sizeof(msg));
	if (r == 0) {
		printf("%s: outpost reloaded\n", getprogname());
		return EX_OK;
	}
	if (r == -1 && (errno == ENOENT || errno == ECONNREFUSED)) {
		printf("%s: outpost is not running; it reads the file when it starts\n",
		    getprogname());
		return EX_OK;
	}
	if (r == -1 && (errno == EACCES || errno == EPERM)) {
		fprintf(stderr, "%s: the file is fine, but only root and admin_group may ask "
		    "outpost to reload it (%s)\n", getprogname(), msg);
		return EX_NOPERM;
	}
	fprintf(stderr, "%s: reload failed: %s\n", getprogname(), msg);
	return EX_TEMPFAIL;
}
