/* SPDX-License-Identifier: ISC */
/*
 * config_locate.h - which configuration file a program reads when it is
 * not named on the command line.
 */
#ifndef OUTPOST_CONFIG_LOCATE_H
#define OUTPOST_CONFIG_LOCATE_H

const char	*config_locate(const char *given);

#endif
