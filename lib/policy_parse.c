/* Reading a policy directory: the five YAML files into the site model, its
 * names resolved (policy_names.c), every problem kept with its place and
 * reported in file order. The format is bulkhead-policy(5). */
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

/* Tens of thousands of hosts and rules, with room to spare. */
#define POLICY_FILE_MAX (64 * 1024 * 1024)

static const char *const policy_file_names[PF_COUNT] = {
    [PF_INVENTORY] = "inventory.yaml",	 [PF_GROUPS] = "groups.yaml",
    [PF_SERVICES] = "services.yaml",	 [PF_RULES] = "rules.yaml",
    [PF_MANAGEMENT] = "management.yaml",
};

static struct policy_pos policy_pos_of(const yaml_node_t *n)
{
	struct policy_pos at = {(uint32_t)n->start_mark.line + 1,
				(uint32_t)n->start_mark.column + 1};

	return at;
}

/* --- small value parsers, for the CONF_FN keys --- */

/* A name, or a list of names: an array of struct policy_ref at the key's
 * off, its count at count_off. */
static int policy_refs_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			   void *base)
{
	struct policy_ref **refs = (struct policy_ref **)((char *)base + key->off);
	int *n = (int *)((char *)base + key->count_off);
	yaml_node_item_t one, *start, *top, *it;
	yaml_node_t *item;
	const char *s;
	char d[80];
	int i, errors = ctx->nerrors;

	for (i = 0; i < *n; i++)
		free((*refs)[i].name);
	free(*refs);
	*refs = NULL;
	*n = 0;
	if (conf_list_items(ctx, key, v, "name", &one, &start, &top) == -1)
		return -1;
	*refs = xcalloc((size_t)(top - start), sizeof(**refs));
	for (it = start; it < top; it++) {
		item = conf_node(ctx, *it);
		s = conf_scalar(item);
		if (s == NULL || !conf_name_valid(s)) {
			conf_report(
			    ctx, item,
			    "\"%s\": expected a name of 1..63 characters of [A-Za-z0-9._-], "
			    "got %s",
			    key->name, conf_node_describe(item, d, sizeof(d)));
			continue;
		}
		(*refs)[*n].name = xstrdup(s);
		(*refs)[*n].at = policy_pos_of(item);
		(*refs)[*n].idx = -1;
		(*n)++;
	}
	return ctx->nerrors == errors ? 0 : -1;
}

/* "198.18.4.0/24", "2001:2:0:4::/64" or one address. */
static int policy_net_parse(const char *s, struct policy_net *net, const char **why)
{
	char buf[64], *slash;
	uint8_t lo[16], hi[16], mask;
	struct conf_addr a;
	int len, plen, i, bits;
	char *end;

	if (strlen(s) >= sizeof(buf)) {
		*why = "expected an address or prefix";
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (conf_addr_parse(buf, &a) == -1) {
		*why = "expected an address or prefix";
		return -1;
	}
	len = a.family == AF_INET ? 4 : 16;
	plen = len * 8;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9' || strlen(slash) > 3) {
			*why = "expected a prefix length";
			return -1;
		}
		plen = (int)strtol(slash, &end, 10);
		if (*end != '\0' || plen > len * 8) {
			*why = a.family == AF_INET ? "expected a prefix length 0..32"
						   : "expected a prefix length 0..128";
			return -1;
		}
	}
	memset(net, 0, sizeof(*net));
	net->family = (uint8_t)a.family;
	memcpy(lo, &a.a, (size_t)len);
	memcpy(hi, &a.a, (size_t)len);
	for (i = 0; i < len; i++) {
		bits = plen - 8 * i; /* prefix bits in this byte */
		if (bits >= 8)
			continue;
		mask = bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		if (lo[i] & ~mask) {
			*why = "host bits are set";
			return -1;
		}
		hi[i] |= (uint8_t)~mask;
	}
	net->r.lo = policy_addr_load(a.family, lo);
	net->r.hi = policy_addr_load(a.family, hi);
	return 0;
}

/* "tcp/443", "udp/53", "tcp/8000-8080" or "icmp". */
static int policy_port_parse(const char *s, struct policy_port *pp, char *why, size_t size)
{
	const char *slash = strchr(s, '/'), *p;
	long lo, hi;
	char *end;
	size_t plen = slash != NULL ? (size_t)(slash - s) : strlen(s);

	memset(pp, 0, sizeof(*pp));
	if (plen == 4 && strncmp(s, "icmp", 4) == 0) {
		if (slash != NULL) {
			snprintf(why, size, "icmp takes no port");
			return -1;
		}
		pp->proto = IPPROTO_ICMP;
		return 0;
	}
	if (plen == 3 && strncmp(s, "tcp", 3) == 0)
		pp->proto = IPPROTO_TCP;
	else if (plen == 3 && strncmp(s, "udp", 3) == 0)
		pp->proto = IPPROTO_UDP;
	else {
		snprintf(why, size, "unknown protocol \"%.*s\" (expected tcp, udp or icmp)",
			 (int)(plen < 16 ? plen : 16), s);
		return -1;
	}
	if (slash == NULL || slash[1] == '\0') {
		snprintf(why, size, "expected a port after \"%.3s/\"", s);
		return -1;
	}
	p = slash + 1;
	if (*p < '0' || *p > '9')
		goto bad;
	lo = strtol(p, &end, 10);
	hi = lo;
	if (*end == '-') {
		if (end[1] < '0' || end[1] > '9')
			goto bad;
		hi = strtol(end + 1, &end, 10);
	}
	if (*end != '\0')
		goto bad;
	if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535) {
		snprintf(why, size, "port out of range (expected 1..65535)");
		return -1;
	}
	if (lo > hi) {
		snprintf(why, size, "port range %ld-%ld is reversed", lo, hi);
		return -1;
	}
	pp->lo = (uint16_t)lo;
	pp->hi = (uint16_t)hi;
	return 0;
bad:
	snprintf(why, size, "expected a port number or a range LO-HI");
	return -1;
}

/* groups.yaml and services.yaml: a mapping of names, each to its parser. */
typedef void (*policy_entry_fn)(struct conf_ctx *ctx, struct policy *p, yaml_node_t *name_node,
				const char *name, yaml_node_t *body);

/* Room for the entries of v, or old when v is not a mapping (which
 * policy_names_set reports). */
static void *policy_names_room(const yaml_node_t *v, void *old, size_t size)
{
	if (v->type != YAML_MAPPING_NODE)
		return old;
	return xcalloc((size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) + 1, size);
}

static int policy_names_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    struct policy *p, policy_entry_fn fn)
{
	yaml_node_pair_t *pr;
	const char *name;

	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	for (pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		name = conf_map_key(ctx, v, pr);
		if (name != NULL)
			fn(ctx, p, conf_node(ctx, pr->key), name, conf_node(ctx, pr->value));
	}
	return 0;
}

/* --- inventory.yaml --- */

static void policy_inventory_parse(struct conf_ctx *ctx, yaml_node_t *root, struct policy *p)
{
	inventory_doc_parse(ctx, root, &p->inv, &p->sw);
}

/* --- groups.yaml --- */

static int group_networks_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			      void *base)
{
	struct policy_group *g = base;
	yaml_node_item_t *it;
	yaml_node_t *item;
	const char *s, *why;
	char d[80];
	int errors = ctx->nerrors;

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	if (v->data.sequence.items.start == v->data.sequence.items.top) {
		conf_report(ctx, v, "\"networks\": expected at least one address or prefix");
		return -1;
	}
	free(g->nets);
	g->nnets = 0;
	g->nets = xcalloc((size_t)(v->data.sequence.items.top - v->data.sequence.items.start),
			  sizeof(*g->nets));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		item = conf_node(ctx, *it);
		s = conf_scalar(item);
		if (s == NULL) {
			conf_report(ctx, item,
				    "\"networks\": expected an address or prefix, got %s",
				    conf_node_describe(item, d, sizeof(d)));
			continue;
		}
		if (policy_net_parse(s, &g->nets[g->nnets], &why) == -1) {
			conf_report(ctx, item, "\"networks\": %s: %s",
				    conf_node_describe(item, d, sizeof(d)), why);
			continue;
		}
		g->nets[g->nnets++].at = policy_pos_of(item);
	}
	return ctx->nerrors == errors ? 0 : -1;
}

/* "isolate-after 15m": seconds (s), minutes (m) or hours (h), 1 s .. 7 days. */
static int group_deadman_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			     void *base)
{
	struct policy_group *g = base;
	const char *s = conf_scalar(v);
	unsigned long n = 0, mult = 0;
	char unit = 0, d[80];
	int used = 0;

	if (s && sscanf(s, "isolate-after %lu%c%n", &n, &unit, &used) == 2 && s[used] == '\0')
		mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
	if (!mult || n == 0 || n * mult > 7 * 86400) {
		conf_report(
		    ctx, v,
		    "\"on_controller_loss\": expected \"isolate-after N\" with N in s, m or "
		    "h (at most 7 days), got %s",
		    conf_node_describe(v, d, sizeof(d)));
		return -1;
	}
	g->deadman_s = (uint32_t)(n * mult);
	return 0;
}

/* The first four keys say what kind of group it is; exactly one is given. */
enum {
	GKEY_MATCH,
	GKEY_HOSTS,
	GKEY_GROUPS,
	GKEY_NETWORKS,
	GKEY_NKINDS,
	GKEY_DEADMAN = GKEY_NKINDS
};

static const struct conf_key group_keys[] = {
    [GKEY_MATCH] = {"match", CONF_LABELS, offsetof(struct policy_group, match),
		    offsetof(struct policy_group, nmatch), 0, NULL, 0, NULL, NULL},
    [GKEY_HOSTS] = {"hosts", CONF_FN, offsetof(struct policy_group, refs),
		    offsetof(struct policy_group, nrefs), 0, NULL, 0, policy_refs_set,
		    "a list of host names"},
    [GKEY_GROUPS] = {"groups", CONF_FN, offsetof(struct policy_group, refs),
		     offsetof(struct policy_group, nrefs), 0, NULL, 0, policy_refs_set,
		     "a list of group names"},
    [GKEY_NETWORKS] = {"networks", CONF_FN, 0, 0, 0, NULL, 0, group_networks_set,
		       "a list of addresses and prefixes"},
    [GKEY_DEADMAN] = {"on_controller_loss", CONF_FN, 0, 0, 0, NULL, 0, group_deadman_set,
		      "isolate-after DURATION"},
};

/* Counts a group or service in *n unless its name is bad or taken. */
static int policy_name_claim(struct conf_ctx *ctx, yaml_node_t *name_node, const char *name,
			     const char *what, struct conf_index *ix, int *n)
{
	char d[80];

	if (!conf_name_valid(name)) {
		conf_report(ctx, name_node,
			    "%s name: expected 1..63 characters of [A-Za-z0-9._-], got %s", what,
			    conf_node_describe(name_node, d, sizeof(d)));
		return -1;
	}
	if (conf_index_put(ix, name, strlen(name), *n) >= 0)
		return -1; /* a duplicate key, already reported */
	(*n)++;
	return 0;
}

static void group_parse(struct conf_ctx *ctx, struct policy *p, yaml_node_t *name_node,
			const char *name, yaml_node_t *body)
{
	static const enum policy_group_kind kinds[] = {GROUP_MATCH, GROUP_HOSTS, GROUP_GROUPS,
						       GROUP_NETWORKS};
	struct policy_group *g = &p->groups[p->ngroups];
	struct conf_seen seen[nitems(group_keys)];
	yaml_node_t *second = NULL;
	char d[80];
	size_t i;
	int nkinds = 0;

	if (policy_name_claim(ctx, name_node, name, "group", &p->group_ix, &p->ngroups) == -1)
		return;
	g->name = xstrdup(name);
	g->at = policy_pos_of(name_node);
	/* known by name even when broken, so that rules do not report it again */
	if (body->type != YAML_MAPPING_NODE) {
		conf_report(ctx, body,
			    "group \"%s\": expected a mapping with match, hosts, groups or "
			    "networks, got %s",
			    name, conf_node_describe(body, d, sizeof(d)));
		return;
	}
	memset(seen, 0, sizeof(seen));
	conf_map_apply(ctx, body, group_keys, nitems(group_keys), g, seen);
	for (i = 0; i < GKEY_NKINDS; i++) {
		if (seen[i].value == NULL)
			continue;
		if (nkinds++ == 0)
			g->kind = kinds[i];
		else if (second == NULL)
			second = seen[i].value;
	}
	if (nkinds == 0)
		conf_report(ctx, body,
			    "group \"%s\": expected one of match, hosts, groups or networks", name);
	else if (second != NULL)
		conf_report(ctx, second,
			    "group \"%s\": expected only one of match, hosts, groups or networks",
			    name);
	else if (g->kind == GROUP_MATCH && !seen[GKEY_MATCH].bad && g->nmatch == 0)
		conf_report(ctx, seen[GKEY_MATCH].value,
			    "group \"%s\": \"match\" needs at least one label", name);
}

static int policy_groups_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			     void *base)
{
	struct policy *p = base;

	p->groups = policy_names_room(v, p->groups, sizeof(*p->groups));
	return policy_names_set(ctx, key, v, p, group_parse);
}

/* --- services.yaml --- */

static void service_parse(struct conf_ctx *ctx, struct policy *p, yaml_node_t *name_node,
			  const char *name, yaml_node_t *v)
{
	struct policy_service *svc = &p->services[p->nservices];
	yaml_node_item_t one, *start, *top, *it;
	yaml_node_t *item;
	const char *s;
	char d[80], why[96];

	if (policy_name_claim(ctx, name_node, name, "service", &p->service_ix, &p->nservices) == -1)
		return;
	svc->name = xstrdup(name);
	svc->at = policy_pos_of(name_node);
	if (conf_items(ctx, v, &one, &start, &top) == -1 || start == top ||
	    (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)) {
		conf_report(ctx, v,
			    "service \"%s\": expected a list like [tcp/443, udp/53, icmp], got %s",
			    name, conf_node_describe(v, d, sizeof(d)));
		return;
	}
	svc->ports = xcalloc((size_t)(top - start), sizeof(*svc->ports));
	for (it = start; it < top; it++) {
		item = conf_node(ctx, *it);
		s = conf_scalar(item);
		if (s == NULL) {
			conf_report(ctx, item,
				    "service \"%s\": expected tcp/PORT, udp/PORT or icmp, got %s",
				    name, conf_node_describe(item, d, sizeof(d)));
			continue;
		}
		if (policy_port_parse(s, &svc->ports[svc->nports], why, sizeof(why)) == -1) {
			conf_report(ctx, item, "service \"%s\": %s: %s", name,
				    conf_node_describe(item, d, sizeof(d)), why);
			continue;
		}
		svc->nports++;
	}
}

static int policy_services_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			       void *base)
{
	struct policy *p = base;

	p->services = policy_names_room(v, p->services, sizeof(*p->services));
	return policy_names_set(ctx, key, v, p, service_parse);
}

/* --- rules.yaml --- */

static int rule_group_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base)
{
	struct policy_ref *ref = (struct policy_ref *)((char *)base + key->off);
	const char *s = conf_scalar(v);

	if (s == NULL || !conf_name_valid(s)) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(ref->name);
	ref->name = xstrdup(s);
	ref->at = policy_pos_of(v);
	ref->idx = -1;
	return 0;
}

static int rule_expires_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	struct policy_rule *r = base;
	const char *s = conf_scalar(v);

	if (s == NULL || policy_date_parse(s, &r->expires) == -1) {
		conf_value_bad(ctx, key, v);
		r->expires = -1;
		return -1;
	}
	r->expires_at = policy_pos_of(v);
	return 0;
}

static const struct conf_key rule_keys[] = {
    {"from", CONF_FN, offsetof(struct policy_rule, from), 0, 1, NULL, 0, rule_group_set,
     "a group name"},
    {"to", CONF_FN, offsetof(struct policy_rule, to), 0, 1, NULL, 0, rule_group_set,
     "a group name"},
    {"services", CONF_FN, offsetof(struct policy_rule, services),
     offsetof(struct policy_rule, nservices), 1, NULL, 0, policy_refs_set,
     "a list of service names"},
    {"comment", CONF_STR, offsetof(struct policy_rule, comment), 0, 1, NULL, 0, NULL, NULL},
    {"expires", CONF_FN, 0, 0, 0, NULL, 0, rule_expires_set, "a date YYYY-MM-DD"},
};

static void rule_parse(struct conf_ctx *ctx, yaml_node_t *item, void *arg)
{
	struct conf_seen seen[nitems(rule_keys)];
	struct policy *p = arg;
	struct policy_rule *r = &p->rules[p->nrules++];

	r->at = policy_pos_of(item);
	r->expires = -1;
	r->from.idx = r->to.idx = -1;
	memset(seen, 0, sizeof(seen));
	conf_map_apply(ctx, item, rule_keys, nitems(rule_keys), r, seen);
	conf_required_check(ctx, item, rule_keys, nitems(rule_keys), seen);
}

static int policy_rules_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	struct policy *p = base;

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	p->rules = xcalloc((size_t)(v->data.sequence.items.top - v->data.sequence.items.start) + 1,
			   sizeof(*p->rules));
	conf_seq_maps(ctx, v, "rules", "rule", rule_parse, p);
	return 0;
}

/* --- management.yaml --- */

static const struct conf_key mgmt_keys[] = {
    {"controllers", CONF_ADDRS, offsetof(struct policy, controllers),
     offsetof(struct policy, ncontrollers), 1, NULL, 0, NULL, NULL},
    {"port", CONF_PORT, offsetof(struct policy, port), 0, 0, NULL, 7443, NULL, NULL},
    {"collectors", CONF_ADDRS, offsetof(struct policy, collectors),
     offsetof(struct policy, ncollectors), 0, NULL, 0, NULL, NULL},
};

static int policy_mgmt_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			   void *base)
{
	struct conf_seen seen[nitems(mgmt_keys)];

	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	memset(seen, 0, sizeof(seen));
	conf_map_apply(ctx, v, mgmt_keys, nitems(mgmt_keys), base, seen);
	conf_required_check(ctx, v, mgmt_keys, nitems(mgmt_keys), seen);
	return 0;
}

/* --- the directory --- */

/* inventory.yaml is not one key: inventory_doc_parse reads the whole file. */
static const struct conf_key top_keys[PF_COUNT] = {
    [PF_GROUPS] = {"groups", CONF_FN, 0, 0, 1, NULL, 0, policy_groups_set,
		   "a mapping of group names"},
    [PF_SERVICES] = {"services", CONF_FN, 0, 0, 1, NULL, 0, policy_services_set,
		     "a mapping of service names"},
    [PF_RULES] = {"rules", CONF_FN, 0, 0, 1, NULL, 0, policy_rules_set, "a list of rules"},
    [PF_MANAGEMENT] = {"management", CONF_FN, 0, 0, 1, NULL, 0, policy_mgmt_set,
		       "a mapping with controllers, port and collectors"},
};

char *policy_path_join(const char *dir, const char *name)
{
	size_t len = strlen(dir);
	char *path;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	/* "rules.yaml:12" reads best when the policy is the current directory */
	if (len == 0 || (len == 1 && dir[0] == '.'))
		return xstrdup(name);
	if (asprintf(&path, "%.*s%s%s", (int)len, dir, dir[len - 1] == '/' ? "" : "/", name) == -1)
		fatal("out of memory");
	return path;
}

/* rules_file: what to read instead of dir/rules.yaml, or NULL. */
static struct policy *policy_new(const char *dir, const char *rules_file, long today)
{
	struct policy *p = xcalloc(1, sizeof(*p));
	int f;

	diag_list_init(&p->diags);
	for (f = 0; f < PF_COUNT; f++) {
		if (f == PF_RULES && rules_file != NULL)
			p->path[f] = xstrdup(rules_file);
		else
			p->path[f] = policy_path_join(dir, policy_file_names[f]);
		diag_file_add(&p->diags, p->path[f]);
	}
	p->today = today;
	p->port = 7443;
	conf_index_init(&p->host_ix);
	conf_index_init(&p->group_ix);
	conf_index_init(&p->service_ix);
	return p;
}

static void policy_files_parse(struct policy *p)
{
	struct conf_seen seen[1];
	struct conf_ctx ctx;
	yaml_node_t *root;
	int f;

	for (f = 0; f < PF_COUNT; f++) {
		conf_ctx_init(&ctx, p->path[f], &p->diags, f);
		ctx.max_size = POLICY_FILE_MAX;
		root = conf_doc_load(&ctx);
		if (root != NULL) {
			p->loaded[f] = 1;
			if (f == PF_INVENTORY) {
				policy_inventory_parse(&ctx, root, p);
			} else {
				memset(seen, 0, sizeof(seen));
				conf_map_apply(&ctx, root, &top_keys[f], 1, p, seen);
				conf_required_check(&ctx, root, &top_keys[f], 1, seen);
			}
		}
		conf_doc_close(&ctx);
	}
}

/* --- the public face --- */

/* The site model, checked as far as its errors allow; the messages are in
 * p->diags. */
static struct policy *policy_read(const char *dir, const char *rules_file, long today)
{
	struct policy *p = policy_new(dir, rules_file, today);

	policy_files_parse(p);
	policy_names_resolve(p);
	if (p->diags.nerrors == 0) {
		policy_groups_resolve(p);
		policy_warnings_find(p);
	}
	return p;
}

struct policy *policy_load_at(const char *dir, long today, conf_error_fn err, conf_error_fn warn,
			      void *arg)
{
	struct policy *p = policy_read(dir, NULL, today);

	diag_list_sort(&p->diags);
	diag_list_emit(&p->diags, err, warn, arg);
	if (p->diags.nerrors != 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

struct policy *policy_load(const char *dir, conf_error_fn err, conf_error_fn warn, void *arg)
{
	return policy_load_at(dir, policy_date_today(), err, warn, arg);
}

/* The warnings about the other files are policy_load's: a restricted
 * policy shares them with the site, and would only repeat them. */
struct policy *policy_load_rules(const char *dir, const char *rules_file, long today,
				 struct diag_list *diags)
{
	struct policy *p = policy_read(dir, rules_file, today);

	diag_warnings_drop(&p->diags, PF_RULES);
	diag_list_move(diags, &p->diags);
	if (p->diags.nerrors == 0)
		return p;
	policy_free(p);
	return NULL;
}

/* What policy_groups_resolve made of the group. */
static void policy_group_resolved_free(struct policy_group *g)
{
	free(g->members);
	free(g->r4);
	free(g->r6);
	free(g->x4);
	free(g->x6);
	free(g->t4);
	free(g->t6);
	free(g->text4);
	free(g->text6);
	free(g->rules_from);
	free(g->rules_to);
}

static void policy_group_free(struct policy_group *g)
{
	int i;

	free(g->name);
	conf_labels_free(g->match, g->nmatch);
	for (i = 0; i < g->nrefs; i++)
		free(g->refs[i].name);
	free(g->refs);
	free(g->nets);
	policy_group_resolved_free(g);
}

void policy_free(struct policy *p)
{
	struct policy_rule *r;
	int i, j;

	if (p == NULL)
		return;
	for (i = 0; i < PF_COUNT; i++)
		free(p->path[i]);
	inv_hosts_clear(&p->inv);
	inv_switches_clear(&p->sw);
	free(p->is_switch);
	conf_index_clear(&p->host_ix);
	for (i = 0; i < p->ngroups; i++)
		policy_group_free(&p->groups[i]);
	free(p->groups);
	conf_index_clear(&p->group_ix);
	for (i = 0; i < p->nservices; i++) {
		free(p->services[i].name);
		free(p->services[i].ports);
	}
	free(p->services);
	conf_index_clear(&p->service_ix);
	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		free(r->from.name);
		free(r->to.name);
		for (j = 0; j < r->nservices; j++)
			free(r->services[j].name);
		free(r->services);
		free(r->comment);
		free(r->ports);
	}
	free(p->rules);
	diag_list_clear(&p->diags);
	free(p);
}

size_t policy_host_count(const struct policy *p)
{
	return (size_t)p->inv.nhosts;
}

const char *policy_host_name(const struct policy *p, size_t i)
{
	return i < (size_t)p->inv.nhosts ? p->inv.hosts[i].name : NULL;
}

const struct inv_host *policy_host(const struct policy *p, size_t i)
{
	return i < (size_t)p->inv.nhosts ? &p->inv.hosts[i] : NULL;
}

void policy_stats_get(const struct policy *p, struct policy_stats *st)
{
	int i;

	memset(st, 0, sizeof(*st));
	st->switches = (size_t)p->sw.n;
	st->hosts = (size_t)p->inv.nhosts - st->switches;
	st->groups = (size_t)p->ngroups;
	st->services = (size_t)p->nservices;
	st->rules = (size_t)p->nrules;
	for (i = 0; i < p->nrules; i++)
		st->expired += (size_t)p->rules[i].expired;
}
