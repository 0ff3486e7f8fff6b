/* From the site model to one host's policy: group membership is worked out
 * once per policy (bitsets over the inventory, merged address ranges), then
 * each host's elements are gathered from the rules that name it and folded
 * into disjoint, merged, sorted set elements. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

/* qsort copies elements through memcpy and compares through a pointer; the
 * compiler does better with both inlined, and every host sorts thousands of
 * elements. A quicksort (Hoare partition, median of three) that leaves short
 * runs to insertion sort. */
#define POLICY_SORT_DEFINE(name, type, less)                                                       \
	static void name(type *a, size_t n)                                                        \
	{                                                                                          \
		type pivot, t;                                                                     \
		size_t i, j, m;                                                                    \
                                                                                                   \
		while (n > 16) {                                                                   \
			m = n / 2;                                                                 \
			if (less(&a[m], &a[0])) {                                                  \
				t = a[m], a[m] = a[0], a[0] = t;                                   \
			}                                                                          \
			if (less(&a[n - 1], &a[m])) {                                              \
				t = a[n - 1], a[n - 1] = a[m], a[m] = t;                           \
				if (less(&a[m], &a[0])) {                                          \
					t = a[m], a[m] = a[0], a[0] = t;                           \
				}                                                                  \
			}                                                                          \
			pivot = a[m];                                                              \
			for (i = 0, j = n - 1;; i++, j--) {                                        \
				while (less(&a[i], &pivot))                                        \
					i++;                                                       \
				while (less(&pivot, &a[j]))                                        \
					j--;                                                       \
				if (i >= j)                                                        \
					break;                                                     \
				t = a[i], a[i] = a[j], a[j] = t;                                   \
			}                                                                          \
			/* a[0..j] <= pivot <= a[j+1..n-1]: recurse into the smaller */            \
			if (j + 1 < n - j - 1) {                                                   \
				name(a, j + 1);                                                    \
				a += j + 1;                                                        \
				n -= j + 1;                                                        \
			} else {                                                                   \
				name(a + j + 1, n - j - 1);                                        \
				n = j + 1;                                                         \
			}                                                                          \
		}                                                                                  \
		for (i = 1; i < n; i++) {                                                          \
			t = a[i];                                                                  \
			for (j = i; j > 0 && less(&t, &a[j - 1]); j--)                             \
				a[j] = a[j - 1];                                                   \
			a[j] = t;                                                                  \
		}                                                                                  \
	}

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
	int i;

	if (family == AF_INET) {
		for (i = 0; i < 4; i++)
			bytes[i] = (uint8_t)(a->lo >> (24 - 8 * i));
		return;
	}
	for (i = 0; i < 8; i++) {
		bytes[i] = (uint8_t)(a->hi >> (56 - 8 * i));
		bytes[i + 8] = (uint8_t)(a->lo >> (56 - 8 * i));
	}
}

/* Whether a range starting at lo continues one ending at hi: it overlaps it
 * or starts right after it. Past the last address nothing starts, so the
 * wrap of hi + 1 cannot match. */
static int addr_touches(const struct policy_addr *hi, const struct policy_addr *lo)
{
	struct policy_addr next = {hi->hi + (hi->lo == UINT64_MAX), hi->lo + 1};

	return policy_addr_cmp(lo, hi) <= 0 || (lo->hi == next.hi && lo->lo == next.lo);
}

static int range_less(const struct policy_range *x, const struct policy_range *y)
{
	int c = policy_addr_cmp(&x->lo, &y->lo);

	return c != 0 ? c < 0 : policy_addr_cmp(&x->hi, &y->hi) < 0;
}

POLICY_SORT_DEFINE(ranges_sort, struct policy_range, range_less)

/* Sorts r and folds overlapping and adjacent ranges; returns the new count. */
size_t policy_ranges_merge(struct policy_range *r, size_t n)
{
	size_t i, m = 0;

	if (n == 0)
		return 0;
	ranges_sort(r, n);
	for (i = 1; i < n; i++) {
		if (addr_touches(&r[m].hi, &r[i].lo)) {
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
	free(b4.r);
	free(b6.r);
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
}

/* --- one host --- */

/* An address range by a port range, before folding. IPv4 boxes are most of
 * the work: they are packed into 16 bytes with a single sort key. */
struct box4 {
	uint64_t key; /* ports << 32 | lo */
	uint64_t hi;
};

struct box6 {
	struct policy_addr lo, hi;
	uint32_t ports; /* lo << 16 | hi: sorts by lo, then hi */
};

/* The boxes of one (family, protocol) bucket: b4 or b6 by family. */
struct box_buf {
	struct box4 *b4;
	struct box6 *b6;
	size_t n, cap;
};

static int box4_less(const struct box4 *x, const struct box4 *y)
{
	return x->key < y->key;
}

static int box6_less(const struct box6 *x, const struct box6 *y)
{
	if (x->ports != y->ports)
		return x->ports < y->ports;
	return policy_addr_cmp(&x->lo, &y->lo) < 0;
}

POLICY_SORT_DEFINE(box4s_sort, struct box4, box4_less)
POLICY_SORT_DEFINE(box6s_sort, struct box6, box6_less)

static void box_add(struct box_buf *bb, int v6, const struct policy_range *r, uint16_t plo,
		    uint16_t phi)
{
	uint32_t ports = (uint32_t)plo << 16 | phi;

	if (bb->n == bb->cap) {
		bb->cap = bb->cap != 0 ? 2 * bb->cap : 64;
		if (v6)
			bb->b6 = realloc(bb->b6, bb->cap * sizeof(*bb->b6));
		else
			bb->b4 = realloc(bb->b4, bb->cap * sizeof(*bb->b4));
		if (v6 ? bb->b6 == NULL : bb->b4 == NULL)
			fatal("out of memory");
	}
	if (v6) {
		bb->b6[bb->n].lo = r->lo;
		bb->b6[bb->n].hi = r->hi;
		bb->b6[bb->n].ports = ports;
	} else {
		bb->b4[bb->n].key = (uint64_t)ports << 32 | r->lo.lo;
		bb->b4[bb->n].hi = r->hi.lo;
	}
	bb->n++;
}

/* Box i's ports and range, whichever form it has. */
static uint32_t box_get(const struct box_buf *bb, int v6, size_t i, struct policy_range *r)
{
	if (v6) {
		r->lo = bb->b6[i].lo;
		r->hi = bb->b6[i].hi;
		return bb->b6[i].ports;
	}
	r->lo.hi = r->hi.hi = 0;
	r->lo.lo = bb->b4[i].key & 0xffffffffu;
	r->hi.lo = bb->b4[i].hi;
	return (uint32_t)(bb->b4[i].key >> 32);
}

struct elem_buf {
	struct policy_elem *e;
	size_t n, cap;
};

static void elem_add(struct elem_buf *eb, int family, uint8_t proto, uint32_t plo, uint32_t phi,
		     const struct policy_range *r)
{
	struct policy_elem *e;

	if (eb->n == eb->cap) {
		eb->cap = eb->cap != 0 ? 2 * eb->cap : 64;
		eb->e = realloc(eb->e, eb->cap * sizeof(*eb->e));
		if (eb->e == NULL)
			fatal("out of memory");
	}
	e = &eb->e[eb->n++];
	memset(e, 0, sizeof(*e));
	e->family = (uint8_t)family;
	e->proto = proto;
	e->port_lo = (uint16_t)plo;
	e->port_hi = (uint16_t)phi;
	policy_addr_store(family, &r->lo, e->addr_lo);
	policy_addr_store(family, &r->hi, e->addr_hi);
}

/* A port range with the merged addresses allowed on every port of it. */
struct port_class {
	uint32_t plo, phi;
	size_t first, n; /* into the class ranges */
};

static int u32_less(const uint32_t *x, const uint32_t *y)
{
	return *x < *y;
}

POLICY_SORT_DEFINE(u32s_sort, uint32_t, u32_less)

/* Ranges to emit: a class's own, or a merge of several. */
struct range_view {
	const struct policy_range *r;
	size_t n;
};

static void ranges_emit(const struct range_view *rv, int family, uint8_t proto, uint32_t plo,
			uint32_t phi, struct elem_buf *out)
{
	size_t i;

	for (i = 0; i < rv->n; i++)
		elem_add(out, family, proto, plo, phi, &rv->r[i]);
}

static void boxes_fold(struct box_buf *bb, int family, uint8_t proto, struct elem_buf *out)
{
	struct range_buf cr = {NULL, 0, 0}, scratch[2] = {{NULL, 0, 0}, {NULL, 0, 0}}, *buf;
	struct range_view prev = {NULL, 0}, cur;
	struct port_class *cls;
	struct policy_range r;
	uint32_t *bp, ports, plo = 0, phi = 0, slo, shi;
	size_t i, j, k, ncls = 0, nbp = 0, nact = 0, next = 0, *act;
	int v6 = family == AF_INET6, have_prev = 0, prev_scratch = -1;

	if (bb->n == 0)
		return;
	if (v6)
		box6s_sort(bb->b6, bb->n);
	else
		box4s_sort(bb->b4, bb->n);
	cls = xcalloc(bb->n, sizeof(*cls));
	for (i = 0; i < bb->n; i = j) {
		struct port_class *c = &cls[ncls++];

		ports = box_get(bb, v6, i, &r);
		c->plo = ports >> 16;
		c->phi = ports & 0xffff;
		c->first = cr.n;
		range_buf_add(&cr, &r);
		/* sorted by lo already: fold as they come */
		for (j = i + 1; j < bb->n && box_get(bb, v6, j, &r) == ports; j++) {
			if (addr_touches(&cr.r[cr.n - 1].hi, &r.lo)) {
				if (policy_addr_cmp(&r.hi, &cr.r[cr.n - 1].hi) > 0)
					cr.r[cr.n - 1].hi = r.hi;
			} else {
				range_buf_add(&cr, &r);
			}
		}
		c->n = cr.n - c->first;
	}

	/* every port where the set of classes covering it can change */
	bp = xcalloc(2 * ncls, sizeof(*bp));
	for (i = 0; i < ncls; i++) {
		bp[nbp++] = cls[i].plo;
		bp[nbp++] = cls[i].phi + 1;
	}
	u32s_sort(bp, nbp);
	for (i = 0, k = 0; i < nbp; i++)
		if (k == 0 || bp[k - 1] != bp[i])
			bp[k++] = bp[i];
	nbp = k;

	/* sweep the segments between breakpoints; classes are sorted by plo */
	act = xcalloc(ncls, sizeof(*act));
	for (i = 0; i + 1 < nbp; i++) {
		slo = bp[i];
		shi = bp[i + 1] - 1;
		for (j = 0, k = 0; j < nact; j++)
			if (cls[act[j]].phi >= slo)
				act[k++] = act[j];
		nact = k;
		for (; next < ncls && cls[next].plo <= slo; next++)
			if (cls[next].phi >= slo)
				act[nact++] = next;
		if (nact == 0) {
			if (have_prev)
				ranges_emit(&prev, family, proto, plo, phi, out);
			have_prev = 0;
			continue;
		}
		if (nact == 1) {
			/* the usual case: one class, whose ranges are merged already */
			cur.r = cr.r + cls[act[0]].first;
			cur.n = cls[act[0]].n;
		} else {
			/* into the scratch buffer that prev does not point into */
			buf = &scratch[prev_scratch == 0 ? 1 : 0];
			buf->n = 0;
			for (j = 0; j < nact; j++)
				for (k = 0; k < cls[act[j]].n; k++)
					range_buf_add(buf, &cr.r[cls[act[j]].first + k]);
			buf->n = policy_ranges_merge(buf->r, buf->n);
			cur.r = buf->r;
			cur.n = buf->n;
		}
		if (have_prev && phi + 1 == slo && prev.n == cur.n &&
		    memcmp(prev.r, cur.r, cur.n * sizeof(*cur.r)) == 0) {
			phi = shi;
			continue;
		}
		if (have_prev)
			ranges_emit(&prev, family, proto, plo, phi, out);
		prev = cur;
		prev_scratch = nact == 1 ? -1 : (int)(buf - scratch);
		plo = slo;
		phi = shi;
		have_prev = 1;
	}
	if (have_prev)
		ranges_emit(&prev, family, proto, plo, phi, out);
	free(act);
	free(bp);
	free(cls);
	free(cr.r);
	free(scratch[0].r);
	free(scratch[1].r);
}

enum { BUCKET_TCP, BUCKET_UDP, BUCKET_ICMP, NBUCKETS };

static int bucket_of(uint8_t proto)
{
	return proto == IPPROTO_TCP ? BUCKET_TCP : proto == IPPROTO_UDP ? BUCKET_UDP : BUCKET_ICMP;
}

static uint8_t bucket_proto(int bucket, int family)
{
	if (bucket == BUCKET_TCP)
		return IPPROTO_TCP;
	if (bucket == BUCKET_UDP)
		return IPPROTO_UDP;
	return family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

/* The peers' ranges by the rule's ports, into the buckets of one direction. */
static void rule_boxes_add(const struct policy_rule *r, const struct policy_group *peer,
			   const int has[2], struct box_buf bk[2][NBUCKETS])
{
	int i, j;

	for (i = 0; i < r->nports; i++) {
		const struct policy_port *pp = &r->ports[i];
		int b = bucket_of(pp->proto);

		for (j = 0; has[0] && j < peer->n4; j++)
			box_add(&bk[0][b], 0, &peer->r4[j], pp->lo, pp->hi);
		for (j = 0; has[1] && j < peer->n6; j++)
			box_add(&bk[1][b], 1, &peer->r6[j], pp->lo, pp->hi);
	}
}

/* Every bucket folded, in the order that folding gives: IPv4, then IPv6;
 * TCP, UDP, ICMP; by port range, then by address. Frees the boxes. */
static struct policy_elem *buckets_fold(struct box_buf bk[2][NBUCKETS], size_t *n)
{
	struct elem_buf eb = {NULL, 0, 0};
	int f, b, family;

	for (f = 0; f < 2; f++) {
		family = f == 0 ? AF_INET : AF_INET6;
		for (b = 0; b < NBUCKETS; b++) {
			boxes_fold(&bk[f][b], family, bucket_proto(b, family), &eb);
			free(bk[f][b].b4);
			free(bk[f][b].b6);
		}
	}
	*n = eb.n;
	return eb.e;
}

struct host_policy *policy_host_compile(const struct policy *p, const char *host)
{
	struct box_buf in[2][NBUCKETS], out[2][NBUCKETS];
	const struct policy_rule *r;
	const struct inv_host *h;
	struct host_policy *hp;
	int has[2] = {0, 0};
	int hi, i;

	if (host == NULL || (hi = conf_index_get(&p->host_ix, host, strlen(host))) < 0)
		return NULL;
	h = &p->inv.hosts[hi];
	/* a family the host has no address in gets no elements */
	for (i = 0; i < h->naddrs; i++)
		has[h->addrs[i].family == AF_INET ? 0 : 1] = 1;
	memset(in, 0, sizeof(in));
	memset(out, 0, sizeof(out));
	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->expired)
			continue;
		if (POLICY_BIT_TEST(p->groups[r->to.idx].members, hi))
			rule_boxes_add(r, &p->groups[r->from.idx], has, in);
		if (POLICY_BIT_TEST(p->groups[r->from.idx].members, hi))
			rule_boxes_add(r, &p->groups[r->to.idx], has, out);
	}

	hp = xcalloc(1, sizeof(*hp));
	hp->host = xstrdup(host);
	hp->in = buckets_fold(in, &hp->nin);
	hp->out = buckets_fold(out, &hp->nout);
	memcpy(hp->controllers, p->controllers, sizeof(hp->controllers));
	hp->ncontrollers = p->ncontrollers;
	hp->port = p->port;
	memcpy(hp->collectors, p->collectors, sizeof(hp->collectors));
	hp->ncollectors = p->ncollectors;
	/* The shortest dead-man time of the groups the host is in. */
	for (i = 0; i < p->ngroups; i++) {
		const struct policy_group *g = &p->groups[i];

		if (g->deadman_s && g->members && POLICY_BIT_TEST(g->members, hi) &&
		    (!hp->deadman_s || g->deadman_s < hp->deadman_s))
			hp->deadman_s = g->deadman_s;
	}
	hp->text = host_policy_text(hp, &hp->textlen);
	policy_sha256_hex(hp->text, hp->textlen, hp->hash);
	return hp;
}

void host_policy_free(struct host_policy *hp)
{
	if (hp == NULL)
		return;
	free(hp->host);
	free(hp->in);
	free(hp->out);
	free(hp->text);
	free(hp);
}

int host_policy_allows(const struct host_policy *hp, enum policy_dir dir, int family,
		       const uint8_t *addr, uint8_t proto, uint16_t port)
{
	const struct policy_elem *e = dir == POLICY_IN ? hp->in : hp->out;
	size_t i, n = dir == POLICY_IN ? hp->nin : hp->nout, len = (size_t)policy_addr_len(family);
	int icmp = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;

	for (i = 0; i < n; i++) {
		if (e[i].family != family || e[i].proto != proto)
			continue;
		if (memcmp(e[i].addr_lo, addr, len) > 0 || memcmp(e[i].addr_hi, addr, len) < 0)
			continue;
		if (icmp || (e[i].port_lo <= port && port <= e[i].port_hi))
			return 1;
	}
	return 0;
}
