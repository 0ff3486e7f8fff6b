/* What every host's policy is made from, worked out once per policy: group
 * membership (bitsets over the inventory), each group's merged address
 * ranges, printed, and the rules that name it. policy_host.c makes one
 * host's policy from them. */
#include <endian.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

int policy_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

struct policy_addr policy_addr_load(int family, const void *bytes)
{
	const uint8_t *b = bytes;
	struct policy_addr a = {0, 0};
	int i;

	if (family == AF_INET) {
		a.lo = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
		return a;
	}
	for (i = 0; i < 8; i++) {
		a.hi = a.hi << 8 | b[i];
		a.lo = a.lo << 8 | b[i + 8];
	}
	return a;
}

void policy_addr_store(int family, const struct policy_addr *a, uint8_t *bytes)
{
	uint32_t v4;
	uint64_t v6[2];

	/* every host's elements go through here */
	if (family == AF_INET) {
		v4 = htobe32((uint32_t)a->lo);
		memcpy(bytes, &v4, sizeof(v4));
		return;
	}
	v6[0] = htobe64(a->hi);
	v6[1] = htobe64(a->lo);
	memcpy(bytes, v6, sizeof(v6));
}

POLICY_SORT_DEFINE(ranges_sort, struct policy_range, policy_range_less)

/* Sorts r and folds overlapping and adjacent ranges; returns the new count. */
size_t policy_ranges_merge(struct policy_range *r, size_t n)
{
	size_t i, m = 0;

	if (n == 0)
		return 0;
	ranges_sort(r, n);
	for (i = 1; i < n; i++) {
		if (policy_addr_touches(&r[m].hi, &r[i].lo)) {
			if (policy_addr_cmp(&r[i].hi, &r[m].hi) > 0)
				r[m].hi = r[i].hi;
		} else {
			r[++m] = r[i];
		}
	}
	return m + 1;
}

/* Whether a is in the sorted, merged r. */
int policy_ranges_find(const struct policy_range *r, int n, const struct policy_addr *a)
{
	int lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (policy_addr_cmp(&r[mid].hi, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && policy_addr_cmp(&r[lo].lo, a) <= 0;
}

/* --- groups --- */

/* Host lists per label (key and value), to intersect for selectors. */
struct label_postings {
	struct conf_index ix;
	int **hosts;
	int *n, *cap;
	int count;
};

static size_t label_key(const char *k, const char *v, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s%c%s", k, '\0', v);

	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

static void label_postings_build(struct policy *p, struct label_postings *lp)
{
	char key[512];
	size_t len;
	int i, j, id;

	memset(lp, 0, sizeof(*lp));
	conf_index_init(&lp->ix);
	for (i = 0; i < p->inv.nhosts; i++) {
		const struct inv_host *h = &p->inv.hosts[i];

		for (j = 0; j < h->nlabels; j++) {
			len = label_key(h->labels[j].key, h->labels[j].value, key, sizeof(key));
			if (len == 0)
				continue; /* too long for any selector to name */
			id = conf_index_put(&lp->ix, key, len, lp->count);
			if (id < 0) {
				id = lp->count++;
				lp->hosts =
				    realloc(lp->hosts, (size_t)lp->count * sizeof(*lp->hosts));
				lp->n = realloc(lp->n, (size_t)lp->count * sizeof(*lp->n));
				lp->cap = realloc(lp->cap, (size_t)lp->count * sizeof(*lp->cap));
				if (lp->hosts == NULL || lp->n == NULL || lp->cap == NULL)
					fatal("out of memory");
				lp->hosts[id] = NULL;
				lp->n[id] = lp->cap[id] = 0;
			}
			if (lp->n[id] == lp->cap[id]) {
				lp->cap[id] = lp->cap[id] != 0 ? 2 * lp->cap[id] : 8;
				lp->hosts[id] =
				    realloc(lp->hosts[id], (size_t)lp->cap[id] * sizeof(int));
				if (lp->hosts[id] == NULL)
					fatal("out of memory");
			}
			lp->hosts[id][lp->n[id]++] = i;
		}
	}
}

static void label_postings_free(struct label_postings *lp)
{
	int i;

	for (i = 0; i < lp->count; i++)
		free(lp->hosts[i]);
	free(lp->hosts);
	free(lp->n);
	free(lp->cap);
	conf_index_clear(&lp->ix);
}

static void group_match_resolve(struct policy *p, struct policy_group *g,
				const struct label_postings *lp)
{
	uint64_t *tmp = xcalloc(p->nwords, sizeof(*tmp));
	char key[512];
	size_t len, w;
	int i, j, id;

	for (i = 0; i < g->nmatch; i++) {
		len = label_key(g->match[i].key, g->match[i].value, key, sizeof(key));
		id = len != 0 ? conf_index_get(&lp->ix, key, len) : -1;
		memset(tmp, 0, p->nwords * sizeof(*tmp));
		for (j = 0; id >= 0 && j < lp->n[id]; j++)
			tmp[lp->hosts[id][j] >> 6] |= 1ull << (lp->hosts[id][j] & 63);
		for (w = 0; w < p->nwords; w++)
			g->members[w] = i == 0 ? tmp[w] : g->members[w] & tmp[w];
	}
	free(tmp);
}

struct range_buf {
	struct policy_range *r;
	size_t n, cap;
};

static void range_buf_add(struct range_buf *b, const struct policy_range *r)
{
	if (b->n == b->cap) {
		b->cap = b->cap != 0 ? 2 * b->cap : 16;
		b->r = realloc(b->r, b->cap * sizeof(*b->r));
		if (b->r == NULL)
			fatal("out of memory");
	}
	b->r[b->n++] = *r;
}

/* Merges the buffer into a new array of exactly its ranges. */
static struct policy_range *range_buf_take(struct range_buf *b, int *n)
{
	struct policy_range *r;

	b->n = policy_ranges_merge(b->r, b->n);
	r = xcalloc(b->n + 1, sizeof(*r));
	if (b->n > 0)
		memcpy(r, b->r, b->n * sizeof(*r));
	*n = (int)b->n;
	b->n = 0;
	return r;
}

static void group_resolve(struct policy *p, int gi, const struct label_postings *lp)
{
	struct policy_group *g = &p->groups[gi], *sub;
	struct range_buf b4 = {NULL, 0, 0}, b6 = {NULL, 0, 0};
	struct policy_range r;
	size_t w;
	int i, j, k;

	if (g->state == 2)
		return;
	g->state = 2;
	g->members = xcalloc(p->nwords, sizeof(*g->members));
	/* the networks first: they are all a networks group has */
	switch (g->kind) {
	case GROUP_MATCH: group_match_resolve(p, g, lp); break;
	case GROUP_HOSTS:
		for (i = 0; i < g->nrefs; i++)
			g->members[g->refs[i].idx >> 6] |= 1ull << (g->refs[i].idx & 63);
		break;
	case GROUP_GROUPS:
		for (i = 0; i < g->nrefs; i++) {
			group_resolve(p, g->refs[i].idx, lp);
			sub = &p->groups[g->refs[i].idx];
			for (w = 0; w < p->nwords; w++)
				g->members[w] |= sub->members[w];
			for (j = 0; j < sub->nx4; j++)
				range_buf_add(&b4, &sub->x4[j]);
			for (j = 0; j < sub->nx6; j++)
				range_buf_add(&b6, &sub->x6[j]);
		}
		break;
	case GROUP_NETWORKS:
		for (i = 0; i < g->nnets; i++)
			range_buf_add(g->nets[i].family == AF_INET ? &b4 : &b6, &g->nets[i].r);
		break;
	case GROUP_NONE: break;
	}
	g->x4 = range_buf_take(&b4, &g->nx4);
	g->x6 = range_buf_take(&b6, &g->nx6);

	/* every address: the networks, then each member's */
	for (j = 0; j < g->nx4; j++)
		range_buf_add(&b4, &g->x4[j]);
	for (j = 0; j < g->nx6; j++)
		range_buf_add(&b6, &g->x6[j]);
	g->nmembers = 0;
	for (w = 0; w < p->nwords; w++) {
		uint64_t bits = g->members[w];

		g->nmembers += __builtin_popcountll(bits);
		while (bits != 0) {
			const struct inv_host *h;

			i = (int)(w * 64) + __builtin_ctzll(bits);
			bits &= bits - 1;
			h = &p->inv.hosts[i];
			for (k = 0; k < h->naddrs; k++) {
				r.lo = r.hi = policy_addr_load(h->addrs[k].family, &h->addrs[k].a);
				range_buf_add(h->addrs[k].family == AF_INET ? &b4 : &b6, &r);
			}
		}
	}
	g->r4 = range_buf_take(&b4, &g->n4);
	g->r6 = range_buf_take(&b6, &g->n6);
	/* printed once here, not once for every host whose sets hold them */
	g->t4 = xcalloc((size_t)g->n4 + 1, sizeof(*g->t4));
	g->t6 = xcalloc((size_t)g->n6 + 1, sizeof(*g->t6));
	policy_ranges_print(AF_INET, g->r4, (size_t)g->n4, &g->text4, g->t4);
	policy_ranges_print(AF_INET6, g->r6, (size_t)g->n6, &g->text6, g->t6);
	free(b4.r);
	free(b6.r);
}

/* Each group's rules in force, as source and as destination: a host
 * compiles the rules of its own groups, not every rule. */
static void group_rules_index(struct policy *p)
{
	struct policy_group *from, *to;
	int i;

	for (i = 0; i < p->nrules; i++) {
		if (p->rules[i].expired)
			continue;
		p->groups[p->rules[i].from.idx].nrules_from++;
		p->groups[p->rules[i].to.idx].nrules_to++;
	}
	for (i = 0; i < p->ngroups; i++) {
		p->groups[i].rules_from =
		    xcalloc((size_t)p->groups[i].nrules_from + 1, sizeof(int));
		p->groups[i].rules_to = xcalloc((size_t)p->groups[i].nrules_to + 1, sizeof(int));
		p->groups[i].nrules_from = p->groups[i].nrules_to = 0;
	}
	for (i = 0; i < p->nrules; i++) {
		if (p->rules[i].expired)
			continue;
		from = &p->groups[p->rules[i].from.idx];
		to = &p->groups[p->rules[i].to.idx];
		from->rules_from[from->nrules_from++] = i;
		to->rules_to[to->nrules_to++] = i;
	}
}

void policy_groups_resolve(struct policy *p)
{
	struct label_postings lp;
	int i;

	p->nwords = ((size_t)p->inv.nhosts + 63) / 64 + 1;
	label_postings_build(p, &lp);
	for (i = 0; i < p->ngroups; i++)
		group_resolve(p, i, &lp);
	label_postings_free(&lp);
	group_rules_index(p);
}
