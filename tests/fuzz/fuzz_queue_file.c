/* SPDX-License-Identifier: ISC */
/*
 * fuzz_queue_file.c - libFuzzer target for the queue file decoder
 * (shared/queue_file.c): any byte string is rejected or decoded, never
 * crashes or reads out of bounds.
 *
 * The first byte picks a mode. Mode 0 parses the rest as a whole file.
 * Mode 1 appends the rest, cut into state records whose checksums are made
 * valid, to a fixed good mail: random bytes rarely pass a BLAKE2b check, so
 * this is how the record decoder behind the checksum gets exercised. A slot
 * that starts with "QDK1" is summed as a DKIM record of as many slots as it
 * claims, for the DKIM record's decoder.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const uint8_t *buf, size_t len)
{
	struct qf_mail m;
	const char *why;

	if (qf_parse(buf, len, &m, &why) != QF_CORRUPT) {
		if (m.valid_len > len || m.content_off + m.content_len > len)
			abort();
		qf_mail_free(&m);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *rcpt[] = { (char *)"a@example.net", (char *)"b@example.org" };
	struct qf_envelope e;
	struct qf_chash st = { NULL };
	uint8_t *prefix, *buf, trailer[QF_TRAILER_LEN], hash[QF_HASH_LEN];
	size_t plen, len, off, n;

	if (size < 1)
		return 0;
	if (sodium_init() < 0)
		abort();
	if ((data[0] & 1) == 0) {
		check(data + 1, size - 1);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	memcpy(e.id, "0123456789ABCDEF01234567", 25);
	e.origin = (char *)"fuzz";
	e.sender = (char *)"s@example.com";
	e.nrcpt = 2;
	e.rcpt = rcpt;
	if ((plen = qf_prefix_encode(&e, 5, &prefix)) == 0)
		abort();
	qf_content_hash_init(&st);
	qf_content_hash_update(&st, "hello", 5);
	qf_trailer_encode(prefix, plen, &st, trailer, hash);
	qf_content_hash_free(&st);
	len = plen + 5 + QF_TRAILER_LEN + size - 1;
	buf = malloc(len);
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, "hello", 5);
	memcpy(buf + plen + 5, trailer, QF_TRAILER_LEN);
	memcpy(buf + plen + 5 + QF_TRAILER_LEN, data + 1, size - 1);
	for (off = plen + 5 + QF_TRAILER_LEN; len - off >= QF_STATE_SIZE; off += n + QF_STATE_SUM_LEN) {
		size_t slots = 1;

		/* A slot saying "QDK1" becomes a DKIM record of the slots it claims. */
		if (memcmp(buf + off, QF_DKIM_MAGIC, 4) == 0) {
			slots = qf_get_u32(buf + off + 4);
			if (slots == 0 || slots > QF_DKIM_SLOTS_MAX || slots * QF_STATE_SIZE > len - off)
				slots = 1;
		}
		n = slots * QF_STATE_SIZE - QF_STATE_SUM_LEN;
		crypto_generichash(buf + off + n, QF_STATE_SUM_LEN, buf + off, n, hash, QF_HASH_LEN);
	}
	check(buf, len);
	free(buf);
	free(prefix);
	return 0;
}
