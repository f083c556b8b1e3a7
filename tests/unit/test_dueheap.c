/* SPDX-License-Identifier: ISC */
/*
 * test_dueheap.c - the due-time heap of the scheduler and the queue
 * manager (shared/dueheap.c): after any mix of adds, key changes and
 * removals, elements come off the top in key order, every element's
 * index is where the heap holds it, and a removed one is told so.
 */
#include <check.h>
#include <stdlib.h>

#include "check_run.h"
#include "dueheap.h"

#define N	2000

struct elem {
	uint64_t	key;
	uint32_t	idx;
};

static uint64_t
key(const void *e)
{
	return ((const struct elem *)e)->key;
}

static void
place(void *e, uint32_t i)
{
	((struct elem *)e)->idx = i;
}

static void
check_places(const struct dueheap *h)
{
	uint32_t i;

	for (i = 0; i < h->n; i++) {
		const struct elem *e = h->v[i];

		ck_assert_uint_eq(e->idx, i);
		if (i > 0)
			ck_assert_uint_le(((const struct elem *)h->v[(i - 1) / 2])->key, e->key);
	}
}

START_TEST(dueheap_orders_after_adds_fixes_and_removals)
{
	static struct elem	 e[N];
	struct dueheap		 h;
	struct elem		*top;
	uint64_t		 last = 0;
	unsigned		 i, left = N;

	srandom(7);
	dueheap_init(&h, key, place);
	ck_assert_ptr_null(dueheap_top(&h));
	for (i = 0; i < N; i++) {
		e[i].key = (uint64_t)(random() % 1000);
		e[i].idx = DUEHEAP_NONE;
		dueheap_add(&h, &e[i]);
	}
	check_places(&h);
	for (i = 0; i < N; i += 3) {	/* keys moved both ways */
		e[i].key = (uint64_t)(random() % 1000);
		dueheap_fix(&h, e[i].idx);
	}
	check_places(&h);
	for (i = 1; i < N; i += 5) {	/* removed from anywhere */
		dueheap_remove(&h, e[i].idx);
		ck_assert_uint_eq(e[i].idx, DUEHEAP_NONE);
		left--;
	}
	check_places(&h);
	ck_assert_uint_eq(h.n, left);
	while ((top = dueheap_top(&h)) != NULL) {
		ck_assert_uint_ge(top->key, last);
		last = top->key;
		dueheap_remove(&h, top->idx);
		left--;
	}
	ck_assert_uint_eq(left, 0);
	dueheap_free(&h);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("dueheap");
	TCase	*tc = tcase_create("dueheap");

	tcase_add_test(tc, dueheap_orders_after_adds_fixes_and_removals);
	suite_add_tcase(s, tc);
	return check_run(s);
}
