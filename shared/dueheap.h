/* SPDX-License-Identifier: ISC */
/*
 * dueheap.h - a binary min-heap of pointers keyed by a due time, each
 * element knowing its own place (so it can be moved or removed in
 * O(log n) without a search). Used for the scheduler's wake-up times of
 * mails and the queue manager's due times of mails waiting on disk: one
 * timer armed for the top, nothing ever scans the whole set.
 *
 * The caller's element holds its key and its index; the heap reads the
 * one and writes the other through the two callbacks.
 */
#ifndef OUTPOST_DUEHEAP_H
#define OUTPOST_DUEHEAP_H

#include <stdint.h>

#define DUEHEAP_NONE	UINT32_MAX	/* the index of an element not in a heap */

struct dueheap {
	void		**v;
	uint32_t	  n, cap;
	uint64_t	(*key)(const void *elem);
	void		(*place)(void *elem, uint32_t index);
};

/* An empty heap over elements with these callbacks. */
void	 dueheap_init(struct dueheap *, uint64_t (*key)(const void *),
	    void (*place)(void *, uint32_t));
void	 dueheap_add(struct dueheap *, void *elem);
/* elem's key changed: it moves up or down to its place. */
void	 dueheap_fix(struct dueheap *, uint32_t index);
void	 dueheap_remove(struct dueheap *, uint32_t index);
/* The element with the smallest key, or NULL. */
void	*dueheap_top(const struct dueheap *);
void	 dueheap_free(struct dueheap *);

#endif
