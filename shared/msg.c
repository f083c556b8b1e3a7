/*
 * msg.c - names of frame types, recipient states and process kinds, for
 * logs and for rejecting unknown types (every process).
 */
#include <stddef.h>

#include "msg.h"
#include "proc_kind.h"

static const char *const msg_names[MSG_TYPE_MAX] = {
	[MSG_CTL_PEER] = "CTL_PEER",
	[MSG_CTL_SHUTDOWN] = "CTL_SHUTDOWN",
	[MSG_CTL_LOGLEVEL] = "CTL_LOGLEVEL",
	[MSG_CTL_LOGFILE] = "CTL_LOGFILE",
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
	[MSG_SCHED_LOAD_DONE] = "SCHED_LOAD_DONE",
	[MSG_SCHED_REMOVED] = "SCHED_REMOVED",
	[MSG_QMGR_OPEN] = "QMGR_OPEN",
	[MSG_QMGR_OPENED] = "QMGR_OPENED",
	[MSG_QMGR_OPEN_FAIL] = "QMGR_OPEN_FAIL",
	[MSG_QMGR_UPDATE] = "QMGR_UPDATE",
	[MSG_QMGR_UPDATED] = "QMGR_UPDATED",
	[MSG_DNS_QUERY_ADDR] = "DNS_QUERY_ADDR",
	[MSG_DNS_ADDRS] = "DNS_ADDRS",
	[MSG_DNS_QUERY_MX] = "DNS_QUERY_MX",
	[MSG_DNS_MX] = "DNS_MX",
	[MSG_AGENT_DELIVER] = "AGENT_DELIVER",
	[MSG_AGENT_RESULT] = "AGENT_RESULT",
	[MSG_QUEUE_LIST] = "QUEUE_LIST",
	[MSG_QUEUE_ENTRY] = "QUEUE_ENTRY",
	[MSG_QUEUE_LIST_END] = "QUEUE_LIST_END",
};

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
	};

	return kind >= 0 && kind < PROC_KIND_MAX ? names[kind] : "unknown";
}
