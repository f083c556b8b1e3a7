/* SPDX-License-Identifier: ISC */
/*
 * sendmail.c - outpost-sendmail: the sendmail-compatible command through
 * which local programs submit mail (installable as /usr/sbin/sendmail;
 * run as "mailq" it lists the queue).
 *
 * Runs as the invoking user, no privileges: it reads the config only to
 * find the queue manager's public socket, reads the message, prepares it
 * (shared/localmail.c) and hands it over (sendmail_submit.c). The exit
 * status is 0 only once the queue manager said the mail is durably queued.
 *
 * Choices where sendmail implementations differ (as Postfix does):
 *  - with -t, recipients given as arguments are added to those of the
 *    header, not removed from them;
 *  - Bcc: and Resent-Bcc: are removed from the content with or without -t;
 *  - From:, Date: and Message-ID: are added when missing;
 *  - an unqualified address ("root") gets "@myorigin" (helo_name unless
 *    configured); the queue manager then applies the aliases table.
 *
 * Other modes: -bs (sendmail_smtp.c), -bv and -bt (sendmail_route.c), -bi
 * and the name "newaliases" (sendmail_aliases.c), -bp and "mailq".
 */
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "aliases.h"
#include "config.h"
#include "config_locate.h"
#include "localmail.h"
#include "msg.h"
#include "sendmail.h"
#include "version.h"
#include "xmalloc.h"

enum mode { MODE_DELIVER, MODE_LIST, MODE_SMTP, MODE_VERIFY, MODE_ALIASES };

struct opts {
	enum mode	 mode;
	bool		 extract;	/* -t */
	bool		 ignore_dots;	/* -i, -oi */
	bool		 verbose;	/* -v */
	bool		 eightbit;	/* -B8BITMIME */
	const char	*sender;	/* -f, -r */
	const char	*fullname;	/* -F */
	const char	*config;	/* -C */
};

static void __attribute__((noreturn))
usage(const char *fmt, const char *arg)
{
	if (fmt != NULL) {
		fprintf(stderr, "%s: ", getprogname());
		fprintf(stderr, fmt, arg);
		fputc('\n', stderr);
	}
	fprintf(stderr, "usage: %s [-iotv] [-B type] [-C config] [-F fullname] [-f sender] "
	    "[-o option] [--] [recipient ...]\n"
	    "       %s -bp   (or mailq): list the queue\n"
	    "       %s -bs   SMTP on standard input and output\n"
	    "       %s -bv address ...   (or -bt): where mail to each address would go\n"
	    "       %s -bi   (or newaliases): check the aliases file and reload it\n",
	    getprogname(), getprogname(), getprogname(), getprogname(), getprogname());
	exit(EX_USAGE);
}

/*
 * -V and -h take an argument in sendmail (envelope id, hop count), so only
 * alone do they ask for the version or the help; --version and --help
 * mean that anywhere before the recipients.
 */
static void
version_or_help(int argc, char **argv)
{
	bool	version = false, help = false;

	if (argc == 2) {
		version = strcmp(argv[1], "-V") == 0;
		help = strcmp(argv[1], "-h") == 0;
	}
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		version |= strcmp(argv[i], "--version") == 0;
		help |= strcmp(argv[i], "--help") == 0;
	}
	if (version) {
		version_print(stdout, getprogname());
		exit(EX_OK);
	}
	if (help) {
		printf("usage: %s [-iotv] [-B type] [-C config] [-F fullname] [-f sender] "
		    "[-o option] [--] [recipient ...]\n"
		    "       %s -bp   (or mailq): list the queue\n"
		    "       %s -V | --version, -h | --help\n"
		    "The configuration is -C config, else $OUTPOST_CONFIG, else "
		    SYSCONFDIR "/outpost.conf.\n", getprogname(), getprogname(), getprogname());
		exit(EX_OK);
	}
}

static void __attribute__((noreturn))
not_supported(const char *what)
{
	fprintf(stderr, "%s: %s is not supported by outpost\n", getprogname(), what);
	exit(EX_USAGE);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	char what[64];
	int ch;

	/* '+': options end at the first recipient, as in sendmail; ':' first
	 * so that a missing argument is told apart from an unknown option. */
	opterr = 0;
	while ((ch = getopt(argc, argv, "+:B:b:C:F:f:Gh:iL:mN:nO:o:p:q::R:r:tUV:vX:")) != -1) {
		switch (ch) {
		case 'B':
			o->eightbit = strcasecmp(optarg, "8BITMIME") == 0;
			break;
		case 'b':
			if (strcmp(optarg, "m") == 0)
				o->mode = MODE_DELIVER;
			else if (strcmp(optarg, "p") == 0)
				o->mode = MODE_LIST;
			else if (strcmp(optarg, "s") == 0)
				o->mode = MODE_SMTP;
			else if (strcmp(optarg, "v") == 0 || strcmp(optarg, "t") == 0)
				o->mode = MODE_VERIFY;
			else if (strcmp(optarg, "i") == 0)
				o->mode = MODE_ALIASES;
			else {
				snprintf(what, sizeof(what), "-b%s", optarg);
				not_supported(what);
			}
			break;
		case 'C':
			o->config = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'f':
		case 'r':
			o->sender = optarg;
			break;
		case 'i':
			o->ignore_dots = true;
			break;
		case 'o':
			/* -oi is -i; -odi, -odb, -oem, -oXxx...: accepted, no effect. */
			if (strcmp(optarg, "i") == 0)
				o->ignore_dots = true;
			break;
		case 'q':
			not_supported("-q (queue runs: the scheduler re-sends on its own)");
		case 't':
			o->extract = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'G': case 'h': case 'L': case 'm': case 'N': case 'n': case 'O':
		case 'p': case 'R': case 'U': case 'V': case 'X':
			break;	/* sendmail options with no meaning here */
		case ':':
			snprintf(what, sizeof(what), "%c", optopt);
			usage("option -%s needs an argument", what);
		default:
			if (optopt > 0x20 && optopt < 0x7f) {
				snprintf(what, sizeof(what), "%c", optopt);
				usage("unknown option -%s", what);
			}
			usage("unknown option", NULL);
		}
	}
}

/* Read the message: up to EOF, or (without -i) a line holding a lone dot. */
static char *
read_message(FILE *in, bool ignore_dots, uint64_t max, size_t *lenp)
{
	char *buf = NULL, *line = NULL;
	size_t len = 0, cap = 0, linecap = 0;
	ssize_t n;

	while ((n = getdelim(&line, &linecap, '\n', in)) > 0) {
		if (!ignore_dots && localmail_is_dot_line(line, n))
			break;
		if (len + n > max) {
			fprintf(stderr, "%s: message too large (more than %llu bytes)\n",
			    getprogname(), (unsigned long long)max);
			exit(EX_DATAERR);
		}
		if (len + n + 1 > cap) {
			cap = cap ? cap : 65536;
			while (len + n + 1 > cap)
				cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		memcpy(buf + len, line, n);
		len += n;
	}
	if (ferror(in)) {
		fprintf(stderr, "%s: reading the message: %s\n", getprogname(), strerror(errno));
		exit(EX_IOERR);
	}
	free(line);
	if (buf == NULL)
		buf = xstrdup("");
	*lenp = len;
	return buf;
}

void
sm_myorigin(const struct config *c, char *out, size_t outlen)
{
	char err[1200];

	if (aliases_myorigin(c->myorigin, c->helo_name, out, outlen, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: warning: %s; using helo_name %s\n", getprogname(), err,
		    c->helo_name);
		strlcpy(out, c->helo_name, outlen);
	}
}

static bool
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct config conf;
	struct rcptlist rl = { NULL, 0, 0 };
	struct localmail_opts lo;
	struct submission sub;
	struct passwd *pw;
	char errbuf[4096], sockpath[1100], sender[ADDR_MAX], from_addr[ADDR_MAX];
	char login[256], unique[25], origin[256];
	unsigned char rnd[8];
	const char *base, *path;
	char *msg = NULL, *content = NULL;
	size_t len, clen;
	int i, rc;

	base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	setprogname(base);
	memset(&o, 0, sizeof(o));
	if (strcmp(base, "mailq") == 0)
		o.mode = MODE_LIST;
	else if (strcmp(base, "newaliases") == 0)
		o.mode = MODE_ALIASES;
	version_or_help(argc, argv);
	parse_opts(argc, argv, &o);

	path = config_locate(o.config);
	if (config_load(&conf, path, errbuf, sizeof(errbuf)) == -1) {
		/*
		 * Only the state directory matters here. An edit with a mistake,
		 * not yet reloaded, must not stop local programs from sending:
		 * warn and go on when the directory is still known.
		 */
		fprintf(stderr, "%s: %s configuration %s:\n%s", getprogname(),
		    conf.state_directory[0] == '/' ? "warning: errors in" : "", path, errbuf);
		if (errbuf[0] != '\0' && errbuf[strlen(errbuf) - 1] != '\n')
			fputc('\n', stderr);
		if (conf.state_directory[0] != '/') {
			config_free(&conf);
			return EX_CONFIG;
		}
	}
	config_submit_socket(&conf, sockpath, sizeof(sockpath));

	if (o.mode == MODE_LIST) {
		if (optind < argc)
			usage("-bp takes no recipients", NULL);
		rc = submit_list_queue(sockpath);
		goto done;
	}
	if (o.mode == MODE_SMTP || o.mode == MODE_ALIASES) {
		if (optind < argc)
			usage(o.mode == MODE_SMTP ? "-bs takes no recipients" :
			    "-bi takes no arguments", NULL);
		rc = o.mode == MODE_SMTP ? smtp_stdio(&conf, sockpath) : newaliases(&conf);
		goto done;
	}
	if (o.mode == MODE_VERIFY) {
		rc = route_addresses(&conf, argc - optind, argv + optind);
		goto done;
	}
	sm_myorigin(&conf, origin, sizeof(origin));

	if (sodium_init() == -1) {
		fprintf(stderr, "%s: libsodium failed to start\n", getprogname());
		rc = EX_SOFTWARE;
		goto done;
	}
	if ((pw = getpwuid(getuid())) == NULL) {
		fprintf(stderr, "%s: who are you? user id %u has no passwd entry\n",
		    getprogname(), (unsigned)getuid());
		rc = EX_NOUSER;
		goto done;
	}
	strlcpy(login, pw->pw_name, sizeof(login));
	if (localmail_sender(login, origin, from_addr, sizeof(from_addr), errbuf,
	    sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s: cannot make an address of login \"%s\": %s\n",
		    getprogname(), login, errbuf);
		rc = EX_NOUSER;
		goto done;
	}
	if (o.sender != NULL) {
		if (localmail_sender(o.sender, origin, sender, sizeof(sender), errbuf,
		    sizeof(errbuf)) == -1) {
			fprintf(stderr, "%s: %s\n", getprogname(), errbuf);
			rc = EX_DATAERR;
			goto done;
		}
	} else
		strlcpy(sender, from_addr, sizeof(sender));
	/* A From: added for the null sender names the user, not "<>". */
	if (sender[0] != '\0')
		strlcpy(from_addr, sender, sizeof(from_addr));

	for (i = optind; i < argc; i++)
		if (rcptlist_add_list(&rl, argv[i], strlen(argv[i]), origin, errbuf,
		    sizeof(errbuf)) == -1) {
			fprintf(stderr, "%s: recipient: %s\n", getprogname(), errbuf);
			rc = EX_DATAERR;
			goto done;
		}
	if (rl.n == 0 && !o.extract)
		usage("no recipients given (name them, or use -t to take them from the header)",
		    NULL);

	msg = read_message(stdin, o.ignore_dots, conf.max_message_size, &len);

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(unique, sizeof(unique), rnd, sizeof(rnd));
	memset(&lo, 0, sizeof(lo));
	lo.extract = o.extract;
	lo.from_addr = from_addr;
	lo.fullname = o.fullname != NULL ? o.fullname : getenv("NAME");
	if (lo.fullname == NULL && pw->pw_gecos != NULL) {
		/* The first comma-separated part of the GECOS field. */
		pw->pw_gecos[strcspn(pw->pw_gecos, ",")] = '\0';
		lo.fullname = pw->pw_gecos;
	}
	lo.helo_name = origin;
	lo.unique = unique;
	lo.now = time(NULL);
	if (localmail_prepare(&lo, msg, len, &rl, &content, &clen, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s: %s\n", getprogname(), errbuf);
		rc = EX_DATAERR;
		goto done;
	}
	if (rl.n == 0) {
		fprintf(stderr, "%s: no recipient addresses found in the message header\n",
		    getprogname());
		rc = EX_DATAERR;
		goto done;
	}
	if (clen > conf.max_message_size) {
		fprintf(stderr, "%s: message too large (%zu bytes, at most %llu)\n",
		    getprogname(), clen, (unsigned long long)conf.max_message_size);
		rc = EX_DATAERR;
		goto done;
	}

	memset(&sub, 0, sizeof(sub));
	sub.sender = sender;
	sub.rcpt = rl.v;
	sub.nrcpt = rl.n;
	sub.data = content;
	sub.len = clen;
	sub.verbose = o.verbose;
	if (o.eightbit || has_8bit(content, clen))
		sub.flags |= SUBMIT_F_8BITMIME;
	rc = submit_mail(sockpath, &sub);

done:
	free(content);
	free(msg);
	rcptlist_free(&rl);
	config_free(&conf);
	return rc;
}
