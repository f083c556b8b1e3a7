/* SPDX-License-Identifier: ISC */
/*
 * trace.h - which work is traced (outpostctl trace): detailed lines for just
 * those mails or destinations, for a bounded time, while everything else
 * stays at the basic level.
 *
 * The master keeps the list and sends all of it to the children that do the
 * work (MSG_CTL_TRACE) whenever it changes; a child asks trace_wants() when
 * work starts and marks it with log_trace() (log.h) while it runs. smtpd
 * traces incoming sessions (smtpd_trace.c): a whole session from its connect
 * for "client:IP", or from MAIL FROM / RCPT TO for an address or @domain.
 */
#ifndef OUTPOST_TRACE_H
#define OUTPOST_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define TRACE_MAX	32	/* traces active at once */
#define TRACE_SEL_MAX	256	/* a queue id, "@domain", an address, "client:IP" */
#define TRACE_CLIENT	"client:"	/* prefix of a client address selector */

struct frame;

/* Replace the set from a MSG_CTL_TRACE frame; false if malformed. */
bool	trace_frame(struct frame *);
/* Is this selector well formed (queue id, @domain, local@domain, client:IP)? */
bool	trace_selector_ok(const char *);
/* Any active trace for this mail (qid), destination domain, or address? Each may be NULL. */
bool	trace_wants(const char *qid, const char *domain, const char *addr);
/* Any active "client:IP" trace for this client address (smtpd's sessions)? */
bool	trace_wants_client(const char *ip);
/* Any active @domain or address trace (smtpd then keeps a session's lines until MAIL/RCPT)? */
bool	trace_any_address(void);
/* Number of traces active now. */
unsigned trace_count(void);

#endif
