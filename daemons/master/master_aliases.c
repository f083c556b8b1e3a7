/* SPDX-License-Identifier: ISC */
/*
 * master_aliases.c - the aliases table: read and checked by the master
 * (the file may be readable by root only, and the queue manager is
 * chrooted), then handed to the queue manager in ALIASES_* frames when it
 * starts and after every reload. A broken file stops the start and refuses
 * a reload with every error and its line; the table in force stays.
 */
#include <stdio.h>
#include <string.h>

#include "aliases.h"
#include "chan.h"
#include "frame.h"
#include "log.h"
#include "master.h"
#include "msg.h"

int
master_aliases_load(const struct config *c, struct master_aliases *out, char *err, size_t errlen)
{
	char why[4096];

	memset(out, 0, sizeof(*out));
	if (aliases_myorigin(c->myorigin, c->helo_name, out->myorigin, sizeof(out->myorigin),
	    err, errlen) == -1)
		return -1;
	strlcpy(out->redirect, c->local_redirect, sizeof(out->redirect));
	if (c->aliases[0] == '\0')
		return 0;
	if (aliases_load(&out->table, c->aliases, err, errlen) == -1)
		return -1;
	if (aliases_check(&out->table, c->aliases, out->myorigin, out->redirect, why,
	    sizeof(why)) == -1) {
		strlcpy(err, why, errlen);
		aliases_free(&out->table);
		return -1;
	}
	return 0;
}

void
master_aliases_replace(struct master *m, struct master_aliases *n)
{
	aliases_free(&m->aliases.table);
	m->aliases = *n;
	memset(n, 0, sizeof(*n));
}

void
master_aliases_send(struct master *m, struct child *c)
{
	const struct aliases *a = &m->aliases.table;
	struct fbuf *fb;
	size_t i, k;

	if (c->desc->kind != PROC_QMGR || c->chan == NULL)
		return;
	fb = fbuf_new(MSG_ALIASES_BEGIN, 0);
	fbuf_add_str(fb, m->aliases.myorigin);
	fbuf_add_str(fb, m->aliases.redirect);
	fbuf_add_u32(fb, (uint32_t)a->n);
	chan_send(c->chan, fb);
	for (i = 0; i < a->n; i++) {
		fb = fbuf_new(MSG_ALIASES_ENTRY, 0);
		fbuf_add_str(fb, a->v[i].name);
		fbuf_add_u32(fb, (uint32_t)a->v[i].ntargets);
		for (k = 0; k < a->v[i].ntargets; k++)
			fbuf_add_str(fb, a->v[i].targets[k]);
		if (fb->overflow) {
			/* The parser bounds an entry to fit; never send half of one. */
			log_warnx("aliases: entry %s too large for a frame: left out", a->v[i].name);
			fbuf_free(fb);
			continue;
		}
		chan_send(c->chan, fb);
	}
	chan_send(c->chan, fbuf_new(MSG_ALIASES_END, 0));
}
