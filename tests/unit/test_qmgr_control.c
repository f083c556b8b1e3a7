/* SPDX-License-Identifier: ISC */
/*
 * test_qmgr_control.c - outpostctl's queue commands inside the queue
 * manager, with real links (smtpd, scheduler, master) and a queue directory
 * under /tmp. Proves: `queue --json` escapes quotes, backslashes, control
 * and non-UTF-8 bytes and keeps valid UTF-8; an unknown id is "no such
 * mail"; hold tells the scheduler SCHED_REMOVED, writes a durable mark and
 * survives a restart (not announced), release announces it again; delete
 * removes the file before it answers and tells the scheduler; bounce fails
 * every recipient with the administrator's reason, queues one DSN and
 * removes the mail; flush is passed on as SCHED_FLUSH.
 *
 * The "shape" case checks the queue's counts by state (qmgr_shape.c), kept
 * at every change instead of counted by a walk. The same queue manager goes
 * through submissions, deferrals, holds and releases (one mail and bulk),
 * a delivery, a failure with its bounce, a failure whose bounce is
 * postponed for lack of space, delete, outpostctl bounce, and a restart
 * that indexes the queue again. After each step the kept counts must equal
 * both the numbers the step should give and a walk over every mail
 * (qmgr_shape_recount), and the metrics collector must copy them.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "daemons.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "proc.h"
#include "qmgr/qmgr.h"
#include "queue_file.h"
#include "check_run.h"

static struct config conf;
static struct proc_ctx ctx;
static uint8_t rbuf[FRAME_MAX];
static int master_fd;
static char dir[64];

/* What shared/proc.c does with the master's frames: commands go to on_master. */
static int
master_cb(struct chan *c, struct frame *f, void *arg)
{
	if (f == NULL)
		return 0;
	return ctx.on_master(&ctx, f);
}

static void
pump(void)
{
	event_base_loop(ctx.base, EVLOOP_NONBLOCK);
}

/*
 * A queue manager in the current directory, with a master link, its queue
 * indexed.
 */
static void
start(void)
{
	int sv[2], i;

	log_init("test", LOG_TO_STDERR, NULL);
	config_defaults(&conf);
	strlcpy(conf.helo_name, "test.example", sizeof(conf.helo_name));
	/* No free-space timer: the shape test sets space_low itself. */
	conf.queue_min_free = 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_QMGR;
	ctx.base = event_base_new();
	ck_assert_int_eq(frame_socketpair(sv), 0);
	ctx.master = chan_new(ctx.base, sv[0], "master", master_cb, NULL);
	master_fd = sv[1];
	qmgr_main(&ctx);
	for (i = 0; i < 1000000 && spool_indexing(ctx.arg); i++)
		pump();
	ck_assert(!spool_indexing(ctx.arg));
}

/* A new queue directory under /tmp, made the current directory. */
static void
setup_dir(void)
{
	strlcpy(dir, "/tmp/test_qmgr_control.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The directory of setup_dir() removed, with what the test left in it. */
static void
remove_dir(void)
{
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static int
link_peer(int kind)
{
	int sv[2];

	ck_assert_int_eq(frame_socketpair(sv), 0);
	ctx.on_peer(&ctx, kind, 0, sv[0]);
	return sv[1];
}

static void
xsend(int fd, struct fbuf *fb)
{
	ck_assert_int_eq(frame_send(fd, fb), 0);
	fbuf_free(fb);
	pump();
}

/* The next frame on fd, running the loop meanwhile (at most ~5 s). */
static void
xrecv(int fd, struct frame *f)
{
	const char *why;
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r, i;

	for (i = 0; i < 5000; i++) {
		r = frame_recv(fd, rbuf, f, &why);
		/* The free-space state qmgr pushes to smtpd is not what these tests read. */
		if (r == 1 && f->hdr.type == MSG_QMGR_SPACE)
			continue;
		if (r == 1)
			return;
		ck_assert_msg(r == -1 && errno == EAGAIN, "link closed");
		pump();
		(void)poll(&pfd, 1, 1);
	}
	ck_abort_msg("no frame");
}

/* The next frame of a type on fd, others skipped. */
static void
xrecv_type(int fd, struct frame *f, uint16_t type)
{
	int i;

	for (i = 0; i < 1000; i++) {
		xrecv(fd, f);
		if (f->hdr.type == type)
			return;
	}
	ck_abort_msg("no %s", msg_name(type));
}

/* Queue a mail from sender to the n recipients; its id in id. */
static char *
submit(int smtpd, const char *sender, const char *const *rcpt, unsigned n, char *id)
{
	static const char body[] = "Subject: c\r\n\r\nhello\r\n";
	struct fbuf *fb;
	struct frame f;
	unsigned i;

	fb = fbuf_new(MSG_SUBMIT_BEGIN, 3);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, sender);
	fbuf_add_str(fb, "test");
	xsend(smtpd, fb);
	for (i = 0; i < n; i++) {
		fb = fbuf_new(MSG_SUBMIT_RCPT, 3);
		fbuf_add_str(fb, rcpt[i]);
		xsend(smtpd, fb);
	}
	fb = fbuf_new(MSG_SUBMIT_DATA, 3);
	fbuf_add_bytes(fb, body, strlen(body));
	xsend(smtpd, fb);
	xsend(smtpd, fbuf_new(MSG_SUBMIT_COMMIT, 3));
	xrecv(smtpd, &f);
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_QUEUED);
	ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
	return id;
}

/* One recipient, as submit() takes them. */
#define RCPT(r)	(const char *const[]){ r }, 1

/*
 * Run a command; collects the REPLY lines (joined by \n) in out, unless out
 * is NULL, and the END's text in msg; returns the END's status.
 */
static uint32_t
command_send(const char *cmd, const char *arg)
{
	static uint32_t reqid = 100;
	struct fbuf *fb;

	fb = fbuf_new(MSG_CONTROL_REQUEST, ++reqid);
	fbuf_add_str(fb, cmd);
	fbuf_add_u32(fb, arg != NULL);
	if (arg != NULL)
		fbuf_add_str(fb, arg);
	/* not run yet: command_wait() or pump_once() runs it */
	ck_assert_int_eq(frame_send(master_fd, fb), 0);
	fbuf_free(fb);
	return reqid;
}

/* The answer to request reqid, as command() returns it. */
static int
command_wait(uint32_t reqid, char *out, size_t outlen, char *msg, size_t msglen)
{
	struct frame f;
	char line[FRAME_MAX];
	uint8_t status;

	if (out != NULL)
		out[0] = '\0';
	for (;;) {
		xrecv(master_fd, &f);
		ck_assert_uint_eq(f.hdr.reqid, reqid);
		if (f.hdr.type == MSG_CONTROL_REPLY) {
			ck_assert(frame_get_str(&f, line, sizeof(line)));
			if (out == NULL)
				continue;
			strlcat(out, line, outlen);
			strlcat(out, "\n", outlen);
			continue;
		}
		ck_assert_uint_eq(f.hdr.type, MSG_CONTROL_END);
		ck_assert(frame_get_u8(&f, &status) && frame_get_str(&f, msg, msglen));
		return status;
	}
}

static int
command(const char *cmd, const char *arg, char *out, size_t outlen, char *msg, size_t msglen)
{
	return command_wait(command_send(cmd, arg), out, outlen, msg, msglen);
}

/*
 * The scheduler's outcome for recipient index of mail id, once answered:
 * a reply code and status that go with the state, and the reply text given
 * (NULL: one that goes with the state too).
 */
static void
update(int sched, const char *id, uint32_t index, uint8_t state, const char *reply)
{
	struct fbuf *fb;
	struct frame f;
	bool failed = state == RCPT_FAILED;

	if (reply == NULL)
		reply = state == RCPT_DELIVERED ? "250 ok" : failed ? "550 no such user" :
		    "451 later";
	fb = fbuf_new(MSG_QMGR_UPDATE, 9);
	fbuf_add_str(fb, id);
	fbuf_add_u32(fb, 1);
	fbuf_add_u32(fb, index);
	fbuf_add_u8(fb, state);
	fbuf_add_u32(fb, 1);
	fbuf_add_u64(fb, 4000000000ULL);
	fbuf_add_u16(fb, state == RCPT_DELIVERED ? 250 : failed ? 550 : 451);
	fbuf_add_str(fb, state == RCPT_DELIVERED ? "2.0.0" : failed ? "5.1.1" : "4.3.0");
	fbuf_add_str(fb, reply);
	fbuf_add_str(fb, "relay.example[127.0.0.1]:25");
	xsend(sched, fb);
	xrecv_type(sched, &f, MSG_QMGR_UPDATED);
}

START_TEST(json_is_escaped)
{
	char id[QUEUE_ID_MAX], out[8192], msg[256];
	int smtpd, sched;

	setup_dir();
	start();
	smtpd = link_peer(PROC_SMTPD);
	sched = link_peer(PROC_SCHEDULER);
	submit(smtpd, "s@example.org", RCPT("r@example.net"), id);
	update(sched, id, 0, RCPT_DEFERRED, "451 \"q\" back\\slash \xff bad \xc3\xa9 ok");
	ck_assert_int_eq(command("queue", "--json", out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(out, "\"last_reply\":\"451 \\\"q\\\" back\\\\slash "
	    "\\ufffd bad \xc3\xa9 ok\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"state\":\"deferred\",\"attempts\":1,") != NULL, "%s", out);
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(command("queue", NULL, out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "1 mail in the queue");
	ck_assert_int_eq(command("show", "0123456789ABCDEF01234567", out, sizeof(out), msg,
	    sizeof(msg)), 1);
	ck_assert_str_eq(msg, "no such mail: 0123456789ABCDEF01234567");
	ck_assert_int_eq(command("frobnicate", NULL, out, sizeof(out), msg, sizeof(msg)), 1);
	remove_dir();
}
END_TEST

START_TEST(hold_survives_restart_release_announces)
{
	char id[QUEUE_ID_MAX], out[8192], msg[256], path[128], got[QUEUE_ID_MAX];
	struct frame f;
	struct stat sb;
	int smtpd, sched;

	setup_dir();
	start();
	smtpd = link_peer(PROC_SMTPD);
	sched = link_peer(PROC_SCHEDULER);
	submit(smtpd, "s@example.org", RCPT("r@example.net"), id);
	ck_assert_int_eq(command("hold", id, out, sizeof(out), msg, sizeof(msg)), 0);
	xrecv_type(sched, &f, MSG_SCHED_REMOVED);
	ck_assert(frame_get_str(&f, got, sizeof(got)));
	ck_assert_str_eq(got, id);
	snprintf(path, sizeof(path), "flags/%s.held", id);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(command("flush", id, out, sizeof(out), msg, sizeof(msg)), 1);

	/* a new queue manager over the same directory */
	start();
	sched = link_peer(PROC_SCHEDULER);
	xrecv_type(sched, &f, MSG_SCHED_LOAD_DONE);	/* nothing announced before it */
	ck_assert_int_eq(command("queue", "--json", out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(out, "\"held\":true") != NULL, "%s", out);
	ck_assert_int_eq(command("release", id, out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_int_ne(stat(path, &sb), 0);
	xrecv_type(sched, &f, MSG_SCHED_MAIL);
	ck_assert(frame_get_str(&f, got, sizeof(got)));
	ck_assert_str_eq(got, id);
	ck_assert_int_eq(command("release", id, out, sizeof(out), msg, sizeof(msg)), 1);
	remove_dir();
}
END_TEST

START_TEST(delete_and_bounce)
{
	char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], out[8192], msg[256], path[128],
	    got[QUEUE_ID_MAX];
	struct frame f;
	struct stat sb;
	int smtpd, sched;

	setup_dir();
	start();
	smtpd = link_peer(PROC_SMTPD);
	sched = link_peer(PROC_SCHEDULER);
	submit(smtpd, "s@example.org", RCPT("r@example.net"), a);
	submit(smtpd, "s@example.org", RCPT("t@example.net"), b);

	ck_assert_int_eq(command("delete", a, out, sizeof(out), msg, sizeof(msg)), 0);
	snprintf(path, sizeof(path), "queue/%s", a);
	ck_assert_int_ne(stat(path, &sb), 0);	/* gone before the answer */
	xrecv_type(sched, &f, MSG_SCHED_REMOVED);
	ck_assert(frame_get_str(&f, got, sizeof(got)));
	ck_assert_str_eq(got, a);
	/* an outcome of a delivery still running is answered "removed" */
	update(sched, a, 0, RCPT_DELIVERED, "250 ok");

	ck_assert_int_eq(command("flush", "@EXAMPLE.net", out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "1 mail re-sent now");
	xrecv_type(sched, &f, MSG_SCHED_FLUSH);
	ck_assert(frame_get_str(&f, got, sizeof(got)));
	ck_assert_str_eq(got, "@EXAMPLE.net");

	ck_assert_int_eq(command("bounce", b, out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(msg, "1 recipient failed, mail removed") != NULL, "%s", msg);
	snprintf(path, sizeof(path), "queue/%s", b);
	ck_assert_int_ne(stat(path, &sb), 0);
	/* the one mail left is the DSN to s@example.org */
	ck_assert_int_eq(command("queue", "--json", out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(out, "\"sender\":\"\"") != NULL && strstr(out,
	    "\"address\":\"s@example.org\"") != NULL && strstr(out, "\"bounce\":true"), "%s", out);
	ck_assert_int_eq(command("delete", "all", out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "1 mail deleted");
	ck_assert_int_eq(command("queue", NULL, out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "0 mails in the queue");
	remove_dir();
}
END_TEST

/*
 * The kept counts equal what the step should give (mails then recipients:
 * active, deferred, held), a walk over every mail, and the gauges the
 * collector sets.
 */
#define EXPECT(ma, md, mh, ra, rd, rh) \
	expect(__LINE__, (uint64_t[]){ ma, md, mh }, (uint64_t[]){ ra, rd, rh })

static void
expect(int line, const uint64_t *mails, const uint64_t *rcpts)
{
	static const unsigned met_mails[SHAPE_MAX] = { MET_Q_MAILS_ACTIVE, MET_Q_MAILS_DEFERRED,
	    MET_Q_MAILS_HELD };
	static const unsigned met_rcpts[SHAPE_MAX] = { MET_Q_RCPTS_ACTIVE, MET_Q_RCPTS_DEFERRED,
	    MET_Q_RCPTS_HELD };
	struct qmgr *q = ctx.arg;
	struct qshape walk;
	struct qmail *m;
	struct qheld *h;
	unsigned i, nflagged = 0, ntracked = 0;

	qmgr_shape_recount(q, &walk);
	qmgr_metrics_collect(q);
	/* q->held holds exactly the indexed mails marked held (the expiry's list) */
	RB_FOREACH(m, qmail_tree, &q->mails)
		if (m->flags & MAIL_F_HELD) {
			struct qheld key = { .mail = m };

			nflagged++;
			ck_assert_msg(RB_FIND(qheld_tree, &q->held, &key) != NULL,
			    "line %d: held mail %s not in q->held", line, m->id);
		}
	RB_FOREACH(h, qheld_tree, &q->held) {
		ntracked++;
		ck_assert_msg(RB_FIND(qmail_tree, &q->mails, h->mail) == h->mail &&
		    (h->mail->flags & MAIL_F_HELD), "line %d: q->held has a mail not held", line);
	}
	ck_assert_msg(nflagged == ntracked, "line %d: %u held, %u in q->held", line, nflagged,
	    ntracked);
	for (i = 0; i < SHAPE_MAX; i++) {
		ck_assert_msg(q->shape.mails[i] == mails[i] && q->shape.rcpts[i] == rcpts[i],
		    "line %d, state %u: kept %llu mails %llu recipients, expected %llu %llu",
		    line, i, (unsigned long long)q->shape.mails[i],
		    (unsigned long long)q->shape.rcpts[i], (unsigned long long)mails[i],
		    (unsigned long long)rcpts[i]);
		ck_assert_msg(walk.mails[i] == mails[i] && walk.rcpts[i] == rcpts[i],
		    "line %d, state %u: a walk finds %llu mails %llu recipients", line, i,
		    (unsigned long long)walk.mails[i], (unsigned long long)walk.rcpts[i]);
		ck_assert_msg(metric_get(met_mails[i]) == mails[i] &&
		    metric_get(met_rcpts[i]) == rcpts[i], "line %d, state %u: gauges", line, i);
	}
}

START_TEST(counts_follow_every_change)
{
	static const char *const ra[] = { "r@example.net" };
	static const char *const rb[] = { "x@a.example", "y@b.example" };
	static const char *const rc[] = { "z@example.net" };
	char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], c[QUEUE_ID_MAX], msg[256];
	struct frame f;
	int smtpd, sched;

	setup_dir();
	start();
	smtpd = link_peer(PROC_SMTPD);
	sched = link_peer(PROC_SCHEDULER);
	EXPECT(0, 0, 0, 0, 0, 0);

	/* submit: three active mails, four recipients never tried */
	submit(smtpd, "s@example.org", ra, 1, a);
	submit(smtpd, "s@example.org", rb, 2, b);
	submit(smtpd, "s@example.org", rc, 1, c);
	EXPECT(3, 0, 0, 4, 0, 0);

	/* deferral: a has no recipient left untried; b still has one */
	update(sched, a, 0, RCPT_DEFERRED, NULL);
	EXPECT(2, 1, 0, 3, 1, 0);
	update(sched, b, 0, RCPT_DEFERRED, NULL);
	EXPECT(2, 1, 0, 2, 2, 0);

	/* hold one mail, then by domain; a bulk release of all */
	ck_assert_int_eq(command("hold", a, NULL, 0, msg, sizeof(msg)), 0);
	EXPECT(2, 0, 1, 2, 1, 1);
	ck_assert_int_eq(command("hold", "@b.example", NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "1 mail on hold");
	EXPECT(1, 0, 2, 1, 0, 3);
	ck_assert_int_eq(command("release", "all", NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "2 mails released");
	EXPECT(2, 1, 0, 2, 2, 0);
	/* hold and release of one mail */
	ck_assert_int_eq(command("hold", a, NULL, 0, msg, sizeof(msg)), 0);
	EXPECT(2, 0, 1, 2, 1, 1);
	ck_assert_int_eq(command("release", a, NULL, 0, msg, sizeof(msg)), 0);
	EXPECT(2, 1, 0, 2, 2, 0);

	/* delivery: c leaves the queue */
	update(sched, c, 0, RCPT_DELIVERED, NULL);
	EXPECT(1, 1, 0, 1, 2, 0);

	/* failure: y fails, b waits for x (deferred), the bounce to s@example.org is active */
	update(sched, b, 1, RCPT_FAILED, NULL);
	EXPECT(1, 2, 0, 1, 2, 0);
	/* an outcome for a recipient final already changes nothing */
	update(sched, b, 1, RCPT_DELIVERED, NULL);
	EXPECT(1, 2, 0, 1, 2, 0);

	/* a failure whose bounce cannot be written: deferred again, still counted */
	((struct qmgr *)ctx.arg)->space_low = true;
	update(sched, a, 0, RCPT_FAILED, NULL);
	((struct qmgr *)ctx.arg)->space_low = false;
	EXPECT(1, 2, 0, 1, 2, 0);

	/* delete: the bounce (the only mail for @example.org alone) */
	ck_assert_int_eq(command("delete", "@example.org", NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "1 mail deleted");
	EXPECT(0, 2, 0, 0, 2, 0);
	/* an outcome for a mail no longer queued changes nothing */
	update(sched, c, 0, RCPT_DEFERRED, NULL);
	EXPECT(0, 2, 0, 0, 2, 0);

	/* outpostctl bounce: b fails and leaves, its bounce is queued */
	ck_assert_int_eq(command("bounce", b, NULL, 0, msg, sizeof(msg)), 0);
	EXPECT(1, 1, 0, 1, 1, 0);

	/* a held a, then a restart: the indexing counts the queue again */
	ck_assert_int_eq(command("hold", a, NULL, 0, msg, sizeof(msg)), 0);
	EXPECT(1, 0, 1, 1, 0, 1);
	start();
	sched = link_peer(PROC_SCHEDULER);
	xrecv_type(sched, &f, MSG_SCHED_LOAD_DONE);
	EXPECT(1, 0, 1, 1, 0, 1);
	ck_assert_int_eq(command("release", a, NULL, 0, msg, sizeof(msg)), 0);
	EXPECT(1, 1, 0, 1, 1, 0);
	ck_assert_int_eq(command("delete", "all", NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "2 mails deleted");
	EXPECT(0, 0, 0, 0, 0, 0);

	remove_dir();
}
END_TEST

/* One turn of the loop (pump() runs it while anything is active: a whole
 * walk of slices). */
static void
pump_once(void)
{
	event_base_loop(ctx.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* The scheduler hands mail id back (QMGR_PARK); not run yet. */
static void
park_send(int sched, const char *id)
{
	struct qmgr *q = ctx.arg;
	struct fbuf *fb;

	fb = fbuf_new(MSG_QMGR_PARK, 0);
	fbuf_add_str(fb, id);
	fbuf_add_u64(fb, 4000000000ULL);
	fbuf_add_u32(fb, q->sched->nflush_sent);
	ck_assert_int_eq(frame_send(sched, fb), 0);
	fbuf_free(fb);
}

/* ... and it waits on disk. */
static void
park(int sched, const char *id)
{
	park_send(sched, id);
	pump();
	ck_assert_ptr_nonnull(park_find(ctx.arg, id));
}

/* Turns of the loop until the bulk command request reqid walked a first
 * slice of the mails on disk, not all of them. */
static void
walk_started(uint32_t reqid)
{
	struct qmgr *q = ctx.arg;
	int i;

	for (i = 0; i < 100 && (q->bulk == NULL || q->bulk->cursor[0] == '\0'); i++)
		pump_once();
	ck_assert_msg(q->bulk != NULL && q->bulk->reqid == reqid && q->bulk->cursor[0] != '\0',
	    "no walk running: nothing proven");
}

/* A mail handed back while a walk runs, behind its cursor: the command
 * takes it (it is not on disk after the QMGR_PARK). */
static void
park_behind(int sched, const char *id)
{
	struct qmgr *q = ctx.arg;

	ck_assert_int_lt(strcmp(id, q->bulk->cursor), 0);
	park_send(sched, id);
	pump_once();
	ck_assert_msg(park_find(q, id) == NULL, "%s parked behind the walk's cursor", id);
}

static bool
file_exists(const char *dirname, const char *id, const char *suffix)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%.*s%s", dirname, QUEUE_ID_MAX - 1, id, suffix);
	return stat(path, &sb) == 0;
}

static const char *
answer(const char *fmt, int n)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), fmt, n);
	return buf;
}

/*
 * flush @domain, delete @domain, hold @domain and delete all over more mails
 * on disk than one slice reads (CTL_SLICE): the exact mails concerned, the
 * counts kept exact; a mail handed back behind the walk's cursor is taken by
 * the command (flush, hold), not missed; a second bulk command waits its
 * turn and is answered after the first.
 */
#define NBULK	(2 * CTL_SLICE + 100)

START_TEST(bulk_commands_walk_the_mails_on_disk)
{
	static char ids[NBULK][QUEUE_ID_MAX];
	char x[QUEUE_ID_MAX], rcpt[64], msg[256];
	uint64_t now;
	struct qmgr *q;
	struct qmail *m;
	uint32_t r1, r2;
	int smtpd, sched, i;

	setup_dir();
	start();
	q = ctx.arg;
	smtpd = link_peer(PROC_SMTPD);
	sched = link_peer(PROC_SCHEDULER);
	/* x first: its id sorts before every other, behind any walk's cursor */
	submit(smtpd, "s@example.org", RCPT("x@a.example"), x);
	update(sched, x, 0, RCPT_DEFERRED, NULL);
	for (i = 0; i < NBULK; i++) {
		snprintf(rcpt, sizeof(rcpt), "r%d@%s.example", i, i % 2 ? "b" : "a");
		submit(smtpd, "s@example.org", RCPT(rcpt), ids[i]);
		ck_assert_int_lt(strcmp(x, ids[i]), 0);
		update(sched, ids[i], 0, RCPT_DEFERRED, NULL);
		park(sched, ids[i]);
	}
	ck_assert_uint_eq(q->pdue.n, NBULK);
	EXPECT(0, NBULK + 1, 0, 0, NBULK + 1, 0);

	/* flush @a.example, x handed back behind its cursor; delete @b.example
	 * sent meanwhile waits for the flush's walk, then reads each file */
	r1 = command_send("flush", "@a.example");
	walk_started(r1);
	r2 = command_send("delete", "@b.example");
	park_behind(sched, x);	/* (the same loop turn reads r2) */
	ck_assert_ptr_nonnull(q->bulk);
	ck_assert_uint_eq(q->bulk->reqid, r1);
	ck_assert_ptr_nonnull(TAILQ_FIRST(&q->bulk_wait));
	ck_assert_uint_eq(TAILQ_FIRST(&q->bulk_wait)->reqid, r2);
	ck_assert_int_eq(command_wait(r1, NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, answer("%d mails re-sent now", NBULK / 2 + 1));
	ck_assert_int_eq(command_wait(r2, NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, answer("%d mails deleted", NBULK / 2));
	/* the flushed mails are read back from disk, due now, b's gone */
	for (i = 0; i < 1000 && q->pdue.n > 0; i++)
		pump();
	ck_assert_uint_eq(q->pdue.n, 0);
	now = (uint64_t)time(NULL) + 1;
	ck_assert_ptr_nonnull(m = qmail_find(q, x));
	ck_assert_uint_le(m->rcpt[0].next, now);
	for (i = 0; i < NBULK; i++) {
		ck_assert(file_exists("queue", ids[i], "") == (i % 2 == 0));
		if (i % 2 == 0) {
			ck_assert_ptr_nonnull(m = qmail_find(q, ids[i]));
			ck_assert_uint_le(m->rcpt[0].next, now);
		}
	}
	EXPECT(0, NBULK / 2 + 1, 0, 0, NBULK / 2 + 1, 0);

	/* deferred again, on disk again (not x); hold @a.example takes x too */
	for (i = 0; i < NBULK; i += 2) {
		update(sched, ids[i], 0, RCPT_DEFERRED, NULL);
		park(sched, ids[i]);
	}
	update(sched, x, 0, RCPT_DEFERRED, NULL);
	r1 = command_send("hold", "@a.example");
	walk_started(r1);
	park_behind(sched, x);
	ck_assert_int_eq(command_wait(r1, NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, answer("%d mails on hold", NBULK / 2 + 1));
	ck_assert(file_exists("flags", x, ".held"));
	for (i = 0; i < NBULK; i += 2)
		ck_assert(file_exists("flags", ids[i], ".held"));
	ck_assert_uint_eq(q->pdue.n, 0);
	EXPECT(0, 0, NBULK / 2 + 1, 0, 0, NBULK / 2 + 1);

	/* release all; back on disk (not x); delete all reads no file */
	ck_assert_int_eq(command("release", "all", NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, answer("%d mails released", NBULK / 2 + 1));
	for (i = 0; i < NBULK; i += 2)
		park(sched, ids[i]);
	EXPECT(0, NBULK / 2 + 1, 0, 0, NBULK / 2 + 1, 0);
	ck_assert_int_eq(command("delete", "all", NULL, 0, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, answer("%d mails deleted", NBULK / 2 + 1));
	ck_assert_uint_eq(q->pdue.n, 0);
	ck_assert(!file_exists("queue", x, ""));
	for (i = 0; i < NBULK; i++)
		ck_assert(!file_exists("queue", ids[i], ""));
	EXPECT(0, 0, 0, 0, 0, 0);
	remove_dir();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("qmgr_control");
	TCase *tc = tcase_create("control");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, json_is_escaped);
	tcase_add_test(tc, hold_survives_restart_release_announces);
	tcase_add_test(tc, delete_and_bounce);
	suite_add_tcase(s, tc);
	tc = tcase_create("shape");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, counts_follow_every_change);
	suite_add_tcase(s, tc);
	tc = tcase_create("bulk");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bulk_commands_walk_the_mails_on_disk);
	suite_add_tcase(s, tc);

	return check_run(s);
}
