/* SPDX-License-Identifier: ISC */
/*
 * qmgr_mark.c - durable marks of a queued mail that are not recipient
 * states: on hold (MAIL_F_HELD, outpostctl hold/release) and delay notice
 * sent (MAIL_F_DELAY_WARNED). Run by the queue manager; called by
 * qmgr_control.c, qmgr_bounce.c, and at start by qmgr.c.
 *
 * A queue file is append-only and its envelope is bound by the trailer
 * hash, so a mark is an empty file flags/<id>.held or flags/<id>.warned
 * (as Postfix keeps held mail in a hold/ directory). Setting or clearing a
 * mark is durable once flags/ was fsync'd; the marks of one loop turn share
 * that fsync, so a burst of delay notices costs one. At start flags/ is
 * read before the queue is indexed (mark_load), each mail takes its marks
 * as it is indexed (mark_apply), and once the indexing is over a mark whose
 * mail is gone (its removal raced a crash) is deleted (mark_recover).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

#define MARK_HELD	".held"
#define MARK_WARNED	".warned"
#define MARK_NAME_MAX	(QUEUE_ID_MAX + 8)

struct qmark {
	void		(*done)(struct qmgr *, void *, int);
	void		*arg;
	int		 error;
	struct qmark	*next;
};

struct qmarks {
	struct event	*ev;
	struct qmark	*head, *tail;
};

static const char *
mark_suffix(uint32_t flag)
{
	return flag == MAIL_F_HELD ? MARK_HELD : MARK_WARNED;
}

static void
mark_name(char *buf, size_t len, const char *id, uint32_t flag)
{
	snprintf(buf, len, "%s%s", id, mark_suffix(flag));
}

/* One fsync of flags/ for every mark of this loop turn, then their callbacks. */
static void
mark_sync_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qmgr *q = arg;
	struct qmark *k, *next;
	int err = 0;

	if (fsync(q->flags_fd) == -1) {
		err = errno;
		log_warn("fsync %s", QMGR_DIR_FLAGS);
	}
	k = q->marks->head;
	q->marks->head = q->marks->tail = NULL;
	for (; k != NULL; k = next) {
		next = k->next;
		if (k->done != NULL)
			k->done(q, k->arg, k->error ? k->error : err);
		free(k);
	}
}

int
mark_open(struct qmgr *q)
{
	if (mkdir(QMGR_DIR_FLAGS, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", QMGR_DIR_FLAGS);
		return -1;
	}
	if ((q->flags_fd = open(QMGR_DIR_FLAGS, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("open %s", QMGR_DIR_FLAGS);
		return -1;
	}
	if (fchmod(q->flags_fd, 0700) == -1)
		log_warn("chmod %s", QMGR_DIR_FLAGS);
	q->marks = xcalloc(1, sizeof(*q->marks));
	if ((q->marks->ev = event_new(q->base, -1, 0, mark_sync_cb, q)) == NULL)
		fatalx("event_new");
	return 0;
}

void
mark_set(struct qmgr *q, const struct qmail *m, uint32_t flag, bool on,
    void (*done)(struct qmgr *, void *arg, int error), void *arg)
{
	char name[MARK_NAME_MAX];
	struct qmark *k;
	int fd;

	k = xcalloc(1, sizeof(*k));
	k->done = done;
	k->arg = arg;
	mark_name(name, sizeof(name), m->id, flag);
	if (on) {
		fd = openat(q->flags_fd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd == -1)
			k->error = errno;
		else
			close(fd);
	} else if (unlinkat(q->flags_fd, name, 0) == -1 && errno != ENOENT)
		k->error = errno;
	if (k->error != 0) {
		errno = k->error;
		log_warn("%s/%s", QMGR_DIR_FLAGS, name);
	}
	if (q->marks->tail != NULL)
		q->marks->tail->next = k;
	else
		q->marks->head = k;
	q->marks->tail = k;
	event_active(q->marks->ev, EV_TIMEOUT, 0);
}

void
mark_forget(struct qmgr *q, const struct qmail *m)
{
	mark_forget_id(q, m->id, m->flags);
}

void
mark_forget_id(struct qmgr *q, const char *id, uint32_t flags)
{
	char name[MARK_NAME_MAX];

	if (flags & MAIL_F_HELD) {
		mark_name(name, sizeof(name), id, MAIL_F_HELD);
		(void)unlinkat(q->flags_fd, name, 0);
	}
	if (flags & MAIL_F_DELAY_WARNED) {
		mark_name(name, sizeof(name), id, MAIL_F_DELAY_WARNED);
		(void)unlinkat(q->flags_fd, name, 0);
	}
}

/* A mark found at start, waiting for its mail to be indexed. */
struct qmark_found {
	char		 id[QUEUE_ID_MAX];
	uint32_t	 flag;
	bool		 matched;
};

static int
found_cmp(const void *a, const void *b)
{
	const struct qmark_found *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return (x->flag > y->flag) - (x->flag < y->flag);
}

/*
 * Read flags/ once, before the queue is indexed: the marks are few, and a
 * mail must carry its flags (on hold!) from the moment it is indexed and
 * announced, not from the end of the indexing.
 */
void
mark_load(struct qmgr *q)
{
	struct qmark_found *f;
	struct dirent *de;
	const char *dot;
	uint32_t flag;
	size_t len, cap = 0;
	DIR *d;
	int fd;

	if ((fd = dup(q->flags_fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("%s/", QMGR_DIR_FLAGS);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		dot = strchr(de->d_name, '.');
		flag = 0;
		if (dot != NULL && strcmp(dot, MARK_HELD) == 0)
			flag = MAIL_F_HELD;
		else if (dot != NULL && strcmp(dot, MARK_WARNED) == 0)
			flag = MAIL_F_DELAY_WARNED;
		len = dot != NULL ? (size_t)(dot - de->d_name) : 0;
		if (q->nfound == cap) {
			cap = cap ? cap * 2 : 64;
			q->found = xreallocarray(q->found, cap, sizeof(*q->found));
		}
		f = &q->found[q->nfound++];
		memset(f, 0, sizeof(*f));
		f->flag = flag;
		/* Not a mark or not a queue id: stays unmatched, removed at the end. */
		if (flag != 0 && len < sizeof(f->id)) {
			memcpy(f->id, de->d_name, len);
			f->id[len] = '\0';
			if (!qf_id_valid(f->id))
				f->id[0] = '\0';
		}
		if (f->id[0] == '\0') {
			if (unlinkat(q->flags_fd, de->d_name, 0) == -1)
				log_warn("%s/%s", QMGR_DIR_FLAGS, de->d_name);
			q->nfound--;
			q->nstale++;
		}
	}
	closedir(d);
	if (q->nfound > 0)
		qsort(q->found, q->nfound, sizeof(*q->found), found_cmp);
}

/* A mail just indexed takes its marks. */
void
mark_apply(struct qmgr *q, struct qmail *m)
{
	struct qmark_found key, *f;
	uint32_t flags[2] = { MAIL_F_HELD, MAIL_F_DELAY_WARNED };
	unsigned i;

	if (q->nfound == 0)
		return;
	strlcpy(key.id, m->id, sizeof(key.id));
	for (i = 0; i < 2; i++) {
		key.flag = flags[i];
		f = bsearch(&key, q->found, q->nfound, sizeof(*q->found), found_cmp);
		if (f != NULL) {
			f->matched = true;
			m->flags |= f->flag;
		}
	}
}

/* The whole queue is indexed: a mark nobody took belongs to a gone mail. */
void
mark_recover(struct qmgr *q)
{
	char name[MARK_NAME_MAX];
	unsigned nheld = 0, nwarned = 0, nstale = q->nstale;
	size_t i;

	for (i = 0; i < q->nfound; i++) {
		struct qmark_found *f = &q->found[i];

		if (f->matched) {
			if (f->flag == MAIL_F_HELD)
				nheld++;
			else
				nwarned++;
			continue;
		}
		mark_name(name, sizeof(name), f->id, f->flag);
		/* Recreated meanwhile for a mail now indexed: keep it. */
		if (qmail_find(q, f->id) != NULL || park_find(q, f->id) != NULL)
			continue;
		if (unlinkat(q->flags_fd, name, 0) == -1 && errno != ENOENT)
			log_warn("%s/%s", QMGR_DIR_FLAGS, name);
		nstale++;
	}
	free(q->found);
	q->found = NULL;
	q->nfound = 0;
	if (nstale > 0)
		(void)fsync(q->flags_fd);
	log_info("marks: %u mails on hold, %u delay notices sent, %u stale marks removed",
	    nheld, nwarned, nstale);
}
