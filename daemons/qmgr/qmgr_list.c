/* SPDX-License-Identifier: ISC */
/*
 * qmgr_list.c - what outpostctl shows of the queue: `queue` (one line per
 * mail, or with --json one JSON object per line) and `show ID` (envelope,
 * every recipient with each attempt recorded in its queue file, then the
 * content). Run by the queue manager; started by qmgr_control.c.
 *
 * Both are streams of CONTROL_REPLY frames paced by ctl_paused(); a listing
 * resumes from the last queue id sent, so mails may come and go meanwhile.
 * A line never exceeds LINE_MAX: a mail with more recipients than fit says
 * how many were left out. Strings in JSON are escaped (quotes, backslash,
 * control characters; bytes that are not UTF-8 become U+FFFD).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "buf.h"
#include "qmgr.h"
#include "xmalloc.h"

#define LINE_MAX_LEN	(FRAME_PAYLOAD_MAX - 64)
#define LINE_ROOM	512	/* kept free for the end of a line */
#define SHOW_CHUNK	(64 * 1024)	/* content bytes per step */

/* Lines are built in a struct buf; callers stop adding near LINE_MAX_LEN. */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;		/* no overlong forms */
		else if (p[0] == 0xed)
			hi = 0x9f;		/* no surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

/* A JSON string, quotes included; NULL is null. */
static void
json_str(struct buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, len;
	char esc[8];

	if (str == NULL) {
		buf_add(b, "null", 4);
		return;
	}
	len = strlen(str);
	buf_add(b, "\"", 1);
	while (len > 0) {
		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*s;
			buf_add(b, esc, 2);
			n = 1;
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *s);
			buf_add(b, esc, 6);
			n = 1;
		} else if (*s < 0x80) {
			buf_add(b, (const char *)s, 1);
			n = 1;
		} else if ((n = utf8_len(s, len)) > 0)
			buf_add(b, (const char *)s, n);
		else {
			buf_add(b, "\\ufffd", 6);
			n = 1;
		}
		s += n;
		len -= n;
	}
	buf_add(b, "\"", 1);
}

/* "45s", "12m05s", "3h02m", "2d04h" */
static void
fmt_span(char *buf, size_t len, uint64_t t)
{
	if (t < 60)
		snprintf(buf, len, "%llus", (unsigned long long)t);
	else if (t < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(t / 60),
		    (unsigned long long)(t % 60));
	else if (t < 86400)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(t / 3600),
		    (unsigned long long)(t % 3600 / 60));
	else
		snprintf(buf, len, "%llud%02lluh", (unsigned long long)(t / 86400),
		    (unsigned long long)(t % 86400 / 3600));
}

static void
fmt_next(char *buf, size_t len, const struct qmail *m, const struct qrcpt *rc, uint64_t now)
{
	char span[32];

	if (rc->state == RCPT_DELIVERED || rc->state == RCPT_FAILED)
		strlcpy(buf, "-", len);
	else if (m->flags & MAIL_F_HELD)
		strlcpy(buf, "on hold", len);
	else if (rc->next <= now)
		strlcpy(buf, "now", len);
	else {
		fmt_span(span, sizeof(span), rc->next - now);
		snprintf(buf, len, "in %s", span);
	}
}

static void
mail_text(struct buf *b, const struct qmail *m, uint64_t now)
{
	char age[32], next[48];
	uint32_t i;

	fmt_span(age, sizeof(age), now > m->arrival ? now - m->arrival : 0);
	buf_printf(b, "%s  %llu bytes  %s  <%s>%s%s%s", m->id,
	    (unsigned long long)m->content_len, age, m->sender,
	    (m->flags & MAIL_F_HELD) ? "  HELD" : "",
	    (m->flags & MAIL_F_BOUNCE) ? "  bounce" : "",
	    (m->flags & MAIL_F_DELAY_WARNED) ? "  delay-notice-sent" : "");
	for (i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *rc = &m->rcpt[i];

		if (b->len + LINE_ROOM > LINE_MAX_LEN) {
			buf_printf(b, " | ... %u more recipients", m->nrcpt - i);
			return;
		}
		fmt_next(next, sizeof(next), m, rc, now);
		buf_printf(b, " | <%s> %s, %u attempt%s, next %s", rc->addr,
		    rcpt_state_name(rc->state), rc->attempts, rc->attempts == 1 ? "" : "s",
		    next);
		if (rc->reply != NULL)
			buf_printf(b, ", last reply: %.*s", (int)(LINE_ROOM / 2), rc->reply);
	}
}

static void
mail_json(struct buf *b, const struct qmail *m, uint64_t now)
{
	uint32_t i;
	size_t keep;

	buf_add(b, "{\"id\":", 6);
	json_str(b, m->id);
	buf_printf(b, ",\"size\":%llu,\"arrival\":%llu,\"age\":%llu,\"sender\":",
	    (unsigned long long)m->content_len, (unsigned long long)m->arrival,
	    (unsigned long long)(now > m->arrival ? now - m->arrival : 0));
	json_str(b, m->sender);
	buf_printf(b, ",\"held\":%s,\"bounce\":%s,\"delay_warned\":%s,\"recipients\":[",
	    (m->flags & MAIL_F_HELD) ? "true" : "false",
	    (m->flags & MAIL_F_BOUNCE) ? "true" : "false",
	    (m->flags & MAIL_F_DELAY_WARNED) ? "true" : "false");
	for (i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *rc = &m->rcpt[i];

		keep = b->len;
		buf_add(b, i ? ",{\"address\":" : "{\"address\":", i ? 12 : 11);
		json_str(b, rc->addr);
		buf_printf(b, ",\"state\":\"%s\",\"attempts\":%u,\"next_attempt\":%llu,"
		    "\"code\":%u,\"dsn\":", rcpt_state_name(rc->state), rc->attempts,
		    (unsigned long long)rc->next, rc->code);
		json_str(b, rc->dsn[0] ? rc->dsn : NULL);
		buf_add(b, ",\"last_reply\":", 14);
		json_str(b, rc->reply);
		buf_add(b, ",\"relay\":", 9);
		json_str(b, rc->relay);
		buf_add(b, "}", 1);
		if (b->len + 64 > LINE_MAX_LEN) {
			b->len = keep;
			b->p[b->len] = '\0';
			buf_printf(b, "],\"recipients_omitted\":%u}", m->nrcpt - i);
			return;
		}
	}
	buf_add(b, "]}", 2);
}

/* One listed mail; false when the listing pauses. */
static bool
list_one(struct qctl *c, struct qmail *m, struct buf *b, uint64_t now)
{
	if (ctl_paused(c))
		return false;
	strlcpy(c->cursor, m->id, sizeof(c->cursor));
	if (c->domain[0] != '\0' && !shape_mail_in_domain(m, c->domain, false))
		return true;
	b->len = 0;
	if (c->json)
		mail_json(b, m, now);
	else
		mail_text(b, m, now);
	ctl_reply(c, b->p);
	c->count++;
	return true;
}

/*
 * In id order over both the index and the mails waiting on disk
 * (qmgr_park.c), whose files are read one at a time as they are listed.
 */
static void
list_step(struct qctl *c)
{
	struct qmgr *q = c->q;
	struct qmail key, *m, *pm;
	struct qpark *p;
	struct buf b = { NULL, 0, 0 };
	uint64_t now = (uint64_t)time(NULL);
	char pid[QUEUE_ID_MAX];
	unsigned reads = 0;
	bool more;

	for (;;) {
		if (c->cursor[0] == '\0')
			m = RB_MIN(qmail_tree, &q->mails);
		else {
			strlcpy(key.id, c->cursor, sizeof(key.id));
			m = RB_NFIND(qmail_tree, &q->mails, &key);
			if (m != NULL && strcmp(m->id, c->cursor) == 0)
				m = RB_NEXT(qmail_tree, &q->mails, m);
		}
		if (park_next(q, c->cursor, &p))
			park_id(p, pid);
		if (p != NULL && (m == NULL || strcmp(pid, m->id) < 0)) {
			/* a slice of files per loop turn, also when @domain
			 * lets few of them through to the output */
			if (++reads > CTL_SLICE) {
				free(b.p);
				ctl_yield(c);
				return;
			}
			if ((pm = park_peek(q, p)) == NULL) {
				strlcpy(c->cursor, pid, sizeof(c->cursor));	/* gone */
				continue;
			}
			more = list_one(c, pm, &b, now);
			park_peek_free(pm);
		} else if (m != NULL)
			more = list_one(c, m, &b, now);
		else
			break;
		if (!more) {
			free(b.p);
			return;
		}
	}
	free(b.p);
	if (c->json)
		ctl_end(c, 0, "%s", "");
	else
		ctl_end(c, 0, "%u mail%s in the queue", c->count, c->count == 1 ? "" : "s");
}

void
list_start(struct qctl *c, bool json)
{
	c->json = json;
	c->cursor[0] = '\0';
	c->step = list_step;
	list_step(c);
}

/*
 * show: the content, line by line (CRLF or LF), long lines cut in pieces.
 * A NUL byte cannot travel in a string frame and is shown as "\0".
 */
static void
show_step(struct qctl *c)
{
	struct buf b = { NULL, 0, 0 };
	const uint8_t *p, *nl;
	uint64_t stop;
	size_t n, i;

	while (c->off < c->end) {
		if (ctl_paused(c)) {
			free(b.p);
			return;
		}
		stop = c->off + SHOW_CHUNK < c->end ? c->off + SHOW_CHUNK : c->end;
		while (c->off < stop) {
			p = c->map + c->off;
			n = c->end - c->off;
			if (n > LINE_MAX_LEN / 2)
				n = LINE_MAX_LEN / 2;
			nl = memchr(p, '\n', n);
			/* An empty string even for an empty line: buf_add()
			 * of nothing would leave the previous line's text. */
			b.len = 0;
			(void)buf_reserve(&b, 0);
			for (i = 0; i < (nl != NULL ? (size_t)(nl - p) : n); i++) {
				if (p[i] == '\0')
					buf_add(&b, "\\0", 2);
				else
					buf_add(&b, (const char *)p + i, 1);
			}
			if (nl != NULL && b.len > 0 && b.p[b.len - 1] == '\r')
				b.p[--b.len] = '\0';
			ctl_reply(c, b.p);
			c->off += nl != NULL ? (size_t)(nl - p) + 1 : n;
		}
	}
	free(b.p);
	free(c->map);
	c->map = NULL;
	ctl_end(c, 0, "%s", "");
}

static const char *
flag_names(uint32_t flags, char *buf, size_t len)
{
	buf[0] = '\0';
	if (flags & MAIL_F_HELD)
		strlcat(buf, " held", len);
	if (flags & MAIL_F_BOUNCE)
		strlcat(buf, " bounce", len);
	if (flags & MAIL_F_DELAY_WARNED)
		strlcat(buf, " delay-notice-sent", len);
	if (flags & MAIL_F_8BIT)
		strlcat(buf, " 8bit", len);
	return buf[0] ? buf + 1 : "none";
}

/* Every state record of the file, in the order written: each attempt recorded. */
static void
show_history(struct qctl *c, const struct qf_mail *f, uint32_t index)
{
	struct buf b = { NULL, 0, 0 };
	const uint8_t *r;
	uint64_t off;
	char when[64], next[64];
	unsigned dl, rl, pl;

	for (off = f->trailer_end; off + QF_STATE_SIZE <= f->valid_len; off += QF_STATE_SIZE) {
		r = c->map + off;
		if (memcmp(r, QF_STATE_MAGIC, 4) != 0 || qf_get_u32(r + 4) != index)
			continue;
		dl = r[9];
		rl = qf_get_u16(r + 32);
		pl = qf_get_u16(r + 34);
		/* qf_parse verified the records; the bounds are checked again anyway */
		if (36 + dl + rl + pl > QF_STATE_SIZE - QF_STATE_SUM_LEN)
			continue;
		maildate(qf_get_u64(r + 24), when, sizeof(when));
		b.len = 0;
		buf_printf(&b, "    %s: %s, attempt %u", when, rcpt_state_name(r[8]),
		    qf_get_u32(r + 12));
		if (r[8] == RCPT_DEFERRED && qf_get_u64(r + 16) != 0) {
			maildate(qf_get_u64(r + 16), next, sizeof(next));
			buf_printf(&b, ", next %s", next);
		}
		if (dl > 0)
			buf_printf(&b, ", dsn %.*s", (int)dl, (const char *)r + 36);
		if (rl > 0)
			buf_printf(&b, ", relay %.*s", (int)rl, (const char *)r + 36 + dl);
		if (pl > 0)
			buf_printf(&b, ", reply: %.*s", (int)pl, (const char *)r + 36 + dl + rl);
		ctl_reply(c, b.p);
	}
	free(b.p);
}

void
show_start(struct qctl *c, struct qmail *m)
{
	struct buf b = { NULL, 0, 0 };
	struct qf_mail f;
	struct stat sb;
	const char *why;
	char date[64], age[32], next[48], flags[128];
	uint64_t now = (uint64_t)time(NULL);
	uint32_t i;
	uint8_t *buf = NULL;
	ssize_t r = -1;
	int fd;

	/*
	 * A copy, not a mapping: once delivered, a queue file may be reused
	 * for another mail and cut shorter while the content is still being
	 * shown.
	 */
	if ((fd = spool_open_ro(c->q, m->id)) != -1 && fstat(fd, &sb) == 0 &&
	    sb.st_size > 0) {
		buf = xmalloc(sb.st_size);
		r = pread(fd, buf, sb.st_size, 0);
	}
	if (fd != -1)
		close(fd);
	if (r <= 0 || r != (ssize_t)sb.st_size) {
		free(buf);
		ctl_end(c, 1, "%s: cannot read its queue file", m->id);
		return;
	}
	if (qf_parse(buf, sb.st_size, &f, &why) == QF_CORRUPT) {
		free(buf);
		ctl_end(c, 1, "%s: queue file does not verify: %s", m->id, why);
		return;
	}
	c->map = buf;
	c->maplen = sb.st_size;

	maildate(m->arrival, date, sizeof(date));
	fmt_span(age, sizeof(age), now > m->arrival ? now - m->arrival : 0);
	buf_printf(&b, "id: %s", m->id);
	ctl_reply(c, b.p);
	b.len = 0;
	buf_printf(&b, "arrival: %s (%s ago)", date, age);
	ctl_reply(c, b.p);
	b.len = 0;
	buf_printf(&b, "size: %llu bytes", (unsigned long long)m->content_len);
	ctl_reply(c, b.p);
	b.len = 0;
	buf_printf(&b, "sender: <%s>", m->sender);
	ctl_reply(c, b.p);
	b.len = 0;
	buf_printf(&b, "origin: %s, uid %u", f.env.origin, f.env.uid);
	ctl_reply(c, b.p);
	b.len = 0;
	buf_printf(&b, "flags: %s", flag_names(m->flags, flags, sizeof(flags)));
	ctl_reply(c, b.p);
	b.len = 0;
	buf_printf(&b, "recipients: %u", m->nrcpt);
	ctl_reply(c, b.p);
	for (i = 0; i < m->nrcpt; i++) {
		const struct qrcpt *rc = &m->rcpt[i];

		fmt_next(next, sizeof(next), m, rc, now);
		b.len = 0;
		buf_printf(&b, "  <%s>: %s, %u attempt%s, next %s", rc->addr,
		    rcpt_state_name(rc->state), rc->attempts, rc->attempts == 1 ? "" : "s", next);
		if (rc->reply != NULL)
			buf_printf(&b, ", last reply: %s", rc->reply);
		ctl_reply(c, b.p);
		if (i < f.env.nrcpt)
			show_history(c, &f, i);
	}
	ctl_reply(c, "content:");
	free(b.p);
	c->off = f.content_off;
	c->end = f.content_off + f.content_len;
	qf_mail_free(&f);
	c->step = show_step;
	show_step(c);
}
