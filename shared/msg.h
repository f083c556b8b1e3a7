/* SPDX-License-Identifier: ISC */
/*
 * msg.h - every frame type of outpost's IPC, with the payload of each.
 *
 * Payload notation: u8/u16/u32/u64 are fixed-width integers, str is a
 * length-prefixed string (frame.h), addr is u8 family (4 or 6) followed by
 * 16 bytes (IPv4 in the first 4). Fields are read in the order listed.
 * Answers reuse the reqid of the request they answer.
 * msg.c repeats every layout in a compact notation and frame_parse() rejects any
 * received frame that does not match it: change both together.
 */
#ifndef OUTPOST_MSG_H
#define OUTPOST_MSG_H

#include <stdbool.h>
#include <stdint.h>

#define OUTPOST_PROTO_VERSION	1

/* Bounds every sender keeps and every receiver enforces. */
#define QUEUE_ID_MAX		32	/* buffer size; ids are 24 chars */
#define ADDR_MAX		512	/* an RFC 5321 path is at most 256 octets */
#define HOSTNAME_MAX		256
#define REPLY_MAX		1024	/* one remote reply kept per recipient */
#define DSN_MAX			16	/* "5.7.1" */
#define DKIM_FIELDS_MAX		8192	/* stored DKIM-Signature fields of one mail */

enum msg_type {
	MSG_NONE = 0,

	/*
	 * master <-> every child
	 */
	/* master -> child: FD is a new link to a peer.  u8 proc kind, u16 instance,
	 * u32 link id (named again in CTL_LINK_DOWN) */
	MSG_CTL_PEER = 1,
	/* master -> child: stop gracefully and exit.  (empty) */
	MSG_CTL_SHUTDOWN,
	/* master -> child: u8 log level (enum log_level) */
	MSG_CTL_LOGLEVEL,
	/* master -> agent: the relay AUTH credentials read by the master from
	 * relay_auth_password_file.  str user, str password.  The receiver
	 * wipes the frame buffer's copy and keeps its own in wiped memory. */
	MSG_CTL_RELAY_AUTH,

	/*
	 * submitter (smtpd, outpost-sendmail over the public socket) -> qmgr.
	 * reqid names one transaction of that submitter. qmgr answers only
	 * COMMIT, with exactly one SUBMIT_QUEUED or SUBMIT_ERROR.
	 */
	/* u32 flags (SUBMIT_F_*), str sender ("" is <>), str origin (for logs) */
	MSG_SUBMIT_BEGIN = 16,
	/* str recipient (without angle brackets) */
	MSG_SUBMIT_RCPT,
	/* bytes: the next piece of the message, exactly as it is to be queued */
	MSG_SUBMIT_DATA,
	/* (empty) */
	MSG_SUBMIT_COMMIT,
	/* (empty): forget the transaction, no answer */
	MSG_SUBMIT_ABORT,
	/* qmgr -> submitter: str queue id; the mail is durably queued */
	MSG_SUBMIT_QUEUED,
	/* qmgr -> submitter: u16 smtp code, str enhanced status, str text */
	MSG_SUBMIT_ERROR,

	/*
	 * qmgr <-> scheduler
	 */
	/* qmgr -> scheduler: a mail to schedule.
	 *   str id, u64 arrival (unix seconds), u64 size, u32 flags (MAIL_F_*),
	 *   str sender, u32 nrcpt; then nrcpt SCHED_RCPT frames, then SCHED_MAIL_END */
	MSG_SCHED_MAIL = 32,
	/*   str id, u32 index, u8 state (enum rcpt_state), u32 attempts,
	 *   u64 next attempt (unix seconds), str address */
	MSG_SCHED_RCPT,
	/*   str id */
	MSG_SCHED_MAIL_END,
	/* qmgr -> scheduler: every mail queued at start has been sent.  (empty) */
	MSG_SCHED_LOAD_DONE,
	/* qmgr -> scheduler: a mail left the queue by other means, or was put
	 * on hold (it is listed again when released).  str id */
	MSG_SCHED_REMOVED,
	/* qmgr -> scheduler: re-send now (outpostctl flush): the deferred
	 * recipients of the matching mails become due.  str selector: "" every
	 * mail, a queue id, or "@domain" (recipients of that domain only) */
	MSG_SCHED_FLUSH,

	/* scheduler -> qmgr: str id.  Answer: QMGR_OPENED with FD (read-only
	 * descriptor of the queue file): u64 content offset, u64 content length,
	 * u32 flags (MAIL_F_*), str DKIM-Signature field(s) to send before the
	 * content ("" none); or QMGR_OPEN_FAIL: str reason */
	MSG_QMGR_OPEN = 48,
	MSG_QMGR_OPENED,
	MSG_QMGR_OPEN_FAIL,
	/* scheduler -> qmgr: durable per-recipient state changes of one mail.
	 *   str id, u32 n, then n times: u32 index, u8 state, u32 attempts,
	 *   u64 next attempt (FAILED: the scheduler's time of the verdict, from
	 *   which a postponed bounce is due), u16 smtp code, str dsn, str reply, str relay
	 * Answer: QMGR_UPDATED: str id, u8 removed (1: every recipient final, mail gone) */
	MSG_QMGR_UPDATE,
	MSG_QMGR_UPDATED,
	/* scheduler -> qmgr: the mail waited delay_warning with recipients
	 * still deferred: send the sender one delay notice (Action: delayed)
	 * and record MAIL_F_DELAY_WARNED.  str id.  No answer. */
	MSG_QMGR_DELAY_WARN,

	/*
	 * scheduler <-> resolver
	 */
	/* str host, u8 families (DNS_FAM_*).
	 * Answer DNS_ADDRS: u8 status (enum dns_status), u8 dnssec (enum dns_sec),
	 *   u32 ttl, u16 n, n times addr */
	MSG_DNS_QUERY_ADDR = 64,
	MSG_DNS_ADDRS,
	/* str domain.
	 * Answer DNS_MX: u8 status, u8 dnssec, u32 ttl, u16 n, n times: u16 preference, str host
	 * (a null MX is status DNS_NULLMX with n = 0) */
	MSG_DNS_QUERY_MX,
	MSG_DNS_MX,

	/*
	 * scheduler <-> smtp delivery agent
	 */
	/* FD: read-only content descriptor.
	 *   str queue id, str sender, u64 content offset, u64 content length,
	 *   u32 flags (MAIL_F_*), str destination (for logs),
	 *   u16 naddr, naddr times: addr, u16 port, str host name;
	 *   u16 nrcpt, nrcpt times: u32 index, str address,
	 *   u8 tls (enum tls_policy of config.h, never TLS_INHERIT), u8 dflags (DELIVER_F_*),
	 *   str DKIM-Signature field(s) sent before the content ("" none),
	 *   u16 n (0, or naddr: the policy of each address in order), n times:
	 *     u8 tls (TLS_NONE..TLS_STS, not TLS_DANE_ONLY; TLS_DANE: authenticate
	 *     against these records; TLS_STS: verify as an MTA-STS enforce policy asks),
	 *     u16 nrr, nrr times: u8 usage, u8 selector, u8 matching type, bytes data,
	 *   u32 mails per connection (0: max_mails_per_connection),
	 *   u8 reuse (0 no, 1 yes, DELIVER_REUSE_DEFAULT: as configured) */
	MSG_AGENT_DELIVER = 80,
	/* agent -> scheduler, same reqid:
	 *   str relay ("host[ip]:port" that took the transaction, or "none"),
	 *   u16 n, n times: u32 index, u8 class (enum delivery_class), u16 smtp code,
	 *   str dsn, str reply */
	MSG_AGENT_RESULT,

	/*
	 * queue listing (outpost-sendmail -bp, mailq) over the public socket
	 */
	/* client -> qmgr: (empty).  Answer: n QUEUE_ENTRY frames, then QUEUE_LIST_END */
	MSG_QUEUE_LIST = 96,
	/* str id, u64 arrival, u64 size, u32 flags, str sender, u32 nrcpt,
	 *   u16 n (recipients listed here, n <= nrcpt), n times:
	 *   str address, u8 state, u32 attempts, u64 next attempt, str last reply */
	MSG_QUEUE_ENTRY,
	/* u32 number of mails */
	MSG_QUEUE_LIST_END,

	/*
	 * control: outpostctl <-> master (control socket), and master <-> the
	 * child that carries a command out (qmgr for queue commands). The master
	 * routes a child's answer frames back to the client by reqid, unread.
	 */
	/* str command, n32{ str argument } */
	MSG_CONTROL_REQUEST = 112,
	/* str one line of output (text, or one JSON object per line) */
	MSG_CONTROL_REPLY,
	/* u8 status (0 done, 1 failed), str message for the user */
	MSG_CONTROL_END,

	/*
	 * child -> master: the process mesh (restart policy and link repair)
	 */
	/* child -> master: start-up done, serving.  (empty)  Sent once. */
	MSG_CTL_READY = 6,
	/* child -> master: the link to this peer closed while it was the one in
	 * use; link the two again.  u8 proc kind, u16 instance, u32 link id */
	MSG_CTL_LINK_DOWN = 7,

	/*
	 * Free space of the queue, qmgr -> smtpd, at link-up and whenever it
	 * changes: u8 low (1: below queue_min_free, refuse mail), u64 headroom
	 * (bytes above the reserve, for SIZE=).
	 */
	MSG_QMGR_SPACE = 160,

	/*
	 * local names: the aliases table, master -> qmgr (shared/aliases.h),
	 * sent when the qmgr starts and on every reload. The table in force
	 * is replaced only by a complete BEGIN..END sequence.
	 */
	/* str myorigin, str local_redirect, u32 number of entries */
	MSG_ALIASES_BEGIN = 192,
	/* str name, n32{ str target } */
	MSG_ALIASES_ENTRY = 193,
	/* (empty) */
	MSG_ALIASES_END = 194,

	/*
	 * observability: child -> master over the control link (the master
	 * writes and counts, nothing more), master -> child for traces
	 */
	/* child -> master: log lines, stamped by the master with the sender's
	 * role and pid.  n16{ u8 syslog priority, str printable text }
	 * (at most LOG_BATCH_MAX lines of LOG_LINE_MAX-1 bytes, log.h) */
	MSG_LOG_LINES = 128,
	/* child -> master: its metric values (absolute since it started; gauges
	 * their current value).  n16{ u16 metric id (metrics.h), u64 value } */
	MSG_METRICS_PUSH = 129,
	/* scheduler -> master: recipients per destination domain, its top N by
	 * volume.  n16{ str domain, u64 delivered, u64 deferred, u64 bounced } */
	MSG_METRICS_DEST = 130,
	/* master -> child: the whole set of active traces (outpostctl trace).
	 * n16{ str selector (queue id, @domain or address), u64 until (unix s) } */
	MSG_CTL_TRACE = 131,

	/*
	 * DKIM signing: master -> signer (the private keys), qmgr <-> signer
	 */
	/* master -> signer: one [dkim] entry with its keys, read by the master.
	 *   str domain, u8 subdomains, u8 header canon, u8 body canon (enum dkim_canon),
	 *   n16{ str selector, u8 alg (enum dkim_alg), bytes private key (PKCS#8 DER) }
	 * The buffers of both ends are wiped. */
	MSG_SIGNER_KEY = 144,
	/* master -> signer: the entries sent since the last END replace the old
	 * set, which is wiped.  u32 number of entries */
	MSG_SIGNER_KEYS_END = 145,
	/* qmgr -> signer: FD read-only queue file.  str id, u64 content offset,
	 * u64 content length.  Answer SIGN_RESULT, same reqid:
	 *   str id, u8 status (SIGN_*), str DKIM-Signature field(s) with their CRLFs
	 *   ("" unless SIGN_OK), str what happened (for the log) */
	MSG_SIGN_REQUEST = 146,
	MSG_SIGN_RESULT = 147,

	/*
	 * DANE (RFC 7672): scheduler <-> resolver
	 */
	/* str MX host, u16 port: the TLSA records of _port._tcp.host.
	 * Answer DNS_TLSA: u8 status, u8 dnssec, u32 ttl, u16 records seen,
	 *   u16 n, n times (the usable ones, shared/dane.h): u8 usage, u8 selector,
	 *   u8 matching type, bytes data */
	MSG_DNS_QUERY_TLSA = 216,
	MSG_DNS_TLSA = 217,

	/*
	 * MTA-STS (RFC 8461): scheduler <-> resolver, scheduler <-> sts
	 */
	/* str name.  Answer DNS_TXT: u8 status, u8 dnssec, u32 ttl, u16 n, n times
	 *   str text (the record's character-strings joined; records holding NUL
	 *   bytes or longer than STS_TXT_MAX are left out) */
	MSG_DNS_QUERY_TXT = 218,
	MSG_DNS_TXT = 219,
	/* scheduler -> sts: str domain, u8 txt (enum sts_txt), str id (the TXT
	 *   record's, or ""), u16 n, n times addr (of mta-sts.<domain>, to fetch from).
	 * Answer STS_POLICY: str domain, u8 found, u8 mode (enum sts_mode),
	 *   u32 max_age, u64 expires (unix seconds), str id, u8 fetched (1: fetched
	 *   now, 0: from the cache), u16 n, n times str mx pattern */
	MSG_STS_GET = 220,
	MSG_STS_POLICY = 221,

	/*
	 * traffic shaping (240..251)
	 */
	/* agent -> scheduler: a connection attempt got no answer (SYN dropped):
	 *   addr, u16 port, str why. The scheduler keeps it in its
	 *   unreachable-host cache (sched_shape_dead.c). */
	MSG_AGENT_UNREACHABLE = 240,

	/*
	 * TLS reporting (RFC 8460): agent -> scheduler -> sts (the counters),
	 * sts <-> scheduler <-> resolver (rua), sts -> scheduler -> qmgr (report mails)
	 */
	/* agent -> scheduler, the job's reqid, once per connection that got as far as
	 *   EHLO or TLS: str MX host, str address, u8 outcome (enum tls_outcome,
	 *   shared/tlsrpt.h), u32 the X509 verification result (X509_V_*),
	 *   str our own address on that connection ("" unknown) */
	MSG_AGENT_TLS_SESSION = 224,
	/* scheduler -> sts: one session or policy failure to count.
	 *   str policy domain, u8 policy type (enum tlsrpt_policy_type), u8 result
	 *   (enum tlsrpt_result, 0: success), str receiving MX host, str receiving
	 *   address ("" unknown), n16{ str policy-string line (tlsa: the records) },
	 *   str sending address ("" unknown) */
	MSG_TLSRPT_COUNT = 225,
	/* sts -> scheduler: str policy domain: look up _smtp._tls.<domain> TXT.
	 * Answer TLSRPT_RUA, same reqid: str domain, u8 status (enum dns_status),
	 *   n16{ str text } */
	MSG_TLSRPT_LOOKUP = 226,
	MSG_TLSRPT_RUA = 227,
	/* sts -> scheduler -> qmgr (routed unread): queue one report mail.
	 *   str recipient, str report domain, str report id, str file name,
	 *   u64 date-range start, u64 end, bytes gzip (the sender and the submitter
	 *   are the qmgr's, from its config: tlsrpt_from, tlsrpt_submitter).
	 * Answer TLSRPT_QUEUED (qmgr -> scheduler -> sts), same reqid:
	 *   u8 ok, str queue id or what failed */
	MSG_TLSRPT_MAIL = 228,
	MSG_TLSRPT_QUEUED = 229,
	/* sts -> scheduler: str host (of an https: rua), to connect to.
	 * Answer TLSRPT_ADDRS, same reqid: u8 status (enum dns_status), n16{ addr } */
	MSG_TLSRPT_RESOLVE = 230,
	MSG_TLSRPT_ADDRS = 231,

	/*
	 * large queues (246..250)
	 */
	/* qmgr -> scheduler: whole mails in one frame, as SCHED_MAIL, its
	 * SCHED_RCPTs and SCHED_MAIL_END would announce them (used while the
	 * queue is indexed or streamed: a frame and a wake-up per mail instead
	 * of three).  n16{ str id, u64 arrival, u64 size, u32 flags, str sender,
	 *   n32{ u8 state, u32 attempts, u64 next, str addr } } */
	MSG_SCHED_MAILS = 246,
	/* scheduler -> qmgr: a mail whose open recipients all wait for a later
	 * re-send leaves the scheduler's memory (more than queue_active_limit
	 * mails there): the qmgr keeps it on disk and announces it again when
	 * due.  str id, u64 due (unix seconds, the scheduler's clock), u32 count
	 * of SCHED_FLUSH frames the scheduler has read.  No answer. */
	MSG_QMGR_PARK = 248,

	/*
	 * dead destinations (236..239)
	 */
	/* agent -> scheduler: a new connection to this address was accepted:
	 *   addr, u16 port. Until one is, the scheduler sends at most one
	 *   transaction at a time to an address (sched_shape_dead.c). */
	MSG_AGENT_REACHED = 236,

	MSG_TYPE_MAX = 256
};

/* SIGN_RESULT status */
#define SIGN_OK		0	/* signed: the fields go out before the content */
#define SIGN_NONE	1	/* no [dkim] entry for the From: domain: unsigned */
#define SIGN_FAIL	2	/* could not sign (unreadable content, bad key): unsigned */
/* AGENT_DELIVER reuse: the destination has no [destinations] reuse= setting */
#define DELIVER_REUSE_DEFAULT	255

/* SUBMIT_BEGIN flags */
#define SUBMIT_F_8BITMIME	0x0001	/* BODY=8BITMIME was declared */
#define SUBMIT_F_SMTPUTF8	0x0002

/* Mail flags kept in the queue and passed on */
#define MAIL_F_8BIT		0x0001	/* content holds bytes >= 0x80 */
#define MAIL_F_BOUNCE		0x0002	/* a DSN we generated (sender <>) */
#define MAIL_F_HELD		0x0004	/* on hold (outpostctl hold): not scheduled */
#define MAIL_F_DELAY_WARNED	0x0008	/* the sender got its delay notice */

/* When a mail still deferred earns its sender a delay notice; 0: never (off,
 * sender <>, a bounce, or warned already). Read by the scheduler, and by the
 * queue manager for the due time of a mail kept on disk. */
static inline uint64_t
mail_delay_warn_at(uint64_t arrival, unsigned delay_warning, uint32_t flags, bool null_sender)
{
	/* Never to <>: a notice about a bounce would answer a bounce. */
	if (delay_warning == 0 || null_sender ||
	    (flags & (MAIL_F_BOUNCE | MAIL_F_DELAY_WARNED)))
		return 0;
	return arrival + delay_warning;
}

/* AGENT_DELIVER dflags */
#define DELIVER_F_RELAY		0x01	/* the relay host: the only one AUTH goes to */
#define DELIVER_F_SMTPS		0x02	/* implicit TLS from the first byte (smtps://) */

enum rcpt_state {
	RCPT_PENDING = 0,	/* never tried */
	RCPT_DEFERRED = 1,	/* tried, failed temporarily, will be re-sent */
	RCPT_DELIVERED = 2,	/* final */
	RCPT_FAILED = 3,	/* final: bounced */
	RCPT_STATE_MAX
};

enum delivery_class {
	DELIVERY_OK = 0,
	DELIVERY_TEMPFAIL = 1,
	DELIVERY_PERMFAIL = 2,
};

#define DNS_FAM_V4	0x01
#define DNS_FAM_V6	0x02
#define DNS_FAM_MXTARGET 0x04	/* the name is an MX target: a CNAME there is refused
				   (RFC 2181 section 10.3), answered DNS_PERMFAIL */

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,	/* the name does not exist: permanent */
	DNS_NODATA,	/* the name exists, no record of that type */
	DNS_NULLMX,	/* RFC 7505: the domain accepts no mail */
	DNS_TEMPFAIL,	/* SERVFAIL, timeout: try again later */
	DNS_PERMFAIL,	/* malformed or hostile answer */
};

enum dns_sec { DNSSEC_INSECURE = 0, DNSSEC_SECURE = 1, DNSSEC_BOGUS = 2 };

struct frame;

const char	*msg_name(uint16_t type);
/* The payload layout of a type in msg.c's notation, or NULL. */
const char	*msg_schema_of(uint16_t type);
/* Does a received frame match its type's layout exactly (chan checks every frame)? */
bool		 msg_validate(const struct frame *, const char **why);
bool		 msg_known(uint16_t type);
const char	*rcpt_state_name(uint8_t state);

#endif
