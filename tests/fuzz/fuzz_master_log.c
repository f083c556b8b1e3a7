/* SPDX-License-Identifier: ISC */
/*
 * fuzz_master_log.c - libFuzzer target for the master's read path of what
 * children send it besides control answers (daemons/master/master_log.c,
 * master_metrics.c): log lines and metric pushes. Any datagram is parsed as
 * a frame and, when it is one of those types, handed over as if from a
 * child of the kind the first byte names: refused or written/stored, never
 * a crash, never a write past a table. A MSG_CTL_TRACE frame goes to the
 * children's trace set parser instead.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "master/master.h"
#include "msg.h"
#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct proc_desc descs[] = {
	{ PROC_QMGR, "qmgr", USER_QUEUE, ROOT_QUEUE, NULL, NULL },
	{ PROC_SCHEDULER, "scheduler", USER_MAIL, ROOT_EMPTY, NULL, NULL },
	{ PROC_AGENT, "agent", USER_MAIL, ROOT_EMPTY, NULL, NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct master	 m;
	static uint8_t		 buf[FRAME_MAX];
	static bool		 init;
	struct frame		 f;
	const char		*why;
	struct child		*c;

	if (!init) {
		log_init("fuzz", LOG_TO_FILE, "/dev/null");
		m.nchildren = 3;
		for (unsigned i = 0; i < 3; i++) {
			m.children[i].desc = &descs[i];
			m.children[i].m = &m;
			m.children[i].pid = 0;	/* never signalled */
		}
		init = true;
	}
	if (size < 1 || size - 1 > FRAME_MAX)
		return 0;
	c = &m.children[data[0] % 3];
	memcpy(buf, data + 1, size - 1);
	if (frame_parse(buf, size - 1, -1, &f, &why) != 0)
		return 0;
	if (f.hdr.type == MSG_CTL_TRACE) {
		/* the children's end of the trace set */
		if (trace_frame(&f))
			(void)trace_wants("ABC", "example.org", "a@example.org");
		return 0;
	}
	(void)master_child_frame(c, &f);
	return 0;
}
