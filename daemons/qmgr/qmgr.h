/* SPDX-License-Identifier: ISC */
/*
 * qmgr.h - private header of the queue manager, the sole owner of the queue.
 *
 * The qmgr runs as the queue user with the queue directory as its working
 * directory (chrooted there when started as root) and uses relative paths:
 *
 *   incoming/  0700  mails being received; never acknowledged; removed at start
 *   queue/     0700  accepted mails, one file each (shared/queue_file.h)
 *   corrupt/   0700  files that failed their integrity check, kept for a human
 *   spare/     0700  files of removed mails kept for reuse; never acknowledged
 *                    content; removed at start
 *   public/    0711  submit.sock (0666): local submissions and queue listings
 *   flags/     0700  durable marks of a mail besides its file: <id>.held (on
 *                    hold), <id>.warned (the sender got its delay notice)
 *
 * Files:
 *   qmgr.c          entry point, directories, links from the master, shutdown
 *   qmgr_commit.c   the commit thread: group commit of new mails and state
 *   qmgr_spool.c    queue file I/O: writing a mail, state appends, recovery
 *   qmgr_index.c    the in-memory index of queued mails
 *   qmgr_park.c     mails waiting on disk for their re-send (past queue_active_limit)
 *   qmgr_strpool.c  shared counted copies of recipients' replies and relays
 *   qmgr_submit.c   SUBMIT_* transactions (smtpd link and public socket)
 *   qmgr_public.c   the public socket: accepting clients, their share and idle time
 *   qmgr_space.c    free space of the queue file system against queue_min_free
 *   qmgr_sched.c    the scheduler link: announcing mails, OPEN, UPDATE
 *   qmgr_bounce.c   delivery status notifications: bounces and delay notices
 *   qmgr_mark.c     the marks in flags/: hold and delay notice, durable
 *   qmgr_control.c  outpostctl's queue commands (CONTROL_REQUEST from the master)
 *   qmgr_aliases.c  local names: the master's aliases table, applied to recipients
 *
 * Durability: a mail is acknowledged only after its file was fdatasync'd,
 * renamed from incoming/ into queue/, and queue/ was fsync'd. The commit
 * thread takes every job queued since its last round as one batch, so
 * mails finishing while a round runs share the next directory fsync.
 * State updates are appended and fdatasync'd by the same thread and only
 * then answered. An update that makes every recipient final is not written
 * at all: the file is unlinked and the removal shares the batch's one
 * directory fsync, which costs far less than an fdatasync per mail.
 *
 * Reuse: a removed mail whose write descriptor was kept is renamed into
 * spare/ instead of unlinked, and a new mail is written over it (cut to its
 * length by the commit thread) and renamed from spare/ into queue/. This
 * spares the file system an inode free and allocation per mail (on ext4
 * without a journal, allocation scans past recently freed inodes; with
 * discard, freeing waits for the device). A file reaches the pool only
 * after its removal from queue/ is durable, is reused only when no other
 * descriptor of it is open (a write lease is granted), and leaves spare/
 * only by the same fdatasync, rename and directory fsync as a file from
 * incoming/.
 */
#ifndef OUTPOST_QMGR_H
#define OUTPOST_QMGR_H

#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include "dueheap.h"
#include "msg.h"
#include "maildate.h"
#include "queue_file.h"

struct chan;
struct event;
struct event_base;
struct frame;
struct proc_ctx;
struct config;
struct qmgr;
struct qcommit;
struct qmarks;
struct qsign;
struct qmark_found;
struct qrecover;

#define QMGR_DIR_INCOMING	"incoming"
#define QMGR_DIR_QUEUE		"queue"
#define QMGR_DIR_CORRUPT	"corrupt"
#define QMGR_DIR_SPARE		"spare"
#define QMGR_DIR_PUBLIC		"public"
#define QMGR_DIR_FLAGS		"flags"
#define QMGR_SUBMIT_SOCK	"public/submit.sock"

#define QMGR_PUBLIC_MAX		256	/* concurrent public socket clients */
#define QMGR_PUBLIC_TX_MAX	8	/* transactions per public client */
#define QMGR_STREAM_HIGH	(1024 * 1024)	/* pause a stream above this backlog */
#define QMGR_WFD_MAX		256	/* write descriptors kept open for state appends */
#define QMGR_SPARE_MAX		128	/* files kept in spare/ for reuse */

/* One recipient of a queued mail, as the index knows it (fields ordered
 * so that a million of them carry no padding). */
struct qrcpt {
	const char	*addr;		/* in the mail's allocation (qmgr_index.c) */
	uint64_t	 next;
	char		*reply;		/* last reply or NULL (qmgr_strpool.c) */
	char		*relay;		/* server of the last reply or NULL (same) */
	uint32_t	 attempts;
	uint16_t	 code;
	uint8_t		 state;
	char		 dsn[DSN_MAX];	/* last enhanced status or "" */
};

/* One queued mail. */
struct qmail {
	RB_ENTRY(qmail)	 entry;
	char		 id[QUEUE_ID_MAX];
	uint64_t	 arrival;
	uint64_t	 content_off;
	uint64_t	 content_len;
	uint64_t	 file_len;	/* where the next state record goes */
	uint32_t	 flags;
	uint32_t	 uid;
	const char	*sender;	/* in the mail's allocation, as rcpt[] */
	uint8_t		 hash[QF_HASH_LEN];
	uint32_t	 nrcpt;
	struct qrcpt	*rcpt;
	int		 wfd;		/* kept write descriptor for state appends, or -1 */
	unsigned	 announced;	/* scheduler link generation it was sent on */
	unsigned	 inflight;	/* state updates (and a deletion) not yet durable */
	bool		 deleted;	/* out of the index; freed when inflight drops to 0 */
	bool		 spared;	/* removed into spare/: wfd may be reused */
	bool		 warn_postponed; /* delay notice refused for lack of space */
	/* DKIM (qmgr_sign.c) */
	char		*dkim;		/* DKIM-Signature field(s) sent before the content, or NULL */
	uint8_t		 sign_state;	/* SIGN_ST_*: not announced before SIGN_ST_NONE */
	uint32_t	 sign_reqid;
	uint8_t		 sign_tries;	/* signer links lost while it was asked */
	TAILQ_ENTRY(qmail) sign_entry;
};
RB_HEAD(qmail_tree, qmail);

enum qlink_kind { QLINK_SMTPD, QLINK_PUBLIC, QLINK_SCHED };

struct qtx;
RB_HEAD(qtx_tree, qtx);

/* A link: the smtpd, a public socket client, or the scheduler. */
struct qlink {
	struct qmgr		*q;
	struct chan		*chan;		/* NULL once closed */
	enum qlink_kind		 kind;
	uint32_t		 uid;		/* public clients: SO_PEERCRED */
	unsigned		 refs;		/* the link itself + pending work */
	struct qtx_tree		 txs;
	unsigned		 ntx;
	unsigned		 maxtx;
	TAILQ_ENTRY(qlink)	 entry;

	/* A running stream of the whole index (announce or listing). */
	bool			 streaming;
	uint32_t		 stream_reqid;
	char			 cursor[QUEUE_ID_MAX];	/* "" = from the start */
	uint32_t		 streamed;
	struct event		*resume;
	unsigned		 gen;		/* scheduler: link generation */
	/* scheduler: announcements gathered into one SCHED_MAILS frame while
	 * indexing or streaming (qmgr_sched.c), sent before any other frame */
	struct fbuf		*batch;
	uint16_t		 nbatch;
	bool			 batching;
	uint32_t		 nflush_sent;	/* scheduler: SCHED_FLUSH frames sent */
	struct event		*idle;		/* public clients: client_idle_timeout */
};
TAILQ_HEAD(qlink_list, qlink);

/* A submission transaction (or a bounce being written). */
struct qtx {
	RB_ENTRY(qtx)		 entry;
	uint32_t		 reqid;
	struct qlink		*link;		/* NULL for bounces */
	struct qf_envelope	 env;
	uint32_t		 rcpt_cap;
	uint32_t		 submit_flags;
	int			 fd;		/* incoming/<id>, -1 before the first write */
	bool			 prefix_written;
	bool			 committing;
	bool			 crlf;		/* line ending for headers we add */
	uint64_t		 prefix_len;
	uint64_t		 content_len;	/* bytes written after the prefix */
	uint64_t		 client_bytes;	/* bytes the submitter sent */
	struct qf_chash		 hst;
	uint8_t			 hash[QF_HASH_LEN];
	/* The first error decides the answer to COMMIT. */
	uint16_t		 err_code;
	const char		*err_dsn;
	const char		*err_text;
	/* Bounces: called on the main thread once the commit is over. */
	void			(*done)(struct qmgr *, struct qtx *, bool ok);
	void			*done_arg;
	char			 spare[QUEUE_ID_MAX];	/* reused file: its name in spare/, or "" */
};

/* A job for the commit thread. */
/*
 * COMMIT: rename incoming/ (or spare/) -> queue/, durable with its round.
 * SYNC: appended state records, durable with their round.
 * REMOVE: queue/<id> (every recipient final) to spare/ or unlinked.
 * Each round ends with one syncfs() of the queue (qmgr_commit.c).
 */
enum qjob_kind { QJOB_COMMIT, QJOB_SYNC, QJOB_REMOVE };
struct qjob {
	enum qjob_kind		 kind;
	int			 fd;
	char			 id[QUEUE_ID_MAX];
	int			 error;		/* errno, 0 when durable */
	void			(*done)(struct qmgr *, struct qjob *);
	void			*arg;
	struct qjob		*next;
	/* COMMIT of a reused file: renamed from spare/<from>, cut to length. */
	char			 from[QUEUE_ID_MAX];
	uint64_t		 length;
	bool			 renamed;	/* COMMIT: now in queue/ */
	bool			 spare;		/* REMOVE: rename into spare/ */
	bool			 spared;	/* REMOVE: done by that rename */
};

/* A file in spare/ ready for reuse, with a write descriptor. */
struct qspare {
	int			 fd;
	char			 name[QUEUE_ID_MAX];
};

/* Mails and recipients in the queue by state, kept exact at every change
 * (qmgr_shape.c). */
enum { SHAPE_ACTIVE, SHAPE_DEFERRED, SHAPE_HELD, SHAPE_MAX };
struct qshape {
	uint64_t		 mails[SHAPE_MAX];
	uint64_t		 rcpts[SHAPE_MAX];
};

/* A mail on hold, in q->held (qmgr_shape.c): the expiry of held mails
 * (qmgr_expire.c) looks at these alone, never at the whole queue. */
struct qheld {
	RB_ENTRY(qheld)		 entry;
	struct qmail		*mail;
};
RB_HEAD(qheld_tree, qheld);

/* A mail waiting on disk for its re-send (qmgr_park.c). */
struct qpark;
RB_HEAD(qpark_tree, qpark);

/* outpostctl commands over many mails, run one at a time (qmgr_control.c). */
struct qctl;
TAILQ_HEAD(qctl_list, qctl);

struct qmgr {
	struct proc_ctx		*ctx;
	const struct config	*conf;
	struct event_base	*base;
	int			 incoming_fd, queue_fd, corrupt_fd;
	struct qmail_tree	 mails;
	unsigned		 nmails;
	struct qshape		 shape;		/* the mails' counts by state */
	struct qheld_tree	 held;		/* the indexed mails on hold */
	/* Mails on disk only, waiting for their re-send (qmgr_park.c): by id,
	 * and a min-heap of due times with one timer. */
	struct qpark_tree	 parked;
	struct dueheap		 pdue;
	struct event		*park_ev;
	uint64_t		 park_armed;
	uint8_t			*park_buf;	/* read buffer of their files */
	size_t			 park_bufcap;
	bool			 park_paused;	/* none read back when due (park_pause) */
	/* The bulk command walking the mails on disk, and those waiting for
	 * their turn (qmgr_control.c). */
	struct qctl		*bulk;
	struct qctl_list	 bulk_wait;
	unsigned		 nwfd;		/* qmail.wfd kept open */
	struct qcommit		*commit;
	unsigned		 jobs_inflight;
	struct qlink_list	 links;
	struct qlink		*sched;		/* current scheduler link or NULL */
	unsigned		 sched_gen;
	int			 listen_fd;
	struct event		*ev_listen;
	unsigned		 npublic;
	struct event		*accept_pause;	/* public socket after EMFILE */
	struct event		*space_ev;	/* the free-space check */
	bool			 space_low;	/* below queue_min_free: refuse mail */
	uint64_t		 space_headroom;	/* bytes above the reserve */
	uint64_t		 space_told;	/* headroom last pushed to smtpd */
	bool			 stopping;
	uint32_t		 myuid;
	int			 flags_fd;	/* flags/ */
	struct qmarks		*marks;		/* marks waiting for the flags/ fsync */
	int			 spare_fd;	/* spare/ */
	struct qspare		 spares[QMGR_SPARE_MAX];
	unsigned		 nspare;
	unsigned		 spare_pending;	/* REMOVE jobs that will add one */
	unsigned		 spare_max;	/* QMGR_SPARE_MAX or less for few fds */
	struct qsign		*sign;		/* DKIM signing (qmgr_sign.c) */
	/* Start: the queue is indexed in slices beside intake (qmgr_spool.c). */
	struct qrecover		*recover;	/* NULL once every file was indexed */
	struct qmark_found	*found;		/* marks read at start, sorted by id */
	size_t			 nfound;
	unsigned		 nstale;
};

struct qctl;
struct summary;

/* qmgr_shape.c: the queue's shape for the metrics (a metrics collector),
 * queue --summary, and which mails a selector (@domain, all) names */
void	qmgr_metrics_collect(void *qmgr);
/*
 * q->shape follows every change of a mail in q->mails: shape_leave() before
 * its recipients' states or its MAIL_F_HELD change, shape_enter() after
 * (both do nothing for a deleted mail, out of the index already).
 * qmail_insert() and qmail_remove() count a mail in and out themselves.
 */
void	shape_enter(struct qmgr *, const struct qmail *);
void	shape_leave(struct qmgr *, const struct qmail *);
/* Hold (on) or release m in memory, its counts moved with it. */
void	shape_set_held(struct qmgr *, struct qmail *, bool on);
/* Used by qmail_insert (in = true) and qmail_remove. */
void	shape_index(struct qmgr *, struct qmail *, bool in);
/* The counts from a walk of every mail: for tests and QMGR_SHAPE_CHECK
 * builds only, never in the daemon's own path (it grows with the queue). */
void	qmgr_shape_recount(const struct qmgr *, struct qshape *);
void	shape_summary(struct qctl *, bool json);
/* Does a mail have a recipient still queued for domain (every = all of them)? */
bool	shape_mail_in_domain(const struct qmail *, const char *domain, bool every);

/* qmgr.c */
/* Microseconds since t0 on the monotonic clock: the slices of long work. */
uint64_t qmgr_usec_since(const struct timespec *t0);
struct qlink *qmgr_link_new(struct qmgr *, int fd, enum qlink_kind, const char *name);
void	qmgr_link_unref(struct qlink *);
void	qmgr_maybe_exit(struct qmgr *);

/* qmgr_commit.c */
struct qcommit *qmgr_commit_start(struct qmgr *);
/* Does syncfs() on a file system of this type (statfs f_type) leave what it
 * wrote durable when it returns? ext4_journal: an ext4 one has a journal. */
bool	commit_syncfs_is_durable(unsigned long fs_type, bool ext4_journal);
void	qmgr_commit_push(struct qmgr *, struct qjob *);
/* Push the removal of queue/<id>; done runs once it is durable (j->arg = arg). */
void	qmgr_commit_remove(struct qmgr *, const char *id,
	    void (*done)(struct qmgr *, struct qjob *), void *arg);
void	qmgr_commit_stop(struct qcommit *);
void	qmgr_commit_close(struct qmgr *, int fd);

/* qmgr_index.c */
RB_PROTOTYPE(qmail_tree, qmail, entry, qmail_cmp);
RB_PROTOTYPE(qheld_tree, qheld, entry, qheld_cmp);
struct qmail *qmail_find(struct qmgr *, const char *id);
struct qmail *qmail_from_file(const struct qf_mail *, uint64_t file_len);
void	qmail_insert(struct qmgr *, struct qmail *);
void	qmail_remove(struct qmgr *, struct qmail *);
void	qmail_free(struct qmgr *, struct qmail *);
bool	qmail_final(const struct qmail *);

/* qmgr_park.c */
void	park_init(struct qmgr *);
struct qpark *park_find(struct qmgr *, const char *id);
/* May m wait on disk? asked: the scheduler handed it back (else: indexed at
 * start, and only past queue_active_limit). */
bool	park_wanted(struct qmgr *, const struct qmail *, bool asked);
/* Its next re-send or delay notice, whichever comes first. */
uint64_t park_due(struct qmgr *, const struct qmail *);
/* m leaves memory (out of q->mails first when indexed) and is freed. */
void	park_mail(struct qmgr *, struct qmail *, uint64_t due, bool indexed);
/* The indexed mail of that id, read from disk (and announced) if parked. */
struct qmail *park_get(struct qmgr *, const char *id);
/* A mail just read by park_peek() indexed (not announced) in place of its
 * entry p (freed); NULL when the file says it left the queue already. */
struct qmail *park_adopt(struct qmgr *, struct qpark *, struct qmail *);
/* outpostctl flush of one parked mail: due now, read back in its turn with
 * its deferred recipients due. */
void	park_flush(struct qmgr *, struct qpark *);
/* outpostctl delete of a parked mail without reading its file: the entry
 * and its counts go now, its marks too; done runs once the removal of
 * queue/<id> is durable (a QJOB_REMOVE, j->arg = arg). */
void	park_delete(struct qmgr *, struct qpark *, void (*done)(struct qmgr *, struct qjob *),
	    void *arg);
/* While paused, no parked mail is read back when it comes due (a bulk flush
 * walking them, qmgr_control.c); resumed, the due ones are read back. */
void	park_pause(struct qmgr *, bool paused);
/* outpostctl flush (all): every parked mail due now, read back in slices
 * with its deferred recipients due; returns how many. */
unsigned park_flush_all(struct qmgr *);
int	park_frame(struct qlink *, struct frame *);
/* Listings: the next parked mail after cursor ("" the first), its id, and
 * its mail read from the file for the moment (NULL: unreadable now, or gone
 * or corrupt: then the entry is freed). */
bool	park_next(struct qmgr *, const char *cursor, struct qpark **);
void	park_id(const struct qpark *, char id[QUEUE_ID_MAX]);
struct qmail *park_peek(struct qmgr *, struct qpark *);
void	park_peek_free(struct qmail *);
void	park_shape_recount(const struct qmgr *, struct qshape *);

/* qmgr_strpool.c: a counted shared copy of s (NULL for NULL or ""); put
 * releases one. Loop thread only. */
char	*strpool_get(const char *s);
void	strpool_put(char *s);

/* qmgr_spool.c */
int	spool_open_dirs(struct qmgr *);
/* Read and verify queue/<name>: 1 read, 0 gone, -1 corrupt (moved to
 * corrupt/), -2 unreadable now (kept where it is). */
int	spool_read(struct qmgr *, const char *name, uint8_t **buf, size_t *bufcap,
	    struct qf_mail *);
int	spool_tx_create(struct qmgr *, struct qtx *);
int	spool_tx_write(struct qtx *, const void *, size_t);
int	spool_tx_printf(struct qtx *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	spool_tx_finish(struct qtx *);
void	spool_tx_discard(struct qmgr *, struct qtx *);
int	spool_state_append(struct qmgr *, struct qmail *, const struct qf_state *, unsigned n);
int	spool_open_ro(struct qmgr *, const char *id);
void	spool_remove(struct qmgr *, struct qmail *);
void	spool_spare_put(struct qmgr *, int fd, const char *name);
/* At start: empty incoming/ and spare/, then index queue/ in slices run
 * by the event loop; spool_indexing() is true until the last file. */
int	spool_recover(struct qmgr *);
bool	spool_indexing(const struct qmgr *);
void	spool_recover_progress(const struct qmgr *, size_t *done, size_t *total);

/* qmgr_submit.c */
RB_PROTOTYPE(qtx_tree, qtx, entry, qtx_cmp);
int	submit_dispatch(struct qlink *, struct frame *);
void	submit_link_closed(struct qlink *);
void	submit_commit(struct qmgr *, struct qtx *);
void	qtx_free(struct qtx *);

/* qmgr_tlsrpt.c: MSG_TLSRPT_MAIL, a TLS report to queue */
int	tlsrpt_mail(struct qlink *, struct frame *);

/* qmgr_public.c */
int	public_listen(struct qmgr *);
void	public_stop(struct qmgr *);
/* A frame arrived from public client l: its idle time starts again. */
void	public_touch(struct qlink *);
/* Public client l is gone: its slot is free. */
void	public_closed(struct qlink *);

/* qmgr_space.c */
/* Check now and every second; push the state to smtpd links when it changes. */
void	space_start(struct qmgr *);
void	space_stop(struct qmgr *);
/* A new smtpd link learns the current state. */
void	space_tell(struct qmgr *, struct qlink *);
/* Is there room for bytes more (0: any mail) above queue_min_free? */
bool	space_ok(struct qmgr *, uint64_t bytes);

/* qmgr_sched.c */
int	sched_dispatch(struct qlink *, struct frame *);
void	sched_announce(struct qmgr *, struct qmail *);
void	stream_start(struct qlink *, uint32_t reqid);
/* A mail indexed at start: announced at once (it may sort before a stream's
 * cursor); the indexing is over: the scheduler gets SCHED_LOAD_DONE. */
void	sched_recovered(struct qmgr *, struct qmail *);
/* Around a run of sched_recovered(): the mails go in SCHED_MAILS frames. */
void	sched_batch_begin(struct qmgr *);
void	sched_batch_end(struct qmgr *);
void	sched_recovery_done(struct qmgr *);
/* Tell the scheduler (if linked): SCHED_REMOVED or SCHED_FLUSH with a string. */
void	sched_tell(struct qmgr *, uint16_t type, const char *str);
/*
 * Apply n recipient states (st is taken over) to m as an update of the
 * scheduler would: in memory, a bounce for new failures, then durable (or
 * the file removed when every recipient is final); done runs at the end
 * with removed set when the mail left the queue.
 */
typedef void (*qupdate_done_fn)(struct qmgr *, void *arg, const char *id, bool removed);
void	qmgr_states_apply(struct qmgr *, struct qmail *, struct qf_state *st, unsigned n,
	    qupdate_done_fn done, void *arg);

/* qmgr_msgid.c: the Message-ID for the log (brackets and blanks removed, "" when none) */
#define QMGR_MSGID_MAX	256
void	qmgr_msgid_from_header(const char *msg, size_t len, char *out, size_t outlen);
void	qmgr_msgid_from_file(int fd, uint64_t off, uint64_t len, char *out, size_t outlen);

/* qmgr_expire.c: max_queue_lifetime for held mails (the scheduler's for the rest) */
void	qmgr_expire_start(struct qmgr *);

/* qmgr_bounce.c */
struct qtx *bounce_make(struct qmgr *, const struct qmail *, const uint32_t *failed, unsigned n);
/* The sender's delay notice for a mail still deferred (QMGR_DELAY_WARN). */
void	bounce_delay_warn(struct qmgr *, struct qmail *);

/* qmgr_aliases.c: the master's ALIASES_* frames; each final address of a
 * recipient passed to emit (see aliases_expand). */
int	qaliases_frame(struct qmgr *, struct frame *);
int	qaliases_expand(struct qmgr *, const char *rcpt, int (*emit)(const char *, void *),
	    void *arg, char *err, size_t errlen);
/* The addresses addr becomes (allocated array of allocated strings), or -1. */
int	qaliases_rewrite(struct qmgr *, const char *addr, char ***v, uint32_t *n);
/* qmgr_sign.c: DKIM signing by the signer, after commit and before announcing */
#define SIGN_ST_NONE	0	/* signed, or looked at, or signing is off */
#define SIGN_ST_WAIT	1	/* waiting for a request slot or the signer link */
#define SIGN_ST_ASKED	2	/* request sent */
#define SIGN_ST_WRITE	3	/* the record is being written */
void	sign_init(struct qmgr *);
/* A mail just committed, or recovered without a DKIM record: sign it, then announce it. */
void	sign_mail(struct qmgr *, struct qmail *);
/* A (new) link to the signer. */
void	sign_link(struct qmgr *, int fd);
/* The mail leaves memory: out of the signing queues. */
void	sign_forget(struct qmgr *, struct qmail *);

/* qmgr_mark.c */
int	mark_open(struct qmgr *);
/* At start, before indexing: read the marks in flags/. */
void	mark_load(struct qmgr *);
/* A mail being indexed takes its marks as MAIL_F_* flags. */
void	mark_apply(struct qmgr *, struct qmail *);
/* The whole queue is indexed: marks of gone mails are removed. */
void	mark_recover(struct qmgr *);
/* Set or clear flag (MAIL_F_HELD, MAIL_F_DELAY_WARNED) durably; done gets
 * 0 or an errno once flags/ was fsync'd. The in-memory flag is the caller's. */
void	mark_set(struct qmgr *, const struct qmail *, uint32_t flag, bool on,
	    void (*done)(struct qmgr *, void *arg, int error), void *arg);
/* The mail left the queue: its marks go too (a leftover is removed at start). */
void	mark_forget(struct qmgr *, const struct qmail *);
/* The same for a mail known by its id and MAIL_F_* flags alone (on disk). */
void	mark_forget_id(struct qmgr *, const char *id, uint32_t flags);

/* An outpostctl command being answered (qmgr_control.c, qmgr_list.c). */
struct qctl {
	struct qmgr		*q;
	uint32_t		 reqid;
	unsigned		 pending;	/* durable steps still awaited */
	unsigned		 ndone;
	int			 error;		/* first errno of a step */
	char			 id[QUEUE_ID_MAX];
	/* paced output: step() runs again once the master link drained */
	void			(*step)(struct qctl *);
	struct event		*resume;
	bool			 json;
	char			 cursor[QUEUE_ID_MAX];	/* listing: last id sent */
	uint32_t		 count;
	uint8_t			*map;		/* show: a copy of the queue file */
	size_t			 maplen;
	uint64_t		 off, end;	/* show: content still to send */
	char			 domain[HOSTNAME_MAX];	/* listing: only mails for @domain */
	struct summary		*summary;	/* queue --summary being made (qmgr_shape.c) */
	/* flush @domain, delete and hold|release @domain|all: the mails on disk
	 * walked from c->cursor, one such command at a time (qmgr_control.c) */
	uint8_t			 bulk_op;
	TAILQ_ENTRY(qctl)	 bulk_entry;
};

/* qmgr_control.c */
int	control_dispatch(struct proc_ctx *, struct frame *);
void	ctl_reply(struct qctl *, const char *line);
/* The CONTROL_END; frees the request. */
void	ctl_end(struct qctl *, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Too much output waits on the master link: step() is called again later. */
bool	ctl_paused(struct qctl *);
/* step() again at the next loop turn (long work done in slices). */
void	ctl_yield(struct qctl *);
/* Work in slices: n items done since t0 in this loop turn. When that is a
 * slice (CTL_SLICE items or CTL_SLICE_USEC), yields and returns true. */
#define CTL_SLICE	512
#define CTL_SLICE_USEC	10000
bool	ctl_slice_over(struct qctl *, unsigned n, const struct timespec *t0);
/* The scheduler hands back mail m while the bulk command c walks the mails
 * on disk: true when c took it (deleted, held or flushed it now) because
 * its id lies behind c's cursor, where the walk would never see it parked. */
bool	ctl_bulk_parked(struct qctl *, struct qmail *);

/* qmgr_list.c */
void	list_start(struct qctl *, bool json);
void	show_start(struct qctl *, struct qmail *);

#endif
