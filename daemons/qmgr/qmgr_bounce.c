/*
 * qmgr_bounce.c - the minimal bounce (non-delivery notice) of the queue
 * manager, written when recipients of a mail become FAILED.
 *
 * Plain text, sender <>, MAIL_F_BOUNCE, one line per failed recipient with
 * the last reply. Never for a mail whose sender is <> or that is itself a
 * bounce (the caller checks). The bounce is written like a submission
 * (qmgr_submit.c) and committed before the FAILED state is recorded, so a
 * crash can at worst repeat a bounce, never lose one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "qmgr.h"
#include "xmalloc.h"

static int
add(struct qtx *tx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
add(struct qtx *tx, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	for (r = 0; r < n; r++)
		if ((unsigned char)s[r] & 0x80)
			tx->env.flags |= MAIL_F_8BIT;
	r = spool_tx_write(tx, s, n);
	free(s);
	return r;
}

struct qtx *
bounce_make(struct qmgr *q, const struct qmail *m, const uint32_t *failed, unsigned n)
{
	const char *host = q->conf->helo_name[0] ? q->conf->helo_name : "localhost";
	char now[64], arrived[64];
	struct qtx *tx;
	unsigned i;
	int r = 0;

	tx = xcalloc(1, sizeof(*tx));
	tx->fd = -1;
	tx->env.arrival = time(NULL);
	tx->env.uid = q->myuid;
	tx->env.flags = MAIL_F_BOUNCE;
	xasprintf(&tx->env.origin, "bounce of %s", m->id);
	tx->env.sender = xstrdup("");
	tx->env.nrcpt = tx->rcpt_cap = 1;
	tx->env.rcpt = xcalloc(1, sizeof(char *));
	tx->env.rcpt[0] = xstrdup(m->sender);
	qf_id_new(tx->env.id);
	if (spool_tx_create(q, tx) == -1)
		goto fail;

	rfc5322_date(tx->env.arrival, now, sizeof(now));
	rfc5322_date(m->arrival, arrived, sizeof(arrived));
	r |= add(tx, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host);
	r |= add(tx, "To: <%s>\r\n", m->sender);
	r |= add(tx, "Subject: Undelivered Mail Returned to Sender\r\n");
	r |= add(tx, "Date: %s\r\n", now);
	r |= add(tx, "Message-ID: <%s@%s>\r\n", tx->env.id, host);
	r |= add(tx, "Auto-Submitted: auto-replied\r\n");
	r |= add(tx, "MIME-Version: 1.0\r\n");
	r |= add(tx, "Content-Type: text/plain; charset=utf-8\r\n");
	r |= add(tx, "Content-Transfer-Encoding: 8bit\r\n\r\n");
	r |= add(tx, "This is the mail system at host %s.\r\n\r\n", host);
	r |= add(tx, "Your message (queue id %s, received %s) could not be\r\n"
	    "delivered to the following recipients:\r\n\r\n", m->id, arrived);
	for (i = 0; i < n && r == 0; i++) {
		const struct qrcpt *rc = &m->rcpt[failed[i]];

		r |= add(tx, "<%s>: %s\r\n", rc->addr,
		    rc->reply != NULL ? rc->reply : "delivery failed permanently");
	}
	if (r != 0)
		goto fail;
	return tx;

fail:
	log_warnx("%s: cannot write the bounce", m->id);
	spool_tx_discard(q, tx);
	qtx_free(tx);
	return NULL;
}
