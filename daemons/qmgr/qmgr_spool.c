/* SPDX-License-Identifier: ISC */
/*
 * qmgr_spool.c - the queue manager's file I/O on the queue directory.
 *
 * Writing a mail: the file is taken from the pool of spare/ files (see
 * qmgr.h) or else created in incoming/ with O_EXCL when its first byte
 * arrives; a provisional prefix (header, envelope, recipients,
 * content record header) is written, then the content as it streams in,
 * hashed on the way. At commit the final prefix (8-bit flag, content
 * length) is written over the provisional one (same length) and the trailer
 * appended; the commit thread (qmgr_commit.c) then makes it durable and
 * renames it into queue/. Nothing in incoming/ was ever acknowledged.
 *
 * State: records are appended after the trailer (one pwrite per update of a
 * mail) and made durable by the commit thread before the update is answered.
 *
 * Recovery at start: incoming/ and spare/ are emptied before anything is
 * accepted; then each file in queue/ is verified (queue_file.c) and indexed
 * in slices beside intake (see recover_step); a torn state tail is cut off;
 * a corrupt file goes to corrupt/; a mail whose recipients are all final is
 * removed.
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bytes.h"
#include "config.h"
#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

static int
open_dir(const char *name, mode_t mode)
{
	int fd;

	if (mkdir(name, mode) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", name);
		return -1;
	}
	if ((fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("open %s", name);
		return -1;
	}
	/* A directory left with other modes by hand is brought back in line. */
	if (fchmod(fd, mode) == -1)
		log_warn("chmod %s", name);
	return fd;
}

int
spool_open_dirs(struct qmgr *q)
{
	struct rlimit rl;
	int fd;

	q->incoming_fd = open_dir(QMGR_DIR_INCOMING, 0700);
	q->queue_fd = open_dir(QMGR_DIR_QUEUE, 0700);
	q->corrupt_fd = open_dir(QMGR_DIR_CORRUPT, 0700);
	q->spare_fd = open_dir(QMGR_DIR_SPARE, 0700);
	fd = open_dir(QMGR_DIR_PUBLIC, 0711);
	if (q->incoming_fd == -1 || q->queue_fd == -1 || q->corrupt_fd == -1 ||
	    q->spare_fd == -1 || fd == -1)
		return -1;
	/* Spare files hold descriptors: an eighth of the limit at most. */
	q->spare_max = QMGR_SPARE_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 8 < q->spare_max)
		q->spare_max = rl.rlim_cur / 8;
	close(fd);
	return 0;
}

static int
write_full(int fd, const void *p, size_t n, off_t off)
{
	const uint8_t *b = p;
	ssize_t r;

	while (n > 0) {
		r = off >= 0 ? pwrite(fd, b, n, off) : write(fd, b, n);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		b += r;
		n -= r;
		if (off >= 0)
			off += r;
	}
	return 0;
}

static int
tx_write_prefix(struct qtx *tx, off_t off)
{
	uint8_t *prefix;
	size_t len;
	int r;

	if ((len = qf_prefix_encode(&tx->env, tx->content_len, &prefix)) == 0) {
		errno = EINVAL;
		return -1;
	}
	if (tx->prefix_written && len != tx->prefix_len) {
		free(prefix);
		errno = EINVAL;
		return -1;
	}
	r = write_full(tx->fd, prefix, len, off);
	if (r == 0 && !tx->prefix_written) {
		/* Kept until commit: the final prefix is hashed then. */
		tx->prefix_len = len;
		tx->prefix_written = true;
	}
	free(prefix);
	return r;
}

/* Take a spare file: its old content is overwritten, then cut at commit. */
static int
tx_reuse(struct qmgr *q, struct qtx *tx)
{
	struct qspare *s;

	while (q->nspare > 0) {
		s = &q->spares[--q->nspare];
		/*
		 * Someone may still read the old mail (an agent holding the
		 * descriptor QMGR_OPENED gave it, a mail deleted mid-delivery):
		 * it must never see another mail's content. The kernel grants a
		 * write lease only when no other descriptor of the file is open,
		 * and none can be opened any more (it is not in queue/).
		 */
		if (fcntl(s->fd, F_SETLEASE, F_WRLCK) == 0) {
			(void)fcntl(s->fd, F_SETLEASE, F_UNLCK);
			/* Every write gives its offset (pwrite): no seek to the start. */
			tx->fd = s->fd;
			strlcpy(tx->spare, s->name, sizeof(tx->spare));
			return 0;
		}
		/* Still open elsewhere: let it go as a removed file would. */
		if (unlinkat(q->spare_fd, s->name, 0) == -1 && errno != ENOENT)
			log_warn("unlink spare/%s", s->name);
		qmgr_commit_close(q, s->fd);
	}
	return -1;
}

/* A file now in spare/ (its removal from queue/ durable) joins the pool. */
void
spool_spare_put(struct qmgr *q, int fd, const char *name)
{
	if (q->nspare >= q->spare_max) {
		(void)unlinkat(q->spare_fd, name, 0);
		qmgr_commit_close(q, fd);
		return;
	}
	q->spares[q->nspare].fd = fd;
	strlcpy(q->spares[q->nspare].name, name, sizeof(q->spares[q->nspare].name));
	q->nspare++;
}

int
spool_tx_create(struct qmgr *q, struct qtx *tx)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if (tries > 0 || tx->env.id[0] == '\0')
			qf_id_new(tx->env.id);
		if (qmail_find(q, tx->env.id) != NULL || park_find(q, tx->env.id) != NULL)
			continue;
		if (tx_reuse(q, tx) == 0)
			break;
		tx->fd = openat(q->incoming_fd, tx->env.id,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (tx->fd != -1)
			break;
		if (errno != EEXIST) {
			log_warn("create incoming/%s", tx->env.id);
			return -1;
		}
	}
	if (tx->fd == -1) {
		log_warnx("no free queue id after %d tries", tries);
		return -1;
	}
	qf_content_hash_init(&tx->hst);
	if (tx_write_prefix(tx, 0) == -1) {
		log_warn("%s: write", tx->env.id);
		return -1;
	}
	return 0;
}

int
spool_tx_write(struct qtx *tx, const void *p, size_t n)
{
	if (write_full(tx->fd, p, n, tx->prefix_len + tx->content_len) == -1)
		return -1;
	qf_content_hash_update(&tx->hst, p, n);
	tx->content_len += n;
	return 0;
}

/* Formatted content for mails the qmgr writes itself (DSNs, TLS reports). */
int
spool_tx_printf(struct qtx *tx, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (mem_has_8bit(s, (size_t)n))
		tx->env.flags |= MAIL_F_8BIT;
	r = spool_tx_write(tx, s, (size_t)n);
	free(s);
	return r;
}

int
spool_tx_finish(struct qtx *tx)
{
	uint8_t trailer[QF_TRAILER_LEN], *prefix;
	size_t len;

	if (tx_write_prefix(tx, 0) == -1)
		return -1;
	if ((len = qf_prefix_encode(&tx->env, tx->content_len, &prefix)) == 0)
		return -1;
	qf_trailer_encode(prefix, len, &tx->hst, trailer, tx->hash);
	free(prefix);
	return write_full(tx->fd, trailer, sizeof(trailer), tx->prefix_len + tx->content_len);
}

void
spool_tx_discard(struct qmgr *q, struct qtx *tx)
{
	if (tx->fd == -1)
		return;
	if (tx->spare[0] != '\0') {
		/* Rare: give the space back rather than keep a large file. */
		if (unlinkat(q->spare_fd, tx->spare, 0) == -1 && errno != ENOENT)
			log_warn("unlink spare/%s", tx->spare);
		qmgr_commit_close(q, tx->fd);
		tx->spare[0] = '\0';
	} else {
		close(tx->fd);
		if (unlinkat(q->incoming_fd, tx->env.id, 0) == -1 && errno != ENOENT)
			log_warn("unlink incoming/%s", tx->env.id);
	}
	tx->fd = -1;
}

int
spool_state_append(struct qmgr *q, struct qmail *m, const struct qf_state *st, unsigned n)
{
	uint8_t *buf;
	unsigned i;
	int fd;

	/* The descriptor kept since the commit saves a path lookup per update. */
	fd = m->wfd != -1 ? dup(m->wfd) : openat(q->queue_fd, m->id, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		log_warn("%s: open for state", m->id);
		return -1;
	}
	buf = xreallocarray(NULL, n, QF_STATE_SIZE);
	for (i = 0; i < n; i++)
		qf_state_encode(&st[i], m->hash, buf + (size_t)i * QF_STATE_SIZE);
	/*
	 * pwrite at the end of the last good record: anything a failed write
	 * left beyond it was never durable and is overwritten or, at load,
	 * recognised as a torn tail.
	 */
	if (write_full(fd, buf, (size_t)n * QF_STATE_SIZE, m->file_len) == -1) {
		log_warn("%s: append state", m->id);
		free(buf);
		close(fd);
		return -1;
	}
	m->file_len += (uint64_t)n * QF_STATE_SIZE;
	free(buf);
	return fd;
}

int
spool_open_ro(struct qmgr *q, const char *id)
{
	return openat(q->queue_fd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

void
spool_remove(struct qmgr *q, struct qmail *m)
{
	/*
	 * No directory fsync: should the unlink be lost in a crash, the file
	 * comes back with every recipient final and recovery removes it.
	 */
	if (unlinkat(q->queue_fd, m->id, 0) == -1 && errno != ENOENT)
		log_warn("%s: unlink", m->id);
	else
		log_info("%s: removed", m->id);
}

/* Keep a bad file for a human: queue/<name> -> corrupt/<name>[.N]. */
static void
move_corrupt(struct qmgr *q, const char *name, const char *why)
{
	char dst[NAME_MAX + 16];
	int i;

	strlcpy(dst, name, sizeof(dst));
	for (i = 1; i < 1000; i++) {
		if (renameat2(q->queue_fd, name, q->corrupt_fd, dst, RENAME_NOREPLACE) == 0) {
			log_warnx("queue/%s: corrupt (%s): moved to corrupt/%s, not delivered",
			    name, why, dst);
			(void)fsync(q->corrupt_fd);
			(void)fsync(q->queue_fd);
			return;
		}
		if (errno != EEXIST)
			break;
		snprintf(dst, sizeof(dst), "%s.%d", name, i);
	}
	log_warn("queue/%s: corrupt (%s) and cannot be moved to corrupt/", name, why);
}

/*
 * Indexing at start runs beside intake, in slices of the event loop: first
 * the names in queue/ are listed (QMGR_LIST_SLICE per turn), then sorted by
 * inode number, then verified and indexed (QMGR_INDEX_SLICE files or
 * QMGR_INDEX_USEC per turn, whichever comes first). Reading the files in
 * inode order instead of the directory's hash order turns a cold cache's
 * random reads of a million inodes into a mostly sequential sweep of the
 * inode tables; that random order is what made a large restart grow faster
 * than the queue.
 *
 * A mail committed meanwhile gets a new id (ids grow with time and the
 * commit renames with RENAME_NOREPLACE), so it never collides with a file
 * waiting to be indexed; a name already indexed is skipped.
 */
#define QMGR_LIST_SLICE		4096
#define QMGR_INDEX_SLICE	512
#define QMGR_INDEX_USEC		10000
#define QMGR_INDEX_READ_MAX	(256 * 1024)	/* larger files are mapped */

struct qrecover_name {
	uint64_t	 ino;
	uint32_t	 off;		/* in names */
};

struct qrecover {
	DIR			*dir;		/* queue/ while listing */
	struct qrecover_name	*v;
	size_t			 n, cap, next;
	char			*names;
	size_t			 nameslen, namescap;
	struct event		*ev;
	struct timespec		 started;
	unsigned		 nok, nbad, nin;
	uint8_t			*buf;		/* recover_one's read buffer */
	size_t			 bufcap;
};

/*
 * Read and verify queue/<name> (buf: a reused read buffer for small files).
 * 1: *m is the mail (a torn tail cut off), valid_len its length; 0: gone;
 * -1: corrupt, moved to corrupt/; -2: unreadable now, kept where it is.
 */
int
spool_read(struct qmgr *q, const char *name, uint8_t **buf, size_t *bufcap,
    struct qf_mail *m)
{
	struct stat sb;
	enum qf_result r;
	const char *why;
	void *map;
	int fd;

	if (!qf_id_valid(name)) {
		move_corrupt(q, name, "not a queue id");
		return -1;
	}
	if ((fd = openat(q->queue_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return 0;	/* gone since it was listed */
		log_warn("queue/%s: open", name);
		move_corrupt(q, name, "cannot be opened");
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
		close(fd);
		move_corrupt(q, name, "empty or not a regular file");
		return -1;
	}
	if (sb.st_size <= QMGR_INDEX_READ_MAX) {
		/* Small files are read into one reused buffer: a mapping costs a
		 * map, a page fault per page and an unmap, a third of the
		 * indexing time on a virtual machine. */
		ssize_t got;

		if (*bufcap < (size_t)sb.st_size) {
			*bufcap = QMGR_INDEX_READ_MAX;
			*buf = xreallocarray(*buf, *bufcap, 1);
		}
		got = pread(fd, *buf, sb.st_size, 0);
		if (got != sb.st_size) {
			if (got == -1)
				log_warn("queue/%s: read", name);
			else
				log_warnx("queue/%s: short read", name);
			close(fd);
			return -2;	/* not proof of corruption: kept where it is */
		}
		map = *buf;
	} else {
		map = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			log_warn("queue/%s: mmap", name);
			close(fd);
			/* Unreadable now is not proof of corruption: keep it where it is. */
			return -2;
		}
		/* Read once, front to back: read-ahead helps, the pages are not kept. */
		(void)madvise(map, sb.st_size, MADV_SEQUENTIAL);
	}
	r = qf_parse(map, sb.st_size, m, &why);
	if (map != *buf)
		munmap(map, sb.st_size);
	if (r == QF_CORRUPT || strcmp(m->env.id, name) != 0) {
		close(fd);
		if (r != QF_CORRUPT)
			qf_mail_free(m);
		move_corrupt(q, name, r == QF_CORRUPT ? why : "queue id does not match file name");
		return -1;
	}
	if (r == QF_TORN) {
		log_warnx("%s: %s ignored: that state update never became durable", name, why);
		if (ftruncate(fd, m->valid_len) == -1 || fdatasync(fd) == -1)
			log_warn("%s: cutting the torn tail", name);
	}
	close(fd);
	return 1;
}

/* Verify one queue file and index it (or keep it on disk: qmgr_park.c). */
static void
recover_one(struct qmgr *q, const char *name, unsigned *nok, unsigned *nbad)
{
	struct qrecover *rc = q->recover;
	struct qf_mail m;
	struct qmail *e;
	int r;

	if (qmail_find(q, name) != NULL || park_find(q, name) != NULL)
		return;
	if ((r = spool_read(q, name, &rc->buf, &rc->bufcap, &m)) <= 0) {
		if (r == -1)
			(*nbad)++;
		return;
	}
	e = qmail_from_file(&m, m.valid_len);
	qf_mail_free(&m);
	if (qmail_final(e)) {
		spool_remove(q, e);
		qmail_free(q, e);
		return;
	}
	mark_apply(q, e);
	(*nok)++;
	/* Past queue_active_limit, a mail waiting for a later re-send stays
	 * on disk with an index entry: never sent to the scheduler now. */
	if (e->dkim != NULL || q->conf->ndkim == 0) {
		if (park_wanted(q, e, false)) {
			park_mail(q, e, park_due(q, e), false);
			return;
		}
	}
	qmail_insert(q, e);
	/* Queued but never signed (a crash, or a file from before signing):
	 * announced once signed; the others as they are indexed. */
	if (e->dkim == NULL && q->conf->ndkim > 0)
		sign_mail(q, e);
	else
		sched_recovered(q, e);
}

static int
name_cmp(const void *a, const void *b)
{
	const struct qrecover_name *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

/* One slice of listing queue/; true when the listing is complete. */
static bool
recover_list(struct qrecover *r)
{
	struct dirent *de;
	size_t len;
	unsigned i;

	for (i = 0; i < QMGR_LIST_SLICE; i++) {
		errno = 0;
		if ((de = readdir(r->dir)) == NULL) {
			if (errno != 0)
				log_warn("queue/: readdir");
			return true;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		len = strlen(de->d_name) + 1;
		if (r->nameslen + len > UINT32_MAX)
			fatalx("queue/: too many names");
		if (r->nameslen + len > r->namescap) {
			r->namescap = r->namescap ? r->namescap * 2 : 64 * 1024;
			r->names = xreallocarray(r->names, r->namescap, 1);
		}
		memcpy(r->names + r->nameslen, de->d_name, len);
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 1024;
			r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
		}
		r->v[r->n].ino = de->d_ino;
		r->v[r->n].off = (uint32_t)r->nameslen;
		r->n++;
		r->nameslen += len;
	}
	return false;
}

static void
recover_done(struct qmgr *q)
{
	struct qrecover *r = q->recover;

	log_info("recovery: %u mails queued, %u corrupt moved aside, %u unfinished removed",
	    r->nok, r->nbad, r->nin);
	log_info("queue indexed in %.1fs: %u mails queued, %u of them on disk until due",
	    qmgr_usec_since(&r->started) / 1e6, q->nmails + q->pdue.n, q->pdue.n);
	event_free(r->ev);
	free(r->v);
	free(r->names);
	free(r->buf);
	free(r);
	q->recover = NULL;
	mark_recover(q);
	sched_recovery_done(q);
}

static void
recover_step(evutil_socket_t fd, short ev, void *arg)
{
	struct qmgr *q = arg;
	struct qrecover *r = q->recover;
	struct timespec t0;
	struct timeval tv = { 0, 0 };
	unsigned i;

	if (r->dir != NULL) {
		if (recover_list(r)) {
			closedir(r->dir);
			r->dir = NULL;
			if (r->n > 0)
				qsort(r->v, r->n, sizeof(*r->v), name_cmp);
			log_info("recovery: %zu files in queue/ to index", r->n);
		}
		evtimer_add(r->ev, &tv);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sched_batch_begin(q);
	for (i = 0; i < QMGR_INDEX_SLICE && r->next < r->n; i++) {
		recover_one(q, r->names + r->v[r->next].off, &r->nok, &r->nbad);
		r->next++;
		if ((i & 15) == 15 && qmgr_usec_since(&t0) > QMGR_INDEX_USEC)
			break;
	}
	sched_batch_end(q);
	if (r->next < r->n) {
		/* A zero timeout: the loop polls its descriptors before the next slice. */
		evtimer_add(r->ev, &tv);
		return;
	}
	recover_done(q);
}

bool
spool_indexing(const struct qmgr *q)
{
	return q->recover != NULL;
}

void
spool_recover_progress(const struct qmgr *q, size_t *done, size_t *total)
{
	*done = q->recover != NULL ? q->recover->next : 0;
	*total = q->recover != NULL ? q->recover->n : 0;
}

int
spool_recover(struct qmgr *q)
{
	struct qrecover *r;
	struct dirent *de;
	struct timeval tv = { 0, 0 };
	DIR *d;
	int fd;
	unsigned nin = 0;

	if ((fd = dup(q->incoming_fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("incoming/");
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(q->incoming_fd, de->d_name, 0) == -1)
			log_warn("incoming/%s: unlink", de->d_name);
		else {
			log_info("incoming/%s: never acknowledged: removed", de->d_name);
			nin++;
		}
	}
	closedir(d);

	/* Spare files hold removed mails or unfinished ones: nothing to keep. */
	if ((fd = dup(q->spare_fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("spare/");
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(q->spare_fd, de->d_name, 0) == -1)
			log_warn("spare/%s: unlink", de->d_name);
	}
	closedir(d);

	r = xcalloc(1, sizeof(*r));
	r->nin = nin;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	if ((fd = dup(q->queue_fd)) == -1 || (r->dir = fdopendir(fd)) == NULL) {
		log_warn("queue/");
		free(r);
		return -1;
	}
	if ((r->ev = evtimer_new(q->base, recover_step, q)) == NULL)
		fatalx("evtimer_new");
	q->recover = r;
	mark_load(q);
	evtimer_add(r->ev, &tv);
	return 0;
}
