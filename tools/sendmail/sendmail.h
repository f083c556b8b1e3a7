/*
 * sendmail.h - private header of outpost-sendmail, the sendmail-compatible
 * injector (also run as "mailq").
 *
 *   sendmail.c          main: options, config, reading the message
 *   sendmail_submit.c   the public socket: SUBMIT_* and QUEUE_LIST
 *   sendmail_queue.c    printing a queue listing the way mailq does
 *
 * The message logic (recipients, headers) is in shared/localmail.c and
 * shared/mailhdr.c so that unit tests can link it.
 */
#ifndef OUTPOST_SENDMAIL_H
#define OUTPOST_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame;

/* A submission ready to be handed over. */
struct submission {
	const char	 *sender;	/* "" is <> */
	char		**rcpt;
	size_t		  nrcpt;
	const char	 *data;
	size_t		  len;
	uint32_t	  flags;	/* SUBMIT_F_* */
	bool		  verbose;
};

/* Hand a mail to the queue manager listening on path. Prints what went
 * wrong on stderr; returns a sysexits code (EX_OK once durably queued). */
int	submit_mail(const char *path, const struct submission *);

/* Ask the queue manager for the queue listing and print it (mailq). */
int	submit_list_queue(const char *path);

/* Listing output, one QUEUE_ENTRY frame at a time. */
void	queue_print_header(void);
int	queue_print_entry(struct frame *, uint64_t *size);	/* -1: malformed */
void	queue_print_footer(uint32_t nmails, uint64_t total_size);

#endif
