/* SPDX-License-Identifier: ISC */
/*
 * test_qmgr.c - the queue manager in-process: a real event loop, real
 * socketpairs for the smtpd and scheduler links, the public socket, and a
 * queue directory under /tmp. Proves: a mail is answered QUEUED only once
 * its file is in queue/ and verifies; limits give one SUBMIT_ERROR per
 * COMMIT; a malformed frame closes the link and discards its unfinished
 * transaction; recovery sorts good, torn, corrupt, unfinished and finished
 * files; the scheduler gets the whole queue on every new link, can open a
 * read-only descriptor, and its updates are durable, remove finished mails
 * and bounce failed recipients; local submissions carry the submitter's uid.
 * Also measures the group commit rate with concurrent transactions.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "daemons.h"
#include "frame.h"
#include "msg.h"
#include "proc.h"
#include "qmgr/qmgr.h"
#include "queue_file.h"
#include "xmalloc.h"
#include "check_run.h"

static struct config conf;
static struct proc_ctx ctx;
static uint8_t rbuf[FRAME_MAX];

static void
setup_dir(void)
{
	char dir[] = "/tmp/test_qmgr.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
}

static void
start_nowait(void)
{
	config_defaults(&conf);
	strlcpy(conf.helo_name, "test.example", sizeof(conf.helo_name));
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_QMGR;
	ctx.base = event_base_new();
	qmgr_main(&ctx);
}

static void
start(void)
{
	int i;

	start_nowait();
	/* The queue is indexed in slices of the loop: let them run. */
	for (i = 0; i < 1000000 && spool_indexing(ctx.arg); i++)
		event_base_loop(ctx.base, EVLOOP_NONBLOCK);
	ck_assert(!spool_indexing(ctx.arg));
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
pump(void)
{
	event_base_loop(ctx.base, EVLOOP_NONBLOCK);
}

static void
xsend(int fd, struct fbuf *fb)
{
	int tries;

	for (tries = 0; tries < 10000; tries++) {
		if (frame_send(fd, fb) == 0) {
			fbuf_free(fb);
			return;
		}
		ck_assert_msg(errno == EAGAIN || errno == ENOBUFS, "send: %s", strerror(errno));
		pump();
	}
	ck_abort_msg("send: peer does not read");
}

/* Run the loop until a frame arrives on fd: 1 frame, 0 EOF. */
static int
xrecv(int fd, struct frame *f)
{
	const char *why;
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r, i;

	for (i = 0; i < 20000; i++) {
		r = frame_recv(fd, rbuf, f, &why);
		/* The free-space state qmgr pushes to smtpd is not what these tests read. */
		if (r == 1 && f->hdr.type == MSG_QMGR_SPACE)
			continue;
		if (r == 1 || r == 0)
			return r;
		if (r == -1 && errno == ECONNRESET)
			return 0;	/* the other end closed the link */
		ck_assert_msg(r == -1 && errno == EAGAIN, "recv failed");
		pump();
		(void)poll(&pfd, 1, 1);
	}
	ck_abort_msg("no answer");
	return -1;
}

static void
begin(int fd, uint32_t reqid, const char *sender, const char *const *rcpt)
{
	struct fbuf *fb;

	fb = fbuf_new(MSG_SUBMIT_BEGIN, reqid);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, sender);
	fbuf_add_str(fb, "test");
	xsend(fd, fb);
	for (; *rcpt != NULL; rcpt++) {
		fb = fbuf_new(MSG_SUBMIT_RCPT, reqid);
		fbuf_add_str(fb, *rcpt);
		xsend(fd, fb);
	}
}

static void
data(int fd, uint32_t reqid, const void *p, size_t n)
{
	struct fbuf *fb = fbuf_new(MSG_SUBMIT_DATA, reqid);

	fbuf_add_bytes(fb, p, n);
	xsend(fd, fb);
}

static void
commit(int fd, uint32_t reqid)
{
	xsend(fd, fbuf_new(MSG_SUBMIT_COMMIT, reqid));
}

/* Submit one mail and return the answer: queued (id set) or the error code. */
static int
submit(int fd, const char *sender, const char *const *rcpt, const char *body, char id[QUEUE_ID_MAX])
{
	struct frame f;
	uint16_t code;

	begin(fd, 7, sender, rcpt);
	if (body != NULL)
		data(fd, 7, body, strlen(body));
	commit(fd, 7);
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.reqid, 7);
	if (f.hdr.type == MSG_SUBMIT_QUEUED) {
		ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
		return 0;
	}
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_ERROR);
	ck_assert(frame_get_u16(&f, &code));
	return code;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *p;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	ck_assert_int_eq(fstat(fd, &sb), 0);
	p = xmalloc(sb.st_size + 1);
	ck_assert_int_eq(read(fd, p, sb.st_size), sb.st_size);
	close(fd);
	*len = sb.st_size;
	return p;
}

/* Parse queue/<id> and return its decoded form. */
static enum qf_result
load(const char *id, struct qf_mail *m)
{
	char path[128];
	const char *why;
	uint8_t *p;
	size_t len;
	enum qf_result r;

	snprintf(path, sizeof(path), "queue/%s", id);
	p = slurp(path, &len);
	ck_assert_msg(p != NULL, "%s missing", path);
	r = qf_parse(p, len, m, &why);
	free(p);
	return r;
}

static int
count_dir(const char *name)
{
	DIR *d = opendir(name);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static const char *const two[] = { "a@example.net", "b@example.org", NULL };
static const char body[] = "Subject: t\r\n\r\nhello\r\n";

START_TEST(smtpd_mail_is_queued_verified)
{
	struct qf_mail m;
	char id[QUEUE_ID_MAX];
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert(qf_id_valid(id));
	ck_assert_int_eq(load(id, &m), QF_OK);
	ck_assert_str_eq(m.env.sender, "s@example.com");
	ck_assert_uint_eq(m.env.nrcpt, 2);
	ck_assert_str_eq(m.env.rcpt[1], "b@example.org");
	ck_assert_uint_eq(m.content_len, strlen(body));
	ck_assert_uint_eq(m.env.flags & MAIL_F_8BIT, 0);
	ck_assert_uint_eq(m.env.uid, UINT32_MAX);
	qf_mail_free(&m);
	ck_assert_int_eq(count_dir("incoming"), 0);
	ck_assert_int_eq(count_dir("queue"), 1);
}
END_TEST

START_TEST(eight_bit_content_is_flagged)
{
	struct qf_mail m;
	char id[QUEUE_ID_MAX];
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	ck_assert_int_eq(submit(fd, "", two, "Subject: x\r\n\r\ncaf\xc3\xa9\r\n", id), 0);
	ck_assert_int_eq(load(id, &m), QF_OK);
	ck_assert_uint_eq(m.env.flags & MAIL_F_8BIT, MAIL_F_8BIT);
	ck_assert_str_eq(m.env.sender, "");
	qf_mail_free(&m);
}
END_TEST

START_TEST(limits_answer_errors_at_commit)
{
	static const char *const none[] = { NULL };
	static const char *const bad[] = { "a\r\nb@example.net", NULL };
	const char *many[12];
	char id[QUEUE_ID_MAX], *big;
	int fd, i;

	setup_dir();
	start();
	conf.max_message_size = 1000;
	conf.max_recipients = 10;
	fd = link_peer(PROC_SMTPD);
	big = xmalloc(2000);
	memset(big, 'x', 1999);
	big[1999] = '\0';
	ck_assert_int_eq(submit(fd, "s@example.com", two, big, id), 552);
	for (i = 0; i < 11; i++)
		many[i] = "r@example.net";
	many[11] = NULL;
	ck_assert_int_eq(submit(fd, "s@example.com", many, body, id), 452);
	ck_assert_int_eq(submit(fd, "s@example.com", none, body, id), 503);
	ck_assert_int_eq(submit(fd, "s@example.com", bad, body, id), 553);
	/* the link still works after errors */
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert_int_eq(count_dir("incoming"), 0);
	ck_assert_int_eq(count_dir("queue"), 1);
	free(big);
}
END_TEST

START_TEST(malformed_frame_closes_link_and_discards)
{
	struct frame f;
	struct fbuf *fb;
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	begin(fd, 1, "s@example.com", two);
	data(fd, 1, body, strlen(body));
	pump();
	ck_assert_int_eq(count_dir("incoming"), 1);
	/* COMMIT carries no payload: one with a byte does not match its layout */
	fb = fbuf_new(MSG_SUBMIT_COMMIT, 1);
	fbuf_add_u8(fb, 1);
	xsend(fd, fb);
	ck_assert_int_eq(xrecv(fd, &f), 0);
	pump();
	pump();
	ck_assert_int_eq(count_dir("incoming"), 0);
	ck_assert_int_eq(count_dir("queue"), 0);
}
END_TEST

/* Well-formed frames out of order are answered, never punished with the link. */
START_TEST(stray_frames_keep_the_link)
{
	struct frame f;
	uint16_t code;
	char id[QUEUE_ID_MAX];
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	begin(fd, 1, "s@example.com", two);
	data(fd, 1, body, strlen(body));
	begin(fd, 1, "s@example.com", two + 1);		/* BEGIN twice: an error at COMMIT */
	data(fd, 55, body, strlen(body));		/* DATA for no transaction: ignored */
	xsend(fd, fbuf_new(MSG_SUBMIT_ABORT, 56));	/* ABORT for none: ignored */
	commit(fd, 1);
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_ERROR);
	ck_assert_uint_eq(f.hdr.reqid, 1);
	ck_assert(frame_get_u16(&f, &code));
	ck_assert_uint_eq(code, 451);
	commit(fd, 57);					/* COMMIT for none: answered 451 */
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_ERROR);
	ck_assert_uint_eq(f.hdr.reqid, 57);
	pump();
	ck_assert_int_eq(count_dir("incoming"), 0);
	ck_assert_int_eq(count_dir("queue"), 0);
	/* the same link still queues mail */
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert_int_eq(count_dir("queue"), 1);
}
END_TEST

/* ABORT right behind COMMIT (a client reset while waiting): too late, queued once. */
START_TEST(late_abort_still_commits)
{
	struct frame f;
	char id[QUEUE_ID_MAX];
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	begin(fd, 9, "s@example.com", two);
	data(fd, 9, body, strlen(body));
	commit(fd, 9);
	xsend(fd, fbuf_new(MSG_SUBMIT_ABORT, 9));
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_QUEUED);
	ck_assert_uint_eq(f.hdr.reqid, 9);
	/* an ABORT after the answer is ignored as well */
	xsend(fd, fbuf_new(MSG_SUBMIT_ABORT, 9));
	pump();
	ck_assert_int_eq(count_dir("queue"), 1);
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert_int_eq(count_dir("queue"), 2);
}
END_TEST

START_TEST(closed_link_discards_unfinished)
{
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	begin(fd, 3, "s@example.com", two);
	data(fd, 3, body, strlen(body));
	pump();
	ck_assert_int_eq(count_dir("incoming"), 1);
	close(fd);
	pump();
	pump();
	ck_assert_int_eq(count_dir("incoming"), 0);
}
END_TEST

START_TEST(abort_removes_the_file)
{
	char id[QUEUE_ID_MAX];
	int fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	begin(fd, 4, "s@example.com", two);
	data(fd, 4, body, strlen(body));
	pump();
	ck_assert_int_eq(count_dir("incoming"), 1);
	xsend(fd, fbuf_new(MSG_SUBMIT_ABORT, 4));
	pump();
	ck_assert_int_eq(count_dir("incoming"), 0);
	/* the reqid is free again and the link still works */
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
}
END_TEST

/* A public client may not open more than QMGR_PUBLIC_TX_MAX transactions. */
START_TEST(public_transactions_are_bounded)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct frame f;
	int fd, i;

	setup_dir();
	start();
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	strlcpy(sun.sun_path, "public/submit.sock", sizeof(sun.sun_path));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	for (i = 0; i < QMGR_PUBLIC_TX_MAX; i++) {
		begin(fd, 100 + i, "s@example.com", two);
		data(fd, 100 + i, body, strlen(body));
	}
	pump();
	ck_assert_int_eq(count_dir("incoming"), QMGR_PUBLIC_TX_MAX);
	begin(fd, 999, "s@example.com", two);
	ck_assert_int_eq(xrecv(fd, &f), 0);	/* closed */
	pump();
	pump();
	ck_assert_int_eq(count_dir("incoming"), 0);
	close(fd);
}
END_TEST

/* A SCHED_MAILS frame being read, a mail at a time (copied: xrecv reuses rbuf). */
static uint8_t	mails_buf[FRAME_MAX];
static struct frame mails_f;
static uint16_t	mails_left;
static unsigned	mails_frames;	/* SCHED_MAILS frames seen */
/* State and next attempt of the first recipients of the last mail read. */
#define ANN_RCPT	4
static uint8_t	ann_state[ANN_RCPT];
static uint64_t	ann_next[ANN_RCPT];

/* Read one announce: SCHED_MAIL, n RCPT, MAIL_END, or the next mail of a
 * SCHED_MAILS frame. Returns false at LOAD_DONE. */
static bool
read_announce(int fd, char id[QUEUE_ID_MAX], uint32_t *flags, char *sender, uint32_t *nrcpt)
{
	struct frame f;
	uint64_t arrival, size, next;
	uint32_t i, attempts;
	uint8_t state;
	char addr[ADDR_MAX];

	if (mails_left == 0) {
		ck_assert_int_eq(xrecv(fd, &f), 1);
		if (f.hdr.type == MSG_SCHED_LOAD_DONE)
			return false;
		if (f.hdr.type == MSG_SCHED_MAILS) {
			memcpy(mails_buf, f.p, f.len);
			mails_f = f;
			mails_f.p = mails_buf;
			ck_assert(frame_get_u16(&mails_f, &mails_left));
			ck_assert_uint_gt(mails_left, 0);
			mails_frames++;
		}
	}
	if (mails_left > 0) {
		ck_assert(frame_get_str(&mails_f, id, QUEUE_ID_MAX));
		ck_assert(frame_get_u64(&mails_f, &arrival) && frame_get_u64(&mails_f, &size));
		ck_assert(frame_get_u32(&mails_f, flags));
		ck_assert(frame_get_str(&mails_f, sender, ADDR_MAX));
		ck_assert(frame_get_u32(&mails_f, nrcpt));
		for (i = 0; i < *nrcpt; i++) {
			ck_assert(frame_get_u8(&mails_f, &state) && state < RCPT_STATE_MAX);
			ck_assert(frame_get_u32(&mails_f, &attempts));
			ck_assert(frame_get_u64(&mails_f, &next));
			ck_assert(frame_get_str(&mails_f, addr, sizeof(addr)));
			if (i < ANN_RCPT) {
				ann_state[i] = state;
				ann_next[i] = next;
			}
		}
		if (--mails_left == 0)
			ck_assert(frame_end(&mails_f));
		return true;
	}
	ck_assert_uint_eq(f.hdr.type, MSG_SCHED_MAIL);
	ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
	ck_assert(frame_get_u64(&f, &arrival) && frame_get_u64(&f, &size));
	ck_assert(frame_get_u32(&f, flags));
	ck_assert(frame_get_str(&f, sender, ADDR_MAX));
	ck_assert(frame_get_u32(&f, nrcpt));
	for (i = 0; i < *nrcpt; i++) {
		uint32_t index;
		char rid[QUEUE_ID_MAX];

		ck_assert_int_eq(xrecv(fd, &f), 1);
		ck_assert_uint_eq(f.hdr.type, MSG_SCHED_RCPT);
		ck_assert(frame_get_str(&f, rid, sizeof(rid)) && frame_get_u32(&f, &index));
		ck_assert(frame_get_u8(&f, &state) && frame_get_u32(&f, &attempts));
		ck_assert(frame_get_u64(&f, &next));
		ck_assert_uint_eq(index, i);
		if (i < ANN_RCPT) {
			ann_state[i] = state;
			ann_next[i] = next;
		}
	}
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_SCHED_MAIL_END);
	return true;
}

/* QMGR_UPDATE with next (for FAILED: the scheduler's time of the verdict). */
static void
send_update_at(int fd, const char *id, uint32_t n, const uint32_t *idx, uint8_t state,
    uint64_t next)
{
	struct fbuf *fb = fbuf_new(MSG_QMGR_UPDATE, 99);
	uint32_t i;

	fbuf_add_str(fb, id);
	fbuf_add_u32(fb, n);
	for (i = 0; i < n; i++) {
		fbuf_add_u32(fb, idx[i]);
		fbuf_add_u8(fb, state);
		fbuf_add_u32(fb, 1);
		fbuf_add_u64(fb, next);
		fbuf_add_u16(fb, state == RCPT_FAILED ? 550 : 250);
		fbuf_add_str(fb, state == RCPT_FAILED ? "5.1.1" : "2.0.0");
		fbuf_add_str(fb, state == RCPT_FAILED ? "550 5.1.1 no such user" : "250 ok");
		fbuf_add_str(fb, "sink[127.0.0.1]:25");
	}
	xsend(fd, fb);
}

static void
send_update(int fd, const char *id, uint32_t n, const uint32_t *idx, uint8_t state)
{
	send_update_at(fd, id, n, idx, state, 0);
}

static uint8_t
read_updated(int fd, const char *id)
{
	struct frame f;
	char got[QUEUE_ID_MAX];
	uint8_t removed;

	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QMGR_UPDATED);
	ck_assert_uint_eq(f.hdr.reqid, 99);
	ck_assert(frame_get_str(&f, got, sizeof(got)) && frame_get_u8(&f, &removed));
	ck_assert_str_eq(got, id);
	return removed;
}

START_TEST(scheduler_open_update_remove)
{
	char id[QUEUE_ID_MAX], aid[QUEUE_ID_MAX], sender[ADDR_MAX], buf[256];
	static const uint32_t i0[] = { 0 }, i1[] = { 1 };
	struct qf_mail m;
	struct frame f;
	uint64_t off, len;
	uint32_t flags, nrcpt;
	int sfd, fd, cfd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	sfd = link_peer(PROC_SCHEDULER);
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	ck_assert_str_eq(aid, id);
	ck_assert_uint_eq(nrcpt, 2);
	ck_assert(!read_announce(sfd, aid, &flags, sender, &nrcpt));

	/* open: a read-only descriptor and the content's place in it */
	xsend(sfd, ({ struct fbuf *fb = fbuf_new(MSG_QMGR_OPEN, 5); fbuf_add_str(fb, id); fb; }));
	ck_assert_int_eq(xrecv(sfd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QMGR_OPENED);
	ck_assert_int_ne(f.fd, -1);
	cfd = f.fd;
	ck_assert(frame_get_u64(&f, &off) && frame_get_u64(&f, &len));
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_int_eq(pread(cfd, buf, len, off), (ssize_t)len);
	ck_assert_mem_eq(buf, body, len);
	ck_assert_int_eq(fcntl(cfd, F_GETFL) & O_ACCMODE, O_RDONLY);
	ck_assert_int_eq(write(cfd, "x", 1), -1);
	close(cfd);

	/* an unknown id: OPEN_FAIL, the link stays */
	xsend(sfd, ({ struct fbuf *fb = fbuf_new(MSG_QMGR_OPEN, 6);
	    fbuf_add_str(fb, "0000000000000000000000AA"); fb; }));
	ck_assert_int_eq(xrecv(sfd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QMGR_OPEN_FAIL);

	send_update(sfd, id, 1, i0, RCPT_DELIVERED);
	ck_assert_uint_eq(read_updated(sfd, id), 0);
	ck_assert_int_eq(load(id, &m), QF_OK);
	ck_assert_uint_eq(m.nstates, 1);
	ck_assert_uint_eq(m.rcpt_state[0].state, RCPT_DELIVERED);
	ck_assert_str_eq(m.rcpt_state[0].reply, "250 ok");
	qf_mail_free(&m);
	send_update(sfd, id, 1, i1, RCPT_DELIVERED);
	ck_assert_uint_eq(read_updated(sfd, id), 1);
	ck_assert_int_eq(count_dir("queue"), 0);

	/* a second scheduler link gets the queue again (now empty) */
	close(sfd);
	sfd = link_peer(PROC_SCHEDULER);
	ck_assert(!read_announce(sfd, aid, &flags, sender, &nrcpt));
}
END_TEST

START_TEST(failed_recipient_bounces_once)
{
	char id[QUEUE_ID_MAX], bid[QUEUE_ID_MAX], sender[ADDR_MAX], path[64];
	static const uint32_t both[] = { 0, 1 };
	struct qf_mail m;
	uint32_t flags, nrcpt;
	uint8_t *p;
	size_t len;
	int sfd, fd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	sfd = link_peer(PROC_SCHEDULER);
	ck_assert(!read_announce(sfd, bid, &flags, sender, &nrcpt));
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert(read_announce(sfd, bid, &flags, sender, &nrcpt));
	send_update(sfd, id, 2, both, RCPT_FAILED);
	/* the bounce is committed and announced before the update is answered */
	ck_assert(read_announce(sfd, bid, &flags, sender, &nrcpt));
	ck_assert_str_ne(bid, id);
	ck_assert_str_eq(sender, "");
	ck_assert_uint_eq(flags & MAIL_F_BOUNCE, MAIL_F_BOUNCE);
	ck_assert_uint_eq(nrcpt, 1);
	ck_assert_uint_eq(read_updated(sfd, id), 1);
	ck_assert_int_eq(load(bid, &m), QF_OK);
	ck_assert_str_eq(m.env.rcpt[0], "s@example.com");
	snprintf(path, sizeof(path), "queue/%s", bid);
	p = slurp(path, &len);
	p[len] = '\0';
	if (getenv("SHOW_BOUNCE") != NULL)
		fprintf(stderr, "%s\n", (char *)p + m.content_off);
	ck_assert_ptr_nonnull(strstr((char *)p + m.content_off, "multipart/report"));
	ck_assert_ptr_nonnull(strstr((char *)p + m.content_off, "Final-Recipient: rfc822; b@example.org"));
	ck_assert_ptr_nonnull(strstr((char *)p + m.content_off, "Status: 5.1.1"));
	ck_assert_ptr_nonnull(strstr((char *)p + m.content_off, "550 5.1.1 no such user"));
	ck_assert_ptr_nonnull(strstr((char *)p + m.content_off, "Subject: t"));	/* the original */
	free(p);
	qf_mail_free(&m);
	/* the bounce failing too makes no second bounce */
	send_update(sfd, bid, 1, both, RCPT_FAILED);
	ck_assert_uint_eq(read_updated(sfd, bid), 1);
	ck_assert_int_eq(count_dir("queue"), 0);
}
END_TEST

/* Hand a frame to the qmgr as if the master had sent it; returns the dispatch result. */
static int
from_master(struct fbuf *fb)
{
	static uint8_t mbuf[FRAME_MAX];
	struct frame f;
	const char *why;
	int sv[2], r;

	ck_assert_int_eq(frame_socketpair(sv), 0);
	ck_assert_int_eq(frame_send(sv[0], fb), 0);
	fbuf_free(fb);
	ck_assert_int_eq(frame_recv(sv[1], mbuf, &f, &why), 1);
	r = ctx.on_master(&ctx, &f);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static struct fbuf *
alias_entry(const char *name, const char *a, const char *b)
{
	struct fbuf *fb = fbuf_new(MSG_ALIASES_ENTRY, 0);

	fbuf_add_str(fb, name);
	fbuf_add_u32(fb, b != NULL ? 2 : 1);
	fbuf_add_str(fb, a);
	if (b != NULL)
		fbuf_add_str(fb, b);
	return fb;
}

/* The master's table rewrites local recipients; a partial table is never used. */
START_TEST(aliases_rewrite_recipients)
{
	static const char *const rcpts[] = { "root@test.example", "x@example.org",
	    "nobody@TEST.example", "a@example.net", NULL };
	static const char *const loop[] = { "l1@test.example", NULL };
	char id[QUEUE_ID_MAX];
	struct qf_mail m;
	struct fbuf *fb;
	int fd;

	setup_dir();
	start();
	/* An entry before any BEGIN is a broken master link. */
	ck_assert_int_eq(from_master(alias_entry("root", "z@example.net", NULL)), -1);
	fb = fbuf_new(MSG_ALIASES_BEGIN, 0);
	fbuf_add_str(fb, "test.example");
	fbuf_add_str(fb, "admin@example.net");
	fbuf_add_u32(fb, 3);
	ck_assert_int_eq(from_master(fb), 0);
	ck_assert_int_eq(from_master(alias_entry("root", "a@example.net", "b@example.net")), 0);
	/* A loop the master would have refused: the qmgr still refuses the mail. */
	ck_assert_int_eq(from_master(alias_entry("l1", "l2", NULL)), 0);
	ck_assert_int_eq(from_master(alias_entry("l2", "l1", NULL)), 0);
	ck_assert_int_eq(from_master(fbuf_new(MSG_ALIASES_END, 0)), 0);

	fd = link_peer(PROC_SMTPD);
	ck_assert_int_eq(submit(fd, "s@example.com", rcpts, body, id), 0);
	ck_assert_int_eq(load(id, &m), QF_OK);
	/* root -> a, b; x stays; nobody -> local_redirect; a given as is stays too. */
	ck_assert_uint_eq(m.env.nrcpt, 5);
	ck_assert_str_eq(m.env.rcpt[0], "a@example.net");
	ck_assert_str_eq(m.env.rcpt[1], "b@example.net");
	ck_assert_str_eq(m.env.rcpt[2], "x@example.org");
	ck_assert_str_eq(m.env.rcpt[3], "admin@example.net");
	ck_assert_str_eq(m.env.rcpt[4], "a@example.net");
	qf_mail_free(&m);
	ck_assert_int_eq(submit(fd, "s@example.com", loop, body, id), 550);
}
END_TEST

START_TEST(public_socket_records_uid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char id[QUEUE_ID_MAX], want[160], path[64];
	struct qf_mail m;
	struct frame f;
	struct stat sb;
	uint8_t *p;
	size_t len;
	uint32_t n;
	int fd;

	setup_dir();
	start();
	ck_assert_int_eq(stat("public/submit.sock", &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0666);
	ck_assert_int_eq(stat("queue", &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	strlcpy(sun.sun_path, "public/submit.sock", sizeof(sun.sun_path));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(submit(fd, "me@example.com", two, "Subject: l\n\nlocal\n", id), 0);
	ck_assert_int_eq(load(id, &m), QF_OK);
	ck_assert_uint_eq(m.env.uid, getuid());
	snprintf(path, sizeof(path), "queue/%s", id);
	p = slurp(path, &len);
	p[m.content_off + m.content_len] = '\0';
	snprintf(want, sizeof(want), "Received: by test.example (outpost, from userid %u)\n\tid %s; ",
	    (unsigned)getuid(), id);
	ck_assert_int_eq(strncmp((char *)p + m.content_off, want, strlen(want)), 0);
	ck_assert_ptr_nonnull(strstr((char *)p + m.content_off, "+0000\nSubject: l\n"));
	free(p);
	qf_mail_free(&m);

	/* the listing shows it */
	xsend(fd, fbuf_new(MSG_QUEUE_LIST, 11));
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QUEUE_ENTRY);
	ck_assert(frame_get_str(&f, want, sizeof(want)));
	ck_assert_str_eq(want, id);
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QUEUE_LIST_END);
	ck_assert(frame_get_u32(&f, &n));
	ck_assert_uint_eq(n, 1);
	close(fd);
}
END_TEST

/* Write a queue file by hand for the recovery test. */
static char *
make_file(const char *dir, int nstates_delivered, int damage)
{
	static char id[QUEUE_ID_MAX];
	static char *rc[] = { (char *)"a@example.net", (char *)"b@example.net" };
	struct qf_envelope e = { .origin = (char *)"t", .sender = (char *)"s@example.com",
	    .nrcpt = 2, .rcpt = rc };
	struct qf_chash st = { NULL };
	uint8_t *prefix, trailer[QF_TRAILER_LEN], hash[QF_HASH_LEN], rec[QF_STATE_SIZE];
	struct qf_state s = { 0 };
	char path[128];
	size_t plen;
	int fd, i;

	qf_id_new(e.id);
	strlcpy(id, e.id, sizeof(id));
	plen = qf_prefix_encode(&e, strlen(body), &prefix);
	qf_content_hash_init(&st);
	qf_content_hash_update(&st, body, strlen(body));
	qf_trailer_encode(prefix, plen, &st, trailer, hash);
	qf_content_hash_free(&st);
	snprintf(path, sizeof(path), "%s/%s", dir, id);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, prefix, plen), (ssize_t)plen);
	if (damage == 1)
		ck_assert_int_eq(write(fd, "jello\r\n", 7), 7);
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	ck_assert_int_eq(write(fd, trailer, sizeof(trailer)), (ssize_t)sizeof(trailer));
	for (i = 0; i < nstates_delivered; i++) {
		s.index = i;
		s.state = RCPT_DELIVERED;
		qf_state_encode(&s, hash, rec);
		ck_assert_int_eq(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	}
	if (damage == 2)	/* a torn last append */
		ck_assert_int_eq(write(fd, rec, 100), 100);
	close(fd);
	free(prefix);
	return id;
}

/*
 * A queue larger than one slice is indexed over several loop turns, each
 * mail announced as it is indexed, SCHED_LOAD_DONE after the last one; a
 * mail on hold is never announced (its mark is read before the indexing).
 */
START_TEST(indexing_in_slices_announces_as_it_goes)
{
	char id[QUEUE_ID_MAX], held[QUEUE_ID_MAX], sender[ADDR_MAX], mark[64];
	uint32_t flags, nrcpt;
	int sfd, i, n = 0, nfiles = 1500;
	struct qmgr *q;

	setup_dir();
	ck_assert_int_eq(mkdir("queue", 0700), 0);
	ck_assert_int_eq(mkdir("flags", 0700), 0);
	for (i = 0; i < nfiles; i++)
		make_file("queue", 0, 0);
	strlcpy(held, make_file("queue", 0, 0), sizeof(held));
	snprintf(mark, sizeof(mark), "flags/%s.held", held);
	ck_assert_int_eq(close(open(mark, O_WRONLY | O_CREAT, 0600)), 0);
	start_nowait();
	q = ctx.arg;
	ck_assert(spool_indexing(q));
	ck_assert_uint_eq(q->nmails, 0);
	sfd = link_peer(PROC_SCHEDULER);
	/* One slice per loop turn (EVLOOP_NONBLOCK would run turns until
	 * nothing is active, i.e. every slice). */
	event_base_loop(ctx.base, EVLOOP_ONCE);	/* the listing */
	event_base_loop(ctx.base, EVLOOP_ONCE);	/* one slice of files */
	ck_assert(spool_indexing(q));
	ck_assert_uint_gt(q->nmails, 0);
	ck_assert_uint_lt(q->nmails, (unsigned)nfiles);
	while (read_announce(sfd, id, &flags, sender, &nrcpt)) {
		ck_assert_str_ne(id, held);
		n++;
	}
	ck_assert_int_eq(n, nfiles);
	/* gathered into SCHED_MAILS frames, not three frames a mail */
	ck_assert_uint_gt(mails_frames, 0);
	ck_assert_uint_lt(mails_frames, (unsigned)nfiles / 10);
	ck_assert(!spool_indexing(q));
	ck_assert_uint_eq(q->nmails, (unsigned)nfiles + 1);
	ck_assert(qmail_find(q, held)->flags & MAIL_F_HELD);
	close(sfd);
}
END_TEST

START_TEST(recovery_sorts_every_case)
{
	char good[QUEUE_ID_MAX], torn[QUEUE_ID_MAX], bad[QUEUE_ID_MAX], done[QUEUE_ID_MAX];
	char sender[ADDR_MAX], aid[QUEUE_ID_MAX];
	struct qf_mail m;
	struct stat sb;
	uint32_t flags, nrcpt;
	int sfd, n = 0;

	setup_dir();
	ck_assert_int_eq(mkdir("queue", 0700), 0);
	ck_assert_int_eq(mkdir("incoming", 0700), 0);
	strlcpy(good, make_file("queue", 0, 0), sizeof(good));
	strlcpy(torn, make_file("queue", 1, 2), sizeof(torn));
	strlcpy(bad, make_file("queue", 0, 1), sizeof(bad));
	strlcpy(done, make_file("queue", 2, 0), sizeof(done));
	make_file("incoming", 0, 0);
	ck_assert_int_eq(close(open("queue/garbage", O_WRONLY | O_CREAT, 0600)), 0);
	start();
	ck_assert_int_eq(count_dir("incoming"), 0);
	ck_assert_int_eq(count_dir("queue"), 2);
	ck_assert_int_eq(count_dir("corrupt"), 2);
	ck_assert_int_eq(stat("corrupt/garbage", &sb), 0);
	ck_assert_int_eq(load(good, &m), QF_OK);
	qf_mail_free(&m);
	ck_assert_int_eq(load(torn, &m), QF_OK);	/* the tail was cut */
	ck_assert_uint_eq(m.rcpt_state[0].state, RCPT_DELIVERED);
	qf_mail_free(&m);
	sfd = link_peer(PROC_SCHEDULER);
	while (read_announce(sfd, aid, &flags, sender, &nrcpt)) {
		ck_assert(strcmp(aid, good) == 0 || strcmp(aid, torn) == 0);
		n++;
	}
	ck_assert_int_eq(n, 2);
}
END_TEST

/*
 * A removed mail's file waits in spare/ and the next mail is written over
 * it: same inode, cut to the new mail's length, verified like any other.
 * A restart empties spare/.
 */
START_TEST(removed_file_is_reused)
{
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], aid[QUEUE_ID_MAX], sender[ADDR_MAX];
	char path[64], *big;
	static const uint32_t both[] = { 0, 1 };
	struct qf_mail m;
	struct stat sb, sb2;
	uint32_t flags, nrcpt;
	int fd, sfd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	sfd = link_peer(PROC_SCHEDULER);
	ck_assert(!read_announce(sfd, aid, &flags, sender, &nrcpt));
	big = xmalloc(20001);
	memset(big, 'x', 20000);
	big[20000] = '\0';
	ck_assert_int_eq(submit(fd, "s@example.com", two, big, id), 0);
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	snprintf(path, sizeof(path), "queue/%s", id);
	ck_assert_int_eq(stat(path, &sb), 0);
	send_update(sfd, id, 2, both, RCPT_DELIVERED);
	ck_assert_uint_eq(read_updated(sfd, id), 1);
	ck_assert_int_eq(count_dir("queue"), 0);
	ck_assert_int_eq(count_dir("spare"), 1);

	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id2), 0);
	ck_assert_str_ne(id, id2);
	ck_assert_int_eq(count_dir("spare"), 0);
	ck_assert_int_eq(count_dir("incoming"), 0);
	snprintf(path, sizeof(path), "queue/%s", id2);
	ck_assert_int_eq(stat(path, &sb2), 0);
	ck_assert_uint_eq(sb2.st_ino, sb.st_ino);
	ck_assert_int_lt(sb2.st_size, 20000);
	ck_assert_int_eq(load(id2, &m), QF_OK);
	ck_assert_str_eq(m.env.id, id2);
	ck_assert_uint_eq(m.content_len, strlen(body));
	qf_mail_free(&m);

	/* a state update lands after the new mail, not after the old one */
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	send_update(sfd, id2, 1, both, RCPT_DELIVERED);
	ck_assert_uint_eq(read_updated(sfd, id2), 0);
	ck_assert_int_eq(load(id2, &m), QF_OK);
	ck_assert_uint_eq(m.nstates, 1);
	qf_mail_free(&m);

	/* finish it: spare/ holds it again; a restart empties spare/ */
	send_update(sfd, id2, 1, both + 1, RCPT_DELIVERED);
	ck_assert_uint_eq(read_updated(sfd, id2), 1);
	ck_assert_int_eq(count_dir("spare"), 1);
	start();
	ck_assert_int_eq(count_dir("spare"), 0);
	ck_assert_int_eq(count_dir("queue"), 0);
	free(big);
}
END_TEST

/* A file someone still reads (an agent's descriptor) is never written over. */
START_TEST(open_file_is_not_reused)
{
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], aid[QUEUE_ID_MAX], sender[ADDR_MAX];
	char path[64], buf[64];
	static const uint32_t both[] = { 0, 1 };
	struct frame f;
	struct stat sb, sb2;
	uint64_t off, len;
	uint32_t flags, nrcpt;
	int fd, sfd, cfd;

	setup_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	sfd = link_peer(PROC_SCHEDULER);
	ck_assert(!read_announce(sfd, aid, &flags, sender, &nrcpt));
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	snprintf(path, sizeof(path), "queue/%s", id);
	ck_assert_int_eq(stat(path, &sb), 0);
	xsend(sfd, ({ struct fbuf *fb = fbuf_new(MSG_QMGR_OPEN, 5); fbuf_add_str(fb, id); fb; }));
	ck_assert_int_eq(xrecv(sfd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QMGR_OPENED);
	cfd = f.fd;
	ck_assert(frame_get_u64(&f, &off) && frame_get_u64(&f, &len));
	send_update(sfd, id, 2, both, RCPT_DELIVERED);
	ck_assert_uint_eq(read_updated(sfd, id), 1);

	ck_assert_int_eq(submit(fd, "t@example.com", two, "Subject: other\r\n\r\nX\r\n", id2), 0);
	snprintf(path, sizeof(path), "queue/%s", id2);
	ck_assert_int_eq(stat(path, &sb2), 0);
	ck_assert_uint_ne(sb2.st_ino, sb.st_ino);
	ck_assert_int_eq(count_dir("spare"), 0);
	/* the reader still sees the old mail */
	ck_assert_int_eq(pread(cfd, buf, len, off), (ssize_t)len);
	ck_assert_mem_eq(buf, body, len);
	close(cfd);
}
END_TEST

/*
 * Many concurrent transactions: measures what group commit gives. The qmgr
 * runs its loop in a child process; this side blocks on the link.
 */
static void
run_rate(int conc, int total, int size)
{
	struct timespec t0, t1;
	const char *why;
	struct frame f;
	char *tmpl;
	struct pollfd pfd;
	int fd, sent = 0, done = 0, status, r;
	double secs;
	pid_t pid;

	int sv[2];

	setup_dir();
	ck_assert_int_eq(frame_socketpair(sv), 0);
	/* fork first: the commit thread must live in the child */
	if ((pid = fork()) == 0) {
		close(sv[1]);
		start();
		ctx.on_peer(&ctx, PROC_SMTPD, 0, sv[0]);
		event_base_dispatch(ctx.base);
		_exit(0);
	}
	close(sv[0]);
	fd = sv[1];
	ck_assert_int_ne(pid, -1);
	pfd.fd = fd;
	pfd.events = POLLIN;
	tmpl = xmalloc(size);
	memset(tmpl, 'x', size);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < total) {
		for (; sent < total && sent - done < conc; sent++) {
			begin(fd, sent + 1, "s@example.com", two);
			data(fd, sent + 1, tmpl, size);
			commit(fd, sent + 1);
		}
		while ((r = frame_recv(fd, rbuf, &f, &why)) == -1 && errno == EAGAIN)
			(void)poll(&pfd, 1, 1000);
		ck_assert_int_eq(r, 1);
		if (f.hdr.type == MSG_QMGR_SPACE)
			continue;	/* the free-space state, pushed at link-up */
		ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_QUEUED);
		done++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "group commit: %d mails of %d bytes, %d concurrent: %.2f s, %.0f mails/s\n",
	    total, size, conc, secs, total / secs);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_assert_int_eq(count_dir("queue"), total);
	free(tmpl);
}

START_TEST(group_commit_rate)
{
	static const int conc[] = { 1, 50 };

	run_rate(conc[_i], _i == 0 ? 200 : 2000, 4096);
}
END_TEST

/* qmgr with a free-space reserve; the first frame smtpd gets is the state. */
static int
start_with_reserve(uint64_t min_free, uint64_t max_size, uint8_t *low, uint64_t *headroom)
{
	struct pollfd pfd;
	struct frame f;
	const char *why;
	int fd, i, r = -1;

	config_defaults(&conf);
	strlcpy(conf.helo_name, "test.example", sizeof(conf.helo_name));
	conf.queue_min_free = min_free;
	if (max_size != 0)
		conf.max_message_size = max_size;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_QMGR;
	ctx.base = event_base_new();
	qmgr_main(&ctx);
	fd = link_peer(PROC_SMTPD);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (i = 0; i < 5000 && (r = frame_recv(fd, rbuf, &f, &why)) != 1; i++) {
		pump();
		(void)poll(&pfd, 1, 1);
	}
	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(f.hdr.type, MSG_QMGR_SPACE);
	ck_assert(frame_get_u8(&f, low) && frame_get_u64(&f, headroom) && frame_end(&f));
	return fd;
}

/*
 * Below queue_min_free (a reserve larger than any disk): smtpd is told at
 * link-up, a submission is refused with 452 (4.3.1) and leaves no file.
 */
START_TEST(space_low_is_told_and_refused)
{
	char id[QUEUE_ID_MAX];
	uint64_t headroom;
	uint8_t low;
	int fd;

	setup_dir();
	fd = start_with_reserve(1ULL << 50, 0, &low, &headroom);
	ck_assert_uint_eq(low, 1);
	ck_assert_uint_eq(headroom, 0);
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 452);
	ck_assert_int_eq(count_dir("incoming"), 0);
	ck_assert_int_eq(count_dir("queue"), 0);
}
END_TEST

/* queue_min_free = 0: no reserve, unlimited headroom, mail accepted. */
START_TEST(space_reserve_off)
{
	char id[QUEUE_ID_MAX];
	uint64_t headroom;
	uint8_t low;
	int fd;

	setup_dir();
	fd = start_with_reserve(0, 0, &low, &headroom);
	ck_assert_uint_eq(low, 0);
	ck_assert_uint_eq(headroom, UINT64_MAX);
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert_int_eq(count_dir("queue"), 1);
}
END_TEST

/* Bytes of the test directory's file system an unprivileged owner may use. */
static uint64_t
avail_here(void)
{
	struct statvfs sv;

	ck_assert_int_eq(statvfs(".", &sv), 0);
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

/*
 * 2 x max_message_size larger than queue_min_free (one byte here): the
 * reserve is the former. _i 0: a max_message_size of all the free space
 * makes the queue low, where one byte of reserve would not. _i 1: a quarter
 * of it leaves about half the free space as headroom, not all of it (the
 * file system is shared: an eighth of slack either way).
 */
START_TEST(space_reserve_twice_max_size)
{
	char id[QUEUE_ID_MAX];
	uint64_t before, after, headroom;
	uint8_t low;
	int fd;

	setup_dir();
	before = avail_here();
	ck_assert_uint_gt(before, 1 << 20);
	if (_i == 0) {
		fd = start_with_reserve(1, before, &low, &headroom);
		ck_assert_uint_eq(low, 1);
		ck_assert_uint_eq(headroom, 0);
		ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 452);
		ck_assert_int_eq(count_dir("queue"), 0);
		return;
	}
	fd = start_with_reserve(1, before / 4, &low, &headroom);
	after = avail_here();
	ck_assert_uint_eq(low, 0);
	ck_assert_uint_ge(headroom, (after < before ? after : before) / 2 - before / 8);
	ck_assert_uint_le(headroom, (after > before ? after : before) / 2 + before / 8);
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert_int_eq(count_dir("queue"), 1);
}
END_TEST

/* Run the loop until qmgr tells smtpd (fd) that space is low. */
static void
wait_space_low(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct frame f;
	const char *why;
	uint64_t headroom;
	uint8_t low = 0;
	int i;

	for (i = 0; i < 10000 && !low; i++) {
		if (frame_recv(fd, rbuf, &f, &why) == 1 && f.hdr.type == MSG_QMGR_SPACE) {
			ck_assert(frame_get_u8(&f, &low) && frame_get_u64(&f, &headroom));
			continue;
		}
		pump();
		(void)poll(&pfd, 1, 1);
	}
	ck_assert_uint_eq(low, 1);
}

/*
 * A bounce that cannot be written (the queue below its reserve) is
 * postponed on the scheduler's clock: resend_interval after the time the
 * scheduler gave with the failure, whatever the wall clock says; without
 * one (0), after the qmgr's own clock_now(), which in this one process is
 * the same clock as the test's. The failure's time is not recorded.
 */
START_TEST(postponed_bounce_on_the_schedulers_clock)
{
	char id[QUEUE_ID_MAX], aid[QUEUE_ID_MAX], sender[ADDR_MAX];
	static const uint32_t i0[] = { 0 }, i1[] = { 1 };
	const uint64_t verdict = 1000000;	/* far from any wall clock */
	struct qf_mail m;
	uint64_t headroom, before, after;
	uint32_t flags, nrcpt;
	uint8_t low;
	int fd, sfd;

	setup_dir();
	fd = start_with_reserve(1, 1 << 20, &low, &headroom);
	ck_assert_uint_eq(low, 0);
	sfd = link_peer(PROC_SCHEDULER);
	ck_assert(!read_announce(sfd, aid, &flags, sender, &nrcpt));
	ck_assert_int_eq(submit(fd, "s@example.com", two, body, id), 0);
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	ck_assert_str_eq(aid, id);

	/* qmgr shares conf with the test: a reserve larger than any disk */
	conf.queue_min_free = 1ULL << 50;
	wait_space_low(fd);

	send_update_at(sfd, id, 1, i0, RCPT_FAILED, verdict);
	ck_assert_uint_eq(read_updated(sfd, id), 0);
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	ck_assert_str_eq(aid, id);
	ck_assert_uint_eq(ann_state[0], RCPT_DEFERRED);
	ck_assert_uint_eq(ann_next[0], verdict + conf.resend_interval);
	ck_assert_int_eq(count_dir("queue"), 1);	/* no bounce written */

	before = clock_now();
	send_update_at(sfd, id, 1, i1, RCPT_FAILED, 0);
	ck_assert_uint_eq(read_updated(sfd, id), 0);
	after = clock_now();
	ck_assert(read_announce(sfd, aid, &flags, sender, &nrcpt));
	ck_assert_uint_eq(ann_state[1], RCPT_DEFERRED);
	ck_assert_uint_ge(ann_next[1], before + conf.resend_interval);
	ck_assert_uint_le(ann_next[1], after + conf.resend_interval);
	ck_assert_int_eq(count_dir("queue"), 1);

	/* on disk: deferred until the postponed time, failure kept */
	ck_assert_int_eq(load(id, &m), QF_OK);
	ck_assert_uint_eq(m.rcpt_state[0].state, RCPT_DEFERRED);
	ck_assert_uint_eq(m.rcpt_state[0].next, verdict + conf.resend_interval);
	qf_mail_free(&m);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("qmgr");
	TCase *tc = tcase_create("qmgr");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, smtpd_mail_is_queued_verified);
	tcase_add_test(tc, eight_bit_content_is_flagged);
	tcase_add_test(tc, limits_answer_errors_at_commit);
	tcase_add_test(tc, malformed_frame_closes_link_and_discards);
	tcase_add_test(tc, stray_frames_keep_the_link);
	tcase_add_test(tc, late_abort_still_commits);
	tcase_add_test(tc, closed_link_discards_unfinished);
	tcase_add_test(tc, abort_removes_the_file);
	tcase_add_test(tc, public_transactions_are_bounded);
	tcase_add_test(tc, scheduler_open_update_remove);
	tcase_add_test(tc, failed_recipient_bounces_once);
	tcase_add_test(tc, public_socket_records_uid);
	tcase_add_test(tc, aliases_rewrite_recipients);
	tcase_add_test(tc, recovery_sorts_every_case);
	tcase_add_test(tc, indexing_in_slices_announces_as_it_goes);
	tcase_add_test(tc, removed_file_is_reused);
	tcase_add_test(tc, open_file_is_not_reused);
	tcase_add_test(tc, space_low_is_told_and_refused);
	tcase_add_test(tc, space_reserve_off);
	tcase_add_loop_test(tc, space_reserve_twice_max_size, 0, 2);
	tcase_add_test(tc, postponed_bounce_on_the_schedulers_clock);
	tcase_add_loop_test(tc, group_commit_rate, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;

	return check_run(suite());
}
