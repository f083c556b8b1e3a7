/* SPDX-License-Identifier: ISC */
/*
 * config.h - outpost's configuration: one table of parameters (config.c)
 * drives the parser, the checker and the documentation.
 *
 * File format: "name = value" lines, '#' comments, and sections:
 *   [qmgr] [scheduler] [resolver] [smtpd] [agent]  per-process limits
 *   [routes]   "domain = host[:port]" or ".domain = [address]:port" lines
 *   [dkim]     "[.]domain = selector:/key/file [rsa|ed25519], ..." (dkim_conf.h)
 *   [destinations]  per-destination traffic shaping (config_dest.h)
 * Every mistake is reported as "file:line: message" and rejected.
 */
#ifndef OUTPOST_CONFIG_H
#define OUTPOST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "proc_kind.h"

struct dest_conf;

enum delivery_mode { MODE_INDEPENDENT = 0, MODE_RELAY = 1 };
enum inet_protocols { INET_ALL = 0, INET_IPV4 = 1, INET_IPV6 = 2 };
/* no: no filter (debugging); yes: refused calls kill; log: the kernel logs them instead. */
enum sandbox_mode { SANDBOX_NO = 0, SANDBOX_YES = 1, SANDBOX_LOG = 2 };
enum queue_sync { QSYNC_SYNCFS = 0, QSYNC_FILES = 1 };
/* TLS for a delivery: none; may (opportunistic); encrypt (TLS or no delivery);
 * verify (TLS, certificate chained to the CA store and matching the host name);
 * dane (RFC 7672: authenticated by DNSSEC-signed TLSA records where published,
 * else may); dane-only (no delivery without usable DANE records). */
enum tls_policy { TLS_NONE = 0, TLS_MAY = 1, TLS_ENCRYPT = 2, TLS_VERIFY = 3,
	TLS_DANE = 4, TLS_DANE_ONLY = 5,
	TLS_STS = 6,		/* internal, never configured: verify, under an MTA-STS policy */
	TLS_INHERIT = 255 };

struct proc_limits {
	unsigned	count;		/* instances (agents; 1 for the others) */
	uint64_t	open_files;	/* RLIMIT_NOFILE, 0 = leave as is */
	uint64_t	memory;		/* RLIMIT_AS in bytes, 0 = leave as is */
	unsigned	max_sessions;	/* concurrent sessions (smtpd, agent) */
	int		nice;
};

/* A host and port as written: a name, or an address literal in brackets. */
struct hostport {
	char		host[256];	/* name or address, without brackets */
	uint16_t	port;
	bool		literal;	/* [addr] or [name]: no MX lookup */
	bool		smtps;		/* smtps://host[:port]: TLS from the first byte (port 465) */
};

struct route {
	char		domain[256];	/* lower case, without the leading dot */
	bool		subdomains;	/* ".example.com": every subdomain */
	struct hostport	via;
	uint8_t		tls;		/* enum tls_policy; TLS_INHERIT: tls_policy */
};

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];
	unsigned	prefix;
};

#define CONFIG_MAX_LISTEN	8
#define CONFIG_MAX_NETWORKS	64
#define CONFIG_MAX_DNS		8

struct config {
	char		path[1024];

	/* delivery */
	enum delivery_mode mode;
	struct hostport	relay_host;	/* relay mode; host[0] == 0 when unset */
	bool		relay_host_set;
	unsigned	resend_attempts;
	unsigned	resend_interval;	/* seconds */
	unsigned	resend_backoff;		/* each wait is this many times the last; 1 = fixed */
	unsigned	max_queue_lifetime;	/* seconds; 0 = only resend_attempts limits */
	unsigned	delay_warning;		/* seconds; 0 = no delay warning */
	unsigned	queue_active_limit;	/* mails in the scheduler's memory; 0 = no limit */
	unsigned	destination_concurrency;
	unsigned	max_rcpt_per_transaction;
	unsigned	max_mails_per_connection;
	unsigned	connection_idle;	/* seconds a reusable connection stays open */
	unsigned	connect_timeout;	/* seconds */
	unsigned	smtp_command_timeout;	/* greeting, EHLO, MAIL, RCPT, RSET */
	unsigned	smtp_data_timeout;	/* DATA and each block of content */
	unsigned	smtp_final_timeout;	/* the reply to the final dot */
	uint8_t		tls_policy;		/* enum tls_policy, independent deliveries */
	uint8_t		relay_tls_policy;	/* enum tls_policy, the relay host */
	char		tls_ca_file[1024];	/* "" = the system CA store */
	char		relay_auth_user[256];	/* "" = no AUTH */
	char		relay_auth_password_file[1024];
	bool		relay_auth_plaintext;	/* AUTH without TLS, loopback relay only */
	bool		mta_sts;		/* MTA-STS (RFC 8461) for recipient domains */
	/* TLS reporting (RFC 8460) */
	bool		tlsrpt;			/* count sessions, send daily reports */
	char		tlsrpt_submitter[256];	/* report's organization-name; "" = the host name */
	char		tlsrpt_contact[256];	/* contact-info; "" = postmaster@submitter */
	char		tlsrpt_from[256];	/* sender of report mails; "" = postmaster@submitter */
	char		helo_name[256];	/* EHLO/Received name; default: hostname */
	enum inet_protocols inet_protocols;
	struct hostport	dns_servers[CONFIG_MAX_DNS];
	unsigned	ndns_servers;	/* 0: taken from /etc/resolv.conf */
	char		dnssec_trust_anchor[1024];	/* DS/DNSKEY file; "" = no validation */
	unsigned	unreachable_cache_time;	/* seconds an address that timed out is skipped */
	unsigned	happy_eyeballs_delay;	/* ms before the second address family; 0 = off */
	char		shared_limits[256];	/* redis://ADDRESS[:PORT]; "" = this node alone */
	unsigned	node_count;		/* nodes sharing the limits (fallback divisor) */

	/* submission */
	struct hostport	listen[CONFIG_MAX_LISTEN];
	unsigned	nlisten;
	struct cidr	networks[CONFIG_MAX_NETWORKS];
	unsigned	nnetworks;
	uint64_t	max_message_size;
	unsigned	max_recipients;

	/* client limits and the free-space reserve */
	unsigned	client_connection_limit;	/* per client address; 0 = none */
	unsigned	client_connection_rate;		/* per address per minute; 0 = none */
	unsigned	junk_command_limit;		/* per session and mail; 0 = none */
	unsigned	client_idle_timeout;		/* seconds: SMTP and public socket */
	unsigned	public_clients_per_uid;		/* public socket slots of one uid */
	uint64_t	queue_min_free;			/* bytes; 0 = no reserve */

	/* files and users */
	char		state_directory[1024];	/* queue/, empty/, outpost.pid */
	char		user[64];		/* delivery agents */
	char		queue_user[64];		/* the queue manager */
	char		smtpd_user[64];		/* sandbox: one uid per role */
	char		resolver_user[64];
	char		scheduler_user[64];
	char		signer_user[64];	/* the DKIM signer: the only holder of keys */
	char		sts_user[64];		/* the MTA-STS policy fetcher */
	enum sandbox_mode sandbox;		/* seccomp + Landlock in the children */
	int		queue_sync;		/* enum queue_sync: how commit rounds flush */
	char		admin_group[64];	/* may use outpostctl besides root; "" = root only */
	char		log[1024];		/* "syslog", "stderr" or a file path */
	int		log_level;		/* enum log_level */

	/* local names (shared/aliases.h) */
	char		aliases[1024];		/* aliases file; "" = none */
	char		myorigin[256];		/* "" = helo_name; "/path" = its first line */
	char		local_redirect[512];	/* catch-all for local names; "" = none */

	/* observability: log form, Prometheus endpoint */
	int		log_format;		/* enum log_format */
	char		metrics_listen[128];	/* "address:port", "" = off */
	unsigned	metrics_destinations;	/* top N domains labelled */
	/* observability, part 2: a bound on the metrics endpoint's connections */
	unsigned	metrics_max_connections;	/* open HTTP connections to the endpoint */

	struct proc_limits limits[PROC_KIND_MAX];

	struct route	*routes;
	size_t		 nroutes;

	/* DKIM signing: the [dkim] section (dkim_conf.h) */
	struct dkim_domain *dkim;
	size_t		 ndkim;
	/* [destinations]: traffic shaping (config_dest.h) */
	struct dest_conf *destinations;
	size_t		 ndestinations;
};

/* Defaults only (no file). */
void	config_defaults(struct config *);
/* Parse path into c (defaults first). On error prints "path:line: msg" lines to
 * errbuf and returns -1; errbuf holds every problem found, not just the first. */
int	config_load(struct config *c, const char *path, char *errbuf, size_t errlen);
/* Parse from memory (tests, fuzzing); name is used in messages. */
int	config_parse(struct config *c, const char *name, const char *text, size_t len,
	    char *errbuf, size_t errlen);
/* Apply one "name=value" override (command line -o). */
int	config_override(struct config *c, const char *assignment, char *errbuf, size_t errlen);
/* Several -o name=value at once: all set, then the whole checked once. */
int	config_overrides(struct config *c, const char *const *assignments, int n, char *errbuf,
	    size_t errlen);
void	config_free(struct config *);
/* The route for a domain in independent mode, or NULL. */
const struct route *config_route(const struct config *, const char *domain);
/* Is this peer address in the allowed networks? */
bool	config_network_allowed(const struct config *, const struct sockaddr *);
/* Parse "host", "host:port", "[addr]:port", "[v6]:port" (port defaults to defport). */
int	hostport_parse(const char *s, uint16_t defport, struct hostport *out);
/* "none|may|encrypt|verify" -> enum tls_policy, or -1. */
int	tls_policy_parse(const char *);
const char *tls_policy_name(int);
/* Parse a duration ("300", "5m", "2h", "1d") into seconds; -1 when invalid. */
int64_t	config_parse_duration(const char *s, uint64_t max);
/* Parse a size ("1024", "10k", "35M", "1G") in bytes; -1 when invalid. */
int64_t	config_parse_size(const char *s, uint64_t max);
/* Print every parameter with type, default and description (docs). */
void	config_print_reference(FILE *);
/* Print the effective configuration. */
void	config_print(const struct config *, FILE *);

/* Derived paths */
void	config_queue_dir(const struct config *, char *buf, size_t len);
void	config_empty_dir(const struct config *, char *buf, size_t len);
void	config_submit_socket(const struct config *, char *buf, size_t len);
void	config_pid_file(const struct config *, char *buf, size_t len);
void	config_control_socket(const struct config *, char *buf, size_t len);

#endif
