/* The daemons' own config files: agent.yaml (bulkhead-agent) and
 * bulkheadd.yaml (the controller), each one key table with defaults. */
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "yamlutil.h"

#define CONF_KEYS_MAX 32

static int ctl_access_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base);

static int controller_names_fn(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			       void *base);

static const struct conf_key agent_keys[] = {
    {"controllers", CONF_ADDRS, offsetof(struct agent_conf, controllers),
     offsetof(struct agent_conf, ncontrollers), 1, NULL, 0, NULL, NULL},
    {"port", CONF_PORT, offsetof(struct agent_conf, port), 0, 0, NULL, 7443, NULL, NULL},
    {"controller_name", CONF_FN, offsetof(struct agent_conf, controller_name), 0, 0, "bulkheadd", 0,
     controller_names_fn, "a controller certificate name, or a list of them"},
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
    {"user", CONF_STR, offsetof(struct agent_conf, user), 0, 0, NULL, 0, NULL, NULL},
};

/* --- bulkheadd's metrics and events keys --- */

int conf_hostport_split(const char *s, char *addr, size_t alen, uint16_t *port)
{
	const char *a = s, *colon;
	unsigned long p;
	char *end;
	size_t n;

	if (s == NULL || *s == '\0')
		return -1;
	if (*s == '[') {
		a = s + 1;
		colon = strstr(a, "]:");
		n = colon ? (size_t)(colon - a) : 0;
		colon = colon ? colon + 1 : NULL;
	} else {
		colon = strrchr(s, ':');
		n = colon ? (size_t)(colon - s) : 0;
		if (colon && memchr(s, ':', n))
			return -1; /* an IPv6 address wants its brackets */
	}
	if (colon == NULL || n == 0 || n >= alen || colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p == 0 || p > 65535)
		return -1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* "127.0.0.1:9464", "[::1]:9464": an address literal and a port. */
static int ctl_metrics_listen_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
				  void *base)
{
	struct ctl_conf *c = base;
	struct conf_addr ca;
	char addr[48];
	uint16_t port;

	if (conf_hostport_split(conf_scalar(v), addr, sizeof(addr), &port) < 0 ||
	    conf_addr_parse(addr, &ca) < 0) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	snprintf(c->metrics_listen, sizeof(c->metrics_listen),
		 ca.family == AF_INET6 ? "[%s]:%u" : "%s:%u", ca.text, (unsigned)port);
	return 0;
}

static int ctl_bool_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			void *base)
{
	const char *s = conf_scalar(v);
	int *out = (int *)((char *)base + key->off);

	if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)) {
		*out = s[0] == 't';
		return 0;
	}
	conf_value_bad(ctx, key, v);
	return -1;
}

/* A program or a file the daemon opens later, from another directory: the
 * path must not depend on where it was started. */
static int ctl_abs_path_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	const char *s = conf_scalar(v);
	char **out = (char **)((char *)base + key->off);

	if (s == NULL || s[0] != '/') {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(*out);
	*out = xstrdup(s);
	return 0;
}

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
    {"user", CONF_STR, offsetof(struct ctl_conf, user), 0, 0, NULL, 0, NULL, NULL},
    {"inventory", CONF_STR, offsetof(struct ctl_conf, inventory), 0, 1, NULL, 0, NULL, NULL},
    {"heartbeat_ms", CONF_MS, offsetof(struct ctl_conf, heartbeat_ms), 0, 0, NULL, 1000, NULL,
     NULL},
    {"dead_ms", CONF_MS, offsetof(struct ctl_conf, dead_ms), 0, 0, NULL, 5000, NULL, NULL},
    {"access", CONF_FN, offsetof(struct ctl_conf, access), 0, 0, NULL, 0, ctl_access_set,
     "a mapping of read, operate, commands, two_person and two_person_ms"},
    {"handshake_max", CONF_COUNT, offsetof(struct ctl_conf, handshake_max), 0, 0, NULL, 4096, NULL,
     NULL},
    {"handshake_per_source", CONF_COUNT, offsetof(struct ctl_conf, handshake_per_source), 0, 0,
     NULL, 16, NULL, NULL},
    {"revoked", CONF_STR, offsetof(struct ctl_conf, revoked), 0, 0, NULL, 0, NULL, NULL},
    /* metrics and events */
    {"metrics_listen", CONF_FN, 0, 0, 0, NULL, 0, ctl_metrics_listen_set,
     "ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464"},
    {"events_exec", CONF_FN, offsetof(struct ctl_conf, events_exec), 0, 0, NULL, 0,
     ctl_abs_path_set, "an absolute path"},
    {"events_file", CONF_FN, offsetof(struct ctl_conf, events_file), 0, 0, NULL, 0,
     ctl_abs_path_set, "an absolute path"},
    {"events_syslog", CONF_FN, offsetof(struct ctl_conf, events_syslog), 0, 0, NULL, 0,
     ctl_bool_set, "true or false"},
    /* The store and high availability. */
    {"store", CONF_STR, offsetof(struct ctl_conf, store), 0, 0, NULL, 0, NULL, NULL},
    {"name", CONF_STR, offsetof(struct ctl_conf, name), 0, 0, NULL, 0, NULL, NULL},
};

/* --- access: the control socket's roles --- */

/* The control requests, and the role each needs unless configured. */
static const struct {
	uint16_t type;
	enum access_role role;
} ctl_requests[] = {
    {WIRE_CTL_STATUS, ROLE_READ},	 {WIRE_CTL_AUDIT, ROLE_READ},
    {WIRE_CTL_AUDIT_VERIFY, ROLE_READ},	 {WIRE_CTL_POLICIES, ROLE_READ},
    {WIRE_CTL_PB_STATUS, ROLE_READ},	 {WIRE_CTL_ISOLATE, ROLE_OPERATE},
    {WIRE_CTL_RELEASE, ROLE_OPERATE},	 {WIRE_CTL_CONFIRM, ROLE_OPERATE},
    {WIRE_CTL_APPLY, ROLE_OPERATE},	 {WIRE_CTL_PB_RUN, ROLE_OPERATE},
    {WIRE_CTL_PB_APPROVE, ROLE_OPERATE}, {WIRE_CTL_PB_ABORT, ROLE_OPERATE},
    {WIRE_CTL_PB_RESUME, ROLE_OPERATE},	 {WIRE_CTL_APPROVE, ROLE_OPERATE},
    {WIRE_CTL_RELOAD, ROLE_OPERATE},
};

_Static_assert(WIRE_TYPE_MAX - NLMSG_MIN_TYPE <= CONF_MAX_REQUESTS, "CONF_MAX_REQUESTS too small");

enum access_role ctl_request_role(const struct ctl_access *a, uint16_t type)
{
	if (type >= NLMSG_MIN_TYPE && type < WIRE_TYPE_MAX && a->role[type - NLMSG_MIN_TYPE])
		return (enum access_role)a->role[type - NLMSG_MIN_TYPE];
	for (size_t i = 0; i < nitems(ctl_requests); i++)
		if (ctl_requests[i].type == type)
			return ctl_requests[i].role;
	return ROLE_OPERATE;
}

static const char *const two_person_names[] = {"release-all", "apply-open", "playbook-approve"};

/* A list of groups, by name or number, into gids[] and *n. */
static int access_groups_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			     gid_t *gids, int *n)
{
	yaml_node_item_t one, *start, *top;
	int rc = 0;

	if (conf_list_items(ctx, key, v, "group", &one, &start, &top) == -1)
		return -1;
	if (top - start > CONF_MAX_GROUPS) {
		conf_report(ctx, v, "\"%s\": expected at most %d groups, got %td", key->name,
			    CONF_MAX_GROUPS, top - start);
		return -1;
	}
	for (yaml_node_item_t *it = start; it < top; it++) {
		yaml_node_t *item = conf_node(ctx, *it);
		const char *s = conf_scalar(item);
		struct group gr, *grp = NULL;
		char buf[4096], *end;
		unsigned long id;

		if (s == NULL || !*s) {
			conf_report(ctx, item, "\"%s\": expected a group name or number",
				    key->name);
			rc = -1;
			continue;
		}
		errno = 0;
		id = strtoul(s, &end, 10);
		if (*end == '\0' && errno == 0 && id < (gid_t)-1) {
			gids[(*n)++] = (gid_t)id;
		} else if (getgrnam_r(s, &gr, buf, sizeof(buf), &grp) == 0 && grp) {
			gids[(*n)++] = grp->gr_gid;
		} else {
			conf_report(
			    ctx, item,
			    "\"%s\": no group \"%s\" on this system (add it, or give its number)",
			    key->name, s);
			rc = -1;
		}
	}
	return rc;
}

static int access_read_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			   void *base)
{
	struct ctl_access *a = base;

	return access_groups_set(ctx, key, v, a->read, &a->nread);
}

static int access_operate_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			      void *base)
{
	struct ctl_access *a = base;

	return access_groups_set(ctx, key, v, a->operate, &a->noperate);
}

/* commands: {REQUEST: read|operate}, REQUEST as wire_type_name calls it. */
static int access_commands_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			       void *base)
{
	struct ctl_access *a = base;
	int rc = 0;

	if (v->type != YAML_MAPPING_NODE) {
		conf_report(ctx, v, "\"%s\": expected a mapping of requests to read or operate",
			    key->name);
		return -1;
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		const char *name = conf_map_key(ctx, v, p);
		yaml_node_t *val = conf_node(ctx, p->value);
		const char *role = conf_scalar(val);
		size_t i;

		if (name == NULL) {
			rc = -1;
			continue;
		}
		for (i = 0; i < nitems(ctl_requests); i++)
			if (strcmp(wire_type_name(ctl_requests[i].type), name) == 0)
				break;
		if (i == nitems(ctl_requests)) {
			conf_report(ctx, conf_node(ctx, p->key),
				    "\"%s\": no control request \"%s\" (status, audit, isolate, "
				    "release, apply, playbook-approve, ...)",
				    key->name, name);
			rc = -1;
			continue;
		}
		if (role && strcmp(role, "read") == 0) {
			a->role[ctl_requests[i].type - NLMSG_MIN_TYPE] = ROLE_READ;
		} else if (role && strcmp(role, "operate") == 0) {
			a->role[ctl_requests[i].type - NLMSG_MIN_TYPE] = ROLE_OPERATE;
		} else {
			conf_report(ctx, val, "\"%s\": expected read or operate for %s", key->name,
				    name);
			rc = -1;
		}
	}
	return rc;
}

static int access_two_person_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
				 void *base)
{
	struct ctl_access *a = base;
	yaml_node_item_t one, *start, *top;
	int rc = 0;

	if (conf_list_items(ctx, key, v, "request", &one, &start, &top) == -1)
		return -1;
	for (yaml_node_item_t *it = start; it < top; it++) {
		yaml_node_t *item = conf_node(ctx, *it);
		const char *s = conf_scalar(item);
		size_t i;

		for (i = 0; s && i < nitems(two_person_names); i++)
			if (strcmp(s, two_person_names[i]) == 0)
				break;
		if (!s || i == nitems(two_person_names)) {
			conf_report(ctx, item,
				    "\"%s\": expected release-all, apply-open or playbook-approve",
				    key->name);
			rc = -1;
			continue;
		}
		a->two_person |= 1u << i;
	}
	return rc;
}

static const struct conf_key access_keys[] = {
    {"read", CONF_FN, 0, 0, 0, NULL, 0, access_read_set, "a list of groups"},
    {"operate", CONF_FN, 0, 0, 0, NULL, 0, access_operate_set, "a list of groups"},
    {"commands", CONF_FN, 0, 0, 0, NULL, 0, access_commands_set,
     "a mapping of requests to read or operate"},
    {"two_person", CONF_FN, 0, 0, 0, NULL, 0, access_two_person_set,
     "a list of release-all, apply-open, playbook-approve"},
    {"two_person_ms", CONF_MS, offsetof(struct ctl_access, two_person_ms), 0, 0, NULL, 300000, NULL,
     NULL},
};

static int ctl_access_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base)
{
	struct ctl_access *a = (struct ctl_access *)((char *)base + key->off);
	struct conf_seen seen[nitems(access_keys)];

	if (v->type != YAML_MAPPING_NODE) {
		conf_report(ctx, v, "\"%s\": expected %s", key->name, key->expect);
		return -1;
	}
	memset(seen, 0, sizeof(seen));
	return conf_map_apply(ctx, v, access_keys, nitems(access_keys), a, seen);
}

/* controller_name: one name, or a list of the names the agent accepts; the
 * first is controller_name, the others controller_alt. */
static int controller_names_fn(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			       void *base)
{
	struct agent_conf *c = base;
	yaml_node_item_t one, *it, *top;
	int errors = ctx->nerrors;

	if (conf_list_items(ctx, key, v, "name", &one, &it, &top) < 0)
		return -1;
	if (top - it > CONF_MAX_ADDRS) {
		conf_report(ctx, v, "\"%s\": at most %d names", key->name, CONF_MAX_ADDRS);
		return -1;
	}
	free(c->controller_name);
	c->controller_name = NULL;
	for (; it < top; it++) {
		yaml_node_t *n = conf_node(ctx, *it);
		const char *s = conf_scalar(n);

		if (s == NULL || *s == '\0') {
			conf_value_bad(ctx, key, n);
			continue;
		}
		if (c->controller_name == NULL)
			c->controller_name = xstrdup(s);
		else
			c->controller_alt[c->ncontroller_alt++] = xstrdup(s);
	}
	if (c->controller_name == NULL)
		c->controller_name = xstrdup(key->def);
	return ctx->nerrors == errors ? 0 : -1;
}

static void agent_conf_extra_clear(void *base)
{
	struct agent_conf *c = base;

	free(c->controller_name);
	for (int i = 0; i < c->ncontroller_alt; i++)
		free(c->controller_alt[i]);
}

/* A daemon's config: its table, its size, the paths in it that are
 * relative to the file, and what its CONF_FN keys hold that the table's
 * strings do not. */
struct daemon_conf_kind {
	const struct conf_key *keys;
	size_t nkeys, size;
	size_t rel_off[2];
	int nrel;
	void (*extra_clear)(void *base);
};

/* The CONF_FN paths are not among the table's strings. */
static void ctl_conf_fn_clear(void *base)
{
	struct ctl_conf *c = base;

	free(c->events_exec);
	free(c->events_file);
}

static const struct daemon_conf_kind agent_kind = {agent_keys,
						   nitems(agent_keys),
						   sizeof(struct agent_conf),
						   {offsetof(struct agent_conf, profile_dir)},
						   1,
						   agent_conf_extra_clear};
static const struct daemon_conf_kind ctl_kind = {
    ctl_keys,
    nitems(ctl_keys),
    sizeof(struct ctl_conf),
    {offsetof(struct ctl_conf, inventory), offsetof(struct ctl_conf, revoked)},
    2,
    ctl_conf_fn_clear};

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
	if (k->extra_clear)
		k->extra_clear(base);
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
	if (k == &ctl_kind)
		conf_defaults_set(access_keys, nitems(access_keys),
				  &((struct ctl_conf *)base)->access);
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
	for (int i = 0; i < k->nrel; i++)
		daemon_path_relative(path, (char **)((char *)base + k->rel_off[i]));
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
