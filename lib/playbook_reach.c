/* What a playbook's stages open: each host's policy in its stage, and what
 * the firewalls of both ends make of a check once a stage has applied.
 * Every host starts isolated; the management channel is open throughout,
 * as the rule skeleton of policy_render.c has it. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "playbook_int.h"
#include "policy_int.h"

struct pb_cache *pb_cache_new(size_t nhosts)
{
	struct pb_cache *c = xcalloc(1, sizeof(*c));

	c->hp = xcalloc(nhosts + 1, sizeof(*c->hp));
	c->n = nhosts;
	return c;
}

void pb_cache_free(struct pb_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		host_policy_free(c->hp[i]);
	free(c->hp);
	free(c);
}

const struct policy *pb_stage_policy(const struct playbook *pb, const struct policy *p,
				     size_t stage)
{
	return pb->stages[stage].restricted != NULL ? pb->stages[stage].restricted : p;
}

const struct host_policy *pb_host_compiled(const struct playbook *pb, const struct policy *p,
					   int host)
{
	struct pb_cache *c = pb->cache;

	if (host < 0 || (size_t)host >= pb->nhosts || pb->stage_of[host] < 0)
		return NULL;
	if (c->hp[host] == NULL)
		c->hp[host] = policy_host_compile(
		    pb_stage_policy(pb, p, (size_t)pb->stage_of[host]), p->inv.hosts[host].name);
	return c->hp[host];
}

int playbook_host_stage(const struct playbook *pb, const struct policy *p, const char *host)
{
	int h = host != NULL ? conf_index_get(&p->host_ix, host, strlen(host)) : -1;

	return h < 0 || (size_t)h >= pb->nhosts ? -1 : pb->stage_of[h];
}

struct host_policy *playbook_host_policy(const struct playbook *pb, const struct policy *p,
					 const char *policy_dir, size_t stage, const char *host)
{
	(void)policy_dir; /* a loaded playbook holds its restricted policies already */
	if (stage >= pb->nstages || playbook_host_stage(pb, p, host) != (int)stage)
		return NULL;
	return policy_host_compile(pb_stage_policy(pb, p, stage), host);
}

static int addr_in(const struct conf_addr *set, int n, const struct conf_addr *a)
{
	int i;

	for (i = 0; i < n; i++)
		if (conf_addr_equal(&set[i], a))
			return 1;
	return 0;
}

/* "segmented" or "restricted NAME", as a stage restores. */
static const char *stage_restore_text(const struct pb_stage *st, char *buf, size_t size)
{
	if (st->restricted_file == NULL)
		return "segmented";
	snprintf(buf, size, "restricted %s", st->restore);
	return buf;
}

/* The rule of a stage's policy that lets the flow through, as "file:line". */
static void rule_cite(const struct policy *sp, const struct pb_check *c, uint8_t proto, char *buf,
		      size_t size)
{
	struct policy_verdict v;

	if (policy_explain(sp, c->from, c->target, proto, c->port, &v) == 0 && v.allowed)
		snprintf(buf, size, "%s:%u", v.file, v.line);
	else
		buf[0] = '\0';
}

enum pb_reach playbook_check_predict(const struct playbook *pb, const struct policy *p,
				     size_t stage, const struct pb_check *c, char *why, size_t size)
{
	const struct host_policy *hp;
	const struct inv_host *fh;
	struct conf_addr dst, src;
	char flow[32], target[112], r1[160], r2[160], restore[80];
	int from, to, i, mgmt, fs, ts;
	uint8_t proto = c->proto;

	from = conf_index_get(&p->host_ix, c->from, strlen(c->from));
	to = c->target_host != NULL
		 ? conf_index_get(&p->host_ix, c->target_host, strlen(c->target_host))
		 : -1;
	if (from < 0 || stage >= pb->nstages || conf_addr_parse(c->target, &dst) == -1) {
		snprintf(why, size, "not a check of this playbook");
		return PB_REACH_UNKNOWN;
	}
	fh = &p->inv.hosts[from];
	for (i = 0; i < fh->naddrs && fh->addrs[i].family != dst.family; i++)
		;
	if (i == fh->naddrs) {
		snprintf(why, size, "%s has no %s address", fh->name,
			 dst.family == AF_INET ? "IPv4" : "IPv6");
		return PB_REACH_CLOSED;
	}
	/* the kernel picks the source by route; the first address stands for it */
	src = fh->addrs[i];
	if (proto == IPPROTO_TCP)
		snprintf(flow, sizeof(flow), "open tcp/%u to", c->port);
	else
		snprintf(flow, sizeof(flow), "ping");
	if (proto == IPPROTO_ICMP && dst.family == AF_INET6)
		proto = IPPROTO_ICMPV6;
	if (to >= 0 && strcmp(c->target_host, c->target) != 0)
		snprintf(target, sizeof(target), "%s (%s)", c->target_host, c->target);
	else
		snprintf(target, sizeof(target), "%s", c->target);
	fs = pb->stage_of[from];
	ts = to >= 0 ? pb->stage_of[to] : -1;

	if (to == from) {
		snprintf(why, size, "%s reaches its own address over loopback", fh->name);
		return PB_REACH_OPEN;
	}
	mgmt = proto == IPPROTO_TCP && c->port == p->port &&
	       addr_in(p->controllers, p->ncontrollers, &dst);
	if (mgmt) {
		snprintf(why, size,
			 "the management channel lets every host open tcp/%u to its controller",
			 p->port);
		return PB_REACH_OPEN;
	}

	/* the source's output chain */
	if (!addr_in(p->collectors, p->ncollectors, &dst)) {
		if (fs < 0 || fs > (int)stage) {
			snprintf(why, size, "%s is still isolated", fh->name);
			return PB_REACH_CLOSED;
		}
		hp = pb_host_compiled(pb, p, from);
		if (hp == NULL || !host_policy_allows(hp, POLICY_OUT, dst.family,
						      (const uint8_t *)&dst.a, proto, c->port)) {
			snprintf(why, size, "the policy of %s (%s) does not let it %s %s", fh->name,
				 stage_restore_text(&pb->stages[fs], restore, sizeof(restore)),
				 flow, target);
			return PB_REACH_CLOSED;
		}
	}
	if (to < 0) {
		snprintf(why, size, "%s may %s %s, outside the inventory", fh->name, flow, target);
		return PB_REACH_UNKNOWN;
	}

	/* the target's input chain */
	if (addr_in(p->collectors, p->ncollectors, &src)) {
		snprintf(why, size, "%s is a forensic collector, which every host lets in",
			 fh->name);
		return PB_REACH_OPEN;
	}
	if (ts < 0) {
		snprintf(why, size, "%s is in no stage and stays isolated", c->target_host);
		return PB_REACH_CLOSED;
	}
	if (ts > (int)stage) {
		snprintf(why, size, "%s is still isolated (it returns at stage \"%s\")",
			 c->target_host, pb->stages[ts].name);
		return PB_REACH_CLOSED;
	}
	hp = pb_host_compiled(pb, p, to);
	if (hp == NULL || !host_policy_allows(hp, POLICY_IN, src.family, (const uint8_t *)&src.a,
					      proto, c->port)) {
		snprintf(why, size, "the policy of %s (%s) does not let %s (%s) %s it",
			 c->target_host,
			 stage_restore_text(&pb->stages[ts], restore, sizeof(restore)), fh->name,
			 src.text, proto == IPPROTO_TCP ? flow : "ping");
		return PB_REACH_CLOSED;
	}

	/* both ends allow it: say by which rules */
	if (addr_in(p->collectors, p->ncollectors, &dst))
		snprintf(r1, sizeof(r1), "the management channel");
	else
		rule_cite(pb_stage_policy(pb, p, (size_t)fs), c, c->proto, r1, sizeof(r1));
	rule_cite(pb_stage_policy(pb, p, (size_t)ts), c, c->proto, r2, sizeof(r2));
	if (r2[0] != '\0' && strcmp(r1, r2) != 0)
		snprintf(why, size, "%s may %s %s, by %s and %s", fh->name, flow, target, r1, r2);
	else
		snprintf(why, size, "%s may %s %s, by %s", fh->name, flow, target, r1);
	return PB_REACH_OPEN;
}
