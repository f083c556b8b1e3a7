/* SPDX-License-Identifier: ISC */
/*
 * test_bytes.c - the content scans of shared/bytes.c: an octet >= 0x80 is
 * found wherever it lies (every offset and length around the 64-octet
 * blocks, every alignment of the buffer, every high value), and none is
 * reported in 7-bit content.
 */
#include <check.h>
#include <string.h>

#include "bytes.h"
#include "check_run.h"

START_TEST(an_8bit_octet_is_found_anywhere)
{
	static const uint8_t high[] = { 0x80, 0x81, 0xc3, 0xff };
	uint8_t buf[200 + 8];
	size_t align, len, at, h;

	memset(buf, 0x7f, sizeof(buf));
	for (align = 0; align < 8; align++)
		for (len = 0; len <= 200; len++) {
			ck_assert(!mem_has_8bit(buf + align, len));
			for (at = 0; at < len; at++)
				for (h = 0; h < sizeof(high); h++) {
					buf[align + at] = high[h];
					ck_assert_msg(mem_has_8bit(buf + align, len),
					    "0x%02x at %zu of %zu (align %zu) missed", high[h],
					    at, len, align);
					/* just outside: not part of the buffer asked about */
					ck_assert(!mem_has_8bit(buf + align, at));
					buf[align + at] = 0x7f;
				}
		}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("bytes");
	TCase	*tc = tcase_create("bytes");

	tcase_add_test(tc, an_8bit_octet_is_found_anywhere);
	suite_add_tcase(s, tc);
	return check_run(s);
}
