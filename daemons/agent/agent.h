/* SPDX-License-Identifier: ISC */
/*
 * agent.h - private header of the SMTP delivery agent (daemons/agent).
 *
 * An agent process receives MSG_AGENT_DELIVER jobs from the scheduler, runs
 * many SMTP client sessions at once in one libevent loop, and answers each
 * job with exactly one MSG_AGENT_RESULT. It never opens files and never
 * resolves names: content arrives as a read-only descriptor, destinations as
 * addresses.
 *
 *   agent.c          entry point, scheduler link, job admission, shutdown
 *   agent_job.c      job decoding (MSG_AGENT_DELIVER) and result encoding
 *   agent_session.c  one SMTP client connection: the RFC 5321 state machine
 *   agent_reply.c    bounded parser of SMTP replies (pure, fuzzed)
 *   agent_ehlo.c     EHLO capability parsing (pure)
 *   agent_data.c     DATA encoding: CRLF, dot-stuffing, line limits (pure)
 *   agent_timeout.c  the RFC 5321 §4.5.3.2 timeouts, one table
 *   agent_tls.c      OpenSSL: the client context (made before chroot), SSL per
 *                    connection, session resumption cache, log summaries
 *   agent_auth.c     SMTP AUTH credentials (wiped memory), PLAIN/LOGIN, masking
 *   agent_dane.c     DANE (RFC 7672): per-address policy and TLSA records from
 *                    the job, handed to OpenSSL's own DANE verification
 */
#ifndef OUTPOST_AGENT_H
#define OUTPOST_AGENT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dane.h"
#include "msg.h"

#include <event2/util.h>

struct proc_ctx;
struct chan;
struct event;
struct bufferevent;
struct frame;
struct fbuf;
struct config;

/* ------------------------------------------------------------------ */
/* agent_reply.c: SMTP replies, RFC 5321 §4.2                          */

/*
 * Bounds a hostile server cannot exceed. RFC 5321 §4.5.3.1.5 allows 512
 * octets per reply line; we accept four times that for sloppy servers.
 */
#define REPLY_LINE_MAX		2048
#define REPLY_TOTAL_MAX		(64 * 1024)	/* all lines of one reply */
#define REPLY_LINES_MAX		256

enum reply_status {
	REPLY_ERROR = -1,	/* malformed or oversize: r->error says why */
	REPLY_MORE = 0,		/* a continuation line was read, more to come */
	REPLY_DONE = 1,		/* the last line was read */
};

struct reply {
	int		 code;		/* 200..559 */
	char		 dsn[DSN_MAX];	/* enhanced status, or derived "X.0.0" */
	bool		 has_dsn;	/* dsn came from the server */
	char		 text[REPLY_MAX]; /* "250 text of line 1 text of line 2", printable */
	size_t		 textlen;
	char		*lines;		/* each line's text, NUL-terminated, one after another */
	size_t		 lineslen;
	size_t		 linescap;
	unsigned	 nlines;
	size_t		 total;		/* bytes of this reply so far */
	bool		 done;
	const char	*error;		/* static string when REPLY_ERROR */
};

void	reply_init(struct reply *);
void	reply_reset(struct reply *);	/* ready for the next reply, keeps the buffer */
void	reply_free(struct reply *);
/* One line without its line ending (a trailing CR is removed). */
int	reply_feed_line(struct reply *, const char *line, size_t len);
/*
 * Feed raw bytes; consumes whole lines up to the end of one reply.
 * *used tells how many bytes were consumed. REPLY_MORE with a partial line
 * left over means "need more bytes" (an overlong partial line is an error).
 */
int	reply_feed(struct reply *, const char *buf, size_t len, size_t *used);
/* Iterate the stored line texts: pass NULL first. */
const char *reply_next_line(const struct reply *, const char *prev);
/* 2, 4 or 5. */
static inline int reply_class(const struct reply *r) { return r->code / 100; }

/* ------------------------------------------------------------------ */
/* agent_ehlo.c: ESMTP capabilities                                    */

struct ehlo_caps {
	bool		 esmtp;		/* EHLO accepted (else HELO) */
	bool		 pipelining;
	bool		 eightbitmime;
	bool		 size;
	uint64_t	 size_max;	/* 0: SIZE without a limit */
	bool		 starttls;
	bool		 smtputf8;
	bool		 enhancedstatuscodes;
	bool		 chunking;
	bool		 dsn;
	char		 auth[256];	/* AUTH mechanisms, space separated */
};

void	ehlo_parse(const struct reply *, struct ehlo_caps *);

/* ------------------------------------------------------------------ */
/* agent_data.c: the DATA stream                                       */

#define DATA_LINE_MAX		998	/* RFC 5322 §2.1.1, without CRLF */
/* Output room needed to encode n input bytes (every LF may become CRLF, every line start a dot). */
#define DATA_ENC_OUTMAX(n)	(2 * (size_t)(n) + 8)
#define DATA_ENC_FINISH_MAX	8

enum data_enc_error {
	DATA_ERR_LONGLINE = -1,
	DATA_ERR_8BIT = -2,
};

struct data_enc {
	size_t		 linelen;	/* characters in the current line */
	bool		 bol;		/* at the beginning of a line */
	bool		 cr;		/* a CR was read, its LF may follow */
	bool		 reject_8bit;	/* the server has no 8BITMIME */
	uint64_t	 in, out;	/* totals, for logs */
};

void		 data_enc_init(struct data_enc *, bool reject_8bit);
/* Encode n bytes into out (DATA_ENC_OUTMAX(n) bytes of room). Returns bytes written or a data_enc_error. */
ssize_t		 data_enc_feed(struct data_enc *, const uint8_t *in, size_t n, uint8_t *out);
/* Bytes from in's start the encoder would pass unchanged, ending in CRLF; state advanced over them. */
size_t		 data_enc_clean(struct data_enc *, const uint8_t *in, size_t n);
/* Close the last line and add the final ".\r\n" (DATA_ENC_FINISH_MAX bytes of room). */
size_t		 data_enc_finish(struct data_enc *, uint8_t *out);
const char	*data_enc_strerror(int);

/* ------------------------------------------------------------------ */
/* agent_timeout.c                                                     */

enum agent_stage {
	STAGE_CONNECT,
	STAGE_GREETING,
	STAGE_EHLO,
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA_INIT,
	STAGE_DATA_BLOCK,
	STAGE_DATA_END,
	STAGE_RSET,
	STAGE_QUIT,
	STAGE_STARTTLS,
	STAGE_TLS,
	STAGE_AUTH,
	STAGE_MAX
};

unsigned	 agent_timeout(enum agent_stage);
void		 agent_timeout_set(enum agent_stage, unsigned seconds);
const char	*agent_stage_name(enum agent_stage);

/* ------------------------------------------------------------------ */
/* agent_job.c: one MSG_AGENT_DELIVER and its answer                   */

#define AGENT_MAX_ADDRS		32	/* addresses accepted per job */
#define AGENT_MAX_TRIES		10	/* addresses tried per job */
/* The config allows 100 per transaction; the answer must fit one frame (~31 octets each at least). */
#define AGENT_MAX_RCPTS		1000
#define RELAY_MAX		(HOSTNAME_MAX + 64)

struct agent_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	uint16_t		 port;
	char			 ip[64];		/* printable address */
	char			 host[HOSTNAME_MAX];	/* name for logs, or the address */
	bool			 has_tls;	/* tls below is set (a DANE destination) */
	uint8_t			 tls;		/* enum tls_policy for this address */
	uint8_t			 nrr;		/* TLSA records when tls is TLS_DANE */
	struct dane_rr		 rr[DANE_RR_MAX];
};

struct agent_rcpt {
	uint32_t	 index;
	char		*addr;
	bool		 valid;		/* safe to put on the wire */
	bool		 final;		/* a result is recorded */
	bool		 accepted;	/* RCPT got 2xx, waiting for the end of DATA */
	uint8_t		 class;		/* enum delivery_class */
	uint16_t	 code;
	char		 dsn[DSN_MAX];
	char		 reply[REPLY_MAX];
};

struct agent_link;
struct agent_session;

struct agent_job {
	TAILQ_ENTRY(agent_job)	 entry;		/* agent's list of all jobs */
	TAILQ_ENTRY(agent_job)	 pentry;	/* pending: waiting for a session */
	bool			 pending;
	struct agent_link	*link;		/* NULL once the scheduler link died */
	uint32_t		 reqid;
	char			 id[QUEUE_ID_MAX];
	char			*sender;
	bool			 sender_valid;
	int			 fd;
	uint64_t		 off;
	uint64_t		 len;
	const uint8_t		*map;		/* large mails: the file, read-only (job_map) */
	size_t			 maplen;
	bool			 map_tried;
	uint32_t		 flags;
	uint8_t			 tls;		/* enum tls_policy */
	uint8_t			 dflags;	/* DELIVER_F_* */
	char			*dkim;		/* DKIM-Signature field(s) sent before the content */
	uint32_t		 mails_per_conn;	/* 0: max_mails_per_connection */
	uint8_t			 reuse;		/* 0 no, 1 yes, DELIVER_REUSE_DEFAULT: as configured */
	bool			 retry_clear;	/* TLS failed under "may": same address again, in clear */
	char			 dest[HOSTNAME_MAX];
	struct agent_addr	*addrs;
	unsigned		 naddr;
	unsigned		 next_addr;	/* next address to connect to */
	unsigned		 tries;
	bool			 fresh_only;	/* a reused connection failed: open a new one */
	struct agent_rcpt	*rcpts;
	unsigned		 nrcpt;
	char			 relay[RELAY_MAX];
	char			 last_err[REPLY_MAX];
	char			 last_dsn[DSN_MAX];
	uint16_t		 last_code;
	struct agent_session	*sess;
	bool			 traced;	/* outpostctl trace: log its dialogue */
};

/* Decode a MSG_AGENT_DELIVER; takes the frame's fd. -1 when malformed (*why set). */
int		 job_decode(struct frame *, struct agent_job **, const char **why);
void		 job_free(struct agent_job *);
const uint8_t	*job_map(struct agent_job *);
void		 job_rcpt_set(struct agent_rcpt *, int class, uint16_t code, const char *dsn,
		    const char *reply);
/* Every recipient without a result gets this one. */
void		 job_fail_rest(struct agent_job *, int class, uint16_t code, const char *dsn,
		    const char *text);
/* Accepted recipients (RCPT 2xx) get this one. */
void		 job_finish_accepted(struct agent_job *, int class, uint16_t code, const char *dsn,
		    const char *text);
struct fbuf	*job_result(const struct agent_job *);
int		 job_class_of(int code);
const char	*delivery_class_name(int class);
/* Is this address safe between angle brackets on an SMTP command line? */
bool		 agent_addr_safe(const char *);

/* ------------------------------------------------------------------ */
/* agent_tls.c                                                         */

#define TLS_KEY_MAX		(RELAY_MAX + 16)

struct ssl_st;
struct proc_ctx;

/* Make the client context (also called by agent_prepare before chroot). */
void		 tls_init(const struct config *);
void		 tls_shutdown(void);
bool		 tls_host_is_ip(const char *);
/* An SSL for a connection to a (SNI and the name/address to match from a->host). */
struct ssl_st	*tls_ssl_new(const struct agent_addr *a, int policy, const char *key,
		    char *err, size_t errlen);
void		 tls_forget(const char *key);
/* "TLS TLSv1.3, cipher X (256 bits), peer verified" */
void		 tls_describe(struct ssl_st *, char *buf, size_t len, bool *verified);
/* Why a handshake failed (e: an OpenSSL error code, or 0). */
void		 tls_failure(struct ssl_st *, unsigned long e, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* agent_dane.c                                                        */

struct ssl_ctx_st;
/* Turn OpenSSL's DANE support on for the client context. */
bool		 dane_ctx_init(struct ssl_ctx_st *);
/* Read the per-address part of AGENT_DELIVER into j->addrs (msg.h). */
bool		 dane_job_decode(struct frame *, struct agent_job *, const char **why);
/* The TLS policy of a connection to address a for job j. */
uint8_t		 dane_addr_policy(const struct agent_job *, const struct agent_addr *);
/* May a connection made for a carry a job bound for b (same policy and records)? */
bool		 dane_addr_same(const struct agent_addr *a, const struct agent_addr *b);
/* TLS_DANE: authenticate this SSL against a's records (false: err set). */
bool		 dane_ssl_setup(struct ssl_st *, const struct agent_addr *a, char *err,
		    size_t errlen);
/* Did the handshake authenticate the peer through a TLSA record? */
bool		 dane_ssl_verified(struct ssl_st *);

/* ------------------------------------------------------------------ */
/* agent_auth.c                                                        */

#define AUTH_USER_MAX		256
#define AUTH_PASS_MAX		1024
/* The longest AUTH line: "AUTH PLAIN " and base64 of NUL user NUL password, CRLF. */
#define AUTH_LINE_MAX		(16 + 4 * ((AUTH_USER_MAX + AUTH_PASS_MAX + 2) / 3 + 1))

enum auth_mech { AUTH_MECH_NONE = 0, AUTH_MECH_PLAIN, AUTH_MECH_LOGIN };

/* MSG_CTL_RELAY_AUTH from the master: keep the credentials, wipe the frame. */
int		 auth_ctl_frame(struct frame *);
bool		 auth_have(void);
void		 auth_clear(void);
const char	*auth_user(void);
/* The mechanism to use among those offered (space separated), or AUTH_MECH_NONE. */
int		 auth_choose(const char *offered);
const char	*auth_mech_name(int);
/* Base64 responses; length written, or -1 when out is too small. */
int		 auth_plain_response(const char *user, const char *pass, char *out, size_t outlen);
int		 auth_login_response(const char *text, char *out, size_t outlen);
/* The response for step n of mech with the stored credentials. */
int		 auth_response(int mech, unsigned step, char *out, size_t outlen);
/* A command line as it may be logged: "AUTH PLAIN ****"; secret: the whole line is "****". */
void		 auth_mask(const char *line, bool secret, char *out, size_t outlen);
bool		 agent_addr_loopback(const struct agent_addr *);

/* ------------------------------------------------------------------ */
/* agent_session.c                                                     */

enum session_state {
	S_CONNECT,
	S_GREETING,
	S_EHLO,
	S_HELO,
	S_STARTTLS,	/* STARTTLS sent, its 220 awaited */
	S_TLS,		/* TLS handshake (after STARTTLS, or smtps from the connect) */
	S_AUTH,		/* AUTH exchange with the relay host */
	S_IDLE,
	S_RSET,
	S_MAIL,
	S_RCPT,
	S_DATA,
	S_BODY,
	S_DOT,
	S_QUIT,
};

struct agent;

/* Fields are private to agent_session.c; agent.c only walks the list. */
struct agent_session {
	TAILQ_ENTRY(agent_session) entry;
	struct agent		*agent;
	uint64_t		 sid;
	enum session_state	 state;
	enum agent_stage	 stage;		/* of the running timer, for messages */
	bool			 dead;		/* closed, free pending */
	struct bufferevent	*bev;
	struct event		*timer;
	struct event		*ev_free;
	struct agent_job	*job;
	struct evbuffer_file_segment *seg;	/* the job's content for sendfile(), plain TCP */
	struct agent_addr	 addr;		/* where this connection goes */
	struct agent_race	*race;		/* Happy Eyeballs in progress (agent_connect.c) */
	uint32_t		 mails_max;	/* mails before QUIT: the last job's destination */
	bool			 no_reuse;	/* its destination wants no connection reuse */
	char			 relay[RELAY_MAX];
	struct ehlo_caps	 caps;
	struct reply		 reply;
	unsigned		 nmails;	/* transactions begun on this connection */
	bool			 used;		/* a MAIL was sent: RSET before the next one */
	bool			 reused;	/* the current job came to an open connection */
	bool			 mail_replied;
	bool			 mail_ok;
	unsigned		 rcpt_next;	/* next recipient to send RCPT for */
	unsigned		 rcpt_rnext;	/* recipient the next RCPT reply belongs to */
	unsigned		 rcpt_sent;
	unsigned		 rcpt_replied;
	unsigned		 naccepted;
	struct data_enc		 enc;
	uint64_t		 data_off;	/* content bytes read so far */
	uint8_t			 tls_policy;	/* enum tls_policy of the jobs this connection carries */
	uint8_t			 dflags;	/* DELIVER_F_* of those jobs */
	bool			 tls;		/* TLS is up */
	bool			 tls_verified;
	bool			 counted;	/* its connection and TLS level are in the metrics */
	uint64_t		 txn_start_ms;	/* MAIL sent (SMTP transaction time), 0: none */
	bool			 dane_verified;	/* authenticated by a TLSA record */
	bool			 no_starttls;	/* a "may" handshake failed: this connection stays clear */
	bool			 tlsrpt_sent;	/* this connection's TLS outcome was reported */
	char			 tls_info[192];	/* for the log line of each delivery */
	char			 tls_key[TLS_KEY_MAX];	/* session cache key */
	bool			 authed;
	int			 auth_mech;	/* enum auth_mech */
	unsigned		 auth_step;
};

/* Open a new connection for job (to its next address). */
void		 session_new(struct agent *, struct agent_job *);
/* Give an idle session a new job (connection reuse). */
void		 session_take(struct agent_session *, struct agent_job *);
/* Can this idle session carry that job? */
bool		 session_matches(const struct agent_session *, const struct agent_job *);
bool		 session_idle(const struct agent_session *);
bool		 session_in_transaction(const struct agent_session *);
/* Close politely (QUIT) if idle; used by eviction and shutdown. */
void		 session_quit(struct agent_session *);
/*
 * The job's scheduler link died: abandon it and close the connection, unless
 * the final dot was sent (then true: the job stays, its answer goes nowhere).
 */
bool		 session_drop_job(struct agent_session *);
/* Shutdown grace is over: fail the job (TEMPFAIL) and close at once. */
void		 session_abort(struct agent_session *, const char *why);

/* ------------------------------------------------------------------ */
/* agent.c: process-wide state, owned by agent.c                       */

struct agent_link {
	struct agent		*agent;
	struct chan		*chan;
	bool			 dead;
};

TAILQ_HEAD(agent_jobs, agent_job);
TAILQ_HEAD(agent_sessions, agent_session);

struct agent {
	struct proc_ctx		*ctx;
	const struct config	*conf;
	struct agent_link	*link;		/* the current scheduler link */
	struct agent_jobs	 jobs;		/* every job held */
	struct agent_jobs	 pending;	/* waiting for a session */
	unsigned		 npending;
	/* sessions, nsessions, nquitting: written by agent_session.c only */
	struct agent_sessions	 sessions;
	unsigned		 nsessions;	/* all but those saying QUIT */
	unsigned		 nquitting;
	uint64_t		 next_sid;
	uint8_t			*rdbuf;		/* content block buffer, reused by every session */
	bool			 dispatching;	/* agent_dispatch() is running */
	bool			 redispatch;	/* ... and must run one more round */
	bool			 stopping;
	unsigned		 stop_ticks;
	struct event		*stop_timer;
};

#define AGENT_BLOCK		(64 * 1024)	/* content read per pread() */
#define AGENT_MAP_MIN		(128 * 1024)	/* mapped instead of read from this size */
#define AGENT_SENDFILE_MIN	4096		/* clean spans from this size go by sendfile() */
#define AGENT_STOP_GRACE	20		/* seconds in-flight transactions get at shutdown */

void	agent_main(struct proc_ctx *);
/* A session finished its job: send the result, free the job. */
void	agent_job_done(struct agent *, struct agent_job *);
/* agent_connect.c: a connect to a timed out: tell the scheduler's
 * unreachable-host cache. */
void	agent_connect_timed_out(const struct agent_job *, const struct agent_addr *,
	    const char *why);
/* A new connection to a was accepted: the scheduler stops limiting the
 * address to one transaction at a time (its probe). */
void	agent_connect_answered(const struct agent_job *, const struct agent_addr *);
/*
 * Happy Eyeballs (RFC 8305): when the address at index i and a later one of
 * the same host differ in family, connect to the IPv6 one and, if it has not
 * answered after delay_ms, to the IPv4 one too; the first to connect wins.
 * Returns false when there is nothing to race (plain connect). The outcome
 * comes back as session_race_won() or session_race_lost().
 */
struct agent_race;
/* agent_tlsrpt.c: this connection's TLS outcome (enum tls_outcome), once. */
void	agent_tls_report(struct agent_session *, unsigned outcome, long x509_result);
long	agent_tls_x509_result(struct ssl_st *, bool handshake_failed);

bool	agent_race_start(struct agent_session *, unsigned i, unsigned delay_ms);
void	agent_race_cancel(struct agent_session *);
void	session_race_won(struct agent_session *, int fd, unsigned index);
void	session_race_lost(struct agent_session *, const char *text);
/* Put a job back in front of the pending list (a reused connection was dead). */
void	agent_job_requeue(struct agent *, struct agent_job *);
/* Sessions came free or went idle: start pending jobs. */
void	agent_dispatch(struct agent *);
/* A session was freed: room for pending jobs, or the end of a shutdown. */
void	agent_session_gone(struct agent *);

#endif
