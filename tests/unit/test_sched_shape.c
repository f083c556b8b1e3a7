/* SPDX-License-Identifier: ISC */
/*
 * test_sched_shape.c - traffic shaping's pure parts: the token bucket holds
 * its rate, AIMD halves once per generation and grows back one per window,
 * throttling replies and suggested waits are read, and [destinations] lines
 * parse, refuse mistakes and match domains, subdomains and MX patterns.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_dest.h"
#include "scheduler/sched_shape.h"
#include "check_run.h"

START_TEST(bucket_holds_its_rate)
{
	struct tbucket	tb;
	uint64_t	t = 1000000, end;
	unsigned	sent = 0;

	/* 60 per 10 s = 6/s, burst 6: over 60 s at most 360 + 6. */
	tbucket_init(&tb, 60, 10, t);
	for (end = t + 60000; t < end; t += 7)
		if (tbucket_take(&tb, t))
			sent++;
	ck_assert_uint_ge(sent, 360);
	ck_assert_uint_le(sent, 366);
}
END_TEST

START_TEST(bucket_wait_says_when)
{
	struct tbucket	tb;

	tbucket_init(&tb, 1, 2, 5000);	/* one per 2 s */
	ck_assert(tbucket_take(&tb, 5000));
	ck_assert(!tbucket_take(&tb, 5000));
	ck_assert_uint_eq(tbucket_wait(&tb, 5000), 2000);
	ck_assert_uint_eq(tbucket_wait(&tb, 6500), 500);
	ck_assert_uint_eq(tbucket_wait(&tb, 7000), 0);
	ck_assert(tbucket_take(&tb, 7000));
	/* slow rates refill smoothly: 3 per hour */
	tbucket_init(&tb, 3, 3600, 0);
	ck_assert(tbucket_take(&tb, 0));
	ck_assert_uint_eq(tbucket_wait(&tb, 0), 1200000);
	/* no limit */
	tbucket_init(&tb, 0, 1, 0);
	for (int i = 0; i < 1000; i++)
		ck_assert(tbucket_take(&tb, 0));
	ck_assert_uint_eq(tbucket_wait(&tb, 0), 0);
}
END_TEST

START_TEST(bucket_idle_does_not_hoard)
{
	struct tbucket	tb;
	unsigned	n = 0;

	tbucket_init(&tb, 600, 60, 0);	/* 10/s */
	while (tbucket_take(&tb, 3600000))	/* after an idle hour */
		n++;
	ck_assert_uint_eq(n, 10);
}
END_TEST

START_TEST(aimd_halves_once_per_generation)
{
	struct aimd	a;
	uint32_t	g;
	int		i;

	aimd_init(&a, 20);
	ck_assert_uint_eq(a.cur, 20);
	g = a.gen;
	ck_assert(aimd_throttled(&a, g));
	ck_assert_uint_eq(a.cur, 10);
	/* the other transactions of that generation: the same congestion */
	for (i = 0; i < 10; i++)
		ck_assert(!aimd_throttled(&a, g));
	ck_assert_uint_eq(a.cur, 10);
	ck_assert(aimd_throttled(&a, a.gen));
	ck_assert_uint_eq(a.cur, 5);
	ck_assert(aimd_throttled(&a, a.gen));
	ck_assert(aimd_throttled(&a, a.gen));
	ck_assert_uint_eq(a.cur, 1);
	ck_assert(!aimd_throttled(&a, a.gen));	/* never below 1 */
	ck_assert_uint_eq(a.cur, 1);
}
END_TEST

START_TEST(aimd_grows_one_per_window)
{
	struct aimd	a;
	int		i, changes = 0;

	aimd_init(&a, 8);
	aimd_throttled(&a, a.gen);
	aimd_throttled(&a, a.gen);
	ck_assert_uint_eq(a.cur, 2);
	ck_assert(!aimd_success(&a));
	ck_assert(aimd_success(&a));	/* a window of 2 */
	ck_assert_uint_eq(a.cur, 3);
	for (i = 0; i < 100; i++)
		changes += aimd_success(&a);
	ck_assert_uint_eq(a.cur, 8);		/* capped at max */
	ck_assert_int_eq(changes, 5);
	/* a throttle mid-window restarts the count */
	aimd_throttled(&a, a.gen);
	ck_assert_uint_eq(a.cur, 4);
}
END_TEST

START_TEST(replies_that_throttle)
{
	static const struct {
		uint16_t	 code;
		const char	*dsn, *text;
		bool		 throttles, unreachable;
	} t[] = {
		{ 421, "4.7.0", "Too many concurrent SMTP connections", true, false },
		{ 421, "", "mx.example closing connection", true, false },
		{ 451, "4.7.1", "Rate limit exceeded, try again later", true, false },
		{ 450, "4.7.28", "Our system has detected an unusual rate of unsolicited mail", true, false },
		{ 452, "4.7.0", "too many messages in this connection", true, false },
		{ 450, "4.7.1", "Recipient address rejected: greylisted", false, false },
		{ 451, "4.3.0", "Too many recipients, try again", false, false },
		{ 550, "5.7.1", "rate limit", false, false },
		{ 250, "2.0.0", "ok", false, false },
		{ 0, "4.4.1", "connect to mx[192.0.2.1]:25: Connection timed out", false, true },
		{ 0, "4.4.2", "lost connection with mx while reading the greeting", false, false },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(shape_reply_throttles(t[i].code, t[i].dsn, t[i].text) ==
		    t[i].throttles, "case %zu: %s", i, t[i].text);
		ck_assert_msg(shape_reply_unreachable(t[i].code, t[i].dsn) == t[i].unreachable,
		    "case %zu", i);
	}
}
END_TEST

START_TEST(suggested_waits)
{
	ck_assert_uint_eq(shape_reply_wait("4.7.0 Try again in 30 seconds", 3600), 30);
	ck_assert_uint_eq(shape_reply_wait("please retry after 2 minutes", 3600), 120);
	ck_assert_uint_eq(shape_reply_wait("retry in 5m", 3600), 300);
	ck_assert_uint_eq(shape_reply_wait("try again in 3 hours", 3600), 3600);
	ck_assert_uint_eq(shape_reply_wait("wait 99999999999999999999 s", 3600), 3600);
	ck_assert_uint_eq(shape_reply_wait("Too many connections", 3600), 0);
	ck_assert_uint_eq(shape_reply_wait("try again in a while", 3600), 0);
	ck_assert_uint_eq(shape_reply_wait(NULL, 3600), 0);
}
END_TEST

static int
parse(struct config *c, const char *text, char *err, size_t errlen)
{
	return config_parse(c, "test.conf", text, strlen(text), err, errlen);
}

START_TEST(destinations_parse)
{
	struct config		 c;
	char			 err[2048], line[1024];
	const struct dest_conf	*d;

	ck_assert_msg(parse(&c,
	    "destination_concurrency = 7\n"
	    "[destinations]\n"
	    "example.com = concurrency=5 rate=100/m\n"
	    ".example.org = rate=3/h rcpt_per_transaction=10 reuse=no\n"
	    "mx:*.google.com = concurrency=10 rate=20/10s mails_per_connection=50 reuse=yes\n"
	    "Example.NET = rate=2/s\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.ndestinations, 4);
	d = config_dest_domain(&c, "EXAMPLE.com.");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->concurrency, 5);
	ck_assert_uint_eq(d->rate, 100);
	ck_assert_uint_eq(d->rate_period, 60);
	ck_assert_int_eq(d->reuse, -1);
	ck_assert_ptr_null(config_dest_domain(&c, "sub.example.com"));
	ck_assert_ptr_null(config_dest_domain(&c, "example.org"));	/* only subdomains */
	d = config_dest_domain(&c, "a.b.example.org");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->rate_period, 3600);
	ck_assert_uint_eq(d->rcpt_per_transaction, 10);
	ck_assert_int_eq(d->reuse, 0);
	ck_assert_ptr_nonnull(config_dest_domain(&c, "example.net"));
	d = config_dest_mx(&c, "ALT1.gmail-smtp-in.l.Google.com.");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->rate, 20);
	ck_assert_uint_eq(d->rate_period, 10);
	ck_assert_uint_eq(d->mails_per_connection, 50);
	ck_assert_int_eq(d->reuse, 1);
	ck_assert_ptr_null(config_dest_mx(&c, "google.com"));
	ck_assert_ptr_null(config_dest_mx(&c, "mx.example.com"));
	ck_assert_ptr_null(config_dest_domain(&c, "alt1.google.com"));	/* mx: is for MX hosts */
	config_dest_format(d, line, sizeof(line));
	ck_assert_str_eq(line, "mx:*.google.com = concurrency=10 rate=20/10s "
	    "mails_per_connection=50 reuse=yes");
	config_free(&c);
}
END_TEST

START_TEST(destinations_mistakes)
{
	static const char *const bad[] = {
		"[destinations]\nexample.com =\n",
		"[destinations]\nexample.com = concurrency=0\n",
		"[destinations]\nexample.com = concurrency=five\n",
		"[destinations]\nexample.com = concurrency=2 concurrency=3\n",
		"[destinations]\nexample.com = rate=10\n",
		"[destinations]\nexample.com = rate=10/fortnight\n",
		"[destinations]\nexample.com = rate=0/s\n",
		"[destinations]\nexample.com = reuse=maybe\n",
		"[destinations]\nexample.com = speed=fast\n",
		"[destinations]\nexample.com = concurrency\n",
		"[destinations]\nexa mple.com = concurrency=1\n",
		"[destinations]\n*.example.com = concurrency=1\n",
		"[destinations]\nmx: = concurrency=1\n",
		"[destinations]\nexample.com = rate=1/s\nEXAMPLE.COM = rate=2/s\n",
		"[destinations]\nmx:*.x.com = rate=1/s\nmx:*.x.com = rate=2/s\n",
	};
	struct config	c;
	char		err[2048];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(&c, bad[i], err, sizeof(err)) == -1, "accepted: %s", bad[i]);
		ck_assert_msg(strstr(err, "test.conf:") != NULL, "%s", err);
		config_free(&c);
	}
	/* the same pattern as a domain and as subdomains are two lines */
	ck_assert(parse(&c, "[destinations]\nx.com = rate=1/s\n.x.com = rate=2/s\n", err,
	    sizeof(err)) == 0);
	config_free(&c);
}
END_TEST

START_TEST(shared_limits_checked)
{
	struct config	c;
	char		err[2048];

	ck_assert_msg(parse(&c, "shared_limits = redis://127.0.0.1:6380\nnode_count = 3\n",
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.shared_limits, "redis://127.0.0.1:6380");
	ck_assert_uint_eq(c.node_count, 3);
	ck_assert_uint_eq(c.unreachable_cache_time, 60);
	ck_assert_uint_eq(c.happy_eyeballs_delay, 250);
	config_free(&c);
	ck_assert(parse(&c, "shared_limits = http://127.0.0.1\n", err, sizeof(err)) == -1);
	ck_assert(strstr(err, "redis://") != NULL);
	config_free(&c);
	ck_assert(parse(&c, "node_count = 0\n", err, sizeof(err)) == -1);
	config_free(&c);
}
END_TEST

static Suite *
shape_suite(void)
{
	Suite	*s = suite_create("sched_shape");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, bucket_holds_its_rate);
	tcase_add_test(tc, bucket_wait_says_when);
	tcase_add_test(tc, bucket_idle_does_not_hoard);
	tcase_add_test(tc, aimd_halves_once_per_generation);
	tcase_add_test(tc, aimd_grows_one_per_window);
	tcase_add_test(tc, replies_that_throttle);
	tcase_add_test(tc, suggested_waits);
	tcase_add_test(tc, destinations_parse);
	tcase_add_test(tc, destinations_mistakes);
	tcase_add_test(tc, shared_limits_checked);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(shape_suite());
}
