/* bulkheadd: the controller daemon. Holds the inventory and each host's
 * state, keeps a TLS session to every agent, and serves the CLI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulkhead/clock.h"
#include "bulkhead/daemon.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "controller.h"

#define LAST_SEEN_FLUSH_S 5

/* Heartbeats only touch memory; this writes the connected hosts' last-seen
 * times in one transaction. */
static void ctl_last_seen_flush(struct ctl *c)
{
	struct host **seen = xcalloc((size_t)c->nhosts + 1, sizeof(*seen));
	int n = 0;

	for (int i = 0; i < c->nhosts; i++)
		if (c->hosts[i].peer)
			seen[n++] = &c->hosts[i];
	store_hosts_seen(c->store, seen, n);
	free(seen);
}

static void ctl_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_last_seen_flush(arg);
}

/* The store the configuration names; by default SQLite in the state directory. */
static int ctl_store_open(struct ctl *c)
{
	char path[4096];

	if (mkdir(c->conf.state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("%s: %s", c->conf.state_dir, strerror(errno));
		return -1;
	}
	if (c->conf.store)
		snprintf(path, sizeof(path), "%s", c->conf.store);
	else
		snprintf(path, sizeof(path), "sqlite:%s/bulkhead.db", c->conf.state_dir);
	c->store = store_open(path, 0);
	if (c->store)
		log_info("store: %s %s", c->store->ops->name, c->store->where);
	return c->store ? 0 : -1;
}

static int ctl_setup(struct ctl *c, const char *conf_path)
{
	struct timeval flush = clock_tv_ms(LAST_SEEN_FLUSH_S * 1000);

	if (ctl_conf_load(conf_path, &c->conf, conf_error_stderr, NULL) < 0)
		return -1;
	c->inv = inventory_load(c->conf.inventory, conf_error_stderr, NULL);
	if (!c->inv)
		return -1;
	c->nhosts = c->inv->nhosts;
	c->hosts = xcalloc((size_t)c->nhosts, sizeof(*c->hosts));
	for (int i = 0; i < c->nhosts; i++) {
		c->hosts[i].inv = &c->inv->hosts[i];
		c->hosts[i].name = c->inv->hosts[i].name;
	}
	if (ctl_store_open(c) < 0 || store_hosts_load(c->store, c->hosts, c->nhosts) < 0)
		return -1;
	c->ssl_ctx = tls_ctx_new(1, c->conf.ca, c->conf.cert, c->conf.key);
	if (!c->ssl_ctx)
		return -1;
	if (ha_init(c) < 0 || playbook_init(c) < 0 || peers_listen(c) < 0 || control_listen(c) < 0)
		return -1;
	c->flush_ev = event_new(c->base, -1, EV_PERSIST, ctl_flush_cb, c);
	if (!c->flush_ev)
		fatal("out of memory");
	event_add(c->flush_ev, &flush);
	log_info("%d hosts in the inventory, epoch %llu", c->nhosts,
		 (unsigned long long)store_epoch_current(c->store));
	return 0;
}

static void ctl_teardown(struct ctl *c)
{
	command_free_all(c);
	ha_close(c);
	playbook_close(c);
	peers_close(c);
	control_close(c);
	if (c->flush_ev)
		event_free(c->flush_ev);
	if (c->store) {
		ctl_hosts_seen_flush(c, true);
		ctl_last_seen_flush(c);
	}
	store_close(c->store);
	if (c->ssl_ctx)
		SSL_CTX_free(c->ssl_ctx);
	free(c->hosts);
	inventory_free(c->inv);
	ctl_conf_clear(&c->conf);
}

static const char ctl_usage[] =
    "usage: bulkheadd [-v] [-n] -f CONFIG\n"
    "  -f CONFIG  controller configuration (YAML), see bulkheadd(8)\n"
    "  -n         check the configuration and the inventory, then exit\n"
    "  -v         verbose logging\n"
    "  -h         this help\n";

static int ctl_check(const char *conf_path)
{
	struct ctl_conf conf = {0};
	struct inventory *inv = NULL;
	int rc = 1;

	if (ctl_conf_load(conf_path, &conf, conf_error_stderr, NULL) == 0 &&
	    (inv = inventory_load(conf.inventory, conf_error_stderr, NULL))) {
		printf("%s: configuration OK, %d hosts in %s\n", conf_path, inv->nhosts,
		       conf.inventory);
		rc = 0;
	}
	inventory_free(inv);
	ctl_conf_clear(&conf);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl c = {0};
	struct event *sigs[2] = {0};
	struct daemon_args args;
	int rc = 1;

	if (daemon_args_parse(argc, argv, ctl_usage, NULL, &args, &rc))
		return rc;
	log_init("bulkheadd", args.verbose);
	if (args.check)
		return ctl_check(args.conf_path);
	c.base = daemon_base_new();
	daemon_signals_init(c.base, "", sigs);
	if (ctl_setup(&c, args.conf_path) == 0) {
		event_base_dispatch(c.base);
		rc = 0;
	}
	daemon_signals_free(sigs);
	ctl_teardown(&c);
	event_base_free(c.base);
	return rc;
}
