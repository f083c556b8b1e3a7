/* SPDX-License-Identifier: ISC */
/*
 * master_journal.c - the master's log lines to systemd's journal with
 * structured fields (log = journal, or log = syslog when stderr is the
 * journal's stream). The only code that links libsystemd; the children
 * never log themselves (log.h), so none of them needs it.
 *
 * Each line goes with sd_journal_sendv(): MESSAGE (the text as it is),
 * PRIORITY, SYSLOG_FACILITY (mail), SYSLOG_IDENTIFIER "outpost/ROLE" and
 * SYSLOG_PID the process the master knows the sender by - so journalctl's
 * short output reads like Postfix's lines and pflogsumm reads it - and
 * OUTPOST_ROLE, OUTPOST_INSTANCE (agents), OUTPOST_PID. A recipient line's
 * fields (log_fields.h) come as the JSON form's keys in upper case:
 * QUEUE_ID, TO, RELAY, DELAY, DELAYS, DSN, STATUS, REPLY, ATTEMPTS...
 * The text is a child's: it is only ever a field's value, never a name.
 */
#include <sys/stat.h>
#include <sys/uio.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "log_fields.h"
#include "master.h"

#define FIXED_FIELDS	8

static bool
journal_line(int prio, const char *role, int instance, long pid, const char *text)
{
	struct iovec		 iov[FIXED_FIELDS + LOG_FIELDS_MAX];
	struct log_field	 f[LOG_FIELDS_MAX];
	char			 fixed[FIXED_FIELDS - 1][96], *msg, *vals, *p;
	size_t			 nf, nv = 0, i, k, len = strlen(text);
	int			 n = 0;

	/* "MESSAGE=" + text, then every field's "KEY=" + value: at most twice the text. */
	if ((msg = malloc(sizeof("MESSAGE=") + len)) == NULL ||
	    (vals = malloc(2 * len + LOG_FIELDS_MAX * (LOG_FIELD_KEY + 1) + 1)) == NULL) {
		free(msg);
		return false;
	}
	memcpy(msg, "MESSAGE=", 8);
	memcpy(msg + 8, text, len);
	iov[nv].iov_base = msg;
	iov[nv++].iov_len = 8 + len;
	snprintf(fixed[n], sizeof(fixed[n]), "PRIORITY=%d", prio & 7);
	n++;
	snprintf(fixed[n], sizeof(fixed[n]), "SYSLOG_FACILITY=%d", 2);	/* LOG_MAIL >> 3 */
	n++;
	snprintf(fixed[n], sizeof(fixed[n]), "SYSLOG_IDENTIFIER=outpost/%s", role);
	n++;
	snprintf(fixed[n], sizeof(fixed[n]), "SYSLOG_PID=%ld", pid);
	n++;
	snprintf(fixed[n], sizeof(fixed[n]), "OUTPOST_ROLE=%s", role);
	n++;
	snprintf(fixed[n], sizeof(fixed[n]), "OUTPOST_PID=%ld", pid);
	n++;
	if (instance >= 0) {
		snprintf(fixed[n], sizeof(fixed[n]), "OUTPOST_INSTANCE=%d", instance);
		n++;
	}
	for (int j = 0; j < n; j++) {
		iov[nv].iov_base = fixed[j];
		iov[nv++].iov_len = strlen(fixed[j]);
	}
	nf = log_fields(text, f, LOG_FIELDS_MAX);
	p = vals;
	for (i = 0; i < nf; i++) {
		char *start = p;
		for (k = 0; f[i].key[k] != '\0'; k++)
			*p++ = (char)toupper((unsigned char)f[i].key[k]);
		*p++ = '=';
		memcpy(p, f[i].val, f[i].len);
		p += f[i].len;
		iov[nv].iov_base = start;
		iov[nv++].iov_len = p - start;
	}
	n = sd_journal_sendv(iov, (int)nv);
	free(msg);
	free(vals);
	return n >= 0;
}

/*
 * Is stderr the journal's stream? systemd sets JOURNAL_STREAM to the
 * "device:inode" of the socket it gives a service as stdout/stderr
 * (systemd.exec(5)); a descriptor redirected since does not match.
 */
bool
journal_is_stderr(void)
{
	const char	*env = getenv("JOURNAL_STREAM");
	struct stat	 st;
	uintmax_t	 dev, ino;

	if (env == NULL || sscanf(env, "%ju:%ju", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void
journal_init(void)
{
	log_set_journal(journal_line);
}
