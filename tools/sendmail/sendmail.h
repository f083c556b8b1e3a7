/* SPDX-License-Identifier: ISC */
/*
 * sendmail.h - private header of outpost-sendmail, the sendmail-compatible
 * injector (also run as "mailq").
 *
 *   sendmail.c          main: options, config, reading the message
 *   sendmail_submit.c   the public socket: SUBMIT_* and QUEUE_LIST
 *   sendmail_queue.c    printing a queue listing the way mailq does
 *   sendmail_smtp.c     -bs: an SMTP session on standard input and output
 *   sendmail_control.c  the master's control socket (-bi reload, -bv route)
 *   sendmail_aliases.c  -bi, newaliases: checking the aliases file
 *   sendmail_route.c    -bv, -bt: where a mail to an address would go
 *
 * The message logic (recipients, headers) is in shared/localmail.c and
 * shared/mailhdr.c so that unit tests can link it.
 */
#ifndef OUTPOST_SENDMAIL_H
#define OUTPOST_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config;
struct frame;
struct fbuf;

/* What the queue manager answered (filled when submission.result is set). */
struct submit_result {
	uint16_t	 code;		/* 0: no refusal from the queue manager */
	char		 enh[16];
	char		 text[1024];
	char		 id[32];	/* queue id once queued */
};

/* A submission ready to be handed over. */
struct submission {
	const char	 *sender;	/* "" is <> */
	char		**rcpt;
	size_t		  nrcpt;
	const char	 *data;
	size_t		  len;
	uint32_t	  flags;	/* SUBMIT_F_* */
	bool		  verbose;
	struct submit_result *result;	/* NULL: only the exit code matters */
};

/* The blocking SEQPACKET helpers towards the queue manager (sendmail_submit.c). what names the peer
 * in messages; errors are printed on stderr. */
int	sm_connect(const char *path, const char *what);
int	sm_send_frame(int s, struct fbuf *);
int	sm_recv_frame(int s, uint8_t *buf, struct frame *, const char *what);

/* Hand a mail to the queue manager listening on path. Prints what went
 * wrong on stderr; returns a sysexits code (EX_OK once durably queued). */
int	submit_mail(const char *path, const struct submission *);

/* Ask the queue manager for the queue listing and print it (mailq). */
int	submit_list_queue(const char *path);

/* Listing output, one QUEUE_ENTRY frame at a time. */
void	queue_print_header(void);
int	queue_print_entry(struct frame *, uint64_t *size);	/* -1: malformed */
void	queue_print_footer(uint32_t nmails, uint64_t total_size);

/* Local names: myorigin as configured (falls back to helo_name with a warning). */
void	sm_myorigin(const struct config *, char *out, size_t outlen);

/* -bs: serve one SMTP session on stdin/stdout; returns the exit code. */
int	smtp_stdio(const struct config *, const char *sockpath);

/*
 * Run one command on the master's control socket; reply lines go to out.
 * Returns 0 (done), 1 (failed: msg says why), -1 (cannot reach: errno
 * kept, EACCES/EPERM when not permitted) or -2 (the link broke).
 */
int	control_run(const struct config *, const char *cmd, int argc, char **argv, FILE *out,
	    char *msg, size_t msglen);

/* -bi, newaliases: check the aliases file, ask outpost to reload it. */
int	newaliases(const struct config *);

/* -bv, -bt: describe where mail to each address would go. */
int	route_addresses(const struct config *, int argc, char **argv);

#endif
