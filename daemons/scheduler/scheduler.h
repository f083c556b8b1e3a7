/* SPDX-License-Identifier: ISC */
/*
 * scheduler.h - the scheduler process: which recipient is tried when, through
 * which destination and which delivery agent.
 *
 * The scheduler holds no durable state. It learns every queued mail from the
 * queue manager (SCHED_*), decides when each recipient is due, resolves the
 * destination through the resolver process (DNS_*), hands transactions to the
 * SMTP delivery agents (AGENT_*) with a read-only descriptor obtained from the
 * queue manager (QMGR_OPEN), and reports each recipient's new state back to
 * the queue manager (QMGR_UPDATE), which alone writes it to disk.
 *
 * Files: scheduler.c (main, links, shutdown), sched_policy.c (re-send policy,
 * pure), sched_mx.c (RFC 5321 section 5.1 ordering, pure), sched_mail.c (mails
 * learnt from the queue manager, due times), sched_dest.c (destinations, their
 * DNS resolution and cache), sched_job.c (transactions: open, deliver, result,
 * update), sched_log.c (the per-recipient log line), sched_route.c (the
 * "route" control command: where mail to an address would go),
 * sched_dane.c (TLSA
 * lookups of MX hosts and the DANE policy of their addresses, RFC 7672),
 * sched_shape.c and sched_shape_run.c (traffic shaping: per-destination limits,
 * sched_shape.h).
 */
#ifndef OUTPOST_SCHEDULER_H
#define OUTPOST_SCHEDULER_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dane.h"
#include "dueheap.h"
#include "msg.h"
#include "sts_policy.h"
#include "sched_shape.h"

struct proc_ctx;
struct chan;
struct config;
struct event;
struct event_base;
struct fbuf;
struct frame;

void	scheduler_main(struct proc_ctx *);

/* Bounds kept by the scheduler. */
#define SCHED_ADDRS_MAX		10	/* addresses tried per attempt */
#define SCHED_MX_MAX		32	/* MX hosts kept from one answer */
#define SCHED_MX_QUERY_MAX	10	/* MX hosts whose addresses are looked up */
#define SCHED_RCPT_MAX		100000	/* recipients of one mail */
#define SCHED_DESTS_MAX		10000	/* cached destinations */
#define SCHED_CACHE_TTL_MAX	3600	/* seconds a DNS answer is kept at most */
#define SCHED_RESOLVE_TIMEOUT	60	/* seconds one destination may take to resolve */
#define SCHED_INTERRUPT_DELAY	30	/* seconds before an interrupted transaction is retried */
#define SCHED_INTERRUPTS_FREE	3	/* interruptions not counted as attempts */
#define SCHED_STOP_WAIT		20	/* seconds shutdown waits for results */
#define SCHED_AGENT_SESSIONS	100	/* when limits[PROC_AGENT].max_sessions is 0 */
#define SCHED_STICKY_SLACK	4	/* extra load accepted to reuse an agent's connection */
#define SCHED_SMTP_PORT		25
#define SCHED_WAITING_MAX	10000	/* transactions queued before due mails wait */
#define SCHED_JOB_BYTES		(64 * 1024)	/* recipient bytes in one transaction */
#define SCHED_DUE_BATCH		500	/* due mails handled per loop turn */
#define SCHED_WAKE_BATCH	10000	/* mails taken off the wake-up heap per timer */
#define SCHED_WAKE_NONE		DUEHEAP_NONE

/*
 * Re-send policy (sched_policy.c): pure functions of the attempts made so
 * far, the configuration and the time.
 */
struct policy_out {
	uint8_t		state;		/* RCPT_DELIVERED, RCPT_DEFERRED or RCPT_FAILED */
	uint32_t	attempts;	/* including this one */
	uint64_t	next;		/* next attempt when deferred, else 0 */
};

/* The re-send settings of config.h the policy reads. */
struct resend_policy {
	unsigned	attempts;	/* resend_attempts */
	unsigned	interval;	/* resend_interval, seconds */
	unsigned	backoff;	/* resend_backoff: 1 = fixed interval */
	unsigned	lifetime;	/* max_queue_lifetime, seconds; 0 = none */
};
#define SCHED_WAIT_MAX	(30 * 86400)	/* longest wait between two attempts */

void		 sched_policy_from_config(const struct config *, struct resend_policy *);
/* The wait after the attempts-th attempt (1-based). */
uint64_t	 sched_policy_wait(uint32_t attempts, unsigned interval, unsigned backoff);
/* The whole schedule: the sum of the waits between 1 + attempts attempts. */
uint64_t	 sched_policy_total(const struct resend_policy *);
/* The outcome of one attempt of class cls after `attempts` earlier attempts,
 * for a mail queued at arrival: final only after the re-sends *and* the
 * schedule's total time since arrival (or past the lifetime). */
void		 sched_policy_next(const struct resend_policy *, uint32_t attempts,
		    uint64_t arrival, uint64_t now, int cls, struct policy_out *);
/* The same with a fixed interval and no lifetime for a mail queued long ago
 * (only the count of attempts decides). */
void		 sched_policy_result(uint32_t attempts, unsigned resend_attempts,
		    unsigned resend_interval, uint64_t now, int cls, struct policy_out *);
/* A transaction cut short by a dead agent: retried soon without counting an
 * attempt, unless this recipient was interrupted too often already. */
void		 sched_policy_interrupted(uint32_t attempts, unsigned interrupts,
		    unsigned resend_attempts, unsigned resend_interval, uint64_t now,
		    struct policy_out *);
/* "sent", "deferred", "bounced" for a state. */
const char	*sched_policy_status(uint8_t state);

/*
 * MX ordering (sched_mx.c), pure.
 */
struct mx {
	uint16_t	pref;
	char		host[HOSTNAME_MAX];
};

typedef uint32_t (*mx_rand_fn)(uint32_t upper);	/* uniform in [0, upper) */

/* Sort by preference; hosts of equal preference in random order. */
void		 sched_mx_sort(struct mx *, size_t n, mx_rand_fn);
/*
 * RFC 5321 section 5.1: when one of the hosts is ourselves, only the hosts
 * strictly preferred to it may be used. Returns how many remain at the front;
 * 0 with *loop set means the best MX is ourselves: a mail loop.
 */
size_t		 sched_mx_cut_self(struct mx *, size_t n, const char *self, bool *loop);
/* Host names equal, ignoring case and one trailing dot. */
bool		 sched_host_equal(const char *, const char *);

/* One address to connect to. */
struct sched_addr {
	uint8_t		family;		/* 4 or 6 */
	uint8_t		addr[16];
	uint16_t	port;
	char		host[HOSTNAME_MAX];
	uint8_t		tls;		/* enum tls_policy of this address (DANE decides per host) */
	uint8_t		dane;		/* index in dest->dane when tls is TLS_DANE */
};

/* The TLSA records a destination's host is authenticated against. */
struct dest_dane {
	unsigned	nrr;
	struct dane_rr	rr[DANE_RR_MAX];
};

/*
 * The in-memory schedule.
 */
struct job;
struct dest;

struct srcpt {
	char		*addr;
	uint8_t		 state;		/* enum rcpt_state */
	bool		 loaded;	/* its SCHED_RCPT frame arrived */
	bool		 busy;		/* in a transaction */
	uint8_t		 interrupts;	/* transactions cut short, not counted */
	uint32_t	 attempts;
	uint64_t	 next;
};

struct mail {
	RB_ENTRY(mail)	 entry;
	struct sched	*s;
	TAILQ_ENTRY(mail) due_entry;
	bool		 on_due;
	bool		 complete;	/* SCHED_MAIL_END seen */
	char		 id[QUEUE_ID_MAX];
	uint64_t	 arrival;
	uint64_t	 size;
	uint32_t	 flags;
	char		*sender;
	uint32_t	 nrcpt;
	struct srcpt	*rcpts;
	uint64_t	 wake_at;	/* next due time or delay notice, in s->wakes */
	uint32_t	 wake_idx;	/* its place in s->wakes, SCHED_WAKE_NONE if none */
	bool		 on_park;	/* on s->parkq: to leave memory (sched_mail.c) */
	TAILQ_ENTRY(mail) park_entry;
	TAILQ_HEAD(, job) jobs;		/* transactions of this mail */
};

/* One recipient of a transaction, with its outcome once known. */
struct job_rcpt {
	uint32_t	 index;
	uint32_t	 attempts;	/* before this transaction */
	char		*addr;
	bool		 done;
	uint8_t		 state;
	uint32_t	 new_attempts;
	uint64_t	 next;
	uint16_t	 code;
	char		 dsn[DSN_MAX];
	char		*reply;
	bool		 interrupted;	/* not recorded: only the in-memory schedule changes */
};

enum job_state {
	JOB_WAITING,		/* in its destination's queue */
	JOB_OPENING,		/* QMGR_OPEN sent */
	JOB_AT_AGENT,		/* AGENT_DELIVER sent */
	JOB_UPDATING,		/* QMGR_UPDATE sent */
	JOB_HELD,		/* outcome known, no queue manager to record it yet */
};

struct job {
	RB_ENTRY(job)	 entry;		/* by reqid */
	TAILQ_ENTRY(job) dest_entry;	/* in dest->waiting */
	TAILQ_ENTRY(job) mail_entry;	/* in mail->jobs, or sched->orphans when detached */
	uint32_t	 reqid;
	enum job_state	 state;
	struct mail	*mail;		/* NULL while detached from its mail */
	bool		 queued;	/* in dest->waiting */
	char		 id[QUEUE_ID_MAX];
	uint64_t	 arrival;
	struct dest	*dest;
	int		 agent;		/* -1 until dispatched */
	unsigned	 nrcpt;
	struct job_rcpt	*rcpts;
	size_t		 bytes;		/* recipient bytes, to keep frames under FRAME_MAX */
	char		 relay[HOSTNAME_MAX + 64];
	unsigned	 updates;	/* QMGR_UPDATED answers awaited */
	uint64_t	 dispatched_ms;	/* wall clock when sent toward an agent (log delays) */
	struct shape	*shape;		/* the budget it counts against while running */
	uint32_t	 shape_gen;	/* its AIMD generation at the start */
	uint64_t	 lease;		/* its shared concurrency lease, 0: none */
	struct dead_addr *probe;	/* the unknown address it probes, or NULL */
	bool		 cache_deferred;	/* counted in sched->ndeferring */
};

enum dest_res {
	RES_NONE,		/* not resolved (or the answer expired) */
	RES_BUSY,		/* queries outstanding */
	RES_DONE,		/* addrs or an error, valid until expires */
};

/* A host whose addresses are being looked up for a destination. */
struct dest_host {
	struct mx	 mx;
	bool		 done;
	uint8_t		 status;	/* enum dns_status */
	uint8_t		 dnssec;
	uint32_t	 ttl;
	unsigned	 naddr;
	struct {
		uint8_t	 family;
		uint8_t	 addr[16];
	}		 a[SCHED_ADDRS_MAX];
	uint8_t		 tlsa;		/* enum dane_tlsa */
	struct dest_dane dane;		/* its usable records */
};

struct dest {
	RB_ENTRY(dest)	 entry;
	TAILQ_ENTRY(dest) ready_entry;
	bool		 on_ready;
	char		 key[HOSTNAME_MAX + 32];
	char		 name[HOSTNAME_MAX];	/* for logs: domain, relay or route host */
	char		 lookup[HOSTNAME_MAX];	/* the name resolved */
	uint16_t	 port;
	bool		 use_mx;	/* MX lookup, else addresses of lookup */
	bool		 is_ip;		/* lookup is an address: nothing to resolve */
	bool		 implicit;	/* no MX record: the domain's own addresses */
	uint8_t		 mx_dnssec;	/* enum dns_sec of the MX answer (DANE needs secure) */
	uint8_t		 tls;		/* enum tls_policy for its deliveries (never TLS_INHERIT) */
	uint8_t		 dflags;	/* DELIVER_F_*: relay host, implicit TLS */

	enum dest_res	 res;
	uint64_t	 res_started;
	uint64_t	 expires;
	char		 res_id[QUEUE_ID_MAX];	/* the mail that triggered the lookup */
	struct dest_host *hosts;	/* during resolution */
	unsigned	 nhosts;
	unsigned	 pending;	/* queries outstanding */
	uint32_t	 ttl;		/* smallest TTL seen */

	int		 err_cls;	/* DELIVERY_OK, or the failure of every job */
	char		 err_dsn[DSN_MAX];
	char		 err_reply[REPLY_MAX];
	struct sched_addr addrs[SCHED_ADDRS_MAX];
	unsigned	 naddrs;
	struct dest_dane *dane;		/* TLSA records of the hosts in addrs */
	unsigned	 ndane;
	bool		 per_addr;	/* addrs[].tls differ from tls (DANE, MTA-STS) */
	uint8_t		 sts_txt;	/* enum sts_txt, during the MTA-STS step */
	char		 sts_id[STS_ID_MAX];
	uint8_t		 sts_mode;	/* enum sts_mode in force (TLS reporting) */
	bool		 sts_wait;	/* the MTA-STS step waits for the sts process */

	TAILQ_HEAD(, job) waiting;
	unsigned	 nwaiting;
	unsigned	 active;	/* jobs opening or at an agent */
	int		 last_agent;

	struct shape	*shape;		/* traffic shaping budget (sched_shape_run.c) */
	TAILQ_ENTRY(dest) blocked_entry;	/* in shape->blocked */
	bool		 on_blocked;
	struct dead_addr *probe_wait;	/* waits for this address's probe */
	TAILQ_ENTRY(dest) probe_entry;	/* in probe_wait->waiters */
	TAILQ_ENTRY(dest) defer_entry;	/* in sched->deferq */
	bool		 on_deferq;
};

/* An outstanding resolver query. */
enum dnsq_kind { DNSQ_MX, DNSQ_ADDR, DNSQ_TLSA, DNSQ_TXT, DNSQ_STS_ADDR, DNSQ_STS };
struct dnsq {
	RB_ENTRY(dnsq)	 entry;
	uint32_t	 reqid;
	enum dnsq_kind	 kind;
	struct dest	*dest;		/* NULL once the destination gave up */
	unsigned	 host;		/* index in dest->hosts for DNSQ_ADDR */
};

struct agent_link {
	struct chan	*chan;
	unsigned	 load;		/* jobs opening or at this agent */
};

/* The chan argument of every link. */
struct sched;
struct link {
	struct sched	*s;
	int		 kind;
	unsigned	 instance;
};

RB_HEAD(sched_mail_tree, mail);
RB_HEAD(sched_job_tree, job);
RB_HEAD(sched_dest_tree, dest);
RB_HEAD(sched_dnsq_tree, dnsq);
int	sched_mail_cmp(const struct mail *, const struct mail *);
int	sched_job_cmp(const struct job *, const struct job *);
int	sched_dest_cmp(const struct dest *, const struct dest *);
int	sched_dnsq_cmp(const struct dnsq *, const struct dnsq *);
RB_PROTOTYPE(sched_mail_tree, mail, entry, sched_mail_cmp)
RB_PROTOTYPE(sched_job_tree, job, entry, sched_job_cmp)
RB_PROTOTYPE(sched_dest_tree, dest, entry, sched_dest_cmp)
RB_PROTOTYPE(sched_dnsq_tree, dnsq, entry, sched_dnsq_cmp)

struct sched {
	struct proc_ctx		*ctx;
	const struct config	*conf;
	struct event_base	*base;
	struct chan		*qmgr;
	struct chan		*resolver;
	struct chan		*sts;		/* the MTA-STS process, or NULL */
	struct agent_link	*agents;
	unsigned		 nagents;
	unsigned		 max_sessions;

	struct sched_mail_tree	 mails;
	unsigned		 nmails;
	struct sched_job_tree		 jobs;
	struct sched_dest_tree	 dests;
	unsigned		 ndests;
	struct sched_dnsq_tree	 dnsqs;
	struct sched_shape_tree	 shapes;
	struct sched_dead_tree	 deads;		/* unreachable-host cache */
	struct shared_limits	*shared;	/* shared_limits: Redis, or NULL */
	unsigned		 ndeads;
	TAILQ_HEAD(, mail)	 due;
	/* Later due times: a binary min-heap of mails by wake_at, one timer
	 * armed for its top (sched_mail.c). */
	struct dueheap		 wakes;
	struct event		*wake_ev;
	uint64_t		 wake_armed;	/* wake_at the timer is set for, 0 = none */
	/* Mails to hand back to the queue manager's disk while more than
	 * queue_active_limit are in memory (QMGR_PARK, sched_mail.c). */
	TAILQ_HEAD(, mail)	 parkq;
	struct event		*park_ev;
	uint32_t		 nflush;	/* SCHED_FLUSH frames read on this qmgr link */
	TAILQ_HEAD(, dest)	 ready;
	/* Destinations with transactions to defer from the unreachable-host
	 * cache once fewer deferrals are in flight (sched_shape_dead.c). */
	TAILQ_HEAD(, dest)	 deferq;
	unsigned		 ndeferring;	/* cache deferrals not yet recorded */
	TAILQ_HEAD(, job)	 orphans;
	unsigned		 nwaiting;	/* jobs queued at destinations */

	struct event		*due_ev;
	struct event		*dispatch_ev;
	struct event		*tick_ev;
	struct event		*stop_ev;
	bool			 loaded;	/* SCHED_LOAD_DONE seen on this qmgr link */
	bool			 stopping;
	uint32_t		 next_reqid;
	uint64_t		 (*now)(void);	/* replaceable in tests */
};

/* sched_route.c: "route ADDRESS" from the master (outpostctl, sendmail -bv) */
int		 sched_route_control(struct proc_ctx *, struct frame *);
/* 1: a DNS answer for a route request (taken), 0: not one, -1: malformed */
int		 sched_route_dns_frame(struct sched *, struct frame *);
void		 sched_route_resolver_lost(struct sched *);

/* scheduler.c */
void		 sched_init(struct sched *, struct proc_ctx *, const struct config *,
		    struct event_base *);
uint32_t	 sched_reqid(struct sched *);
void		 sched_check_stop(struct sched *);
int		 sched_qmgr_frame(struct sched *, struct frame *);
int		 sched_agent_frame(struct sched *, unsigned, struct frame *);
int		 sched_resolver_frame(struct sched *, struct frame *);
/* msg.h "addr": u8 family (4 or 6), 16 bytes (IPv4 in the first 4) */
bool		 sched_get_addr(struct frame *, uint8_t *family, uint8_t addr[16]);
void		 sched_put_addr(struct fbuf *, uint8_t family, const uint8_t addr[16]);

/* sched_mail.c */
int		 sched_mail_frame(struct sched *, struct frame *);
/* Make the deferred recipients matching an outpostctl flush selector due
 * now; returns the number of mails concerned. */
unsigned	 sched_mail_flush(struct sched *, const char *selector);
void		 sched_mail_init(struct sched *);
struct mail	*sched_mail_find(struct sched *, const char *id);
/* gone: the queue manager removed it (deleted, held, or every recipient
 * final), else it is only forgotten until the queue manager lists it again.
 * Either way its running transactions live on as orphans (sched_job.c). */
void		 sched_mail_free(struct sched *, struct mail *, bool gone);
void		 sched_mail_drop_all(struct sched *);
void		 sched_mail_check(struct sched *, struct mail *);
void		 sched_mail_run_due(struct sched *);
const char	*sched_rcpt_domain(const char *addr);

/* sched_dest.c */
struct dest	*sched_dest_get(struct sched *, const char *domain);
void		 sched_dest_enqueue(struct sched *, struct dest *, struct job *);
void		 sched_dest_ready(struct sched *, struct dest *);
int		 sched_dest_dns_frame(struct sched *, struct frame *);
void		 sched_dest_resolver_lost(struct sched *);
void		 sched_dest_resolver_up(struct sched *);
void		 sched_dest_tick(struct sched *);
void		 sched_dest_addrs_done(struct sched *, struct dest *);
/* The address list is final: cache it and start deliveries. */
void		 sched_dest_finish(struct sched *, struct dest *);
/* Every waiting transaction is deferred with this reason. */
void		 sched_dest_defer(struct sched *, struct dest *, const char *dsn,
		    const char *reply);

/* sched_sts.c */
/* The addresses are known: start the MTA-STS step (true) or not (false). */
bool		 sched_sts_start(struct sched *, struct dest *);
void		 sched_sts_lost(struct sched *);
void		 sched_sts_up(struct sched *);
int		 sched_sts_txt_frame(struct sched *, struct frame *, struct dest *);
int		 sched_sts_addr_frame(struct sched *, struct frame *, struct dest *);
int		 sched_sts_policy_frame(struct sched *, struct frame *);

/* sched_dane.c */
/* A host's addresses are in: ask for its TLSA records when its policy wants
 * DANE and its names are signed; true when a query was sent. */
bool		 sched_dane_query(struct sched *, struct dest *, unsigned host);
int		 sched_dane_tlsa_frame(struct sched *, struct frame *, struct dest *,
		    unsigned host);
/* The policy of host's addresses, or false (with *why) when it must not be used. */
bool		 sched_dane_host(struct sched *, struct dest *, struct dest_host *,
		    uint8_t *tls, uint8_t *dane, const char **why);
/* The per-address part of AGENT_DELIVER (msg.h). */
/* live[i]: address i is in the job (not in the unreachable-host cache). */
/* The address families asked of the resolver (inet_protocols). */
uint8_t		 sched_dns_families(const struct sched *);
void		 sched_dane_put(struct fbuf *, const struct dest *, const bool *live);
void		 sched_dane_reset(struct dest *);
/* Send a query to the resolver for d (sched_dest.c). */
/* sched_tlsrpt.c: TLS reporting's counts, rua lookups and report mails */
int		 sched_tlsrpt_session(struct sched *, unsigned agent, struct frame *);
void		 sched_tlsrpt_policy_failure(struct sched *, const struct dest *, unsigned type,
		    unsigned result, const char *mx);
/* 1: the resolver's answer was a rua lookup's (consumed), 0: not ours, -1: malformed */
int		 sched_tlsrpt_dns_frame(struct sched *, struct frame *);
int		 sched_tlsrpt_sts_frame(struct sched *, struct frame *);
int		 sched_tlsrpt_qmgr_frame(struct sched *, struct frame *);
void		 sched_tlsrpt_resolver_lost(struct sched *);
/* sched_route.c: outpostctl route's question about the cached MTA-STS policy */
int		 sched_route_sts_frame(struct sched *, struct frame *);
void		 sched_route_sts_lost(struct sched *);
void		 sched_dnsq_send(struct sched *, struct dest *, enum dnsq_kind, unsigned host);

/* sched_job.c */
struct job	*sched_job_new(struct sched *, struct mail *, struct dest *);
void		 sched_job_add_rcpt(struct job *, struct mail *, uint32_t index);
void		 sched_job_fail(struct sched *, struct job *, int cls, uint16_t code,
		    const char *dsn, const char *reply);
void		 sched_job_dispatch(struct sched *);
int		 sched_job_opened(struct sched *, struct frame *, bool ok);
int		 sched_job_result(struct sched *, unsigned agent, struct frame *);
int		 sched_job_updated(struct sched *, struct frame *);
void		 sched_job_agent_lost(struct sched *, unsigned agent);
void		 sched_job_qmgr_lost(struct sched *);
void		 sched_job_mail_loaded(struct sched *, struct mail *);
void		 sched_job_mail_detach(struct sched *, struct mail *);
void		 sched_job_load_done(struct sched *);
void		 sched_job_stop(struct sched *);
/* The mail is older than max_queue_lifetime: recipients never tried, and
 * those waiting for a DNS answer, fail now (4.4.7; returns how many); those
 * tried before are made due for their last attempt. */
unsigned	 sched_job_expire(struct sched *, struct mail *);
#define SCHED_EXPIRED_REASON	"message expired: in the queue longer than max_queue_lifetime"
unsigned	 sched_job_in_flight(struct sched *);

/* sched_log.c */
/* sched_log.c: log (Postfix's form) and count one recipient attempt.
 * arrival: unix seconds the mail was queued; dispatched_ms: wall clock in ms
 * the job went toward an agent (0: never). */
void		 sched_log_rcpt(const char *id, const char *addr, const char *relay,
		    uint64_t arrival, uint64_t dispatched_ms, uint32_t attempts,
		    const char *dsn, uint8_t state, const char *reply);
uint64_t	 sched_log_now_ms(void);

#endif
