/* One host's policy: the rules that name the host's groups give runs of
 * peer ranges by port range; each (family, protocol) bucket is folded into
 * disjoint, merged, sorted set elements, which are printed into the host's
 * sets as they are made. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

enum { BUCKET_TCP, BUCKET_UDP, BUCKET_ICMP, NBUCKETS };

/* A port range of a rule against a peer group: the group's merged ranges of
 * the family are the addresses. One sort key: the bucket (family (0 IPv4, 1
 * IPv6) * NBUCKETS + protocol bucket), the ports (lo << 16 | hi, so by lo,
 * then hi) and the group. Sorted, the runs of one bucket and port range
 * fall together, and a group named twice for them shows as a repeat. */
#define RUN_GROUP_BITS 29 /* far more groups than a policy's files can hold */
#define RUN_BUCKET(key) ((uint32_t)((key) >> (32 + RUN_GROUP_BITS)))
#define RUN_PORTS(key) ((uint32_t)((key) >> RUN_GROUP_BITS))
#define RUN_GROUP(key) ((int)((key) & ((1u << RUN_GROUP_BITS) - 1)))

static int u64_less(const uint64_t *x, const uint64_t *y)
{
	return *x < *y;
}

POLICY_SORT_DEFINE(u64s_sort, uint64_t, u64_less)

struct run_buf {
	uint64_t *key;
	size_t n, cap;
};

static void run_add(struct run_buf *rb, uint32_t bucket, uint32_t ports, int group)
{
	if (rb->n == rb->cap) {
		rb->cap = rb->cap != 0 ? 2 * rb->cap : 64;
		rb->key = realloc(rb->key, rb->cap * sizeof(*rb->key));
		if (rb->key == NULL)
			fatal("out of memory");
	}
	rb->key[rb->n++] = (uint64_t)bucket << (32 + RUN_GROUP_BITS) |
			   (uint64_t)ports << RUN_GROUP_BITS | (uint64_t)group;
}

/* Sorted, merged ranges and how they print. */
struct span_view {
	const struct policy_range *r;
	const struct policy_range_text *t;
	size_t n;
};

struct span_buf {
	struct policy_range *r;
	struct policy_range_text *t;
	size_t n, cap;
};

/* Room for n more. */
static void span_reserve(struct span_buf *b, size_t n)
{
	if (b->n + n <= b->cap)
		return;
	while (b->n + n > b->cap)
		b->cap = b->cap != 0 ? 2 * b->cap : 64;
	b->r = realloc(b->r, b->cap * sizeof(*b->r));
	b->t = realloc(b->t, b->cap * sizeof(*b->t));
	if (b->r == NULL || b->t == NULL)
		fatal("out of memory");
}

static void span_buf_free(struct span_buf *b)
{
	free(b->r);
	free(b->t);
}

/* A view's next range, in the heap of spans_union. */
struct span_head {
	struct policy_range r;
	size_t view;
};

/* Restores the heap below slot i. */
static void span_heap_sift(struct span_head *heap, size_t n, size_t i)
{
	size_t c;

	for (; (c = 2 * i + 1) < n; i = c) {
		struct span_head t;

		if (c + 1 < n && policy_range_less(&heap[c + 1].r, &heap[c].r))
			c++;
		if (!policy_range_less(&heap[c].r, &heap[i].r))
			break;
		t = heap[c], heap[c] = heap[i], heap[i] = t;
	}
}

/* The next range of a union that is made from out->r[first] on, in order
 * of lo: it joins the last range or follows it. A range that comes out as
 * it went in keeps its printed text. out has room for it. */
static void span_fold(struct span_buf *out, size_t first, const struct policy_range *r,
		      const struct policy_range_text *t)
{
	static const struct policy_range_text unprinted = {NULL, 0};
	struct policy_range *last = out->n > first ? &out->r[out->n - 1] : NULL;

	if (last == NULL || !policy_addr_touches(&last->hi, &r->lo)) {
		out->r[out->n] = *r;
		out->t[out->n++] = *t;
	} else if (policy_addr_cmp(&r->hi, &last->hi) > 0) {
		/* a range that reaches further and starts with it is it */
		last->hi = r->hi;
		out->t[out->n - 1] = policy_addr_cmp(&r->lo, &last->lo) == 0 ? *t : unprinted;
	}
}

/* The union of k views, appended to out as sorted, merged ranges: a k-way
 * merge (two views, the usual case, without the heap). pos and heap have
 * room for k. */
static void spans_union(const struct span_view *v, size_t k, size_t *pos, struct span_head *heap,
			struct span_buf *out)
{
	size_t i, n = 0, first = out->n;

	for (i = 0; i < k; i++)
		n += v[i].n;
	span_reserve(out, n);
	if (k == 2) {
		size_t j;

		for (i = 0, j = 0; i < v[0].n || j < v[1].n;) {
			if (j == v[1].n ||
			    (i < v[0].n && !policy_range_less(&v[1].r[j], &v[0].r[i]))) {
				span_fold(out, first, &v[0].r[i], &v[0].t[i]);
				i++;
			} else {
				span_fold(out, first, &v[1].r[j], &v[1].t[j]);
				j++;
			}
		}
		return;
	}
	for (i = 0, n = 0; i < k; i++) {
		pos[i] = 0;
		if (v[i].n > 0) {
			heap[n].r = v[i].r[0];
			heap[n++].view = i;
		}
	}
	for (i = n / 2; i-- > 0;)
		span_heap_sift(heap, n, i);
	while (n > 0) {
		size_t top = heap[0].view;

		span_fold(out, first, &heap[0].r, &v[top].t[pos[top]]);
		if (++pos[top] < v[top].n)
			heap[0].r = v[top].r[pos[top]];
		else
			heap[0] = heap[--n];
		span_heap_sift(heap, n, 0);
	}
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
		eb->cap = eb->cap != 0 ? 2 * eb->cap : 256;
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

/* A port range with the merged addresses allowed on every port of it: a
 * peer group's own ranges, or the union of several groups'. */
struct port_class {
	uint32_t plo, phi;
	struct span_view v;
	size_t merged; /* where its ranges start in the scratch, or SIZE_MAX */
};

static int u32_less(const uint32_t *x, const uint32_t *y)
{
	return *x < *y;
}

POLICY_SORT_DEFINE(u32s_sort, uint32_t, u32_less)

/* The buffers folding needs, kept from bucket to bucket of one host. */
struct fold_scratch {
	struct span_buf cr;	/* the ranges of classes made of several groups */
	struct span_buf seg[2]; /* a port segment's ranges where classes overlap */
	struct port_class *cls;
	struct span_view *src;
	uint32_t *bp;
	struct span_head *heap;
	size_t *act, *pos;
	size_t cap; /* in runs; bp has room for twice that */
};

/* What is sized by the number of runs. */
static void fold_scratch_runs_free(struct fold_scratch *fs)
{
	free(fs->cls);
	free(fs->src);
	free(fs->bp);
	free(fs->act);
	free(fs->pos);
	free(fs->heap);
}

static void fold_scratch_reserve(struct fold_scratch *fs, size_t nrun)
{
	if (nrun <= fs->cap)
		return;
	fold_scratch_runs_free(fs);
	fs->cap = nrun;
	fs->cls = xcalloc(nrun, sizeof(*fs->cls));
	fs->src = xcalloc(nrun, sizeof(*fs->src));
	fs->bp = xcalloc(2 * nrun, sizeof(*fs->bp));
	fs->act = xcalloc(nrun, sizeof(*fs->act));
	fs->pos = xcalloc(nrun, sizeof(*fs->pos));
	fs->heap = xcalloc(nrun, sizeof(*fs->heap));
}

static void fold_scratch_free(struct fold_scratch *fs)
{
	span_buf_free(&fs->cr);
	span_buf_free(&fs->seg[0]);
	span_buf_free(&fs->seg[1]);
	fold_scratch_runs_free(fs);
}

static struct span_view group_view(const struct policy_group *g, int v6)
{
	struct span_view v;

	v.r = v6 ? g->r6 : g->r4;
	v.t = v6 ? g->t6 : g->t4;
	v.n = (size_t)(v6 ? g->n6 : g->n4);
	return v;
}

/* One class per port range of the runs (sorted, without repeats); the
 * count. A port range that one group has keeps that group's ranges. */
static size_t port_classes_build(const struct policy *p, const uint64_t *run, size_t nrun, int v6,
				 struct fold_scratch *fs)
{
	size_t i, j, k, ncls = 0;

	fs->cr.n = 0;
	for (i = 0; i < nrun; i = j) {
		struct port_class *c = &fs->cls[ncls++];

		c->plo = RUN_PORTS(run[i]) >> 16;
		c->phi = RUN_PORTS(run[i]) & 0xffff;
		for (j = i + 1; j < nrun && RUN_PORTS(run[j]) == RUN_PORTS(run[i]); j++)
			;
		if (j == i + 1) {
			c->v = group_view(&p->groups[RUN_GROUP(run[i])], v6);
			c->merged = SIZE_MAX;
			continue;
		}
		for (k = i; k < j; k++)
			fs->src[k - i] = group_view(&p->groups[RUN_GROUP(run[k])], v6);
		c->merged = fs->cr.n;
		spans_union(fs->src, j - i, fs->pos, fs->heap, &fs->cr);
		c->v.n = fs->cr.n - c->merged;
	}
	/* the scratch has stopped moving */
	for (i = 0; i < ncls; i++) {
		if (fs->cls[i].merged != SIZE_MAX) {
			fs->cls[i].v.r = fs->cr.r + fs->cls[i].merged;
			fs->cls[i].v.t = fs->cr.t + fs->cls[i].merged;
		}
	}
	return ncls;
}

/* Where a bucket's elements go, and what they are. */
struct fold_out {
	enum policy_dir dir;
	int family;
	uint8_t proto;
	struct elem_buf *elems;
	struct policy_sets *sets;
};

static void spans_emit(const struct span_view *v, uint32_t plo, uint32_t phi,
		       const struct fold_out *out)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		elem_add(out->elems, out->family, out->proto, plo, phi, &v->r[i]);
	policy_sets_add(out->sets, out->dir, out->family, out->proto, (uint16_t)plo, (uint16_t)phi,
			v->r, v->t, v->n);
}

/* The elements of one (family, protocol) bucket: the port line is cut where
 * the classes covering it change, and neighbouring segments with the same
 * addresses are joined again. */
static void runs_fold(const struct policy *p, const uint64_t *run, size_t nrun,
		      struct fold_scratch *fs, const struct fold_out *out)
{
	struct span_view prev = {NULL, NULL, 0}, cur;
	struct span_buf *buf = NULL;
	struct port_class *cls;
	uint32_t *bp, plo = 0, phi = 0;
	size_t i, j, k, ncls, nbp = 0, nact = 0, next = 0, *act;
	int have_prev = 0, prev_scratch = -1;

	fold_scratch_reserve(fs, nrun);
	ncls = port_classes_build(p, run, nrun, out->family == AF_INET6, fs);
	cls = fs->cls;
	bp = fs->bp;
	act = fs->act;

	/* every port where the set of classes covering it can change */
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
	for (i = 0; i + 1 < nbp; i++) {
		uint32_t slo = bp[i], shi = bp[i + 1] - 1;

		for (j = 0, k = 0; j < nact; j++)
			if (cls[act[j]].phi >= slo)
				act[k++] = act[j];
		nact = k;
		for (; next < ncls && cls[next].plo <= slo; next++)
			if (cls[next].phi >= slo)
				act[nact++] = next;
		if (nact == 0) {
			if (have_prev)
				spans_emit(&prev, plo, phi, out);
			have_prev = 0;
			continue;
		}
		if (nact == 1) {
			/* the usual case: one class, whose ranges are merged already */
			cur = cls[act[0]].v;
		} else {
			/* into the scratch buffer that prev does not point into */
			buf = &fs->seg[prev_scratch == 0 ? 1 : 0];
			buf->n = 0;
			for (j = 0; j < nact; j++)
				fs->src[j] = cls[act[j]].v;
			spans_union(fs->src, nact, fs->pos, fs->heap, buf);
			cur.r = buf->r;
			cur.t = buf->t;
			cur.n = buf->n;
		}
		if (have_prev && phi + 1 == slo && prev.n == cur.n &&
		    memcmp(prev.r, cur.r, cur.n * sizeof(*cur.r)) == 0) {
			phi = shi;
			continue;
		}
		if (have_prev)
			spans_emit(&prev, plo, phi, out);
		prev = cur;
		prev_scratch = nact == 1 ? -1 : (int)(buf - fs->seg);
		plo = slo;
		phi = shi;
		have_prev = 1;
	}
	if (have_prev)
		spans_emit(&prev, plo, phi, out);
}

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

/* The rule's ports against the peer group, in the families the host has. */
static void rule_runs_add(const struct policy *p, const struct policy_rule *r, int peer,
			  const int has[2], struct run_buf *rb)
{
	const struct policy_group *g = &p->groups[peer];
	int i;

	for (i = 0; i < r->nports; i++) {
		const struct policy_port *pp = &r->ports[i];
		uint32_t ports = (uint32_t)pp->lo << 16 | pp->hi;
		uint32_t b = (uint32_t)bucket_of(pp->proto);

		if (has[0] && g->n4 > 0)
			run_add(rb, b, ports, peer);
		if (has[1] && g->n6 > 0)
			run_add(rb, NBUCKETS + b, ports, peer);
	}
}

/* Sorts the runs and drops repeats; returns how many ranges they hold,
 * about the number of elements they fold into. */
static size_t runs_sort(const struct policy *p, struct run_buf *rb)
{
	const struct policy_group *g;
	size_t i, k, n = 0;

	u64s_sort(rb->key, rb->n);
	for (i = 0, k = 0; i < rb->n; i++) {
		if (k > 0 && rb->key[k - 1] == rb->key[i])
			continue;
		rb->key[k++] = rb->key[i];
		g = &p->groups[RUN_GROUP(rb->key[i])];
		n += (size_t)(RUN_BUCKET(rb->key[i]) < NBUCKETS ? g->n4 : g->n6);
	}
	rb->n = k;
	return n;
}

/* Every bucket of one direction folded, in the order that folding gives:
 * IPv4, then IPv6; TCP, UDP, ICMP; by port range, then by address. The runs
 * are sorted; hint is the room to start with. */
static struct policy_elem *runs_fold_all(const struct policy *p, enum policy_dir dir,
					 const struct run_buf *rb, size_t hint,
					 struct fold_scratch *fs, struct policy_sets *sets,
					 size_t *n)
{
	struct elem_buf eb = {NULL, 0, 0};
	struct fold_out out = {dir, 0, 0, &eb, sets};
	struct policy_elem *e;
	size_t i, j;

	eb.cap = hint > 0 ? hint : 1;
	eb.e = xcalloc(eb.cap, sizeof(*eb.e));
	for (i = 0; i < rb->n; i = j) {
		uint32_t b = RUN_BUCKET(rb->key[i]);

		for (j = i + 1; j < rb->n && RUN_BUCKET(rb->key[j]) == b; j++)
			;
		out.family = b < NBUCKETS ? AF_INET : AF_INET6;
		out.proto = bucket_proto((int)(b % NBUCKETS), out.family);
		runs_fold(p, rb->key + i, j - i, fs, &out);
	}
	*n = eb.n;
	/* give back what the hint left over */
	e = eb.n > 0 ? realloc(eb.e, eb.n * sizeof(*eb.e)) : NULL;
	return e != NULL ? e : eb.e;
}

struct host_policy *policy_host_compile(const struct policy *p, const char *host)
{
	struct run_buf in = {NULL, 0, 0}, out = {NULL, 0, 0};
	struct fold_scratch fs;
	struct policy_sets sets;
	const struct policy_group *g;
	const struct policy_rule *r;
	const struct inv_host *h;
	struct host_policy *hp;
	int has[2] = {0, 0};
	size_t nin, nout;
	int hi, i, j;

	if (host == NULL || (hi = conf_index_get(&p->host_ix, host, strlen(host))) < 0)
		return NULL;
	if (p->ngroups >= 1 << RUN_GROUP_BITS)
		fatal("%d groups do not fit a run's key", p->ngroups);
	h = &p->inv.hosts[hi];
	hp = xcalloc(1, sizeof(*hp));
	hp->host = xstrdup(host);
	/* a family the host has no address in gets no elements */
	for (i = 0; i < h->naddrs; i++)
		has[h->addrs[i].family == AF_INET ? 0 : 1] = 1;
	/* the rules that name a group the host is in, and the shortest
	 * dead-man time of those groups */
	for (i = 0; i < p->ngroups; i++) {
		g = &p->groups[i];
		if (g->members == NULL || !POLICY_BIT_TEST(g->members, hi))
			continue;
		for (j = 0; j < g->nrules_to; j++) {
			r = &p->rules[g->rules_to[j]];
			rule_runs_add(p, r, r->from.idx, has, &in);
		}
		for (j = 0; j < g->nrules_from; j++) {
			r = &p->rules[g->rules_from[j]];
			rule_runs_add(p, r, r->to.idx, has, &out);
		}
		if (g->deadman_s && (!hp->deadman_s || g->deadman_s < hp->deadman_s))
			hp->deadman_s = g->deadman_s;
	}

	nin = runs_sort(p, &in);
	nout = runs_sort(p, &out);
	memset(&fs, 0, sizeof(fs));
	/* a typical element's length */
	policy_sets_start(&sets, hp, (nin + nout) * 40);
	hp->in = runs_fold_all(p, POLICY_IN, &in, nin, &fs, &sets, &hp->nin);
	hp->out = runs_fold_all(p, POLICY_OUT, &out, nout, &fs, &sets, &hp->nout);
	fold_scratch_free(&fs);
	free(in.key);
	free(out.key);
	memcpy(hp->controllers, p->controllers, sizeof(hp->controllers));
	hp->ncontrollers = p->ncontrollers;
	hp->port = p->port;
	memcpy(hp->collectors, p->collectors, sizeof(hp->collectors));
	hp->ncollectors = p->ncollectors;
	hp->text = policy_sets_text(hp, &sets, &hp->textlen);
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
