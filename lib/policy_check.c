/* The warnings of `bulkhead check`: a policy that is valid but probably not
 * what its authors meant. Empty groups, rules past or near their date, and
 * rules that allow nothing an earlier rule does not allow already. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

#define POLICY_EXPIRY_WARN_DAYS 14

static void expiry_warn(struct policy *p, const struct policy_rule *r)
{
	const struct policy_pos *at = &r->expires_at;
	char date[32];
	long left = r->expires - p->today;

	policy_date_format(r->expires, date);
	if (left < 0)
		diag_add(&p->diags, PF_RULES, at->line, at->col, 1,
			 "rule expired on %s and is not compiled", date);
	else if (left == 0)
		diag_add(&p->diags, PF_RULES, at->line, at->col, 1, "rule expires today (%s)",
			 date);
	else if (left == 1)
		diag_add(&p->diags, PF_RULES, at->line, at->col, 1, "rule expires tomorrow (%s)",
			 date);
	else if (left <= POLICY_EXPIRY_WARN_DAYS)
		diag_add(&p->diags, PF_RULES, at->line, at->col, 1, "rule expires in %ld days (%s)",
			 left, date);
}

static int group_empty(const struct policy_group *g)
{
	return g->nmembers == 0 && g->nx4 == 0 && g->nx6 == 0;
}

/* Every range of a lies inside one range of the merged b. */
static int ranges_within(const struct policy_range *a, int na, const struct policy_range *b, int nb)
{
	int i, lo, hi, mid;

	for (i = 0; i < na; i++) {
		for (lo = 0, hi = nb; lo < hi;) {
			mid = (lo + hi) / 2;
			if (policy_addr_cmp(&b[mid].hi, &a[i].lo) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == nb || policy_addr_cmp(&b[lo].lo, &a[i].lo) > 0 ||
		    policy_addr_cmp(&b[lo].hi, &a[i].hi) < 0)
			return 0;
	}
	return 1;
}

static int group_within(const struct policy *p, const struct policy_group *a,
			const struct policy_group *b)
{
	size_t w;

	if (a == b)
		return 1;
	if (a->nmembers > b->nmembers)
		return 0;
	for (w = 0; w < p->nwords; w++)
		if (a->members[w] & ~b->members[w])
			return 0;
	return ranges_within(a->x4, a->nx4, b->x4, b->nx4) &&
	       ranges_within(a->x6, a->nx6, b->x6, b->nx6);
}

static int ports_overlap(const struct policy_rule *a, const struct policy_rule *b)
{
	int i, j;

	for (i = 0; i < a->nports; i++)
		for (j = 0; j < b->nports; j++)
			if (a->ports[i].proto == b->ports[j].proto &&
			    a->ports[i].lo <= b->ports[j].hi && b->ports[j].lo <= a->ports[i].hi)
				return 1;
	return 0;
}

static int port_cmp(const void *a, const void *b)
{
	const struct policy_port *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Whether the union of the earlier rules' ports covers every port of r. */
static int ports_covered(const struct policy_rule *r, struct policy_port *u, int n)
{
	int i, j, m = 0;

	qsort(u, (size_t)n, sizeof(*u), port_cmp);
	for (i = 0; i < n; i++) {
		if (m > 0 && u[m - 1].proto == u[i].proto &&
		    (uint32_t)u[i].lo <= (uint32_t)u[m - 1].hi + 1) {
			if (u[i].hi > u[m - 1].hi)
				u[m - 1].hi = u[i].hi;
		} else {
			u[m++] = u[i];
		}
	}
	for (i = 0; i < r->nports; i++) {
		for (j = 0; j < m; j++)
			if (u[j].proto == r->ports[i].proto && u[j].lo <= r->ports[i].lo &&
			    r->ports[i].hi <= u[j].hi)
				break;
		if (j == m)
			return 0;
	}
	return 1;
}

/* An earlier rule that lasts at least as long as r. */
static int rule_outlasts(const struct policy_rule *q, const struct policy_rule *r)
{
	return q->expires < 0 || (r->expires >= 0 && q->expires >= r->expires);
}

static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The groups that hold all of a group's members and networks (the group
 * too), each worked out when a rule first needs it. */
struct supersets {
	int **of; /* NULL: not yet */
	int *n;
	int *scratch;
};

static const int *supersets_get(const struct policy *p, struct supersets *s, int a, int *n)
{
	if (s->of[a] == NULL) {
		int b, m = 0;

		for (b = 0; b < p->ngroups; b++)
			if (group_within(p, &p->groups[a], &p->groups[b]))
				s->scratch[m++] = b;
		s->of[a] = xcalloc((size_t)m, sizeof(int));
		memcpy(s->of[a], s->scratch, (size_t)m * sizeof(int));
		s->n[a] = m;
	}
	*n = s->n[a];
	return s->of[a];
}

/* r is shadowed when earlier rules between supersets of its groups, in force
 * at least as long, together allow all of its ports. The earlier rules are
 * those of the groups that hold r's from; mark[g] is ri + 1 for the groups
 * that hold its to. */
static void shadow_check(struct policy *p, int ri, struct supersets *s, int *mark, int *by,
			 struct policy_port *u)
{
	const struct policy_rule *r = &p->rules[ri], *q;
	const struct policy_group *g;
	const int *from, *to;
	char lines[256];
	size_t o = 0;
	int i, j, nfrom, nto, nby = 0, nu = 0;

	from = supersets_get(p, s, r->from.idx, &nfrom);
	to = supersets_get(p, s, r->to.idx, &nto);
	for (i = 0; i < nto; i++)
		mark[to[i]] = ri + 1;
	for (i = 0; i < nfrom; i++) {
		g = &p->groups[from[i]];
		/* rules_from: the rules in force, in file order */
		for (j = 0; j < g->nrules_from && g->rules_from[j] < ri; j++) {
			q = &p->rules[g->rules_from[j]];
			if (mark[q->to.idx] == ri + 1 && rule_outlasts(q, r) && ports_overlap(r, q))
				by[nby++] = g->rules_from[j];
		}
	}
	if (nby == 0)
		return;
	qsort(by, (size_t)nby, sizeof(*by), int_cmp);
	for (i = 0; i < nby; i++)
		for (j = 0; j < p->rules[by[i]].nports; j++)
			u[nu++] = p->rules[by[i]].ports[j];
	if (!ports_covered(r, u, nu))
		return;
	lines[0] = '\0';
	for (i = 0; i < nby && o < sizeof(lines); i++)
		o += (size_t)snprintf(lines + o, sizeof(lines) - o, "%s%u", i > 0 ? ", " : "",
				      p->rules[by[i]].at.line);
	diag_add(&p->diags, PF_RULES, r->at.line, r->at.col, 1,
		 "rule is shadowed by the %s at %s %s (everything it allows is already "
		 "allowed)",
		 nby > 1 ? "rules" : "rule", nby > 1 ? "lines" : "line", lines);
}

void policy_warnings_find(struct policy *p)
{
	struct supersets s;
	struct policy_port *u;
	size_t nports = 0;
	int *by, *mark, i;

	for (i = 0; i < p->ngroups; i++)
		if (group_empty(&p->groups[i]))
			diag_add(&p->diags, PF_GROUPS, p->groups[i].at.line, p->groups[i].at.col, 1,
				 "group \"%s\" matches no host", p->groups[i].name);
	for (i = 0; i < p->nrules; i++) {
		if (p->rules[i].expires >= 0)
			expiry_warn(p, &p->rules[i]);
		nports += (size_t)p->rules[i].nports;
	}
	by = xcalloc((size_t)p->nrules + 1, sizeof(*by));
	u = xcalloc(nports + 1, sizeof(*u));
	mark = xcalloc((size_t)p->ngroups + 1, sizeof(*mark));
	s.of = xcalloc((size_t)p->ngroups + 1, sizeof(*s.of));
	s.n = xcalloc((size_t)p->ngroups + 1, sizeof(*s.n));
	s.scratch = xcalloc((size_t)p->ngroups + 1, sizeof(*s.scratch));
	for (i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		/* an empty group or an expired rule has its own warning already */
		if (r->expired || group_empty(&p->groups[r->from.idx]) ||
		    group_empty(&p->groups[r->to.idx]))
			continue;
		/* no host to put it on: only inventory hosts enforce anything */
		if (p->groups[r->from.idx].nmembers == 0 && p->groups[r->to.idx].nmembers == 0) {
			diag_add(&p->diags, PF_RULES, r->at.line, r->at.col, 1,
				 "rule names no host on either side and compiles to nothing");
			continue;
		}
		shadow_check(p, i, &s, mark, by, u);
	}
	for (i = 0; i < p->ngroups; i++)
		free(s.of[i]);
	free(s.of);
	free(s.n);
	free(s.scratch);
	free(mark);
	free(by);
	free(u);
}
