/* SPDX-License-Identifier: ISC */
/*
 * outpostctl.h - commands of outpostctl that live in files of their own.
 */
#ifndef OUTPOST_OUTPOSTCTL_H
#define OUTPOST_OUTPOSTCTL_H

int	cmd_dkim_keygen(int argc, char **argv);	/* dkim_keygen.c */

#endif
