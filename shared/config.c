/* SPDX-License-Identifier: ISC */
/*
 * config.c - outpost's configuration parameters, their parser and checker.
 *
 * The master parses the file once (and again on reload); children parse the
 * same text, handed over by the master (daemons/master/master_exec.c). The table params[] is the single source of
 * truth: the parser, `outpost -n` (print the effective config) and
 * `outpost -R` (the reference in the docs) all walk it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "helo_default.h"
#include "dkim_conf.h"
#include "config_dest.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

enum ptype {
	P_STR, P_UINT, P_INT, P_DURATION, P_SIZE, P_ENUM,
	P_HOSTPORT, P_LISTEN, P_NETWORKS, P_DNS, P_TLS, P_BOOL
};

struct param {
	const char	*name;
	enum ptype	 type;
	size_t		 off;		/* offsetof in struct config or struct proc_limits */
	size_t		 size;		/* P_STR: buffer size */
	long long	 min, max;
	const char	*def;		/* default as written in the file */
	const char	*desc;
	const char *const *names;	/* P_ENUM: the words, in the order of the enum's values */
};

/* The words of each enumerated parameter, indexed by the enum's value. */
static const char *const mode_names[] = { "independent", "relay", NULL };
static const char *const inet_names[] = { "all", "ipv4", "ipv6", NULL };
static const char *const loglevel_names[] = { "basic", "detailed", NULL };
static const char *const sandbox_names[] = { "no", "yes", "log", NULL };
static const char *const logformat_names[] = { "syslog", "json", NULL };
static const char *const qsync_names[] = { "syncfs", "files", NULL };
_Static_assert(sizeof(enum delivery_mode) == sizeof(int) &&
    sizeof(enum inet_protocols) == sizeof(int) && sizeof(enum sandbox_mode) == sizeof(int),
    "P_ENUM stores an int");

#define C(f)	offsetof(struct config, f)
#define L(f)	offsetof(struct proc_limits, f)

static const struct param params[] = {
	{ "delivery_mode", P_ENUM, C(mode), 0, 0, 0, "independent",
	  "independent: MX lookup and direct delivery, [routes] obeyed; relay: everything via relay_host, [routes] ignored",
	  mode_names },
	{ "relay_host", P_HOSTPORT, C(relay_host), 0, 0, 0, "",
	  "smarthost for relay mode: host, host:port, [address]:port", NULL },
	{ "resend_attempts", P_UINT, C(resend_attempts), 0, 0, 1000, "5",
	  "re-send attempts after the first failed one; then the mail bounces", NULL },
	{ "resend_interval", P_DURATION, C(resend_interval), 0, 1, 30 * 86400, "5m",
	  "wait between re-send attempts (s, m, h, d suffixes)", NULL },
	{ "resend_backoff", P_UINT, C(resend_backoff), 0, 1, 10, "1",
	  "factor between successive re-send waits (1: every wait is resend_interval)", NULL },
	{ "max_queue_lifetime", P_DURATION, C(max_queue_lifetime), 0, 0, 365 * 86400, "0",
	  "bounce what is still undelivered after this long in the queue (0: no limit)", NULL },
	{ "delay_warning", P_DURATION, C(delay_warning), 0, 0, 365 * 86400, "0",
	  "send the sender one \"still trying\" notice after this long (0: never)", NULL },
	{ "queue_active_limit", P_UINT, C(queue_active_limit), 0, 0, 100000000, "20000",
	  "mails the scheduler keeps in memory; past it, mails waiting for a later re-send wait on disk until due (0: no limit)", NULL },
	{ "destination_concurrency", P_UINT, C(destination_concurrency), 0, 1, 10000, "20",
	  "parallel connections to one destination", NULL },
	{ "max_rcpt_per_transaction", P_UINT, C(max_rcpt_per_transaction), 0, 1, 100, "100",
	  "recipients sent in one SMTP transaction", NULL },
	{ "max_mails_per_connection", P_UINT, C(max_mails_per_connection), 0, 1, 1000000, "100",
	  "mails sent over one reused connection before it is closed", NULL },
	{ "connection_idle", P_DURATION, C(connection_idle), 0, 0, 3600, "10s",
	  "how long an idle outgoing connection is kept for reuse", NULL },
	{ "connect_timeout", P_DURATION, C(connect_timeout), 0, 1, 600, "30s",
	  "timeout of one outgoing connection attempt", NULL },
	{ "smtp_command_timeout", P_DURATION, C(smtp_command_timeout), 0, 1, 3600, "5m",
	  "wait for the greeting and the replies to EHLO, MAIL, RCPT, RSET (RFC 5321: 5m)", NULL },
	{ "smtp_data_timeout", P_DURATION, C(smtp_data_timeout), 0, 1, 3600, "3m",
	  "wait for the reply to DATA (at most 2m) and for each block of content to go out", NULL },
	{ "smtp_final_timeout", P_DURATION, C(smtp_final_timeout), 0, 1, 3600, "10m",
	  "wait for the reply to the final dot (RFC 5321: 10m)", NULL },
	{ "tls_policy", P_TLS, C(tls_policy), 0, 0, 0, "may",
	  "TLS towards MX hosts and routes: none, may (use it when offered), encrypt, verify, "
	  "dane (TLSA where DNSSEC-signed, else may), dane-only", NULL },
	{ "relay_tls_policy", P_TLS, C(relay_tls_policy), 0, 0, 0, "verify",
	  "TLS towards relay_host: none, may, encrypt, verify (certificate and host name)", NULL },
	{ "tls_ca_file", P_STR, C(tls_ca_file), sizeof(((struct config *)0)->tls_ca_file), 0, 0, "",
	  "CA certificates for verify (PEM file); empty: the system store", NULL },
	{ "relay_auth_user", P_STR, C(relay_auth_user), sizeof(((struct config *)0)->relay_auth_user),
	  0, 0, "", "user name for SMTP AUTH at relay_host (empty: no AUTH)", NULL },
	{ "relay_auth_password_file", P_STR, C(relay_auth_password_file),
	  sizeof(((struct config *)0)->relay_auth_password_file), 0, 0, "",
	  "file holding the AUTH password, readable by root only; read by the master", NULL },
	{ "relay_auth_plaintext", P_BOOL, C(relay_auth_plaintext), 0, 0, 0, "no",
	  "allow AUTH without TLS, and only to a loopback relay_host", NULL },
	{ "helo_name", P_STR, C(helo_name), sizeof(((struct config *)0)->helo_name), 0, 0, "",
	  "name used in EHLO and Received headers (default: /etc/mailname, else the canonical host name)", NULL },
	{ "inet_protocols", P_ENUM, C(inet_protocols), 0, 0, 0, "all",
	  "all, ipv4 or ipv6: address families used for delivery", inet_names },
	{ "dns_servers", P_DNS, C(dns_servers), 0, 0, 0, "",
	  "DNS servers (address or address@port, comma separated); empty: those of /etc/resolv.conf", NULL },
	{ "dnssec_trust_anchor", P_STR, C(dnssec_trust_anchor),
	  sizeof(((struct config *)0)->dnssec_trust_anchor), 0, 0, "",
	  "DNSSEC trust anchor: DS or DNSKEY records in zone-file format (absolute path, e.g. "
	  "/usr/share/dns/root.key); empty: no validation, every answer insecure", NULL },
	/* MTA-STS (RFC 8461) */
	{ "mta_sts", P_BOOL, C(mta_sts), 0, 0, 0, "yes",
	  "apply recipient domains' MTA-STS policies (fetched over HTTPS, verified with "
	  "tls_ca_file); DANE takes precedence", NULL },
	/* TLS reporting (RFC 8460) */
	{ "tlsrpt", P_BOOL, C(tlsrpt), 0, 0, 0, "no",
	  "count TLS sessions per policy domain and send them, once a UTC day, the aggregate "
	  "report their _smtp._tls TXT record asks for (mailto: or https:)", NULL },
	{ "tlsrpt_submitter", P_STR, C(tlsrpt_submitter),
	  sizeof(((struct config *)0)->tlsrpt_submitter), 0, 0, "",
	  "the reports' organization-name and TLS-Report-Submitter (empty: the host name)", NULL },
	{ "tlsrpt_contact", P_STR, C(tlsrpt_contact), sizeof(((struct config *)0)->tlsrpt_contact),
	  0, 0, "", "the reports' contact-info (empty: postmaster@ the submitter)", NULL },
	{ "tlsrpt_from", P_STR, C(tlsrpt_from), sizeof(((struct config *)0)->tlsrpt_from), 0, 0, "",
	  "envelope and From: address of report mails (empty: postmaster@ the submitter)", NULL },
	/* traffic shaping: dead destinations ([destinations] is config_dest.c) */
	{ "unreachable_cache_time", P_DURATION, C(unreachable_cache_time), 0, 0, 86400, "60s",
	  "how long an address whose connect timed out is not tried again by other mails (0: off)",
	  NULL },
	{ "happy_eyeballs_delay", P_UINT, C(happy_eyeballs_delay), 0, 0, 10000, "250",
	  "milliseconds before connecting to an MX host's other address family too (RFC 8305; 0: off)",
	  NULL },
	{ "shared_limits", P_STR, C(shared_limits), sizeof(((struct config *)0)->shared_limits),
	  0, 0, "", "share [destinations] rates with other nodes through Redis: "
	  "redis://ADDRESS[:PORT] (empty: this node alone)", NULL },
	{ "node_count", P_UINT, C(node_count), 0, 1, 1000, "1",
	  "nodes sharing the limits: while Redis is unreachable each node uses rate / node_count",
	  NULL },
	{ "listen", P_LISTEN, C(listen), 0, 0, 0, "127.0.0.1:2525",
	  "SMTP submission listeners (address:port, [v6]:port, comma separated; empty: none)", NULL },
	{ "allowed_networks", P_NETWORKS, C(networks), 0, 0, 0, "127.0.0.0/8, ::1/128",
	  "clients allowed to submit over SMTP (CIDR, comma separated)", NULL },
	{ "max_message_size", P_SIZE, C(max_message_size), 0, 1024, 4LL << 30, "35M",
	  "largest accepted mail in bytes (k, M, G suffixes)", NULL },
	{ "max_recipients", P_UINT, C(max_recipients), 0, 1, 100000, "1000",
	  "recipients accepted for one mail", NULL },
	/* client limits and the free-space reserve (intake protection) */
	{ "client_connection_limit", P_UINT, C(client_connection_limit), 0, 0, 100000, "100",
	  "concurrent SMTP connections from one client address, refused with 421 4.7.0 above it "
	  "(0: no limit; the default is half of [smtpd] max_sessions' default)", NULL },
	{ "client_connection_rate", P_UINT, C(client_connection_rate), 0, 0, 1000000, "0",
	  "SMTP connections one client address may open per minute (0: no limit)", NULL },
	{ "junk_command_limit", P_UINT, C(junk_command_limit), 0, 0, 1000000, "100",
	  "NOOP, RSET, VRFY, HELP and unknown commands per SMTP session and mail before it is "
	  "closed with 421 (0: no limit)", NULL },
	{ "client_idle_timeout", P_DURATION, C(client_idle_timeout), 0, 1, 3600, "5m",
	  "an SMTP client or a local submitter (public socket) silent this long is dropped", NULL },
	{ "public_clients_per_uid", P_UINT, C(public_clients_per_uid), 0, 1, 256, "32",
	  "concurrent local submitters (outpost-sendmail, mailq) of one user id, of 256 in all", NULL },
	{ "queue_min_free", P_SIZE, C(queue_min_free), 0, 0, 1LL << 50, "100M",
	  "free space kept in the queue file system, at least 2 x max_message_size: below it "
	  "submissions are refused with 452 4.3.1 and bounces wait (0: no reserve)", NULL },
	/* queue durability: how a commit round reaches the disk (qmgr_commit.c) */
	{ "queue_sync", P_ENUM, C(queue_sync), 0, 0, 0, "syncfs",
	  "syncfs: one syncfs() and one device flush per commit round (writes back everything dirty "
	  "on the queue's file system: best with the queue on a file system of its own); files: "
	  "an fdatasync per file and an fsync of the queue directory per round (two flushes or more); "
	  "both answer a mail only once it is durable", qsync_names },
	{ "state_directory", P_STR, C(state_directory), sizeof(((struct config *)0)->state_directory), 0, 0,
	  "/var/spool/outpost", "queue, empty chroot directory and pid file live here (absolute path)", NULL },
	{ "user", P_STR, C(user), sizeof(((struct config *)0)->user), 0, 0, "outpost",
	  "unprivileged user of the delivery agents", NULL },
	{ "queue_user", P_STR, C(queue_user), sizeof(((struct config *)0)->queue_user), 0, 0, "outpostq",
	  "owner of the queue, user of the queue manager", NULL },
	/* Sandbox: one uid per role, so that no child can signal or trace another. */
	{ "smtpd_user", P_STR, C(smtpd_user), sizeof(((struct config *)0)->smtpd_user), 0, 0,
	  "outpost-smtpd", "unprivileged user of the SMTP listener", NULL },
	{ "resolver_user", P_STR, C(resolver_user), sizeof(((struct config *)0)->resolver_user), 0, 0,
	  "outpost-dns", "unprivileged user of the DNS resolver", NULL },
	{ "scheduler_user", P_STR, C(scheduler_user), sizeof(((struct config *)0)->scheduler_user), 0, 0,
	  "outpost-sched", "unprivileged user of the scheduler", NULL },
	{ "signer_user", P_STR, C(signer_user), sizeof(((struct config *)0)->signer_user), 0, 0,
	  "outpost-dkim", "unprivileged user of the DKIM signer, the only process that holds "
	  "private keys", NULL },
	{ "sts_user", P_STR, C(sts_user), sizeof(((struct config *)0)->sts_user), 0, 0,
	  "outpost-sts", "unprivileged user of the MTA-STS policy fetcher (HTTPS), the owner of its "
	  "policy cache", NULL },
	{ "sandbox", P_ENUM, C(sandbox), 0, 0, 0, "yes",
	  "seccomp system call filter and Landlock rules in every child; no: neither (debugging only); "
	  "log: Landlock, and the kernel logs (dmesg) the calls the filter would refuse instead of "
	  "killing the process (to extend a profile)", sandbox_names },
	{ "admin_group", P_STR, C(admin_group), sizeof(((struct config *)0)->admin_group), 0, 0, "",
	  "group whose members may use outpostctl besides root (empty: root only)", NULL },
	{ "log", P_STR, C(log), sizeof(((struct config *)0)->log), 0, 0, "syslog",
	  "syslog (facility mail; under systemd, with stderr on the journal, the journal's own "
	  "protocol), journal (systemd's journal with structured fields), stderr, or the "
	  "absolute path of a log file", NULL },
	{ "log_level", P_ENUM, C(log_level), 0, 0, 0, "basic",
	  "basic (lookups, transactions, failures) or detailed (connections, SMTP dialogue, DNS)", loglevel_names },
	/* local names: the aliases file, myorigin and the catch-all (shared/aliases.h) */
	{ "aliases", P_STR, C(aliases), sizeof(((struct config *)0)->aliases), 0, 0, "",
	  "aliases file in /etc/aliases format (absolute path; empty: no aliases)", NULL },
	{ "myorigin", P_STR, C(myorigin), sizeof(((struct config *)0)->myorigin), 0, 0, "",
	  "domain of local names: added to unqualified addresses, and its recipients are "
	  "looked up in aliases (empty: helo_name; an absolute path: the file's first line, "
	  "e.g. /etc/mailname)", NULL },
	{ "local_redirect", P_STR, C(local_redirect), sizeof(((struct config *)0)->local_redirect),
	  0, 0, "", "address that gets mail for local names not in aliases (empty: none)", NULL },
	/* observability: log form that tools read, Prometheus metrics */
	{ "log_format", P_ENUM, C(log_format), 0, 0, 0, "syslog",
	  "syslog (lines as Postfix writes them, read by pflogsumm; in a file with an RFC 3339 time "
	  "and the host) or json (one object per line)", logformat_names },
	{ "metrics_listen", P_STR, C(metrics_listen), sizeof(((struct config *)0)->metrics_listen), 0, 0, "",
	  "address:port of the Prometheus endpoint served by the master (e.g. 127.0.0.1:9187); empty: off", NULL },
	{ "metrics_destinations", P_UINT, C(metrics_destinations), 0, 0, 100, "10",
	  "destination domains given their own metrics labels: the top N by volume", NULL },
	/* observability, part 2: metrics connections, the journal */
	{ "metrics_max_connections", P_UINT, C(metrics_max_connections), 0, 1, 1024, "16",
	  "open HTTP connections to the metrics endpoint at once; more are closed at once, "
	  "and an idle one is closed after 10 seconds", NULL },
};

/* Per-process sections: [qmgr] [scheduler] [resolver] [smtpd] [agent]. */
static const struct param limit_params[] = {
	{ "count", P_UINT, L(count), 0, 1, 64, "1",
	  "instances of the process (only agents may have more than one)", NULL },
	{ "open_files", P_SIZE, L(open_files), 0, 0, 1 << 20, "0", "RLIMIT_NOFILE (0: the role's default, README Security)", NULL },
	{ "memory", P_SIZE, L(memory), 0, 0, 1LL << 40, "0", "RLIMIT_AS in bytes (0: unchanged)", NULL },
	{ "max_sessions", P_UINT, L(max_sessions), 0, 1, 100000, "100",
	  "concurrent SMTP sessions (smtpd, agent)", NULL },
	{ "nice", P_INT, L(nice), 0, -20, 19, "0", "scheduling priority", NULL },
};

struct errs {
	char		*buf;
	size_t		 len;
	int		 count;
};

static void __attribute__((format(printf, 4, 5)))
cerr(struct errs *e, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;
	size_t	used;
	char	msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->count++;
	if (e->buf == NULL || e->len == 0)
		return;
	used = strlen(e->buf);
	if (line > 0)
		snprintf(e->buf + used, e->len - used, "%s:%d: %s\n", file, line, msg);
	else
		snprintf(e->buf + used, e->len - used, "%s: %s\n", file, msg);
}

int64_t
config_parse_duration(const char *s, uint64_t max)
{
	char		*end;
	unsigned long long v;
	uint64_t	 mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > max / mult)
		return -1;
	return (int64_t)(v * mult);
}

int64_t
config_parse_size(const char *s, uint64_t max)
{
	char		*end;
	unsigned long long v;
	uint64_t	 mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k': case 'K': mult = 1024; break;
		case 'm': case 'M': mult = 1024 * 1024; break;
		case 'g': case 'G': mult = 1024 * 1024 * 1024; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > max / mult)
		return -1;
	return (int64_t)(v * mult);
}

static bool
valid_hostname(const char *h)
{
	size_t	len = strlen(h), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (; *h; h++) {
		if (*h == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

int
tls_policy_parse(const char *s)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify", "dane",
	    "dane-only" };

	for (int i = 0; i < 6; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

const char *
tls_policy_name(int policy)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify", "dane",
	    "dane-only", "sts" };

	return policy >= 0 && policy < 7 ? names[policy] : "inherit";
}

int
hostport_parse(const char *s, uint16_t defport, struct hostport *out)
{
	const char	*p, *portstr = NULL;
	char		 host[256];
	size_t		 hlen;
	const char	*errstr;
	unsigned char	 tmp[16];
	bool		 smtps = false;

	if (strncmp(s, "smtps://", 8) == 0) {
		smtps = true;
		s += 8;
		defport = 465;
	}
	memset(out, 0, sizeof(*out));
	out->smtps = smtps;
	out->port = defport;
	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL)
			return -1;
		hlen = p - (s + 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (p[1] == ':')
			portstr = p + 2;
		else if (p[1] != '\0')
			return -1;
		out->literal = true;
	} else {
		p = strchr(s, ':');
		if (p != NULL && strchr(p + 1, ':') != NULL)
			return -1;	/* a bare IPv6 address needs brackets */
		hlen = p ? (size_t)(p - s) : strlen(s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (p)
			portstr = p + 1;
	}
	if (portstr != NULL) {
		out->port = strtonum(portstr, 1, 65535, &errstr);
		if (errstr != NULL)
			return -1;
	}
	if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1 &&
	    !valid_hostname(host))
		return -1;
	if (!out->literal && inet_pton(AF_INET6, host, tmp) == 1)
		return -1;
	for (char *q = host; *q; q++)
		*q = tolower((unsigned char)*q);
	strlcpy(out->host, host, sizeof(out->host));
	return 0;
}

static int
cidr_parse(const char *s, struct cidr *out)
{
	char		 addr[64];
	const char	*slash, *errstr;
	size_t		 len;
	unsigned	 max;

	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	len = slash ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return -1;
	out->prefix = max;
	if (slash) {
		out->prefix = strtonum(slash + 1, 0, max, &errstr);
		if (errstr != NULL)
			return -1;
	}
	return 0;
}

static bool
cidr_match(const struct cidr *n, int family, const uint8_t *addr)
{
	unsigned	bits = n->prefix, i;

	if (n->family != family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (n->addr[i] != addr[i])
			return false;
	if (bits > 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));
		if ((n->addr[i] & mask) != (addr[i] & mask))
			return false;
	}
	return true;
}

bool
config_network_allowed(const struct config *c, const struct sockaddr *sa)
{
	const uint8_t	*addr;
	int		 family = sa->sa_family;
	unsigned	 i;
	uint8_t		 v4[4];

	if (family == AF_INET)
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		addr = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* An IPv4-mapped client is judged as the IPv4 address it is. */
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
			memcpy(v4, addr + 12, 4);
			addr = v4;
			family = AF_INET;
		}
	} else
		return false;
	for (i = 0; i < c->nnetworks; i++)
		if (cidr_match(&c->networks[i], family, addr))
			return true;
	return false;
}

/* Split a comma/space separated list; calls fn on each item. */
static int
split_list(const char *value, int (*fn)(void *, const char *), void *arg)
{
	char	 buf[4096], *p, *item;
	int	 r;

	if (strlcpy(buf, value, sizeof(buf)) >= sizeof(buf))
		return -1;
	p = buf;
	while ((item = strsep(&p, ", \t")) != NULL) {
		if (*item == '\0')
			continue;
		if ((r = fn(arg, item)) < 0)
			return r;
	}
	return 0;
}

static bool	listen_has_port(const char *);

static int
add_listen(void *arg, const char *item)
{
	struct config	*c = arg;

	if (c->nlisten >= CONFIG_MAX_LISTEN)
		return -1;
	if (!listen_has_port(item))
		return -2;
	if (hostport_parse(item, 25, &c->listen[c->nlisten]) == -1)
		return -1;
	{
		unsigned char tmp[16];
		if (inet_pton(AF_INET, c->listen[c->nlisten].host, tmp) != 1 &&
		    inet_pton(AF_INET6, c->listen[c->nlisten].host, tmp) != 1)
			return -1;	/* listeners take addresses, not names */
	}
	c->nlisten++;
	return 0;
}

static int
add_network(void *arg, const char *item)
{
	struct config	*c = arg;

	if (c->nnetworks >= CONFIG_MAX_NETWORKS)
		return -1;
	if (cidr_parse(item, &c->networks[c->nnetworks]) == -1)
		return -1;
	c->nnetworks++;
	return 0;
}

static int
add_dns(void *arg, const char *item)
{
	struct config	*c = arg;
	struct hostport	*hp;
	const char	*at, *errstr;
	unsigned char	 tmp[16];
	size_t		 len;

	if (c->ndns_servers >= CONFIG_MAX_DNS)
		return -1;
	hp = &c->dns_servers[c->ndns_servers];
	memset(hp, 0, sizeof(*hp));
	hp->port = 53;
	hp->literal = true;
	at = strchr(item, '@');
	len = at ? (size_t)(at - item) : strlen(item);
	if (len == 0 || len >= sizeof(hp->host))
		return -1;
	memcpy(hp->host, item, len);
	hp->host[len] = '\0';
	if (inet_pton(AF_INET, hp->host, tmp) != 1 && inet_pton(AF_INET6, hp->host, tmp) != 1)
		return -1;
	if (at) {
		hp->port = strtonum(at + 1, 1, 65535, &errstr);
		if (errstr != NULL)
			return -1;
	}
	c->ndns_servers++;
	return 0;
}

static const char *
type_name(const struct param *p)
{
	static char words[128];

	switch (p->type) {
	case P_STR: return "string";
	case P_UINT: case P_INT: return "number";
	case P_DURATION: return "duration";
	case P_SIZE: return "size";
	case P_ENUM:
		words[0] = '\0';
		for (int i = 0; p->names[i] != NULL; i++) {
			if (i > 0)
				strlcat(words, "|", sizeof(words));
			strlcat(words, p->names[i], sizeof(words));
		}
		return words;
	case P_HOSTPORT: return "host[:port]";
	case P_LISTEN: return "address:port list";
	case P_NETWORKS: return "CIDR list";
	case P_DNS: return "address[@port] list";
	case P_TLS: return "none|may|encrypt|verify|dane|dane-only";
	case P_BOOL: return "yes|no";
	}
	return "?";
}

/* Set one parameter from its textual value. Returns NULL or an error text. */
static const char *
param_set(const struct param *p, void *base, const char *value, char *err, size_t errlen)
{
	void		*dst = (char *)base + p->off;
	const char	*errstr;
	long long	 n;
	int64_t		 v;
	struct config	*c = base;

	switch (p->type) {
	case P_STR:
		if (strlcpy(dst, value, p->size) >= p->size)
			return "value too long";
		return NULL;
	case P_UINT:
	case P_INT:
		n = strtonum(value, p->min, p->max, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "%s must be a number from %lld to %lld (%s)",
			    p->name, p->min, p->max, errstr);
			return err;
		}
		if (p->type == P_UINT)
			*(unsigned *)dst = (unsigned)n;
		else
			*(int *)dst = (int)n;
		return NULL;
	case P_DURATION:
		v = config_parse_duration(value, (uint64_t)p->max);
		if (v < p->min) {
			snprintf(err, errlen, "%s must be a duration from %llds to %llds (e.g. 30s, 5m, 4h, 5d)",
			    p->name, p->min, p->max);
			return err;
		}
		*(unsigned *)dst = (unsigned)v;
		return NULL;
	case P_SIZE:
		v = config_parse_size(value, (uint64_t)p->max);
		if (v < p->min) {
			snprintf(err, errlen, "%s must be a size from %lld to %lld bytes (k, M, G suffixes)",
			    p->name, p->min, p->max);
			return err;
		}
		*(uint64_t *)dst = (uint64_t)v;
		return NULL;
	case P_ENUM:
		/* Every enum here is int-sized; the words come in value order. */
		for (int i = 0; p->names[i] != NULL; i++)
			if (strcmp(value, p->names[i]) == 0) {
				*(int *)dst = i;
				return NULL;
			}
		snprintf(err, errlen, "expected one of %s", type_name(p));
		return err;
	case P_TLS:
		if ((n = tls_policy_parse(value)) < 0)
			return "expected none, may, encrypt, verify, dane or dane-only";
		*(uint8_t *)dst = (uint8_t)n;
		return NULL;
	case P_BOOL:
		if (strcmp(value, "yes") == 0)
			*(bool *)dst = true;
		else if (strcmp(value, "no") == 0)
			*(bool *)dst = false;
		else
			return "expected yes or no";
		return NULL;
	case P_HOSTPORT:
		if (*value == '\0') {
			c->relay_host_set = false;
			memset(&c->relay_host, 0, sizeof(c->relay_host));
			return NULL;
		}
		if (hostport_parse(value, 25, dst) == -1)
			return "expected host, host:port or [address]:port";
		c->relay_host_set = true;
		return NULL;
	case P_LISTEN:
		c->nlisten = 0;
		if ((n = split_list(value, add_listen, c)) == -2) {
			snprintf(err, errlen, "every item needs its port: address:port, "
			    "e.g. 127.0.0.1:25 or [::1]:2525");
			return err;
		}
		if (n < 0) {
			snprintf(err, errlen, "expected up to %d address:port items "
			    "(IPv6 as [addr]:port)", CONFIG_MAX_LISTEN);
			return err;
		}
		return NULL;
	case P_NETWORKS:
		c->nnetworks = 0;
		if (split_list(value, add_network, c) == -1) {
			snprintf(err, errlen, "expected up to %d CIDR items "
			    "like 127.0.0.0/8 or ::1/128", CONFIG_MAX_NETWORKS);
			return err;
		}
		return NULL;
	case P_DNS:
		c->ndns_servers = 0;
		if (split_list(value, add_dns, c) == -1) {
			snprintf(err, errlen, "expected up to %d IP addresses, "
			    "optionally with @port", CONFIG_MAX_DNS);
			return err;
		}
		return NULL;
	}
	return "internal error: unknown parameter type";
}

static const struct param *
param_find(const struct param *tab, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

#define NPARAMS		(sizeof(params) / sizeof(params[0]))
#define NLIMITS		(sizeof(limit_params) / sizeof(limit_params[0]))

/* Levenshtein distance of two short names, bounded by their buffers. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b), i, j, prev, cur, best;
	size_t	 row[64];

	if (la >= sizeof(row) / sizeof(row[0]) || lb >= sizeof(row) / sizeof(row[0]))
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

/*
 * The known name nearest to a mistyped one, or NULL when none is near:
 * at most a third of the name's length apart (and at most 3 edits), so
 * that "resend_atempts" finds resend_attempts but "colour" finds nothing.
 */
static const char *
param_nearest(const struct param *tab, size_t n, const char *key)
{
	size_t		 i, d, best = SIZE_MAX, limit = strlen(key) / 3;
	const char	*name = NULL;

	if (limit > 3)
		limit = 3;
	if (limit < 1)
		limit = 1;
	for (i = 0; i < n; i++) {
		d = edit_distance(key, tab[i].name);
		if (d < best) {
			best = d;
			name = tab[i].name;
		}
	}
	return best <= limit ? name : NULL;
}

/* "unknown parameter" with the nearest known name, when there is one. */
static void
unknown_param(struct errs *e, const char *file, int line, const char *key,
    const struct param *tab, size_t n, const char *section)
{
	const char	*near = param_nearest(tab, n, key);
	char		 in[64] = "";

	if (section != NULL)
		snprintf(in, sizeof(in), " in [%s]", section);
	if (near != NULL)
		cerr(e, file, line, "unknown parameter \"%s\"%s (did you mean %s?)", key, in,
		    near);
	else
		cerr(e, file, line, "unknown parameter \"%s\"%s", key, in);
}

/*
 * The file form of listen requires the port: "127.0.0.1" alone once meant
 * port 25 silently, which is never what a submission listener wants.
 */
static bool
listen_has_port(const char *item)
{
	const char	*p;

	if (strncmp(item, "smtps://", 8) == 0)
		item += 8;
	if (*item == '[')
		return (p = strchr(item, ']')) != NULL && p[1] == ':';
	return strchr(item, ':') != NULL;
}

void
config_defaults(struct config *c)
{
	char	 err[256];
	size_t	 i;
	int	 k;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NPARAMS; i++)
		if (param_set(&params[i], c, params[i].def, err, sizeof(err)) != NULL)
			fatalx("default of %s is invalid", params[i].name);
	for (k = 0; k < PROC_KIND_MAX; k++)
		for (i = 0; i < NLIMITS; i++)
			(void)param_set(&limit_params[i], &c->limits[k], limit_params[i].def,
			    err, sizeof(err));
	c->limits[PROC_AGENT].count = 2;
	c->limits[PROC_AGENT].max_sessions = 200;
	c->limits[PROC_SMTPD].max_sessions = 200;
	/* a placeholder: config_parse() looks the default up when the file has none */
	if (gethostname(c->helo_name, sizeof(c->helo_name)) == -1 || c->helo_name[0] == '\0')
		strlcpy(c->helo_name, "localhost", sizeof(c->helo_name));
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
section_kind(const char *name)
{
	int	k;

	for (k = PROC_QMGR; k < PROC_KIND_MAX; k++)
		if (strcmp(proc_kind_name(k), name) == 0)
			return k;
	return -1;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]", the forms of RFC 5321 4.1.3. */
static bool
route_literal_ok(const char *d)
{
	char		 a[INET6_ADDRSTRLEN + 8];
	size_t		 len = strlen(d);
	unsigned char	 tmp[16];

	if (len < 3 || d[len - 1] != ']' || len - 2 >= sizeof(a))
		return false;
	memcpy(a, d + 1, len - 2);
	a[len - 2] = '\0';
	if (strncasecmp(a, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, a + 5, tmp) == 1;
	return inet_pton(AF_INET, a, tmp) == 1;
}

static void
add_route(struct config *c, const char *name, const char *value, int line,
    struct errs *e, const char *file)
{
	struct route	 r;
	const char	*d = name;

	memset(&r, 0, sizeof(r));
	if (param_find(params, NPARAMS, name) != NULL) {
		cerr(e, file, line, "%s: this parameter belongs before the [routes] section "
		    "(after [routes], every line is a route)", name);
		return;
	}
	if (*d == '.') {
		r.subdomains = true;
		d++;
	}
	if (*d == '[' && !r.subdomains) {
		if (!route_literal_ok(d)) {
			cerr(e, file, line, "route: \"%s\" is not an address literal such as "
			    "[192.0.2.1] or [IPv6:2001:db8::1]", name);
			return;
		}
	} else if (!valid_hostname(d) || strchr(d, '_') != NULL) {
		cerr(e, file, line, "route: \"%s\" is not a domain, .domain or [address]", name);
		return;
	}
	strlcpy(r.domain, d, sizeof(r.domain));
	for (char *q = r.domain; *q; q++)
		*q = tolower((unsigned char)*q);
	r.tls = TLS_INHERIT;
	/* "host[:port] tls=verify": the policy for this route only. */
	char	 hostpart[512];
	const char *sp = strpbrk(value, " \t");
	if (sp != NULL) {
		const char *opt = sp;
		while (*opt == ' ' || *opt == '\t')
			opt++;
		int pol = strncmp(opt, "tls=", 4) == 0 ? tls_policy_parse(opt + 4) : -1;
		if (pol < 0) {
			cerr(e, file, line, "route for %s: expected \"host[:port] tls=none|may|encrypt|"
			    "verify|dane|dane-only\", got \"%s\"", name, value);
			return;
		}
		r.tls = (uint8_t)pol;
		if ((size_t)(sp - value) >= sizeof(hostpart)) {
			cerr(e, file, line, "route for %s: host too long", name);
			return;
		}
		memcpy(hostpart, value, sp - value);
		hostpart[sp - value] = '\0';
		value = hostpart;
	}
	if (hostport_parse(value, 25, &r.via) == -1) {
		cerr(e, file, line, "route for %s: expected host, host:port or [address]:port, got \"%s\"",
		    name, value);
		return;
	}
	for (size_t i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].domain, r.domain) == 0 &&
		    c->routes[i].subdomains == r.subdomains) {
			cerr(e, file, line, "route for %s given twice", name);
			return;
		}
	c->routes = xreallocarray(c->routes, c->nroutes + 1, sizeof(*c->routes));
	c->routes[c->nroutes++] = r;
}

/* relay_host_bad: relay_host was given but refused (reported already). */
static void
config_check(struct config *c, const char *file, struct errs *e, bool relay_host_bad)
{
	const char *why_addr;

	if (c->mode == MODE_RELAY && !c->relay_host_set && !relay_host_bad)
		cerr(e, file, 0, "delivery_mode = relay needs relay_host");
	if (c->state_directory[0] != '/')
		cerr(e, file, 0, "state_directory must be an absolute path");
	if (strcmp(c->log, "syslog") != 0 && strcmp(c->log, "stderr") != 0 &&
	    strcmp(c->log, "journal") != 0 && c->log[0] != '/')
		cerr(e, file, 0, "log must be syslog, journal, stderr or an absolute file path");
	{
		char		a[64];
		uint16_t	p;
		if (c->metrics_listen[0] != '\0' &&
		    metrics_parse_listen(c->metrics_listen, a, sizeof(a), &p) == -1)
			cerr(e, file, 0, "metrics_listen must be port, address:port or [address]:port");
	}
	if (!valid_hostname(c->helo_name))
		cerr(e, file, 0, "helo_name \"%s\" is not a valid host name", c->helo_name);
	if (c->relay_auth_user[0] != '\0' && c->relay_auth_password_file[0] != '/')
		cerr(e, file, 0, "relay_auth_user needs relay_auth_password_file (an absolute path)");
	if (c->tls_ca_file[0] != '\0' && c->tls_ca_file[0] != '/')
		cerr(e, file, 0, "tls_ca_file must be an absolute path");
	if (c->shared_limits[0] != '\0') {
		struct hostport hp;

		if (strncmp(c->shared_limits, "redis://", 8) != 0 ||
		    hostport_parse(c->shared_limits + 8, 6379, &hp) == -1)
			cerr(e, file, 0, "shared_limits must be redis://ADDRESS[:PORT]");
	}
	if (c->dnssec_trust_anchor[0] != '\0' && c->dnssec_trust_anchor[0] != '/')
		cerr(e, file, 0, "dnssec_trust_anchor must be an absolute path");
	if (c->aliases[0] != '\0' && c->aliases[0] != '/')
		cerr(e, file, 0, "aliases must be an absolute path");
	if (c->local_redirect[0] != '\0' && (strchr(c->local_redirect, '@') == NULL ||
	    addr_check_mailbox(c->local_redirect, false, &why_addr) == -1))
		cerr(e, file, 0, "local_redirect \"%s\" is not an address (local@domain)",
		    c->local_redirect);
	/* DANE: without validation every TLSA answer is insecure and dane-only could never deliver */
	if (c->dnssec_trust_anchor[0] == '\0' && (c->tls_policy == TLS_DANE_ONLY ||
	    c->relay_tls_policy == TLS_DANE_ONLY))
		cerr(e, file, 0, "tls=dane-only needs dnssec_trust_anchor (DNSSEC validation)");
	for (int k = PROC_QMGR; k < PROC_KIND_MAX; k++)
		if (k != PROC_AGENT && c->limits[k].count != 1)
			cerr(e, file, 0, "[%s] count must be 1: only agents run several instances",
			    proc_kind_name(k));
}

int
config_parse(struct config *c, const char *name, const char *text, size_t len,
    char *errbuf, size_t errlen)
{
	struct errs	 e = { errbuf, errlen, 0 };
	const char	*p = text, *end = text + len, *nl, *why;
	char		 line[4096], err[512], *l, *eq, *key, *val;
	int		 lineno = 0, section = -1;	/* -1 main, -2 routes, else proc kind */
	bool		 in_routes = false, in_dkim = false, in_dests = false, relay_host_bad = false;
	size_t		 ll;
	/* the line each parameter was set on, to refuse a second setting */
	int		 seen[NPARAMS], lseen[PROC_KIND_MAX][NLIMITS];
	const struct param *pp_helo;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	config_defaults(c);
	strlcpy(c->path, name, sizeof(c->path));
	memset(seen, 0, sizeof(seen));
	memset(lseen, 0, sizeof(lseen));
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', end - p);
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (ll >= sizeof(line)) {
			cerr(&e, name, lineno, "line too long");
			p = nl ? nl + 1 : end;
			continue;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = nl ? nl + 1 : end;
		if (memchr(line, '\0', ll) != NULL) {
			cerr(&e, name, lineno, "NUL byte in line");
			continue;
		}
		if ((l = strchr(line, '#')) != NULL)
			*l = '\0';
		l = trim(line);
		if (*l == '\0')
			continue;
		/* "[192.0.2.1] = host" under [routes] is a route, not a section */
		if (*l == '[' && strchr(l, '=') == NULL) {
			char *close = strchr(l, ']');
			if (close == NULL || close[1] != '\0') {
				cerr(&e, name, lineno, "malformed section header");
				continue;
			}
			*close = '\0';
			in_routes = strcmp(l + 1, "routes") == 0;
			in_dkim = strcmp(l + 1, "dkim") == 0;
			in_dests = strcmp(l + 1, "destinations") == 0;
			section = in_routes || in_dkim || in_dests ? -2 : section_kind(l + 1);
			if (!in_routes && !in_dkim && !in_dests && section == -1) {
				cerr(&e, name, lineno, "unknown section [%s] (expected qmgr, scheduler, "
				    "resolver, smtpd, agent, signer, sts, routes, dkim or destinations)", l + 1);
				section = -3;
			}
			continue;
		}
		if ((eq = strchr(l, '=')) == NULL) {
			cerr(&e, name, lineno, "expected \"name = value\"");
			continue;
		}
		*eq = '\0';
		key = trim(l);
		val = trim(eq + 1);
		if (section == -3)
			continue;
		if (in_routes) {
			add_route(c, key, val, lineno, &e, name);
			continue;
		}
		if (in_dkim) {
			if (dkim_conf_add(c, key, val, err, sizeof(err)) == -1)
				cerr(&e, name, lineno, "%s", err);
			continue;
		}
		if (in_dests) {
			struct dest_conf dc;

			if (config_dest_parse(key, val, &dc, err, sizeof(err)) == -1 ||
			    config_dest_add(c, &dc, err, sizeof(err)) == -1)
				cerr(&e, name, lineno, "%s", err);
			continue;
		}
		if (section >= 0) {
			const struct param *lp = param_find(limit_params, NLIMITS, key);
			if (lp == NULL && param_find(params, NPARAMS, key) != NULL) {
				cerr(&e, name, lineno, "%s: this parameter belongs before the [%s] "
				    "section (sections go at the end of the file)", key,
				    proc_kind_name(section));
				continue;
			}
			if (lp == NULL) {
				unknown_param(&e, name, lineno, key, limit_params, NLIMITS,
				    proc_kind_name(section));
				continue;
			}
			if (lseen[section][lp - limit_params] != 0) {
				cerr(&e, name, lineno, "%s given twice in [%s]: on line %d and line %d",
				    key, proc_kind_name(section), lseen[section][lp - limit_params],
				    lineno);
				continue;
			}
			lseen[section][lp - limit_params] = lineno;
			if ((why = param_set(lp, &c->limits[section], val, err, sizeof(err))) != NULL)
				cerr(&e, name, lineno, "%s", why);
			continue;
		}
		const struct param *pp = param_find(params, NPARAMS, key);
		if (pp == NULL && param_find(limit_params, NLIMITS, key) != NULL) {
			cerr(&e, name, lineno, "%s belongs in a process section such as [agent]",
			    key);
			continue;
		}
		if (pp == NULL) {
			unknown_param(&e, name, lineno, key, params, NPARAMS, NULL);
			continue;
		}
		if (seen[pp - params] != 0) {
			cerr(&e, name, lineno, "%s given twice: on line %d and line %d (remove one)",
			    key, seen[pp - params], lineno);
			continue;
		}
		seen[pp - params] = lineno;
		if ((why = param_set(pp, c, val, err, sizeof(err))) != NULL) {
			cerr(&e, name, lineno, "%s: %s", key, why);
			if (pp->type == P_HOSTPORT)
				relay_host_bad = true;
		}
	}
	/*
	 * /etc/mailname, else the canonical host name (helo_default.c): only
	 * when the file names none, so that a configured name costs no lookup.
	 */
	pp_helo = param_find(params, NPARAMS, "helo_name");
	if (pp_helo != NULL && seen[pp_helo - params] == 0)
		strlcpy(c->helo_name, helo_default(), sizeof(c->helo_name));
	config_check(c, name, &e, relay_host_bad);
	return e.count > 0 ? -1 : 0;
}

int
config_load(struct config *c, const char *path, char *errbuf, size_t errlen)
{
	FILE	*fp;
	char	*text = NULL;
	size_t	 len = 0, cap = 0, n;
	int	 r;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(errbuf, errlen, "%s: %s\n", path, strerror(errno));
		config_defaults(c);
		return -1;
	}
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > 16 * 1024 * 1024) {
				fclose(fp);
				free(text);
				snprintf(errbuf, errlen, "%s: file too large\n", path);
				config_defaults(c);
				return -1;
			}
			text = xreallocarray(text, cap, 1);
		}
		n = fread(text + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		snprintf(errbuf, errlen, "%s: read error\n", path);
		fclose(fp);
		free(text);
		config_defaults(c);
		return -1;
	}
	fclose(fp);
	r = config_parse(c, path, text ? text : "", len, errbuf, errlen);
	free(text);
	return r;
}

/* Apply one "name=value" override from the command line (-o). */
/* One -o name=value, set without the checks of the whole (config_overrides). */
static int
override_set(struct config *c, const char *assignment, struct errs *e)
{
	const struct param *pp;
	char		 name[128], err[512];
	const char	*eq, *why;

	if ((eq = strchr(assignment, '=')) == NULL || (size_t)(eq - assignment) >= sizeof(name)) {
		cerr(e, "-o", 0, "expected name=value, got \"%s\"", assignment);
		return -1;
	}
	memcpy(name, assignment, eq - assignment);
	name[eq - assignment] = '\0';
	if ((pp = param_find(params, NPARAMS, name)) == NULL) {
		unknown_param(e, "-o", 0, name, params, NPARAMS, NULL);
		return -1;
	}
	if ((why = param_set(pp, c, eq + 1, err, sizeof(err))) != NULL) {
		cerr(e, "-o", 0, "%s: %s", name, why);
		return -1;
	}
	return 0;
}

int
config_override(struct config *c, const char *assignment, char *errbuf, size_t errlen)
{
	return config_overrides(c, &assignment, 1, errbuf, errlen);
}

/*
 * Every override first, then the checks of the whole once: "-o
 * delivery_mode=relay -o relay_host=..." must not fail on the first alone.
 */
int
config_overrides(struct config *c, const char *const *assignments, int n, char *errbuf,
    size_t errlen)
{
	struct errs	 e = { errbuf, errlen, 0 };

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	for (int i = 0; i < n; i++)
		if (override_set(c, assignments[i], &e) == -1)
			return -1;
	config_check(c, "-o", &e, false);
	return e.count > 0 ? -1 : 0;
}

void
config_free(struct config *c)
{
	free(c->routes);
	c->routes = NULL;
	c->nroutes = 0;
	free(c->dkim);
	c->dkim = NULL;
	c->ndkim = 0;
	free(c->destinations);
	c->destinations = NULL;
	c->ndestinations = 0;
}

const struct route *
config_route(const struct config *c, const char *domain)
{
	char		 d[256];
	const char	*p;
	size_t		 i;

	if (strlcpy(d, domain, sizeof(d)) >= sizeof(d))
		return NULL;
	for (char *q = d; *q; q++)
		*q = tolower((unsigned char)*q);
	for (i = 0; i < c->nroutes; i++)
		if (!c->routes[i].subdomains && strcmp(c->routes[i].domain, d) == 0)
			return &c->routes[i];
	/* ".example.com" covers a.example.com and a.b.example.com, not example.com. */
	for (p = strchr(d, '.'); p != NULL; p = strchr(p + 1, '.'))
		for (i = 0; i < c->nroutes; i++)
			if (c->routes[i].subdomains && strcmp(c->routes[i].domain, p + 1) == 0)
				return &c->routes[i];
	return NULL;
}

static void
join_path(char *buf, size_t len, const char *dir, const char *leaf)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, leaf) >= len)
		fatalx("path too long: %s/%s", dir, leaf);
}

void config_queue_dir(const struct config *c, char *b, size_t l) { join_path(b, l, c->state_directory, "queue"); }
void config_empty_dir(const struct config *c, char *b, size_t l) { join_path(b, l, c->state_directory, "empty"); }
void config_submit_socket(const struct config *c, char *b, size_t l) { join_path(b, l, c->state_directory, "queue/public/submit.sock"); }
void config_pid_file(const struct config *c, char *b, size_t l) { join_path(b, l, c->state_directory, "outpost.pid"); }
void config_control_socket(const struct config *c, char *b, size_t l) { join_path(b, l, c->state_directory, "control.sock"); }


void
config_print_reference(FILE *fp)
{
	size_t	i;

	for (i = 0; i < NPARAMS; i++)
		fprintf(fp, "%s (%s, default \"%s\")\n    %s\n", params[i].name,
		    type_name(&params[i]), params[i].def, params[i].desc);
	fprintf(fp, "\nSections [qmgr] [scheduler] [resolver] [smtpd] [agent]:\n");
	for (i = 0; i < NLIMITS; i++)
		fprintf(fp, "%s (%s, default \"%s\")\n    %s\n", limit_params[i].name,
		    type_name(&limit_params[i]), limit_params[i].def, limit_params[i].desc);
	fprintf(fp, "\nSection [routes]: \"domain = host[:port] [tls=POLICY]\" or \".domain = [address]:port\"\n"
	    "    static routes (\"Via SMTP\"), obeyed in independent mode only; .domain covers subdomains\n");
	fprintf(fp, "\nSection [dkim]: \"[.]domain = selector:/key/file [rsa|ed25519][, selector:/file alg] "
	    "[c=relaxed/relaxed]\"\n    DKIM signing of mail from that From: domain (.domain: and its "
	    "subdomains, d=domain); up to two keys sign each mail\n");
	fprintf(fp, "\nSection [destinations]: \"domain|.domain|mx:PATTERN = concurrency=N rate=N/s|m|h|DURATION "
	    "rcpt_per_transaction=N mails_per_connection=N reuse=yes|no\"\n"
	    "    traffic shaping: one budget per line, shared by every destination it matches\n");
}

static void
print_line(void *fp, const char *line)
{
	fprintf(fp, "%s\n", line);
}

void
config_print(const struct config *c, FILE *fp)
{
	unsigned	i;

	fprintf(fp, "delivery_mode = %s\n", c->mode == MODE_RELAY ? "relay" : "independent");
	if (c->relay_host_set)
		fprintf(fp, "relay_host = %s%s%s%s:%u\n", c->relay_host.smtps ? "smtps://" : "",
		    c->relay_host.literal ? "[" : "",
		    c->relay_host.host, c->relay_host.literal ? "]" : "", c->relay_host.port);
	fprintf(fp, "tls_policy = %s\nrelay_tls_policy = %s\ntls_ca_file = %s\n",
	    tls_policy_name(c->tls_policy), tls_policy_name(c->relay_tls_policy), c->tls_ca_file);
	fprintf(fp, "relay_auth_user = %s\nrelay_auth_password_file = %s\nrelay_auth_plaintext = %s\n",
	    c->relay_auth_user, c->relay_auth_password_file, c->relay_auth_plaintext ? "yes" : "no");
	fprintf(fp, "smtp_command_timeout = %us\nsmtp_data_timeout = %us\nsmtp_final_timeout = %us\n",
	    c->smtp_command_timeout, c->smtp_data_timeout, c->smtp_final_timeout);
	fprintf(fp, "resend_attempts = %u\nresend_interval = %us\nresend_backoff = %u\n"
	    "max_queue_lifetime = %us\ndelay_warning = %us\n", c->resend_attempts,
	    c->resend_interval, c->resend_backoff, c->max_queue_lifetime, c->delay_warning);
	fprintf(fp, "destination_concurrency = %u\nmax_rcpt_per_transaction = %u\n",
	    c->destination_concurrency, c->max_rcpt_per_transaction);
	fprintf(fp, "max_mails_per_connection = %u\nconnection_idle = %us\nconnect_timeout = %us\n",
	    c->max_mails_per_connection, c->connection_idle, c->connect_timeout);
	fprintf(fp, "helo_name = %s\ninet_protocols = %s\n", c->helo_name,
	    c->inet_protocols == INET_IPV4 ? "ipv4" : c->inet_protocols == INET_IPV6 ? "ipv6" : "all");
	fprintf(fp, "dns_servers =");
	for (i = 0; i < c->ndns_servers; i++)
		fprintf(fp, "%s %s@%u", i ? "," : "", c->dns_servers[i].host, c->dns_servers[i].port);
	fprintf(fp, "\ndnssec_trust_anchor = %s", c->dnssec_trust_anchor);
	fprintf(fp, "\nmta_sts = %s", c->mta_sts ? "yes" : "no");
	fprintf(fp, "\ntlsrpt = %s\ntlsrpt_submitter = %s\ntlsrpt_contact = %s\ntlsrpt_from = %s",
	    c->tlsrpt ? "yes" : "no", c->tlsrpt_submitter, c->tlsrpt_contact, c->tlsrpt_from);
	fprintf(fp, "\nlisten =");
	for (i = 0; i < c->nlisten; i++)
		fprintf(fp, "%s [%s]:%u", i ? "," : "", c->listen[i].host, c->listen[i].port);
	fprintf(fp, "\nmax_message_size = %llu\nmax_recipients = %u\n",
	    (unsigned long long)c->max_message_size, c->max_recipients);
	fprintf(fp, "client_connection_limit = %u\nclient_connection_rate = %u\n"
	    "junk_command_limit = %u\nclient_idle_timeout = %us\npublic_clients_per_uid = %u\n"
	    "queue_min_free = %llu\n", c->client_connection_limit, c->client_connection_rate,
	    c->junk_command_limit, c->client_idle_timeout, c->public_clients_per_uid,
	    (unsigned long long)c->queue_min_free);
	fprintf(fp, "state_directory = %s\nuser = %s\nqueue_user = %s\nadmin_group = %s\n"
	    "log = %s\nlog_level = %s\n", c->state_directory, c->user, c->queue_user, c->admin_group, c->log,
	    c->log_level == LOGLEVEL_DETAILED ? "detailed" : "basic");
	fprintf(fp, "smtpd_user = %s\nresolver_user = %s\nscheduler_user = %s\nsigner_user = %s\n"
	    "sts_user = %s\nsandbox = %s\n", c->smtpd_user, c->resolver_user, c->scheduler_user,
	    c->signer_user, c->sts_user,
	    sandbox_names[c->sandbox]);
	fprintf(fp, "queue_sync = %s\n", qsync_names[c->queue_sync]);
	fprintf(fp, "aliases = %s\nmyorigin = %s\nlocal_redirect = %s\n", c->aliases, c->myorigin,
	    c->local_redirect);
	for (int k = PROC_QMGR; k < PROC_KIND_MAX; k++) {
		const struct proc_limits *l = &c->limits[k];
		fprintf(fp, "[%s]\ncount = %u\nopen_files = %llu\nmemory = %llu\nmax_sessions = %u\nnice = %d\n",
		    proc_kind_name(k), l->count, (unsigned long long)l->open_files,
		    (unsigned long long)l->memory, l->max_sessions, l->nice);
	}
	if (c->nroutes > 0)
		fprintf(fp, "[routes]\n");
	for (size_t r = 0; r < c->nroutes; r++)
		fprintf(fp, "%s%s = %s%s%s:%u%s%s\n", c->routes[r].subdomains ? "." : "", c->routes[r].domain,
		    c->routes[r].via.literal ? "[" : "", c->routes[r].via.host,
		    c->routes[r].via.literal ? "]" : "", c->routes[r].via.port,
		    c->routes[r].tls != TLS_INHERIT ? " tls=" : "",
		    c->routes[r].tls != TLS_INHERIT ? tls_policy_name(c->routes[r].tls) : "");
	if (c->ndkim > 0)
		fprintf(fp, "[dkim]\n");
	dkim_conf_print(c->dkim, c->ndkim, print_line, fp);
	if (c->ndestinations > 0)
		fprintf(fp, "[destinations]\n");
	for (size_t d = 0; d < c->ndestinations; d++) {
		char	line[1024];

		config_dest_format(&c->destinations[d], line, sizeof(line));
		fprintf(fp, "%s\n", line);
	}
}
