/* SPDX-License-Identifier: ISC */
/*
 * test_qmgr_sign.c - the queue manager's DKIM signing (daemons/qmgr/
 * qmgr_sign.c) in-process, with a real event loop and socketpairs standing
 * for the smtpd, the scheduler and the signer. Proves: a queued mail is
 * answered QUEUED at once but announced only after the signer answered; the
 * signer gets a read-only descriptor and the content's place; the fields it
 * returns are stored as the file's DKIM record and passed in QMGR_OPENED;
 * "no entry" is stored as looked-at; recovery announces a mail with a
 * record at once and has one without a record signed first; mails wait
 * while no signer is linked; a malformed answer closes the signer link.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "daemons.h"
#include "dkim_conf.h"
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

static const char body[] = "From: a@example.com\r\nSubject: t\r\n\r\nhello\r\n";
static const char fields[] = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.com; s=s;\r\n\tb=AAAA\r\n";

static void
enter_new_dir(void)
{
	char dir[] = "/tmp/test_qmgr_sign.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
}

/* A qmgr with signing on, in the current directory. */
static void
start(void)
{
	static struct dkim_domain d = { .domain = "example.com", .nkeys = 1 };

	config_defaults(&conf);
	strlcpy(conf.helo_name, "test.example", sizeof(conf.helo_name));
	conf.dkim = &d;		/* signing on: the qmgr asks the signer */
	conf.ndkim = 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_QMGR;
	ctx.base = event_base_new();
	qmgr_main(&ctx);
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
	for (int tries = 0; tries < 10000; tries++) {
		if (frame_send(fd, fb) == 0) {
			fbuf_free(fb);
			return;
		}
		ck_assert_msg(errno == EAGAIN || errno == ENOBUFS, "send: %s", strerror(errno));
		pump();
	}
	ck_abort_msg("send: peer does not read");
}

/* Run the loop until a frame arrives on fd (1), EOF (0), or, with quiet, nothing for a while (-1). */
static int
xrecv_for(int fd, struct frame *f, int rounds)
{
	const char *why;
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r;

	for (int i = 0; i < rounds; i++) {
		r = frame_recv(fd, rbuf, f, &why);
		/* The free-space state qmgr pushes to smtpd is not what these tests read. */
		if (r == 1 && f->hdr.type == MSG_QMGR_SPACE)
			continue;
		if (r == 1 || r == 0)
			return r;
		if (r == -1 && errno == ECONNRESET)
			return 0;
		ck_assert_msg(r == -1 && errno == EAGAIN, "recv failed");
		pump();
		(void)poll(&pfd, 1, 1);
	}
	return -1;
}

static int
xrecv(int fd, struct frame *f)
{
	int r = xrecv_for(fd, f, 20000);

	ck_assert_msg(r != -1, "no answer");
	return r;
}

static void
submit(int fd, char id[QUEUE_ID_MAX])
{
	static const char *const rcpt[] = { "r@example.net" };
	struct fbuf *fb;
	struct frame f;

	fb = fbuf_new(MSG_SUBMIT_BEGIN, 7);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, "a@example.com");
	fbuf_add_str(fb, "test");
	xsend(fd, fb);
	fb = fbuf_new(MSG_SUBMIT_RCPT, 7);
	fbuf_add_str(fb, rcpt[0]);
	xsend(fd, fb);
	fb = fbuf_new(MSG_SUBMIT_DATA, 7);
	fbuf_add_bytes(fb, body, strlen(body));
	xsend(fd, fb);
	xsend(fd, fbuf_new(MSG_SUBMIT_COMMIT, 7));
	ck_assert_int_eq(xrecv(fd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_SUBMIT_QUEUED);
	ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
}

/* The next SCHED_MAIL's id ("" for LOAD_DONE), read up to its SCHED_MAIL_END;
 * or the mail of a SCHED_MAILS frame. */
static void
next_announce(int sfd, char id[QUEUE_ID_MAX])
{
	struct frame f;

	for (;;) {
		ck_assert_int_eq(xrecv(sfd, &f), 1);
		if (f.hdr.type == MSG_SCHED_LOAD_DONE) {
			id[0] = '\0';
			return;
		}
		if (f.hdr.type == MSG_SCHED_MAIL) {
			ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
			break;
		}
		if (f.hdr.type == MSG_SCHED_MAILS) {
			uint16_t n;

			/* indexing: these tests have one mail to announce at a time */
			ck_assert(frame_get_u16(&f, &n));
			ck_assert_uint_eq(n, 1);
			ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
			return;
		}
	}
	do
		ck_assert_int_eq(xrecv(sfd, &f), 1);
	while (f.hdr.type != MSG_SCHED_MAIL_END);
}

static bool
nothing_on(int fd)
{
	struct frame f;
	int r = xrecv_for(fd, &f, 200);

	if (r == 1)
		fprintf(stderr, "unexpected %s\n", msg_name(f.hdr.type));
	return r == -1;
}

/* Read a SIGN_REQUEST: its id and reqid; checks the descriptor and content. */
static uint32_t
sign_request(int gfd, char id[QUEUE_ID_MAX])
{
	struct frame f;
	uint64_t off, len;
	char buf[256];

	ck_assert_int_eq(xrecv(gfd, &f), 1);
	ck_assert_uint_eq(f.hdr.type, MSG_SIGN_REQUEST);
	ck_assert(frame_get_str(&f, id, QUEUE_ID_MAX));
	ck_assert(frame_get_u64(&f, &off) && frame_get_u64(&f, &len) && frame_end(&f));
	ck_assert_int_ne(f.fd, -1);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_int_eq(pread(f.fd, buf, len, off), (ssize_t)len);
	ck_assert_mem_eq(buf, body, len);
	ck_assert_int_eq(fcntl(f.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(f.fd);
	return f.hdr.reqid;
}

static void
sign_result(int gfd, uint32_t reqid, const char *id, uint8_t status, const char *flds)
{
	struct fbuf *fb = fbuf_new(MSG_SIGN_RESULT, reqid);

	fbuf_add_str(fb, id);
	fbuf_add_u8(fb, status);
	fbuf_add_str(fb, flds);
	fbuf_add_str(fb, "test");
	xsend(gfd, fb);
}

static char *
stored(const char *id, bool *set)
{
	struct qf_mail m;
	struct stat sb;
	const char *why;
	char path[64], *r;
	uint8_t *p;
	int fd;

	snprintf(path, sizeof(path), "queue/%s", id);
	ck_assert_int_ne(fd = open(path, O_RDONLY), -1);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	p = xmalloc(sb.st_size);
	ck_assert_int_eq(read(fd, p, sb.st_size), sb.st_size);
	close(fd);
	ck_assert_int_eq(qf_parse(p, sb.st_size, &m, &why), QF_OK);
	*set = m.dkim_set;
	r = m.dkim ? xstrdup(m.dkim) : NULL;
	qf_mail_free(&m);
	free(p);
	return r;
}

START_TEST(announced_only_once_signed)
{
	char id[QUEUE_ID_MAX], rid[QUEUE_ID_MAX], aid[QUEUE_ID_MAX], got[512], *s;
	struct frame f;
	uint64_t off, len;
	uint32_t flags, reqid;
	bool set;
	int fd, sfd, gfd;

	enter_new_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	sfd = link_peer(PROC_SCHEDULER);
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, "");		/* empty queue */
	gfd = link_peer(PROC_SIGNER);
	submit(fd, id);
	reqid = sign_request(gfd, rid);
	ck_assert_str_eq(rid, id);
	ck_assert(nothing_on(sfd));		/* not scheduled before it is signed */
	sign_result(gfd, reqid, id, SIGN_OK, fields);
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, id);
	s = stored(id, &set);
	ck_assert(set);
	ck_assert_str_eq(s, fields);
	free(s);
	/* the agent's fields travel with the descriptor */
	xsend(sfd, ({ struct fbuf *fb = fbuf_new(MSG_QMGR_OPEN, 5); fbuf_add_str(fb, id); fb; }));
	do
		ck_assert_int_eq(xrecv(sfd, &f), 1);
	while (f.hdr.type != MSG_QMGR_OPENED);
	ck_assert(frame_get_u64(&f, &off) && frame_get_u64(&f, &len) && frame_get_u32(&f, &flags));
	ck_assert(frame_get_str(&f, got, sizeof(got)) && frame_end(&f));
	ck_assert_str_eq(got, fields);
	close(f.fd);

	/* no [dkim] entry: stored as looked at, announced, nothing sent along */
	submit(fd, id);
	reqid = sign_request(gfd, rid);
	sign_result(gfd, reqid, id, SIGN_NONE, "");
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, id);
	s = stored(id, &set);
	ck_assert(set);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(mails_wait_for_a_signer_link)
{
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], rid[QUEUE_ID_MAX], aid[QUEUE_ID_MAX];
	uint32_t reqid;
	struct frame f;
	bool set;
	int fd, sfd, gfd;

	enter_new_dir();
	start();
	fd = link_peer(PROC_SMTPD);
	sfd = link_peer(PROC_SCHEDULER);
	next_announce(sfd, aid);
	gfd = link_peer(PROC_SIGNER);
	submit(fd, id);
	(void)sign_request(gfd, rid);
	/* the signer dies before answering; another mail comes meanwhile */
	close(gfd);
	pump();
	submit(fd, id2);
	ck_assert(nothing_on(sfd));
	ck_assert_ptr_null(stored(id, &set));
	ck_assert(!set);
	/* the new signer is asked for both, the unanswered one first */
	gfd = link_peer(PROC_SIGNER);
	reqid = sign_request(gfd, rid);
	ck_assert_str_eq(rid, id);
	sign_result(gfd, reqid, id, SIGN_OK, fields);
	reqid = sign_request(gfd, rid);
	ck_assert_str_eq(rid, id2);
	sign_result(gfd, reqid, id2, SIGN_OK, fields);
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, id);
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, id2);
	/* a malformed answer (SIGN_OK without fields) closes the signer link */
	submit(fd, id);
	reqid = sign_request(gfd, rid);
	sign_result(gfd, reqid, id, SIGN_OK, "");
	ck_assert_int_eq(xrecv(gfd, &f), 0);
	ck_assert(nothing_on(sfd));
}
END_TEST

/* A queue file as the qmgr writes one, with or without a DKIM record. */
static void
make_file(char id[QUEUE_ID_MAX], const char *dkim)
{
	static char *rcpt[] = { (char *)"r@example.net" };
	struct qf_envelope e = { .arrival = 1700000000, .origin = (char *)"t",
	    .sender = (char *)"a@example.com", .nrcpt = 1, .rcpt = rcpt };
	struct qf_chash st = { NULL };
	uint8_t *prefix, trailer[QF_TRAILER_LEN], hash[QF_HASH_LEN], *rec;
	char path[64];
	size_t plen, n;
	int fd;

	qf_id_new(e.id);
	strlcpy(id, e.id, QUEUE_ID_MAX);
	plen = qf_prefix_encode(&e, strlen(body), &prefix);
	qf_content_hash_init(&st);
	qf_content_hash_update(&st, body, strlen(body));
	qf_trailer_encode(prefix, plen, &st, trailer, hash);
	qf_content_hash_free(&st);
	snprintf(path, sizeof(path), "queue/%s", id);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600), -1);
	ck_assert_int_eq(write(fd, prefix, plen), (ssize_t)plen);
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	ck_assert_int_eq(write(fd, trailer, sizeof(trailer)), (ssize_t)sizeof(trailer));
	if (dkim != NULL) {
		ck_assert_uint_gt(n = qf_dkim_encode(dkim, hash, &rec), 0);
		ck_assert_int_eq(write(fd, rec, n), (ssize_t)n);
		free(rec);
	}
	close(fd);
	free(prefix);
}

START_TEST(recovery_signs_what_was_never_signed)
{
	char with[QUEUE_ID_MAX], without[QUEUE_ID_MAX], rid[QUEUE_ID_MAX], aid[QUEUE_ID_MAX];
	uint32_t reqid;
	bool set;
	char *s;
	int sfd, gfd;

	enter_new_dir();
	ck_assert_int_eq(mkdir("queue", 0700), 0);
	make_file(with, fields);
	make_file(without, NULL);
	start();
	sfd = link_peer(PROC_SCHEDULER);
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, with);		/* signed before the crash: at once */
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, "");
	gfd = link_peer(PROC_SIGNER);
	reqid = sign_request(gfd, rid);
	ck_assert_str_eq(rid, without);
	ck_assert(nothing_on(gfd));		/* the signed one is never signed again */
	sign_result(gfd, reqid, without, SIGN_OK, fields);
	next_announce(sfd, aid);
	ck_assert_str_eq(aid, without);
	s = stored(without, &set);
	ck_assert(set && strcmp(s, fields) == 0);
	free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("qmgr_sign");
	TCase *tc = tcase_create("qmgr_sign");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, announced_only_once_signed);
	tcase_add_test(tc, mails_wait_for_a_signer_link);
	tcase_add_test(tc, recovery_signs_what_was_never_signed);
	suite_add_tcase(s, tc);
	return check_run(s);
}
