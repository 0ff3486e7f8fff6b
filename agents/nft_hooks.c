/* What a hardware profile adds beside table inet bulkhead: table netdev
 * bulkhead, which drops non-IP frames on the data links while isolated, and
 * table bridge bulkhead, which stops forwarding between bridge ports. */
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter/nf_tables.h>

#include "bulkhead/wire.h"
#include "nft_int.h"

/* What the netdev chains let through while isolated: IP, judged by table
 * inet bulkhead, and VLAN-tagged frames, judged again on their VLAN link. */
static const struct {
	uint16_t ethertype;
	const char *name;
} nft_netdev_pass[] = {
    {ETH_P_IP, "ip"}, {ETH_P_IPV6, "ip6"}, {ETH_P_8021Q, "8021q"}, {ETH_P_8021AD, "8021ad"}};

void nft_hooks_set(struct agent_nft *n, const struct nft_hooks *h)
{
	n->hooks = *h;
	n->hooks_set = true;
}

const struct nft_hooks *nft_hooks_installed(const struct agent_nft *n)
{
	return &n->installed;
}

bool nft_netdev_egress(const struct agent_nft *n, const struct nft_hooks *h)
{
	return h->netdev && h->ndevs > 0 && !n->no_egress;
}

/* `meta protocol P` */
static void nft_match_ethertype(struct nftnl_rule *r, uint16_t ethertype)
{
	uint16_t be = htons(ethertype);

	nft_expr_meta_add(r, NFT_META_PROTOCOL, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &be, sizeof(be));
}

/* isolate_ingress / isolate_egress. ARP to and from the controllers and the
 * gateways towards them passes: without it an isolated host could not
 * resolve its way to the controller over IPv4. ARP's sender address is at
 * offset 14 of its header, the target's at 24 (Ethernet, IPv4). */
static int nft_netdev_isolate_chain_put(struct agent_nft *n, const char *chain,
					const struct nft_hooks *h, bool ingress)
{
	char text[NFT_DESC_LEN];
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < sizeof(nft_netdev_pass) / sizeof(nft_netdev_pass[0]);
	     i++) {
		struct nftnl_rule *r = nft_rule_new(chain);

		nft_match_ethertype(r, nft_netdev_pass[i].ethertype);
		nft_expr_verdict_add(r, NF_ACCEPT, NULL);
		snprintf(text, sizeof(text), "meta protocol %s accept", nft_netdev_pass[i].name);
		ret = nft_rule_put(n, r, text);
	}
	for (int i = 0; ret == 0 && i < h->narp_peers; i++) {
		struct nftnl_rule *r;

		if (h->arp_peers[i].family != AF_INET)
			continue;
		r = nft_rule_new(chain);
		nft_match_ethertype(r, ETH_P_ARP);
		nft_expr_payload_add(r, NFT_PAYLOAD_NETWORK_HEADER, ingress ? 14 : 24, 4,
				     NFT_REG_1);
		nft_expr_cmp_eq_add(r, h->arp_peers[i].a.v4, 4);
		nft_expr_verdict_add(r, NF_ACCEPT, NULL);
		snprintf(text, sizeof(text), "arp %s ip %s accept", ingress ? "saddr" : "daddr",
			 h->arp_peers[i].text);
		ret = nft_rule_put(n, r, text);
	}
	if (ret == 0)
		ret = nft_rule_drop_put(n, chain);
	return ret;
}

/* Replaced like the inet table; only deleted when the profile does not want
 * it, so that a table left by an earlier profile goes. */
static int nft_netdev_build(struct agent_nft *n, const struct nft_hooks *h)
{
	const char *devs[NFT_MAX_DEVS + 1];
	int ret;

	n->family = NFPROTO_NETDEV;
	ret = nft_table_replace_put(n, h->netdev);
	if (ret < 0 || !h->netdev)
		goto out;
	ret = nft_chain_put(n, "isolate_ingress", -1);
	if (ret == 0)
		ret = nft_chain_put(n, "isolate_egress", -1);
	if (ret == 0)
		ret = nft_netdev_isolate_chain_put(n, "isolate_ingress", h, true);
	if (ret == 0)
		ret = nft_netdev_isolate_chain_put(n, "isolate_egress", h, false);
	if (ret < 0 || h->ndevs == 0)
		goto out;
	for (int i = 0; i < h->ndevs && i < NFT_MAX_DEVS; i++)
		devs[i] = h->devs[i];
	devs[h->ndevs < NFT_MAX_DEVS ? h->ndevs : NFT_MAX_DEVS] = NULL;
	ret = nft_chain_devs_put(n, "ingress", NF_NETDEV_INGRESS, devs);
	if (ret == 0 && nft_netdev_egress(n, h))
		ret = nft_chain_devs_put(n, "egress", NF_NETDEV_EGRESS, devs);
out:
	n->family = NFPROTO_INET;
	return ret;
}

static int nft_bridge_build(struct agent_nft *n, const struct nft_hooks *h)
{
	int ret;

	n->family = NFPROTO_BRIDGE;
	ret = nft_table_replace_put(n, h->bridge);
	if (ret < 0 || !h->bridge)
		goto out;
	ret = nft_chain_put(n, "forward", NF_BR_FORWARD);
	if (ret == 0)
		ret = nft_chain_put(n, "isolate_fwd", -1);
	if (ret == 0)
		ret = nft_rule_drop_put(n, "isolate_fwd");
out:
	n->family = NFPROTO_INET;
	return ret;
}

/* The profile's tables, in the install's transaction, with their base
 * chains set for `mode`. */
int nft_hooks_build(struct agent_nft *n, const struct nft_hooks *h, int mode)
{
	int ret = nft_netdev_build(n, h);

	if (ret == 0)
		ret = nft_bridge_build(n, h);
	if (ret == 0)
		ret = nft_hooks_mode_rules_put(n, h, mode, false);
	return ret;
}

/* The profile tables' base chains: flushed (flush), then a jump into
 * their isolate chains while isolated; no rule in the other modes. */
int nft_hooks_mode_rules_put(struct agent_nft *n, const struct nft_hooks *h, int mode, bool flush)
{
	int ret = 0;

	if (h->netdev && h->ndevs > 0) {
		n->family = NFPROTO_NETDEV;
		if (flush)
			ret = nft_chain_flush_put(n, "ingress");
		if (ret == 0 && flush && nft_netdev_egress(n, h))
			ret = nft_chain_flush_put(n, "egress");
		if (ret == 0 && mode == MODE_ISOLATED)
			ret = nft_rule_jump_put(n, "ingress", "isolate_ingress");
		if (ret == 0 && mode == MODE_ISOLATED && nft_netdev_egress(n, h))
			ret = nft_rule_jump_put(n, "egress", "isolate_egress");
	}
	if (ret == 0 && h->bridge) {
		n->family = NFPROTO_BRIDGE;
		if (flush)
			ret = nft_chain_flush_put(n, "forward");
		if (ret == 0 && mode == MODE_ISOLATED)
			ret = nft_rule_jump_put(n, "forward", "isolate_fwd");
	}
	n->family = NFPROTO_INET;
	return ret;
}
