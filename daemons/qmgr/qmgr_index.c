/*
 * qmgr_index.c - the queue manager's in-memory index of queued mails.
 *
 * One entry per file in queue/, ordered by queue id (which is ordered by
 * arrival), so a stream over the index can resume from the last id sent
 * even while mails come and go. Run on the qmgr loop thread only.
 */
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

struct qmail *
qmail_from_file(const struct qf_mail *m, uint64_t file_len)
{
	struct qmail *e;
	uint32_t i;

	e = xcalloc(1, sizeof(*e));
	e->wfd = -1;
	strlcpy(e->id, m->env.id, sizeof(e->id));
	e->arrival = m->env.arrival;
	e->content_off = m->content_off;
	e->content_len = m->content_len;
	e->file_len = file_len;
	e->flags = m->env.flags;
	e->uid = m->env.uid;
	e->sender = xstrdup(m->env.sender);
	memcpy(e->hash, m->hash, sizeof(e->hash));
	if (m->dkim_set)
		e->dkim = xstrdup(m->dkim);
	e->nrcpt = m->env.nrcpt;
	e->rcpt = xcalloc(e->nrcpt, sizeof(*e->rcpt));
	for (i = 0; i < e->nrcpt; i++) {
		const struct qf_state *s = m->rcpt_state ? &m->rcpt_state[i] : NULL;

		e->rcpt[i].addr = xstrdup(m->env.rcpt[i]);
		if (s == NULL)
			continue;
		e->rcpt[i].state = s->state;
		e->rcpt[i].attempts = s->attempts;
		e->rcpt[i].next = s->next;
		e->rcpt[i].code = s->code;
		strlcpy(e->rcpt[i].dsn, s->dsn, sizeof(e->rcpt[i].dsn));
		if (s->reply[0] != '\0')
			e->rcpt[i].reply = xstrdup(s->reply);
		if (s->relay[0] != '\0')
			e->rcpt[i].relay = xstrdup(s->relay);
	}
	return e;
}

void
qmail_insert(struct qmgr *q, struct qmail *m)
{
	if (RB_INSERT(qmail_tree, &q->mails, m) == NULL)
		q->nmails++;
}

void
qmail_remove(struct qmgr *q, struct qmail *m)
{
	RB_REMOVE(qmail_tree, &q->mails, m);
	q->nmails--;
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
		free(m->rcpt[i].addr);
		free(m->rcpt[i].reply);
		free(m->rcpt[i].relay);
	}
	free(m->rcpt);
	free(m->sender);
	free(m);
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
