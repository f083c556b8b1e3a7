/* SPDX-License-Identifier: ISC */
/*
 * test_sched_flow.c - the scheduler against scripted peers over real
 * SEQPACKET links: a mail listed by the queue manager is opened, handed to
 * an agent with its descriptor, and its outcomes recorded (250 delivered,
 * 451 deferred then re-sent, 550 bounced); a dead agent's transaction is
 * retried without counting an attempt; MX answers become the agent's address
 * list in preference order; null MX, NXDOMAIN and DNS failures are recorded
 * without any transaction; a new queue manager link gets the outcome of a
 * transaction that was running when the old one died; agents are never
 * given more than max_sessions; a lying agent loses its link; a queue
 * manager dying while a transaction opens does not stall the re-listed
 * queue; flush makes deferred recipients due (by id, @domain, all); one
 * delay notice request per mail, never for <> or a bounce; the outcome of a
 * delivery running when its mail is held or deleted still goes to the
 * queue manager, which decides; under tls_policy = dane, hosts with secure
 * names get a TLSA query and the agent the per-address policy and records
 * (a bogus TLSA answer drops its host), and dane-only defers an insecure
 * destination without any transaction; with mta_sts, the _mta-sts TXT id and
 * the addresses of mta-sts.<domain> go to the sts process, and an enforce
 * policy leaves only the matching MX hosts, each with TLS_STS, while a
 * testing policy changes nothing.
 */
#include <sys/socket.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "scheduler/scheduler.h"
#include "check_run.h"

static struct event_base	*base;
static struct config		 conf;
static struct proc_ctx		 ctx;
static struct sched		*S;
static uint8_t			 rbuf[FRAME_MAX];

static void
setup_conf(enum delivery_mode mode)
{
	config_defaults(&conf);
	conf.mode = mode;
	conf.resend_attempts = 5;
	conf.resend_interval = 1;
	/* MTA-STS waits for an sts link: the tests of it turn it on and link one */
	conf.mta_sts = false;
	strlcpy(conf.helo_name, "me.example", sizeof(conf.helo_name));
	if (mode == MODE_RELAY) {
		ck_assert_int_eq(hostport_parse("127.0.0.1:2526", 25, &conf.relay_host), 0);
		conf.relay_host_set = true;
	}
}

static void
start(enum delivery_mode mode)
{
	log_init("test", LOG_TO_STDERR, NULL);
	setup_conf(mode);
	base = event_base_new();
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	ctx.kind = PROC_SCHEDULER;
	ctx.base = base;
	scheduler_main(&ctx);
	S = ctx.arg;
}

/* Link a scripted peer; returns our end. */
static int
link_peer(int kind, unsigned instance)
{
	int	sv[2];

	ck_assert_int_eq(frame_socketpair(sv), 0);
	ctx.on_peer(&ctx, kind, instance, sv[1]);
	return sv[0];
}

static void
pump(void)
{
	int	i;

	for (i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void
send_fb(int fd, struct fbuf *fb)
{
	ck_assert_int_eq(frame_send(fd, fb), 0);
	fbuf_free(fb);
	pump();
}

/* The next frame on a peer, waiting up to ms (the loop runs meanwhile). */
static bool
recv_within(int fd, struct frame *f, int ms)
{
	const char	*why;
	int		 rc, i;

	for (i = 0; i <= ms / 10; i++) {
		pump();
		rc = frame_recv(fd, rbuf, f, &why);
		if (rc == 1)
			return true;
		ck_assert_msg(rc == -1, "link closed or bad frame (%d)", rc);
		usleep(10000);
	}
	return false;
}

static void
expect(int fd, struct frame *f, uint16_t type)
{
	ck_assert_msg(recv_within(fd, f, 3000), "no %s", msg_name(type));
	ck_assert_msg(f->hdr.type == type, "got %s, wanted %s", msg_name(f->hdr.type),
	    msg_name(type));
}

static void
nothing(int fd, int ms)
{
	struct frame	f;

	ck_assert_msg(!recv_within(fd, &f, ms), "unexpected frame");
}

static bool
closed(int fd)
{
	char	c;
	int	i;

	for (i = 0; i < 100; i++) {
		pump();
		if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static void
list_mail(int q, const char *id, unsigned nrcpt, const char **rcpts, uint32_t attempts)
{
	struct fbuf	*fb;
	unsigned	 i;

	fb = fbuf_new(MSG_SCHED_MAIL, 0);
	fbuf_add_str(fb, id);
	fbuf_add_u64(fb, (uint64_t)time(NULL));
	fbuf_add_u64(fb, 100);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, "sender@example.net");
	fbuf_add_u32(fb, nrcpt);
	send_fb(q, fb);
	for (i = 0; i < nrcpt; i++) {
		fb = fbuf_new(MSG_SCHED_RCPT, 0);
		fbuf_add_str(fb, id);
		fbuf_add_u32(fb, i);
		fbuf_add_u8(fb, attempts ? RCPT_DEFERRED : RCPT_PENDING);
		fbuf_add_u32(fb, attempts);
		fbuf_add_u64(fb, 0);
		fbuf_add_str(fb, rcpts[i]);
		send_fb(q, fb);
	}
	fb = fbuf_new(MSG_SCHED_MAIL_END, 0);
	fbuf_add_str(fb, id);
	send_fb(q, fb);
}

/* A mail with one deferred recipient, tried once, next attempt far away. */
static void
list_deferred(int q, const char *id, const char *rcpt, uint64_t arrival, const char *sender,
    uint32_t flags)
{
	struct fbuf	*fb;

	fb = fbuf_new(MSG_SCHED_MAIL, 0);
	fbuf_add_str(fb, id);
	fbuf_add_u64(fb, arrival);
	fbuf_add_u64(fb, 100);
	fbuf_add_u32(fb, flags);
	fbuf_add_str(fb, sender);
	fbuf_add_u32(fb, 1);
	send_fb(q, fb);
	fb = fbuf_new(MSG_SCHED_RCPT, 0);
	fbuf_add_str(fb, id);
	fbuf_add_u32(fb, 0);
	fbuf_add_u8(fb, RCPT_DEFERRED);
	fbuf_add_u32(fb, 1);
	fbuf_add_u64(fb, (uint64_t)time(NULL) + 3600);
	fbuf_add_str(fb, rcpt);
	send_fb(q, fb);
	fb = fbuf_new(MSG_SCHED_MAIL_END, 0);
	fbuf_add_str(fb, id);
	send_fb(q, fb);
}

static void
tell(int q, uint16_t type, const char *str)
{
	struct fbuf	*fb;

	fb = fbuf_new(type, 0);
	fbuf_add_str(fb, str);
	send_fb(q, fb);
}

static void
load_done(int q)
{
	send_fb(q, fbuf_new(MSG_SCHED_LOAD_DONE, 0));
}

/* Answer a QMGR_OPEN with a descriptor. */
static void
opened(int q, struct frame *req)
{
	struct fbuf	*fb;
	char		 id[QUEUE_ID_MAX];

	ck_assert(frame_get_str(req, id, sizeof(id)) && frame_end(req));
	fb = fbuf_new(MSG_QMGR_OPENED, req->hdr.reqid);
	fbuf_set_fd(fb, open("/dev/null", O_RDONLY | O_CLOEXEC));
	fbuf_add_u64(fb, 10);
	fbuf_add_u64(fb, 90);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, "DKIM-Signature: v=1; d=example.net\r\n");
	send_fb(q, fb);
}

struct deliver {
	uint32_t	 reqid;
	char		 id[QUEUE_ID_MAX];
	char		 dest[HOSTNAME_MAX];
	unsigned	 naddr;
	uint8_t		 fam[16];
	uint8_t		 addr[16][16];
	uint16_t	 port[16];
	char		 host[16][HOSTNAME_MAX];
	unsigned	 nrcpt;
	uint32_t	 index[64];
	char		 rcpt[64][ADDR_MAX];
	uint8_t		 tls;
	uint8_t		 dflags;
	unsigned	 npol;		/* per-address policies (DANE) */
	uint8_t		 ptls[16];
	uint16_t	 nrr[16];
	uint8_t		 rr0[16][3];	/* usage, selector, mtype of the first record */
};

/* The agent's MSG_AGENT_REACHED (or, with why, MSG_AGENT_UNREACHABLE). */
static void
addr_report(int a, uint32_t reqid, uint8_t fam, const uint8_t addr[16], uint16_t port,
    const char *why)
{
	struct fbuf	*fb;

	fb = fbuf_new(why != NULL ? MSG_AGENT_UNREACHABLE : MSG_AGENT_REACHED, reqid);
	fbuf_add_u8(fb, fam);
	fbuf_add_raw(fb, addr, 16);
	fbuf_add_u16(fb, port);
	if (why != NULL)
		fbuf_add_str(fb, why);
	send_fb(a, fb);
}

static void
reached(int a, uint32_t reqid, uint8_t fam, const uint8_t addr[16], uint16_t port)
{
	addr_report(a, reqid, fam, addr, port, NULL);
}

/* Does the scripted agent's connect succeed (get_deliver reports it)? */
static bool agent_connects = true;

static void
get_deliver(int a, struct deliver *d)
{
	struct frame	 f;
	char		 sender[ADDR_MAX];
	uint64_t	 off, len;
	uint32_t	 flags;
	uint16_t	 n, i;

	expect(a, &f, MSG_AGENT_DELIVER);
	ck_assert(f.fd != -1);
	close(f.fd);
	memset(d, 0, sizeof(*d));
	d->reqid = f.hdr.reqid;
	ck_assert(frame_get_str(&f, d->id, sizeof(d->id)));
	ck_assert(frame_get_str(&f, sender, sizeof(sender)));
	ck_assert_str_eq(sender, "sender@example.net");
	ck_assert(frame_get_u64(&f, &off) && off == 10);
	ck_assert(frame_get_u64(&f, &len) && len == 90);
	ck_assert(frame_get_u32(&f, &flags));
	ck_assert(frame_get_str(&f, d->dest, sizeof(d->dest)));
	ck_assert(frame_get_u16(&f, &n) && n <= 16);
	d->naddr = n;
	for (i = 0; i < n; i++) {
		ck_assert(frame_get_u8(&f, &d->fam[i]));
		ck_assert(frame_get_raw(&f, d->addr[i], 16));
		ck_assert(frame_get_u16(&f, &d->port[i]));
		ck_assert(frame_get_str(&f, d->host[i], sizeof(d->host[i])));
	}
	ck_assert(frame_get_u16(&f, &n) && n <= 64);
	d->nrcpt = n;
	for (i = 0; i < n; i++) {
		ck_assert(frame_get_u32(&f, &d->index[i]));
		ck_assert(frame_get_str(&f, d->rcpt[i], sizeof(d->rcpt[i])));
	}
	ck_assert(frame_get_u8(&f, &d->tls));
	ck_assert(frame_get_u8(&f, &d->dflags));
	/* the stored DKIM-Signature fields pass through unchanged */
	{
		char dkim[128];
		ck_assert(frame_get_str(&f, dkim, sizeof(dkim)));
		ck_assert_str_eq(dkim, "DKIM-Signature: v=1; d=example.net\r\n");
	}
	ck_assert(frame_get_u16(&f, &n) && (n == 0 || n == d->naddr));
	d->npol = n;
	for (i = 0; i < n; i++) {
		uint16_t	 k, nrr;
		const uint8_t	*p;
		size_t		 plen;

		ck_assert(frame_get_u8(&f, &d->ptls[i]) && frame_get_u16(&f, &nrr));
		d->nrr[i] = nrr;
		for (k = 0; k < nrr; k++) {
			uint8_t u, sel, mt;

			ck_assert(frame_get_u8(&f, &u) && frame_get_u8(&f, &sel) &&
			    frame_get_u8(&f, &mt) && frame_get_bytes(&f, &p, &plen));
			if (k == 0) {
				d->rr0[i][0] = u;
				d->rr0[i][1] = sel;
				d->rr0[i][2] = mt;
			}
		}
	}
	/* no [destinations] line: the global connection settings */
	{
		uint32_t	mpc;
		uint8_t		reuse;

		ck_assert(frame_get_u32(&f, &mpc) && mpc == 0);
		ck_assert(frame_get_u8(&f, &reuse) && reuse == DELIVER_REUSE_DEFAULT);
	}
	ck_assert(frame_end(&f));
	/* As a real agent: its connect to the first address was accepted. */
	if (d->naddr > 0 && agent_connects)
		reached(a, d->reqid, d->fam[0], d->addr[0], d->port[0]);
}

static void
result(int a, const struct deliver *d, const uint8_t *cls, const uint16_t *codes)
{
	struct fbuf	*fb;
	unsigned	 i;

	fb = fbuf_new(MSG_AGENT_RESULT, d->reqid);
	fbuf_add_str(fb, "relay.example[127.0.0.1]:2526");
	fbuf_add_u16(fb, (uint16_t)d->nrcpt);
	for (i = 0; i < d->nrcpt; i++) {
		fbuf_add_u32(fb, d->index[i]);
		fbuf_add_u8(fb, cls[i]);
		fbuf_add_u16(fb, codes[i]);
		fbuf_add_str(fb, codes[i] >= 500 ? "5.1.1" : codes[i] >= 400 ? "4.2.0" : "2.0.0");
		fbuf_add_str(fb, "reply text");
	}
	send_fb(a, fb);
}

struct update {
	uint32_t	 reqid;
	char		 id[QUEUE_ID_MAX];
	uint32_t	 n;
	uint32_t	 index[64];
	uint8_t		 state[64];
	uint32_t	 attempts[64];
	uint64_t	 next[64];
	uint16_t	 code[64];
	char		 dsn[64][DSN_MAX];
};

static void
get_update(int q, struct update *u)
{
	struct frame	 f;
	char		 reply[REPLY_MAX], relay[512];
	uint32_t	 i;

	expect(q, &f, MSG_QMGR_UPDATE);
	memset(u, 0, sizeof(*u));
	u->reqid = f.hdr.reqid;
	ck_assert(frame_get_str(&f, u->id, sizeof(u->id)));
	ck_assert(frame_get_u32(&f, &u->n) && u->n <= 64);
	for (i = 0; i < u->n; i++) {
		ck_assert(frame_get_u32(&f, &u->index[i]));
		ck_assert(frame_get_u8(&f, &u->state[i]));
		ck_assert(frame_get_u32(&f, &u->attempts[i]));
		ck_assert(frame_get_u64(&f, &u->next[i]));
		ck_assert(frame_get_u16(&f, &u->code[i]));
		ck_assert(frame_get_str(&f, u->dsn[i], sizeof(u->dsn[i])));
		ck_assert(frame_get_str(&f, reply, sizeof(reply)));
		ck_assert(frame_get_str(&f, relay, sizeof(relay)));
	}
	ck_assert(frame_end(&f));
}

static void
updated(int q, const struct update *u, bool removed)
{
	struct fbuf	*fb;

	fb = fbuf_new(MSG_QMGR_UPDATED, u->reqid);
	fbuf_add_str(fb, u->id);
	fbuf_add_u8(fb, removed);
	send_fb(q, fb);
}

/* 250 for one recipient, 451 for the other: the 451 one is re-sent alone. */
START_TEST(relay_deliver_defer_resend)
{
	const char	*rcpts[] = { "a@example.org", "b@example.org" };
	int		 q, a;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_OK, DELIVERY_TEMPFAIL };
	uint16_t	 codes[] = { 250, 451 };
	uint8_t		 ok[] = { DELIVERY_OK };
	uint16_t	 ok250[] = { 250 };

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "M1", 2, rcpts, 0);
	load_done(q);

	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_str_eq(d.id, "M1");
	ck_assert_uint_eq(d.naddr, 1);
	ck_assert_uint_eq(d.fam[0], 4);
	ck_assert_uint_eq(d.addr[0][0], 127);
	ck_assert_uint_eq(d.port[0], 2526);
	ck_assert_uint_eq(d.nrcpt, 2);
	ck_assert_str_eq(d.rcpt[1], "b@example.org");
	/* The relay host: its own TLS policy (default verify), AUTH allowed, no implicit TLS. */
	ck_assert_uint_eq(d.tls, TLS_VERIFY);
	ck_assert_uint_eq(d.dflags, DELIVER_F_RELAY);

	result(a, &d, cls, codes);
	get_update(q, &u);
	ck_assert_uint_eq(u.n, 2);
	ck_assert_uint_eq(u.state[0], RCPT_DELIVERED);
	ck_assert_uint_eq(u.attempts[0], 1);
	ck_assert_uint_eq(u.state[1], RCPT_DEFERRED);
	ck_assert_uint_eq(u.attempts[1], 1);
	ck_assert(u.next[1] >= (uint64_t)time(NULL));
	ck_assert_uint_eq(u.code[1], 451);
	updated(q, &u, false);

	/* nothing before resend_interval, then the deferred recipient alone */
	nothing(q, 300);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_uint_eq(d.nrcpt, 1);
	ck_assert_uint_eq(d.index[0], 1);
	result(a, &d, ok, ok250);
	get_update(q, &u);
	ck_assert_uint_eq(u.n, 1);
	ck_assert_uint_eq(u.state[0], RCPT_DELIVERED);
	ck_assert_uint_eq(u.attempts[0], 2);
	updated(q, &u, true);
	ck_assert_uint_eq(S->nmails, 0);
}
END_TEST

/* Always 451: exactly 1 + resend_attempts transactions, then FAILED. */
START_TEST(relay_tempfail_until_bounce)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, a, n = 0;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_TEMPFAIL };
	uint16_t	 codes[] = { 451 };

	start(MODE_RELAY);
	conf.resend_attempts = 2;
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "M2", 1, rcpts, 0);
	for (;;) {
		expect(q, &f, MSG_QMGR_OPEN);
		opened(q, &f);
		get_deliver(a, &d);
		n++;
		result(a, &d, cls, codes);
		get_update(q, &u);
		ck_assert_uint_eq(u.attempts[0], (uint32_t)n);
		if (u.state[0] == RCPT_FAILED)
			break;
		ck_assert_uint_eq(u.state[0], RCPT_DEFERRED);
		updated(q, &u, false);
		ck_assert_int_lt(n, 10);
	}
	ck_assert_int_eq(n, 3);
	updated(q, &u, true);
	nothing(q, 1500);
}
END_TEST

/* 550: recorded as failed, no second transaction. */
START_TEST(relay_permfail_once)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, a;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_PERMFAIL };
	uint16_t	 codes[] = { 550 };

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "M3", 1, rcpts, 0);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	result(a, &d, cls, codes);
	get_update(q, &u);
	ck_assert_uint_eq(u.state[0], RCPT_FAILED);
	ck_assert_uint_eq(u.attempts[0], 1);
	ck_assert_str_eq(u.dsn[0], "5.1.1");
	updated(q, &u, true);
	nothing(q, 1500);
}
END_TEST

/* A dead agent: retried on another agent, the attempt not counted. */
START_TEST(agent_death_retried)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, a0, a1;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_OK };
	uint16_t	 codes[] = { 250 };

	start(MODE_RELAY);
	a0 = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "M4", 1, rcpts, 0);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a0, &d);
	close(a0);
	pump();
	nothing(q, 200);		/* nothing recorded for an interruption */
	a1 = link_peer(PROC_AGENT, 1);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a1, &d);
	result(a1, &d, cls, codes);
	get_update(q, &u);
	ck_assert_uint_eq(u.state[0], RCPT_DELIVERED);
	ck_assert_uint_eq(u.attempts[0], 1);
}
END_TEST

/* The queue manager dies while an agent works: the new one gets the outcome. */
START_TEST(qmgr_restart_keeps_outcome)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, q2, a;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_OK };
	uint16_t	 codes[] = { 250 };

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "M5", 1, rcpts, 0);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	close(q);
	pump();
	ck_assert_uint_eq(S->nmails, 0);
	result(a, &d, cls, codes);	/* held: no queue manager */
	q2 = link_peer(PROC_QMGR, 0);
	list_mail(q2, "M5", 1, rcpts, 0);
	/* the running transaction keeps the recipient: no second open */
	get_update(q2, &u);
	ck_assert_str_eq(u.id, "M5");
	ck_assert_uint_eq(u.state[0], RCPT_DELIVERED);
	updated(q2, &u, true);
	load_done(q2);
	nothing(q2, 300);
}
END_TEST

/* Agents get at most max_sessions transactions; the rest wait. */
static const uint8_t loop1[16] = { 127, 0, 0, 1 };

START_TEST(agent_sessions_bounded)
{
	const char	*r1[] = { "a@one.example" };
	char		 id[8];
	int		 q, a, i;
	struct frame	 f;

	start(MODE_RELAY);
	S->max_sessions = 3;
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	/* The relay answers (an unknown one would get one probe at a time). */
	reached(a, 0, 4, loop1, 2526);
	for (i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "B%d", i);
		list_mail(q, id, 1, r1, 0);
	}
	for (i = 0; i < 3; i++)
		expect(q, &f, MSG_QMGR_OPEN);
	nothing(q, 200);
	(void)a;
}
END_TEST

/*
 * An address that never answered a connect gets one transaction at a time:
 * the others wait, holding no agent session, until the agent reports the
 * connect accepted; then they all start.
 */
START_TEST(unknown_address_one_probe)
{
	const char	*r1[] = { "a@one.example" };
	char		 id[8];
	int		 q, a, i;
	struct frame	 f;
	struct deliver	 d;

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	for (i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "P%d", i);
		list_mail(q, id, 1, r1, 0);
	}
	expect(q, &f, MSG_QMGR_OPEN);
	nothing(q, 300);		/* the probe alone */
	opened(q, &f);
	get_deliver(a, &d);		/* ... reports its connect accepted */
	expect(q, &f, MSG_QMGR_OPEN);
	expect(q, &f, MSG_QMGR_OPEN);
}
END_TEST

/*
 * The probe's connect times out: the transactions that waited for it are
 * deferred from the unreachable-host cache at once, without a session, and
 * none is lost (each gets its update).
 */
START_TEST(probe_timeout_defers_waiters)
{
	const char	*r1[] = { "a@one.example" };
	const uint8_t	 cls[] = { DELIVERY_TEMPFAIL };
	const uint16_t	 codes[] = { 0 };
	char		 id[8];
	int		 q, a, i;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;

	start(MODE_RELAY);
	agent_connects = false;
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	for (i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "T%d", i);
		list_mail(q, id, 1, r1, 0);
	}
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	nothing(q, 300);		/* still waiting for the probe */
	addr_report(a, d.reqid, d.fam[0], d.addr[0], d.port[0], "Connection timed out");
	for (i = 0; i < 2; i++) {
		get_update(q, &u);
		ck_assert_uint_eq(u.n, 1);
		ck_assert_int_eq(u.state[0], RCPT_DEFERRED);
		ck_assert_str_eq(u.dsn[0], "4.4.1");
		ck_assert_str_ne(u.id, d.id);
		updated(q, &u, false);
	}
	result(a, &d, cls, codes);
	get_update(q, &u);
	ck_assert_str_eq(u.id, d.id);
	ck_assert_int_eq(u.state[0], RCPT_DEFERRED);
	agent_connects = true;
}
END_TEST

static void
dns_answer_mx(int r, uint32_t reqid, uint8_t status, unsigned n, const uint16_t *pref,
    const char **hosts)
{
	struct fbuf	*fb;
	unsigned	 i;

	fb = fbuf_new(MSG_DNS_MX, reqid);
	fbuf_add_u8(fb, status);
	fbuf_add_u8(fb, DNSSEC_INSECURE);
	fbuf_add_u32(fb, 300);
	fbuf_add_u16(fb, (uint16_t)n);
	for (i = 0; i < n; i++) {
		fbuf_add_u16(fb, pref[i]);
		fbuf_add_str(fb, hosts[i]);
	}
	send_fb(r, fb);
}

static void
dns_answer_a(int r, uint32_t reqid, uint8_t status, uint8_t last)
{
	struct fbuf	*fb;
	uint8_t		 addr[16] = { 127, 0, 0, 0 };

	addr[3] = last;
	fb = fbuf_new(MSG_DNS_ADDRS, reqid);
	fbuf_add_u8(fb, status);
	fbuf_add_u8(fb, DNSSEC_INSECURE);
	fbuf_add_u32(fb, 300);
	fbuf_add_u16(fb, status == DNS_OK ? 1 : 0);
	if (status == DNS_OK) {
		fbuf_add_u8(fb, 4);
		fbuf_add_raw(fb, addr, 16);
	}
	send_fb(r, fb);
}

static void
expect_query(int r, struct frame *f, uint16_t type, char *name, uint8_t *fams)
{
	expect(r, f, type);
	ck_assert(frame_get_str(f, name, HOSTNAME_MAX));
	if (type == MSG_DNS_QUERY_ADDR)
		ck_assert(frame_get_u8(f, fams));
	ck_assert(frame_end(f));
}

/* MX 20 and MX 10: addresses in preference order; a host without address skipped. */
START_TEST(mx_routing)
{
	const char	*rcpts[] = { "u@example.org", "v@EXAMPLE.org" };
	const char	*hosts[] = { "mx2.example.org", "mx1.example.org", "mx3.example.org" };
	uint16_t	 pref[] = { 20, 10, 30 };
	int		 q, a, r, i;
	struct frame	 f;
	struct deliver	 d;
	char		 name[HOSTNAME_MAX];
	uint8_t		 fams;
	uint32_t	 ids[3];
	char		 names[3][HOSTNAME_MAX];

	start(MODE_INDEPENDENT);
	a = link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "M6", 2, rcpts, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	ck_assert_str_eq(name, "example.org");
	dns_answer_mx(r, f.hdr.reqid, DNS_OK, 3, pref, hosts);
	for (i = 0; i < 3; i++) {
		expect_query(r, &f, MSG_DNS_QUERY_ADDR, names[i], &fams);
		ck_assert(fams & DNS_FAM_MXTARGET);
		ck_assert(fams & DNS_FAM_V4);
		ids[i] = f.hdr.reqid;
	}
	/* answer out of order: mx3 first, mx1 has no address */
	for (i = 2; i >= 0; i--) {
		if (strcmp(names[i], "mx1.example.org") == 0)
			dns_answer_a(r, ids[i], DNS_NODATA, 0);
		else
			dns_answer_a(r, ids[i], DNS_OK, names[i][2] - '0');
	}
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_uint_eq(d.nrcpt, 2);		/* one transaction for both */
	ck_assert_uint_eq(d.naddr, 2);
	ck_assert_str_eq(d.host[0], "mx2.example.org");
	ck_assert_uint_eq(d.addr[0][3], 2);
	ck_assert_uint_eq(d.port[0], 25);
	ck_assert_str_eq(d.host[1], "mx3.example.org");
	ck_assert_str_eq(d.dest, "example.org");
	/* MX deliveries: tls_policy (default may), neither relay nor implicit TLS. */
	ck_assert_uint_eq(d.tls, TLS_MAY);
	ck_assert_uint_eq(d.dflags, 0);
	ck_assert_uint_eq(d.npol, 0);		/* no per-address policy without DANE */
}
END_TEST

static void
dns_answer_sec(int r, uint16_t type, uint32_t reqid, uint8_t sec, const char *host,
    uint8_t last)
{
	struct fbuf	*fb;
	uint8_t		 addr[16] = { 127, 0, 0, 0 };

	addr[3] = last;
	fb = fbuf_new(type, reqid);
	fbuf_add_u8(fb, DNS_OK);
	fbuf_add_u8(fb, sec);
	fbuf_add_u32(fb, 300);
	fbuf_add_u16(fb, 1);
	if (type == MSG_DNS_MX) {
		fbuf_add_u16(fb, last);
		fbuf_add_str(fb, host);
	} else {
		fbuf_add_u8(fb, 4);
		fbuf_add_raw(fb, addr, 16);
	}
	send_fb(r, fb);
}

static void
dns_answer_tlsa(int r, uint32_t reqid, uint8_t status, uint8_t sec, uint16_t seen,
    uint16_t usable)
{
	struct fbuf	*fb;
	uint8_t		 digest[32] = { 1, 2, 3 };
	uint16_t	 i;

	fb = fbuf_new(MSG_DNS_TLSA, reqid);
	fbuf_add_u8(fb, status);
	fbuf_add_u8(fb, sec);
	fbuf_add_u32(fb, 300);
	fbuf_add_u16(fb, seen);
	fbuf_add_u16(fb, usable);
	for (i = 0; i < usable; i++) {
		fbuf_add_u8(fb, 3);
		fbuf_add_u8(fb, 1);
		fbuf_add_u8(fb, 1);
		fbuf_add_bytes(fb, digest, sizeof(digest));
	}
	send_fb(r, fb);
}

/*
 * tls_policy = dane, one MX host per domain so that the order is fixed:
 * usable TLSA -> TLS_DANE with the records; a signed denial -> may; bogus
 * TLSA -> the host is not used and, being the only one, the mail deferred.
 */
START_TEST(dane_tlsa_to_agent)
{
	static const struct { const char *dom, *mx; uint8_t status, sec; uint16_t seen, n; }
	    c[] = {
		{ "dane.example", "mx.dane.example", DNS_OK, DNSSEC_SECURE, 1, 1 },
		{ "plain.example", "mx.plain.example", DNS_NODATA, DNSSEC_SECURE, 0, 0 },
		{ "bogus.example", "mx.bogus.example", DNS_TEMPFAIL, DNSSEC_BOGUS, 0, 0 },
	};
	const char	*rcpt[1];
	int		 q, a, r;
	unsigned	 i;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	char		 name[HOSTNAME_MAX], id[8];
	uint8_t		 fams;
	uint16_t	 port;

	start(MODE_INDEPENDENT);
	conf.tls_policy = TLS_DANE;
	a = link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	q = link_peer(PROC_QMGR, 0);
	for (i = 0; i < 3; i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "u@%s", c[i].dom);
		snprintf(id, sizeof(id), "D%u", i);
		rcpt[0] = addr;
		list_mail(q, id, 1, rcpt, 0);
		expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
		ck_assert_str_eq(name, c[i].dom);
		dns_answer_sec(r, MSG_DNS_MX, f.hdr.reqid, DNSSEC_SECURE, c[i].mx, 10);
		expect_query(r, &f, MSG_DNS_QUERY_ADDR, name, &fams);
		dns_answer_sec(r, MSG_DNS_ADDRS, f.hdr.reqid, DNSSEC_SECURE, NULL, 5);
		expect(r, &f, MSG_DNS_QUERY_TLSA);
		ck_assert(frame_get_str(&f, name, sizeof(name)) && frame_get_u16(&f, &port) &&
		    frame_end(&f));
		ck_assert_str_eq(name, c[i].mx);
		ck_assert_uint_eq(port, 25);
		dns_answer_tlsa(r, f.hdr.reqid, c[i].status, c[i].sec, c[i].seen, c[i].n);
		if (i == 2) {
			get_update(q, &u);
			ck_assert_str_eq(u.id, id);
			ck_assert_uint_eq(u.state[0], RCPT_DEFERRED);
			nothing(a, 200);
			break;
		}
		expect(q, &f, MSG_QMGR_OPEN);
		opened(q, &f);
		get_deliver(a, &d);
		ck_assert_uint_eq(d.naddr, 1);
		ck_assert_uint_eq(d.npol, 1);
		if (i == 0) {
			ck_assert_uint_eq(d.ptls[0], TLS_DANE);
			ck_assert_uint_eq(d.nrr[0], 1);
			ck_assert_uint_eq(d.rr0[0][0], 3);
			ck_assert_uint_eq(d.rr0[0][2], 1);
		} else {
			ck_assert_uint_eq(d.ptls[0], TLS_MAY);
			ck_assert_uint_eq(d.nrr[0], 0);
		}
	}
}
END_TEST

static void
dns_answer_txt(int r, uint32_t reqid, const char *text)
{
	struct fbuf	*fb;

	fb = fbuf_new(MSG_DNS_TXT, reqid);
	fbuf_add_u8(fb, DNS_OK);
	fbuf_add_u8(fb, DNSSEC_INSECURE);
	fbuf_add_u32(fb, 300);
	fbuf_add_u16(fb, 2);
	fbuf_add_str(fb, "v=spf1 -all");	/* not an STS record: ignored */
	fbuf_add_str(fb, text);
	send_fb(r, fb);
}

/* A mail to u@sts.example, its MX hosts mx1 and mx2 (127.0.0.1, .2) resolved. */
static void
sts_mail_resolved(int q, int r)
{
	const char	*rcpt[] = { "u@sts.example" };
	const char	*hosts[] = { "mx1.sts.example", "mx2.sts.example" };
	uint16_t	 pref[] = { 10, 20 };
	struct frame	 f;
	char		 name[HOSTNAME_MAX];
	uint8_t		 fams;
	int		 i;

	list_mail(q, "S1", 1, rcpt, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	dns_answer_mx(r, f.hdr.reqid, DNS_OK, 2, pref, hosts);
	for (i = 0; i < 2; i++) {
		expect_query(r, &f, MSG_DNS_QUERY_ADDR, name, &fams);
		dns_answer_a(r, f.hdr.reqid, DNS_OK, name[2] - '0');
	}
}

/*
 * The TXT record, the address of mta-sts.<domain> and the policy question
 * on the sts link t (its fields checked), answered with a policy of that
 * mode naming mx1 alone.
 */
static void
sts_steps(int r, int t, uint8_t mode)
{
	struct frame	 f;
	struct fbuf	*fb;
	char		 name[HOSTNAME_MAX], id[64];
	uint8_t		 fams, txt, fam, addr[16];
	uint16_t	 n;

	expect_query(r, &f, MSG_DNS_QUERY_TXT, name, NULL);
	ck_assert_str_eq(name, "_mta-sts.sts.example");
	dns_answer_txt(r, f.hdr.reqid, "v=STSv1; id=20261207");
	expect_query(r, &f, MSG_DNS_QUERY_ADDR, name, &fams);
	ck_assert_str_eq(name, "mta-sts.sts.example");
	ck_assert(!(fams & DNS_FAM_MXTARGET));
	dns_answer_a(r, f.hdr.reqid, DNS_OK, 9);
	expect(t, &f, MSG_STS_GET);
	ck_assert(frame_get_str(&f, name, sizeof(name)) && frame_get_u8(&f, &txt) &&
	    frame_get_str(&f, id, sizeof(id)) && frame_get_u16(&f, &n));
	ck_assert_str_eq(name, "sts.example");
	ck_assert_uint_eq(txt, STS_TXT_ID);
	ck_assert_str_eq(id, "20261207");
	ck_assert_uint_eq(n, 1);
	ck_assert(frame_get_u8(&f, &fam) && frame_get_raw(&f, addr, 16) && frame_end(&f));
	ck_assert_uint_eq(addr[3], 9);
	fb = fbuf_new(MSG_STS_POLICY, f.hdr.reqid);
	fbuf_add_str(fb, "sts.example");
	fbuf_add_u8(fb, 1);
	fbuf_add_u8(fb, mode);
	fbuf_add_u32(fb, 86400);
	fbuf_add_u64(fb, (uint64_t)time(NULL) + 86400);
	fbuf_add_str(fb, "20261207");
	fbuf_add_u8(fb, 1);
	fbuf_add_u16(fb, 1);
	fbuf_add_str(fb, "mx1.sts.example");
	send_fb(t, fb);
}

/* _i == 0: enforce, only mx1 matches; _i == 1: testing, both kept as they were. */
START_TEST(sts_policy_applied)
{
	int		 q, a, r, t;
	struct frame	 f;
	struct deliver	 d;

	start(MODE_INDEPENDENT);
	conf.mta_sts = true;
	a = link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	t = link_peer(PROC_STS, 0);
	q = link_peer(PROC_QMGR, 0);
	sts_mail_resolved(q, r);
	sts_steps(r, t, _i == 0 ? STS_MODE_ENFORCE : STS_MODE_TESTING);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	if (_i == 0) {
		ck_assert_uint_eq(d.naddr, 1);
		ck_assert_str_eq(d.host[0], "mx1.sts.example");
		ck_assert_uint_eq(d.npol, 1);
		ck_assert_uint_eq(d.ptls[0], TLS_STS);
	} else {
		ck_assert_uint_eq(d.naddr, 2);
		ck_assert_uint_eq(d.npol, 0);
		ck_assert_uint_eq(d.tls, TLS_MAY);
	}
}
END_TEST

/*
 * Without the sts process the policy is unknown, and the destination waits
 * for a new one instead of going on without it (a crash of that process
 * must not turn MTA-STS off). _i == 0: no sts link when the lookup reaches
 * the MTA-STS step; _i == 1: the link breaks while the question is out.
 * Either way the mail is opened only once a new sts process has answered,
 * and then under the policy.
 */
START_TEST(sts_waits_for_its_process)
{
	int		 q, a, r, t = -1;
	struct frame	 f;
	struct deliver	 d;
	char		 name[HOSTNAME_MAX];
	uint8_t		 fams;

	start(MODE_INDEPENDENT);
	conf.mta_sts = true;
	a = link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	if (_i == 1)
		t = link_peer(PROC_STS, 0);
	q = link_peer(PROC_QMGR, 0);
	sts_mail_resolved(q, r);
	if (_i == 1) {
		expect_query(r, &f, MSG_DNS_QUERY_TXT, name, NULL);
		dns_answer_txt(r, f.hdr.reqid, "v=STSv1; id=20261207");
		expect_query(r, &f, MSG_DNS_QUERY_ADDR, name, &fams);
		dns_answer_a(r, f.hdr.reqid, DNS_OK, 9);
		expect(t, &f, MSG_STS_GET);
		close(t);	/* the sts process is gone before it answered */
	}
	nothing(q, 300);	/* not opened: nothing goes out without the policy */
	nothing(a, 0);
	t = link_peer(PROC_STS, 0);
	sts_steps(r, t, STS_MODE_ENFORCE);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_uint_eq(d.naddr, 1);
	ck_assert_str_eq(d.host[0], "mx1.sts.example");
	ck_assert_uint_eq(d.ptls[0], TLS_STS);
}
END_TEST

/* dane-only: insecure names get no TLSA query, and the mail waits. */
START_TEST(dane_only_insecure_deferred)
{
	const char	*rcpt[] = { "u@insecure.example" };
	int		 q, a, r;
	struct frame	 f;
	struct update	 u;
	char		 name[HOSTNAME_MAX];
	uint8_t		 fams;

	start(MODE_INDEPENDENT);
	conf.tls_policy = TLS_DANE_ONLY;
	a = link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "I1", 1, rcpt, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	dns_answer_sec(r, MSG_DNS_MX, f.hdr.reqid, DNSSEC_INSECURE, "mx.insecure.example", 10);
	expect_query(r, &f, MSG_DNS_QUERY_ADDR, name, &fams);
	dns_answer_sec(r, MSG_DNS_ADDRS, f.hdr.reqid, DNSSEC_SECURE, NULL, 5);
	get_update(q, &u);
	ck_assert_uint_eq(u.state[0], RCPT_DEFERRED);
	ck_assert_str_eq(u.dsn[0], "4.4.3");
	nothing(r, 200);	/* no TLSA query */
	nothing(a, 100);
}
END_TEST

/* Null MX, NXDOMAIN, loop: bounced without a transaction; DNS failure: deferred. */
START_TEST(mx_failures)
{
	const char	*r_null[] = { "u@null.example" };
	const char	*r_nx[] = { "u@nx.example" };
	const char	*r_tmp[] = { "u@tmp.example" };
	const char	*r_loop[] = { "u@loop.example" };
	const char	*self[] = { "ME.example" };
	uint16_t	 pref[] = { 10 };
	int		 q, r;
	struct frame	 f;
	struct update	 u;
	char		 name[HOSTNAME_MAX];

	start(MODE_INDEPENDENT);
	(void)link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	q = link_peer(PROC_QMGR, 0);

	list_mail(q, "N1", 1, r_null, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	dns_answer_mx(r, f.hdr.reqid, DNS_NULLMX, 0, NULL, NULL);
	get_update(q, &u);
	ck_assert_uint_eq(u.state[0], RCPT_FAILED);
	ck_assert_str_eq(u.dsn[0], "5.1.10");
	updated(q, &u, true);

	list_mail(q, "N2", 1, r_nx, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	dns_answer_mx(r, f.hdr.reqid, DNS_NXDOMAIN, 0, NULL, NULL);
	get_update(q, &u);
	ck_assert_uint_eq(u.state[0], RCPT_FAILED);
	ck_assert_str_eq(u.dsn[0], "5.1.2");
	updated(q, &u, true);

	list_mail(q, "N3", 1, r_tmp, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	dns_answer_mx(r, f.hdr.reqid, DNS_TEMPFAIL, 0, NULL, NULL);
	get_update(q, &u);
	ck_assert_uint_eq(u.state[0], RCPT_DEFERRED);
	ck_assert_uint_eq(u.attempts[0], 1);
	ck_assert_str_eq(u.dsn[0], "4.4.3");
	updated(q, &u, false);
	/* not cached: asked again at the next attempt */
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	ck_assert_str_eq(name, "tmp.example");

	list_mail(q, "N4", 1, r_loop, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	ck_assert_str_eq(name, "loop.example");
	dns_answer_mx(r, f.hdr.reqid, DNS_OK, 1, pref, self);
	get_update(q, &u);
	ck_assert_str_eq(u.id, "N4");
	ck_assert_uint_eq(u.state[0], RCPT_FAILED);
	ck_assert_str_eq(u.dsn[0], "5.4.6");
}
END_TEST

/* No MX record: the domain's own address (implicit MX), cached afterwards. */
START_TEST(mx_implicit_and_cache)
{
	const char	*r1[] = { "u@plain.example" };
	int		 q, a, r;
	struct frame	 f;
	struct deliver	 d;
	char		 name[HOSTNAME_MAX];
	uint8_t		 fams;

	start(MODE_INDEPENDENT);
	a = link_peer(PROC_AGENT, 0);
	r = link_peer(PROC_RESOLVER, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "I1", 1, r1, 0);
	expect_query(r, &f, MSG_DNS_QUERY_MX, name, NULL);
	dns_answer_mx(r, f.hdr.reqid, DNS_NODATA, 0, NULL, NULL);
	expect_query(r, &f, MSG_DNS_QUERY_ADDR, name, &fams);
	ck_assert_str_eq(name, "plain.example");
	ck_assert(!(fams & DNS_FAM_MXTARGET));
	dns_answer_a(r, f.hdr.reqid, DNS_OK, 9);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_uint_eq(d.addr[0][3], 9);

	/* a second mail to the same domain: no DNS query */
	list_mail(q, "I2", 1, r1, 0);
	expect(q, &f, MSG_QMGR_OPEN);
	nothing(r, 100);
}
END_TEST

/* An agent answering for a recipient it was not given loses its link. */
START_TEST(agent_lies)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, a;
	struct frame	 f;
	struct deliver	 d;
	uint8_t		 cls[] = { DELIVERY_OK };
	uint16_t	 codes[] = { 250 };

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "L1", 1, rcpts, 0);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	d.index[0] = 7;
	result(a, &d, cls, codes);
	ck_assert(closed(a));
	nothing(q, 200);
}
END_TEST

/* SCHED_MAILS (the queue being indexed): each mail of the frame is
 * scheduled as if announced by SCHED_MAIL, its RCPTs and MAIL_END. */
static struct fbuf *
mails_frame(uint8_t bad_state)
{
	struct fbuf	*fb;

	fb = fbuf_new(MSG_SCHED_MAILS, 0);
	fbuf_add_u16(fb, 2);
	fbuf_add_str(fb, "B1");
	fbuf_add_u64(fb, (uint64_t)time(NULL));
	fbuf_add_u64(fb, 100);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, "sender@example.net");
	fbuf_add_u32(fb, 1);
	fbuf_add_u8(fb, RCPT_PENDING);
	fbuf_add_u32(fb, 0);
	fbuf_add_u64(fb, 0);
	fbuf_add_str(fb, "a@example.org");
	fbuf_add_str(fb, "B2");
	fbuf_add_u64(fb, (uint64_t)time(NULL));
	fbuf_add_u64(fb, 100);
	fbuf_add_u32(fb, 0);
	fbuf_add_str(fb, "");
	fbuf_add_u32(fb, 2);
	fbuf_add_u8(fb, RCPT_DEFERRED);
	fbuf_add_u32(fb, 1);
	fbuf_add_u64(fb, (uint64_t)time(NULL) + 3600);
	fbuf_add_str(fb, "b@example.org");
	fbuf_add_u8(fb, bad_state);
	fbuf_add_u32(fb, 0);
	fbuf_add_u64(fb, 0);
	fbuf_add_str(fb, "c@example.org");
	return fb;
}

START_TEST(mails_frame_schedules_each)
{
	struct frame	 f;
	struct mail	*m;
	char		 id[QUEUE_ID_MAX];
	int		 q, a;

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	/* The relay answers (an unknown one would get one probe at a time). */
	reached(a, 0, 4, loop1, 2526);
	send_fb(q, mails_frame(RCPT_PENDING));
	load_done(q);
	expect(q, &f, MSG_QMGR_OPEN);
	ck_assert(frame_get_str(&f, id, sizeof(id)));
	ck_assert_str_eq(id, "B1");
	expect(q, &f, MSG_QMGR_OPEN);
	ck_assert(frame_get_str(&f, id, sizeof(id)));
	ck_assert_str_eq(id, "B2");		/* c@, pending; b@ waits an hour */
	ck_assert_uint_eq(S->nmails, 2);
	ck_assert_ptr_nonnull(m = sched_mail_find(S, "B2"));
	ck_assert(m->complete);
	ck_assert_uint_eq(m->nrcpt, 2);
	ck_assert_str_eq(m->rcpts[0].addr, "b@example.org");
	ck_assert_uint_eq(m->rcpts[0].state, RCPT_DEFERRED);
	ck_assert_uint_eq(m->rcpts[0].attempts, 1);
	ck_assert_str_eq(m->rcpts[1].addr, "c@example.org");
	ck_assert_str_eq(m->sender, "");
	nothing(q, 200);
}
END_TEST

/* A bad recipient state in a SCHED_MAILS frame: the link is dropped, the
 * half-read mail is not kept. */
START_TEST(mails_frame_bad_state)
{
	int		 q;

	start(MODE_RELAY);
	q = link_peer(PROC_QMGR, 0);
	send_fb(q, mails_frame(RCPT_STATE_MAX));
	ck_assert(closed(q));
	ck_assert_ptr_null(sched_mail_find(S, "B2"));
}
END_TEST

/*
 * The queue manager dies while one transaction is opening and another
 * waits behind it (destination_concurrency 1): once the new queue manager
 * has listed the queue, the destination is dispatched again. The released
 * slot used to leave the destination marked ready while its queue was
 * emptied, so the re-listed jobs never woke the dispatcher.
 */
START_TEST(qmgr_death_while_opening_resumes)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, q2, a;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_OK };
	uint16_t	 codes[] = { 250 };
	int		 i;

	start(MODE_RELAY);
	conf.destination_concurrency = 1;
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "W1", 1, rcpts, 0);
	list_mail(q, "W2", 1, rcpts, 0);
	load_done(q);
	expect(q, &f, MSG_QMGR_OPEN);	/* W1 opening, W2 waiting */
	nothing(q, 100);
	close(q);
	pump();
	ck_assert_uint_eq(S->nmails, 0);

	q2 = link_peer(PROC_QMGR, 0);
	list_mail(q2, "W1", 1, rcpts, 0);
	list_mail(q2, "W2", 1, rcpts, 0);
	load_done(q2);
	for (i = 0; i < 2; i++) {
		expect(q2, &f, MSG_QMGR_OPEN);
		opened(q2, &f);
		get_deliver(a, &d);
		result(a, &d, cls, codes);
		get_update(q2, &u);
		ck_assert_uint_eq(u.state[0], RCPT_DELIVERED);
		updated(q2, &u, true);
	}
	ck_assert_uint_eq(S->nmails, 0);
}
END_TEST

/* flush: a deferred recipient due in an hour is opened now; a selector
 * of another domain or id leaves it alone. */
START_TEST(flush_makes_due)
{
	int		 q, a;
	struct frame	 f;
	struct deliver	 d;

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_deferred(q, "F1", "a@one.example", (uint64_t)time(NULL), "sender@example.net", 0);
	list_deferred(q, "F2", "b@two.example", (uint64_t)time(NULL), "sender@example.net", 0);
	load_done(q);
	nothing(q, 200);
	tell(q, MSG_SCHED_FLUSH, "@three.example");
	tell(q, MSG_SCHED_FLUSH, "F9");
	nothing(q, 200);
	tell(q, MSG_SCHED_FLUSH, "@TWO.example");
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_str_eq(d.id, "F2");
	nothing(q, 200);
	tell(q, MSG_SCHED_FLUSH, "");
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	ck_assert_str_eq(d.id, "F1");
}
END_TEST

/* delay_warning: one QMGR_DELAY_WARN for a deferred mail past it; none for
 * <>, a bounce, a mail warned already, or one still young. */
START_TEST(delay_warning_once)
{
	int		 q, a;
	struct frame	 f;
	char		 id[QUEUE_ID_MAX];
	uint64_t	 old = (uint64_t)time(NULL) - 100;

	start(MODE_RELAY);
	conf.delay_warning = 50;
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_deferred(q, "D0", "x@example.org", old, "", 0);
	list_deferred(q, "D1", "x@example.org", old, "s@example.net", MAIL_F_BOUNCE);
	list_deferred(q, "D2", "x@example.org", old, "s@example.net", MAIL_F_DELAY_WARNED);
	list_deferred(q, "D3", "x@example.org", (uint64_t)time(NULL), "s@example.net", 0);
	nothing(q, 200);
	list_deferred(q, "D4", "x@example.org", old, "s@example.net", 0);
	expect(q, &f, MSG_QMGR_DELAY_WARN);
	ck_assert(frame_get_str(&f, id, sizeof(id)) && frame_end(&f));
	ck_assert_str_eq(id, "D4");
	/* checked again (a flush): not a second time */
	tell(q, MSG_SCHED_FLUSH, "D4");
	expect(q, &f, MSG_QMGR_OPEN);
	nothing(q, 300);
	load_done(q);
	(void)a;
}
END_TEST

/* A mail put on hold (SCHED_REMOVED) while its delivery runs: the outcome
 * still goes to the queue manager, and once released (listed again) the
 * mail is scheduled without a second transaction for that recipient. */
START_TEST(held_while_delivering)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, a;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_TEMPFAIL };
	uint16_t	 codes[] = { 451 };

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "H1", 1, rcpts, 0);
	load_done(q);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	tell(q, MSG_SCHED_REMOVED, "H1");
	ck_assert_uint_eq(S->nmails, 0);
	result(a, &d, cls, codes);
	get_update(q, &u);
	ck_assert_str_eq(u.id, "H1");
	ck_assert_uint_eq(u.state[0], RCPT_DEFERRED);
	updated(q, &u, false);
	nothing(q, 200);

	/* released: listed again, the re-send comes after resend_interval */
	list_deferred(q, "H1", "a@example.org", (uint64_t)time(NULL), "sender@example.net", 0);
	nothing(q, 200);
	tell(q, MSG_SCHED_FLUSH, "H1");
	expect(q, &f, MSG_QMGR_OPEN);
}
END_TEST

/* Deleted while delivering: the outcome is offered, the queue manager
 * answers "removed", and nothing more happens. */
START_TEST(deleted_while_delivering)
{
	const char	*rcpts[] = { "a@example.org" };
	int		 q, a;
	struct frame	 f;
	struct deliver	 d;
	struct update	 u;
	uint8_t		 cls[] = { DELIVERY_OK };
	uint16_t	 codes[] = { 250 };

	start(MODE_RELAY);
	a = link_peer(PROC_AGENT, 0);
	q = link_peer(PROC_QMGR, 0);
	list_mail(q, "X1", 1, rcpts, 0);
	load_done(q);
	expect(q, &f, MSG_QMGR_OPEN);
	opened(q, &f);
	get_deliver(a, &d);
	tell(q, MSG_SCHED_REMOVED, "X1");
	result(a, &d, cls, codes);
	get_update(q, &u);
	updated(q, &u, true);
	nothing(q, 300);
	ck_assert_uint_eq(sched_job_in_flight(S), 0);
	ck_assert(RB_EMPTY(&S->jobs));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sched_flow");
	TCase	*tc = tcase_create("flow");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, relay_deliver_defer_resend);
	tcase_add_test(tc, relay_tempfail_until_bounce);
	tcase_add_test(tc, relay_permfail_once);
	tcase_add_test(tc, agent_death_retried);
	tcase_add_test(tc, qmgr_restart_keeps_outcome);
	tcase_add_test(tc, agent_sessions_bounded);
	tcase_add_test(tc, unknown_address_one_probe);
	tcase_add_test(tc, probe_timeout_defers_waiters);
	tcase_add_test(tc, mx_routing);
	tcase_add_test(tc, mx_failures);
	tcase_add_test(tc, mx_implicit_and_cache);
	tcase_add_test(tc, agent_lies);
	tcase_add_test(tc, qmgr_death_while_opening_resumes);
	tcase_add_test(tc, flush_makes_due);
	tcase_add_test(tc, delay_warning_once);
	tcase_add_test(tc, held_while_delivering);
	tcase_add_test(tc, deleted_while_delivering);
	tcase_add_test(tc, mails_frame_schedules_each);
	tcase_add_test(tc, mails_frame_bad_state);
	tcase_add_test(tc, dane_tlsa_to_agent);
	tcase_add_test(tc, dane_only_insecure_deferred);
	tcase_add_loop_test(tc, sts_policy_applied, 0, 2);
	tcase_add_loop_test(tc, sts_waits_for_its_process, 0, 2);
	suite_add_tcase(s, tc);

	return check_run(s);
}
