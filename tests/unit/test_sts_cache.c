/* SPDX-License-Identifier: ISC */
/*
 * test_sts_cache.c - the MTA-STS process's policy cache and the resolver's
 * TXT reading: policies put, found until they expire, replaced by a new id,
 * encoded and decoded back identically (the file that survives a restart),
 * a damaged or truncated file refused as a whole; TXT character-strings
 * joined, NUL bytes, overlong and malformed records refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sts/sts.h"
#include "resolver/resolver.h"
#include "check_run.h"

static void
policy(struct sts_policy *p, uint8_t mode, uint32_t age, const char *mx)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->max_age = age;
	p->nmx = 1;
	strlcpy(p->mx[0], mx, sizeof(p->mx[0]));
}

START_TEST(cache_put_find_expire)
{
	struct sts_policy	 p;
	struct sts_entry	*e;

	sts_cache_clear();
	policy(&p, STS_MODE_ENFORCE, 100, "mx.a.example");
	sts_cache_put("a.example", "id1", &p, 1000);
	ck_assert_ptr_nonnull(e = sts_cache_find("a.example", 1000));
	ck_assert_str_eq(e->id, "id1");
	ck_assert_uint_eq(e->expires, 1100);
	ck_assert_ptr_nonnull(sts_cache_find("a.example", 1099));
	ck_assert_ptr_null(sts_cache_find("a.example", 1100));	/* expired */
	ck_assert_ptr_null(sts_cache_find("b.example", 1000));
	policy(&p, STS_MODE_TESTING, 50, "mx2.a.example");
	sts_cache_put("a.example", "id2", &p, 2000);		/* a new id replaces */
	e = sts_cache_find("a.example", 2000);
	ck_assert_str_eq(e->id, "id2");
	ck_assert_uint_eq(e->pol.mode, STS_MODE_TESTING);
	ck_assert_str_eq(e->pol.mx[0], "mx2.a.example");
	sts_cache_clear();
}
END_TEST

START_TEST(cache_round_trip_and_damage)
{
	struct sts_policy	 p;
	struct sts_entry	*e;
	uint8_t			*buf, *copy;
	size_t			 len, i;
	const char		*why;

	sts_cache_clear();
	policy(&p, STS_MODE_ENFORCE, 86400, "*.mx.example");
	p.nmx = 2;
	strlcpy(p.mx[1], "backup.example", sizeof(p.mx[1]));
	sts_cache_put("one.example", "20261207", &p, 5000);
	policy(&p, STS_MODE_TESTING, 60, "mx.two.example");
	sts_cache_put("two.example", "x", &p, 5000);
	len = sts_cache_encode(&buf);
	ck_assert_int_eq(sts_cache_decode(buf, len, &why), 0);
	ck_assert_ptr_nonnull(e = sts_cache_find("one.example", 5000));
	ck_assert_str_eq(e->id, "20261207");
	ck_assert_uint_eq(e->pol.nmx, 2);
	ck_assert_str_eq(e->pol.mx[1], "backup.example");
	ck_assert_uint_eq(e->expires, 5000 + 86400);
	ck_assert_ptr_nonnull(e = sts_cache_find("two.example", 5000));
	ck_assert_uint_eq(e->pol.mode, STS_MODE_TESTING);

	/* every truncation is refused, and leaves no half-read cache */
	for (i = 0; i < len; i++) {
		copy = malloc(i ? i : 1);
		memcpy(copy, buf, i);
		ck_assert_msg(sts_cache_decode(copy, i, &why) == -1, "truncated at %zu", i);
		ck_assert_ptr_null(sts_cache_find("one.example", 5000));
		free(copy);
	}
	/* a mode out of range */
	copy = malloc(len);
	memcpy(copy, buf, len);
	for (i = 0; i + 8 <= len; i++)
		if (memcmp(copy + i, "\x02\0\0\0\0\0\0\0", 8) == 0) {
			copy[i] = 9;
			break;
		}
	ck_assert_int_eq(sts_cache_decode(copy, len, &why), -1);
	free(copy);
	/* trailing bytes */
	copy = malloc(len + 1);
	memcpy(copy, buf, len);
	copy[len] = 0;
	ck_assert_int_eq(sts_cache_decode(copy, len + 1, &why), -1);
	free(copy);
	free(buf);
	sts_cache_clear();
}
END_TEST

START_TEST(txt_rdata)
{
	char		 out[STS_TXT_MAX];
	const char	*why;
	uint8_t		 big[300];

	ck_assert_int_eq(rdata_txt((const uint8_t *)"\x07v=STSv1\x06; id=1", 15, out,
	    sizeof(out), &why), 0);
	ck_assert_str_eq(out, "v=STSv1; id=1");
	ck_assert_int_eq(rdata_txt((const uint8_t *)"\x00", 1, out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rdata_txt((const uint8_t *)"", 0, out, sizeof(out), &why), -1);
	ck_assert_int_eq(rdata_txt((const uint8_t *)"\x05" "abc", 4, out, sizeof(out), &why), -1);
	ck_assert_int_eq(rdata_txt((const uint8_t *)"\x03" "a\0c", 4, out, sizeof(out), &why), -1);
	memset(big, 'a', sizeof(big));
	big[0] = 255;
	ck_assert_int_eq(rdata_txt(big, 256, out, 100, &why), -1);	/* does not fit */
	ck_assert_int_eq(rdata_txt(big, 256, out, sizeof(out), &why), 0);
	ck_assert_uint_eq(strlen(out), 255);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sts_cache");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, cache_put_find_expire);
	tcase_add_test(tc, cache_round_trip_and_damage);
	tcase_add_test(tc, txt_rdata);
	suite_add_tcase(s, tc);
	return check_run(s);
}
