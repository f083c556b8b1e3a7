/* SPDX-License-Identifier: ISC */
/*
 * master_reload.c - re-reading the configuration (SIGHUP, outpostctl reload).
 *
 * A broken file is refused with every error logged and the running
 * configuration stays. Settings that cannot change while running (state
 * directory, users, log, agent count) are refused too, named in the refusal.
 * Everything else is applied: the log level and admin_group by the master
 * itself, every other parameter by stopping gracefully the children that
 * hold it (rparams[] below) and starting them again with the new text;
 * queued mail is on disk and in-flight deliveries finish or return to the
 * queue, so nothing is lost. The log names the parameters that changed and
 * the processes restarted.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "chan.h"
#include "frame.h"
#include "config_dest.h"
#include "log.h"
#include "master.h"
#include "msg.h"

#define Q	(1u << PROC_QMGR)
#define S	(1u << PROC_SCHEDULER)
#define R	(1u << PROC_RESOLVER)
#define D	(1u << PROC_SMTPD)
#define A	(1u << PROC_AGENT)
#define G	(1u << PROC_SIGNER)
#define T	(1u << PROC_STS)
#define LIVE	0u	/* applied by the master itself, no restart */

/*
 * Which processes hold each parameter: a change restarts exactly those. The
 * table names the parameters a reload reports as changed. A field of struct
 * config that is in no row (a parameter added later) is still caught by the
 * comparison of the rest, and then every process restarts: safe by default.
 */
#define P(name, field, kinds) { name, offsetof(struct config, field), \
	sizeof(((struct config *)0)->field), kinds }
static const struct reload_param {
	const char	*name;
	size_t		 off, len;
	unsigned	 kinds;
} rparams[] = {
	P("delivery_mode", mode, S | A),
	P("relay_host", relay_host, S | A),
	P("relay_host", relay_host_set, S | A),
	P("resend_attempts", resend_attempts, S),
	P("resend_interval", resend_interval, S),
	P("resend_backoff", resend_backoff, S),
	P("max_queue_lifetime", max_queue_lifetime, Q | S),
	P("delay_warning", delay_warning, Q | S),
	P("destination_concurrency", destination_concurrency, S),
	P("max_rcpt_per_transaction", max_rcpt_per_transaction, S),
	P("max_mails_per_connection", max_mails_per_connection, A),
	P("connection_idle", connection_idle, A),
	P("connect_timeout", connect_timeout, A),
	P("smtp_command_timeout", smtp_command_timeout, A),
	P("smtp_data_timeout", smtp_data_timeout, A),
	P("smtp_final_timeout", smtp_final_timeout, A),
	/* The scheduler puts the policy into each delivery; agents act on it. */
	P("tls_policy", tls_policy, S | A),
	P("relay_tls_policy", relay_tls_policy, S | A),
	/* Loaded into the agents' TLS context before their chroot. */
	P("tls_ca_file", tls_ca_file, A | T),
	/* MTA-STS lookups are the scheduler's; the sts process runs either way. */
	P("mta_sts", mta_sts, S | A),
	/* TLS reporting: the scheduler counts, the sts process keeps and sends. */
	P("tlsrpt", tlsrpt, S | T),
	P("tlsrpt_submitter", tlsrpt_submitter, T),
	P("tlsrpt_contact", tlsrpt_contact, T),
	P("tlsrpt_from", tlsrpt_from, T),
	/* The credentials reach agents only at their start: restart them. */
	P("relay_auth_user", relay_auth_user, A),
	P("relay_auth_password_file", relay_auth_password_file, A),
	P("relay_auth_plaintext", relay_auth_plaintext, A),
	P("helo_name", helo_name, Q | S | D | A),
	P("inet_protocols", inet_protocols, S | A),
	P("dns_servers", dns_servers, R),
	P("dns_servers", ndns_servers, R),
	P("dnssec_trust_anchor", dnssec_trust_anchor, R),
	P("listen", listen, D),
	P("listen", nlisten, D),
	P("allowed_networks", networks, D),
	P("allowed_networks", nnetworks, D),
	P("max_message_size", max_message_size, Q | D),
	P("max_recipients", max_recipients, Q | D),
	/* Traffic shaping: the scheduler keeps the budgets; agents connect. */
	P("unreachable_cache_time", unreachable_cache_time, S),
	P("happy_eyeballs_delay", happy_eyeballs_delay, S | A),
	P("shared_limits", shared_limits, S),
	P("node_count", node_count, S),
	P("[destinations]", destinations, LIVE),
	P("[destinations]", ndestinations, LIVE),
	/* Client limits and the free-space reserve. */
	P("client_connection_limit", client_connection_limit, D),
	P("client_connection_rate", client_connection_rate, D),
	P("junk_command_limit", junk_command_limit, D),
	P("client_idle_timeout", client_idle_timeout, Q | D),
	P("public_clients_per_uid", public_clients_per_uid, Q),
	P("queue_min_free", queue_min_free, Q),
	/* The filters are entered once, at start. */
	P("sandbox", sandbox, Q | S | R | D | A | G | T),
	/* The master reads the aliases file and sends the table to the qmgr. */
	P("aliases", aliases, LIVE),
	P("myorigin", myorigin, LIVE),
	P("local_redirect", local_redirect, LIVE),
	/* Only the master writes log lines; the endpoint is refused below. */
	P("log_format", log_format, LIVE),
	P("metrics_listen", metrics_listen, LIVE),
	P("metrics_destinations", metrics_destinations, LIVE),
	P("metrics_max_connections", metrics_max_connections, LIVE),
	/* Keys go to the running signer (dkim_keys_send); on or off: below. */
	P("[dkim]", dkim, LIVE),
	P("[dkim]", ndkim, LIVE),
	P("admin_group", admin_group, LIVE),
	P("log_level", log_level, LIVE),
	/* Refused before this table is used (they change only with a restart). */
	P("state_directory", state_directory, LIVE),
	P("user", user, LIVE),
	P("queue_user", queue_user, LIVE),
	P("smtpd_user", smtpd_user, LIVE),
	P("resolver_user", resolver_user, LIVE),
	P("scheduler_user", scheduler_user, LIVE),
	P("signer_user", signer_user, LIVE),
	P("sts_user", sts_user, LIVE),
	P("log", log, LIVE),
	/* The file name is the same; routes are compared as a table below. */
	P("path", path, LIVE),
	P("[routes]", routes, LIVE),
	P("[routes]", nroutes, LIVE),
};
#undef P

static bool
routes_differ(const struct config *a, const struct config *b)
{
	return a->nroutes != b->nroutes ||
	    (a->nroutes > 0 && memcmp(a->routes, b->routes, a->nroutes * sizeof(*a->routes)) != 0) ||
	    a->ndestinations != b->ndestinations || (a->ndestinations > 0 &&
	    memcmp(a->destinations, b->destinations, a->ndestinations * sizeof(*a->destinations)) != 0);
}

/* Something outside the table changed (a parameter added without a row)? */
static bool
unlisted_differ(const struct config *o, const struct config *n)
{
	static struct config	a, b;

	a = *o;
	b = *n;
	for (size_t i = 0; i < sizeof(rparams) / sizeof(rparams[0]); i++) {
		memset((char *)&a + rparams[i].off, 0, rparams[i].len);
		memset((char *)&b + rparams[i].off, 0, rparams[i].len);
	}
	memset(a.limits, 0, sizeof(a.limits));
	memset(b.limits, 0, sizeof(b.limits));
	return memcmp(&a, &b, sizeof(a)) != 0;
}

/*
 * The kinds of process to restart (a bit per enum proc_kind), and the names
 * of what changed in buf.
 */
unsigned
reload_changed(const struct config *o, const struct config *n, char *buf, size_t len)
{
	unsigned	kinds = 0;
	const char	*last = "";

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(rparams) / sizeof(rparams[0]); i++) {
		const struct reload_param *p = &rparams[i];
		/* The file's name, and the routes: compared as a table below. */
		if (p->off == offsetof(struct config, path) ||
		    p->off == offsetof(struct config, routes) ||
		    p->off == offsetof(struct config, nroutes))
			continue;
		if (memcmp((const char *)o + p->off, (const char *)n + p->off, p->len) == 0)
			continue;
		kinds |= p->kinds;
		if (strcmp(last, p->name) != 0) {
			if (buf[0] != '\0')
				strlcat(buf, ", ", len);
			strlcat(buf, p->name, len);
		}
		last = p->name;
	}
	/* Signing on or off: the queue manager decides whether to ask the signer. */
	if ((o->ndkim == 0) != (n->ndkim == 0)) {
		kinds |= Q;
		strlcat(buf, buf[0] ? ", [dkim]" : "[dkim]", len);
	}
	if (o->ndestinations != n->ndestinations || (n->ndestinations > 0 &&
	    memcmp(o->destinations, n->destinations,
	    n->ndestinations * sizeof(*n->destinations)) != 0)) {
		kinds |= S;
		strlcat(buf, buf[0] ? ", [destinations]" : "[destinations]", len);
	}
	if (routes_differ(o, n)) {
		kinds |= S;
		strlcat(buf, buf[0] ? ", [routes]" : "[routes]", len);
	}
	for (int k = PROC_QMGR; k < PROC_KIND_MAX; k++)
		if (memcmp(&o->limits[k], &n->limits[k], sizeof(o->limits[k])) != 0) {
			kinds |= 1u << k;
			strlcat(buf, buf[0] ? ", [" : "[", len);
			strlcat(buf, proc_kind_name(k), len);
			strlcat(buf, "]", len);
		}
	if (unlisted_differ(o, n)) {
		kinds |= Q | S | R | D | A | G | T;
		strlcat(buf, buf[0] ? ", other parameters" : "other parameters", len);
	}
	return kinds;
}

int
master_reload(struct master *m, char *err, size_t errlen)
{
	struct config	 n;
	struct config	*o = &m->conf;
	struct master_aliases na;
	int		 nfds[CONFIG_MAX_LISTEN], restarted = 0, memfd = -1;
	char		*password, what[1024], who[256];
	unsigned	 i, kinds;
	bool		 listeners_changed;

	if ((password = sodium_malloc(RELAY_PASSWORD_MAX)) == NULL) {
		snprintf(err, errlen, "sodium_malloc failed");
		log_warnx("reload refused: sodium_malloc failed");
		return -1;
	}
	if (exec_config_load(m, o->path, &n, &memfd, err, errlen) == -1)
		goto refuse;
	if (strcmp(n.state_directory, o->state_directory) != 0 || strcmp(n.user, o->user) != 0 ||
	    strcmp(n.queue_user, o->queue_user) != 0 ||
	    strcmp(n.smtpd_user, o->smtpd_user) != 0 || strcmp(n.resolver_user, o->resolver_user) != 0 ||
	    strcmp(n.scheduler_user, o->scheduler_user) != 0 || strcmp(n.signer_user, o->signer_user) != 0 ||
	    strcmp(n.sts_user, o->sts_user) != 0 ||
	    n.limits[PROC_AGENT].count != o->limits[PROC_AGENT].count ||
	    strcmp(n.log, o->log) != 0 || strcmp(n.metrics_listen, o->metrics_listen) != 0 ||
	    n.metrics_destinations != o->metrics_destinations) {
		snprintf(err, errlen, "state_directory, user, queue_user, smtpd_user, resolver_user, "
		    "scheduler_user, signer_user, sts_user, log, metrics_listen, metrics_destinations and the agent count "
		    "change only with a restart");
		goto refuse;
	}
	if (n.metrics_max_connections != o->metrics_max_connections) {
		snprintf(err, errlen, "metrics_max_connections changes only with a restart");
		goto refuse;
	}
	if (secrets_load(&n, password, RELAY_PASSWORD_MAX, err, errlen) == -1)
		goto refuse;
	if (dkim_keys_check(&n, err, errlen) == -1)
		goto refuse;
	if (master_aliases_load(&n, &na, err, errlen) == -1)
		goto refuse;
	/* A changed password file content restarts the agents too. */
	kinds = reload_changed(o, &n, what, sizeof(what));
	if (strcmp(password, m->relay_password) != 0 && !(kinds & A)) {
		kinds |= A;
		strlcat(what, what[0] ? ", relay password" : "relay password", sizeof(what));
	}
	listeners_changed = n.nlisten != o->nlisten || memcmp(n.listen, o->listen, sizeof(n.listen)) != 0;
	if (listeners_changed) {
		/* Bind the new listeners before letting the old ones go. */
		for (i = 0; i < m->nlisten; i++)
			close(m->listen_fds[i]);
		m->nlisten = setup_listeners(&n, nfds);
		memcpy(m->listen_fds, nfds, sizeof(nfds));
	}
	if (n.log_level != o->log_level)
		supervise_set_loglevel(m, n.log_level);
	log_set_format(n.log_format);	/* only the master writes lines */

	who[0] = '\0';
	for (i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		if (!(kinds & (1u << c->desc->kind)))
			continue;
		restarted++;
		if (strstr(who, c->desc->name) == NULL) {
			if (who[0] != '\0')
				strlcat(who, " ", sizeof(who));
			strlcat(who, c->desc->name, sizeof(who));
		}
		if (c->pid > 0) {
			c->reload_restart = true;
			if (c->chan != NULL)
				chan_send(c->chan, fbuf_new(MSG_CTL_SHUTDOWN, 0));
		}
	}
	config_free(o);
	*o = n;
	/* Children started from now on parse the new text. */
	if (m->conf_fd != -1)
		close(m->conf_fd);
	m->conf_fd = memfd;
	/* Restarted agents get the new credentials at their start. */
	memcpy(m->relay_password, password, RELAY_PASSWORD_MAX);
	sodium_free(password);
	if (what[0] != '\0')
		log_info("reload: changed: %s", what);
	log_info("configuration reloaded from %s: %d process%s restarting%s%s", o->path, restarted,
	    restarted == 1 ? "" : "es", who[0] ? ": " : "", who);
	/* The qmgr gets the aliases table again, the signer its keys (restarted
	 * ones get them at their start). */
	master_aliases_replace(m, &na);
	for (i = 0; i < m->nchildren; i++)
		if (!m->children[i].reload_restart) {
			master_aliases_send(m, &m->children[i]);
			dkim_keys_send(m, &m->children[i]);
		}
	if (o->mode == MODE_RELAY && o->nroutes > 0)
		log_info("relay mode: the %zu [routes] entries are ignored", o->nroutes);
	return 0;
refuse:
	sodium_free(password);
	if (memfd != -1)
		close(memfd);
	config_free(&n);
	/* One log line per problem found, then the verdict. */
	for (char *line = err, *nl; *line; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL) {
			log_warnx("reload: %s", line);
			break;
		}
		*nl = '\0';
		log_warnx("reload: %s", line);
		*nl = '\n';
	}
	log_warnx("reload refused: the running configuration stays in force");
	return -1;
}
