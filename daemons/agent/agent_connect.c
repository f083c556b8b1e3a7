/*
 * agent_connect.c - what the delivery agent tells the scheduler about
 * connection attempts: an address whose connect timed out (no answer at
 * all, the SYN dropped) is reported with MSG_AGENT_UNREACHABLE, so that the
 * scheduler's unreachable-host cache spares other mails the same wait.
 * A refusal is not reported: it costs nothing to find out again. Called by
 * agent_session.c when a connect times out.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <string.h>

#include "chan.h"
#include "frame.h"
#include "log.h"
#include "msg.h"

#include "agent.h"

void
agent_connect_timed_out(const struct agent_job *j, const struct agent_addr *a,
    const char *why)
{
	struct fbuf	*fb;
	uint8_t		 raw[16], family;

	if (j == NULL || j->link == NULL || j->link->dead)
		return;
	memset(raw, 0, sizeof(raw));
	if (a->ss.ss_family == AF_INET) {
		family = 4;
		memcpy(raw, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
	} else if (a->ss.ss_family == AF_INET6) {
		family = 6;
		memcpy(raw, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
	} else
		return;
	fb = fbuf_new(MSG_AGENT_UNREACHABLE, j->reqid);
	fbuf_add_u8(fb, family);
	fbuf_add_raw(fb, raw, sizeof(raw));
	fbuf_add_u16(fb, a->port);
	fbuf_add_str(fb, why);
	if (chan_send(j->link->chan, fb) == -1)
		log_debug("%s: cannot report an unreachable address", j->id);
}
