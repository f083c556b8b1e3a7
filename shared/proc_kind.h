/* SPDX-License-Identifier: ISC */
/*
 * proc_kind.h - the kinds of outpost processes.
 */
#ifndef OUTPOST_PROC_KIND_H
#define OUTPOST_PROC_KIND_H

enum proc_kind {
	PROC_MASTER = 0,
	PROC_QMGR,
	PROC_SCHEDULER,
	PROC_RESOLVER,
	PROC_SMTPD,
	PROC_AGENT,
	PROC_SIGNER,		/* DKIM: the only process holding private keys */
	PROC_STS,		/* MTA-STS policy fetcher: network access, nothing else */
	PROC_KIND_MAX
};

const char	*proc_kind_name(int kind);

#endif
