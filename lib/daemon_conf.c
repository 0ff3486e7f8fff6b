/* The daemons' own config files: agent.yaml (bulkhead-agent) and
 * bulkheadd.yaml (the controller), each one key table with defaults. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "yamlutil.h"

#define CONF_KEYS_MAX 16

static const struct conf_key agent_keys[] = {
    {"controllers", CONF_ADDRS, offsetof(struct agent_conf, controllers),
     offsetof(struct agent_conf, ncontrollers), 1, NULL, 0, NULL, NULL},
    {"port", CONF_PORT, offsetof(struct agent_conf, port), 0, 0, NULL, 7443, NULL, NULL},
    {"controller_name", CONF_STR, offsetof(struct agent_conf, controller_name), 0, 0, "bulkheadd",
     0, NULL, NULL},
    {"name", CONF_NAME, offsetof(struct agent_conf, name), 0, 0, NULL, 0, NULL, NULL},
    {"ca", CONF_STR, offsetof(struct agent_conf, ca), 0, 1, NULL, 0, NULL, NULL},
    {"cert", CONF_STR, offsetof(struct agent_conf, cert), 0, 1, NULL, 0, NULL, NULL},
    {"key", CONF_STR, offsetof(struct agent_conf, key), 0, 1, NULL, 0, NULL, NULL},
    {"state_dir", CONF_STR, offsetof(struct agent_conf, state_dir), 0, 1, NULL, 0, NULL, NULL},
    {"profile", CONF_STR, offsetof(struct agent_conf, profile), 0, 0, "linux-server", 0, NULL,
     NULL},
    {"mgmt_if", CONF_IFNAME, offsetof(struct agent_conf, mgmt_if), 0, 0, NULL, 0, NULL, NULL},
    {"profile_dir", CONF_STR, offsetof(struct agent_conf, profile_dir), 0, 0, NULL, 0, NULL, NULL},
    {"heartbeat_ms", CONF_MS, offsetof(struct agent_conf, heartbeat_ms), 0, 0, NULL, 1000, NULL,
     NULL},
    {"dead_ms", CONF_MS, offsetof(struct agent_conf, dead_ms), 0, 0, NULL, 5000, NULL, NULL},
    {"verify_ms", CONF_MS, offsetof(struct agent_conf, verify_ms), 0, 0, NULL, 10000, NULL, NULL},
};

static const struct conf_key ctl_keys[] = {
    {"listen", CONF_ADDR, offsetof(struct ctl_conf, listen), 0, 0, "0.0.0.0", 0, NULL, NULL},
    {"port", CONF_PORT, offsetof(struct ctl_conf, port), 0, 0, NULL, 7443, NULL, NULL},
    {"ca", CONF_STR, offsetof(struct ctl_conf, ca), 0, 1, NULL, 0, NULL, NULL},
    {"cert", CONF_STR, offsetof(struct ctl_conf, cert), 0, 1, NULL, 0, NULL, NULL},
    {"key", CONF_STR, offsetof(struct ctl_conf, key), 0, 1, NULL, 0, NULL, NULL},
    {"state_dir", CONF_STR, offsetof(struct ctl_conf, state_dir), 0, 1, NULL, 0, NULL, NULL},
    {"control_socket", CONF_STR, offsetof(struct ctl_conf, control_socket), 0, 0,
     "/run/bulkhead/bulkheadd.sock", 0, NULL, NULL},
    {"control_group", CONF_STR, offsetof(struct ctl_conf, control_group), 0, 0, NULL, 0, NULL,
     NULL},
    {"inventory", CONF_STR, offsetof(struct ctl_conf, inventory), 0, 1, NULL, 0, NULL, NULL},
    {"heartbeat_ms", CONF_MS, offsetof(struct ctl_conf, heartbeat_ms), 0, 0, NULL, 1000, NULL,
     NULL},
    {"dead_ms", CONF_MS, offsetof(struct ctl_conf, dead_ms), 0, 0, NULL, 5000, NULL, NULL},
    /* The store and high availability. */
    {"store", CONF_STR, offsetof(struct ctl_conf, store), 0, 0, NULL, 0, NULL, NULL},
    {"name", CONF_STR, offsetof(struct ctl_conf, name), 0, 0, NULL, 0, NULL, NULL},
};

/* A daemon's config: its table, its size, and the path in it that is
 * relative to the file. */
struct daemon_conf_kind {
	const struct conf_key *keys;
	size_t nkeys, size, rel_off;
};

static const struct daemon_conf_kind agent_kind = {agent_keys, nitems(agent_keys),
						   sizeof(struct agent_conf),
						   offsetof(struct agent_conf, profile_dir)};
static const struct daemon_conf_kind ctl_kind = {
    ctl_keys, nitems(ctl_keys), sizeof(struct ctl_conf), offsetof(struct ctl_conf, inventory)};

_Static_assert(nitems(agent_keys) <= CONF_KEYS_MAX, "agent_keys too long");
_Static_assert(nitems(ctl_keys) <= CONF_KEYS_MAX, "ctl_keys too long");

/* A peer must be allowed to miss at least one heartbeat before it counts as dead. */
static void daemon_timing_check(struct conf_ctx *ctx, const yaml_node_t *root,
				const struct conf_key *keys, size_t nkeys, const void *base,
				const struct conf_seen *seen)
{
	int hi = conf_key_find(keys, nkeys, "heartbeat_ms");
	int di = conf_key_find(keys, nkeys, "dead_ms");
	const yaml_node_t *where;
	int hb, dead;

	if (hi < 0 || di < 0 || seen[hi].bad || seen[di].bad)
		return;
	hb = *(const int *)((const char *)base + keys[hi].off);
	dead = *(const int *)((const char *)base + keys[di].off);
	if (dead > hb)
		return;
	where = seen[di].value != NULL	 ? seen[di].value
		: seen[hi].value != NULL ? seen[hi].value
					 : root;
	conf_report(ctx, where, "\"dead_ms\": expected more than heartbeat_ms (%d), got %d", hb,
		    dead);
}

/* The store is named with its backend, so that a typo is an error here
 * and not a SQLite file created under a strange name. */
static void daemon_store_check(struct conf_ctx *ctx, const struct conf_key *keys, size_t nkeys,
			       const void *base, const struct conf_seen *seen)
{
	int si = conf_key_find(keys, nkeys, "store");
	const char *v;

	if (si < 0 || seen[si].bad || seen[si].value == NULL)
		return;
	v = *(char *const *)((const char *)base + keys[si].off);
	if (v && ((strncmp(v, "sqlite:", 7) == 0 && v[7]) ||
		  (strncmp(v, "postgresql:", 11) == 0 && v[11])))
		return;
	conf_report(ctx, seen[si].value,
		    "\"store\": expected sqlite:PATH or postgresql:CONNINFO, got \"%s\"",
		    v ? v : "");
}

/* A relative path in a config file is relative to the file, not to
 * wherever the daemon was started. Replaces *p. */
static void daemon_path_relative(const char *conf_path, char **p)
{
	const char *slash = strrchr(conf_path, '/');
	size_t len;
	char *abs;

	if (*p == NULL || (*p)[0] == '/' || slash == NULL)
		return;
	len = (size_t)(slash - conf_path) + 1 + strlen(*p) + 1;
	abs = xcalloc(len, 1);
	snprintf(abs, len, "%.*s%s", (int)(slash - conf_path) + 1, conf_path, *p);
	free(*p);
	*p = abs;
}

static void daemon_conf_clear(const struct daemon_conf_kind *k, void *base)
{
	if (base == NULL)
		return;
	conf_strings_free(k->keys, k->nkeys, base);
	memset(base, 0, k->size);
}

/* One file against the kind's table into base; defaults first, then what
 * the file sets. On error base is cleared. */
static int daemon_conf_load(const struct daemon_conf_kind *k, const char *path, void *base,
			    conf_error_fn err, void *arg)
{
	struct conf_seen seen[CONF_KEYS_MAX];
	struct conf_ctx ctx;
	yaml_node_t *root;

	memset(base, 0, k->size);
	memset(seen, 0, sizeof(seen));
	conf_defaults_set(k->keys, k->nkeys, base);
	conf_ctx_init(&ctx, path, NULL, 0);
	root = conf_doc_load(&ctx);
	if (root != NULL) {
		conf_map_apply(&ctx, root, k->keys, k->nkeys, base, seen);
		conf_required_check(&ctx, root, k->keys, k->nkeys, seen);
		daemon_timing_check(&ctx, root, k->keys, k->nkeys, base, seen);
		daemon_store_check(&ctx, k->keys, k->nkeys, base, seen);
	}
	conf_doc_close(&ctx);
	if (conf_ctx_emit(&ctx, err, arg) == -1) {
		daemon_conf_clear(k, base);
		return -1;
	}
	daemon_path_relative(path, (char **)((char *)base + k->rel_off));
	return 0;
}

int agent_conf_load(const char *path, struct agent_conf *c, conf_error_fn err, void *arg)
{
	return daemon_conf_load(&agent_kind, path, c, err, arg);
}

void agent_conf_clear(struct agent_conf *c)
{
	daemon_conf_clear(&agent_kind, c);
}

int ctl_conf_load(const char *path, struct ctl_conf *c, conf_error_fn err, void *arg)
{
	return daemon_conf_load(&ctl_kind, path, c, err, arg);
}

void ctl_conf_clear(struct ctl_conf *c)
{
	daemon_conf_clear(&ctl_kind, c);
}
