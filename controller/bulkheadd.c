/* bulkheadd: the controller daemon. Holds the inventory and each host's
 * state, keeps a TLS session to every agent, and serves the CLI. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulkhead/clock.h"
#include "bulkhead/daemon.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "audit.h"
#include "controller.h"
#include "sandbox.h"
#include "events.h"
#include "metrics.h"

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

/* The first problem of a reload, for the operator who asked; every one
 * goes to the log. */
struct reload_errs {
	char *buf;
	size_t len;
};

static void ctl_reload_err(void *arg, const char *msg)
{
	struct reload_errs *e = arg;

	log_err("reload: %s", msg);
	if (e->buf[0] == '\0')
		snprintf(e->buf, e->len, "%s", msg);
}

static void ctl_str_swap(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

int ctl_reload(struct ctl *c, const char *actor, char *err, size_t errlen)
{
	struct reload_errs e = {err, errlen};
	struct ctl_conf conf = {0};
	struct revoked_list rl = {0};
	SSL_CTX *ctx = NULL;
	char serial[128] = "?";

	err[0] = '\0';
	if (ctl_conf_load(c->conf_path, &conf, ctl_reload_err, &e) < 0 ||
	    (conf.revoked && revoked_load(conf.revoked, &rl, ctl_reload_err, &e) < 0))
		goto fail;
	ctx = tls_ctx_new(1, conf.ca, conf.cert, conf.key);
	if (!ctx) {
		snprintf(err, errlen, "%s: the certificate, key or CA is unusable (see the log)",
			 conf.cert);
		goto fail;
	}
	/* Sessions keep a reference to the context they were made with. */
	SSL_CTX_free(c->ssl_ctx);
	c->ssl_ctx = ctx;
	revoked_clear(&c->revoked);
	c->revoked = rl;
	/* Only what a reload applies; the rest (addresses, inventory, store)
	 * needs a restart. */
	ctl_str_swap(&c->conf.ca, &conf.ca);
	ctl_str_swap(&c->conf.cert, &conf.cert);
	ctl_str_swap(&c->conf.key, &conf.key);
	ctl_str_swap(&c->conf.revoked, &conf.revoked);
	ctl_conf_clear(&conf);
	tls_cert_file_serial(c->conf.cert, serial, sizeof(serial));
	snprintf(err, errlen, "reloaded: certificate serial %s, %d revocation entries%s%s", serial,
		 c->revoked.n, c->conf.revoked ? " from " : "",
		 c->conf.revoked ? c->conf.revoked : "");
	log_info("%s", err);
	audit_log(c->store, clock_wall_ms(), actor, "reload", NULL, NULL, "ok", "%s", err);
	peers_revoked_drop(c);
	return 0;
fail:
	revoked_clear(&rl);
	ctl_conf_clear(&conf);
	if (err[0] == '\0')
		snprintf(err, errlen, "%s: unusable", c->conf_path);
	log_err("reload refused, the running configuration stays: %s", err);
	audit_log(c->store, clock_wall_ms(), actor, "reload", NULL, NULL, "refused", "%s", err);
	return -1;
}

static void ctl_reload_cb(void *arg)
{
	char err[512];

	ctl_reload(arg, "signal SIGHUP", err, sizeof(err));
}

static int ctl_setup(struct ctl *c, const char *conf_path)
{
	struct timeval flush = clock_tv_ms(LAST_SEEN_FLUSH_S * 1000);

	c->conf_path = conf_path;
	if (ctl_conf_load(conf_path, &c->conf, conf_error_stderr, NULL) < 0)
		return -1;
	if (c->conf.revoked &&
	    revoked_load(c->conf.revoked, &c->revoked, conf_error_stderr, NULL) < 0)
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
	/* Metrics and events serve other systems: when they cannot start (a
	 * port in use, say), the controller runs without them, and says so. */
	metrics_start(c);
	events_start(c);
	c->flush_ev = event_new(c->base, -1, EV_PERSIST, ctl_flush_cb, c);
	if (!c->flush_ev)
		fatal("out of memory");
	event_add(c->flush_ev, &flush);
	c->hup_ev = daemon_reload_signal(c->base, ctl_reload_cb, c);
	log_info("%d hosts in the inventory, epoch %llu", c->nhosts,
		 (unsigned long long)store_epoch_current(c->store));
	return 0;
}

static void ctl_teardown(struct ctl *c)
{
	command_free_all(c);
	access_free_all(c);
	ha_close(c);
	playbook_close(c);
	events_stop(c->events);
	c->events = NULL;
	metrics_stop(c->metrics);
	c->metrics = NULL;
	peers_close(c);
	control_close(c);
	if (c->flush_ev)
		event_free(c->flush_ev);
	if (c->hup_ev)
		event_free(c->hup_ev);
	if (c->store) {
		ctl_hosts_seen_flush(c, true);
		ctl_last_seen_flush(c);
	}
	store_close(c->store);
	if (c->ssl_ctx)
		SSL_CTX_free(c->ssl_ctx);
	free(c->hosts);
	inventory_free(c->inv);
	revoked_clear(&c->revoked);
	ctl_conf_clear(&c->conf);
}

static const char ctl_usage[] =
    "usage: bulkheadd [-v] [-n] [--no-sandbox] -f CONFIG\n"
    "  -f CONFIG     controller configuration (YAML), see bulkheadd(8)\n"
    "  -n            check the configuration and the inventory, then exit\n"
    "  --no-sandbox  keep the user, every capability and no system call\n"
    "                filter (for debugging; see bulkheadd(8))\n"
    "  -v            verbose logging\n"
    "  -h            this help\n";

/* -n checks that the user to switch to exists, as the start would. */
static int ctl_check_user(const char *conf_path, const char *user)
{
	if (!user || getpwnam(user))
		return 0;
	fprintf(stderr, "%s: user \"%s\": no such user\n", conf_path, user);
	return -1;
}

static int ctl_check(const char *conf_path)
{
	struct ctl_conf conf = {0};
	struct inventory *inv = NULL;
	struct revoked_list rl = {0};
	int rc = 1;

	if (ctl_conf_load(conf_path, &conf, conf_error_stderr, NULL) == 0 &&
	    (inv = inventory_load(conf.inventory, conf_error_stderr, NULL)) &&
	    (!conf.revoked || revoked_load(conf.revoked, &rl, conf_error_stderr, NULL) == 0) &&
	    ctl_check_user(conf_path, conf.user) == 0) {
		printf("%s: configuration OK, %d hosts in %s", conf_path, inv->nhosts,
		       conf.inventory);
		if (conf.revoked)
			printf(", %d revocation entries in %s", rl.n, conf.revoked);
		printf("\n");
		rc = 0;
	}
	revoked_clear(&rl);
	inventory_free(inv);
	ctl_conf_clear(&conf);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const flags[] = {"no-sandbox", NULL};
	struct ctl c = {0};
	struct event *sigs[2] = {0};
	struct daemon_args args;
	int rc = 1;

	if (daemon_args_parse(argc, argv, ctl_usage, flags, &args, &rc))
		return rc;
	log_init("bulkheadd", args.verbose);
	if (args.check)
		return ctl_check(args.conf_path);
	c.base = daemon_base_new();
	daemon_signals_init(c.base, "", sigs);
	if (ctl_setup(&c, args.conf_path) == 0) {
		/* The listener, the store and the control socket are open. */
		if (args.flags & 1)
			log_warn("--no-sandbox: running with every capability bulkheadd was given");
		if ((args.flags & 1) || ctl_sandbox_enter(&c.conf) == 0) {
			event_base_dispatch(c.base);
			rc = 0;
		}
	}
	daemon_signals_free(sigs);
	ctl_teardown(&c);
	event_base_free(c.base);
	return rc;
}
