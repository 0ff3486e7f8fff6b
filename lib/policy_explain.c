/* `bulkhead explain`: which rule lets one host reach another, worked out
 * from the rules themselves, so that it can be checked against what
 * policy_host_compile put in both hosts' sets. */
#include <netinet/in.h>
#include <string.h>

#include "bulkhead/policy.h"
#include "policy_int.h"

/* One end of a flow: an inventory entry, or an address outside it. */
struct endpoint {
	int host; /* -1 for an address */
	int family;
	struct policy_addr addr;
};

static int endpoint_parse(const struct policy *p, const char *s, struct endpoint *ep)
{
	struct conf_addr a;
	int i, j;

	memset(ep, 0, sizeof(*ep));
	ep->host = conf_index_get(&p->host_ix, s, strlen(s));
	if (ep->host >= 0)
		return 0;
	if (conf_addr_parse(s, &a) == -1)
		return -1;
	ep->family = a.family;
	ep->addr = policy_addr_load(a.family, &a.a);
	/* an inventory address stands for its host */
	for (i = 0; i < p->inv.nhosts; i++)
		for (j = 0; j < p->inv.hosts[i].naddrs; j++)
			if (conf_addr_equal(&p->inv.hosts[i].addrs[j], &a))
				ep->host = i;
	return 0;
}

static int group_holds(const struct policy_group *g, const struct endpoint *ep)
{
	if (ep->host >= 0)
		return POLICY_BIT_TEST(g->members, ep->host);
	if (ep->family == AF_INET)
		return policy_ranges_find(g->x4, g->nx4, &ep->addr);
	return policy_ranges_find(g->x6, g->nx6, &ep->addr);
}

static int rule_allows_port(const struct policy_rule *r, uint8_t proto, uint16_t port)
{
	int i;

	for (i = 0; i < r->nports; i++) {
		if (r->ports[i].proto != proto)
			continue;
		if (proto == IPPROTO_ICMP || (r->ports[i].lo <= port && port <= r->ports[i].hi))
			return 1;
	}
	return 0;
}

int policy_explain(const struct policy *p, const char *from, const char *to, uint8_t proto,
		   uint16_t port, struct policy_verdict *v)
{
	const struct policy_rule *r;
	struct endpoint src, dst;
	int i;

	memset(v, 0, sizeof(*v));
	v->file = p->path[PF_RULES];
	if (endpoint_parse(p, from, &src) == -1 || endpoint_parse(p, to, &dst) == -1)
		return -1;
	if (proto == IPPROTO_ICMPV6)
		proto = IPPROTO_ICMP; /* services name "icmp" for both families */
	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (!rule_allows_port(r, proto, port) ||
		    !group_holds(&p->groups[r->from.idx], &src) ||
		    !group_holds(&p->groups[r->to.idx], &dst))
			continue;
		if (!r->expired) {
			v->allowed = 1;
			v->line = r->at.line;
			v->comment = r->comment;
			return 0;
		}
		if (v->expired_line == 0) {
			v->expired_line = r->at.line;
			v->expired_on = r->expires;
		}
	}
	return 0;
}
