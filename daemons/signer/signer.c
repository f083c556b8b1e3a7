/* SPDX-License-Identifier: ISC */
/*
 * signer.c - the DKIM signer process: entry point (signer_main, called by
 * the child prologue in shared/proc.c once it runs as the mail user in the
 * empty chroot), the master's key frames and the queue manager's requests.
 *
 * A request is answered at once and in order: signing is CPU work of a
 * millisecond or two (rsa-2048) or tens of microseconds (ed25519), plus one
 * pass over the content, so one process without threads keeps up with the
 * queue manager's commit rate. A malformed frame closes that link.
 *
 * The link to the queue manager is the signer's only work: when the one in
 * use closes (the qmgr died, or one side refused a frame) the signer stays
 * up, tells the master (proc_link_down) and adopts the new link the master
 * sends, as every other role does with its peers; the qmgr asks again what
 * was unanswered.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "chan.h"
#include "daemons.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "queue_file.h"
#include "signer.h"

struct signer {
	struct proc_ctx	*ctx;
	struct chan	*qmgr;
	bool		 stopping;
};

static int
qmgr_cb(struct chan *c, struct frame *f, void *arg)
{
	struct signer *s = arg;
	struct buf out = { NULL, 0, 0 };
	struct fbuf *fb;
	char id[QUEUE_ID_MAX], detail[1024];
	uint64_t off, len;
	int status;

	if (f == NULL) {
		/* Gone or cut off: the master links the qmgr again (or a new
		 * one after its restart), which asks again. A replaced link was
		 * settled when its successor came: not reported. */
		if (s->qmgr == c) {
			s->qmgr = NULL;
			if (!s->stopping)
				proc_link_down(s->ctx, PROC_QMGR, 0);
		}
		return 0;
	}
	if (f->hdr.type != MSG_SIGN_REQUEST || !frame_get_str(f, id, sizeof(id)) ||
	    !frame_get_u64(f, &off) || !frame_get_u64(f, &len) || !frame_end(f) || f->fd == -1 ||
	    !qf_id_valid(id)) {
		log_warnx("qmgr sent a malformed %s frame", msg_name(f->hdr.type));
		return -1;
	}
	status = sign_content(f->fd, off, len, &out, detail, sizeof(detail));
	if (status == SIGN_OK && !qf_dkim_valid(out.p)) {
		snprintf(detail, sizeof(detail), "the signature fields (%zu bytes) do not fit the "
		    "queue record", out.len);
		status = SIGN_FAIL;
	}
	fb = fbuf_new(MSG_SIGN_RESULT, f->hdr.reqid);
	fbuf_add_str(fb, id);
	fbuf_add_u8(fb, (uint8_t)status);
	fbuf_add_str(fb, status == SIGN_OK ? out.p : "");
	fbuf_add_str(fb, detail);
	chan_send(c, fb);
	buf_free(&out);
	return 0;
}

static void
signer_on_peer(struct proc_ctx *ctx, int kind, unsigned instance, int fd)
{
	struct signer *s = ctx->arg;

	if (kind != PROC_QMGR) {
		log_warnx("unexpected link to %s", proc_kind_name(kind));
		close(fd);
		return;
	}
	/* A new queue manager: the old link is dead or dying. */
	if (s->qmgr != NULL) {
		struct chan *old = s->qmgr;
		s->qmgr = NULL;
		chan_close(old, "replaced by a new qmgr link");
	}
	s->qmgr = chan_new(ctx->base, fd, "qmgr", qmgr_cb, s);
}

static int
signer_master_cb(struct proc_ctx *ctx, struct frame *f)
{
	switch (f->hdr.type) {
	case MSG_SIGNER_KEY:
		return keys_frame(f);
	case MSG_SIGNER_KEYS_END:
		return keys_end(f);
	}
	return -1;
}

static void
signer_on_shutdown(struct proc_ctx *ctx)
{
	struct signer *s = ctx->arg;

	s->stopping = true;
	/* Nothing secret stays mapped once the loop ends. */
	keys_clear();
	proc_exit_loop(ctx);
}

void
signer_main(struct proc_ctx *ctx)
{
	struct signer *s;

	if (sodium_init() < 0)
		fatalx("sodium_init");
	keys_init();
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	s->ctx = ctx;
	ctx->arg = s;
	ctx->on_peer = signer_on_peer;
	ctx->on_master = signer_master_cb;
	ctx->on_shutdown = signer_on_shutdown;
	log_info("started");
}
