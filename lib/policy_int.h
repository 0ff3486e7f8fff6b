/* The site model that lib/policy*.c share: what policy_parse.c builds,
 * policy_compile.c turns into host policies, policy_render.c prints and
 * policy_explain.c queries. Private to lib/. */
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

/* policy_check.c */
void policy_warnings_find(struct policy *p);

#endif
