/* The agent's nftables table, built with libnftnl and committed with libmnl.
 * Only agents/nft*.c include libnftnl. */
#ifndef BULKHEAD_AGENT_NFT_H
#define BULKHEAD_AGENT_NFT_H

#include <stdbool.h>
#include <stdint.h>
#include "bulkhead/conf.h"
#include "bulkhead/policy.h"

#define NFT_TABLE_NAME "bulkhead"

struct agent_nft;

/* The management channel: what stays open while a host is isolated. */
struct nft_mgmt {
	const struct conf_addr *controllers;
	int ncontrollers;
	uint16_t port;
};

/* What a hardware profile adds to the skeleton (agents/profile.c fills it). */
#define NFT_MAX_DEVS 64
#define NFT_MAX_ARP_PEERS 16

struct nft_hooks {
	/* The forward chain stays empty in every mode: a switch forwards for
	 * its hosts, and cuts them off port by port instead. */
	bool no_forward;
	/* table netdev bulkhead: while isolated, its ingress and egress chains
	 * on these links drop what is neither IP nor the management channel's
	 * ARP (to and from arp_peers: the controllers and the gateways that
	 * lead to them). */
	bool netdev;
	int ndevs;
	char devs[NFT_MAX_DEVS][16];
	struct conf_addr arp_peers[NFT_MAX_ARP_PEERS];
	int narp_peers;
	/* table bridge bulkhead: while isolated, nothing is forwarded between
	 * the ports of any bridge of the host. */
	bool bridge;
};

/* Takes effect at the next nft_table_install (copied). Without a call, only
 * table inet bulkhead is programmed, as before profiles. */
void nft_hooks_set(struct agent_nft *n, const struct nft_hooks *h);
/* The hooks of the last install that succeeded. */
const struct nft_hooks *nft_hooks_installed(const struct agent_nft *n);

/* Opens and binds one NETLINK_NETFILTER socket, kept for the agent's life. */
/* own_table: create the table owned by this socket and persistent
 * (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST), falling back if the kernel cannot. */
struct agent_nft *agent_nft_new(bool own_table);
bool nft_table_owned(const struct agent_nft *n);
void agent_nft_free(struct agent_nft *n);

/* One transaction: replace table inet bulkhead with the full skeleton (the
 * policy sets filled from hp, which may be NULL for empty sets; base chains
 * input/output/forward; the isolate_* and policy_* chains) and put the base
 * chains into `mode`. The same text `bulkhead render` prints. Returns 0 or
 * -errno. */
int nft_table_install(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
		      const struct host_policy *hp);

/* One tiny transaction: flush the three base chains and, unless the mode is
 * open, add the jumps into the isolate_* or policy_* chains. Its size does not depend on the
 * policy. Returns 0 or -errno; *apply_us gets the time from first message
 * built to last ACK read. */
int nft_mode_apply(struct agent_nft *n, int mode, uint64_t *apply_us);

/* Hex SHA-256 of what the kernel holds in our table (chains, rules without
 * handles or counter values, set elements). -ENOENT when the table is gone. */
int nft_table_digest(struct agent_nft *n, char out[65]);

/* Flush and delete a base chain of another table (family NFPROTO_*). */
int nft_foreign_chain_remove(struct agent_nft *n, int family, const char *table, const char *chain);

/* nft_watch.c: nftables events (NFNLGRP_NFTABLES) of this namespace. */
struct nft_watch;

/* What one committed generation did that concerns us. */
struct nft_event {
	bool table_touched; /* table inet bulkhead changed or deleted */
	bool overrun;	    /* events were lost: verify everything */
	int nforeign;	    /* base chains added in other tables (the first 8) */
	struct nft_chain_ref {
		int family;
		char table[64], name[64];
	} foreign[8];
	uint32_t pid; /* the committing process, where the kernel says */
	char comm[32];
};

struct nft_watch *nft_watch_new(void);
void nft_watch_free(struct nft_watch *w);
int nft_watch_fd(const struct nft_watch *w);
/* Reads what is pending. For each foreign generation that concerns us (not
 * committed by this process) calls fn. Returns 0 or -errno. */
int nft_watch_read(struct nft_watch *w, void (*fn)(const struct nft_event *ev, void *arg),
		   void *arg);

#endif
