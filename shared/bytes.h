/* SPDX-License-Identifier: ISC */
/*
 * bytes.h - scans over mail content that run at memory speed: the queue
 * manager asks them of every octet it queues, the agent of every octet it
 * sends, so a loop with a test and a branch per octet shows up in the
 * profile of large mails.
 */
#ifndef OUTPOST_BYTES_H
#define OUTPOST_BYTES_H

#include <stdbool.h>
#include <stddef.h>

/* Does p[0, n) hold an octet >= 0x80? */
bool	mem_has_8bit(const void *p, size_t n);

#endif
