/* SPDX-License-Identifier: ISC */
/*
 * qmgr_tlsrpt.c - TLS report mails (RFC 8460 5.3), queued by the queue
 * manager as it queues its bounces: the sts process made the report (gzip'd
 * JSON) and names the rua address; it reaches here through the scheduler
 * (MSG_TLSRPT_MAIL). The mail itself is written here, not taken whole from
 * the sts process: a multipart/report; report-type="tlsrpt" with a short
 * text part and the report as application/tlsrpt+gzip in base64, the
 * TLS-Report-Domain and TLS-Report-Submitter fields and the subject the RFC
 * asks for. Every field that reaches a header is checked first; the sender
 * and the submitter come from the queue manager's own config, so that the
 * network-facing sts process chooses neither. Report mails are bounded to
 * TLSRPT_MAILS_PER_HOUR. It then goes like any mail: DKIM signing when
 * configured, the scheduler, an agent.
 * The answer (MSG_TLSRPT_QUEUED) goes back the way the request came.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chan.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "maildate.h"
#include "qmgr.h"
#include "tlsrpt.h"
#include "xmalloc.h"

#define B64_LINE	76
/* RFC 8460 wants one report a day per domain and rua: 1,024 domains x 4 rua at most */
#define TLSRPT_MAILS_PER_HOUR	4096

static uint64_t	 window_start;
static unsigned	 window_mails;

/* Printable ASCII without the characters that would end or fold a field. */
static bool
field_ok(const char *s, bool address)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
		if (address && strchr("<>()[],;:\\\"", *s) != NULL)
			return false;
		if (!address && strchr("<>\"\\", *s) != NULL)
			return false;
	}
	return true;
}

static void
answer(struct qmgr *q, uint32_t reqid, bool ok, const char *what)
{
	struct fbuf	*fb;

	if (q->sched == NULL || q->sched->chan == NULL)
		return;
	fb = fbuf_new(MSG_TLSRPT_QUEUED, reqid);
	fbuf_add_u8(fb, ok);
	fbuf_add_str(fb, what);
	chan_send(q->sched->chan, fb);
}

static void
committed(struct qmgr *q, struct qtx *tx, bool ok)
{
	uint32_t	*reqid = tx->done_arg;

	answer(q, *reqid, ok, ok ? tx->env.id : "the queue file could not be committed");
	free(reqid);
}

static int
write_mail(struct qtx *tx, const char *from, const char *rcpt, const char *domain,
    const char *sub, const char *id, const char *file, const uint8_t *gz, size_t gzlen)
{
	char		 now[64], boundary[64], *b64, line[B64_LINE + 1];
	size_t		 b64len, off;
	int		 r = 0;

	maildate(tx->env.arrival, now, sizeof(now));
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%s", tx->env.id);
	r |= spool_tx_printf(tx, "From: <%s>\r\n", from);
	r |= spool_tx_printf(tx, "To: <%s>\r\n", rcpt);
	r |= spool_tx_printf(tx, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", domain,
	    sub, id);
	r |= spool_tx_printf(tx, "Date: %s\r\n", now);
	r |= spool_tx_printf(tx, "Message-ID: <%s.tlsrpt@%s>\r\n", tx->env.id, sub);
	r |= spool_tx_printf(tx, "TLS-Report-Domain: %s\r\n", domain);
	r |= spool_tx_printf(tx, "TLS-Report-Submitter: %s\r\n", sub);
	r |= spool_tx_printf(tx, "Auto-Submitted: auto-generated\r\n");
	r |= spool_tx_printf(tx, "MIME-Version: 1.0\r\n");
	r |= spool_tx_printf(tx, "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", boundary);
	r |= spool_tx_printf(tx, "This is a multipart message in MIME format.\r\n\r\n");
	r |= spool_tx_printf(tx, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	r |= spool_tx_printf(tx, "This is an aggregate TLS report (RFC 8460) from %s\r\n"
	    "for the policy domain %s.\r\n\r\n", sub, domain);
	r |= spool_tx_printf(tx, "--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n\tfilename=\"%s\"\r\n\r\n", boundary, file);
	b64len = sodium_base64_encoded_len(gzlen, sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64len);
	sodium_bin2base64(b64, b64len, gz, gzlen, sodium_base64_VARIANT_ORIGINAL);
	for (off = 0; b64[off] != '\0' && r == 0; off += B64_LINE) {
		strlcpy(line, b64 + off, sizeof(line));
		r |= spool_tx_printf(tx, "%s\r\n", line);
		if (strlen(line) < B64_LINE)
			break;
	}
	free(b64);
	r |= spool_tx_printf(tx, "\r\n--%s--\r\n", boundary);
	return r;
}

int
tlsrpt_mail(struct qlink *l, struct frame *f)
{
	struct qmgr	*q = l->q;
	char		 from[256], rcpt[512], domain[HOSTNAME_MAX], sub[256], id[600];
	char		 file[600];
	uint64_t	 now = (uint64_t)time(NULL);
	uint64_t	 start, end;
	const uint8_t	*gz;
	size_t		 gzlen;
	struct qtx	*tx;
	uint32_t	*reqid;

	if (!frame_get_str(f, rcpt, sizeof(rcpt)) || !frame_get_str(f, domain, sizeof(domain)) ||
	    !frame_get_str(f, id, sizeof(id)) || !frame_get_str(f, file, sizeof(file)) ||
	    !frame_get_u64(f, &start) || !frame_get_u64(f, &end) ||
	    !frame_get_bytes(f, &gz, &gzlen) || !frame_end(f)) {
		log_warnx("scheduler: malformed %s", msg_name(f->hdr.type));
		return -1;
	}
	tlsrpt_submitter(q->conf->tlsrpt_submitter, q->conf->helo_name, sub, sizeof(sub));
	tlsrpt_postmaster(q->conf->tlsrpt_from, sub, from, sizeof(from));
	if (now / 3600 != window_start) {
		window_start = now / 3600;
		window_mails = 0;
	}
	if (++window_mails > TLSRPT_MAILS_PER_HOUR) {
		if (window_mails == TLSRPT_MAILS_PER_HOUR + 1)
			log_warnx("more than %u TLS report mails asked for in an hour: the rest "
			    "of this hour's are refused", TLSRPT_MAILS_PER_HOUR);
		answer(q, f->hdr.reqid, false, "too many report mails this hour");
		return 0;
	}
	if (!field_ok(from, true) || !field_ok(rcpt, true) || strchr(rcpt, '@') == NULL ||
	    !field_ok(domain, true) || !field_ok(sub, true) || !field_ok(id, false) ||
	    !field_ok(file, false) || gzlen == 0) {
		log_warnx("TLS report for %s refused: a field is not fit for a header", domain);
		answer(q, f->hdr.reqid, false, "a field is not fit for a mail header");
		return 0;
	}
	if (!space_ok(q, 0)) {
		answer(q, f->hdr.reqid, false, "the queue is low on space");
		return 0;
	}
	tx = xcalloc(1, sizeof(*tx));
	tx->fd = -1;
	tx->env.arrival = now;
	tx->env.uid = q->myuid;
	xasprintf(&tx->env.origin, "TLS report %s", id);
	tx->env.sender = xstrdup(from);
	tx->env.nrcpt = 1;
	tx->env.rcpt = xcalloc(1, sizeof(char *));
	tx->env.rcpt[0] = xstrdup(rcpt);
	tx->rcpt_cap = 1;
	qf_id_new(tx->env.id);
	if (spool_tx_create(q, tx) == -1 ||
	    write_mail(tx, from, rcpt, domain, sub, id, file, gz, gzlen) != 0) {
		log_warnx("TLS report %s: cannot write the mail", id);
		spool_tx_discard(q, tx);
		qtx_free(tx);
		answer(q, f->hdr.reqid, false, "the queue file could not be written");
		return 0;
	}
	reqid = xmalloc(sizeof(*reqid));
	*reqid = f->hdr.reqid;
	tx->done = committed;
	tx->done_arg = reqid;
	log_info("%s: TLS report %s for %s to <%s>", tx->env.id, id, domain, rcpt);
	submit_commit(q, tx);
	return 0;
}
