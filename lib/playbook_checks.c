/* A playbook's checks: each read once every stage's hosts are known, run
 * from every host it names, and judged against the policies in force at its
 * stage (a check that cannot pass is an error, one that proves nothing a
 * warning). */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "playbook_load.h"
#include "policy_int.h"

#define PB_TIMEOUT_MIN 100
#define PB_TIMEOUT_MAX 60000 /* what an agent accepts */
#define PB_TIMEOUT_DEFAULT 2000

enum { CKEY_FROM, CKEY_CONNECT, CKEY_PING, CKEY_EXPECT, CKEY_TIMEOUT };
static const struct conf_key check_keys[] = {
    [CKEY_FROM] = PB_KEY("from", struct pb_check_src, from, 1, "a host or group name"),
    [CKEY_CONNECT] = PB_KEY("connect", struct pb_check_src, connect, 0, "\"TARGET tcp/PORT\""),
    [CKEY_PING] = PB_KEY("ping", struct pb_check_src, ping, 0, "a host name or an address"),
    [CKEY_EXPECT] = PB_KEY("expect", struct pb_check_src, expect, 0, "open or closed"),
    [CKEY_TIMEOUT] = PB_KEY("timeout", struct pb_check_src, timeout, 0,
			    "a duration of 100ms..60s, such as 2s or 500ms"),
};

/* " from 2 of its 3 hosts", when a check runs from several. */
static void pb_hosts_of(size_t n, size_t some, char *buf, size_t size)
{
	if (n > 1)
		snprintf(buf, size, " from %zu of its %zu hosts", some, n);
	else
		buf[0] = '\0';
}

/* One check's nodes, kept unless it has no "from". */
static void stage_check_collect(struct conf_ctx *ctx, yaml_node_t *item, void *arg)
{
	struct pb_stage_src *ss = arg;
	struct pb_check_src *cs = &ss->checks_src[ss->nchecks_src];
	struct conf_seen seen[nitems(check_keys)];

	memset(seen, 0, sizeof(seen));
	cs->map = item;
	conf_map_apply(ctx, item, check_keys, nitems(check_keys), cs, seen);
	conf_required_check(ctx, item, check_keys, nitems(check_keys), seen);
	if (seen[CKEY_FROM].value != NULL)
		ss->nchecks_src++;
}

void pb_checks_collect(struct pb_loader *ld, size_t si, const struct conf_key *key, yaml_node_t *v)
{
	struct pb_stage_src *ss = &ld->ss[si];

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(&ld->ctx, key, v);
		return;
	}
	ss->checks_src =
	    xcalloc((size_t)(v->data.sequence.items.top - v->data.sequence.items.start) + 1,
		    sizeof(*ss->checks_src));
	conf_seq_maps(&ld->ctx, v, "checks", "check", stage_check_collect, ss);
}

/* A target as written: an address, or a host (its first IPv4 address,
 * else its first IPv6 one). */
static int check_target_resolve(struct pb_loader *ld, const char *key, yaml_node_t *v,
				const char *s, struct pb_check *c)
{
	const struct policy *p = ld->p;
	const struct inv_host *h;
	struct conf_addr a;
	int g, hi, i, j;

	if (conf_addr_parse(s, &a) == 0) {
		memcpy(c->target, a.text, sizeof(c->target));
		c->family = a.family;
		for (i = 0; i < p->inv.nhosts && c->target_host == NULL; i++)
			for (j = 0; j < p->inv.hosts[i].naddrs; j++)
				if (conf_addr_equal(&p->inv.hosts[i].addrs[j], &a))
					c->target_host = xstrdup(p->inv.hosts[i].name);
		return 0;
	}
	hi = conf_name_valid(s) ? conf_index_get(&p->host_ix, s, strlen(s)) : -1;
	if (hi < 0) {
		g = conf_name_valid(s) ? conf_index_get(&p->group_ix, s, strlen(s)) : -1;
		if (g >= 0)
			conf_report(&ld->ctx, v,
				    "\"%s\": \"%s\" is a group; a check targets one host or "
				    "address",
				    key, s);
		else
			conf_report(&ld->ctx, v,
				    "\"%s\": unknown host \"%s\" (expected a host name or an "
				    "address)",
				    key, s);
		return -1;
	}
	h = &p->inv.hosts[hi];
	for (i = 0; i < h->naddrs && h->addrs[i].family != AF_INET; i++)
		;
	if (i == h->naddrs)
		i = 0;
	memcpy(c->target, h->addrs[i].text, sizeof(c->target));
	c->family = h->addrs[i].family;
	c->target_host = xstrdup(h->name);
	return 0;
}

/* "TARGET tcp/PORT" */
static int check_connect_parse(struct pb_loader *ld, yaml_node_t *v, struct pb_check *c)
{
	const char *s = pb_scalar(ld, &check_keys[CKEY_CONNECT], v), *flow, *sp;
	char target[128], *end;
	long port;

	if (s == NULL)
		return -1;
	sp = strchr(s, ' ');
	flow = sp != NULL ? sp + strspn(sp, " ") : NULL;
	if (sp == NULL || sp == s || (size_t)(sp - s) >= sizeof(target) || *flow == '\0' ||
	    strchr(flow, ' ') != NULL) {
		conf_value_bad(&ld->ctx, &check_keys[CKEY_CONNECT], v);
		return -1;
	}
	if (strncmp(flow, "udp/", 4) == 0) {
		conf_report(&ld->ctx, v,
			    "\"connect\": only tcp can be checked (a UDP probe cannot tell a drop "
			    "from silence), got \"%s\"",
			    flow);
		return -1;
	}
	if (strcmp(flow, "icmp") == 0) {
		conf_report(&ld->ctx, v, "\"connect\": for icmp, use \"ping: TARGET\"");
		return -1;
	}
	if (strncmp(flow, "tcp/", 4) != 0 || flow[4] < '0' || flow[4] > '9') {
		conf_report(&ld->ctx, v,
			    "\"connect\": expected tcp/PORT after the target, got \"%s\"", flow);
		return -1;
	}
	errno = 0;
	port = strtol(flow + 4, &end, 10);
	if (*end != '\0') {
		conf_report(&ld->ctx, v,
			    "\"connect\": expected tcp/PORT after the target, got \"%s\"", flow);
		return -1;
	}
	if (errno != 0 || port < 1 || port > 65535) {
		conf_report(&ld->ctx, v,
			    "\"connect\": port out of range (expected 1..65535), got %s", flow + 4);
		return -1;
	}
	memcpy(target, s, (size_t)(sp - s));
	target[sp - s] = '\0';
	c->proto = IPPROTO_TCP;
	c->port = (uint16_t)port;
	c->target_name = xstrdup(target);
	return check_target_resolve(ld, "connect", v, target, c);
}

static int check_ping_parse(struct pb_loader *ld, yaml_node_t *v, struct pb_check *c)
{
	const char *s = pb_scalar(ld, &check_keys[CKEY_PING], v);

	if (s == NULL)
		return -1;
	if (strchr(s, ' ') != NULL) {
		conf_value_bad(&ld->ctx, &check_keys[CKEY_PING], v);
		return -1;
	}
	c->proto = IPPROTO_ICMP;
	c->target_name = xstrdup(s);
	return check_target_resolve(ld, "ping", v, s, c);
}

void pb_check_clear(struct pb_check *c)
{
	free(c->from);
	free(c->target_name);
	free(c->from_name);
	free(c->target_host);
	memset(c, 0, sizeof(*c));
}

static void stage_check_add(struct pb_stage *st, const struct pb_check *tmpl, const char *from)
{
	struct pb_check *c;

	st->checks = realloc(st->checks, (st->nchecks + 1) * sizeof(*st->checks));
	if (st->checks == NULL)
		fatal("out of memory");
	c = &st->checks[st->nchecks++];
	*c = *tmpl;
	c->from = xstrdup(from);
	c->from_name = xstrdup(tmpl->from_name);
	c->target_name = xstrdup(tmpl->target_name);
	c->target_host = tmpl->target_host != NULL ? xstrdup(tmpl->target_host) : NULL;
}

/* Where the first of several hosts returns, for messages. */
static void pb_returns(const struct playbook *pb, int h, char *buf, size_t size)
{
	if (pb->stage_of[h] < 0)
		snprintf(buf, size, "no stage brings it back");
	else
		snprintf(buf, size, "it returns at stage \"%s\", line %d",
			 pb->stages[pb->stage_of[h]].name, pb->stages[pb->stage_of[h]].line);
}

/* What the policies make of the check from each of its hosts. */
static void check_predict(struct pb_loader *ld, size_t si, const struct pb_check_src *cs,
			  size_t first, size_t n)
{
	const struct playbook *pb = ld->pb;
	const struct pb_stage *st = &pb->stages[si];
	char why[512], bad_why[512] = "", weak_why[512] = "", hosts[64];
	size_t i, nbad = 0, nweak = 0;
	enum pb_reach r;
	int h;

	for (i = first; i < first + n; i++) {
		const struct pb_check *c = &st->checks[i];

		/* a host whose restricted policy did not load cannot be judged */
		h = conf_index_get(&ld->p->host_ix, c->from, strlen(c->from));
		if (!ld->ss[pb->stage_of[h]].policy_ok)
			return;
		if (c->target_host != NULL) {
			h = conf_index_get(&ld->p->host_ix, c->target_host, strlen(c->target_host));
			if (pb->stage_of[h] >= 0 && pb->stage_of[h] <= (int)si &&
			    !ld->ss[pb->stage_of[h]].policy_ok)
				return;
		}
		r = playbook_check_predict(pb, ld->p, si, c, why, sizeof(why));
		if (c->expect_open && r == PB_REACH_CLOSED && nbad++ == 0)
			snprintf(bad_why, sizeof(bad_why), "%s", why);
		if (!c->expect_open && r == PB_REACH_OPEN && nweak++ == 0)
			snprintf(weak_why, sizeof(weak_why), "%s", why);
	}
	pb_hosts_of(n, nbad, hosts, sizeof(hosts));
	if (nbad > 0)
		conf_report(&ld->ctx, cs->map, "check cannot pass%s: %s", hosts, bad_why);
	pb_hosts_of(n, nweak, hosts, sizeof(hosts));
	if (nweak > 0)
		pb_warn(ld, cs->map, "check proves nothing%s: %s; expect: closed passes only if %s",
			hosts, weak_why,
			st->checks[first].proto == IPPROTO_TCP ? "nothing listens"
							       : "the target ignores pings");
}

void pb_check_parse(struct pb_loader *ld, size_t si, const struct pb_check_src *cs)
{
	const struct policy *p = ld->p;
	struct playbook *pb = ld->pb;
	struct pb_stage *st = &pb->stages[si];
	struct pb_check c;
	struct pb_name from;
	const char *s;
	char where[128];
	size_t nisolated = 0, nfamily = 0, first = st->nchecks;
	int h, hiso = -1, hfam = -1, ok = 1;

	memset(&c, 0, sizeof(c));
	c.line = (int)cs->map->start_mark.line + 1;
	c.col = (int)cs->map->start_mark.column + 1;
	c.expect_open = 1;
	c.timeout_ms = PB_TIMEOUT_DEFAULT;

	s = pb_name(ld, &check_keys[CKEY_FROM], cs->from);
	if (s == NULL || pb_name_resolve(ld, cs->from, "\"from\": ", s, &from) == -1)
		ok = 0;
	else
		c.from_name = xstrdup(s);
	if (cs->connect != NULL && cs->ping != NULL) {
		conf_report(&ld->ctx,
			    cs->ping->start_mark.index > cs->connect->start_mark.index
				? cs->ping
				: cs->connect,
			    "a check either connects or pings, not both");
		ok = 0;
	} else if (cs->connect == NULL && cs->ping == NULL) {
		conf_report(&ld->ctx, cs->map,
			    "a check needs \"connect: TARGET tcp/PORT\" or "
			    "\"ping: TARGET\"");
		ok = 0;
	} else if (cs->connect != NULL) {
		ok &= check_connect_parse(ld, cs->connect, &c) == 0;
	} else {
		ok &= check_ping_parse(ld, cs->ping, &c) == 0;
	}
	if (cs->expect != NULL && (s = pb_scalar(ld, &check_keys[CKEY_EXPECT], cs->expect))) {
		if (strcmp(s, "closed") == 0) {
			c.expect_open = 0;
		} else if (strcmp(s, "open") != 0) {
			conf_value_bad(&ld->ctx, &check_keys[CKEY_EXPECT], cs->expect);
			ok = 0;
		}
	} else if (cs->expect != NULL) {
		ok = 0;
	}
	if (cs->timeout != NULL && (s = pb_scalar(ld, &check_keys[CKEY_TIMEOUT], cs->timeout))) {
		if (playbook_duration_parse(s, &c.timeout_ms) == -1 ||
		    c.timeout_ms < PB_TIMEOUT_MIN || c.timeout_ms > PB_TIMEOUT_MAX) {
			conf_value_bad(&ld->ctx, &check_keys[CKEY_TIMEOUT], cs->timeout);
			ok = 0;
		}
	} else if (cs->timeout != NULL) {
		ok = 0;
	}
	if (!ok) {
		pb_check_clear(&c);
		return;
	}

	for (h = 0; h < p->inv.nhosts; h++) {
		const struct inv_host *ih = &p->inv.hosts[h];
		int i;

		if (!pb_name_holds(p, &from, h))
			continue;
		/* an isolated agent reaches its controller and nothing else */
		if (ld->assigned_ok && (pb->stage_of[h] < 0 || pb->stage_of[h] > (int)si)) {
			if (nisolated++ == 0)
				hiso = h;
			continue;
		}
		for (i = 0; i < ih->naddrs && ih->addrs[i].family != c.family; i++)
			;
		if (i == ih->naddrs) {
			if (nfamily++ == 0)
				hfam = h;
			continue;
		}
		stage_check_add(st, &c, ih->name);
	}
	if (nisolated > 0) {
		pb_returns(pb, hiso, where, sizeof(where));
		if (from.host >= 0)
			conf_report(
			    &ld->ctx, cs->from,
			    "\"from\": %s is still isolated at stage \"%s\" (%s): its agent "
			    "reaches nothing but the controller; run the check from a host "
			    "of this stage or an earlier one",
			    p->inv.hosts[hiso].name, st->name, where);
		else if (nisolated == 1)
			conf_report(
			    &ld->ctx, cs->from,
			    "\"from\": group \"%s\" holds %s, still isolated at stage \"%s\" "
			    "(%s): its agent reaches nothing but the controller; run the "
			    "check from hosts of this stage or an earlier one",
			    c.from_name, p->inv.hosts[hiso].name, st->name, where);
		else
			conf_report(
			    &ld->ctx, cs->from,
			    "\"from\": group \"%s\" holds %zu hosts still isolated at stage "
			    "\"%s\", such as %s (%s): their agents reach nothing but the "
			    "controller; run the check from hosts of this stage or an earlier "
			    "one",
			    c.from_name, nisolated, st->name, p->inv.hosts[hiso].name, where);
	}
	if (nfamily == 1)
		conf_report(&ld->ctx, cs->connect != NULL ? cs->connect : cs->ping,
			    "%s has no %s address to reach %s from", p->inv.hosts[hfam].name,
			    c.family == AF_INET ? "IPv4" : "IPv6", c.target);
	else if (nfamily > 1)
		conf_report(&ld->ctx, cs->connect != NULL ? cs->connect : cs->ping,
			    "%zu hosts of group \"%s\" have no %s address to reach %s from, such "
			    "as %s",
			    nfamily, c.from_name, c.family == AF_INET ? "IPv4" : "IPv6", c.target,
			    p->inv.hosts[hfam].name);
	if (nisolated == 0 && nfamily == 0 && st->nchecks == first)
		conf_report(&ld->ctx, cs->from, "\"from\": group \"%s\" has no host", c.from_name);
	if (ld->assigned_ok && st->nchecks > first)
		check_predict(ld, si, cs, first, st->nchecks - first);
	pb_check_clear(&c);
}
