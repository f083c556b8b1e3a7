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
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
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
#include "msg.h"
#include "proc.h"
#include "qmgr/qmgr.h"
#include "queue_file.h"
#include "check_run.h"

static struct config conf;
static struct proc_ctx ctx;
static uint8_t rbuf[FRAME_MAX];
static int master_fd;

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

/* A queue manager in the current directory, with a master link. */
static void
start(void)
{
	int sv[2];

	log_init("test", LOG_TO_STDERR, NULL);
	config_defaults(&conf);
	strlcpy(conf.helo_name, "test.example", sizeof(conf.helo_name));
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_QMGR;
	ctx.base = event_base_new();
	ck_assert_int_eq(frame_socketpair(sv), 0);
	ctx.master = chan_new(ctx.base, sv[0], "master", master_cb, NULL);
	master_fd = sv[1];
	qmgr_main(&ctx);
}

static void
setup_dir(void)
{
	char dir[] = "/tmp/test_qmgr_control.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
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

/* The next frame on fd, running the loop meanwhile. */
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

static char *
submit(int smtpd, const char *sender, const char *rcpt, char *id)
{
	static const char body[] = "Subject: c\r\n\r\nhello\r\n";
	struct fbuf *fb;
	struct frame f;

	fb = fbuf_new(MSG_SUBMIT_BEGIN, 3);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, sender);
	fbuf_add_str(fb, "test");
	xsend(smtpd, fb);
	fb = fbuf_new(MSG_SUBMIT_RCPT, 3);
	fbuf_add_str(fb, rcpt);
	xsend(smtpd, fb);
	fb = fbuf_new(MSG_SUBMIT_DATA, 3);
	fbuf_add_bytes(fb, body, strlen(body));
	xsend(smtpd, fb);
	xsend(smtpd, fbuf_new(MSG_SUBMIT_COMMIT, 3));
	xrecv(smtpd, &f);
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_QUEUED);
	ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
	return id;
}

/* Run a command; collects the REPLY lines (joined by \n) and the END. */
static int
command(const char *cmd, const char *arg, char *out, size_t outlen, char *msg, size_t msglen)
{
	static uint32_t reqid = 100;
	struct fbuf *fb;
	struct frame f;
	char line[FRAME_MAX];
	uint8_t status;

	fb = fbuf_new(MSG_CONTROL_REQUEST, ++reqid);
	fbuf_add_str(fb, cmd);
	fbuf_add_u32(fb, arg != NULL);
	if (arg != NULL)
		fbuf_add_str(fb, arg);
	xsend(master_fd, fb);
	out[0] = '\0';
	for (;;) {
		xrecv(master_fd, &f);
		ck_assert_uint_eq(f.hdr.reqid, reqid);
		if (f.hdr.type == MSG_CONTROL_REPLY) {
			ck_assert(frame_get_str(&f, line, sizeof(line)));
			strlcat(out, line, outlen);
			strlcat(out, "\n", outlen);
			continue;
		}
		ck_assert_uint_eq(f.hdr.type, MSG_CONTROL_END);
		ck_assert(frame_get_u8(&f, &status) && frame_get_str(&f, msg, msglen));
		return status;
	}
}

/* The scheduler's first open + an update with this reply for recipient 0. */
static void
update(int sched, const char *id, uint8_t state, const char *reply)
{
	struct fbuf *fb;
	struct frame f;

	fb = fbuf_new(MSG_QMGR_UPDATE, 9);
	fbuf_add_str(fb, id);
	fbuf_add_u32(fb, 1);
	fbuf_add_u32(fb, 0);
	fbuf_add_u8(fb, state);
	fbuf_add_u32(fb, 1);
	fbuf_add_u64(fb, 4000000000ULL);
	fbuf_add_u16(fb, 451);
	fbuf_add_str(fb, "4.3.0");
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
	submit(smtpd, "s@example.org", "r@example.net", id);
	update(sched, id, RCPT_DEFERRED, "451 \"q\" back\\slash \xff bad \xc3\xa9 ok");
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
	submit(smtpd, "s@example.org", "r@example.net", id);
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
	submit(smtpd, "s@example.org", "r@example.net", a);
	submit(smtpd, "s@example.org", "t@example.net", b);

	ck_assert_int_eq(command("delete", a, out, sizeof(out), msg, sizeof(msg)), 0);
	snprintf(path, sizeof(path), "queue/%s", a);
	ck_assert_int_ne(stat(path, &sb), 0);	/* gone before the answer */
	xrecv_type(sched, &f, MSG_SCHED_REMOVED);
	ck_assert(frame_get_str(&f, got, sizeof(got)));
	ck_assert_str_eq(got, a);
	/* an outcome of a delivery still running is answered "removed" */
	update(sched, a, RCPT_DELIVERED, "250 ok");

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

	return check_run(s);
}
