/* SPDX-License-Identifier: ISC */
/*
 * qmgr_commit.c - the commit thread of the queue manager: one device flush
 * per commit round.
 *
 * The event loop never waits for the disk. It writes a new mail into
 * incoming/ or a spare file (or appends state records) and pushes a job
 * here. The commit thread takes every job queued so far as one round:
 *   1. cuts each reused file to its new length and renames each new mail
 *      from incoming/ or spare/ into queue/, each finished mail from
 *      queue/ into spare/ for reuse (or unlinks it);
 *   2. calls syncfs() once on the queue's file system: it writes back the
 *      data and inodes of every file and the directories, and ends with
 *      one device cache flush;
 * then the round is handed back to the loop through an eventfd and its
 * mails are answered. While a round runs, the next one accumulates, so N
 * concurrent submissions share one flush instead of costing two each (an
 * fdatasync per file and an fsync of queue/, measured 1.8 flushes per mail
 * with the four threads that did that before).
 *
 * Why a round may be answered only after the NEXT round's flush: on ext4
 * without a journal, syncfs() issues its flush before its last step writes
 * the metadata buffers (inode tables, directory blocks) it started earlier
 * (fs/sync.c: sync_fs(sb, 1), then sync_blockdev()). Those writes are
 * complete when syncfs() returns, so the next flush makes them durable.
 * Under load that next flush is the next round's own syncfs() (one flush
 * per round); when nothing new came, an fsync() of the clean queue/ is the
 * closing flush alone. A round's mails thus wait for two flushes, not one.
 * A journaled file system has no such tail: its sync_fs() commits the
 * metadata to the journal and waits for that commit's flush, after the
 * data was written (ext4 with a journal, XFS, btrfs, whose syncfs() ends
 * with a transaction commit). There a round is answered when its own
 * syncfs() returns: one flush of waiting instead of two. qmgr_prepare()
 * tells which, before the chroot hides /proc and /sys; a file system it
 * does not know as journaled keeps the two flushes.
 *
 * Crash guarantees: a new mail's bytes are all written before its job is
 * pushed, so a killed process (the page cache survives) never leaves a
 * partial file in queue/. After a power loss during a round, a file of it
 * may be in queue/ without its data: it fails its trailer hash at recovery
 * and goes to corrupt/ (it was never acknowledged: answers wait for the
 * flushes). A file in spare/ is reused only after its removal round was
 * closed, so the old mail can never come back under its own name.
 *
 * syncfs() writes back everything dirty on that file system, not only the
 * queue: a queue on a file system of its own keeps other writers' data out
 * of the rounds. queue_sync = files instead makes each file durable on its
 * own (an fdatasync each and an fsync of queue/ per round: more flushes,
 * but no other writer's data to wait for); README, "Queue durability".
 *
 * The thread touches only descriptors and the directory fds; every other
 * structure (index, links, libevent) stays on the loop thread.
 *
 * A second thread closes descriptors for the loop (qmgr_commit_close):
 * the last close of a removed file frees its inode and blocks, which on a
 * file system mounted with discard waits for the device (about a
 * millisecond each). Nothing waits for these closes, so they stay out of
 * the commit rounds as well.
 */
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <linux/magic.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "daemons.h"
#include "log.h"
#include "proc.h"
#include "qmgr.h"
#include "xmalloc.h"

/*
 * Round pacing (commit_thread): a round starts at most every
 * QMGR_ROUND_USEC unless QMGR_ROUND_JOBS jobs wait; a finished round waits
 * QMGR_ROUND_WAIT_USEC for the next one before a flush of its own closes it.
 */
#define QMGR_ROUND_USEC		2000
#define QMGR_ROUND_JOBS		32
#define QMGR_ROUND_WAIT_USEC	1000

/* A slow syncfs(), how many in a row, and the rest from it (syncfs_resting). */
#define QMGR_SYNCFS_SLOW_USEC	50000
#define QMGR_SYNCFS_SLOW_RUN	3
#define QMGR_SYNCFS_REST_MIN	10
#define QMGR_SYNCFS_REST_MAX	320

/*
 * What qmgr_prepare() found out about the queue's file system, for
 * qmgr_commit_start(): written once before the loop starts, by this file only.
 */
static struct {
	bool	probed;
	bool	syncfs_durable;		/* a round is durable when its syncfs() returns */
	char	what[96];		/* for the log: the file system and device */
} queue_fs;

struct qcommit {
	struct qmgr	*q;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct qjob	*todo, *todo_tail;	/* loop -> thread */
	unsigned	 njobs;			/* in todo */
	struct qjob	*done, *done_tail;	/* thread -> loop */
	bool		 stop;
	int		 efd;
	struct event	*ev;
	int		 incoming_fd, queue_fd, spare_fd;
	bool		 files;		/* queue_sync = files */
	bool		 syncfs_durable;	/* no closing flush needed (queue_fs) */
	struct timespec	 rest_until;	/* file by file until then (syncfs_resting) */
	unsigned	 rest;		/* its length, seconds */
	unsigned	 slow;		/* slow syncfs() calls in a row */
	/* statistics, written by the thread under lock */
	unsigned long	 rounds, jobs;

	/* descriptors to close, for the closer thread */
	pthread_t	 closer;
	pthread_cond_t	 close_cond;
	int		*close_fds;
	size_t		 nclose, close_cap;
};

/*
 * First half of a round: cut reused files to length, then move every file
 * of the round to where it belongs (incoming/ or spare/ -> queue/, queue/ ->
 * spare/ or gone). Nothing is durable yet; the round's syncfs makes it so.
 * Renaming before the sync is safe because every byte of a new mail was
 * written by the loop before its job was pushed: a process crash (the page
 * cache survives it) never shows a partial file in queue/, and after a
 * power loss a file whose data did not reach the disk fails its trailer
 * hash at recovery, and was never acknowledged (see the top of the file).
 */
static void
round_write(struct qcommit *c, struct qjob *batch)
{
	struct qjob *j;

	for (j = batch; j != NULL; j = j->next) {
		if (j->kind == QJOB_COMMIT) {
			if (j->from[0] != '\0' && ftruncate(j->fd, (off_t)j->length) == -1) {
				j->error = errno;
				continue;
			}
			/* NOREPLACE: a colliding id must never overwrite a queued mail. */
			if (renameat2(j->from[0] != '\0' ? c->spare_fd : c->incoming_fd,
			    j->from[0] != '\0' ? j->from : j->id, c->queue_fd, j->id,
			    RENAME_NOREPLACE) == -1)
				j->error = errno;
			else
				j->renamed = true;
		} else if (j->kind == QJOB_REMOVE) {
			if (j->spare && renameat2(c->queue_fd, j->id, c->spare_fd, j->id,
			    RENAME_NOREPLACE) == 0)
				j->spared = true;
			else if (unlinkat(c->queue_fd, j->id, 0) == -1 && errno != ENOENT)
				j->error = errno;
		}
	}
}

/*
 * queue_sync = files: each file's own fdatasync (write-back of all started
 * first, so their writes overlap), then the renames and one fsync of
 * queue/. Each of those flushes the device, but each makes exactly its own
 * file durable, whatever else is dirty on the file system; the round is
 * durable when this returns.
 */
static void
round_files(struct qcommit *c, struct qjob *batch)
{
	struct qjob *j;
	bool dirty = false;
	int err;

	for (j = batch; j != NULL; j = j->next)
		if (j->kind == QJOB_COMMIT && j->from[0] != '\0' &&
		    ftruncate(j->fd, (off_t)j->length) == -1)
			j->error = errno;
	for (j = batch; j != NULL; j = j->next)
		if (j->fd != -1)
			(void)sync_file_range(j->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	for (j = batch; j != NULL; j = j->next)
		if (j->fd != -1 && j->error == 0 && fdatasync(j->fd) == -1)
			j->error = errno;
	for (j = batch; j != NULL; j = j->next) {
		if (j->error != 0)
			continue;
		if (j->kind == QJOB_COMMIT) {
			if (renameat2(j->from[0] != '\0' ? c->spare_fd : c->incoming_fd,
			    j->from[0] != '\0' ? j->from : j->id, c->queue_fd, j->id,
			    RENAME_NOREPLACE) == -1)
				j->error = errno;
			else
				dirty = j->renamed = true;
		} else if (j->kind == QJOB_REMOVE) {
			if (j->spare && renameat2(c->queue_fd, j->id, c->spare_fd, j->id,
			    RENAME_NOREPLACE) == 0)
				dirty = j->spared = true;
			else if (unlinkat(c->queue_fd, j->id, 0) == -1 && errno != ENOENT)
				j->error = errno;
			else
				dirty = true;
		}
	}
	if (dirty && fsync(c->queue_fd) == -1) {
		err = errno;
		for (j = batch; j != NULL; j = j->next)
			if (j->kind != QJOB_SYNC && j->error == 0)
				j->error = err;
	}
}

/* A failed sync: no job of these rounds may be answered as durable. */
static void
round_fail(struct qjob *batch, int err)
{
	struct qjob *j;

	for (j = batch; j != NULL; j = j->next)
		if (j->error == 0)
			j->error = err;
}

/* *ts = (from, or now) + usec, on the condition variable's clock. */
static void
deadline(struct timespec *ts, const struct timespec *from, long usec)
{
	if (from != NULL)
		*ts = *from;
	else
		clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += usec / 1000000;
	ts->tv_nsec += (usec % 1000000) * 1000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * syncfs() writes back whatever else is dirty on the file system: when
 * another program floods it (a copy, a build, a backup), one call can take
 * seconds and every submission waits for it. QMGR_SYNCFS_SLOW_RUN calls in
 * a row slower than QMGR_SYNCFS_SLOW_USEC make the thread commit file by
 * file (queue_sync = files: more flushes, but only outpost's data) for a
 * rest that doubles with each slow run, from QMGR_SYNCFS_REST_MIN to
 * QMGR_SYNCFS_REST_MAX seconds, and is forgotten after a fast call. Both ways answer only what
 * is durable. Thread-local state: only the commit thread reads it.
 */
static bool
syncfs_resting(struct qcommit *c)
{
	struct timespec	 now;

	if (c->rest_until.tv_sec == 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < c->rest_until.tv_sec ||
	    (now.tv_sec == c->rest_until.tv_sec && now.tv_nsec < c->rest_until.tv_nsec))
		return true;
	c->rest_until.tv_sec = 0;
	return false;
}

static void
syncfs_timed(struct qcommit *c, const struct timespec *t0)
{
	struct timespec	 now;
	long		 usec;

	clock_gettime(CLOCK_MONOTONIC, &now);
	usec = (now.tv_sec - t0->tv_sec) * 1000000L + (now.tv_nsec - t0->tv_nsec) / 1000;
	if (usec < QMGR_SYNCFS_SLOW_USEC) {
		c->slow = 0;
		c->rest = 0;
		return;
	}
	/*
	 * One slow call is a backlog (whatever the kernel had not yet written
	 * back); it is paid once, after it the rounds carry only what others
	 * dirtied in the last milliseconds. Only a run of slow calls means a
	 * writer that keeps flooding the file system.
	 */
	if (++c->slow < QMGR_SYNCFS_SLOW_RUN) {
		log_info("commit: syncfs took %ld ms (other writers on the queue's file system?)",
		    usec / 1000);
		return;
	}
	c->slow = 0;
	c->rest = c->rest == 0 ? QMGR_SYNCFS_REST_MIN :
	    c->rest * 2 > QMGR_SYNCFS_REST_MAX ? QMGR_SYNCFS_REST_MAX : c->rest * 2;
	log_info("commit: syncfs took %ld ms (other writers on the queue's file system?): "
	    "committing file by file for %u s", usec / 1000, c->rest);
	c->rest_until = now;
	c->rest_until.tv_sec += c->rest;
}

/* Hand a finished round back to the loop. Called with c->lock held. */
static void
round_done(struct qcommit *c, struct qjob *batch)
{
	struct qjob *tail;
	uint64_t one = 1;
	unsigned n;

	for (n = 1, tail = batch; tail->next != NULL; tail = tail->next)
		n++;
	c->rounds++;
	c->jobs += n;
	if (c->done_tail != NULL)
		c->done_tail->next = batch;
	else
		c->done = batch;
	c->done_tail = tail;
	if (write(c->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("commit thread: eventfd");
}

static void *
commit_thread(void *arg)
{
	struct qcommit *c = arg;
	struct qjob *batch, *prev = NULL;
	struct timespec ts, last, t0;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &last);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		/*
		 * A finished round waits for the next flush. Under load the
		 * next round's jobs come within a fraction of a millisecond:
		 * wait for them rather than spend a flush on nothing.
		 */
		if (prev != NULL)
			deadline(&ts, NULL, QMGR_ROUND_WAIT_USEC);
		while (c->todo == NULL && !c->stop) {
			if (prev == NULL)
				pthread_cond_wait(&c->cond, &c->lock);
			else if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
				break;
		}
		if (c->todo == NULL && prev == NULL && c->stop)
			break;
		if (c->files || syncfs_resting(c)) {
			batch = c->todo;
			c->todo = c->todo_tail = NULL;
			c->njobs = 0;
			pthread_mutex_unlock(&c->lock);
			if (batch != NULL)
				round_files(c, batch);
			/* A syncfs() round still waiting for its closing flush. */
			if (prev != NULL && fsync(c->queue_fd) == -1) {
				log_warn("commit round: sync");
				round_fail(prev, errno);
			}
			pthread_mutex_lock(&c->lock);
			if (prev != NULL)
				round_done(c, prev);
			prev = NULL;
			if (batch != NULL)
				round_done(c, batch);
			continue;
		}
		/*
		 * Let the round grow: at most one flush per QMGR_ROUND_USEC
		 * unless QMGR_ROUND_JOBS are waiting. After a quiet spell the
		 * last round is long past and a lone mail goes at once.
		 */
		if (c->todo != NULL) {
			deadline(&ts, &last, QMGR_ROUND_USEC);
			while (c->njobs < QMGR_ROUND_JOBS && !c->stop &&
			    pthread_cond_timedwait(&c->cond, &c->lock, &ts) != ETIMEDOUT)
				;
		}
		clock_gettime(CLOCK_MONOTONIC, &last);
		batch = c->todo;
		c->todo = c->todo_tail = NULL;
		c->njobs = 0;
		pthread_mutex_unlock(&c->lock);

		err = 0;
		if (batch != NULL) {
			round_write(c, batch);
			/*
			 * One device flush for the whole round: data, inodes and
			 * the directory entries of every file of it, and the
			 * closing flush of the round before (see the top).
			 */
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (syncfs(c->queue_fd) == -1)
				err = errno;
			syncfs_timed(c, &t0);
		} else if (fsync(c->queue_fd) == -1) {
			/* Nothing new: a flush only, to close the round before. */
			err = errno;
		}
		if (err != 0) {
			errno = err;
			log_warn("commit round: sync");
			if (batch != NULL)
				round_fail(batch, err);
			if (prev != NULL)
				round_fail(prev, err);
		}

		pthread_mutex_lock(&c->lock);
		if (prev != NULL)
			round_done(c, prev);
		prev = batch;
		if (c->syncfs_durable && prev != NULL) {
			/* journaled: its own syncfs() closed it (see the top) */
			round_done(c, prev);
			prev = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void *
closer_thread(void *arg)
{
	struct qcommit *c = arg;
	int *fds = NULL;
	size_t n, cap = 0, i;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->nclose == 0 && !c->stop)
			pthread_cond_wait(&c->close_cond, &c->lock);
		if (c->nclose == 0 && c->stop)
			break;
		/* swap buffers: the loop keeps appending while these close */
		n = c->nclose;
		if (cap < c->close_cap) {
			free(fds);
			cap = c->close_cap;
			fds = xcalloc(cap, sizeof(*fds));
		}
		memcpy(fds, c->close_fds, n * sizeof(*fds));
		c->nclose = 0;
		pthread_mutex_unlock(&c->lock);
		for (i = 0; i < n; i++)
			close(fds[i]);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	free(fds);
	return NULL;
}

/*
 * Loop side, before the REMOVE's own completion frees the mail: a file
 * moved into spare/ is reusable once that completion frees its qmail.
 */
static void
remove_spared(struct qmgr *q, struct qjob *j)
{
	struct qmail *m;

	q->spare_pending--;
	if (!j->spared)
		return;
	if (j->error == 0 && (m = qmail_find(q, j->id)) != NULL && m->wfd != -1)
		m->spared = true;
	else	/* no descriptor to reuse it with */
		(void)unlinkat(q->spare_fd, j->id, 0);
}

/* Loop side: run the completion of each finished job. */
static void
commit_done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qcommit *c = arg;
	struct qjob *j, *next;
	uint64_t n;

	if (read(c->efd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("commit: eventfd read");
	pthread_mutex_lock(&c->lock);
	j = c->done;
	c->done = c->done_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		c->q->jobs_inflight--;
		if (j->kind == QJOB_REMOVE && j->spare)
			remove_spared(c->q, j);
		j->done(c->q, j);	/* frees j */
	}
	qmgr_maybe_exit(c->q);
}

bool
commit_syncfs_is_durable(unsigned long fs_type, bool ext4_journal)
{
	switch (fs_type) {
	case EXT4_SUPER_MAGIC:		/* also ext2 and ext3: the journal decides */
		return ext4_journal;
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
		return true;
	default:			/* unknown: the safe way, two flushes */
		return false;
	}
}

static const char *
fs_type_name(unsigned long fs_type)
{
	switch (fs_type) {
	case EXT4_SUPER_MAGIC:
		return "ext2/3/4";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case TMPFS_MAGIC:
		return "tmpfs";
	default:
		return "a file system of another type";
	}
}

/*
 * Before the chroot: the file system of the queue and, for ext4, whether it
 * has a journal. The kernel names a mounted ext4 journal in /proc/fs/jbd2
 * after the device ("vda1-8", "dm-0-8", "loop0-8": the journal's inode);
 * the device's name is the last part of /sys/dev/block/MAJOR:MINOR.
 * Anything not found is taken as "no journal".
 */
void
qmgr_prepare(struct proc_ctx *ctx)
{
	char dir[PATH_MAX], link[PATH_MAX], path[PATH_MAX + 32];
	const char *dev = "?";
	struct statfs sfs;
	struct stat st;
	ssize_t n;
	bool journal = false;

	/* Its root: incoming/, queue/ and spare/ are made in it after the
	 * chroot and must share its file system (a mail is renamed across). */
	config_queue_dir(ctx->conf, dir, sizeof(dir));
	if (statfs(dir, &sfs) == -1 || stat(dir, &st) == -1) {
		log_warn("%s: cannot tell its file system; a commit round waits for two flushes",
		    dir);
		return;
	}
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	if ((n = readlink(path, link, sizeof(link) - 1)) > 0) {
		link[n] = '\0';
		dev = strrchr(link, '/');
		dev = dev != NULL ? dev + 1 : link;
		snprintf(path, sizeof(path), "/proc/fs/jbd2/%s-8", dev);
		journal = (unsigned long)sfs.f_type == EXT4_SUPER_MAGIC && access(path, F_OK) == 0;
	}
	queue_fs.probed = true;
	queue_fs.syncfs_durable = commit_syncfs_is_durable((unsigned long)sfs.f_type, journal);
	snprintf(queue_fs.what, sizeof(queue_fs.what), "%s%s on %.40s",
	    fs_type_name((unsigned long)sfs.f_type),
	    (unsigned long)sfs.f_type != EXT4_SUPER_MAGIC ? "" :
	    journal ? " with a journal" : " without a journal", dev);
}

struct qcommit *
qmgr_commit_start(struct qmgr *q)
{
	struct qcommit *c;
	pthread_attr_t attr;
	pthread_condattr_t cattr;

	c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->incoming_fd = q->incoming_fd;
	c->queue_fd = q->queue_fd;
	c->spare_fd = q->spare_fd;
	c->files = q->conf->queue_sync == QSYNC_FILES;
	c->syncfs_durable = queue_fs.syncfs_durable;
	if (queue_fs.probed && !c->files)
		log_info("commit: queue on %s: a round is answered %s", queue_fs.what,
		    c->syncfs_durable ? "when its syncfs() returns (journaled)" :
		    "after the next flush (no journal known)");
	if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &cattr);
	pthread_condattr_destroy(&cattr);
	c->ev = event_new(q->base, c->efd, EV_READ | EV_PERSIST, commit_done_cb, c);
	event_add(c->ev, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if ((errno = pthread_create(&c->thread, &attr, commit_thread, c)) != 0)
		fatal("pthread_create");
	pthread_cond_init(&c->close_cond, NULL);
	if ((errno = pthread_create(&c->closer, &attr, closer_thread, c)) != 0)
		fatal("pthread_create");
	pthread_attr_destroy(&attr);
	return c;
}

void
qmgr_commit_push(struct qmgr *q, struct qjob *j)
{
	struct qcommit *c = q->commit;
	struct qmail *m;

	j->next = NULL;
	j->error = 0;
	j->renamed = false;
	q->jobs_inflight++;
	if (j->kind == QJOB_REMOVE) {
		/* Keep the file for reuse if its descriptor is kept and there is room. */
		m = qmail_find(q, j->id);
		j->spare = m != NULL && m->wfd != -1 &&
		    q->nspare + q->spare_pending < q->spare_max;
		j->spared = false;
		if (j->spare)
			q->spare_pending++;
	}
	pthread_mutex_lock(&c->lock);
	if (c->todo_tail != NULL)
		c->todo_tail->next = j;
	else
		c->todo = j;
	c->todo_tail = j;
	c->njobs++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
qmgr_commit_remove(struct qmgr *q, const char *id, void (*done)(struct qmgr *, struct qjob *),
    void *arg)
{
	struct qjob *j;

	j = xcalloc(1, sizeof(*j));
	j->kind = QJOB_REMOVE;
	j->fd = -1;
	strlcpy(j->id, id, sizeof(j->id));
	j->done = done;
	j->arg = arg;
	qmgr_commit_push(q, j);
}

/* Close fd without waiting: for descriptors whose close may free a file. */
void
qmgr_commit_close(struct qmgr *q, int fd)
{
	struct qcommit *c = q->commit;

	/* stop is written by this (the loop) thread only */
	if (c == NULL || c->stop) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (c->nclose == c->close_cap) {
		c->close_cap = c->close_cap ? c->close_cap * 2 : 64;
		c->close_fds = xreallocarray(c->close_fds, c->close_cap, sizeof(*c->close_fds));
	}
	c->close_fds[c->nclose++] = fd;
	pthread_cond_signal(&c->close_cond);
	pthread_mutex_unlock(&c->lock);
}

void
qmgr_commit_stop(struct qcommit *c)
{
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->cond);
	pthread_cond_signal(&c->close_cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_join(c->closer, NULL);
	log_info("commit: %lu jobs in %lu rounds", c->jobs, c->rounds);
}
