/* SPDX-License-Identifier: ISC */
/*
 * config_locate.c - the one rule by which outpost, outpostctl,
 * outpost-sendmail and mailq find their instance, as Postfix's MAIL_CONFIG:
 * a file named with -f/-C wins, then $OUTPOST_CONFIG, then the system file.
 *
 * None of these programs is setuid, so the environment belongs to the
 * user who runs them: honouring it grants nothing the user could not do
 * with -f.
 */
#include <stdlib.h>

#include "config_locate.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/outpost"
#endif

const char *
config_locate(const char *given)
{
	const char	*env;

	if (given != NULL)
		return given;
	if ((env = getenv("OUTPOST_CONFIG")) != NULL && env[0] != '\0')
		return env;
	return SYSCONFDIR "/outpost.conf";
}
