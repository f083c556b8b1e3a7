/* SPDX-License-Identifier: ISC */
/*
 * trace.h - which work is traced (outpostctl trace): detailed lines for just
 * those mails or destinations, for a bounded time, while everything else
 * stays at the basic level.
 *
 * The master keeps the list and sends all of it to the children that do the
 * work (MSG_CTL_TRACE) whenever it changes; a child asks trace_wants() when
 * work starts and marks it with log_trace() (log.h) while it runs.
 */
#ifndef OUTPOST_TRACE_H
#define OUTPOST_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define TRACE_MAX	32	/* traces active at once */
#define TRACE_SEL_MAX	256	/* a queue id, "@domain" or an address */

struct frame;

/* Replace the set from a MSG_CTL_TRACE frame; false if malformed. */
bool	trace_frame(struct frame *);
/* Is this selector well formed (queue id, @domain, local@domain)? */
bool	trace_selector_ok(const char *);
/* Any active trace for this mail (qid), destination domain, or address? Each may be NULL. */
bool	trace_wants(const char *qid, const char *domain, const char *addr);
/* Number of traces active now. */
unsigned trace_count(void);

#endif
