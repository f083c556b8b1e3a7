/* SPDX-License-Identifier: ISC */
/*
 * sched_mx.c - RFC 5321 section 5.1 ordering of MX hosts, pure. Run by the
 * scheduler; called by sched_dest.c and the unit tests.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scheduler.h"

static int
mx_cmp(const void *a, const void *b)
{
	const struct mx	*x = a, *y = b;

	return (x->pref > y->pref) - (x->pref < y->pref);
}

void
sched_mx_sort(struct mx *mx, size_t n, mx_rand_fn rnd)
{
	size_t		 i, j, k;
	struct mx	 tmp;

	if (n < 2)
		return;
	qsort(mx, n, sizeof(*mx), mx_cmp);
	/* Fisher-Yates within each run of equal preference. */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && mx[j].pref == mx[i].pref; j++)
			;
		for (k = j - 1; k > i; k--) {
			size_t r = i + rnd((uint32_t)(k - i + 1));

			if (r != k) {
				tmp = mx[k];
				mx[k] = mx[r];
				mx[r] = tmp;
			}
		}
	}
}

bool
sched_host_equal(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

size_t
sched_mx_cut_self(struct mx *mx, size_t n, const char *self, bool *loop)
{
	size_t		i;

	*loop = false;
	if (self == NULL || *self == '\0')
		return n;
	/* mx is sorted: the first host that is ourselves bounds the usable ones */
	for (i = 0; i < n; i++) {
		if (sched_host_equal(mx[i].host, self)) {
			while (i > 0 && mx[i - 1].pref == mx[i].pref)
				i--;
			*loop = i == 0;
			return i;
		}
	}
	return n;
}
