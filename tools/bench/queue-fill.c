/* SPDX-License-Identifier: ISC */
/*
 * queue-fill.c - outpost-queue-fill: write COUNT mails straight into the
 * queue/ directory of a stopped outpost, in the real queue file format
 * (shared/queue_file.c encodes every byte), for the restart tests and the
 * large-queue benchmark (tools/bench). Injecting a million mails over SMTP
 * takes many minutes; this takes seconds and yields the same files.
 *
 *   outpost-queue-fill [-D seconds] [-d domains -z zone] [-r nrcpt] [-s size]
 *       [-u uid:gid] QUEUE_DIR COUNT
 *
 * QUEUE_DIR is the directory holding queue/ (state_directory/queue). Each
 * mail has sender fill@example.org, nrcpt recipients fillN-R@example.net
 * (with -d and -z: fillN-R@dK.ZONE, K = N modulo domains, so that the mails
 * spread evenly over that many destinations) and a body of about size bytes with a "Subject: fill N" header. -D
 * appends a DEFERRED state record per recipient (one attempt made, the next
 * due in that many seconds), as a queue left by a relay outage holds.
 * Files are written with fsync off (the queue is not running and nothing
 * was acknowledged); -u hands them to the queue user.
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "queue_file.h"

static void
write_all(int fd, const void *p, size_t n, const char *path)
{
	const uint8_t *b = p;
	ssize_t r;

	while (n > 0) {
		if ((r = write(fd, b, n)) <= 0)
			err(1, "write %s", path);
		b += r;
		n -= (size_t)r;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: outpost-queue-fill [-D seconds] [-d domains -z zone] [-r nrcpt] "
	    "[-s size] [-u uid:gid] queue_dir count\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *errstr, *qdir;
	char path[4096], **rcpt, *body;
	uint8_t *prefix, trailer[QF_TRAILER_LEN], hash[QF_HASH_LEN], rec[QF_STATE_SIZE];
	struct qf_chash st = { NULL };
	struct qf_envelope e;
	struct qf_state s;
	long long count, n, defer = -1, nrcpt = 1, size = 4096, uid = -1, gid = -1, ndom = 0;
	const char *zone = NULL;
	size_t plen, blen;
	uint32_t i;
	int ch, fd;
	time_t now = time(NULL);
	char *colon;

	while ((ch = getopt(argc, argv, "D:d:r:s:u:z:")) != -1) {
		switch (ch) {
		case 'D':
			defer = strtonum(optarg, 0, 86400 * 365, &errstr);
			if (errstr != NULL)
				errx(2, "-D %s: %s", optarg, errstr);
			break;
		case 'd':
			ndom = strtonum(optarg, 1, 1000000, &errstr);
			if (errstr != NULL)
				errx(2, "-d %s: %s", optarg, errstr);
			break;
		case 'z':
			if (strlen(optarg) > 200 || strchr(optarg, '@') != NULL)
				errx(2, "-z %s: not a domain", optarg);
			zone = optarg;
			break;
		case 'r':
			nrcpt = strtonum(optarg, 1, 1000, &errstr);
			if (errstr != NULL)
				errx(2, "-r %s: %s", optarg, errstr);
			break;
		case 's':
			size = strtonum(optarg, 64, 64 * 1024 * 1024, &errstr);
			if (errstr != NULL)
				errx(2, "-s %s: %s", optarg, errstr);
			break;
		case 'u':
			if ((colon = strchr(optarg, ':')) == NULL)
				usage();
			*colon++ = '\0';
			uid = strtonum(optarg, 0, UINT32_MAX - 1, &errstr);
			if (errstr == NULL)
				gid = strtonum(colon, 0, UINT32_MAX - 1, &errstr);
			if (errstr != NULL)
				errx(2, "-u: %s", errstr);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2 || (ndom > 0) != (zone != NULL))
		usage();
	qdir = argv[0];
	count = strtonum(argv[1], 1, 100000000, &errstr);
	if (errstr != NULL)
		errx(2, "count %s: %s", argv[1], errstr);
	if (sodium_init() < 0)
		errx(1, "sodium_init");

	rcpt = calloc((size_t)nrcpt, sizeof(*rcpt));
	body = malloc((size_t)size + 128);
	if (rcpt == NULL || body == NULL)
		err(1, "malloc");
	for (i = 0; i < nrcpt; i++)
		if ((rcpt[i] = malloc(256)) == NULL)
			err(1, "malloc");

	for (n = 0; n < count; n++) {
		memset(&e, 0, sizeof(e));
		qf_id_new(e.id);
		e.arrival = (uint64_t)now;
		e.uid = 0;
		e.origin = (char *)"outpost-queue-fill";
		e.sender = (char *)"fill@example.org";
		e.nrcpt = (uint32_t)nrcpt;
		e.rcpt = rcpt;
		for (i = 0; i < nrcpt; i++)
			if (zone != NULL)
				snprintf(rcpt[i], 256, "fill%lld-%u@d%lld.%s", n, i, n % ndom, zone);
			else
				snprintf(rcpt[i], 256, "fill%lld-%u@example.net", n, i);
		/* Lines of 72 characters and CRLF, as an SMTP client sends them. */
		blen = (size_t)snprintf(body, 128, "Subject: fill %lld\r\nX-Fill-Id: %s\r\n\r\n",
		    n, e.id);
		while (blen + 74 <= (size_t)size) {
			memset(body + blen, 'a' + (int)(n % 26), 72);
			memcpy(body + blen + 72, "\r\n", 2);
			blen += 74;
		}
		if ((plen = qf_prefix_encode(&e, blen, &prefix)) == 0)
			errx(1, "cannot encode an envelope");
		qf_content_hash_init(&st);
		qf_content_hash_update(&st, body, blen);
		qf_trailer_encode(prefix, plen, &st, trailer, hash);
		qf_content_hash_free(&st);

		snprintf(path, sizeof(path), "%s/queue/%s", qdir, e.id);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
			err(1, "%s", path);
		write_all(fd, prefix, plen, path);
		write_all(fd, body, blen, path);
		write_all(fd, trailer, sizeof(trailer), path);
		free(prefix);
		for (i = 0; defer >= 0 && i < nrcpt; i++) {
			memset(&s, 0, sizeof(s));
			s.index = i;
			s.state = RCPT_DEFERRED;
			s.attempts = 1;
			s.next = (uint64_t)(now + defer);
			s.when = (uint64_t)now;
			s.code = 421;
			strlcpy(s.dsn, "4.4.1", sizeof(s.dsn));
			strlcpy(s.reply, "connection refused", sizeof(s.reply));
			qf_state_encode(&s, hash, rec);
			write_all(fd, rec, sizeof(rec), path);
		}
		if (uid != -1 && fchown(fd, (uid_t)uid, (gid_t)gid) == -1)
			err(1, "chown %s", path);
		if (close(fd) == -1)
			err(1, "close %s", path);
	}
	printf("%lld mails written to %s/queue\n", count, qdir);
	for (i = 0; i < nrcpt; i++)
		free(rcpt[i]);
	free(rcpt);
	free(body);
	return 0;
}
