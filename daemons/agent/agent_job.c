/* SPDX-License-Identifier: ISC */
/*
 * agent_job.c - one delivery job of the SMTP agent: decoding the scheduler's
 * MSG_AGENT_DELIVER (msg.h) and encoding the MSG_AGENT_RESULT that answers it,
 * plus the per-recipient result bookkeeping the session updates.
 *
 * The frame comes from the scheduler but is checked like any input: bounded
 * counts and strings, known address families, and addresses that could
 * inject SMTP commands (CR, LF, other controls, angle brackets) are never
 * put on the wire: such a recipient fails permanently on its own.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "msg.h"
#include "trace.h"
#include "xmalloc.h"

#include "agent.h"

bool
agent_addr_safe(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

/* Host names only feed logs and the relay string: keep them printable. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '[' || *s == ']')
			*s = '?';
}

/* msg.h "addr": u8 family (4 or 6), then 16 bytes; the port follows it. */
static bool
get_addr(struct frame *f, struct agent_addr *a)
{
	uint8_t			 fam, b[16];
	uint16_t		 port;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	if (!frame_get_u8(f, &fam) || !frame_get_raw(f, b, sizeof(b)))
		return false;
	if (!frame_get_u16(f, &port) || port == 0)
		return false;
	memset(&a->ss, 0, sizeof(a->ss));
	if (fam == 4) {
		sin = (struct sockaddr_in *)&a->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, b, 4);
		a->sslen = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, a->ip, sizeof(a->ip));
	} else if (fam == 6) {
		sin6 = (struct sockaddr_in6 *)&a->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, b, 16);
		a->sslen = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, a->ip, sizeof(a->ip));
	} else
		return false;
	a->port = port;
	return true;
}

int
job_decode(struct frame *f, struct agent_job **out, const char **why)
{
	struct agent_job	*j;
	uint16_t		 naddr, nrcpt;
	unsigned		 i;

	*out = NULL;
	if (f->fd == -1) {
		*why = "no content descriptor attached";
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->fd = -1;
	j->reqid = f->hdr.reqid;
	*why = "malformed payload";
	if (!frame_get_str(f, j->id, sizeof(j->id)) ||
	    !frame_get_strdup(f, &j->sender, ADDR_MAX) ||
	    !frame_get_u64(f, &j->off) || !frame_get_u64(f, &j->len) ||
	    !frame_get_u32(f, &j->flags) ||
	    !frame_get_str(f, j->dest, sizeof(j->dest)) ||
	    !frame_get_u16(f, &naddr))
		goto bad;
	if (naddr > AGENT_MAX_ADDRS) {
		*why = "too many addresses";
		goto bad;
	}
	sanitize(j->id);
	sanitize(j->dest);
	j->addrs = xcalloc(naddr ? naddr : 1, sizeof(*j->addrs));
	j->naddr = naddr;
	for (i = 0; i < naddr; i++) {
		if (!get_addr(f, &j->addrs[i]) ||
		    !frame_get_str(f, j->addrs[i].host, sizeof(j->addrs[i].host))) {
			*why = "bad destination address";
			goto bad;
		}
		sanitize(j->addrs[i].host);
		if (j->addrs[i].host[0] == '\0')
			strlcpy(j->addrs[i].host, j->addrs[i].ip, sizeof(j->addrs[i].host));
	}
	if (!frame_get_u16(f, &nrcpt))
		goto bad;
	if (nrcpt > AGENT_MAX_RCPTS) {
		*why = "too many recipients";
		goto bad;
	}
	j->rcpts = xcalloc(nrcpt ? nrcpt : 1, sizeof(*j->rcpts));
	j->nrcpt = nrcpt;
	for (i = 0; i < nrcpt; i++) {
		if (!frame_get_u32(f, &j->rcpts[i].index) ||
		    !frame_get_strdup(f, &j->rcpts[i].addr, ADDR_MAX))
			goto bad;
		j->rcpts[i].valid = j->rcpts[i].addr[0] != '\0' &&
		    agent_addr_safe(j->rcpts[i].addr);
	}
	if (!frame_get_u8(f, &j->tls) || !frame_get_u8(f, &j->dflags) ||
	    !frame_get_strdup(f, &j->dkim, DKIM_FIELDS_MAX))
		goto bad;
	if (!dane_job_decode(f, j, why) ||
	    !frame_get_u32(f, &j->mails_per_conn) || !frame_get_u8(f, &j->reuse) ||
	    (j->reuse > 1 && j->reuse != DELIVER_REUSE_DEFAULT) || !frame_end(f))
		goto bad;
	if (j->tls > TLS_VERIFY) {
		*why = "unknown TLS policy";
		goto bad;
	}
	if (j->len > UINT64_MAX - j->off) {
		*why = "content range overflows";
		goto bad;
	}
	j->sender_valid = agent_addr_safe(j->sender);
	strlcpy(j->relay, "none", sizeof(j->relay));
	j->traced = trace_wants(j->id, j->dest, NULL);
	for (i = 0; i < j->nrcpt && !j->traced; i++)
		j->traced = trace_wants(NULL, NULL, j->rcpts[i].addr);
	j->fd = f->fd;
	f->fd = -1;
	*out = j;
	return 0;
bad:
	f->bad = true;
	job_free(j);
	return -1;
}

/*
 * A large mail's content, mapped read-only, so that the DATA encoder reads
 * it where the page cache holds it: one copy in user space (the encoder's
 * output) instead of two (pread into a buffer, then the encoder). NULL: use
 * pread. The file is never cut below its content while a descriptor of it
 * is open (the queue manager reuses a file only under a write lease, and
 * recovery cuts only state records after the trailer), and a file shorter
 * than announced is left to the pread path, which reports it.
 */
const uint8_t *
job_map(struct agent_job *j)
{
	struct stat	 sb;
	void		*p;

	if (j->map != NULL || j->map_tried)
		return j->map;
	j->map_tried = true;
	if (j->len < AGENT_MAP_MIN || j->off > SIZE_MAX - j->len ||
	    fstat(j->fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size < j->off + j->len)
		return NULL;
	/* POPULATE: the pages in one go, not a fault per page */
	p = mmap(NULL, j->off + j->len, PROT_READ, MAP_SHARED | MAP_POPULATE, j->fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	j->map = p;
	j->maplen = j->off + j->len;
	return j->map;
}

void
job_free(struct agent_job *j)
{
	unsigned	 i;

	if (j == NULL)
		return;
	if (j->map != NULL)
		munmap((void *)j->map, j->maplen);
	if (j->fd != -1)
		close(j->fd);
	for (i = 0; i < j->nrcpt && j->rcpts != NULL; i++)
		free(j->rcpts[i].addr);
	free(j->rcpts);
	free(j->addrs);
	free(j->sender);
	free(j->dkim);
	free(j);
}

int
job_class_of(int code)
{
	switch (code / 100) {
	case 2:
		return DELIVERY_OK;
	case 5:
		return DELIVERY_PERMFAIL;
	default:
		return DELIVERY_TEMPFAIL;
	}
}

const char *
delivery_class_name(int class)
{
	switch (class) {
	case DELIVERY_OK:
		return "sent";
	case DELIVERY_PERMFAIL:
		return "bounced";
	default:
		return "deferred";
	}
}

void
job_rcpt_set(struct agent_rcpt *r, int class, uint16_t code, const char *dsn, const char *reply)
{
	r->final = true;
	r->accepted = false;
	r->class = class;
	r->code = code;
	strlcpy(r->dsn, dsn != NULL ? dsn : "", sizeof(r->dsn));
	strlcpy(r->reply, reply != NULL ? reply : "", sizeof(r->reply));
}

void
job_fail_rest(struct agent_job *j, int class, uint16_t code, const char *dsn, const char *text)
{
	unsigned	 i;

	for (i = 0; i < j->nrcpt; i++)
		if (!j->rcpts[i].final)
			job_rcpt_set(&j->rcpts[i], class, code, dsn, text);
}

void
job_finish_accepted(struct agent_job *j, int class, uint16_t code, const char *dsn,
    const char *text)
{
	unsigned	 i;

	for (i = 0; i < j->nrcpt; i++)
		if (j->rcpts[i].accepted)
			job_rcpt_set(&j->rcpts[i], class, code, dsn, text);
}

/*
 * The answer must fit one frame whatever the server said: each recipient's
 * reply is cut to an equal share of the room left after the fixed fields.
 */
struct fbuf *
job_result(const struct agent_job *j)
{
	struct fbuf	*fb;
	size_t		 fixed, share, n;
	unsigned	 i;
	char		 reply[REPLY_MAX];

	fb = fbuf_new(MSG_AGENT_RESULT, j->reqid);
	fbuf_add_str(fb, j->relay);
	fbuf_add_u16(fb, j->nrcpt);
	/* u32 index, u8 class, u16 code, str dsn (4 + len), str reply (4 + len) */
	fixed = 4 + 1 + 2 + 4 + DSN_MAX + 4;
	n = fbuf_room(fb);
	share = j->nrcpt > 0 ? n / j->nrcpt : n;
	share = share > fixed ? share - fixed : 0;
	if (share > sizeof(reply) - 1)
		share = sizeof(reply) - 1;
	for (i = 0; i < j->nrcpt; i++) {
		const struct agent_rcpt *r = &j->rcpts[i];

		strlcpy(reply, r->reply, share + 1);
		fbuf_add_u32(fb, r->index);
		fbuf_add_u8(fb, r->final ? r->class : DELIVERY_TEMPFAIL);
		fbuf_add_u16(fb, r->code);
		fbuf_add_str(fb, r->dsn[0] != '\0' ? r->dsn : "4.0.0");
		fbuf_add_str(fb, reply);
	}
	return fb;
}
