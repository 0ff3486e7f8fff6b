/* Hardware profile files, hw-profiles/NAME.yaml: read and checked for form,
 * with the place of every kind-specific key kept for the agent's checks. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "yamlutil.h"

/* Where a key's value is; a key the file does not set stays at line 0. */
static void profile_where_set(struct conf_where *w, const yaml_node_t *v)
{
	if (v == NULL)
		return;
	w->line = (int)v->start_mark.line + 1;
	w->col = (int)v->start_mark.column + 1;
}

/* A glob over interface names: what an interface name may hold, plus the
 * glob characters, and no longer than a name could match. */
static int profile_pattern_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= 2 * CONF_IFNAME_MAX && strcspn(s, "/: \t\n\r\f\v") == len;
}

static int profile_patterns_add(struct conf_ctx *ctx, const char *what, yaml_node_t *n,
				struct conf_patterns *out)
{
	const char *s = conf_scalar(n);
	char d[80];

	if (s == NULL || !profile_pattern_valid(s)) {
		conf_report(ctx, n,
			    "\"%s\": expected an interface name or pattern (e.g. \"eth*\"), got %s",
			    what, conf_node_describe(n, d, sizeof(d)));
		return -1;
	}
	if (out->n == CONF_MAX_PATTERNS) {
		conf_report(ctx, n, "\"%s\": expected at most %d patterns", what,
			    CONF_MAX_PATTERNS);
		return -1;
	}
	out->p[out->n++] = xstrdup(s);
	return 0;
}

static void profile_patterns_clear(struct conf_patterns *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->p[i]);
	memset(ps, 0, sizeof(*ps));
}

/* A list of patterns, or a single one; an empty list is allowed. */
static int profile_patterns_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
				void *base)
{
	struct conf_patterns *ps = (struct conf_patterns *)((char *)base + key->off);
	yaml_node_item_t one, *start, *top, *it;
	int rc = 0;

	profile_patterns_clear(ps);
	if (conf_items(ctx, v, &one, &start, &top) == -1) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	for (it = start; it < top; it++)
		if (profile_patterns_add(ctx, key->name, conf_node(ctx, *it), ps) == -1)
			rc = -1;
	return rc;
}

enum { PIF_MANAGEMENT, PIF_DATA, PIF_UPLINKS, PIF_HOST_FACING };

static const struct conf_key profile_if_keys[] = {
    [PIF_MANAGEMENT] = {"management", CONF_FN, offsetof(struct profile_conf, management), 0, 0,
			NULL, 0, profile_patterns_set, "a list of interface patterns"},
    [PIF_DATA] = {"data", CONF_FN, offsetof(struct profile_conf, data), 0, 0, NULL, 0,
		  profile_patterns_set, "a list of interface patterns"},
    [PIF_UPLINKS] = {"uplinks", CONF_FN, offsetof(struct profile_conf, uplinks), 0, 0, NULL, 0,
		     profile_patterns_set, "a list of interface patterns"},
    [PIF_HOST_FACING] = {"host_facing", CONF_FN, offsetof(struct profile_conf, host_facing), 0, 0,
			 NULL, 0, profile_patterns_set, "a list of interface patterns"},
};

static int profile_interfaces_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
				  void *base)
{
	struct conf_seen seen[nitems(profile_if_keys)];
	struct profile_conf *pc = base;

	memset(seen, 0, sizeof(seen));
	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	conf_map_apply(ctx, v, profile_if_keys, nitems(profile_if_keys), base, seen);
	profile_where_set(&pc->at_data, seen[PIF_DATA].value);
	profile_where_set(&pc->at_uplinks, seen[PIF_UPLINKS].value);
	profile_where_set(&pc->at_host_facing, seen[PIF_HOST_FACING].value);
	return 0;
}

/* YAML 1.1 booleans as people write them; anything else is a typo. */
static int profile_bool_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off"};
	int *out = (int *)((char *)base + key->off);
	const char *s = conf_scalar(v);

	for (size_t i = 0; s != NULL && i < nitems(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	conf_value_bad(ctx, key, v);
	return -1;
}

static int profile_method_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			      void *base)
{
	struct profile_conf *pc = base;
	const char *s = conf_scalar(v);

	if (s == NULL || (strcmp(s, "link-down") != 0 && strcmp(s, "bridge-block") != 0)) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(pc->port_isolation);
	pc->port_isolation = xstrdup(s);
	return 0;
}

enum { PROF_NAME, PROF_KIND, PROF_NETDEV, PROF_BRIDGE, PROF_METHOD };

static const struct conf_key profile_keys[] = {
    [PROF_NAME] = {"name", CONF_NAME, offsetof(struct profile_conf, name), 0, 1, NULL, 0, NULL,
		   NULL},
    [PROF_KIND] = {"kind", CONF_NAME, offsetof(struct profile_conf, kind), 0, 0, NULL, 0, NULL,
		   NULL},
    [PROF_NETDEV] = {"netdev_ingress", CONF_FN, offsetof(struct profile_conf, netdev_ingress), 0, 0,
		     NULL, 0, profile_bool_set, "true or false"},
    [PROF_BRIDGE] = {"bridge", CONF_FN, offsetof(struct profile_conf, bridge), 0, 0, NULL, 0,
		     profile_bool_set, "true or false"},
    [PROF_METHOD] = {"port_isolation", CONF_FN, 0, 0, 0, NULL, 0, profile_method_set,
		     "link-down or bridge-block"},
    {"description", CONF_STR, offsetof(struct profile_conf, description), 0, 0, NULL, 0, NULL,
     NULL},
    {"interfaces", CONF_FN, 0, 0, 0, NULL, 0, profile_interfaces_set,
     "a mapping of management, data, uplinks and host_facing patterns"},
};

int profile_conf_load(const char *path, struct profile_conf *pc, conf_error_fn err, void *arg)
{
	struct conf_seen seen[nitems(profile_keys)];
	struct conf_ctx ctx;
	yaml_node_t *root;

	memset(pc, 0, sizeof(*pc));
	memset(seen, 0, sizeof(seen));
	pc->netdev_ingress = pc->bridge = -1;
	conf_ctx_init(&ctx, path, NULL, 0);
	root = conf_doc_load(&ctx);
	if (root != NULL) {
		conf_map_apply(&ctx, root, profile_keys, nitems(profile_keys), pc, seen);
		conf_required_check(&ctx, root, profile_keys, nitems(profile_keys), seen);
		profile_where_set(&pc->at_name, seen[PROF_NAME].value);
		profile_where_set(&pc->at_kind, seen[PROF_KIND].value);
		profile_where_set(&pc->at_netdev_ingress, seen[PROF_NETDEV].value);
		profile_where_set(&pc->at_bridge, seen[PROF_BRIDGE].value);
		profile_where_set(&pc->at_port_isolation, seen[PROF_METHOD].value);
	}
	conf_doc_close(&ctx);
	return conf_ctx_emit(&ctx, err, arg);
}

void profile_conf_clear(struct profile_conf *pc)
{
	if (pc == NULL)
		return;
	conf_strings_free(profile_keys, nitems(profile_keys), pc); /* name, kind, description */
	free(pc->port_isolation);
	profile_patterns_clear(&pc->management);
	profile_patterns_clear(&pc->data);
	profile_patterns_clear(&pc->uplinks);
	profile_patterns_clear(&pc->host_facing);
	memset(pc, 0, sizeof(*pc));
	pc->netdev_ingress = pc->bridge = -1;
}
