/* SPDX-License-Identifier: ISC */
/*
 * qmgr_strpool.c - one shared, counted copy of the strings many queued
 * recipients hold alike: their last reply and the relay that gave it. Run
 * by the queue manager, on its loop thread only; called by qmgr_index.c
 * (mails loaded and freed) and qmgr_sched.c (recipient states applied).
 *
 * After a relay outage a million deferred recipients carry the same
 * "connection refused" and the same relay: one copy each instead of one
 * per recipient (a malloc'd copy costs 32-64 bytes per recipient).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

struct pstr {
	struct pstr	*next;		/* in its bucket */
	uint32_t	 refs;
	uint32_t	 hash;
	char		 s[];
};

static struct pstr **buckets;
static size_t nbuckets, nstrs;

static uint32_t
str_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void
grow(void)
{
	struct pstr **nb, *p, *next;
	size_t n = nbuckets ? nbuckets * 2 : 256, i;

	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < nbuckets; i++) {
		for (p = buckets[i]; p != NULL; p = next) {
			next = p->next;
			p->next = nb[p->hash & (n - 1)];
			nb[p->hash & (n - 1)] = p;
		}
	}
	free(buckets);
	buckets = nb;
	nbuckets = n;
}

char *
strpool_get(const char *s)
{
	struct pstr *p;
	uint32_t h;
	size_t len;

	if (s == NULL || s[0] == '\0')
		return NULL;
	h = str_hash(s);
	if (nbuckets > 0)
		for (p = buckets[h & (nbuckets - 1)]; p != NULL; p = p->next)
			if (p->hash == h && strcmp(p->s, s) == 0 && p->refs < UINT32_MAX) {
				p->refs++;
				return p->s;
			}
	if (nstrs >= nbuckets)
		grow();
	len = strlen(s) + 1;
	p = xmalloc(sizeof(*p) + len);
	memcpy(p->s, s, len);
	p->refs = 1;
	p->hash = h;
	p->next = buckets[h & (nbuckets - 1)];
	buckets[h & (nbuckets - 1)] = p;
	nstrs++;
	return p->s;
}

void
strpool_put(char *s)
{
	struct pstr *p, **pp;

	if (s == NULL)
		return;
	p = (struct pstr *)(void *)(s - offsetof(struct pstr, s));
	if (--p->refs > 0)
		return;
	for (pp = &buckets[p->hash & (nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	nstrs--;
	free(p);
}
