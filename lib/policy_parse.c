/* Reading a policy directory: the five YAML files into the site model, names
 * resolved, every problem kept with its place and reported in file order.
 * The format is bulkhead-policy(5). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* What the conf.c callbacks need: the policy and the file being read. */
struct policy_file_ctx {
	struct policy *p;
	int file;
};

static struct policy_pos policy_pos_of(const yaml_node_t *n)
{
	struct policy_pos at = {(uint32_t)n->start_mark.line + 1,
				(uint32_t)n->start_mark.column + 1};

	return at;
}

void policy_diag_add(struct policy *p, int file, struct policy_pos at, int warning, const char *fmt,
		     ...)
{
	struct policy_diag *d;
	va_list ap;

	if (p->ndiags == p->capdiags) {
		p->capdiags = p->capdiags != 0 ? 2 * p->capdiags : 32;
		p->diags = realloc(p->diags, p->capdiags * sizeof(*p->diags));
		if (p->diags == NULL)
			fatal("out of memory");
	}
	d = &p->diags[p->ndiags];
	d->file = file;
	d->at = at;
	d->warning = warning;
	d->seq = p->ndiags++;
	va_start(ap, fmt);
	if (vasprintf(&d->msg, fmt, ap) == -1)
		fatal("out of memory");
	va_end(ap);
	if (warning)
		p->nwarnings++;
	else
		p->nerrors++;
}

static void policy_conf_diag(void *arg, size_t line, size_t col, const char *msg)
{
	struct policy_file_ctx *fc = arg;
	struct policy_pos at = {(uint32_t)line, (uint32_t)col};

	policy_diag_add(fc->p, fc->file, at, 0, "%s", msg);
}

static int policy_diag_cmp(const void *a, const void *b)
{
	const struct policy_diag *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->at.line != y->at.line)
		return x->at.line < y->at.line ? -1 : 1;
	if (x->at.col != y->at.col)
		return x->at.col < y->at.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void policy_diags_emit(struct policy *p, conf_error_fn err, conf_error_fn warn, void *arg)
{
	struct policy_diag *d;
	conf_error_fn fn;
	char *line;
	size_t i;
	int r;

	if (p->ndiags > 1)
		qsort(p->diags, p->ndiags, sizeof(*p->diags), policy_diag_cmp);
	for (i = 0; i < p->ndiags; i++) {
		d = &p->diags[i];
		fn = d->warning ? warn : (err != NULL ? err : conf_error_stderr);
		if (fn != NULL) {
			if (d->at.line != 0)
				r = asprintf(&line, "%s:%u:%u: %s%s", p->path[d->file], d->at.line,
					     d->at.col, d->warning ? "warning: " : "", d->msg);
			else
				r = asprintf(&line, "%s: %s%s", p->path[d->file],
					     d->warning ? "warning: " : "", d->msg);
			if (r == -1)
				fatal("out of memory");
			fn(arg, line);
			free(line);
		}
		free(d->msg);
	}
	free(p->diags);
	p->diags = NULL;
	p->ndiags = p->capdiags = 0;
}

/* --- dates --- */

static int policy_year_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int policy_date_parse(const char *s, long *days)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	int y, m, d, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && policy_year_leap(y)))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*days = (long)(timegm(&tm) / 86400);
	return 0;
}

void policy_date_format(long days, char buf[32])
{
	time_t t = (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, 32, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday);
}

long policy_date_today(void)
{
	time_t now = time(NULL);
	struct tm tm;
	char buf[32];
	long days = 0;

	/* expiry dates are written in the operators' calendar, not UTC */
	localtime_r(&now, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
		 tm.tm_mday);
	if (policy_date_parse(buf, &days) == -1)
		fatal("cannot tell today's date");
	return days;
}

/* --- small value parsers, for the CONF_FN keys --- */

/* A name, or a list of names, into *refs; what names the kind for messages. */
static int policy_refs_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			   struct policy_ref **refs, int *n)
{
	yaml_node_item_t *it, one;
	yaml_node_item_t *start, *top;
	yaml_node_t *item;
	const char *s;
	char d[80];
	int i, errors = ctx->nerrors;

	for (i = 0; i < *n; i++)
		free((*refs)[i].name);
	free(*refs);
	*refs = NULL;
	*n = 0;
	if (v->type == YAML_SCALAR_NODE) {
		/* one name needs no brackets */
		one = (yaml_node_item_t)(v - ctx->doc.nodes.start + 1);
		start = &one;
		top = &one + 1;
	} else if (v->type == YAML_SEQUENCE_NODE) {
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
	} else {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	if (start == top) {
		conf_report(ctx, v, "\"%s\": expected at least one name", key->name);
		return -1;
	}
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

/* --- inventory.yaml --- */

static void policy_inventory_parse(struct conf_ctx *ctx, yaml_node_t *root, struct policy *p)
{
	inventory_doc_parse(ctx, root, &p->inv, &p->sw);
}

/* --- groups.yaml --- */

static int group_refs_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base)
{
	struct policy_group *g = base;

	return policy_refs_set(ctx, key, v, &g->refs, &g->nrefs);
}

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
    [GKEY_HOSTS] = {"hosts", CONF_FN, 0, 0, 0, NULL, 0, group_refs_set, "a list of host names"},
    [GKEY_GROUPS] = {"groups", CONF_FN, 0, 0, 0, NULL, 0, group_refs_set, "a list of group names"},
    [GKEY_NETWORKS] = {"networks", CONF_FN, 0, 0, 0, NULL, 0, group_networks_set,
		       "a list of addresses and prefixes"},
    [GKEY_DEADMAN] = {"on_controller_loss", CONF_FN, 0, 0, 0, NULL, 0, group_deadman_set,
		      "isolate-after DURATION"},
};

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

	if (!conf_name_valid(name)) {
		conf_report(ctx, name_node,
			    "group name: expected 1..63 characters of [A-Za-z0-9._-], got %s",
			    conf_node_describe(name_node, d, sizeof(d)));
		return;
	}
	if (conf_index_put(&p->group_ix, name, strlen(name), p->ngroups) >= 0)
		return; /* a duplicate key, already reported */
	p->ngroups++;
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
	yaml_node_pair_t *pr;
	const char *name;

	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	p->groups = xcalloc((size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) + 1,
			    sizeof(*p->groups));
	for (pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		name = conf_map_key(ctx, v, pr);
		if (name != NULL)
			group_parse(ctx, p, conf_node(ctx, pr->key), name,
				    conf_node(ctx, pr->value));
	}
	return 0;
}

/* --- services.yaml --- */

static void service_parse(struct conf_ctx *ctx, struct policy *p, yaml_node_t *name_node,
			  const char *name, yaml_node_t *v)
{
	struct policy_service *svc = &p->services[p->nservices];
	yaml_node_item_t *it, one;
	yaml_node_item_t *start, *top;
	yaml_node_t *item;
	const char *s;
	char d[80], why[96];

	if (!conf_name_valid(name)) {
		conf_report(ctx, name_node,
			    "service name: expected 1..63 characters of [A-Za-z0-9._-], got %s",
			    conf_node_describe(name_node, d, sizeof(d)));
		return;
	}
	if (conf_index_put(&p->service_ix, name, strlen(name), p->nservices) >= 0)
		return; /* a duplicate key, already reported */
	p->nservices++;
	svc->name = xstrdup(name);
	svc->at = policy_pos_of(name_node);
	if (v->type == YAML_SCALAR_NODE && v->data.scalar.length > 0) {
		one = (yaml_node_item_t)(v - ctx->doc.nodes.start + 1);
		start = &one;
		top = &one + 1;
	} else if (v->type == YAML_SEQUENCE_NODE &&
		   v->data.sequence.items.start != v->data.sequence.items.top) {
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
	} else {
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
	yaml_node_pair_t *pr;
	const char *name;

	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	p->services = xcalloc((size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) + 1,
			      sizeof(*p->services));
	for (pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		name = conf_map_key(ctx, v, pr);
		if (name != NULL)
			service_parse(ctx, p, conf_node(ctx, pr->key), name,
				      conf_node(ctx, pr->value));
	}
	return 0;
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

static int rule_services_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			     void *base)
{
	struct policy_rule *r = base;

	return policy_refs_set(ctx, key, v, &r->services, &r->nservices);
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
    {"services", CONF_FN, 0, 0, 1, NULL, 0, rule_services_set, "a list of service names"},
    {"comment", CONF_STR, offsetof(struct policy_rule, comment), 0, 1, NULL, 0, NULL, NULL},
    {"expires", CONF_FN, 0, 0, 0, NULL, 0, rule_expires_set, "a date YYYY-MM-DD"},
};

static int policy_rules_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	struct conf_seen seen[nitems(rule_keys)];
	struct policy *p = base;
	struct policy_rule *r;
	yaml_node_item_t *it;
	yaml_node_t *item;
	char d[80];

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	p->rules = xcalloc((size_t)(v->data.sequence.items.top - v->data.sequence.items.start) + 1,
			   sizeof(*p->rules));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		item = conf_node(ctx, *it);
		if (item->type != YAML_MAPPING_NODE) {
			conf_report(ctx, item,
				    "\"rules\": expected a mapping for each rule, got %s",
				    conf_node_describe(item, d, sizeof(d)));
			continue;
		}
		r = &p->rules[p->nrules++];
		r->at = policy_pos_of(item);
		r->expires = -1;
		r->from.idx = r->to.idx = -1;
		memset(seen, 0, sizeof(seen));
		conf_map_apply(ctx, item, rule_keys, nitems(rule_keys), r, seen);
		conf_required_check(ctx, item, rule_keys, nitems(rule_keys), seen);
	}
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

static const struct conf_key top_keys[PF_COUNT] = {
    [PF_INVENTORY] = {"hosts", CONF_HOSTS, 0, 0, 1, NULL, 0, NULL, NULL}, /* not used */
    [PF_GROUPS] = {"groups", CONF_FN, 0, 0, 1, NULL, 0, policy_groups_set,
		   "a mapping of group names"},
    [PF_SERVICES] = {"services", CONF_FN, 0, 0, 1, NULL, 0, policy_services_set,
		     "a mapping of service names"},
    [PF_RULES] = {"rules", CONF_FN, 0, 0, 1, NULL, 0, policy_rules_set, "a list of rules"},
    [PF_MANAGEMENT] = {"management", CONF_FN, 0, 0, 1, NULL, 0, policy_mgmt_set,
		       "a mapping with controllers, port and collectors"},
};

struct policy *policy_new(const char *dir, long today)
{
	struct policy *p = xcalloc(1, sizeof(*p));
	size_t len = strlen(dir);
	int f;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	for (f = 0; f < PF_COUNT; f++) {
		/* "rules.yaml:12" reads best when the policy is the current directory */
		if (len == 0 || (len == 1 && dir[0] == '.'))
			p->path[f] = xstrdup(policy_file_names[f]);
		else if (asprintf(&p->path[f], "%.*s%s%s", (int)len, dir,
				  dir[len - 1] == '/' ? "" : "/", policy_file_names[f]) == -1)
			fatal("out of memory");
	}
	p->today = today;
	p->port = 7443;
	conf_index_init(&p->host_ix);
	conf_index_init(&p->group_ix);
	conf_index_init(&p->service_ix);
	return p;
}

void policy_files_parse(struct policy *p)
{
	struct conf_seen seen[1];
	struct policy_file_ctx fc = {p, 0};
	struct conf_ctx ctx;
	yaml_node_t *root;
	int f;

	for (f = 0; f < PF_COUNT; f++) {
		fc.file = f;
		conf_ctx_init(&ctx, p->path[f], NULL, &fc);
		ctx.diag = policy_conf_diag;
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

/* --- names --- */

/* Follows group references depth first; a reference back into the path is
 * a cycle, reported where it closes. */
static void group_cycles_visit(struct policy *p, int gi, int *state, int *path, int depth)
{
	struct policy_group *g = &p->groups[gi];
	char buf[512];
	size_t o;
	int i, j, t;

	state[gi] = 1;
	path[depth] = gi;
	for (i = 0; g->kind == GROUP_GROUPS && i < g->nrefs; i++) {
		t = g->refs[i].idx;
		if (t < 0)
			continue;
		if (state[t] == 1) {
			for (j = depth; j > 0 && path[j] != t; j--)
				;
			for (o = 0; j <= depth && o < sizeof(buf); j++)
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s -> ",
						      p->groups[path[j]].name);
			policy_diag_add(p, PF_GROUPS, g->refs[i].at, 0, "group cycle: %s%s",
					o < sizeof(buf) ? buf : "... -> ", p->groups[t].name);
		} else if (state[t] == 0) {
			group_cycles_visit(p, t, state, path, depth + 1);
		}
	}
	state[gi] = 2;
}

static int ref_resolve(struct policy *p, int file, struct policy_ref *ref,
		       const struct conf_index *ix, const char *what)
{
	ref->idx = conf_index_get(ix, ref->name, strlen(ref->name));
	if (ref->idx < 0)
		policy_diag_add(p, file, ref->at, 0, "unknown %s \"%s\"", what, ref->name);
	return ref->idx;
}

static int policy_port_cmp(const void *a, const void *b)
{
	const struct policy_port *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->hi > y->hi) - (x->hi < y->hi);
}

/* The rule's services as one sorted list of disjoint port ranges. */
static void rule_ports_collect(struct policy *p, struct policy_rule *r)
{
	struct policy_port *out;
	int i, j, n = 0, m = 0;

	for (i = 0; i < r->nservices; i++)
		if (r->services[i].idx >= 0)
			n += p->services[r->services[i].idx].nports;
	out = xcalloc((size_t)n + 1, sizeof(*out));
	for (i = 0; i < r->nservices; i++) {
		const struct policy_service *s;

		if (r->services[i].idx < 0)
			continue;
		s = &p->services[r->services[i].idx];
		for (j = 0; j < s->nports; j++)
			out[m++] = s->ports[j];
	}
	qsort(out, (size_t)m, sizeof(*out), policy_port_cmp);
	for (i = 0, n = 0; i < m; i++) {
		if (n > 0 && out[n - 1].proto == out[i].proto &&
		    (uint32_t)out[i].lo <= (uint32_t)out[n - 1].hi + 1) {
			if (out[i].hi > out[n - 1].hi)
				out[n - 1].hi = out[i].hi;
			continue;
		}
		out[n++] = out[i];
	}
	r->ports = out;
	r->nports = n;
}

struct policy_addr_owner {
	int family;
	struct policy_addr a;
	int host;
};

static int policy_addr_owner_cmp(const void *x, const void *y)
{
	const struct policy_addr_owner *a = x, *b = y;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return policy_addr_cmp(&a->a, &b->a);
}

/* Networks name what is outside the inventory: a host inside one would get
 * rules through two names. */
static void group_networks_check(struct policy *p)
{
	struct policy_addr_owner *all, key;
	size_t n = 0, lo, hi, mid;
	char text[INET6_ADDRSTRLEN + 4];
	uint8_t bytes[16];
	int i, j, g;

	for (i = 0; i < p->inv.nhosts; i++)
		n += (size_t)p->inv.hosts[i].naddrs;
	all = xcalloc(n + 1, sizeof(*all));
	n = 0;
	for (i = 0; i < p->inv.nhosts; i++) {
		for (j = 0; j < p->inv.hosts[i].naddrs; j++) {
			const struct conf_addr *a = &p->inv.hosts[i].addrs[j];

			all[n].family = a->family;
			all[n].a = policy_addr_load(a->family, &a->a);
			all[n++].host = i;
		}
	}
	qsort(all, n, sizeof(*all), policy_addr_owner_cmp);
	for (g = 0; g < p->ngroups; g++) {
		for (i = 0; i < p->groups[g].nnets; i++) {
			const struct policy_net *net = &p->groups[g].nets[i];

			memset(&key, 0, sizeof(key));
			key.family = net->family;
			key.a = net->r.lo;
			for (lo = 0, hi = n; lo < hi;) { /* the first address >= the network's */
				mid = (lo + hi) / 2;
				if (policy_addr_owner_cmp(&all[mid], &key) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < n && all[lo].family == net->family &&
			    policy_addr_cmp(&all[lo].a, &net->r.hi) <= 0) {
				policy_addr_store(net->family, &all[lo].a, bytes);
				inet_ntop(net->family, bytes, text, sizeof(text));
				policy_diag_add(
				    p, PF_GROUPS, net->at, 0,
				    "network holds %s of host \"%s\"; name the host in a "
				    "group instead",
				    text, p->inv.hosts[all[lo].host].name);
			}
		}
	}
	free(all);
}

void policy_names_resolve(struct policy *p)
{
	struct policy_group *g;
	struct policy_rule *r;
	int *state, *path;
	int i, j;

	p->is_switch = xcalloc((size_t)p->inv.nhosts + 1, 1);
	for (i = 0; i < p->sw.n; i++)
		p->is_switch[p->sw.sw[i].host] = 1;
	for (i = 0; i < p->inv.nhosts; i++)
		if (p->inv.hosts[i].name != NULL)
			conf_index_put(&p->host_ix, p->inv.hosts[i].name,
				       strlen(p->inv.hosts[i].name), i);

	for (i = 0; i < p->ngroups; i++) {
		g = &p->groups[i];
		for (j = 0; j < g->nrefs; j++) {
			/* without a readable inventory every host would look unknown */
			if (g->kind == GROUP_HOSTS && p->loaded[PF_INVENTORY])
				ref_resolve(p, PF_GROUPS, &g->refs[j], &p->host_ix, "host");
			else if (g->kind == GROUP_GROUPS)
				ref_resolve(p, PF_GROUPS, &g->refs[j], &p->group_ix, "group");
		}
	}
	state = xcalloc((size_t)p->ngroups + 1, sizeof(*state));
	path = xcalloc((size_t)p->ngroups + 1, sizeof(*path));
	for (i = 0; i < p->ngroups; i++)
		if (state[i] == 0)
			group_cycles_visit(p, i, state, path, 0);
	free(state);
	free(path);
	if (p->loaded[PF_INVENTORY])
		group_networks_check(p);

	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (p->loaded[PF_GROUPS]) {
			if (r->from.name != NULL)
				ref_resolve(p, PF_RULES, &r->from, &p->group_ix, "group");
			if (r->to.name != NULL)
				ref_resolve(p, PF_RULES, &r->to, &p->group_ix, "group");
		}
		for (j = 0; p->loaded[PF_SERVICES] && j < r->nservices; j++)
			ref_resolve(p, PF_RULES, &r->services[j], &p->service_ix, "service");
		rule_ports_collect(p, r);
		r->expired = r->expires >= 0 && r->expires < p->today;
	}
}

/* --- the public face --- */

struct policy *policy_load_at(const char *dir, long today, conf_error_fn err, conf_error_fn warn,
			      void *arg)
{
	struct policy *p = policy_new(dir, today);

	policy_files_parse(p);
	policy_names_resolve(p);
	if (p->nerrors == 0) {
		policy_groups_resolve(p);
		policy_warnings_find(p);
	}
	policy_diags_emit(p, err, warn, arg);
	if (p->nerrors != 0) {
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
static void policy_warnings_keep(struct policy *p, int file)
{
	size_t i, n = 0;

	for (i = 0; i < p->ndiags; i++) {
		if (p->diags[i].warning && p->diags[i].file != file) {
			free(p->diags[i].msg);
			p->nwarnings--;
			continue;
		}
		p->diags[n++] = p->diags[i];
	}
	p->ndiags = n;
}

struct policy *policy_load_rules(const char *dir, const char *rules_file, long today,
				 conf_error_fn err, conf_error_fn warn, void *arg)
{
	struct policy *p = policy_new(dir, today);

	free(p->path[PF_RULES]);
	p->path[PF_RULES] = xstrdup(rules_file);
	policy_files_parse(p);
	policy_names_resolve(p);
	if (p->nerrors == 0) {
		policy_groups_resolve(p);
		policy_warnings_find(p);
	}
	policy_warnings_keep(p, PF_RULES);
	policy_diags_emit(p, err, warn, arg);
	if (p->nerrors != 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

static void policy_group_free(struct policy_group *g)
{
	int i;

	free(g->name);
	for (i = 0; i < g->nmatch; i++) {
		free(g->match[i].key);
		free(g->match[i].value);
	}
	free(g->match);
	for (i = 0; i < g->nrefs; i++)
		free(g->refs[i].name);
	free(g->refs);
	free(g->nets);
	free(g->members);
	free(g->r4);
	free(g->r6);
	free(g->x4);
	free(g->x6);
}

void policy_free(struct policy *p)
{
	struct policy_rule *r;
	int i, j;

	if (p == NULL)
		return;
	for (i = 0; i < PF_COUNT; i++)
		free(p->path[i]);
	for (i = 0; i < p->inv.nhosts; i++) {
		free(p->inv.hosts[i].name);
		free(p->inv.hosts[i].profile);
		for (j = 0; j < p->inv.hosts[i].nlabels; j++) {
			free(p->inv.hosts[i].labels[j].key);
			free(p->inv.hosts[i].labels[j].value);
		}
		free(p->inv.hosts[i].labels);
	}
	free(p->inv.hosts);
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
	for (i = 0; (size_t)i < p->ndiags; i++)
		free(p->diags[i].msg);
	free(p->diags);
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
