/* SPDX-License-Identifier: ISC */
/*
 * qmgr_msgid.c - the Message-ID of a mail just queued, for the queue
 * manager's "queue active" log line (admins grep the log by it, as they do
 * Postfix's cleanup line). Run by the queue manager; called by
 * qmgr_submit.c once a commit is durable, and by the unit tests.
 *
 * Only the first QMGR_MSGID_SCAN bytes of the content are read: the header
 * section of any real mail fits, and the cost stays one pread per mail.
 */
#include <string.h>
#include <unistd.h>

#include "mailhdr.h"
#include "qmgr.h"

#define QMGR_MSGID_SCAN		(64 * 1024)

void
qmgr_msgid_from_header(const char *msg, size_t len, char *out, size_t outlen)
{
	struct mailhdr_field	 f;
	size_t			 hdrlen, body, off = 0, i, n = 0;
	unsigned char		 c;

	if (outlen == 0)
		return;
	out[0] = '\0';
	hdrlen = mailhdr_section(msg, len, &body);
	while (mailhdr_next(msg, hdrlen, &off, &f)) {
		if (!mailhdr_is(&f, "Message-ID"))
			continue;
		/*
		 * Folding and spaces go, as do the angle brackets (the log
		 * line adds its own); anything unprintable would forge log
		 * lines, so it goes too.
		 */
		for (i = 0; i < f.valuelen && n + 1 < outlen; i++) {
			c = (unsigned char)f.value[i];
			if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
				continue;
			out[n++] = (char)c;
		}
		out[n] = '\0';
		return;
	}
}

void
qmgr_msgid_from_file(int fd, uint64_t off, uint64_t len, char *out, size_t outlen)
{
	static char	buf[QMGR_MSGID_SCAN];
	ssize_t		got;

	if (outlen > 0)
		out[0] = '\0';
	if (len > sizeof(buf))
		len = sizeof(buf);
	if (fd == -1 || (got = pread(fd, buf, len, (off_t)off)) <= 0)
		return;
	qmgr_msgid_from_header(buf, (size_t)got, out, outlen);
}
