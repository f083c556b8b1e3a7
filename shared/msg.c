/* SPDX-License-Identifier: ISC */
/*
 * msg.c - names of frame types, recipient states and process kinds, for
 * logs and for rejecting unknown types (every process).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "msg.h"
#include "proc_kind.h"

static const char *const msg_names[MSG_TYPE_MAX] = {
	[MSG_CTL_PEER] = "CTL_PEER",
	[MSG_CTL_SHUTDOWN] = "CTL_SHUTDOWN",
	[MSG_CTL_LOGLEVEL] = "CTL_LOGLEVEL",
	[MSG_CTL_RELAY_AUTH] = "CTL_RELAY_AUTH",
	[MSG_SUBMIT_BEGIN] = "SUBMIT_BEGIN",
	[MSG_SUBMIT_RCPT] = "SUBMIT_RCPT",
	[MSG_SUBMIT_DATA] = "SUBMIT_DATA",
	[MSG_SUBMIT_COMMIT] = "SUBMIT_COMMIT",
	[MSG_SUBMIT_ABORT] = "SUBMIT_ABORT",
	[MSG_SUBMIT_QUEUED] = "SUBMIT_QUEUED",
	[MSG_SUBMIT_ERROR] = "SUBMIT_ERROR",
	[MSG_SCHED_MAIL] = "SCHED_MAIL",
	[MSG_SCHED_RCPT] = "SCHED_RCPT",
	[MSG_SCHED_MAIL_END] = "SCHED_MAIL_END",
	[MSG_SCHED_MAILS] = "SCHED_MAILS",
	[MSG_QMGR_PARK] = "QMGR_PARK",
	[MSG_SCHED_LOAD_DONE] = "SCHED_LOAD_DONE",
	[MSG_SCHED_REMOVED] = "SCHED_REMOVED",
	[MSG_SCHED_FLUSH] = "SCHED_FLUSH",
	[MSG_QMGR_OPEN] = "QMGR_OPEN",
	[MSG_QMGR_OPENED] = "QMGR_OPENED",
	[MSG_QMGR_OPEN_FAIL] = "QMGR_OPEN_FAIL",
	[MSG_QMGR_UPDATE] = "QMGR_UPDATE",
	[MSG_QMGR_UPDATED] = "QMGR_UPDATED",
	[MSG_QMGR_DELAY_WARN] = "QMGR_DELAY_WARN",
	[MSG_DNS_QUERY_ADDR] = "DNS_QUERY_ADDR",
	[MSG_DNS_ADDRS] = "DNS_ADDRS",
	[MSG_DNS_QUERY_MX] = "DNS_QUERY_MX",
	[MSG_DNS_MX] = "DNS_MX",
	[MSG_AGENT_DELIVER] = "AGENT_DELIVER",
	[MSG_AGENT_RESULT] = "AGENT_RESULT",
	[MSG_AGENT_UNREACHABLE] = "AGENT_UNREACHABLE",
	[MSG_AGENT_REACHED] = "AGENT_REACHED",
	[MSG_QUEUE_LIST] = "QUEUE_LIST",
	[MSG_QUEUE_ENTRY] = "QUEUE_ENTRY",
	[MSG_QUEUE_LIST_END] = "QUEUE_LIST_END",
	[MSG_CONTROL_REQUEST] = "CONTROL_REQUEST",
	[MSG_CONTROL_REPLY] = "CONTROL_REPLY",
	[MSG_CONTROL_END] = "CONTROL_END",
	[MSG_CTL_READY] = "CTL_READY",
	[MSG_CTL_LINK_DOWN] = "CTL_LINK_DOWN",
	[MSG_QMGR_SPACE] = "QMGR_SPACE",
	[MSG_ALIASES_BEGIN] = "ALIASES_BEGIN",
	[MSG_ALIASES_ENTRY] = "ALIASES_ENTRY",
	[MSG_ALIASES_END] = "ALIASES_END",
	[MSG_LOG_LINES] = "LOG_LINES",
	[MSG_METRICS_PUSH] = "METRICS_PUSH",
	[MSG_METRICS_DEST] = "METRICS_DEST",
	[MSG_CTL_TRACE] = "CTL_TRACE",
	[MSG_SIGNER_KEY] = "SIGNER_KEY",
	[MSG_SIGNER_KEYS_END] = "SIGNER_KEYS_END",
	[MSG_SIGN_REQUEST] = "SIGN_REQUEST",
	[MSG_SIGN_RESULT] = "SIGN_RESULT",
	[MSG_DNS_QUERY_TLSA] = "DNS_QUERY_TLSA",
	[MSG_DNS_TLSA] = "DNS_TLSA",
	[MSG_DNS_QUERY_TXT] = "DNS_QUERY_TXT",
	[MSG_DNS_TXT] = "DNS_TXT",
	[MSG_STS_GET] = "STS_GET",
	[MSG_STS_POLICY] = "STS_POLICY",
	[MSG_AGENT_TLS_SESSION] = "AGENT_TLS_SESSION",
	[MSG_TLSRPT_COUNT] = "TLSRPT_COUNT",
	[MSG_TLSRPT_LOOKUP] = "TLSRPT_LOOKUP",
	[MSG_TLSRPT_RUA] = "TLSRPT_RUA",
	[MSG_TLSRPT_MAIL] = "TLSRPT_MAIL",
	[MSG_TLSRPT_QUEUED] = "TLSRPT_QUEUED",
	[MSG_TLSRPT_RESOLVE] = "TLSRPT_RESOLVE",
	[MSG_TLSRPT_ADDRS] = "TLSRPT_ADDRS",
};

/*
 * The payload of every type, as in msg.h, in a small notation checked on
 * every received frame before any handler sees it (msg_validate):
 *   u8 u16 u32 u64  integers      s  string (u32 length, no NUL)
 *   b  byte run (u32 length)      a  address: u8 family (4|6) + 16 bytes
 *   n16{ ... } / n32{ ... }       a u16/u32 count, then the group that often
 *   fd  a descriptor must be attached (otherwise none may be)
 * Change a payload here and in msg.h together.
 */
static const char *const msg_schema[MSG_TYPE_MAX] = {
	[MSG_CTL_PEER] = "fd u8 u16 u32",
	[MSG_CTL_SHUTDOWN] = "",
	[MSG_CTL_LOGLEVEL] = "u8",
	[MSG_CTL_RELAY_AUTH] = "s s",
	[MSG_SUBMIT_BEGIN] = "u32 s s",
	[MSG_SUBMIT_RCPT] = "s",
	[MSG_SUBMIT_DATA] = "b",
	[MSG_SUBMIT_COMMIT] = "",
	[MSG_SUBMIT_ABORT] = "",
	[MSG_SUBMIT_QUEUED] = "s",
	[MSG_SUBMIT_ERROR] = "u16 s s",
	[MSG_SCHED_MAIL] = "s u64 u64 u32 s u32",
	[MSG_SCHED_RCPT] = "s u32 u8 u32 u64 s",
	[MSG_SCHED_MAIL_END] = "s",
	[MSG_SCHED_MAILS] = "n16{ s u64 u64 u32 s n32{ u8 u32 u64 s } }",
	[MSG_QMGR_PARK] = "s u64 u32",
	[MSG_SCHED_LOAD_DONE] = "",
	[MSG_SCHED_REMOVED] = "s",
	[MSG_SCHED_FLUSH] = "s",
	[MSG_QMGR_OPEN] = "s",
	[MSG_QMGR_OPENED] = "fd u64 u64 u32 s",
	[MSG_QMGR_OPEN_FAIL] = "s",
	[MSG_QMGR_UPDATE] = "s n32{ u32 u8 u32 u64 u16 s s s }",
	[MSG_QMGR_UPDATED] = "s u8",
	[MSG_QMGR_DELAY_WARN] = "s",
	[MSG_DNS_QUERY_ADDR] = "s u8",
	[MSG_DNS_ADDRS] = "u8 u8 u32 n16{ a }",
	[MSG_DNS_QUERY_MX] = "s",
	[MSG_DNS_MX] = "u8 u8 u32 n16{ u16 s }",
	[MSG_AGENT_DELIVER] = "fd s s u64 u64 u32 s n16{ a u16 s } n16{ u32 s } u8 u8 s "
	    "n16{ u8 n16{ u8 u8 u8 b } } u32 u8",
	[MSG_AGENT_RESULT] = "s n16{ u32 u8 u16 s s }",
	[MSG_AGENT_UNREACHABLE] = "a u16 s",
	[MSG_AGENT_REACHED] = "a u16",
	[MSG_QUEUE_LIST] = "",
	[MSG_QUEUE_ENTRY] = "s u64 u64 u32 s u32 n16{ s u8 u32 u64 s }",
	[MSG_QUEUE_LIST_END] = "u32",
	[MSG_CONTROL_REQUEST] = "s n32{ s }",
	[MSG_CONTROL_REPLY] = "s",
	[MSG_CONTROL_END] = "u8 s",
	[MSG_CTL_READY] = "",
	[MSG_CTL_LINK_DOWN] = "u8 u16 u32",
	[MSG_QMGR_SPACE] = "u8 u64",
	[MSG_ALIASES_BEGIN] = "s s u32",
	[MSG_ALIASES_ENTRY] = "s n32{ s }",
	[MSG_ALIASES_END] = "",
	[MSG_LOG_LINES] = "n16{ u8 s }",
	[MSG_METRICS_PUSH] = "n16{ u16 u64 }",
	[MSG_METRICS_DEST] = "n16{ s u64 u64 u64 }",
	[MSG_CTL_TRACE] = "n16{ s u64 }",
	[MSG_SIGNER_KEY] = "s u8 u8 u8 n16{ s u8 b }",
	[MSG_SIGNER_KEYS_END] = "u32",
	[MSG_SIGN_REQUEST] = "fd s u64 u64",
	[MSG_SIGN_RESULT] = "s u8 s s",
	[MSG_DNS_QUERY_TLSA] = "s u16",
	[MSG_DNS_TLSA] = "u8 u8 u32 u16 n16{ u8 u8 u8 b }",
	[MSG_DNS_QUERY_TXT] = "s",
	[MSG_DNS_TXT] = "u8 u8 u32 n16{ s }",
	[MSG_STS_GET] = "s u8 s n16{ a }",
	[MSG_STS_POLICY] = "s u8 u8 u32 u64 s u8 n16{ s }",
	[MSG_AGENT_TLS_SESSION] = "s s u8 u32 s",
	[MSG_TLSRPT_COUNT] = "s u8 u8 s s n16{ s } s",
	[MSG_TLSRPT_LOOKUP] = "s",
	[MSG_TLSRPT_RUA] = "s u8 n16{ s }",
	[MSG_TLSRPT_MAIL] = "s s s s u64 u64 b",
	[MSG_TLSRPT_QUEUED] = "u8 s",
	[MSG_TLSRPT_RESOLVE] = "s",
	[MSG_TLSRPT_ADDRS] = "u8 n16{ a }",
};

const char *
msg_schema_of(uint16_t type)
{
	return msg_known(type) ? msg_schema[type] : NULL;
}

/* Skip one token; returns its start and length. */
static const char *
schema_token(const char **sp, size_t *len)
{
	const char	*s = *sp, *start;

	while (*s == ' ')
		s++;
	start = s;
	while (*s != '\0' && *s != ' ')
		s++;
	*len = s - start;
	*sp = s;
	return *len ? start : NULL;
}

/* Find the '}' closing the group that starts at s (just after '{'). */
static const char *
schema_group_end(const char *s)
{
	int	depth = 1;

	for (; *s; s++) {
		if (*s == '{')
			depth++;
		else if (*s == '}' && --depth == 0)
			return s;
	}
	return NULL;
}

static bool
schema_walk(struct frame *f, const char *s, const char *end, int depth)
{
	const char	*tok;
	size_t		 len;
	uint8_t		 u8, raw[16];
	uint16_t	 u16;
	uint32_t	 u32, count;
	uint64_t	 u64;
	const uint8_t	*p;
	size_t		 n;

	if (depth > 4)
		return false;
	while (s < end && (tok = schema_token(&s, &len)) != NULL && tok < end) {
		if (len == 2 && strncmp(tok, "fd", 2) == 0)
			continue;
		if (len == 2 && strncmp(tok, "u8", 2) == 0) {
			if (!frame_get_u8(f, &u8))
				return false;
		} else if (len == 3 && strncmp(tok, "u16", 3) == 0) {
			if (!frame_get_u16(f, &u16))
				return false;
		} else if (len == 3 && strncmp(tok, "u32", 3) == 0) {
			if (!frame_get_u32(f, &u32))
				return false;
		} else if (len == 3 && strncmp(tok, "u64", 3) == 0) {
			if (!frame_get_u64(f, &u64))
				return false;
		} else if (len == 1 && *tok == 's') {
			if (!frame_get_bytes(f, &p, &n) || memchr(p, '\0', n) != NULL)
				return false;
		} else if (len == 1 && *tok == 'b') {
			if (!frame_get_bytes(f, &p, &n))
				return false;
		} else if (len == 1 && *tok == 'a') {
			if (!frame_get_u8(f, &u8) || (u8 != 4 && u8 != 6) ||
			    !frame_get_raw(f, raw, sizeof(raw)))
				return false;
		} else if (len == 4 && (strncmp(tok, "n16{", 4) == 0 || strncmp(tok, "n32{", 4) == 0)) {
			const char *gend = schema_group_end(tok + 4);
			if (gend == NULL)
				return false;
			if (tok[1] == '1') {
				if (!frame_get_u16(f, &u16))
					return false;
				count = u16;
			} else if (!frame_get_u32(f, &count))
				return false;
			/* Every element takes at least one byte: a count beyond that is a lie. */
			if (count > f->len - f->off)
				return false;
			for (uint32_t i = 0; i < count; i++)
				if (!schema_walk(f, tok + 4, gend, depth + 1))
					return false;
			s = gend + 1;
		} else
			return false;	/* a schema typo: reject rather than pass */
	}
	return true;
}

bool
msg_validate(const struct frame *in, const char **why)
{
	struct frame	 f = *in;
	const char	*schema = msg_schema_of(in->hdr.type);
	bool		 wants_fd;

	if (schema == NULL) {
		*why = "unknown frame type";
		return false;
	}
	wants_fd = strncmp(schema, "fd", 2) == 0 && (schema[2] == ' ' || schema[2] == '\0');
	if (wants_fd != (in->fd != -1)) {
		*why = wants_fd ? "descriptor missing" : "unexpected descriptor";
		return false;
	}
	f.off = 0;
	f.bad = false;
	if (!schema_walk(&f, schema, schema + strlen(schema), 0) || !frame_end(&f)) {
		*why = "payload does not match the frame type's layout";
		return false;
	}
	return true;
}

bool
msg_known(uint16_t type)
{
	return type < MSG_TYPE_MAX && msg_names[type] != NULL;
}

const char *
msg_name(uint16_t type)
{
	return msg_known(type) ? msg_names[type] : "UNKNOWN";
}

const char *
rcpt_state_name(uint8_t state)
{
	static const char *const names[RCPT_STATE_MAX] = {
		[RCPT_PENDING] = "pending",
		[RCPT_DEFERRED] = "deferred",
		[RCPT_DELIVERED] = "delivered",
		[RCPT_FAILED] = "failed",
	};

	return state < RCPT_STATE_MAX ? names[state] : "invalid";
}

const char *
proc_kind_name(int kind)
{
	static const char *const names[PROC_KIND_MAX] = {
		[PROC_MASTER] = "master",
		[PROC_QMGR] = "qmgr",
		[PROC_SCHEDULER] = "scheduler",
		[PROC_RESOLVER] = "resolver",
		[PROC_SMTPD] = "smtpd",
		[PROC_AGENT] = "agent",
		[PROC_SIGNER] = "signer",
		[PROC_STS] = "sts",
	};

	return kind >= 0 && kind < PROC_KIND_MAX ? names[kind] : "unknown";
}
