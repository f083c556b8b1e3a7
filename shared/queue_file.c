/* SPDX-License-Identifier: ISC */
/*
 * queue_file.c - encode and decode the queue file format (queue_file.h).
 *
 * Run by the queue manager (writing at submission, appending state, reading
 * at recovery), by tools and by the fuzzer. Everything read is bounded and
 * checked before use: a queue file is input like any other.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sodium.h>

#include "buf.h"
#include "log.h"
#include "queue_file.h"
#include "xmalloc.h"

#define QF_ENV_MAX	(64 * 1024)	/* bound on the envelope record */
#define QF_STATE_FIXED	36		/* fixed part of a state record */

void
qf_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

void
qf_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

void
qf_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

uint16_t
qf_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t
qf_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t
qf_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

bool
qf_id_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 24)
			return false;
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	}
	return i == 24;
}

void
qf_id_new(char id[QUEUE_ID_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	struct timeval tv;
	uint64_t us;
	uint8_t rnd[6];
	int i;

	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	randombytes_buf(rnd, sizeof(rnd));
	/* 13 hex digits of time keep ids in arrival order until the year 2112. */
	for (i = 12; i >= 0; i--) {
		id[i] = hex[us & 0xf];
		us >>= 4;
	}
	for (i = 0; i < 11; i++)
		id[13 + i] = hex[(rnd[i / 2] >> ((i & 1) ? 4 : 0)) & 0xf];
	id[24] = '\0';
}

bool
qf_str_valid(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = s[i];

		if (i >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* A growing output buffer for the prefix. */
static void
ob_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	qf_put_u32(buf_reserve(b, 4), n);
	memcpy(buf_reserve(b, n), s, n);
}

static size_t
ob_rec_begin(struct buf *b, uint8_t type)
{
	uint8_t *h = buf_reserve(b, QF_REC_HDR_LEN);

	h[0] = type;
	return b->len;		/* payload start; length filled by ob_rec_end */
}

static void
ob_rec_end(struct buf *b, size_t start)
{
	qf_put_u64((uint8_t *)b->p + start - 8, b->len - start);
}

size_t
qf_prefix_encode(const struct qf_envelope *e, uint64_t content_len, uint8_t **out)
{
	struct buf b = { NULL, 0, 0 };
	uint8_t *p;
	size_t start;
	uint32_t i;

	*out = NULL;
	if (!qf_id_valid(e->id) || !qf_str_valid(e->origin, QF_ORIGIN_MAX) ||
	    !qf_str_valid(e->sender, ADDR_MAX - 1) || e->nrcpt == 0 ||
	    e->nrcpt > QF_RCPT_MAX)
		return 0;
	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i][0] == '\0' || !qf_str_valid(e->rcpt[i], ADDR_MAX - 1))
			return 0;

	p = buf_reserve(&b, QF_FILE_HDR_LEN);
	memcpy(p, QF_MAGIC, QF_MAGIC_LEN);
	qf_put_u32(p + 8, QF_VERSION);
	qf_put_u32(p + 12, 0);

	start = ob_rec_begin(&b, QF_REC_ENV);
	p = buf_reserve(&b, 8 + 4 + 4 + 4);
	qf_put_u64(p, e->arrival);
	qf_put_u32(p + 8, e->uid);
	qf_put_u32(p + 12, e->flags);
	qf_put_u32(p + 16, e->nrcpt);
	ob_str(&b, e->id);
	ob_str(&b, e->origin);
	ob_str(&b, e->sender);
	ob_rec_end(&b, start);

	for (i = 0; i < e->nrcpt; i++) {
		start = ob_rec_begin(&b, QF_REC_RCPT);
		ob_str(&b, e->rcpt[i]);
		ob_rec_end(&b, start);
	}

	ob_rec_begin(&b, QF_REC_CONTENT);
	qf_put_u64((uint8_t *)b.p + b.len - 8, content_len);
	*out = (uint8_t *)b.p;
	return b.len;
}

void
qf_content_hash_init(struct qf_chash *h)
{
	if (h->st == NULL && (h->st = XXH3_createState()) == NULL)
		fatalx("XXH3_createState: out of memory");
	if (XXH3_128bits_reset(h->st) != XXH_OK)
		fatalx("XXH3_128bits_reset");
}

void
qf_content_hash_update(struct qf_chash *h, const void *p, size_t n)
{
	/* fails only for a NULL input with n > 0 */
	if (XXH3_128bits_update(h->st, p, n) != XXH_OK)
		fatalx("XXH3_128bits_update");
}

void
qf_content_hash_free(struct qf_chash *h)
{
	XXH3_freeState(h->st);
	h->st = NULL;
}

/* The content hash of a version-2 file, as its trailer's input has it. */
static size_t
content_hash_digest(XXH128_hash_t x, uint8_t out[QF_HASH_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, x);
	memcpy(out, c.digest, sizeof(c.digest));
	return sizeof(c.digest);
}

static void
file_hash(const uint8_t *prefix, size_t prefixlen, const uint8_t *chash, size_t chashlen,
    uint8_t hash[QF_HASH_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, QF_HASH_LEN);
	crypto_generichash_update(&st, prefix, prefixlen);
	crypto_generichash_update(&st, chash, chashlen);
	crypto_generichash_final(&st, hash, QF_HASH_LEN);
}

void
qf_trailer_encode(const uint8_t *prefix, size_t prefixlen, struct qf_chash *h,
    uint8_t out[QF_TRAILER_LEN], uint8_t hash[QF_HASH_LEN])
{
	uint8_t chash[QF_HASH_LEN];
	size_t chashlen;

	chashlen = content_hash_digest(XXH3_128bits_digest(h->st), chash);
	file_hash(prefix, prefixlen, chash, chashlen, hash);
	out[0] = QF_REC_TRAILER;
	qf_put_u64(out + 1, QF_HASH_LEN);
	memcpy(out + QF_REC_HDR_LEN, hash, QF_HASH_LEN);
}

static void
state_sum(const uint8_t *rec, const uint8_t hash[QF_HASH_LEN], uint8_t sum[QF_STATE_SUM_LEN])
{
	crypto_generichash(sum, QF_STATE_SUM_LEN, rec, QF_STATE_SIZE - QF_STATE_SUM_LEN,
	    hash, QF_HASH_LEN);
}

void
qf_state_encode(const struct qf_state *s, const uint8_t hash[QF_HASH_LEN],
    uint8_t out[QF_STATE_SIZE])
{
	size_t dl, rl, pl, off;

	/* Fields are bounded by their buffers; cut, never overflow. */
	dl = strnlen(s->dsn, DSN_MAX - 1);
	rl = strnlen(s->relay, QF_RELAY_MAX);
	pl = strnlen(s->reply, REPLY_MAX - 1);

	memset(out, 0, QF_STATE_SIZE);
	memcpy(out, QF_STATE_MAGIC, 4);
	qf_put_u32(out + 4, s->index);
	out[8] = s->state;
	out[9] = dl;
	qf_put_u16(out + 10, s->code);
	qf_put_u32(out + 12, s->attempts);
	qf_put_u64(out + 16, s->next);
	qf_put_u64(out + 24, s->when);
	qf_put_u16(out + 32, rl);
	qf_put_u16(out + 34, pl);
	off = QF_STATE_FIXED;
	memcpy(out + off, s->dsn, dl);
	off += dl;
	memcpy(out + off, s->relay, rl);
	off += rl;
	memcpy(out + off, s->reply, pl);
	state_sum(out, hash, out + QF_STATE_SIZE - QF_STATE_SUM_LEN);
}

bool
qf_dkim_valid(const char *f)
{
	size_t n = strlen(f);

	if (n > QF_DKIM_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = f[i];
		if ((c < 0x20 || c > 0x7e) && c != '\t' && c != '\r' && c != '\n')
			return false;
	}
	return true;
}

static void
dkim_sum(const uint8_t *rec, size_t len, const uint8_t hash[QF_HASH_LEN], uint8_t sum[QF_STATE_SUM_LEN])
{
	crypto_generichash(sum, QF_STATE_SUM_LEN, rec, len - QF_STATE_SUM_LEN, hash, QF_HASH_LEN);
}

size_t
qf_dkim_encode(const char *fields, const uint8_t hash[QF_HASH_LEN], uint8_t **out)
{
	size_t n = strlen(fields), slots, len;
	uint8_t *p;

	*out = NULL;
	if (!qf_dkim_valid(fields))
		return 0;
	slots = (QF_DKIM_FIXED + n + QF_STATE_SUM_LEN + QF_STATE_SIZE - 1) / QF_STATE_SIZE;
	len = slots * QF_STATE_SIZE;
	p = xcalloc(1, len);
	memcpy(p, QF_DKIM_MAGIC, 4);
	qf_put_u32(p + 4, (uint32_t)slots);
	qf_put_u32(p + 8, (uint32_t)n);
	memcpy(p + QF_DKIM_FIXED, fields, n);
	dkim_sum(p, len, hash, p + len - QF_STATE_SUM_LEN);
	*out = p;
	return len;
}

/* A DKIM record of this file at rec (avail bytes left): its length in bytes, or 0. */
static size_t
dkim_decode(const uint8_t *rec, size_t avail, struct qf_mail *m)
{
	uint8_t sum[QF_STATE_SUM_LEN];
	uint32_t slots, n;
	size_t len, i;
	char *f;

	if (memcmp(rec, QF_DKIM_MAGIC, 4) != 0)
		return 0;
	slots = qf_get_u32(rec + 4);
	n = qf_get_u32(rec + 8);
	if (slots == 0 || slots > QF_DKIM_SLOTS_MAX || (size_t)slots * QF_STATE_SIZE > avail)
		return 0;
	len = (size_t)slots * QF_STATE_SIZE;
	if (n > len - QF_DKIM_FIXED - QF_STATE_SUM_LEN)
		return 0;
	dkim_sum(rec, len, m->hash, sum);
	if (sodium_memcmp(sum, rec + len - QF_STATE_SUM_LEN, QF_STATE_SUM_LEN) != 0)
		return 0;
	for (i = QF_DKIM_FIXED + n; i < len - QF_STATE_SUM_LEN; i++)
		if (rec[i] != 0)
			return 0;
	f = xmalloc(n + 1);
	memcpy(f, rec + QF_DKIM_FIXED, n);
	f[n] = '\0';
	if (strlen(f) != n || !qf_dkim_valid(f)) {
		free(f);
		return 0;
	}
	free(m->dkim);
	m->dkim = f;
	m->dkim_set = true;
	return len;
}

/* A bounded reader over the file image. */
struct rd {
	const uint8_t	*p;
	size_t		 len, off;
};

static bool
rd_need(struct rd *r, size_t n)
{
	return r->len - r->off >= n;
}

static bool
rd_u32(struct rd *r, uint32_t *v)
{
	if (!rd_need(r, 4))
		return false;
	*v = qf_get_u32(r->p + r->off);
	r->off += 4;
	return true;
}

static bool
rd_u64(struct rd *r, uint64_t *v)
{
	if (!rd_need(r, 8))
		return false;
	*v = qf_get_u64(r->p + r->off);
	r->off += 8;
	return true;
}

/* A str field: copied out, checked for bounds and control bytes. */
static bool
rd_str(struct rd *r, size_t max, char **out)
{
	uint32_t n;
	char *s;

	if (!rd_u32(r, &n) || n > max || !rd_need(r, n))
		return false;
	s = xmalloc(n + 1);
	memcpy(s, r->p + r->off, n);
	s[n] = '\0';
	r->off += n;
	if (strlen(s) != n || !qf_str_valid(s, max)) {
		free(s);
		return false;
	}
	*out = s;
	return true;
}

/* A record header of the expected type; sets *sub to its payload. */
static bool
rd_rec(struct rd *r, uint8_t type, uint64_t max, struct rd *sub)
{
	uint64_t n;

	if (!rd_need(r, QF_REC_HDR_LEN) || r->p[r->off] != type)
		return false;
	n = qf_get_u64(r->p + r->off + 1);
	r->off += QF_REC_HDR_LEN;
	if (n > max || n > r->len - r->off)
		return false;
	sub->p = r->p + r->off;
	sub->len = n;
	sub->off = 0;
	r->off += n;
	return true;
}

/* Decode one state record; false if it is not a good record of this file. */
static bool
state_decode(const uint8_t *rec, const struct qf_mail *m, struct qf_state *s)
{
	uint8_t sum[QF_STATE_SUM_LEN];
	size_t dl, rl, pl, off, i;

	state_sum(rec, m->hash, sum);
	if (sodium_memcmp(sum, rec + QF_STATE_SIZE - QF_STATE_SUM_LEN, QF_STATE_SUM_LEN) != 0)
		return false;
	if (memcmp(rec, QF_STATE_MAGIC, 4) != 0)
		return false;
	memset(s, 0, sizeof(*s));
	s->index = qf_get_u32(rec + 4);
	s->state = rec[8];
	dl = rec[9];
	s->code = qf_get_u16(rec + 10);
	s->attempts = qf_get_u32(rec + 12);
	s->next = qf_get_u64(rec + 16);
	s->when = qf_get_u64(rec + 24);
	rl = qf_get_u16(rec + 32);
	pl = qf_get_u16(rec + 34);
	if (s->index >= m->env.nrcpt || s->state >= RCPT_STATE_MAX || dl >= DSN_MAX ||
	    rl > QF_RELAY_MAX || pl >= REPLY_MAX ||
	    QF_STATE_FIXED + dl + rl + pl > QF_STATE_SIZE - QF_STATE_SUM_LEN)
		return false;
	off = QF_STATE_FIXED;
	memcpy(s->dsn, rec + off, dl);
	off += dl;
	memcpy(s->relay, rec + off, rl);
	off += rl;
	memcpy(s->reply, rec + off, pl);
	off += pl;
	for (i = off; i < QF_STATE_SIZE - QF_STATE_SUM_LEN; i++)
		if (rec[i] != 0)
			return false;
	if (strlen(s->dsn) != dl || strlen(s->relay) != rl || strlen(s->reply) != pl ||
	    !qf_str_valid(s->dsn, DSN_MAX) || !qf_str_valid(s->relay, QF_RELAY_MAX) ||
	    !qf_str_valid(s->reply, REPLY_MAX))
		return false;
	return true;
}

void
qf_envelope_free(struct qf_envelope *e)
{
	uint32_t i;

	if (e->rcpt != NULL)
		for (i = 0; i < e->nrcpt; i++)
			free(e->rcpt[i]);
	free(e->rcpt);
	free(e->origin);
	free(e->sender);
	memset(e, 0, sizeof(*e));
}

void
qf_mail_free(struct qf_mail *m)
{
	qf_envelope_free(&m->env);
	free(m->rcpt_state);
	free(m->dkim);
	memset(m, 0, sizeof(*m));
}

#define CORRUPT(reason) do { *why = (reason); goto bad; } while (0)

enum qf_result
qf_parse(const uint8_t *buf, size_t len, struct qf_mail *m, const char **why)
{
	struct rd r = { buf, len, 0 }, sub;
	struct qf_envelope *e = &m->env;
	struct qf_state st;
	uint8_t chash[QF_HASH_LEN], hash[QF_HASH_LEN];
	char *id = NULL;
	uint64_t off;
	uint32_t i, version;
	size_t chashlen;
	bool bad_seen = false;

	memset(m, 0, sizeof(*m));
	*why = NULL;

	if (len < QF_FILE_HDR_LEN)
		CORRUPT("truncated file header");
	if (memcmp(buf, QF_MAGIC, QF_MAGIC_LEN) != 0)
		CORRUPT("bad magic");
	if ((version = qf_get_u32(buf + 8)) != QF_VERSION && version != QF_VERSION_BLAKE2)
		CORRUPT("unknown format version");
	if (qf_get_u32(buf + 12) != 0)
		CORRUPT("bad file header");
	r.off = QF_FILE_HDR_LEN;

	if (!rd_rec(&r, QF_REC_ENV, QF_ENV_MAX, &sub))
		CORRUPT("missing or truncated envelope");
	if (!rd_u64(&sub, &e->arrival) || !rd_u32(&sub, &e->uid) ||
	    !rd_u32(&sub, &e->flags) || !rd_u32(&sub, &e->nrcpt))
		CORRUPT("truncated envelope");
	if (e->nrcpt == 0 || e->nrcpt > QF_RCPT_MAX)
		CORRUPT("bad recipient count");
	if (!rd_str(&sub, QUEUE_ID_MAX - 1, &id) || !qf_id_valid(id))
		CORRUPT("bad queue id");
	strlcpy(e->id, id, sizeof(e->id));
	if (!rd_str(&sub, QF_ORIGIN_MAX, &e->origin))
		CORRUPT("bad origin");
	if (!rd_str(&sub, ADDR_MAX - 1, &e->sender))
		CORRUPT("bad sender");
	if (sub.off != sub.len)
		CORRUPT("trailing bytes in envelope");

	/* Recipients: never trust nrcpt for an allocation before they exist. */
	if (e->nrcpt > (len - r.off) / (QF_REC_HDR_LEN + 5))
		CORRUPT("truncated recipients");
	e->rcpt = xcalloc(e->nrcpt, sizeof(char *));
	for (i = 0; i < e->nrcpt; i++) {
		if (!rd_rec(&r, QF_REC_RCPT, ADDR_MAX + 4, &sub) ||
		    !rd_str(&sub, ADDR_MAX - 1, &e->rcpt[i]) || sub.off != sub.len ||
		    e->rcpt[i][0] == '\0')
			CORRUPT("bad recipient record");
	}

	m->content_off = r.off + QF_REC_HDR_LEN;
	if (!rd_rec(&r, QF_REC_CONTENT, UINT64_MAX, &sub))
		CORRUPT("missing or truncated content");
	m->content_len = sub.len;
	if (version == QF_VERSION_BLAKE2) {
		crypto_generichash(chash, QF_HASH_LEN, sub.p, sub.len, NULL, 0);
		chashlen = QF_HASH_LEN;
	} else
		chashlen = content_hash_digest(XXH3_128bits(sub.p, sub.len), chash);
	file_hash(buf, m->content_off, chash, chashlen, hash);

	if (!rd_rec(&r, QF_REC_TRAILER, QF_HASH_LEN, &sub) || sub.len != QF_HASH_LEN)
		CORRUPT("missing or truncated trailer");
	if (sodium_memcmp(hash, sub.p, QF_HASH_LEN) != 0)
		CORRUPT("bad hash");
	memcpy(m->hash, hash, QF_HASH_LEN);
	m->trailer_end = r.off;

	m->rcpt_state = xcalloc(e->nrcpt, sizeof(struct qf_state));
	for (i = 0; i < e->nrcpt; i++)
		m->rcpt_state[i].index = i;
	m->valid_len = r.off;
	for (off = r.off; len - off >= QF_STATE_SIZE; off += QF_STATE_SIZE) {
		size_t dl;

		if ((dl = dkim_decode(buf + off, len - off, m)) > 0) {
			if (bad_seen)
				CORRUPT("bad state record before a good one");
			m->valid_len = off + dl;
			off += dl - QF_STATE_SIZE;
			continue;
		}
		if (!state_decode(buf + off, m, &st)) {
			bad_seen = true;
			continue;
		}
		if (bad_seen)
			CORRUPT("bad state record before a good one");
		m->rcpt_state[st.index] = st;
		m->nstates++;
		m->valid_len = off + QF_STATE_SIZE;
	}
	free(id);
	if (bad_seen || m->valid_len != len) {
		*why = bad_seen ? "torn state record at the end" : "partial state record at the end";
		return QF_TORN;
	}
	return QF_OK;

bad:
	free(id);
	qf_mail_free(m);
	return QF_CORRUPT;
}
