/* SPDX-License-Identifier: ISC */
/*
 * version.c - outpost's version string. Only this file is compiled with
 * -DOUTPOST_VERSION (read from the VERSION file by the Makefile), so a new
 * version rebuilds one object and every program reports the same one.
 */
#include <stdio.h>

#include "version.h"

#ifndef OUTPOST_VERSION
#error "OUTPOST_VERSION must come from the Makefile (the VERSION file)"
#endif

const char *
outpost_version(void)
{
	return OUTPOST_VERSION;
}

void
version_print(FILE *fp, const char *prog)
{
	fprintf(fp, "%s (outpost) %s\n", prog, OUTPOST_VERSION);
}
