/* A parsed policy's names resolved: host, group and service references,
 * group cycles, each rule's ports, and networks that hold inventory hosts. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

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
			diag_add(&p->diags, PF_GROUPS, g->refs[i].at.line, g->refs[i].at.col, 0,
				 "group cycle: %s%s", o < sizeof(buf) ? buf : "... -> ",
				 p->groups[t].name);
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
		diag_add(&p->diags, file, ref->at.line, ref->at.col, 0, "unknown %s \"%s\"", what,
			 ref->name);
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
				diag_add(&p->diags, PF_GROUPS, net->at.line, net->at.col, 0,
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
