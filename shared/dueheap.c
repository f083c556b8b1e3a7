/* SPDX-License-Identifier: ISC */
/*
 * dueheap.c - the binary min-heap of dueheap.h: sift up and down, each
 * move told to the element (its index), growth by doubling.
 */
#include <stdlib.h>

#include "dueheap.h"
#include "log.h"
#include "xmalloc.h"

void
dueheap_init(struct dueheap *h, uint64_t (*key)(const void *), void (*place)(void *, uint32_t))
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->key = key;
	h->place = place;
}

static void
set(struct dueheap *h, uint32_t i, void *e)
{
	h->v[i] = e;
	h->place(e, i);
}

static void
sift_up(struct dueheap *h, uint32_t i)
{
	void *e = h->v[i];
	uint64_t k = h->key(e);
	uint32_t up;

	while (i > 0) {
		up = (i - 1) / 2;
		if (h->key(h->v[up]) <= k)
			break;
		set(h, i, h->v[up]);
		i = up;
	}
	set(h, i, e);
}

/* Returns where the element ends. */
static uint32_t
sift_down(struct dueheap *h, uint32_t i)
{
	void *e = h->v[i];
	uint64_t k = h->key(e);
	uint32_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->key(h->v[c + 1]) < h->key(h->v[c]))
			c++;
		if (k <= h->key(h->v[c]))
			break;
		set(h, i, h->v[c]);
		i = c;
	}
	set(h, i, e);
	return i;
}

void
dueheap_add(struct dueheap *h, void *e)
{
	if (h->n == h->cap) {
		if (h->cap >= UINT32_MAX / 2)
			fatalx("dueheap: too many elements");
		h->cap = h->cap ? h->cap * 2 : 1024;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	set(h, h->n++, e);
	sift_up(h, h->n - 1);
}

void
dueheap_fix(struct dueheap *h, uint32_t i)
{
	sift_up(h, sift_down(h, i));
}

void
dueheap_remove(struct dueheap *h, uint32_t i)
{
	void *last;

	h->place(h->v[i], DUEHEAP_NONE);
	last = h->v[--h->n];
	if (i == h->n)
		return;
	set(h, i, last);
	dueheap_fix(h, i);
}

void *
dueheap_top(const struct dueheap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

void
dueheap_free(struct dueheap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
