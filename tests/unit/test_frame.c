/* SPDX-License-Identifier: ISC */
/*
 * test_frame.c - the IPC framing: every frame type survives a round trip
 * through a real SEQPACKET socketpair, and every kind of malformed frame is
 * rejected (header, layout, descriptors, size), as is a link that sends one.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <grp.h>

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "frame.h"
#include "msg.h"
#include "check_run.h"

/* Fill a frame following the schema of its type, with varied values. */
static void
gen(struct fbuf *fb, const char *s, const char *end, unsigned *seed, int depth)
{
	char	tok[8];
	size_t	len;

	while (s < end) {
		while (s < end && *s == ' ')
			s++;
		if (s >= end)
			break;
		len = 0;
		while (s + len < end && s[len] != ' ')
			len++;
		if (len >= sizeof(tok))
			ck_abort_msg("schema token too long");
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		*seed = *seed * 1103515245 + 12345;
		if (strcmp(tok, "fd") == 0)
			fbuf_set_fd(fb, open("/dev/null", O_RDONLY | O_CLOEXEC));
		else if (strcmp(tok, "u8") == 0)
			fbuf_add_u8(fb, (uint8_t)*seed);
		else if (strcmp(tok, "u16") == 0)
			fbuf_add_u16(fb, (uint16_t)*seed);
		else if (strcmp(tok, "u32") == 0)
			fbuf_add_u32(fb, *seed);
		else if (strcmp(tok, "u64") == 0)
			fbuf_add_u64(fb, ((uint64_t)*seed << 32) | 7);
		else if (strcmp(tok, "s") == 0)
			fbuf_add_str(fb, (*seed & 1) ? "user@example.org" : "");
		else if (strcmp(tok, "b") == 0)
			fbuf_add_bytes(fb, "a\0b\r\n.", 6);
		else if (strcmp(tok, "a") == 0) {
			uint8_t raw[16] = { 127, 0, 0, 1 };
			fbuf_add_u8(fb, (*seed & 1) ? 4 : 6);
			fbuf_add_raw(fb, raw, sizeof(raw));
		} else if (strcmp(tok, "n16{") == 0 || strcmp(tok, "n32{") == 0) {
			const char *g = s;
			int d = 1;
			while (s < end && d > 0) {
				if (*s == '{')
					d++;
				else if (*s == '}')
					d--;
				s++;
			}
			unsigned count = depth == 0 ? 3 : 1;
			if (tok[1] == '1')
				fbuf_add_u16(fb, (uint16_t)count);
			else
				fbuf_add_u32(fb, count);
			for (unsigned i = 0; i < count; i++)
				gen(fb, g, s - 1, seed, depth + 1);
		} else
			ck_abort_msg("unknown schema token %s", tok);
	}
}

static struct fbuf *
make_frame(uint16_t type, uint32_t reqid)
{
	const char	*schema = msg_schema_of(type);
	struct fbuf	*fb = fbuf_new(type, reqid);
	unsigned	 seed = type;

	gen(fb, schema, schema + strlen(schema), &seed, 0);
	ck_assert(!fb->overflow);
	return fb;
}

START_TEST(every_type_round_trips)
{
	int		 sv[2];
	uint8_t		*buf = malloc(FRAME_MAX);
	struct frame	 f;
	const char	*why = NULL;
	int		 tested = 0;

	ck_assert_int_eq(frame_socketpair(sv), 0);
	for (uint16_t t = 0; t < MSG_TYPE_MAX; t++) {
		if (!msg_known(t))
			continue;
		struct fbuf *fb = make_frame(t, 1000 + t);
		ck_assert_int_eq(frame_send(sv[0], fb), 0);
		ck_assert_msg(frame_recv(sv[1], buf, &f, &why) == 1, "%s: %s", msg_name(t), why);
		ck_assert_uint_eq(f.hdr.type, t);
		ck_assert_uint_eq(f.hdr.reqid, 1000u + t);
		ck_assert_uint_eq(f.len, fb->len - FRAME_HDR_LEN);
		ck_assert(memcmp(f.p, fb->data + FRAME_HDR_LEN, f.len) == 0);
		ck_assert_int_eq(f.fd != -1, fb->fd != -1);
		if (f.fd != -1)
			close(f.fd);
		fbuf_free(fb);
		tested++;
	}
	ck_assert_int_ge(tested, 28);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}
END_TEST

/* Dropping the last byte, or adding one, must break every type's layout. */
START_TEST(every_type_rejects_wrong_length)
{
	struct frame	 f;
	const char	*why;

	for (uint16_t t = 0; t < MSG_TYPE_MAX; t++) {
		if (!msg_known(t))
			continue;
		struct fbuf *fb = make_frame(t, 1);
		int fd = fb->fd != -1 ? 1000 : -1;	/* a stand-in: parse never touches it */
		uint8_t *copy = malloc(fb->len + 1);
		uint32_t len;

		memcpy(copy, fb->data, fb->len);
		ck_assert_msg(frame_parse(copy, fb->len, fd, &f, &why) == 0, "%s", msg_name(t));
		if (fb->len > FRAME_HDR_LEN) {
			len = fb->len - 1;
			memcpy(copy, &len, 4);
			ck_assert_msg(frame_parse(copy, len, fd, &f, &why) == -1,
			    "%s accepted a truncated payload", msg_name(t));
		}
		len = fb->len + 1;
		memcpy(copy, &len, 4);
		copy[fb->len] = 0;
		ck_assert_msg(frame_parse(copy, len, fd, &f, &why) == -1,
		    "%s accepted a trailing byte", msg_name(t));
		/* The descriptor flag must agree with what was passed. */
		len = fb->len;
		memcpy(copy, &len, 4);
		ck_assert_int_eq(frame_parse(copy, fb->len, fd == -1 ? 1000 : -1, &f, &why), -1);
		free(copy);
		fbuf_free(fb);
	}
}
END_TEST

static void
put_hdr(uint8_t *b, uint32_t len, uint16_t type, uint16_t flags)
{
	uint32_t reqid = 0;

	memcpy(b, &len, 4);
	memcpy(b + 4, &type, 2);
	memcpy(b + 6, &flags, 2);
	memcpy(b + 8, &reqid, 4);
}

static const struct {
	const char	*name;
	uint32_t	 len;		/* header length field */
	size_t		 n;		/* bytes given */
	uint16_t	 type;
	uint16_t	 flags;
} bad_headers[] = {
	{ "short datagram", 12, 5, MSG_CTL_SHUTDOWN, 0 },
	{ "length larger than datagram", 40, 12, MSG_CTL_SHUTDOWN, 0 },
	{ "length smaller than datagram", 12, 20, MSG_CTL_SHUTDOWN, 0 },
	{ "type zero", 12, 12, 0, 0 },
	{ "unknown type", 12, 12, 9999, 0 },
	{ "type just past the end", 12, 12, MSG_TYPE_MAX, 0 },
	{ "unknown flag", 12, 12, MSG_CTL_SHUTDOWN, 0x8000 },
	{ "fd flag without fd", 12, 12, MSG_CTL_SHUTDOWN, FRAME_F_FD },
};

START_TEST(bad_header_rejected)
{
	uint8_t		 b[64];
	struct frame	 f;
	const char	*why = NULL;

	memset(b, 0, sizeof(b));
	put_hdr(b, bad_headers[_i].len, bad_headers[_i].type, bad_headers[_i].flags);
	ck_assert_msg(frame_parse(b, bad_headers[_i].n, -1, &f, &why) == -1, "%s",
	    bad_headers[_i].name);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(string_with_nul_rejected)
{
	struct fbuf	*fb = fbuf_new(MSG_SUBMIT_RCPT, 0);
	struct frame	 f;
	const char	*why;

	fbuf_add_bytes(fb, "a\0b", 3);
	ck_assert_int_eq(frame_parse(fb->data, fb->len, -1, &f, &why), -1);
	fbuf_free(fb);
}
END_TEST

START_TEST(lying_count_rejected)
{
	struct fbuf	*fb = fbuf_new(MSG_DNS_ADDRS, 0);
	struct frame	 f;
	const char	*why;

	fbuf_add_u8(fb, 0);
	fbuf_add_u8(fb, 0);
	fbuf_add_u32(fb, 60);
	fbuf_add_u16(fb, 65535);	/* no element follows */
	ck_assert_int_eq(frame_parse(fb->data, fb->len, -1, &f, &why), -1);
	fbuf_free(fb);
	fb = fbuf_new(MSG_DNS_ADDRS, 0);
	fbuf_add_u8(fb, 0);
	fbuf_add_u8(fb, 0);
	fbuf_add_u32(fb, 60);
	fbuf_add_u16(fb, 1);
	fbuf_add_u8(fb, 5);		/* family neither 4 nor 6 */
	fbuf_add_raw(fb, "0123456789abcdef", 16);
	ck_assert_int_eq(frame_parse(fb->data, fb->len, -1, &f, &why), -1);
	fbuf_free(fb);
}
END_TEST

START_TEST(getters_stop_at_end)
{
	struct fbuf	*fb = fbuf_new(MSG_SUBMIT_ERROR, 0);
	struct frame	 f;
	const char	*why;
	uint16_t	 code;
	char		 small[4], text[64];
	uint64_t	 v;

	fbuf_add_u16(fb, 451);
	fbuf_add_str(fb, "4.3.0");
	fbuf_add_str(fb, "try later");
	ck_assert_int_eq(frame_parse(fb->data, fb->len, -1, &f, &why), 0);
	ck_assert(frame_get_u16(&f, &code));
	ck_assert_uint_eq(code, 451);
	ck_assert(!frame_get_str(&f, small, sizeof(small)));	/* too long for buf */
	ck_assert(f.bad);
	ck_assert(!frame_end(&f));
	ck_assert_int_eq(frame_parse(fb->data, fb->len, -1, &f, &why), 0);
	ck_assert(frame_get_u16(&f, &code));
	ck_assert(frame_get_str(&f, text, sizeof(text)));
	ck_assert_str_eq(text, "4.3.0");
	ck_assert(!frame_end(&f));	/* bytes left unread */
	ck_assert(frame_get_str(&f, text, sizeof(text)));
	ck_assert(frame_end(&f));
	ck_assert(!frame_get_u64(&f, &v));	/* past the end */
	ck_assert(!frame_end(&f));
	fbuf_free(fb);
}
END_TEST

START_TEST(oversized_and_overflow)
{
	int		 sv[2];
	uint8_t		*big = calloc(1, FRAME_MAX + 100), *buf = malloc(FRAME_MAX);
	struct frame	 f;
	const char	*why = NULL;
	struct fbuf	*fb;

	ck_assert_int_eq(frame_socketpair(sv), 0);
	put_hdr(big, FRAME_MAX + 100, MSG_SUBMIT_DATA, 0);
	ck_assert_int_eq(send(sv[0], big, FRAME_MAX + 100, 0), FRAME_MAX + 100);
	ck_assert_int_eq(frame_recv(sv[1], buf, &f, &why), -2);
	/* A frame that would not fit is refused by the sender too. */
	fb = fbuf_new(MSG_SUBMIT_DATA, 0);
	fbuf_add_bytes(fb, big, FRAME_MAX);
	ck_assert(fb->overflow);
	ck_assert_int_eq(frame_send(sv[0], fb), -1);
	fbuf_free(fb);
	close(sv[0]);
	close(sv[1]);
	free(big);
	free(buf);
}
END_TEST

START_TEST(two_descriptors_rejected)
{
	int		 sv[2], fds[2];
	uint8_t		*buf = malloc(FRAME_MAX);
	struct frame	 f;
	const char	*why = NULL;
	struct fbuf	*fb = fbuf_new(MSG_CTL_PEER, 0);
	struct msghdr	 msg;
	struct iovec	 iov;
	union { struct cmsghdr h; char b[CMSG_SPACE(2 * sizeof(int))]; } cm;
	struct cmsghdr	*c;

	ck_assert_int_eq(frame_socketpair(sv), 0);
	fds[0] = open("/dev/null", O_RDONLY);
	fds[1] = open("/dev/null", O_RDONLY);
	{
		uint16_t flags = FRAME_F_FD;
		memcpy(fb->data + 6, &flags, 2);
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = fb->data;
	iov.iov_len = fb->len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.b;
	msg.msg_controllen = sizeof(cm.b);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	ck_assert_int_eq(sendmsg(sv[0], &msg, 0), (ssize_t)fb->len);
	ck_assert_int_eq(frame_recv(sv[1], buf, &f, &why), -2);
	close(fds[0]);
	close(fds[1]);
	fbuf_free(fb);
	close(sv[0]);
	close(sv[1]);
	free(buf);
}
END_TEST

struct chan_seen {
	int	frames;
	int	closed;
};

static int
count_cb(struct chan *c, struct frame *f, void *arg)
{
	struct chan_seen *seen = arg;

	if (f == NULL)
		seen->closed++;
	else
		seen->frames++;
	return 0;
}

START_TEST(chan_closes_link_on_garbage)
{
	struct event_base	*base = event_base_new();
	struct chan_seen	 seen = { 0, 0 };
	struct chan		*c;
	int			 sv[2];
	struct fbuf		*fb;
	struct timeval		 tv = { 0, 200000 };

	ck_assert_int_eq(frame_socketpair(sv), 0);
	c = chan_new(base, sv[1], "test peer", count_cb, &seen);
	fb = fbuf_new(MSG_SUBMIT_COMMIT, 7);
	ck_assert_int_eq(frame_send(sv[0], fb), 0);
	fbuf_free(fb);
	ck_assert_int_eq(send(sv[0], "garbage!", 8, 0), 8);
	fb = fbuf_new(MSG_SUBMIT_COMMIT, 8);	/* after the garbage: must never be seen */
	(void)frame_send(sv[0], fb);
	fbuf_free(fb);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(seen.frames, 1);
	ck_assert_int_eq(seen.closed, 1);
	(void)c;
	close(sv[0]);
	event_base_free(base);
}
END_TEST

/*
 * The kernel caps the descriptors a user has in flight at its RLIMIT_NOFILE
 * (root is exempt, so the sender drops to nobody in a child). A chan that
 * meets the cap keeps the frames and sends them once the peer reads: the
 * link stays up and every frame arrives once, in order.
 */
#define INFLIGHT_LIMIT	16
#define INFLIGHT_FRAMES	20	/* a queued frame holds its descriptor: few over the cap */

static int
inflight_child(void)
{
	struct rlimit		 rl = { INFLIGHT_LIMIT, INFLIGHT_LIMIT };
	struct event_base	*base;
	struct chan_seen	 seen = { 0, 0 };
	struct chan		*c;
	struct frame		 f;
	const char		*why;
	uint8_t			*buf;
	int			 sv[2], i, got = 0, rounds, r;

	if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
	    setresgid(65534, 65534, 65534) == -1 || setresuid(65534, 65534, 65534) == -1))
		return 10;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 11;
	if ((base = event_base_new()) == NULL || frame_socketpair(sv) == -1)
		return 12;
	buf = malloc(FRAME_MAX);
	c = chan_new(base, sv[0], "busy peer", count_cb, &seen);
	for (i = 0; i < INFLIGHT_FRAMES; i++) {
		struct fbuf *fb = fbuf_new(MSG_SIGN_REQUEST, (uint32_t)i);
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			return 18;
		fbuf_set_fd(fb, fd);
		fbuf_add_str(fb, "mail");
		fbuf_add_u64(fb, 1);
		fbuf_add_u64(fb, 2);
		if (chan_send(c, fb) != 0)
			return 13;
	}
	if (seen.closed || chan_pending(c) == 0)
		return 14;	/* nothing was held back: the cap was not met */
	/* The peer reads slowly; the loop runs in between. Bounded: 5 s. */
	for (rounds = 0; rounds < 5000 && got < INFLIGHT_FRAMES && !seen.closed; rounds++) {
		while ((r = frame_recv(sv[1], buf, &f, &why)) != -1) {
			if (r != 1)
				return 19;
			if (f.fd == -1 || f.hdr.reqid != (uint32_t)got)
				return 15;
			close(f.fd);
			got++;
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	if (seen.closed)
		return 16;
	if (got != INFLIGHT_FRAMES)
		return 17;
	free(buf);
	return 0;
}

START_TEST(chan_waits_while_descriptors_in_flight_at_limit)
{
	pid_t	pid;
	int	status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(inflight_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died");
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite	*s = suite_create("frame");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, every_type_round_trips);
	tcase_add_test(tc, every_type_rejects_wrong_length);
	tcase_add_loop_test(tc, bad_header_rejected, 0, sizeof(bad_headers) / sizeof(bad_headers[0]));
	tcase_add_test(tc, string_with_nul_rejected);
	tcase_add_test(tc, lying_count_rejected);
	tcase_add_test(tc, getters_stop_at_end);
	tcase_add_test(tc, oversized_and_overflow);
	tcase_add_test(tc, two_descriptors_rejected);
	tcase_add_test(tc, chan_closes_link_on_garbage);
	tcase_add_test(tc, chan_waits_while_descriptors_in_flight_at_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(frame_suite());
}
