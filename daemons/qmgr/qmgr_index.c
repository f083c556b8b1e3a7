/* SPDX-License-Identifier: ISC */
/*
 * qmgr_index.c - the queue manager's in-memory index of queued mails.
 *
 * One entry per file in queue/, ordered by queue id (which is ordered by
 * arrival), so a stream over the index can resume from the last id sent
 * even while mails come and go. A mail is counted in and out of the queue's
 * shape here (qmgr_shape.c). Run on the qmgr loop thread only.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmgr.h"
#include "xmalloc.h"

static int
qmail_cmp(struct qmail *a, struct qmail *b)
{
	return strcmp(a->id, b->id);
}

RB_GENERATE(qmail_tree, qmail, entry, qmail_cmp);

struct qmail *
qmail_find(struct qmgr *q, const char *id)
{
	struct qmail key;

	if (strlcpy(key.id, id, sizeof(key.id)) >= sizeof(key.id))
		return NULL;
	return RB_FIND(qmail_tree, &q->mails, &key);
}

/*
 * One allocation holds the mail, its recipients and the strings that never
 * change (sender, recipient addresses): a queue of a million mails pays one
 * malloc header and one rounding per mail instead of 3 + 2 per recipient.
 * Replies and relays change with every attempt: shared copies from
 * qmgr_strpool.c.
 */
struct qmail *
qmail_from_file(const struct qf_mail *m, uint64_t file_len)
{
	struct qmail *e;
	size_t size, len;
	uint32_t i;
	char *p;

	size = sizeof(*e) + (size_t)m->env.nrcpt * sizeof(*e->rcpt) + strlen(m->env.sender) + 1;
	for (i = 0; i < m->env.nrcpt; i++)
		size += strlen(m->env.rcpt[i]) + 1;
	e = xcalloc(1, size);
	e->rcpt = (struct qrcpt *)(e + 1);
	p = (char *)(e->rcpt + m->env.nrcpt);
	e->wfd = -1;
	strlcpy(e->id, m->env.id, sizeof(e->id));
	e->arrival = m->env.arrival;
	e->content_off = m->content_off;
	e->content_len = m->content_len;
	e->file_len = file_len;
	e->flags = m->env.flags;
	e->uid = m->env.uid;
	len = strlen(m->env.sender) + 1;
	e->sender = memcpy(p, m->env.sender, len);
	p += len;
	memcpy(e->hash, m->hash, sizeof(e->hash));
	if (m->dkim_set)
		e->dkim = xstrdup(m->dkim);
	e->nrcpt = m->env.nrcpt;
	for (i = 0; i < e->nrcpt; i++) {
		const struct qf_state *s = m->rcpt_state ? &m->rcpt_state[i] : NULL;

		len = strlen(m->env.rcpt[i]) + 1;
		e->rcpt[i].addr = memcpy(p, m->env.rcpt[i], len);
		p += len;
		if (s == NULL)
			continue;
		e->rcpt[i].state = s->state;
		e->rcpt[i].attempts = s->attempts;
		e->rcpt[i].next = s->next;
		e->rcpt[i].code = s->code;
		strlcpy(e->rcpt[i].dsn, s->dsn, sizeof(e->rcpt[i].dsn));
		e->rcpt[i].reply = strpool_get(s->reply);
		e->rcpt[i].relay = strpool_get(s->relay);
	}
	return e;
}

void
qmail_insert(struct qmgr *q, struct qmail *m)
{
	if (RB_INSERT(qmail_tree, &q->mails, m) == NULL) {
		q->nmails++;
		shape_index(q, m, true);
	}
}

void
qmail_remove(struct qmgr *q, struct qmail *m)
{
	RB_REMOVE(qmail_tree, &q->mails, m);
	q->nmails--;
	shape_index(q, m, false);
}

/*
 * After a large drain, give the freed memory back to the system: glibc
 * keeps freed chunks in its arenas, so a queue of a million mails would
 * keep its peak size for the life of the process.
 */
static void
qmail_trim(struct qmgr *q)
{
	static unsigned peak;

	if (q->nmails > peak)
		peak = q->nmails;
	if (peak >= 4096 && q->nmails <= peak / 4) {
		(void)malloc_trim(0);
		peak = q->nmails;
	}
}

void
qmail_free(struct qmgr *q, struct qmail *m)
{
	uint32_t i;

	sign_forget(q, m);
	if (m->wfd != -1) {
		if (m->spared)
			spool_spare_put(q, m->wfd, m->id);
		else	/* the last reference of a removed file: freeing it may wait */
			qmgr_commit_close(q, m->wfd);
		q->nwfd--;
	}
	for (i = 0; i < m->nrcpt; i++) {
		strpool_put(m->rcpt[i].reply);
		strpool_put(m->rcpt[i].relay);
	}
	free(m);	/* with its recipients, sender and addresses */
	qmail_trim(q);
}

bool
qmail_final(const struct qmail *m)
{
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state != RCPT_DELIVERED && m->rcpt[i].state != RCPT_FAILED)
			return false;
	return true;
}
