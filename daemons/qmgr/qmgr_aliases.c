/* SPDX-License-Identifier: ISC */
/*
 * qmgr_aliases.c - local names in the queue manager: the aliases table the
 * master hands over (ALIASES_BEGIN, one ALIASES_ENTRY per name,
 * ALIASES_END) and the rewriting of each recipient a submitter gives
 * (qmgr_submit.c), so that outpost-sendmail and SMTP submissions to a name
 * in myorigin are treated alike. The table is replaced only by a complete
 * sequence; until the first one arrives, recipients are kept as given.
 *
 * Why here and not in outpost-sendmail: SMTP submissions to user@myorigin
 * must be rewritten too, and so must bounces and delay notices to a local
 * sender (root from cron); the queue manager is the one place every
 * recipient passes. Why the master reads the file: it may be readable by
 * root only, the queue manager is chrooted into the queue, and a broken
 * file must be refused where reloads are decided (the table in force then
 * stays, here as in the master).
 */
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "frame.h"
#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

struct qaliases {
	struct aliases	 table;
	char		 myorigin[256];
	char		 redirect[ADDR_MAX];
};

/* The table in force, and the one being received. */
static struct qaliases *current, *incoming;

static void
qaliases_free(struct qaliases *qa)
{
	if (qa == NULL)
		return;
	aliases_free(&qa->table);
	free(qa);
}

int
qaliases_frame(struct qmgr *q, struct frame *f)
{
	char name[ALIASES_NAME_MAX + 1], why[256];
	char **targets;
	uint32_t n, i, count;
	int rc = -1;

	switch (f->hdr.type) {
	case MSG_ALIASES_BEGIN:
		qaliases_free(incoming);
		incoming = xcalloc(1, sizeof(*incoming));
		if (!frame_get_str(f, incoming->myorigin, sizeof(incoming->myorigin)) ||
		    !frame_get_str(f, incoming->redirect, sizeof(incoming->redirect)) ||
		    !frame_get_u32(f, &count) || !frame_end(f) || count > ALIASES_MAX_ENTRIES)
			break;
		return 0;
	case MSG_ALIASES_ENTRY:
		if (incoming == NULL || !frame_get_str(f, name, sizeof(name)) ||
		    !frame_get_u32(f, &n) || n > ALIASES_MAX_TARGETS)
			break;
		targets = xcalloc(n ? n : 1, sizeof(char *));
		for (i = 0; i < n; i++) {
			targets[i] = xmalloc(ADDR_MAX);
			if (!frame_get_str(f, targets[i], ADDR_MAX))
				break;
		}
		if (i == n && frame_end(f) &&
		    aliases_add(&incoming->table, name, targets, n, 0) == 0)
			rc = 0;
		for (i = 0; i < n; i++)
			free(targets[i]);
		free(targets);
		if (rc == 0)
			return 0;
		break;
	case MSG_ALIASES_END:
		if (incoming == NULL || !frame_end(f))
			break;
		if (aliases_finish(&incoming->table, "master", why, sizeof(why)) == -1) {
			log_warnx("aliases from the master: %s", why);
			break;
		}
		qaliases_free(current);
		current = incoming;
		incoming = NULL;
		log_info("aliases: %zu names, myorigin %s, local_redirect %s", current->table.n,
		    current->myorigin, current->redirect[0] ? current->redirect : "(none)");
		return 0;
	default:
		break;
	}
	log_warnx("master: malformed %s", msg_name(f->hdr.type));
	qaliases_free(incoming);
	incoming = NULL;
	return -1;
}

int
qaliases_expand(struct qmgr *q, const char *rcpt, int (*emit)(const char *, void *),
    void *arg, char *err, size_t errlen)
{
	if (current == NULL || current->myorigin[0] == '\0')
		return emit(rcpt, arg) == -1 ? -1 : 1;
	return aliases_expand(&current->table, current->myorigin, current->redirect, rcpt,
	    emit, arg, err, errlen);
}

struct rewrite {
	char		**v;
	uint32_t	  n;
};

static int
rewrite_add(const char *addr, void *arg)
{
	struct rewrite *r = arg;

	if (r->n >= QF_RCPT_MAX)
		return -1;
	r->v = xreallocarray(r->v, r->n + 1, sizeof(char *));
	r->v[r->n++] = xstrdup(addr);
	return 0;
}

int
qaliases_rewrite(struct qmgr *q, const char *addr, char ***v, uint32_t *n)
{
	struct rewrite r = { NULL, 0 };
	char why[512];
	uint32_t i;

	if (qaliases_expand(q, addr, rewrite_add, &r, why, sizeof(why)) == -1 || r.n == 0) {
		if (r.n == 0)
			strlcpy(why, "no address", sizeof(why));
		log_warnx("aliases: <%s>: %s: left as it is", addr, why);
		for (i = 0; i < r.n; i++)
			free(r.v[i]);
		free(r.v);
		return -1;
	}
	*v = r.v;
	*n = r.n;
	return 0;
}
