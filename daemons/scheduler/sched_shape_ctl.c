/* SPDX-License-Identifier: ISC */
/*
 * sched_shape_ctl.c - "outpostctl destinations": the scheduler's traffic
 * shaping state, answered to a CONTROL_REQUEST the master routes here
 * (master_control.c): one line per budget that is configured, busy or
 * throttled, then the addresses in the unreachable-host cache. Run by the
 * scheduler from its ctx->on_master hook.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "proc.h"
#include "scheduler.h"

#define CTL_LINES_MAX	2000	/* lines of one answer; the rest is counted */

static void
ctl_line(struct proc_ctx *ctx, uint32_t reqid, const char *line)
{
	struct fbuf	*fb = fbuf_new(MSG_CONTROL_REPLY, reqid);

	fbuf_add_str(fb, line);
	chan_send(ctx->master, fb);
}

static void
ctl_end(struct proc_ctx *ctx, uint32_t reqid, uint8_t status, const char *msg)
{
	struct fbuf	*fb = fbuf_new(MSG_CONTROL_END, reqid);

	fbuf_add_u8(fb, status);
	fbuf_add_str(fb, msg);
	chan_send(ctx->master, fb);
}

/* Waiting transactions of the destinations that count against sh. */
static unsigned
shape_waiting(struct sched *s, const struct shape *sh)
{
	struct dest	*d;
	unsigned	 n = 0;

	RB_FOREACH(d, sched_dest_tree, &s->dests)
		if (d->shape == sh)
			n += d->nwaiting;
	return n;
}

static void
ctl_destinations(struct sched *s, uint32_t reqid)
{
	struct proc_ctx		*ctx = s->ctx;
	struct shape		*sh;
	struct dead_addr	*e;
	char			 line[1024], rate[64], pause[64], ip[INET6_ADDRSTRLEN];
	uint64_t		 now = sched_mono_ms();
	unsigned		 n = 0, more = 0;

	RB_FOREACH(sh, sched_shape_tree, &s->shapes) {
		if (!sh->configured && sh->active == 0 && sh->aimd.cur == sh->aimd.max &&
		    sh->paused_until <= now)
			continue;	/* an idle destination on the defaults */
		if (n >= CTL_LINES_MAX) {
			more++;
			continue;
		}
		if (sh->rate > 0 && s->shared != NULL)
			snprintf(rate, sizeof(rate), "%u/%us(%s)", sh->rate, sh->period,
			    sched_redis_up(s) ? "shared" : "local share");
		else if (sh->rate > 0)
			snprintf(rate, sizeof(rate), "%u/%us", sh->rate, sh->period);
		else
			strlcpy(rate, "-", sizeof(rate));
		if (sh->paused_until > now)
			snprintf(pause, sizeof(pause), " paused=%llums",
			    (unsigned long long)(sh->paused_until - now));
		else
			pause[0] = '\0';
		snprintf(line, sizeof(line), "%s concurrency=%u/%u active=%u waiting=%u rate=%s "
		    "throttled=%llu%s", sh->name, sh->aimd.cur, sh->aimd.max, sh->active,
		    shape_waiting(s, sh), rate, (unsigned long long)sh->throttles, pause);
		ctl_line(ctx, reqid, line);
		n++;
	}
	RB_FOREACH(e, sched_dead_tree, &s->deads) {
		if (e->until <= now && e->probe == NULL)
			continue;
		if (n >= CTL_LINES_MAX) {
			more++;
			continue;
		}
		inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, ip, sizeof(ip));
		if (e->until > now)
			snprintf(line, sizeof(line), "unreachable [%s]:%u for %llus more", ip,
			    e->port, (unsigned long long)((e->until - now + 999) / 1000));
		else {
			struct dest	*d;
			unsigned	 w = 0;

			TAILQ_FOREACH(d, &e->waiters, probe_entry)
				w++;
			snprintf(line, sizeof(line), "probing [%s]:%u (not answered yet), "
			    "%u destinations waiting", ip, e->port, w);
		}
		ctl_line(ctx, reqid, line);
		n++;
	}
	if (more > 0) {
		snprintf(line, sizeof(line), "... and %u more", more);
		ctl_line(ctx, reqid, line);
	}
	ctl_end(ctx, reqid, 0, "");
}

int
sched_shape_control(struct proc_ctx *ctx, struct frame *f)
{
	struct sched	*s = ctx->arg;
	char		 cmd[64], arg[256];
	uint32_t	 argc, i;

	if (!frame_get_str(f, cmd, sizeof(cmd)) || !frame_get_u32(f, &argc) || argc > 64)
		return -1;
	for (i = 0; i < argc; i++)
		if (!frame_get_str(f, arg, sizeof(arg)))
			return -1;
	if (!frame_end(f))
		return -1;
	if (strcmp(cmd, "destinations") == 0)
		ctl_destinations(s, f->hdr.reqid);
	else
		ctl_end(ctx, f->hdr.reqid, 1, "unknown command");
	return 0;
}
