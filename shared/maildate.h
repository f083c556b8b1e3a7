/* SPDX-License-Identifier: ISC */
/*
 * maildate.h - dates as RFC 5322 writes them, for Received:, Date: and DSN
 * fields (smtpd, qmgr, the DSN builder).
 */
#ifndef OUTPOST_MAILDATE_H
#define OUTPOST_MAILDATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * "Tue, 29 Feb 2000 00:00:00 +0000". Always UTC and never the C locale's
 * names: chrooted processes have no zone files, and UTC is never wrong.
 * A time past the year 9999 is not a real one and is written as the epoch.
 */
void	maildate(uint64_t t, char *buf, size_t len);

#endif
