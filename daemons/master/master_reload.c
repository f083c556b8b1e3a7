/*
 * master_reload.c - re-reading the configuration (SIGHUP, outpostctl reload).
 *
 * A broken file is refused with every error logged and the running
 * configuration stays. Settings that cannot change while running (state
 * directory, users) are refused too. Otherwise the children whose settings
 * changed are stopped gracefully and started again with the new
 * configuration; queued mail is on disk and in-flight deliveries finish or
 * return to the queue, so nothing is lost.
 */
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

static bool
limits_differ(const struct config *a, const struct config *b, int kind)
{
	return memcmp(&a->limits[kind], &b->limits[kind], sizeof(a->limits[kind])) != 0;
}

static bool
routes_differ(const struct config *a, const struct config *b)
{
	return a->nroutes != b->nroutes ||
	    (a->nroutes > 0 && memcmp(a->routes, b->routes, a->nroutes * sizeof(*a->routes)) != 0) ||
	    a->ndestinations != b->ndestinations || (a->ndestinations > 0 &&
	    memcmp(a->destinations, b->destinations, a->ndestinations * sizeof(*a->destinations)) != 0);
}

/* Everything but the fields compared per process and the route table. */
static bool
delivery_differs(const struct config *a, const struct config *b)
{
	return a->mode != b->mode || a->relay_host_set != b->relay_host_set ||
	    memcmp(&a->relay_host, &b->relay_host, sizeof(a->relay_host)) != 0 ||
	    a->resend_attempts != b->resend_attempts || a->resend_interval != b->resend_interval ||
	    a->resend_backoff != b->resend_backoff || a->max_queue_lifetime != b->max_queue_lifetime ||
	    a->delay_warning != b->delay_warning ||
	    a->destination_concurrency != b->destination_concurrency ||
	    a->max_rcpt_per_transaction != b->max_rcpt_per_transaction ||
	    a->max_mails_per_connection != b->max_mails_per_connection ||
	    a->connection_idle != b->connection_idle || a->connect_timeout != b->connect_timeout ||
	    a->unreachable_cache_time != b->unreachable_cache_time ||
	    a->happy_eyeballs_delay != b->happy_eyeballs_delay ||
	    strcmp(a->shared_limits, b->shared_limits) != 0 || a->node_count != b->node_count ||
	    strcmp(a->helo_name, b->helo_name) != 0 || a->inet_protocols != b->inet_protocols ||
	    routes_differ(a, b);
}

static bool
needs_restart(const struct config *o, const struct config *n, int kind)
{
	if (limits_differ(o, n, kind))
		return true;
	switch (kind) {
	case PROC_QMGR:
		return o->max_message_size != n->max_message_size || o->delay_warning != n->delay_warning ||
		    o->max_recipients != n->max_recipients || strcmp(o->helo_name, n->helo_name) != 0;
	case PROC_SMTPD:
		return o->max_message_size != n->max_message_size ||
		    o->max_recipients != n->max_recipients || strcmp(o->helo_name, n->helo_name) != 0 ||
		    o->nlisten != n->nlisten || memcmp(o->listen, n->listen, sizeof(o->listen)) != 0 ||
		    o->nnetworks != n->nnetworks ||
		    memcmp(o->networks, n->networks, sizeof(o->networks)) != 0;
	case PROC_RESOLVER:
		return o->ndns_servers != n->ndns_servers ||
		    memcmp(o->dns_servers, n->dns_servers, sizeof(o->dns_servers)) != 0 ||
		    strcmp(o->dnssec_trust_anchor, n->dnssec_trust_anchor) != 0;
	case PROC_SCHEDULER:
	case PROC_AGENT:
		return delivery_differs(o, n);
	}
	return false;
}

int
master_reload(struct master *m, char *err, size_t errlen)
{
	struct config	 n;
	struct config	*o = &m->conf;
	int		 nfds[CONFIG_MAX_LISTEN], restarted = 0;
	char		 password[sizeof(m->relay_password)];
	unsigned	 i;
	bool		 listeners_changed;

	if (config_load(&n, o->path, err, errlen) == -1)
		goto refuse;
	for (int k = 0; k < m->noverrides; k++)
		if (config_override(&n, m->overrides[k], err, errlen) == -1)
			goto refuse;
	if (strcmp(n.state_directory, o->state_directory) != 0 || strcmp(n.user, o->user) != 0 ||
	    strcmp(n.queue_user, o->queue_user) != 0 ||
	    n.limits[PROC_AGENT].count != o->limits[PROC_AGENT].count ||
	    strcmp(n.log, o->log) != 0) {
		snprintf(err, errlen, "state_directory, user, queue_user, log and the agent count "
		    "change only with a restart");
		goto refuse;
	}
	if (secrets_load(&n, password, sizeof(password), err, errlen) == -1)
		goto refuse;
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

	for (i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		if (!needs_restart(o, &n, c->desc->kind))
			continue;
		restarted++;
		if (c->pid > 0) {
			c->reload_restart = true;
			if (c->chan != NULL)
				chan_send(c->chan, fbuf_new(MSG_CTL_SHUTDOWN, 0));
		}
	}
	config_free(o);
	*o = n;
	/* New credentials reach the running agents; restarted ones get them at start. */
	memcpy(m->relay_password, password, sizeof(password));
	sodium_memzero(password, sizeof(password));
	for (i = 0; i < m->nchildren; i++)
		if (!m->children[i].reload_restart)
			secrets_send(m, &m->children[i]);
	log_info("configuration reloaded from %s: %d process%s restarting", o->path, restarted,
	    restarted == 1 ? "" : "es");
	if (o->mode == MODE_RELAY && o->nroutes > 0)
		log_info("relay mode: the %zu [routes] entries are ignored", o->nroutes);
	return 0;
refuse:
	sodium_memzero(password, sizeof(password));
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
