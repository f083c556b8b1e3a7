/* SPDX-License-Identifier: ISC */
/*
 * queue_file.h - the on-disk format of one queued mail.
 *
 * Written and read only by the queue manager (daemons/qmgr); kept in shared/
 * so that tools (outpostctl) and the fuzzer can decode it too. Pure
 * functions over memory buffers: no I/O happens here.
 *
 * A queue file is binary and never parsed as text. Integers are little
 * endian; every variable field carries its length.
 *
 *   file header   "OUTPOSTQ" (8 bytes), u32 version (QF_VERSION), u32 0
 *   records       u8 type, u64 payload length, payload; in this order:
 *     QF_REC_ENV      u64 arrival (unix s), u32 submitter uid, u32 flags
 *                     (MAIL_F_*), u32 nrcpt, str id, str origin, str sender
 *                     (str = u32 length + bytes, no NUL, no control chars)
 *     QF_REC_RCPT     str address                       (exactly nrcpt times)
 *     QF_REC_CONTENT  the message bytes exactly as submitted
 *     QF_REC_TRAILER  32 bytes: BLAKE2b-256(bytes[0, content offset) ||
 *                     H(content)), H = XXH3-128 (16 bytes, canonical big
 *                     endian) in version 2, BLAKE2b-256 in version 1 (still
 *                     read: a queue written by an older outpost is delivered
 *                     after an upgrade). The content is hashed on its own so
 *                     that a writer can stream it to disk and fill in the
 *                     prefix (flags, content length) at commit.
 *   state records  zero or more, each QF_STATE_SIZE bytes, appended after
 *                  the trailer, never rewritten:
 *     u32 "QST1", u32 recipient index, u8 state, u8 dsn length, u16 smtp
 *     code, u32 attempts, u64 next attempt, u64 time written, u16 relay
 *     length, u16 reply length, dsn, relay, reply, zero padding, and 16 bytes
 *     of BLAKE2b-128 keyed with the trailer hash over everything before them
 *     (so a record is bound to its mail and cannot be copied to another).
 *
 *   a DKIM record  at most one, appended like the state records, in whole
 *                  QF_STATE_SIZE slots (at most QF_DKIM_SLOTS_MAX): u32 "QDK1",
 *                  u32 slots, u32 length, the DKIM-Signature field(s) as
 *                  they go out before the content (length bytes, CRLF line
 *                  ends; 0 bytes: the mail was looked at and goes unsigned),
 *                  zero padding, and the same 16-byte keyed BLAKE2b-128 over
 *                  the record before it. Files written before it existed
 *                  simply have none; recovery then asks the signer again.
 *
 * The trailer detects damage (a torn or flipped file), not tampering: it
 * is keyed by nothing, and whoever can write the queue directory can write
 * a matching trailer too. So the content, the only part that is large, is
 * hashed with XXH3 (stable output since xxHash 0.8.0; ~15 GB/s against
 * ~0.6 GB/s for BLAKE2b, which took two thirds of the queue manager's CPU
 * for a 1 MiB mail), and BLAKE2b keeps the small parts: the file hash over
 * the prefix and the content hash, and the state records' keyed sums.
 *
 * A state record is one append + fdatasync; a crash can leave the last
 * append torn. Reading: a run of bad records reaching the end of the file
 * (or a partial record at the end) is a torn tail, dropped (QF_TORN, with
 * valid_len telling where the good part ends). A bad record followed by a
 * good one, a bad trailer hash, or anything malformed before the trailer
 * makes the file corrupt (QF_CORRUPT).
 */
#ifndef OUTPOST_QUEUE_FILE_H
#define OUTPOST_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>
#include <xxhash.h>

#include "msg.h"

#define QF_MAGIC		"OUTPOSTQ"
#define QF_MAGIC_LEN		8
#define QF_VERSION		2	/* written; 1 is still read */
#define QF_VERSION_BLAKE2	1	/* content hash BLAKE2b-256 */
#define QF_FILE_HDR_LEN		16
#define QF_REC_HDR_LEN		9
#define QF_HASH_LEN		32
#define QF_TRAILER_LEN		(QF_REC_HDR_LEN + QF_HASH_LEN)
#define QF_STATE_SIZE		1536
#define QF_STATE_SUM_LEN	16
#define QF_STATE_MAGIC		"QST1"
#define QF_DKIM_MAGIC		"QDK1"
#define QF_DKIM_SLOTS_MAX	4
#define QF_DKIM_FIXED		12
#define QF_DKIM_MAX		(QF_DKIM_SLOTS_MAX * QF_STATE_SIZE - QF_DKIM_FIXED - QF_STATE_SUM_LEN)

/* Bounds enforced on write and on read. */
#define QF_ORIGIN_MAX		1024	/* bytes, without NUL */
#define QF_RELAY_MAX		255
#define QF_RCPT_MAX		100000

enum qf_rec {
	QF_REC_ENV = 1,
	QF_REC_RCPT = 2,
	QF_REC_CONTENT = 3,
	QF_REC_TRAILER = 4,
};

struct qf_envelope {
	char		  id[QUEUE_ID_MAX];
	uint64_t	  arrival;
	uint32_t	  uid;
	uint32_t	  flags;
	char		 *origin;
	char		 *sender;	/* "" is <> */
	uint32_t	  nrcpt;
	char		**rcpt;
};

/* The state of one recipient, as carried by one state record. */
struct qf_state {
	uint32_t	index;
	uint8_t		state;		/* enum rcpt_state */
	uint32_t	attempts;
	uint64_t	next;		/* next attempt, unix seconds */
	uint64_t	when;		/* time the record was written */
	uint16_t	code;
	char		dsn[DSN_MAX];
	char		relay[QF_RELAY_MAX + 1];
	char		reply[REPLY_MAX];
};

/* A decoded queue file. rcpt_state[i] is the latest state of recipient i. */
struct qf_mail {
	struct qf_envelope env;
	uint64_t	  content_off;
	uint64_t	  content_len;
	uint64_t	  trailer_end;	/* first state record starts here */
	uint64_t	  valid_len;	/* end of the last good state record */
	unsigned	  nstates;	/* good state records read */
	uint8_t		  hash[QF_HASH_LEN];
	struct qf_state	 *rcpt_state;	/* nrcpt entries */
	bool		  dkim_set;	/* a DKIM record was found */
	char		 *dkim;		/* its fields ("" unsigned), NULL without one */
};

enum qf_result {
	QF_OK = 0,
	QF_TORN = 1,		/* good, but a torn tail after valid_len was ignored */
	QF_CORRUPT = -1,
};

/* Is s a well-formed queue id (24 upper-case hex digits)? */
bool	qf_id_valid(const char *s);
/* Make a new queue id: 13 hex digits of microseconds, 11 random hex digits. */
void	qf_id_new(char id[QUEUE_ID_MAX]);
/* Is s fit for a header field of the file (bounded, no control bytes)? */
bool	qf_str_valid(const char *s, size_t max);

/*
 * Encode header, envelope, recipients and the content record's header with
 * the given content length. *out is allocated; returns its length, which is
 * the content offset. The length depends only on the strings, never on
 * flags or content_len, so a writer can re-encode the final prefix at commit
 * and write it over the provisional one. Returns 0 if a field is invalid.
 */
size_t	qf_prefix_encode(const struct qf_envelope *, uint64_t content_len, uint8_t **out);

/*
 * Streaming hash of the content of a file being written (version
 * QF_VERSION). Zeroed, it holds nothing; init allocates its state the first
 * time and starts over after that, so one can serve many files; free gives
 * the state back.
 */
struct qf_chash {
	XXH3_state_t	*st;
};
void	qf_content_hash_init(struct qf_chash *);
void	qf_content_hash_update(struct qf_chash *, const void *, size_t);
void	qf_content_hash_free(struct qf_chash *);
/* Finish: build the trailer record (out) and the file hash (hash). */
void	qf_trailer_encode(const uint8_t *prefix, size_t prefixlen, struct qf_chash *,
	    uint8_t out[QF_TRAILER_LEN], uint8_t hash[QF_HASH_LEN]);

/* Encode one state record for the file whose trailer hash is hash. */
void	qf_state_encode(const struct qf_state *, const uint8_t hash[QF_HASH_LEN],
	    uint8_t out[QF_STATE_SIZE]);

/*
 * Encode the DKIM record of fields (printable ASCII, tabs and CRLFs, at most
 * QF_DKIM_MAX bytes) for the file whose trailer hash is hash. *out is
 * allocated; returns its length (whole slots), or 0 if fields do not fit.
 */
size_t	qf_dkim_encode(const char *fields, const uint8_t hash[QF_HASH_LEN], uint8_t **out);
/* Are these DKIM-Signature fields fit for the record? */
bool	qf_dkim_valid(const char *fields);

/*
 * Decode and verify a whole file image. On QF_OK/QF_TORN m is filled (free
 * it with qf_mail_free); on QF_CORRUPT m is empty and why names the reason.
 */
enum qf_result qf_parse(const uint8_t *buf, size_t len, struct qf_mail *m, const char **why);
void	qf_mail_free(struct qf_mail *);
void	qf_envelope_free(struct qf_envelope *);

/* Byte-order helpers shared by the encoder and decoder. */
void	qf_put_u16(uint8_t *, uint16_t);
void	qf_put_u32(uint8_t *, uint32_t);
void	qf_put_u64(uint8_t *, uint64_t);
uint16_t qf_get_u16(const uint8_t *);
uint32_t qf_get_u32(const uint8_t *);
uint64_t qf_get_u64(const uint8_t *);

#endif
