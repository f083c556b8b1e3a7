/* SPDX-License-Identifier: ISC */
/*
 * test_queue_file.c - the queue file format (shared/queue_file.c): a mail
 * survives encode/decode exactly; every damage before the trailer, a bad
 * hash, bad magic or version, oversized fields are rejected as corrupt; a
 * torn state tail is dropped (QF_TORN) while a bad record followed by a good
 * one is corruption; state records are bound to their file; the DKIM record
 * round-trips between state records, is optional (older files), is dropped
 * when torn and is bound to its file.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "queue_file.h"
#include "xmalloc.h"
#include "check_run.h"

static const char *rcpts[] = { "a@example.net", "\"b c\"@example.org", "d@[127.0.0.1]" };
static const char content[] = "Subject: hi\r\n\r\nbody \xc3\xa9\r\n.\r\n";

/* A file image built the way the qmgr writes one. */
struct img {
	uint8_t	*p;
	size_t	 len;
	size_t	 content_off;
	uint8_t	 hash[QF_HASH_LEN];
};

static void
env_init(struct qf_envelope *e, const char *sender)
{
	memset(e, 0, sizeof(*e));
	qf_id_new(e->id);
	e->arrival = 1700000000;
	e->uid = 1000;
	e->flags = MAIL_F_8BIT;
	e->origin = (char *)"local uid 1000";
	e->sender = (char *)sender;
	e->nrcpt = 3;
	e->rcpt = (char **)rcpts;
}

static void
img_build(struct img *im, const struct qf_envelope *e, const char *body, size_t blen)
{
	struct qf_chash st = { NULL };
	uint8_t *prefix, trailer[QF_TRAILER_LEN];
	size_t plen;

	plen = qf_prefix_encode(e, blen, &prefix);
	ck_assert_uint_gt(plen, 0);
	qf_content_hash_init(&st);
	qf_content_hash_update(&st, body, blen);
	qf_trailer_encode(prefix, plen, &st, trailer, im->hash);
	qf_content_hash_free(&st);
	im->len = plen + blen + QF_TRAILER_LEN;
	im->p = xmalloc(im->len + 10 * QF_STATE_SIZE);
	memcpy(im->p, prefix, plen);
	memcpy(im->p + plen, body, blen);
	memcpy(im->p + plen + blen, trailer, QF_TRAILER_LEN);
	im->content_off = plen;
	free(prefix);
}

static void
img_add_state(struct img *im, uint32_t index, uint8_t state, const char *reply)
{
	struct qf_state s;

	memset(&s, 0, sizeof(s));
	s.index = index;
	s.state = state;
	s.attempts = 2;
	s.next = 1700000300;
	s.when = 1700000000;
	s.code = 451;
	strlcpy(s.dsn, "4.7.1", sizeof(s.dsn));
	strlcpy(s.relay, "mx.example.net[192.0.2.1]:25", sizeof(s.relay));
	strlcpy(s.reply, reply, sizeof(s.reply));
	qf_state_encode(&s, im->hash, im->p + im->len);
	im->len += QF_STATE_SIZE;
}

static struct img
std_img(void)
{
	struct qf_envelope e;
	struct img im;

	env_init(&e, "sender@example.com");
	img_build(&im, &e, content, sizeof(content) - 1);
	return im;
}

START_TEST(round_trip)
{
	struct qf_envelope e;
	struct qf_mail m;
	struct img im;
	const char *why;
	uint32_t i;

	env_init(&e, "");
	img_build(&im, &e, content, sizeof(content) - 1);
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert_str_eq(m.env.id, e.id);
	ck_assert_uint_eq(m.env.arrival, e.arrival);
	ck_assert_uint_eq(m.env.uid, 1000);
	ck_assert_uint_eq(m.env.flags, MAIL_F_8BIT);
	ck_assert_str_eq(m.env.origin, e.origin);
	ck_assert_str_eq(m.env.sender, "");
	ck_assert_uint_eq(m.env.nrcpt, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(m.env.rcpt[i], rcpts[i]);
		ck_assert_uint_eq(m.rcpt_state[i].state, RCPT_PENDING);
	}
	ck_assert_uint_eq(m.content_off, im.content_off);
	ck_assert_uint_eq(m.content_len, sizeof(content) - 1);
	ck_assert_mem_eq(im.p + m.content_off, content, sizeof(content) - 1);
	ck_assert_uint_eq(m.valid_len, im.len);
	ck_assert_uint_eq(m.trailer_end, im.len);
	ck_assert_mem_eq(m.hash, im.hash, QF_HASH_LEN);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(empty_content_round_trip)
{
	struct qf_envelope e;
	struct qf_mail m;
	struct img im;
	const char *why;

	env_init(&e, "s@example.com");
	img_build(&im, &e, "", 0);
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert_uint_eq(m.content_len, 0);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(state_records_apply_in_order)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;

	img_add_state(&im, 1, RCPT_DEFERRED, "451 4.7.1 try later");
	img_add_state(&im, 1, RCPT_DELIVERED, "250 ok");
	img_add_state(&im, 2, RCPT_FAILED, "550 5.1.1 no such user");
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert_uint_eq(m.nstates, 3);
	ck_assert_uint_eq(m.rcpt_state[0].state, RCPT_PENDING);
	ck_assert_uint_eq(m.rcpt_state[1].state, RCPT_DELIVERED);
	ck_assert_str_eq(m.rcpt_state[1].reply, "250 ok");
	ck_assert_uint_eq(m.rcpt_state[2].state, RCPT_FAILED);
	ck_assert_uint_eq(m.rcpt_state[2].attempts, 2);
	ck_assert_uint_eq(m.rcpt_state[2].next, 1700000300);
	ck_assert_uint_eq(m.rcpt_state[2].code, 451);
	ck_assert_str_eq(m.rcpt_state[2].dsn, "4.7.1");
	ck_assert_str_eq(m.rcpt_state[2].relay, "mx.example.net[192.0.2.1]:25");
	ck_assert_uint_eq(m.valid_len, im.len);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

/* Every truncation before the end of the trailer is corruption. */
START_TEST(truncated_anywhere_is_corrupt)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;
	size_t n;

	for (n = 0; n < im.len; n++) {
		ck_assert_msg(qf_parse(im.p, n, &m, &why) == QF_CORRUPT, "length %zu accepted", n);
		ck_assert_ptr_nonnull(why);
	}
	free(im.p);
}
END_TEST

/* Any single flipped bit before the state records is caught. */
START_TEST(flipped_bit_is_corrupt)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;
	size_t i;

	for (i = 0; i < im.len; i++) {
		im.p[i] ^= 0x04;
		ck_assert_msg(qf_parse(im.p, im.len, &m, &why) == QF_CORRUPT, "flip at %zu accepted", i);
		im.p[i] ^= 0x04;
	}
	free(im.p);
}
END_TEST

static const struct {
	size_t		 off;
	uint8_t		 val;
	const char	*why;
} damage[] = {
	{ 0, 'X', "bad magic" },
	{ 8, 3, "unknown format version" },
	{ 8, 0, "unknown format version" },
	{ 12, 1, "bad file header" },
	{ 16, 9, "missing or truncated envelope" },
};

START_TEST(header_rejections)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;

	im.p[damage[_i].off] = damage[_i].val;
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	ck_assert_str_eq(why, damage[_i].why);
	free(im.p);
}
END_TEST

START_TEST(bad_hash_is_corrupt)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;

	im.p[im.content_off + 3] ^= 1;
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	ck_assert_str_eq(why, "bad hash");
	im.p[im.content_off + 3] ^= 1;
	im.p[im.len - 1] ^= 1;		/* the trailer itself */
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	ck_assert_str_eq(why, "bad hash");
	free(im.p);
}
END_TEST

/*
 * The format, computed here without the module's helpers: version 2's
 * trailer is BLAKE2b-256(prefix || XXH3-128(content), big endian), so a
 * file written today is read by any later outpost.
 */
START_TEST(version2_trailer_is_blake2b_over_prefix_and_xxh3)
{
	struct img im = std_img();
	XXH128_canonical_t c;
	crypto_generichash_state st;
	uint8_t want[QF_HASH_LEN];

	ck_assert_uint_eq(qf_get_u32(im.p + 8), 2);
	XXH128_canonicalFromHash(&c, XXH3_128bits(content, sizeof(content) - 1));
	crypto_generichash_init(&st, NULL, 0, QF_HASH_LEN);
	crypto_generichash_update(&st, im.p, im.content_off);
	crypto_generichash_update(&st, c.digest, sizeof(c.digest));
	crypto_generichash_final(&st, want, QF_HASH_LEN);
	ck_assert_mem_eq(im.p + im.len - QF_HASH_LEN, want, QF_HASH_LEN);
	ck_assert_mem_eq(im.hash, want, QF_HASH_LEN);
	free(im.p);
}
END_TEST

/* A file of version 1 (content hash BLAKE2b-256), as an older outpost wrote
 * it, is read with its state records; one damaged is still caught. */
START_TEST(version1_file_is_read)
{
	struct img im = std_img();
	crypto_generichash_state st;
	uint8_t chash[QF_HASH_LEN], fhash[QF_HASH_LEN];
	struct qf_mail m;
	const char *why;

	qf_put_u32(im.p + 8, 1);
	crypto_generichash(chash, QF_HASH_LEN, (const unsigned char *)content, sizeof(content) - 1,
	    NULL, 0);
	crypto_generichash_init(&st, NULL, 0, QF_HASH_LEN);
	crypto_generichash_update(&st, im.p, im.content_off);
	crypto_generichash_update(&st, chash, QF_HASH_LEN);
	crypto_generichash_final(&st, fhash, QF_HASH_LEN);
	memcpy(im.p + im.len - QF_HASH_LEN, fhash, QF_HASH_LEN);
	memcpy(im.hash, fhash, QF_HASH_LEN);
	img_add_state(&im, 1, RCPT_DELIVERED, "250 ok");

	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert_mem_eq(m.hash, fhash, QF_HASH_LEN);
	ck_assert_uint_eq(m.content_len, sizeof(content) - 1);
	ck_assert_uint_eq(m.nstates, 1);
	ck_assert_uint_eq(m.rcpt_state[1].state, RCPT_DELIVERED);
	qf_mail_free(&m);

	/* the v2 reading of the same bytes would not match: version decides */
	im.p[im.content_off + 1] ^= 0x10;
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	ck_assert_str_eq(why, "bad hash");
	free(im.p);
}
END_TEST

START_TEST(torn_partial_record_is_dropped)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;
	size_t good;

	img_add_state(&im, 0, RCPT_DELIVERED, "250 ok");
	good = im.len;
	img_add_state(&im, 1, RCPT_DELIVERED, "250 ok");
	ck_assert_int_eq(qf_parse(im.p, im.len - 100, &m, &why), QF_TORN);
	ck_assert_uint_eq(m.valid_len, good);
	ck_assert_uint_eq(m.rcpt_state[0].state, RCPT_DELIVERED);
	ck_assert_uint_eq(m.rcpt_state[1].state, RCPT_PENDING);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(torn_full_records_at_end_are_dropped)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;
	size_t good;

	img_add_state(&im, 0, RCPT_DELIVERED, "250 ok");
	good = im.len;
	img_add_state(&im, 1, RCPT_DELIVERED, "250 ok");
	img_add_state(&im, 2, RCPT_DELIVERED, "250 ok");
	/* the last append reached the disk as zeros and junk */
	memset(im.p + good, 0, QF_STATE_SIZE);
	im.p[im.len - 5] ^= 0xff;
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_TORN);
	ck_assert_uint_eq(m.valid_len, good);
	ck_assert_uint_eq(m.nstates, 1);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(bad_record_before_good_is_corrupt)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;
	size_t first;

	first = im.len;
	img_add_state(&im, 0, RCPT_DEFERRED, "451 later");
	img_add_state(&im, 0, RCPT_DELIVERED, "250 ok");
	im.p[first + 40] ^= 1;
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	ck_assert_str_eq(why, "bad state record before a good one");
	free(im.p);
}
END_TEST

START_TEST(state_record_of_another_file_is_rejected)
{
	struct qf_mail m;
	struct img a = std_img(), b = std_img();
	const char *why;

	img_add_state(&b, 0, RCPT_DELIVERED, "250 ok");
	memcpy(a.p + a.len, b.p + b.len - QF_STATE_SIZE, QF_STATE_SIZE);
	a.len += QF_STATE_SIZE;
	ck_assert_int_eq(qf_parse(a.p, a.len, &m, &why), QF_TORN);
	ck_assert_uint_eq(m.nstates, 0);
	ck_assert_uint_eq(m.rcpt_state[0].state, RCPT_PENDING);
	qf_mail_free(&m);
	free(a.p);
	free(b.p);
}
END_TEST

START_TEST(state_index_out_of_range_is_not_good)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;

	img_add_state(&im, 3, RCPT_DELIVERED, "250 ok");	/* only 3 recipients */
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_TORN);
	ck_assert_uint_eq(m.nstates, 0);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(oversized_fields_are_refused)
{
	struct qf_envelope e;
	uint8_t *p;
	char *big;

	big = xmalloc(QF_ORIGIN_MAX + 10);
	memset(big, 'a', QF_ORIGIN_MAX + 9);
	big[ADDR_MAX + 9] = '\0';
	env_init(&e, big);
	ck_assert_uint_eq(qf_prefix_encode(&e, 0, &p), 0);
	env_init(&e, "ok@example.com");
	e.rcpt[0] = big;	/* rcpts is const data: restore below */
	ck_assert_uint_eq(qf_prefix_encode(&e, 0, &p), 0);
	e.rcpt[0] = (char *)"a@example.net";
	e.origin = big;
	big[ADDR_MAX + 9] = 'a';
	big[QF_ORIGIN_MAX + 1] = '\0';
	ck_assert_uint_eq(qf_prefix_encode(&e, 0, &p), 0);
	env_init(&e, "bad\r\nsender@example.com");
	ck_assert_uint_eq(qf_prefix_encode(&e, 0, &p), 0);
	env_init(&e, "ok@example.com");
	e.nrcpt = 0;
	ck_assert_uint_eq(qf_prefix_encode(&e, 0, &p), 0);
	free(big);
}
END_TEST

/* A hand-made envelope whose string length claims more than the record. */
START_TEST(oversized_length_in_file_is_corrupt)
{
	struct qf_mail m;
	struct img im = std_img();
	const char *why;
	size_t idlen_off = QF_FILE_HDR_LEN + QF_REC_HDR_LEN + 20;

	ck_assert_uint_eq(qf_get_u32(im.p + idlen_off), 24);
	qf_put_u32(im.p + idlen_off, 0xfffffff0);
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	qf_put_u32(im.p + idlen_off, 24);
	/* a record length beyond the end of the file */
	qf_put_u64(im.p + QF_FILE_HDR_LEN + 1, UINT64_MAX);
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	free(im.p);
}
END_TEST

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(queue_ids_are_valid_and_unique)
{
	static char ids[2000][QUEUE_ID_MAX];
	int i;

	for (i = 0; i < 2000; i++) {
		qf_id_new(ids[i]);
		ck_assert_msg(qf_id_valid(ids[i]), "bad id %s", ids[i]);
	}
	/* time first: ids made later sort after earlier ones */
	ck_assert_int_lt(strncmp(ids[0], ids[1999], 13), 1);
	qsort(ids, 2000, QUEUE_ID_MAX, cmp_id);
	for (i = 1; i < 2000; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			ck_abort_msg("duplicate id %s", ids[i]);
	ck_assert(!qf_id_valid(""));
	ck_assert(!qf_id_valid("../../etc/passwd"));
	ck_assert(!qf_id_valid("0123456789abcdef01234567"));
	ck_assert(!qf_id_valid("0123456789ABCDEF012345678"));
	ck_assert(qf_id_valid("0123456789ABCDEF01234567"));
}
END_TEST

static size_t
img_add_dkim(struct img *im, const char *fields)
{
	uint8_t *rec;
	size_t n = qf_dkim_encode(fields, im->hash, &rec);

	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(n % QF_STATE_SIZE, 0);
	memcpy(im->p + im->len, rec, n);
	im->len += n;
	free(rec);
	return n;
}

/* Two slots' worth of fields, as a dual signature with RSA makes them. */
static char *
long_fields(void)
{
	char *f = xmalloc(2001);

	memcpy(f, "DKIM-Signature: v=1;", 20);
	for (size_t i = 20; i < 2000; i++)
		f[i] = (i % 77 == 75) ? '\r' : (i % 77 == 76) ? '\n' : 'a' + i % 26;
	f[2000] = '\0';
	return f;
}

START_TEST(dkim_record_round_trip_between_states)
{
	struct img im = std_img();
	struct qf_mail m;
	const char *why;
	char *f = long_fields();

	img_add_state(&im, 0, RCPT_DEFERRED, "451 first");
	ck_assert_uint_eq(img_add_dkim(&im, f), 2 * QF_STATE_SIZE);
	img_add_state(&im, 1, RCPT_DELIVERED, "250 ok");
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert(m.dkim_set);
	ck_assert_str_eq(m.dkim, f);
	ck_assert_uint_eq(m.nstates, 2);
	ck_assert_uint_eq(m.rcpt_state[1].state, RCPT_DELIVERED);
	ck_assert_uint_eq(m.valid_len, im.len);
	qf_mail_free(&m);
	free(f);
	free(im.p);
}
END_TEST

START_TEST(file_without_dkim_record_has_none)
{
	struct img im = std_img();
	struct qf_mail m;
	const char *why;

	img_add_state(&im, 0, RCPT_DEFERRED, "451 first");
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert(!m.dkim_set);
	ck_assert_ptr_null(m.dkim);
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(empty_dkim_record_means_looked_at_unsigned)
{
	struct img im = std_img();
	struct qf_mail m;
	const char *why;

	ck_assert_uint_eq(img_add_dkim(&im, ""), QF_STATE_SIZE);
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_OK);
	ck_assert(m.dkim_set);
	ck_assert_str_eq(m.dkim, "");
	qf_mail_free(&m);
	free(im.p);
}
END_TEST

START_TEST(torn_dkim_record_is_dropped)
{
	struct img im = std_img();
	struct qf_mail m;
	const char *why;
	char *f = long_fields();
	size_t before, n;

	img_add_state(&im, 0, RCPT_DEFERRED, "451 first");
	before = im.len;
	n = img_add_dkim(&im, f);
	/* cut inside its second slot: a partial record at the end */
	ck_assert_int_eq(qf_parse(im.p, before + n - 100, &m, &why), QF_TORN);
	ck_assert(!m.dkim_set);
	ck_assert_uint_eq(m.valid_len, before);
	qf_mail_free(&m);
	/* whole length, last byte of its sum damaged: a bad record at the end */
	im.p[before + n - 1] ^= 1;
	ck_assert_int_eq(qf_parse(im.p, before + n, &m, &why), QF_TORN);
	ck_assert(!m.dkim_set);
	ck_assert_uint_eq(m.valid_len, before);
	qf_mail_free(&m);
	/* ... followed by a good state record: corruption, not a torn tail */
	im.len = before + n;
	img_add_state(&im, 1, RCPT_DELIVERED, "250 ok");
	ck_assert_int_eq(qf_parse(im.p, im.len, &m, &why), QF_CORRUPT);
	free(f);
	free(im.p);
}
END_TEST

START_TEST(dkim_record_is_bound_to_its_file_and_checked)
{
	struct img a = std_img(), b = std_img();
	struct qf_mail m;
	const char *why;
	uint8_t *rec;

	/* a record of file a appended to file b is not a record of b */
	ck_assert_uint_eq(qf_dkim_encode("DKIM-Signature: x\r\n", a.hash, &rec), QF_STATE_SIZE);
	memcpy(b.p + b.len, rec, QF_STATE_SIZE);
	free(rec);
	ck_assert_int_eq(qf_parse(b.p, b.len + QF_STATE_SIZE, &m, &why), QF_TORN);
	ck_assert(!m.dkim_set);
	qf_mail_free(&m);
	/* control bytes and oversized fields are refused by the encoder */
	ck_assert_uint_eq(qf_dkim_encode("DKIM-Signature: \x01\r\n", a.hash, &rec), 0);
	char *big = xmalloc(QF_DKIM_MAX + 2);
	memset(big, 'a', QF_DKIM_MAX + 1);
	big[QF_DKIM_MAX + 1] = '\0';
	ck_assert_uint_eq(qf_dkim_encode(big, a.hash, &rec), 0);
	big[QF_DKIM_MAX] = '\0';
	ck_assert_uint_eq(qf_dkim_encode(big, a.hash, &rec), QF_DKIM_SLOTS_MAX * QF_STATE_SIZE);
	free(rec);
	free(big);
	free(a.p);
	free(b.p);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("queue_file");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, empty_content_round_trip);
	tcase_add_test(tc, state_records_apply_in_order);
	tcase_add_test(tc, truncated_anywhere_is_corrupt);
	tcase_add_test(tc, flipped_bit_is_corrupt);
	tcase_add_loop_test(tc, header_rejections, 0, sizeof(damage) / sizeof(damage[0]));
	tcase_add_test(tc, bad_hash_is_corrupt);
	tcase_add_test(tc, version2_trailer_is_blake2b_over_prefix_and_xxh3);
	tcase_add_test(tc, version1_file_is_read);
	tcase_add_test(tc, torn_partial_record_is_dropped);
	tcase_add_test(tc, torn_full_records_at_end_are_dropped);
	tcase_add_test(tc, bad_record_before_good_is_corrupt);
	tcase_add_test(tc, state_record_of_another_file_is_rejected);
	tcase_add_test(tc, state_index_out_of_range_is_not_good);
	tcase_add_test(tc, oversized_fields_are_refused);
	tcase_add_test(tc, oversized_length_in_file_is_corrupt);
	tcase_add_test(tc, queue_ids_are_valid_and_unique);
	tcase_add_test(tc, dkim_record_round_trip_between_states);
	tcase_add_test(tc, file_without_dkim_record_has_none);
	tcase_add_test(tc, empty_dkim_record_means_looked_at_unsigned);
	tcase_add_test(tc, torn_dkim_record_is_dropped);
	tcase_add_test(tc, dkim_record_is_bound_to_its_file_and_checked);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;

	return check_run(suite());
}
