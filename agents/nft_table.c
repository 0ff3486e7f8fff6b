/* Table inet bulkhead: the base chains, the isolate_* and policy_* chains,
 * the policy sets and their elements; installed as one transaction, and put
 * into a mode by another, tiny one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "nft_int.h"

/* The loopback device is ifindex 1 in every network namespace. */
#define NFT_LOOPBACK_IFINDEX 1

/* A base chain and the two chains it jumps to. peer: the end of a packet
 * that is the other host's; forwarded packets have no management channel,
 * and their chains only drop. */
static const struct nft_chain_def {
	const char *base, *isolate, *policy;
	uint32_t hook;
	enum nft_dir peer;
} nft_chains[] = {
    {"input", "isolate_in", "policy_in", NF_INET_LOCAL_IN, NFT_DIR_SRC},
    {"output", "isolate_out", "policy_out", NF_INET_LOCAL_OUT, NFT_DIR_DST},
    {"forward", "isolate_fwd", "policy_fwd", NF_INET_FORWARD, NFT_DIR_SRC},
};

/* The policy sets, in the order `bulkhead render` prints them. */
enum nft_set_kind { NFT_SET_ALLOW, NFT_SET_PING };
static const struct nft_set_def {
	const char *name;
	enum nft_set_kind kind;
	enum policy_dir dir;
	uint8_t family;
} nft_sets[] = {
    {"allow_in4", NFT_SET_ALLOW, POLICY_IN, AF_INET},
    {"allow_in6", NFT_SET_ALLOW, POLICY_IN, AF_INET6},
    {"allow_out4", NFT_SET_ALLOW, POLICY_OUT, AF_INET},
    {"allow_out6", NFT_SET_ALLOW, POLICY_OUT, AF_INET6},
    {"ping_in4", NFT_SET_PING, POLICY_IN, AF_INET},
    {"ping_in6", NFT_SET_PING, POLICY_IN, AF_INET6},
    {"ping_out4", NFT_SET_PING, POLICY_OUT, AF_INET},
    {"ping_out6", NFT_SET_PING, POLICY_OUT, AF_INET6},
};
#define NFT_NSETS (sizeof(nft_sets) / sizeof(nft_sets[0]))
#define NFT_ELEMS_PER_MSG 512

/* nft's datatype numbers, for the set key types it shows in listings. */
#define NFT_DTYPE_IPV4 7
#define NFT_DTYPE_IPV6 8
#define NFT_DTYPE_PROTO 12
#define NFT_DTYPE_SERVICE 13
#define NFT_DTYPE_BITS 6
#define NFT_BYTEORDER_BIG 2 /* nft's BYTEORDER_BIG_ENDIAN, kept in set userdata */
#define NFT_NCHAINS (sizeof(nft_chains) / sizeof(nft_chains[0]))

const char *nft_set_name(size_t set)
{
	return set < NFT_NSETS ? nft_sets[set].name : NULL;
}

/* --- what every mode keeps open --- */

static int nft_rule_lo_put(struct agent_nft *n, const char *chain, enum nft_dir dir)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	bool in = dir == NFT_DIR_SRC;

	nft_match_ifindex(r, in ? NFT_META_IIF : NFT_META_OIF, NFT_LOOPBACK_IFINDEX);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	return nft_rule_put(n, r, in ? "iif \"lo\" accept" : "oif \"lo\" accept");
}

/* The management session: the controller's address on one side, its port
 * on the same side. */
static int nft_rule_mgmt_put(struct agent_nft *n, const char *chain, const struct conf_addr *a,
			     uint16_t port, enum nft_dir dir)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	const char *end = dir == NFT_DIR_SRC ? "s" : "d";
	char text[NFT_DESC_LEN];

	nft_match_addr(r, a, dir);
	nft_match_tcp_port(r, port, dir);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	snprintf(text, sizeof(text), "%s %saddr %s tcp %sport %u accept",
		 a->family == AF_INET ? "ip" : "ip6", end, a->text, end, port);
	return nft_rule_put(n, r, text);
}

/* Without neighbour discovery an IPv6 controller becomes unreachable. */
static int nft_rule_nd_put(struct agent_nft *n, const char *chain, uint8_t type)
{
	struct nftnl_rule *r = nft_rule_new(chain);

	nft_match_icmpv6_type(r, type);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	return nft_rule_put(n, r,
			    type == ND_NEIGHBOR_SOLICIT ? "icmpv6 type nd-neighbor-solicit accept"
							: "icmpv6 type nd-neighbor-advert accept");
}

/* A forensic collector: reachable whatever the mode. */
static int nft_rule_collector_put(struct agent_nft *n, const char *chain, const struct conf_addr *a,
				  enum nft_dir dir)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	char text[NFT_DESC_LEN];

	nft_match_addr(r, a, dir);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	snprintf(text, sizeof(text), "%s %saddr %s accept", a->family == AF_INET ? "ip" : "ip6",
		 dir == NFT_DIR_SRC ? "s" : "d", a->text);
	return nft_rule_put(n, r, text);
}

/* What every mode keeps open: loopback, the management session, the
 * forensic collectors, and IPv6 neighbour discovery. */
static int nft_mgmt_rules_put(struct agent_nft *n, const char *chain, const struct nft_mgmt *mgmt,
			      const struct host_policy *hp, enum nft_dir dir)
{
	int i, ret;

	ret = nft_rule_lo_put(n, chain, dir);
	for (i = 0; ret == 0 && i < mgmt->ncontrollers; i++)
		ret = nft_rule_mgmt_put(n, chain, &mgmt->controllers[i], mgmt->port, dir);
	/* The same session seen from the controller's own host: agents connect
	 * to it. Elsewhere these never match. */
	for (i = 0; ret == 0 && i < mgmt->ncontrollers; i++)
		ret = nft_rule_mgmt_put(n, chain, &mgmt->controllers[i], mgmt->port,
					dir == NFT_DIR_SRC ? NFT_DIR_DST : NFT_DIR_SRC);
	for (i = 0; ret == 0 && hp && i < hp->ncollectors; i++)
		ret = nft_rule_collector_put(n, chain, &hp->collectors[i], dir);
	if (ret == 0)
		ret = nft_rule_nd_put(n, chain, ND_NEIGHBOR_SOLICIT);
	if (ret == 0)
		ret = nft_rule_nd_put(n, chain, ND_NEIGHBOR_ADVERT);
	return ret;
}

/* isolate_in / isolate_out: only what every mode keeps open, then drop;
 * isolate_fwd only drops. */
static int nft_isolate_chain_put(struct agent_nft *n, const struct nft_chain_def *c,
				 const struct nft_mgmt *mgmt, const struct host_policy *hp)
{
	int ret = 0;

	if (c->hook != NF_INET_FORWARD)
		ret = nft_mgmt_rules_put(n, c->isolate, mgmt, hp, c->peer);
	if (ret == 0)
		ret = nft_rule_drop_put(n, c->isolate);
	return ret;
}

/* --- the policy: sets behind a fixed rule skeleton --- */

/* `ct state established,related accept` */
static int nft_rule_ct_put(struct agent_nft *n, const char *chain)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	struct nftnl_expr *e = nft_expr_add(r, "ct");
	uint32_t mask = (1u << 1) | (1u << 2), zero = 0; /* NF_CT_STATE_BIT(ESTABLISHED|RELATED) */

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	e = nft_expr_add(r, "bitwise");
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	e = nft_expr_add(r, "cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &zero, sizeof(zero));
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	return nft_rule_put(n, r, "ct state established,related accept");
}

/* `ip saddr . meta l4proto . th dport @allow_in4 accept`: the components go
 * into consecutive 32-bit registers from reg 1, as nft places them. */
static int nft_rule_allow_put(struct agent_nft *n, const char *chain, size_t set)
{
	const struct nft_set_def *d = &nft_sets[set];
	struct nftnl_rule *r = nft_rule_new(chain);
	bool v4 = d->family == AF_INET, src = d->dir == POLICY_IN;
	uint32_t alen = v4 ? 4 : 16, reg = NFT_REG32_00 + alen / 4;
	char text[NFT_DESC_LEN];

	nft_load_addr(r, d->family, src ? NFT_DIR_SRC : NFT_DIR_DST);
	nft_expr_meta_add(r, NFT_META_L4PROTO, reg);
	nft_expr_payload_add(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg + 1);
	nft_expr_lookup_add(r, d->name, (uint32_t)set + 1);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	snprintf(text, sizeof(text), "%s %saddr . meta l4proto . th dport @%s accept",
		 v4 ? "ip" : "ip6", src ? "s" : "d", d->name);
	return nft_rule_put(n, r, text);
}

/* `ip saddr @ping_in4 icmp type echo-request accept` */
static int nft_rule_ping_put(struct agent_nft *n, const char *chain, size_t set)
{
	const struct nft_set_def *d = &nft_sets[set];
	struct nftnl_rule *r = nft_rule_new(chain);
	bool v4 = d->family == AF_INET, src = d->dir == POLICY_IN;
	uint8_t proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, type = v4 ? 8 : 128;
	char text[NFT_DESC_LEN];

	nft_load_addr(r, d->family, src ? NFT_DIR_SRC : NFT_DIR_DST);
	nft_expr_lookup_add(r, d->name, (uint32_t)set + 1);
	nft_match_l4proto(r, proto);
	nft_expr_payload_add(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &type, 1);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	snprintf(text, sizeof(text), "%s %saddr @%s %s type echo-request accept", v4 ? "ip" : "ip6",
		 src ? "s" : "d", d->name, v4 ? "icmp" : "icmpv6");
	return nft_rule_put(n, r, text);
}

/* policy_in / policy_out: what every mode keeps open, established flows,
 * the four set lookups of the direction, then drop; policy_fwd only drops. */
static int nft_policy_chain_put(struct agent_nft *n, const struct nft_chain_def *c,
				const struct nft_mgmt *mgmt, const struct host_policy *hp)
{
	enum policy_dir pdir = c->peer == NFT_DIR_SRC ? POLICY_IN : POLICY_OUT;
	const char *chain = c->policy;
	int ret;

	if (c->hook == NF_INET_FORWARD)
		return nft_rule_drop_put(n, chain);
	ret = nft_mgmt_rules_put(n, chain, mgmt, hp, c->peer);
	if (ret == 0)
		ret = nft_rule_ct_put(n, chain);
	for (size_t i = 0; ret == 0 && i < NFT_NSETS; i++)
		if (nft_sets[i].dir == pdir && nft_sets[i].kind == NFT_SET_ALLOW)
			ret = nft_rule_allow_put(n, chain, i);
	for (size_t i = 0; ret == 0 && i < NFT_NSETS; i++)
		if (nft_sets[i].dir == pdir && nft_sets[i].kind == NFT_SET_PING)
			ret = nft_rule_ping_put(n, chain, i);
	if (ret == 0)
		ret = nft_rule_drop_put(n, chain);
	return ret;
}

static bool nft_elem_in_set(const struct policy_elem *e, const struct nft_set_def *d)
{
	bool ping = e->proto == IPPROTO_ICMP || e->proto == IPPROTO_ICMPV6;

	return e->family == d->family && ping == (d->kind == NFT_SET_PING);
}

/* --- the policy sets and their elements --- */

/* A set of our table, named for nft_sets[set]; the ID lets rules of the
 * same batch look it up before it exists. */
static struct nftnl_set *nft_set_new(size_t set)
{
	struct nftnl_set *s = nft_alloc_check(nftnl_set_alloc());

	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, nft_sets[set].name);
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)set + 1);
	return s;
}

static int nft_set_put(struct agent_nft *n, size_t set)
{
	const struct nft_set_def *d = &nft_sets[set];
	struct nftnl_set *s = nft_set_new(set);
	struct nftnl_udata_buf *ud = nft_alloc_check(nftnl_udata_buf_alloc(64));
	bool v4 = d->family == AF_INET;
	uint32_t addr_type = v4 ? NFT_DTYPE_IPV4 : NFT_DTYPE_IPV6;
	struct nlmsghdr *nlh;

	if (d->kind == NFT_SET_ALLOW) {
		/* address . protocol . port: an interval in every field (pipapo) */
		uint8_t fields[3] = {v4 ? 4 : 16, 1, 2};

		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONCAT);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  (addr_type << (2 * NFT_DTYPE_BITS)) |
				      (NFT_DTYPE_PROTO << NFT_DTYPE_BITS) | NFT_DTYPE_SERVICE);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (v4 ? 4 : 16) + 4 + 4);
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields));
	} else {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, addr_type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v4 ? 4 : 16);
	}
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	nlh = nft_batch_msg_start(n, NFT_OBJ_SET, NFT_OP_ADD, NFT_NO_HOOK, "add set %s", d->name);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	nftnl_udata_buf_free(ud);
	return nft_batch_msg_end(n);
}

/* One concatenation key: each field padded to 32 bits, as registers hold them. */
static uint32_t nft_allow_key(const struct policy_elem *e, const uint8_t *addr, uint16_t port,
			      uint8_t *key)
{
	uint32_t alen = e->family == AF_INET ? 4 : 16;
	uint16_t be = htons(port);

	memset(key, 0, 24);
	memcpy(key, addr, alen);
	key[alen] = e->proto;
	memcpy(key + alen + 4, &be, 2);
	return alen + 8;
}

/* The first address after a range, for an rbtree interval's end; false when
 * the range runs to the top of the address space. */
static bool nft_addr_next(const uint8_t *addr, uint32_t len, uint8_t *next)
{
	memcpy(next, addr, len);
	for (int i = (int)len - 1; i >= 0; i--)
		if (++next[i] != 0)
			return true;
	return false;
}

static void nft_elem_add(struct nftnl_set *s, const void *key, uint32_t klen, const void *end,
			 uint32_t flags)
{
	struct nftnl_set_elem *el = nft_alloc_check(nftnl_set_elem_alloc());

	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, klen);
	if (end)
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, end, klen);
	if (flags)
		nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, flags);
	nftnl_set_elem_add(s, el);
}

static int nft_elems_flush(struct agent_nft *n, struct nftnl_set **s, const char *name, int *count)
{
	struct nlmsghdr *nlh;
	int ret;

	if (!*s)
		return 0;
	nlh = nft_batch_msg_start(n, NFT_OBJ_SETELEM, NFT_OP_ADD, NFT_NO_HOOK,
				  "add %d elements to set %s", *count, name);
	nftnl_set_elems_nlmsg_build_payload(nlh, *s);
	ret = nft_batch_msg_end(n);
	nftnl_set_free(*s);
	*s = NULL;
	*count = 0;
	return ret;
}

/* Elements go in messages of NFT_ELEMS_PER_MSG, all in the same batch, in
 * the host policy's order, which is the order `bulkhead render` prints and
 * nft -f would add them in: the kernel then lists both alike. */
static int nft_set_elems_put(struct agent_nft *n, size_t set, const struct host_policy *hp)
{
	const struct nft_set_def *d = &nft_sets[set];
	const struct policy_elem *elems = d->dir == POLICY_IN ? hp->in : hp->out;
	size_t nelems = d->dir == POLICY_IN ? hp->nin : hp->nout;
	struct nftnl_set *s = NULL;
	int count = 0, ret = 0;

	for (size_t i = 0; ret == 0 && i < nelems; i++) {
		const struct policy_elem *e = &elems[i];
		uint32_t alen = e->family == AF_INET ? 4 : 16;
		uint8_t key[24], end[24], next[16];

		if (!nft_elem_in_set(e, d))
			continue;
		if (!s)
			s = nft_set_new(set);
		if (d->kind == NFT_SET_ALLOW) {
			uint32_t klen = nft_allow_key(e, e->addr_lo, e->port_lo, key);

			nft_allow_key(e, e->addr_hi, e->port_hi, end);
			nft_elem_add(s, key, klen, end, 0);
			count++;
		} else {
			/* rbtree intervals: a start, and an end flag on the first address after. */
			nft_elem_add(s, e->addr_lo, alen, NULL, 0);
			if (nft_addr_next(e->addr_hi, alen, next))
				nft_elem_add(s, next, alen, NULL, NFT_SET_ELEM_INTERVAL_END);
			count += 2;
		}
		if (count >= NFT_ELEMS_PER_MSG)
			ret = nft_elems_flush(n, &s, d->name, &count);
	}
	if (ret == 0)
		ret = nft_elems_flush(n, &s, d->name, &count);
	if (s)
		nftnl_set_free(s);
	return ret;
}

/* --- the whole table, and its modes --- */

/* The base chains' contents for a mode: nothing when open, else a jump. */
static int nft_mode_rules_put(struct agent_nft *n, const struct nft_hooks *h, int mode)
{
	size_t i;
	int ret = 0;

	if (mode == MODE_OPEN)
		return 0;
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++) {
		if (h->no_forward && nft_chains[i].hook == NF_INET_FORWARD)
			continue;
		ret = nft_rule_jump_put(n, nft_chains[i].base,
					mode == MODE_ISOLATED ? nft_chains[i].isolate
							      : nft_chains[i].policy);
	}
	return ret;
}

static int nft_table_batch_build(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
				 const struct host_policy *hp)
{
	size_t i;
	int ret;

	/* The whole replacement commits atomically. */
	ret = nft_table_replace_put(n, true);
	for (i = 0; ret == 0 && i < NFT_NSETS; i++)
		ret = nft_set_put(n, i);
	for (i = 0; ret == 0 && hp && i < NFT_NSETS; i++)
		ret = nft_set_elems_put(n, i, hp);
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++)
		ret = nft_chain_put(n, nft_chains[i].base, (int)nft_chains[i].hook);
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++)
		ret = nft_chain_put(n, nft_chains[i].isolate, -1);
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++)
		ret = nft_chain_put(n, nft_chains[i].policy, -1);
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++)
		ret = nft_isolate_chain_put(n, &nft_chains[i], mgmt, hp);
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++)
		ret = nft_policy_chain_put(n, &nft_chains[i], mgmt, hp);
	if (ret == 0)
		ret = nft_mode_rules_put(n, &n->hooks, mode);
	if (ret == 0 && n->hooks_set)
		ret = nft_hooks_build(n, &n->hooks, mode);
	return ret;
}

static bool nft_mode_valid(int mode)
{
	return mode >= MODE_OPEN && mode <= MODE_MAX;
}

static int nft_table_install_once(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
				  const struct host_policy *hp)
{
	size_t nelems = hp ? hp->nin + hp->nout : 0;
	int ret;

	if (!nft_mode_valid(mode) || mgmt->ncontrollers < 0 ||
	    mgmt->ncontrollers > CONF_MAX_ADDRS) {
		log_err("nft: install: bad mode %d or %d controllers", mode, mgmt->ncontrollers);
		return -EINVAL;
	}
	/* About 100 bytes an element; two for a ping range. */
	nft_batch_start(n, NFT_BATCH_LIMIT + nelems * 128);
	ret = nft_table_batch_build(n, mgmt, mode, hp);
	if (ret < 0) {
		nft_batch_abort(n);
		log_err("nft: install: batch does not fit: %s", strerror(-ret));
		return ret;
	}
	ret = nft_batch_commit(n);
	/* EOPNOTSUPP with the owner flags is the caller's to handle (it retries). */
	if (ret == -EOPNOTSUPP && n->owner)
		log_debug("nft: install: %s: %s", nft_batch_err_desc(&n->batch), strerror(-ret));
	else if (ret < 0)
		log_err("nft: install: %s: %s", nft_batch_err_desc(&n->batch), strerror(-ret));
	else
		n->installed = n->hooks;
	return ret;
}

/* Did the last batch's first error come back for the netdev egress chain? */
static bool nft_err_netdev_egress(const struct agent_nft *n)
{
	const struct nft_obj_tag *t = nft_batch_err_tag(&n->batch);

	return t && t->kind == NFT_OBJ_CHAIN && t->op == NFT_OP_ADD &&
	       t->family == NFPROTO_NETDEV && t->hook == NF_NETDEV_EGRESS;
}

/* Or for the table message that only makes sure a table exists? */
static bool nft_err_table_ensure(const struct agent_nft *n)
{
	const struct nft_obj_tag *t = nft_batch_err_tag(&n->batch);

	return t && t->kind == NFT_OBJ_TABLE && t->op == NFT_OP_ENSURE;
}

int nft_table_install(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
		      const struct host_policy *hp)
{
	int ret = nft_table_install_once(n, mgmt, mode, hp);

	/* Netdev egress hooks came with kernel 5.16: without them, ingress only. */
	if (ret < 0 && nft_netdev_egress(n, &n->hooks) && nft_err_netdev_egress(n)) {
		log_warn("nft: this kernel has no netdev egress hook (%s); non-IP traffic is "
			 "dropped on ingress only",
			 strerror(-ret));
		n->no_egress = true;
		ret = nft_table_install_once(n, mgmt, mode, hp);
	}
	/* The kernel will not make an existing unowned table owned (one left by
	 * an agent run with --no-table-owner): take it as it is, delete it, and
	 * create it owned, all in the same transaction. */
	if (n->owner && ret == -EOPNOTSUPP && nft_err_table_ensure(n)) {
		n->adopt_plain = true;
		ret = nft_table_install_once(n, mgmt, mode, hp);
		n->adopt_plain = false;
	}
	/* A kernel without owned persistent tables refuses the flags (EOPNOTSUPP
	 * or EINVAL): fall back to an unowned table, watched for tampering. */
	if (n->owner && (ret == -EOPNOTSUPP || ret == -EINVAL)) {
		log_warn("nft: this kernel cannot own a persistent table (%s); the table is "
			 "not owned, tampering is detected and undone instead",
			 strerror(-ret));
		n->owner = false;
		ret = nft_table_install_once(n, mgmt, mode, hp);
	}
	return ret;
}

bool nft_table_owned(const struct agent_nft *n)
{
	return n->owner;
}

int nft_mode_apply(struct agent_nft *n, int mode, uint64_t *apply_us)
{
	uint64_t t0 = clock_mono_us();
	size_t i;
	int ret = 0;

	if (!nft_mode_valid(mode)) {
		log_err("nft: apply: bad mode %d", mode);
		return -EINVAL;
	}
	nft_batch_start(n, 0);
	for (i = 0; ret == 0 && i < NFT_NCHAINS; i++)
		ret = nft_chain_flush_put(n, nft_chains[i].base);
	if (ret == 0)
		ret = nft_mode_rules_put(n, &n->installed, mode);
	if (ret == 0)
		ret = nft_hooks_mode_rules_put(n, &n->installed, mode, true);
	if (ret < 0) {
		nft_batch_abort(n);
		log_err("nft: apply: batch does not fit: %s", strerror(-ret));
		return ret;
	}
	ret = nft_batch_commit(n);
	if (apply_us)
		*apply_us = clock_mono_us() - t0;
	/* A missing table or chain is the caller's to handle (it reinstalls). */
	if (ret == -ENOENT)
		log_debug("nft: apply %s: %s: %s", mode_name(mode), nft_batch_err_desc(&n->batch),
			  strerror(-ret));
	else if (ret < 0)
		log_err("nft: apply %s: %s: %s", mode_name(mode), nft_batch_err_desc(&n->batch),
			strerror(-ret));
	return ret;
}
