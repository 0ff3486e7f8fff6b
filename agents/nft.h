/* The agent's nftables table, built with libnftnl and committed with libmnl.
 * Only agents/nft*.c include libnftnl. */
#ifndef BULKHEAD_AGENT_NFT_H
#define BULKHEAD_AGENT_NFT_H

#include <stdint.h>
#include "bulkhead/conf.h"

#define NFT_TABLE_NAME "bulkhead"

struct agent_nft;

/* The management channel: what stays open while a host is isolated. */
struct nft_mgmt {
	const struct conf_addr *controllers;
	int ncontrollers;
	uint16_t port;
};

/* Opens and binds one NETLINK_NETFILTER socket, kept for the agent's life. */
struct agent_nft *agent_nft_new(void);
void agent_nft_free(struct agent_nft *n);

/* One transaction: replace table inet bulkhead with the full skeleton
 * (base chains input/output/forward, the dormant isolation chains) and put
 * the base chains into `mode`. Returns 0 or -errno. */
int nft_table_install(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode);

/* One tiny transaction: flush the three base chains and, for MODE_ISOLATED,
 * add the jump into the isolation chains. Its size does not depend on the
 * policy. Returns 0 or -errno; *apply_us gets the time from first message
 * built to last ACK read. */
int nft_mode_apply(struct agent_nft *n, int mode, uint64_t *apply_us);

/* Hex SHA-256 (65 bytes with NUL) of the canonical description of what the
 * agent installed for this mode and management channel. */
void nft_ruleset_hash(const struct nft_mgmt *mgmt, int mode, char out[65]);

#endif
