/* SPDX-License-Identifier: ISC */
/*
 * test_obs.c - the pieces of observability that are pure or local to one
 * process: the JSON log line (shared/log_json.c), the trace set
 * (shared/trace.c), histogram buckets (shared/metrics.c), and the master's
 * checks of what children send it (daemons/master/master_log.c): every
 * malformed log or metric frame is refused, a good one is accepted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "log_json.h"
#include "master/master.h"
#include "metrics.h"
#include "msg.h"
#include "log_fields.h"
#include "trace.h"
#include "check_run.h"

static char out[4096];

START_TEST(json_splits_a_recipient_line)
{
	size_t n = log_json_line(out, sizeof(out), "T", "h", "scheduler", -1, 42, "info",
	    "ABC123: to=<a@b.test>, relay=mx[192.0.2.1]:25, delay=0.6, delays=0/0.5/0/0.1, "
	    "dsn=2.0.0, status=sent (250 2.0.0 Ok (id 7)), attempts=1");

	ck_assert_uint_eq(n, strlen(out));
	ck_assert_ptr_nonnull(strstr(out, "\"queue_id\":\"ABC123\""));
	ck_assert_ptr_nonnull(strstr(out, "\"to\":\"a@b.test\""));
	ck_assert_ptr_nonnull(strstr(out, "\"relay\":\"mx[192.0.2.1]:25\""));
	ck_assert_ptr_nonnull(strstr(out, "\"delays\":\"0/0.5/0/0.1\""));
	ck_assert_ptr_nonnull(strstr(out, "\"status\":\"sent\""));
	ck_assert_ptr_nonnull(strstr(out, "\"reply\":\"250 2.0.0 Ok (id 7)\""));
	ck_assert_ptr_nonnull(strstr(out, "\"attempts\":\"1\""));
	ck_assert_ptr_nonnull(strstr(out, "\"pid\":42"));
	ck_assert_ptr_null(strstr(out, "\"instance\""));
	ck_assert_str_eq(out + n - 2, "}\n");
}
END_TEST

START_TEST(fields_split_a_recipient_line_all_or_none)
{
	struct log_field	 f[LOG_FIELDS_MAX];
	const char		*t = "ABC123: to=<a@b.test>, relay=mx[192.0.2.1]:25, dsn=5.1.1, "
				     "status=bounced (550 5.1.1 no (such) user)";
	size_t			 n = log_fields(t, f, LOG_FIELDS_MAX);

	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(f[0].key, "queue_id");
	ck_assert_int_eq(strncmp(f[0].val, "ABC123", f[0].len), 0);
	ck_assert_str_eq(f[1].key, "to");
	ck_assert_uint_eq(f[1].len, strlen("a@b.test"));
	ck_assert_str_eq(f[4].key, "status");
	ck_assert_int_eq(strncmp(f[4].val, "bounced", f[4].len), 0);
	ck_assert_str_eq(f[5].key, "reply");
	ck_assert_uint_eq(f[5].len, strlen("550 5.1.1 no (such) user"));
	/* more fields than room, or anything off the form: none */
	ck_assert_uint_eq(log_fields(t, f, 5), 0);
	ck_assert_uint_eq(log_fields("ABC: to=<a@b", f, LOG_FIELDS_MAX), 0);
	ck_assert_uint_eq(log_fields("ABC: To=x", f, LOG_FIELDS_MAX), 0);
	ck_assert_uint_eq(log_fields("ABC: to=x;y=z", f, LOG_FIELDS_MAX), 1 + 1);
	ck_assert_uint_eq(log_fields("started qmgr (pid 4)", f, LOG_FIELDS_MAX), 0);
	ck_assert_uint_eq(log_fields(": to=<a>", f, LOG_FIELDS_MAX), 0);
}
END_TEST

START_TEST(json_plain_text_stays_a_message)
{
	log_json_line(out, sizeof(out), "T", "h", "agent", 1, 7, "warning",
	    "no \"fields\" here: x=<y");
	ck_assert_ptr_nonnull(strstr(out, "\"message\":\"no \\\"fields\\\" here: x=<y\""));
	ck_assert_ptr_null(strstr(out, "\"queue_id\""));
	ck_assert_ptr_nonnull(strstr(out, "\"instance\":1"));
}
END_TEST

START_TEST(json_escapes_and_cuts_whole)
{
	size_t n;

	log_json_line(out, sizeof(out), "T", "h", "smtpd", -1, 1, "info", "a\\b\001\xc3\xa9");
	ck_assert_ptr_nonnull(strstr(out, "\"message\":\"a\\\\b\\u0001\\u00c3\\u00a9\""));
	/* Too small for the message: the object still closes, without it. */
	n = log_json_line(out, 120, "T", "h", "smtpd", -1, 1, "info",
	    "a long message that cannot fit in what is left of one hundred and twenty bytes");
	ck_assert_uint_lt(n, 120);
	ck_assert_ptr_null(strstr(out, "\"message\""));
	ck_assert_str_eq(out + n - 2, "}\n");
}
END_TEST

static struct frame
parse(struct fbuf *fb, uint8_t *buf)
{
	struct frame	 f;
	const char	*why;

	memcpy(buf, fb->data, fb->len);
	((struct frame_hdr *)buf)->len = (uint32_t)fb->len;
	ck_assert_int_eq(frame_parse(buf, fb->len, -1, &f, &why), 0);
	fbuf_free(fb);
	return f;
}

START_TEST(trace_set_matches_and_expires)
{
	static uint8_t	buf[FRAME_MAX];
	struct fbuf	*fb = fbuf_new(MSG_CTL_TRACE, 0);
	struct frame	 f;
	uint64_t	 later = (uint64_t)time(NULL) + 600;

	fbuf_add_u16(fb, 4);
	fbuf_add_str(fb, "@Traced.test");
	fbuf_add_u64(fb, later);
	fbuf_add_str(fb, "someone@else.test");
	fbuf_add_u64(fb, later);
	fbuf_add_str(fb, "ABCDEF0123");
	fbuf_add_u64(fb, later);
	fbuf_add_str(fb, "@expired.test");
	fbuf_add_u64(fb, 1);
	f = parse(fb, buf);
	ck_assert(trace_frame(&f));
	ck_assert_uint_eq(trace_count(), 3);
	ck_assert(trace_wants(NULL, "traced.TEST", NULL));
	ck_assert(trace_wants(NULL, NULL, "x@traced.test"));
	ck_assert(trace_wants(NULL, NULL, "SOMEONE@else.test"));
	ck_assert(!trace_wants(NULL, NULL, "other@else.test"));
	ck_assert(trace_wants("ABCDEF0123", NULL, NULL));
	ck_assert(!trace_wants("ABCDEF0124", "expired.test", "a@expired.test"));
	ck_assert(!trace_selector_ok("@"));
	ck_assert(!trace_selector_ok("a b"));
	ck_assert(!trace_selector_ok("@a@b"));
	ck_assert(!trace_selector_ok(""));
	/* no client trace yet; an address trace is active */
	ck_assert(!trace_wants_client("127.0.0.2"));
	ck_assert(trace_any_address());
}
END_TEST

START_TEST(trace_client_selectors)
{
	static uint8_t	buf[FRAME_MAX];
	struct fbuf	*fb = fbuf_new(MSG_CTL_TRACE, 0);
	struct frame	 f;
	uint64_t	 later = (uint64_t)time(NULL) + 600;

	ck_assert(trace_selector_ok("client:127.0.0.2"));
	ck_assert(trace_selector_ok("client:::1"));
	ck_assert(trace_selector_ok("client:2001:db8::1"));
	ck_assert(!trace_selector_ok("client:"));
	ck_assert(!trace_selector_ok("client:300.1.1.1"));
	ck_assert(!trace_selector_ok("client:example.org"));
	ck_assert(!trace_selector_ok("client:10.0.0.0/8"));
	fbuf_add_u16(fb, 2);
	fbuf_add_str(fb, "client:127.0.0.2");
	fbuf_add_u64(fb, later);
	fbuf_add_str(fb, "client:2001:db8:0::1");
	fbuf_add_u64(fb, later);
	f = parse(fb, buf);
	ck_assert(trace_frame(&f));
	ck_assert(trace_wants_client("127.0.0.2"));
	ck_assert(!trace_wants_client("127.0.0.1"));
	/* compared as addresses, not strings */
	ck_assert(trace_wants_client("2001:db8::1"));
	ck_assert(!trace_wants_client("2001:db8::2"));
	ck_assert(!trace_wants_client("garbage"));
	/* a client trace matches no mail, domain or address */
	ck_assert(!trace_wants("client:127.0.0.2", "127.0.0.2", "x@127.0.0.2"));
	ck_assert(!trace_any_address());
}
END_TEST

START_TEST(histogram_buckets)
{
	unsigned b = MET_H_DNS;

	metric_observe(b, 0.0001);	/* first bucket */
	metric_observe(b, 0.007);	/* le 0.01 */
	metric_observe(b, 1000);	/* beyond the last: only sum and count */
	ck_assert_uint_eq(metric_get(b + 0), 1);
	ck_assert_uint_eq(metric_get(b + 2), 1);
	ck_assert_uint_eq(metric_get(b + METRICS_HIST_BUCKETS + 1), 3);
	ck_assert_uint_eq(metric_get(b + METRICS_HIST_BUCKETS), 1000007);
}
END_TEST

/* The master's read path: a fake table of one scheduler and one agent. */
static struct master	m;
static const struct proc_desc d_sched = { PROC_SCHEDULER, "scheduler", USER_MAIL, ROOT_EMPTY,
    NULL, NULL };
static const struct proc_desc d_agent = { PROC_AGENT, "agent", USER_MAIL, ROOT_EMPTY, NULL, NULL };

static void
setup(void)
{
	log_init("test", LOG_TO_FILE, "/dev/null");
	m.nchildren = 2;
	m.children[0].desc = &d_sched;
	m.children[1].desc = &d_agent;
	m.children[0].m = m.children[1].m = &m;
	m.children[0].pid = m.children[1].pid = 0;	/* never signalled */
}

enum bad { B_OK, B_ZERO, B_MANY, B_CTRL, B_PRIO, B_LONG };

static int
log_frame(enum bad how)
{
	static uint8_t	 buf[FRAME_MAX];
	struct fbuf	*fb = fbuf_new(MSG_LOG_LINES, 0);
	struct frame	 f;
	char		 big[LOG_LINE_MAX + 10];
	unsigned	 n = how == B_ZERO ? 0 : how == B_MANY ? LOG_BATCH_MAX + 1 : 2;

	fbuf_add_u16(fb, (uint16_t)n);
	for (unsigned i = 0; i < n; i++) {
		fbuf_add_u8(fb, how == B_PRIO ? 8 : 6);
		if (how == B_LONG) {
			memset(big, 'x', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			fbuf_add_str(fb, big);
		} else
			fbuf_add_str(fb, how == B_CTRL ? "forged\nline" : "a line");
	}
	f = parse(fb, buf);
	return master_child_frame(&m.children[1], &f);
}

START_TEST(master_refuses_malformed_log_frames)
{
	ck_assert_int_eq(log_frame(B_OK), 0);
	ck_assert_int_eq(log_frame(B_ZERO), -1);
	ck_assert_int_eq(log_frame(B_MANY), -1);
	ck_assert_int_eq(log_frame(B_CTRL), -1);
	ck_assert_int_eq(log_frame(B_PRIO), -1);
	ck_assert_int_eq(log_frame(B_LONG), -1);
}
END_TEST

START_TEST(master_refuses_malformed_metric_frames)
{
	static uint8_t	 buf[FRAME_MAX];
	struct fbuf	*fb;
	struct frame	 f;

	fb = fbuf_new(MSG_METRICS_PUSH, 0);
	fbuf_add_u16(fb, 1);
	fbuf_add_u16(fb, MET_DSN_SENT);
	fbuf_add_u64(fb, 5);
	f = parse(fb, buf);
	ck_assert_int_eq(master_child_frame(&m.children[0], &f), 0);
	ck_assert_uint_eq(metrics_total(MET_DSN_SENT), 0);	/* pid 0: not running */

	fb = fbuf_new(MSG_METRICS_PUSH, 0);
	fbuf_add_u16(fb, 1);
	fbuf_add_u16(fb, MET_MAX);
	fbuf_add_u64(fb, 5);
	f = parse(fb, buf);
	ck_assert_int_eq(master_child_frame(&m.children[0], &f), -1);

	/* Destinations: from the scheduler only, and only domain characters. */
	fb = fbuf_new(MSG_METRICS_DEST, 0);
	fbuf_add_u16(fb, 1);
	fbuf_add_str(fb, "dest.test");
	fbuf_add_u64(fb, 1);
	fbuf_add_u64(fb, 2);
	fbuf_add_u64(fb, 3);
	f = parse(fb, buf);
	ck_assert_int_eq(master_child_frame(&m.children[1], &f), -1);
	fb = fbuf_new(MSG_METRICS_DEST, 0);
	fbuf_add_u16(fb, 1);
	fbuf_add_str(fb, "bad\"} 1\nx{");
	fbuf_add_u64(fb, 1);
	fbuf_add_u64(fb, 2);
	fbuf_add_u64(fb, 3);
	f = parse(fb, buf);
	ck_assert_int_eq(master_child_frame(&m.children[0], &f), -1);
}
END_TEST

/* A flooding child: after its burst its lines are dropped, counted and reported. */
START_TEST(master_bounds_a_flooding_child)
{
	static uint8_t	 buf[FRAME_MAX];
	char		 path[] = "/tmp/test_obs_flood.XXXXXX";
	struct fbuf	*fb;
	struct frame	 f;
	FILE		*fp;
	char		 line[4096];
	unsigned	 written = 0, reported = 0;
	int		 fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	log_init("test", LOG_TO_FILE, path);
	m.children[1].pid = 0;
	for (unsigned k = 0; k < 2000; k++) {
		fb = fbuf_new(MSG_LOG_LINES, 0);
		fbuf_add_u16(fb, LOG_BATCH_MAX);
		for (unsigned i = 0; i < LOG_BATCH_MAX; i++) {
			fbuf_add_u8(fb, 6);
			fbuf_add_str(fb, "flood");
		}
		f = parse(fb, buf);
		ck_assert_int_eq(master_child_frame(&m.children[1], &f), 0);
	}
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strstr(line, ": flood\n") != NULL)
			written++;
		else if (strstr(line, "lines of this process dropped") != NULL)
			reported++;
	}
	fclose(fp);
	unlink(path);
	/* 128,000 sent in well under a second: the burst and a little refill got through. */
	ck_assert_uint_ge(written, 60000);
	ck_assert_uint_lt(written, 2000 * LOG_BATCH_MAX);
	ck_assert_uint_ge(reported, 1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("obs");
	TCase	*tc = tcase_create("obs");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, json_splits_a_recipient_line);
	tcase_add_test(tc, json_plain_text_stays_a_message);
	tcase_add_test(tc, fields_split_a_recipient_line_all_or_none);
	tcase_add_test(tc, json_escapes_and_cuts_whole);
	tcase_add_test(tc, trace_set_matches_and_expires);
	tcase_add_test(tc, trace_client_selectors);
	tcase_add_test(tc, histogram_buckets);
	tcase_add_test(tc, master_refuses_malformed_log_frames);
	tcase_add_test(tc, master_refuses_malformed_metric_frames);
	tcase_add_test(tc, master_bounds_a_flooding_child);
	suite_add_tcase(s, tc);
	return check_run(s);
}
