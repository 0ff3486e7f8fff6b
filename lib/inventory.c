/* The inventory: hosts and switches with their addresses, profiles, labels
 * and port maps, each name and address checked to be unique. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "yamlutil.h"

#define CONF_INVENTORY_MAX (64 * 1024 * 1024) /* ~300,000 hosts; sites are not small */

static int inv_ports_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			 void *base);

/* Indexes into inv_host_keys, for the per-host checks. */
enum { HOST_NAME, HOST_ADDRS, HOST_PROFILE, HOST_LABELS, HOST_NKEYS };

/* A host's keys are the first HOST_NKEYS; a switch is a host with a port map. */
static const struct conf_key inv_host_keys[] = {
    [HOST_NAME] = {"name", CONF_NAME, offsetof(struct inv_host, name), 0, 1, NULL, 0, NULL, NULL},
    [HOST_ADDRS] = {"addresses", CONF_ADDRS, offsetof(struct inv_host, addrs),
		    offsetof(struct inv_host, naddrs), 1, NULL, 0, NULL, NULL},
    [HOST_PROFILE] = {"profile", CONF_STR, offsetof(struct inv_host, profile), 0, 1, NULL, 0, NULL,
		      NULL},
    [HOST_LABELS] = {"labels", CONF_LABELS, offsetof(struct inv_host, labels),
		     offsetof(struct inv_host, nlabels), 0, NULL, 0, NULL, NULL},
    [HOST_NKEYS] = {"ports", CONF_FN, 0, 0, 0, NULL, 0, inv_ports_set,
		    "a mapping of port names to host names"},
};

/* While an inventory is parsed: where it goes, and what is taken. */
struct inv_state {
	struct inventory *inv;
	struct inv_switches *sw;
	struct conf_index names, addrs;
};

static void inv_host_label(const struct inv_host *h, char *buf, size_t size)
{
	if (h->name != NULL)
		snprintf(buf, size, "host \"%s\"", h->name);
	else
		snprintf(buf, size, "the host at line %d", h->line);
}

/* Compares one of the last host's addresses with those of the hosts before it. */
static void inv_addr_owner_check(struct conf_ctx *ctx, struct inv_state *st, yaml_node_t *n)
{
	const char *s = conf_scalar(n);
	struct conf_addr a;
	uint8_t key[17];
	size_t len;
	char who[96];
	int owner, self = st->inv->nhosts - 1;

	if (s == NULL || conf_addr_parse(s, &a) == -1)
		return; /* already reported */
	len = conf_addr_key(&a, key);
	owner = conf_index_put(&st->addrs, key, len, self);
	if (owner >= 0 && owner != self) {
		inv_host_label(&st->inv->hosts[owner], who, sizeof(who));
		conf_report(ctx, n, "address %s already belongs to %s", a.text, who);
	}
}

/* Parses the next host (or switch) into inv->hosts[inv->nhosts], checking it
 * against the ones before it. */
static void inv_host_parse(struct conf_ctx *ctx, struct inv_state *st, yaml_node_t *node,
			   const struct conf_key *keys, size_t nkeys, const char *noun)
{
	struct inventory *inv = st->inv;
	struct inv_host *h = &inv->hosts[inv->nhosts++];
	struct conf_seen seen[nitems(inv_host_keys)];
	yaml_node_item_t one, *start, *top, *it;
	char who[96];
	int first;

	memset(seen, 0, sizeof(seen));
	h->line = (int)node->start_mark.line + 1;
	conf_map_apply(ctx, node, keys, nkeys, h, seen);
	if (h->name != NULL)
		snprintf(who, sizeof(who), "%s \"%s\"", noun, h->name);
	else
		snprintf(who, sizeof(who), "%s", noun);
	if (seen[HOST_NAME].value == NULL)
		conf_report(ctx, node, "%s has no name", noun);
	if (seen[HOST_ADDRS].value == NULL)
		conf_report(ctx, node, "%s has no addresses", who);
	if (seen[HOST_PROFILE].value == NULL)
		conf_report(ctx, node, "%s has no profile", who);

	if (h->name != NULL) {
		first = conf_index_put(&st->names, h->name, strlen(h->name), inv->nhosts - 1);
		if (first >= 0)
			conf_report(ctx, node,
				    "duplicate host name \"%s\" (first defined at line %d)",
				    h->name, inv->hosts[first].line);
	}
	if (seen[HOST_ADDRS].value == NULL || seen[HOST_ADDRS].bad ||
	    conf_items(ctx, seen[HOST_ADDRS].value, &one, &start, &top) == -1)
		return;
	for (it = start; it < top; it++)
		inv_addr_owner_check(ctx, st, conf_node(ctx, *it));
}

void inv_hosts_clear(struct inventory *inv)
{
	int i;

	for (i = 0; i < inv->nhosts; i++) {
		free(inv->hosts[i].name);
		free(inv->hosts[i].profile);
		conf_labels_free(inv->hosts[i].labels, inv->hosts[i].nlabels);
	}
	free(inv->hosts);
	inv->hosts = NULL;
	inv->nhosts = 0;
	if (inv->names)
		conf_index_clear(inv->names);
	free(inv->names);
	inv->names = NULL;
}

void inv_switches_clear(struct inv_switches *sw)
{
	int i, j;

	if (sw == NULL)
		return;
	for (i = 0; i < sw->n; i++) {
		for (j = 0; j < sw->sw[i].nports; j++) {
			free(sw->sw[i].ports[j].name);
			free(sw->sw[i].ports[j].host);
		}
		free(sw->sw[i].ports);
	}
	free(sw->sw);
	memset(sw, 0, sizeof(*sw));
}

static void inv_host_item(struct conf_ctx *ctx, yaml_node_t *item, void *arg)
{
	(void)arg;
	inv_host_parse(ctx, ctx->user, item, inv_host_keys, HOST_NKEYS, "host");
}

static void inv_switch_item(struct conf_ctx *ctx, yaml_node_t *item, void *arg)
{
	struct inv_state *st = ctx->user;

	(void)arg;
	st->sw->sw[st->sw->n++].host = st->inv->nhosts;
	inv_host_parse(ctx, st, item, inv_host_keys, nitems(inv_host_keys), "switch");
}

/* "hosts" and "switches": both go to inv->hosts, whose room was counted
 * before the document was walked. */
static int inv_list_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			const char *noun, conf_item_fn fn)
{
	int errors = ctx->nerrors;

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	conf_seq_maps(ctx, v, key->name, noun, fn, NULL);
	return ctx->nerrors == errors ? 0 : -1;
}

static int inv_hosts_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			 void *base)
{
	(void)base;
	return inv_list_set(ctx, key, v, "host", inv_host_item);
}

static int inv_switches_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	(void)base;
	return inv_list_set(ctx, key, v, "switch", inv_switch_item);
}

/* The port map of the switch being parsed; hosts are looked up once the
 * whole file is read, since switches may come first. */
static int inv_ports_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			 void *base)
{
	struct inv_state *st = ctx->user;
	struct inv_switch *s = &st->sw->sw[st->sw->n - 1];
	yaml_node_pair_t *p;
	yaml_node_t *val;
	const char *port, *host;
	char d[80];
	int errors = ctx->nerrors;

	(void)base;
	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(s->ports); /* a duplicated "ports" key: the later one wins */
	s->ports = xcalloc((size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) + 1,
			   sizeof(*s->ports));
	s->nports = 0;
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		port = conf_map_key(ctx, v, p);
		if (port == NULL)
			continue;
		if (!conf_ifname_valid(port)) {
			conf_report(
			    ctx, conf_node(ctx, p->key),
			    "\"ports\": expected an interface name of 1..15 characters, got %s",
			    conf_node_describe(conf_node(ctx, p->key), d, sizeof(d)));
			continue;
		}
		val = conf_node(ctx, p->value);
		host = conf_scalar(val);
		if (host == NULL || !conf_name_valid(host)) {
			conf_report(ctx, val, "port \"%s\": expected a host name, got %s", port,
				    conf_node_describe(val, d, sizeof(d)));
			continue;
		}
		s->ports[s->nports].name = xstrdup(port);
		s->ports[s->nports].host = xstrdup(host);
		s->ports[s->nports].target = -1;
		s->ports[s->nports].at = val->start_mark;
		s->nports++;
	}
	return ctx->nerrors == errors ? 0 : -1;
}

static void inv_ports_resolve(struct conf_ctx *ctx, struct inv_state *st)
{
	struct inv_port *port;
	int i, j;

	for (i = 0; i < st->sw->n; i++) {
		for (j = 0; j < st->sw->sw[i].nports; j++) {
			port = &st->sw->sw[i].ports[j];
			port->target = conf_index_get(&st->names, port->host, strlen(port->host));
			if (port->target < 0)
				conf_report_at(ctx, &port->at, "port \"%s\": unknown host \"%s\"",
					       port->name, port->host);
		}
	}
}

/* How many entries the lists under `name` hold, duplicated keys included. */
static size_t inv_list_count(struct conf_ctx *ctx, yaml_node_t *root, const char *name)
{
	yaml_node_pair_t *p;
	yaml_node_t *v;
	size_t n = 0;

	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const char *k = conf_scalar(conf_node(ctx, p->key));

		v = conf_node(ctx, p->value);
		if (k != NULL && strcmp(k, name) == 0 && v->type == YAML_SEQUENCE_NODE)
			n += (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	}
	return n;
}

static const struct conf_key inv_keys[] = {
    {"hosts", CONF_FN, 0, 0, 1, NULL, 0, inv_hosts_set, "a list of hosts"},
    {"switches", CONF_FN, 0, 0, 0, NULL, 0, inv_switches_set, "a list of switches"},
};

int inventory_doc_parse(struct conf_ctx *ctx, yaml_node_t *root, struct inventory *inv,
			struct inv_switches *sw)
{
	struct conf_seen seen[nitems(inv_keys)];
	struct inv_switches local = {NULL, 0};
	struct inv_state st = {inv, sw != NULL ? sw : &local, {NULL, 0, 0}, {NULL, 0, 0}};
	size_t nhosts = inv_list_count(ctx, root, "hosts");
	size_t nswitches = inv_list_count(ctx, root, "switches");
	int errors = ctx->nerrors;

	memset(seen, 0, sizeof(seen));
	inv_hosts_clear(inv);
	inv_switches_clear(st.sw);
	if (nhosts + nswitches > 0)
		inv->hosts = xcalloc(nhosts + nswitches, sizeof(*inv->hosts));
	if (nswitches > 0)
		st.sw->sw = xcalloc(nswitches, sizeof(*st.sw->sw));
	conf_index_init(&st.names);
	conf_index_init(&st.addrs);
	ctx->user = &st;
	conf_map_apply(ctx, root, inv_keys, nitems(inv_keys), inv, seen);
	conf_required_check(ctx, root, inv_keys, nitems(inv_keys), seen);
	inv_ports_resolve(ctx, &st);
	ctx->user = NULL;
	/* The names stay indexed for lookups; the addresses were for checks. */
	inv->names = xcalloc(1, sizeof(*inv->names));
	*inv->names = st.names;
	conf_index_clear(&st.addrs);
	inv_switches_clear(&local);
	return ctx->nerrors == errors ? 0 : -1;
}

/* The switches' port maps, flattened: host, switch, port. */
static void inventory_ports_take(struct inventory *inv, const struct inv_switches *sw)
{
	int n = 0;

	for (int i = 0; i < sw->n; i++)
		n += sw->sw[i].nports;
	inv->ports = xcalloc((size_t)n + 1, sizeof(*inv->ports));
	for (int i = 0; i < sw->n; i++)
		for (int j = 0; j < sw->sw[i].nports; j++) {
			struct inv_hostport *hp = &inv->ports[inv->nports++];

			hp->host = xstrdup(sw->sw[i].ports[j].host);
			hp->sw = xstrdup(inv->hosts[sw->sw[i].host].name);
			hp->port = xstrdup(sw->sw[i].ports[j].name);
		}
}

struct inventory *inventory_load(const char *path, conf_error_fn err, void *arg)
{
	struct inventory *inv = xcalloc(1, sizeof(*inv));
	struct inv_switches sw = {0};
	struct conf_ctx ctx;
	yaml_node_t *root;

	conf_ctx_init(&ctx, path, NULL, 0);
	ctx.max_size = CONF_INVENTORY_MAX;
	root = conf_doc_load(&ctx);
	if (root != NULL)
		inventory_doc_parse(&ctx, root, inv, &sw);
	conf_doc_close(&ctx);
	if (conf_ctx_emit(&ctx, err, arg) == 0)
		inventory_ports_take(inv, &sw);
	inv_switches_clear(&sw);
	if (ctx.nerrors != 0) {
		inventory_free(inv);
		return NULL;
	}
	return inv;
}

void inventory_free(struct inventory *inv)
{
	struct inv_hostport *hp;

	if (inv == NULL)
		return;
	inv_hosts_clear(inv);
	for (hp = inv->ports; hp < inv->ports + inv->nports; hp++) {
		free(hp->host);
		free(hp->sw);
		free(hp->port);
	}
	free(inv->ports);
	free(inv);
}

const struct inv_host *inventory_host_find(const struct inventory *inv, const char *name)
{
	int i;

	if (inv == NULL || name == NULL)
		return NULL;
	if (inv->names != NULL) {
		i = conf_index_get(inv->names, name, strlen(name));
		return i >= 0 && i < inv->nhosts ? &inv->hosts[i] : NULL;
	}
	/* An inventory built by hand, not read from a file, has no index. */
	for (i = 0; i < inv->nhosts; i++)
		if (inv->hosts[i].name != NULL && strcmp(inv->hosts[i].name, name) == 0)
			return &inv->hosts[i];
	return NULL;
}
