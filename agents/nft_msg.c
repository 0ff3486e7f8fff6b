/* One batch message per table, chain or rule, and the expressions rules are
 * made of, in the shapes nft emits so that `nft list` decodes them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

#include "bulkhead/log.h"
#include "nft_int.h"

/* "filter": after conntrack (-200), so that `ct state established` sees replies
 * the host sends; an accept elsewhere cannot undo our drop whatever the order. */
#define NFT_PRIO_BASE 0

const char *nft_family_name(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_NETDEV: return "netdev";
	case NFPROTO_BRIDGE: return "bridge";
	default: return "?";
	}
}

/* --- expressions --- */

/* A new expression, appended to r, which owns it; set its attributes next. */
struct nftnl_expr *nft_expr_add(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nft_alloc_check(nftnl_expr_alloc(name));

	nftnl_rule_add_expr(r, e);
	return e;
}

void nft_expr_meta_add(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nft_expr_add(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

void nft_expr_payload_add(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
			  uint32_t dreg)
{
	struct nftnl_expr *e = nft_expr_add(r, "payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

void nft_expr_cmp_eq_add(struct nftnl_rule *r, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nft_expr_add(r, "cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void nft_expr_counter_add(struct nftnl_rule *r)
{
	nft_expr_add(r, "counter");
}

/* chain is the jump target, NULL for accept and drop. */
void nft_expr_verdict_add(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = nft_expr_add(r, "immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

void nft_expr_lookup_add(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nft_expr_add(r, "lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
}

/* --- matches --- */

/* `meta nfproto ipv4`: nft's implicit dependency of `ip saddr` in inet. */
static void nft_match_nfproto(struct nftnl_rule *r, uint8_t nfproto)
{
	nft_expr_meta_add(r, NFT_META_NFPROTO, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &nfproto, sizeof(nfproto));
}

void nft_match_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	nft_expr_meta_add(r, NFT_META_L4PROTO, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &proto, sizeof(proto));
}

/* `iif "lo"` / `oif "lo"`. */
void nft_match_ifindex(struct nftnl_rule *r, uint32_t key, uint32_t ifindex)
{
	nft_expr_meta_add(r, key, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &ifindex, sizeof(ifindex));
}

/* `meta nfproto ipv4; ip saddr` and the like, into reg 1: what `ip saddr`
 * (or `ip6 daddr`...) loads before it compares or looks up. */
void nft_load_addr(struct nftnl_rule *r, int family, enum nft_dir dir)
{
	bool v4 = family == AF_INET, src = dir == NFT_DIR_SRC;

	nft_match_nfproto(r, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
	nft_expr_payload_add(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? (src ? 12 : 16) : (src ? 8 : 24),
			     v4 ? 4 : 16, NFT_REG_1);
}

/* `ip saddr A` / `ip6 daddr A` and so on. */
void nft_match_addr(struct nftnl_rule *r, const struct conf_addr *a, enum nft_dir dir)
{
	nft_load_addr(r, a->family, dir);
	nft_expr_cmp_eq_add(r, &a->a, a->family == AF_INET ? 4 : 16);
}

/* `tcp sport P` / `tcp dport P`. */
void nft_match_tcp_port(struct nftnl_rule *r, uint16_t port, enum nft_dir dir)
{
	uint16_t be = htons(port);

	nft_match_l4proto(r, IPPROTO_TCP);
	nft_expr_payload_add(r, NFT_PAYLOAD_TRANSPORT_HEADER, dir == NFT_DIR_SRC ? 0 : 2,
			     sizeof(be), NFT_REG_1);
	nft_expr_cmp_eq_add(r, &be, sizeof(be));
}

/* `icmpv6 type T`. */
void nft_match_icmpv6_type(struct nftnl_rule *r, uint8_t type)
{
	nft_match_nfproto(r, NFPROTO_IPV6);
	nft_match_l4proto(r, IPPROTO_ICMPV6);
	nft_expr_payload_add(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, sizeof(type), NFT_REG_1);
	nft_expr_cmp_eq_add(r, &type, sizeof(type));
}

/* --- tables and chains --- */

/* op is NFT_OP_ENSURE, NFT_OP_ADD or NFT_OP_DELETE. */
static int nft_table_put(struct agent_nft *n, enum nft_obj_op op)
{
	static const char *const verbs[] = {
	    [NFT_OP_ENSURE] = "ensure", [NFT_OP_ADD] = "add", [NFT_OP_DELETE] = "delete"};
	struct nftnl_table *t = nft_alloc_check(nftnl_table_alloc());
	struct nlmsghdr *nlh;

	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, n->family);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	/* Owned: only this socket may change the table. Persist: it stays in
	 * force when the agent exits, and the next agent adopts it. */
	if (op != NFT_OP_DELETE && n->owner && !(n->adopt_plain && op == NFT_OP_ENSURE))
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	nlh = nft_batch_msg_start(n, NFT_OBJ_TABLE, op, NFT_NO_HOOK, "%s table %s %s", verbs[op],
				  nft_family_name(n->family), NFT_TABLE_NAME);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return nft_batch_msg_end(n);
}

/* Ensure, delete, and add again when `add`: the delete cannot fail for lack
 * of a table, and the old table goes in the same transaction that builds
 * the new one. */
int nft_table_replace_put(struct agent_nft *n, bool add)
{
	int ret = nft_table_put(n, NFT_OP_ENSURE);

	if (ret == 0)
		ret = nft_table_put(n, NFT_OP_DELETE);
	if (ret == 0 && add)
		ret = nft_table_put(n, NFT_OP_ADD);
	return ret;
}

/* hook < 0 makes a regular chain; devs (NULL-terminated) binds a netdev
 * base chain to those links. */
int nft_chain_devs_put(struct agent_nft *n, const char *name, int hook, const char **devs)
{
	struct nftnl_chain *c = nft_alloc_check(nftnl_chain_alloc());
	struct nlmsghdr *nlh;

	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, n->family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (hook >= 0) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, NFT_PRIO_BASE);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	if (devs)
		nftnl_chain_set_array(c, NFTNL_CHAIN_DEVICES, devs);
	nlh = nft_batch_msg_start(n, NFT_OBJ_CHAIN, NFT_OP_ADD, hook < 0 ? NFT_NO_HOOK : hook,
				  "add chain %s %s", name,
				  n->family == NFPROTO_INET ? "" : nft_family_name(n->family));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nft_batch_msg_end(n);
}

int nft_chain_put(struct agent_nft *n, const char *name, int hook)
{
	return nft_chain_devs_put(n, name, hook, NULL);
}

/* Without a handle, DELRULE removes every rule of the chain. table is
 * another table of the current family, or NULL for ours. */
static int nft_rules_flush_put(struct agent_nft *n, const char *table, const char *chain)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	struct nlmsghdr *nlh;

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, n->family);
	if (table) {
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
		nlh = nft_batch_msg_start(n, NFT_OBJ_RULE, NFT_OP_FLUSH, NFT_NO_HOOK,
					  "flush chain %s %s", table, chain);
	} else {
		nlh = nft_batch_msg_start(n, NFT_OBJ_RULE, NFT_OP_FLUSH, NFT_NO_HOOK,
					  "flush chain %s", chain);
	}
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nft_batch_msg_end(n);
}

int nft_chain_flush_put(struct agent_nft *n, const char *chain)
{
	return nft_rules_flush_put(n, NULL, chain);
}

/* --- rules --- */

/* For the inet table; nft_rule_put sends it for the current family. */
struct nftnl_rule *nft_rule_new(const char *chain)
{
	struct nftnl_rule *r = nft_alloc_check(nftnl_rule_alloc());

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	return r;
}

/* Appends r to its chain; takes ownership of r. text is the rule as nft
 * prints it, for error reports. */
int nft_rule_put(struct agent_nft *n, struct nftnl_rule *r, const char *text)
{
	struct nlmsghdr *nlh;

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, n->family);
	nlh = nft_batch_msg_start(n, NFT_OBJ_RULE, NFT_OP_ADD, NFT_NO_HOOK,
				  "add rule '%s' to chain %s", text,
				  nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nft_batch_msg_end(n);
}

int nft_rule_drop_put(struct agent_nft *n, const char *chain)
{
	struct nftnl_rule *r = nft_rule_new(chain);

	nft_expr_counter_add(r);
	nft_expr_verdict_add(r, NF_DROP, NULL);
	return nft_rule_put(n, r, "counter drop");
}

int nft_rule_jump_put(struct agent_nft *n, const char *chain, const char *target)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	char text[NFT_DESC_LEN];

	nft_expr_verdict_add(r, NFT_JUMP, target);
	snprintf(text, sizeof(text), "jump %s", target);
	return nft_rule_put(n, r, text);
}

/* --- other tables' chains --- */

/* A base chain someone else hooked in beside ours: flush it, then delete it. */
int nft_foreign_chain_remove(struct agent_nft *n, int family, const char *table, const char *chain)
{
	struct nftnl_chain *c = nft_alloc_check(nftnl_chain_alloc());
	struct nlmsghdr *nlh;
	int ret;

	nft_batch_start(n, 0);
	n->family = (uint8_t)family;
	ret = nft_rules_flush_put(n, table, chain);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nlh = nft_batch_msg_start(n, NFT_OBJ_CHAIN, NFT_OP_DELETE, NFT_NO_HOOK,
				  "delete chain %s %s", table, chain);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	n->family = NFPROTO_INET;
	if (ret == 0)
		ret = nft_batch_msg_end(n);
	if (ret < 0) {
		nft_batch_abort(n);
		return ret;
	}
	ret = nft_batch_commit(n);
	if (ret < 0)
		log_err("nft: %s: %s", nft_batch_err_desc(&n->batch), strerror(-ret));
	return ret;
}
