/* The site model that lib/policy*.c share: what policy_parse.c builds,
 * policy_compile.c resolves, policy_host.c turns into host policies,
 * policy_render.c prints and policy_explain.c queries. Private to lib/. */
#ifndef BULKHEAD_POLICY_INT_H
#define BULKHEAD_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead/policy.h"
#include "bulkhead/diag.h"
#include "yamlutil.h"

/* The files of a policy directory, in the order they are read and their
 * messages are sorted. */
enum policy_file { PF_INVENTORY, PF_GROUPS, PF_SERVICES, PF_RULES, PF_MANAGEMENT, PF_COUNT };

/* A place in a file: 1-based; line 0 is the file as a whole. */
struct policy_pos {
	uint32_t line, col;
};

/* A name as written, where it was written, and what it resolved to. */
struct policy_ref {
	char *name;
	struct policy_pos at;
	int idx; /* -1 until resolved */
};

/* An address as a 128-bit number, IPv4 in the low 32 bits, so that ranges
 * compare and step as integers. */
struct policy_addr {
	uint64_t hi, lo;
};

/* An address range of one family. */
struct policy_range {
	struct policy_addr lo, hi;
};

static inline int policy_addr_cmp(const struct policy_addr *a, const struct policy_addr *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return (a->lo > b->lo) - (a->lo < b->lo);
}

/* Whether a range starting at lo continues one ending at hi: it overlaps it
 * or starts right after it. Past the last address nothing starts, so the
 * wrap of hi + 1 cannot match. */
static inline int policy_addr_touches(const struct policy_addr *hi, const struct policy_addr *lo)
{
	struct policy_addr next = {hi->hi + (hi->lo == UINT64_MAX), hi->lo + 1};

	return policy_addr_cmp(lo, hi) <= 0 || (lo->hi == next.hi && lo->lo == next.lo);
}

static inline int policy_range_less(const struct policy_range *x, const struct policy_range *y)
{
	int c = policy_addr_cmp(&x->lo, &y->lo);

	return c != 0 ? c < 0 : policy_addr_cmp(&x->hi, &y->hi) < 0;
}

/* A range as a set element prints it: len bytes at s; s is NULL for a
 * range not printed yet. */
struct policy_range_text {
	const char *s;
	uint32_t len;
};

/* One protocol and port range of a service. ICMP (echo request) has ports 0. */
struct policy_port {
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP for both families */
	uint16_t lo, hi;
};

enum policy_group_kind { GROUP_NONE, GROUP_MATCH, GROUP_HOSTS, GROUP_GROUPS, GROUP_NETWORKS };

struct policy_net {
	uint8_t family;
	struct policy_range r;
	struct policy_pos at;
};

struct policy_group {
	char *name;
	struct policy_pos at; /* the name */
	enum policy_group_kind kind;
	struct inv_label *match; /* GROUP_MATCH: every label must be equal */
	int nmatch;
	struct policy_ref *refs; /* GROUP_HOSTS, GROUP_GROUPS */
	int nrefs;
	struct policy_net *nets; /* GROUP_NETWORKS */
	int nnets;
	uint32_t deadman_s; /* on_controller_loss: isolate-after, 0 for none */

	/* resolved */
	int state;	   /* 0 not yet, 1 being resolved (a cycle if met again), 2 done */
	uint64_t *members; /* bitset over inventory entries */
	int nmembers;
	/* the members' addresses and the networks, merged */
	struct policy_range *r4, *r6;
	int n4, n6;
	/* the networks alone, merged, for addresses outside the inventory */
	struct policy_range *x4, *x6;
	int nx4, nx6;
	/* r4 and r6 as set elements print them, into text4 and text6 */
	struct policy_range_text *t4, *t6;
	char *text4, *text6;
	/* the rules in force that name the group as from, and as to */
	int *rules_from, *rules_to;
	int nrules_from, nrules_to;
};

struct policy_service {
	char *name;
	struct policy_pos at;
	struct policy_port *ports;
	int nports;
};

struct policy_rule {
	struct policy_pos at; /* the rule's mapping: what messages and explain cite */
	struct policy_ref from, to;
	struct policy_ref *services;
	int nservices;
	char *comment;
	long expires; /* days since 1970-01-01, the last day in force; -1: never */
	struct policy_pos expires_at;
	int expired;
	/* the services' ports, sorted and merged */
	struct policy_port *ports;
	int nports;
};

struct policy {
	char *path[PF_COUNT]; /* as messages show them */
	int loaded[PF_COUNT]; /* the file's document was read */
	long today;

	struct inventory inv; /* hosts, then switches, in file order */
	struct inv_switches sw;
	uint8_t *is_switch;
	struct conf_index host_ix;
	size_t nwords; /* of a membership bitset */

	struct policy_group *groups;
	int ngroups;
	struct conf_index group_ix;

	struct policy_service *services;
	int nservices;
	struct conf_index service_ix;

	struct policy_rule *rules;
	int nrules;

	struct conf_addr controllers[CONF_MAX_ADDRS];
	int ncontrollers;
	uint16_t port;
	struct conf_addr collectors[CONF_MAX_ADDRS];
	int ncollectors;

	struct diag_list diags; /* its files are enum policy_file */
};

/* qsort copies elements through memcpy and compares through a pointer; the
 * compiler does better with both inlined, and every host sorts its runs and
 * port breakpoints. A quicksort (Hoare partition, median of three) that leaves short
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

#define POLICY_BIT_TEST(set, i) (((set)[(size_t)(i) >> 6] >> ((unsigned)(i)&63)) & 1)

/* policy_parse.c */
/* As policy_load_at, with the rules read from rules_file (a restricted
 * policy: rules.yaml's format, the site's groups and services) instead of
 * dir/rules.yaml. Its messages are moved to the end of diags, of its
 * warnings only those about rules_file. */
struct policy *policy_load_rules(const char *dir, const char *rules_file, long today,
				 struct diag_list *diags);
/* dir/name, or name alone when dir is the current directory: the way
 * messages name a policy's files. */
char *policy_path_join(const char *dir, const char *name);

/* policy_names.c */
/* Resolves every name the files use, reporting those that name nothing. */
void policy_names_resolve(struct policy *p);

/* policy_compile.c */
void policy_groups_resolve(struct policy *p);
/* Sorts r and folds overlapping and adjacent ranges; returns the new count. */
size_t policy_ranges_merge(struct policy_range *r, size_t n);
int policy_ranges_find(const struct policy_range *r, int n, const struct policy_addr *a);
int policy_addr_len(int family);
/* From and to network byte order (the family's length of bytes). */
struct policy_addr policy_addr_load(int family, const void *bytes);
void policy_addr_store(int family, const struct policy_addr *a, uint8_t *bytes);

/* policy_render.c */
void policy_sha256_hex(const void *data, size_t len, char out[65]);

struct policy_text {
	char *buf;
	size_t len, cap;
};

/* A host policy's text as the compiler makes it: the allow_ sets in the
 * order the text lists them (allow_in4, allow_in6, allow_out4, allow_out6),
 * written straight into the text; the ping_ sets aside until the end. */
#define POLICY_NSETS 8
struct policy_sets {
	struct policy_text text;
	int open;    /* the allow_ set being written; 4 once all are closed */
	size_t body; /* where its elements start in text */
	struct policy_text ping[4];
};

/* Prints each of the n ranges as a set element shows its addresses, into
 * one buffer that *text gets; t[i] points into it. */
void policy_ranges_print(int family, const struct policy_range *r, size_t n, char **text,
			 struct policy_range_text *t);
/* Starts the text of hp, whose deadman_s is set already; hint: about the
 * length of its elements. */
void policy_sets_start(struct policy_sets *s, const struct host_policy *hp, size_t hint);
/* Appends n elements of one protocol and port range to their set: the
 * ranges r, with t[i] printed already unless t or t[i].s is NULL. An
 * allow_ set's elements come before those of the allow_ sets after it. */
void policy_sets_add(struct policy_sets *s, enum policy_dir dir, int family, uint8_t proto,
		     uint16_t plo, uint16_t phi, const struct policy_range *r,
		     const struct policy_range_text *t, size_t n);
/* The host policy's whole text around the sets, which it frees. */
char *policy_sets_text(const struct host_policy *hp, struct policy_sets *s, size_t *len);

/* policy_check.c */
void policy_warnings_find(struct policy *p);

#endif
