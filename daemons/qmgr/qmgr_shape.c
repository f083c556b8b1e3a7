/*
 * qmgr_shape.c - the queue's shape: counts by state for the metrics (a
 * collector run before each push, metrics.h). Run by the queue manager.
 *
 * A mail is held when marked so; otherwise active while a recipient was
 * never tried, else deferred. Recipients count by their own state (those of
 * a held mail as held); final ones are not in the queue any more.
 */
#include "metrics.h"
#include "msg.h"
#include "qmgr.h"

void
qmgr_metrics_collect(void *arg)
{
	struct qmgr	*q = arg;
	struct qmail	*m;
	uint64_t	 mails[3] = { 0 }, rcpts[3] = { 0 };	/* active, deferred, held */

	RB_FOREACH(m, qmail_tree, &q->mails) {
		unsigned pending = 0, deferred = 0;
		for (uint32_t i = 0; i < m->nrcpt; i++) {
			if (m->rcpt[i].state == RCPT_PENDING)
				pending++;
			else if (m->rcpt[i].state == RCPT_DEFERRED)
				deferred++;
		}
		if (m->flags & MAIL_F_HELD) {
			mails[2]++;
			rcpts[2] += pending + deferred;
		} else {
			mails[pending > 0 ? 0 : 1]++;
			rcpts[0] += pending;
			rcpts[1] += deferred;
		}
	}
	metric_set(MET_Q_MAILS_ACTIVE, mails[0]);
	metric_set(MET_Q_MAILS_DEFERRED, mails[1]);
	metric_set(MET_Q_MAILS_HELD, mails[2]);
	metric_set(MET_Q_RCPTS_ACTIVE, rcpts[0]);
	metric_set(MET_Q_RCPTS_DEFERRED, rcpts[1]);
	metric_set(MET_Q_RCPTS_HELD, rcpts[2]);
}
