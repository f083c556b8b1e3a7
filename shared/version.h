/* SPDX-License-Identifier: ISC */
/*
 * version.h - the one version of outpost (the VERSION file, given to the
 * compiler by the Makefile) and the -V/--version line every program prints.
 */
#ifndef OUTPOST_VERSION_H
#define OUTPOST_VERSION_H

#include <stdio.h>

const char	*outpost_version(void);
void		 version_print(FILE *, const char *prog);

#endif
