/* SPDX-License-Identifier: ISC */
/*
 * smtpd.h - private header of the smtpd process (the SMTP submission
 * listener). Only files under daemons/smtpd/ and their tests include it.
 *
 *   smtpd.c          process entry, listeners, the link to qmgr
 *   smtpd_session.c  one client connection: socket I/O, input loop, replies
 *   smtpd_command.c  what each command does in each session state
 *   smtpd_txn.c      a mail transaction towards qmgr: DATA, commit, answers
 *   smtpd_cmd.c      parsing one command line (pure, fuzzed)
 *   smtpd_data.c     the DATA byte stream: end marker, dot-unstuffing, limits (pure)
 *   smtpd_received.c the Received: header (pure)
 *   smtpd_limit.c    per-client-address connection count and rate
 *   smtpd_trace.c    a session's detailed lines and outpostctl trace
 */
#ifndef OUTPOST_SMTPD_H
#define OUTPOST_SMTPD_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"

struct bufferevent;
struct chan;
struct config;
struct event;
struct event_base;
struct frame;
struct proc_ctx;

#define SMTPD_CMD_MAX		512	/* command line with CRLF, RFC 5321 4.5.3.1.4 */
#define SMTPD_TEXT_MAX		1000	/* text line with CRLF, RFC 5321 4.5.3.1.6 */
#define SMTPD_CHUNK		(64 * 1024)	/* DATA bytes per SUBMIT_DATA frame */
#define SMTPD_QMGR_BACKLOG	(512 * 1024)	/* stop reading a client above this */
#define SMTPD_INPUT_MAX		(128 * 1024)	/* socket bytes buffered per session */
#define SMTPD_OUTPUT_MAX	(64 * 1024)	/* replies buffered before we stop reading */
#define SMTPD_MAX_ERRORS	20	/* protocol errors before we hang up */
#define SMTPD_CMD_TIMEOUT	300	/* RFC 5321 4.5.3.2.7; client_idle_timeout's default */
#define SMTPD_DATA_TIMEOUT	180	/* RFC 5321 4.5.3.2.5 */
#define SMTPD_COMMIT_TIMEOUT	600	/* waiting for qmgr after the final dot */
#define SMTPD_SHUTDOWN_WAIT	10	/* seconds sessions get to finish on shutdown */
#define SMTPD_DEFAULT_SESSIONS	100

/* ---- smtpd_cmd.c ---- */

enum smtp_verb {
	CMD_UNKNOWN = 0,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_HELP,
	CMD_NOTIMPL,		/* known verbs we do not offer: EXPN, BDAT, ... */
};

enum smtp_body { BODY_NONE = 0, BODY_7BIT, BODY_8BITMIME };

/* A reply for a command that could not be parsed. */
struct smtp_reply {
	uint16_t	 code;
	const char	*dsn;
	char		 text[256];
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*name;		/* the verb in upper case, for logs */
	const char	*arg;		/* points into the line: after the verb and its space */
	/* MAIL and RCPT */
	struct addr_path path;
	uint64_t	 size;		/* SIZE=, when size_set */
	bool		 size_set;
	enum smtp_body	 body;
};

/*
 * Parse one command line (CRLF already removed; line[len] == '\0').
 * Returns 0 with cmd filled, or -1 with err holding the reply to send.
 * cmd->arg and cmd->path.params point into line.
 */
int	smtpd_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
	    struct smtp_reply *err);

/* ---- smtpd_data.c ---- */

enum data_error {
	DATA_OK = 0,
	DATA_TOO_BIG,		/* more than max_size octets */
	DATA_LINE_TOO_LONG,	/* a line over SMTPD_TEXT_MAX octets */
	DATA_BARE_LF,		/* LF without CR, or CR without LF */
};

struct data_state {
	int		 st;		/* position in the line (smtpd_data.c) */
	size_t		 line_len;	/* octets of the current line as received */
	uint64_t	 size;		/* message octets after unstuffing */
	uint64_t	 max_size;	/* 0: no limit */
	enum data_error	 error;		/* the first error; output stops there */
	bool		 done;		/* CRLF.CRLF seen */
};

void	data_init(struct data_state *, uint64_t max_size);
/*
 * Consume received octets. The unstuffed message goes to out (up to
 * outcap; nothing more is written once an error is set). Stops at the
 * end marker (done), at the end of the input, or when out is nearly full.
 * Returns the number of input octets consumed; *outlen grows.
 */
size_t	data_feed(struct data_state *, const uint8_t *in, size_t inlen,
	    uint8_t *out, size_t outcap, size_t *outlen);
/* The reply for an error at the end of DATA. */
void	data_error_reply(enum data_error, uint64_t max_size, struct smtp_reply *);

/* ---- smtpd_received.c ---- */

/*
 * The Received: header opening a submitted message, folded, CRLF-ended.
 * helo is the client's (sanitized here), ip the printable client address
 * (v4 or v6), rcpt the only recipient or NULL. Returns the length written
 * (always < len for len >= 1024), or 0 if it did not fit.
 */
size_t	smtpd_received(char *buf, size_t len, const char *helo, bool esmtp,
	    const char *ip, int family, const char *myname, const char *id,
	    const char *rcpt, time_t now);
/* RFC 5322 date-time in UTC ("Wed, 26 Nov 2025 06:26:00 +0000"). */
/* Copy a client-given string for logs and headers: printable ASCII only. */
void	smtpd_sanitize(char *dst, size_t len, const char *src);

/* ---- smtpd_limit.c ---- */

/*
 * May a new connection from ip be served? NULL (counted: call
 * limit_release() when it ends), or the limit it hit, written into why.
 */
const char *limit_admit(const struct config *, const char *ip, char *why, size_t len);
void	limit_release(const struct config *, const char *ip);

/* ---- smtpd_session.c, smtpd.c ---- */

enum session_state {
	SS_GREETED = 0,		/* before HELO/EHLO */
	SS_READY,		/* after HELO/EHLO, no transaction */
	SS_MAIL,		/* MAIL accepted */
	SS_RCPT,		/* at least one RCPT accepted */
	SS_DATA,		/* reading the message */
	SS_COMMIT,		/* final dot seen, waiting for qmgr */
	SS_CLOSING,		/* flushing the last reply */
};

struct smtpd_session {
	TAILQ_ENTRY(smtpd_session) entry;
	struct smtpd		*sd;
	struct bufferevent	*bev;
	struct event		*timer;		/* throttle poll and commit timeout */
	struct event		*flush;		/* writes replies once the input is handled */
	char			 id[24];	/* session id, hex */
	char			 ip[64];	/* client address, printable */
	int			 family;
	uint16_t		 port;
	char			 helo[256];	/* sanitized HELO/EHLO argument */
	bool			 esmtp;
	enum session_state	 state;
	unsigned		 nerrors;
	unsigned		 njunk;		/* NOOP RSET VRFY HELP, unknown, since the last mail */
	unsigned		 ntxn;		/* transactions started */
	bool			 skip_line;	/* discarding an overlong command line */
	unsigned		 pause;		/* PAUSE_*: input not processed now */

	/* the transaction */
	char			 txid[40];	/* session id + transaction number */
	char			 sender[ADDR_PATH_MAX];
	uint32_t		 flags;		/* SUBMIT_F_* */
	char			**rcpts;
	size_t			 nrcpt;
	unsigned		 rcpt_tried;	/* RCPT commands, accepted or not */
	uint32_t		 reqid;		/* 0: nothing sent to qmgr */
	struct chan		*txn_chan;	/* the qmgr link the transaction went to */
	bool			 txn_lost;	/* that link died during DATA */
	struct data_state	 data;
	uint8_t			*chunk;		/* SMTPD_CHUNK octets, during DATA */
	size_t			 chunklen;

	/* outpostctl trace (smtpd_trace.c) */
	bool			 traced;	/* detailed lines written, whatever the level */
	struct smtpd_trace_buf	*tbuf;		/* lines kept until MAIL/RCPT match a trace */
};

/* ---- smtpd_trace.c ---- */

#define SMTPD_TRACE_LINES	64	/* lines kept per session before a match */
#define SMTPD_TRACE_BYTES	8192	/* and octets */

/* At connect: is the client traced ("client:IP")? */
void	smtpd_trace_start(struct smtpd_session *);
/* Would a detailed line of this session be written or kept? */
bool	smtpd_trace_on(const struct smtpd_session *);
/* A detailed line: written (detailed level, traced) or kept (an address trace is active). */
void	smtpd_detail(struct smtpd_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* MAIL FROM or RCPT TO named addr: if traced, the session is from now on. */
void	smtpd_trace_match(struct smtpd_session *, const char *addr);
void	smtpd_trace_free(struct smtpd_session *);

#define PAUSE_OUTPUT	0x01	/* the client is not reading its replies */
#define PAUSE_QMGR	0x02	/* qmgr has not taken the data sent so far */
#define PAUSE_COMMIT	0x04	/* waiting for qmgr's answer to the commit */

TAILQ_HEAD(smtpd_sessions, smtpd_session);

struct smtpd {
	struct event_base	*base;
	const struct config	*conf;
	struct proc_ctx		*ctx;		/* NULL in unit tests */
	struct event		*listen_ev[8];
	unsigned		 nlisten;
	struct event		*accept_pause;	/* after EMFILE */
	struct event		*stop_ev;	/* shutdown deadline */
	struct chan		*qmgr;		/* NULL while qmgr is away */
	struct smtpd_sessions	 sessions;
	unsigned		 nsessions;
	unsigned		 max_sessions;
	uint32_t		 next_reqid;
	bool			 stopping;
	bool			 space_low;	/* qmgr: the queue is below queue_min_free */
	uint64_t		 space_headroom; /* qmgr: bytes above the reserve */
};

void	smtpd_main(struct proc_ctx *);

/* smtpd.c: set up without a proc_ctx (tests). */
void	smtpd_init(struct smtpd *, struct event_base *, const struct config *);
void	smtpd_listen(struct smtpd *, int fd);
/* Adopt a link to qmgr (first one, or a new one after a restart). */
void	smtpd_qmgr_link(struct smtpd *, int fd);
void	smtpd_stop(struct smtpd *);
uint32_t smtpd_reqid(struct smtpd *);

/* smtpd_session.c */
void	session_reply(struct smtpd_session *, uint16_t code, const char *dsn,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A refusal worth a basic-level log line (MAIL, RCPT, DATA, the message). */
void	session_reject(struct smtpd_session *, const char *what, uint16_t code,
	    const char *dsn, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Flush what was written, then close. */
void	session_close(struct smtpd_session *);
void	session_pause(struct smtpd_session *, unsigned why);
void	session_resume(struct smtpd_session *, unsigned why);
void	session_set_timeout(struct smtpd_session *, int seconds);
/* A connection accepted from sa: greets, or refuses and closes. Takes fd. */
void	session_accept(struct smtpd *, int fd, const struct sockaddr *, socklen_t);
void	session_free(struct smtpd_session *);
/* qmgr answered the commit of reqid (queued: id != NULL; else code/dsn/text). */
void	session_qmgr_answer(struct smtpd_session *, const char *queue_id,
	    uint16_t code, const char *dsn, const char *text);
/* The link c to qmgr is gone: fail what was sent over it. */
void	session_qmgr_lost(struct smtpd_session *, struct chan *c);
/* Stop after the current transaction (shutdown). */
void	session_stop(struct smtpd_session *);
/* smtpd_command.c: one complete command line (CRLF removed, NUL-terminated). */
void	session_command(struct smtpd_session *, char *line, size_t len);

/* smtpd_txn.c */
/* DATA accepted by the dialogue: open the transaction at qmgr. 0 or -1 (replied). */
int	txn_begin(struct smtpd_session *);
/* Consume DATA input. Returns 1 to go on, 0 when more input (or qmgr) is needed. */
int	txn_data(struct smtpd_session *);
/* Forget the transaction (ABORT to qmgr if it had begun). */
void	txn_reset(struct smtpd_session *);
/* The session timer: qmgr backlog poll during DATA, commit timeout after. */
void	txn_timer(int, short, void *);

/* smtpd.c: a session ended (the stop may complete). */
void	smtpd_session_gone(struct smtpd *);

#endif
