/* Internals shared by agents/nft*.c: the socket and its batch, the tag each
 * batch message carries, and the message builders. Included only there. */
#ifndef BULKHEAD_AGENT_NFT_INT_H
#define BULKHEAD_AGENT_NFT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/log.h"
#include "nft.h"

struct mnl_socket;
struct mnl_nlmsg_batch;
struct nlmsghdr;
struct nftnl_expr;
struct nftnl_rule;

#define NFT_BATCH_LIMIT 32768
/* libnftnl does not bound-check, and mnl_nlmsg_batch_next() only notices the
 * overflow after a message was written past the limit: keep a spare tail. */
#define NFT_RCVBUF_SIZE 16384 /* ACKs are 36 bytes; room for a whole batch of them */
#define NFT_DESC_LEN 96
/* A message's hook when it is for anything but a base chain. */
#define NFT_NO_HOOK (-1)

/* Kernel 6.9 and later; older uapi headers lack it. */
#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

/* What one batch message acts on, and how. The kind and operation decide
 * the netlink message type and flags; an error's sequence number leads back
 * to them, so that a retry decides on what failed, not on text. */
enum nft_obj_kind { NFT_OBJ_TABLE, NFT_OBJ_CHAIN, NFT_OBJ_SET, NFT_OBJ_SETELEM, NFT_OBJ_RULE };

enum nft_obj_op {
	NFT_OP_ENSURE, /* create if missing, so that the delete after it cannot fail */
	NFT_OP_ADD,
	NFT_OP_DELETE,
	NFT_OP_FLUSH, /* rules: all of a chain's, by a delete without a handle */
};

struct nft_obj_tag {
	enum nft_obj_kind kind;
	enum nft_obj_op op;
	uint8_t family; /* NFPROTO_*: the family the message was sent for */
	int hook;	/* the hook of a base chain it adds, else NFT_NO_HOOK */
};

/* One message of the batch, found by its sequence number's offset. */
struct nft_batch_msg {
	uint32_t seq;
	bool acked;
	struct nft_obj_tag tag;
	char desc[NFT_DESC_LEN]; /* for error reports */
};

/* One transaction in flight: sequence numbers are contiguous from seq_first,
 * so an ACK maps back to its message by subtraction. */
struct nft_batch {
	struct mnl_nlmsg_batch *mb;
	uint32_t seq_begin; /* the BATCH_BEGIN message */
	uint32_t seq_first; /* first object message */
	int nmsg;
	int nacked;
	int err;     /* first error, -errno */
	int err_idx; /* its message, or -1 for the batch as a whole */
	bool refused;
	int cap; /* room in msgs[] */
	struct nft_batch_msg *msgs;
};

struct agent_nft {
	struct mnl_socket *nl;
	bool owner;	  /* table is created owned by this socket, and persists */
	bool adopt_plain; /* first touch an existing table without the owner flags */
	uint32_t portid;
	uint32_t seq;
	struct nft_batch batch;
	char *sndbuf; /* grows for large policies */
	size_t sndbuf_size;
	int sock_sndbuf; /* what SO_SNDBUF(FORCE) was last set to */
	/* The family the next table, chain and rule messages are for: inet,
	 * but netdev or bridge while the profile's tables are built. */
	uint8_t family;
	bool hooks_set; /* a profile has said what it adds (nft_hooks_set) */
	bool no_egress; /* the kernel has no netdev egress hook */
	struct nft_hooks hooks, installed;
	char rcvbuf[NFT_RCVBUF_SIZE];
};

/* Which end of a packet a match is for. */
enum nft_dir { NFT_DIR_SRC, NFT_DIR_DST };

/* Returns p; NULL is out of memory, which the agent does not survive. */
static inline void *nft_alloc_check(void *p)
{
	if (!p)
		fatal("nft: out of memory");
	return p;
}

/* nft_batch.c */
void nft_batch_start(struct agent_nft *n, size_t limit);
struct nlmsghdr *nft_batch_msg_start(struct agent_nft *n, enum nft_obj_kind kind,
				     enum nft_obj_op op, int hook, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int nft_batch_msg_end(struct agent_nft *n);
int nft_batch_commit(struct agent_nft *n);
void nft_batch_abort(struct agent_nft *n);
const char *nft_batch_err_desc(const struct nft_batch *b);
const struct nft_obj_tag *nft_batch_err_tag(const struct nft_batch *b);

/* nft_msg.c */
const char *nft_family_name(uint8_t family);
struct nftnl_expr *nft_expr_add(struct nftnl_rule *r, const char *name);
void nft_expr_meta_add(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
void nft_expr_payload_add(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
			  uint32_t dreg);
void nft_expr_cmp_eq_add(struct nftnl_rule *r, const void *data, uint32_t len);
void nft_expr_verdict_add(struct nftnl_rule *r, int verdict, const char *chain);
void nft_expr_lookup_add(struct nftnl_rule *r, const char *set, uint32_t set_id);
void nft_match_l4proto(struct nftnl_rule *r, uint8_t proto);
void nft_match_ifindex(struct nftnl_rule *r, uint32_t key, uint32_t ifindex);
void nft_match_addr(struct nftnl_rule *r, const struct conf_addr *a, enum nft_dir dir);
void nft_match_tcp_port(struct nftnl_rule *r, uint16_t port, enum nft_dir dir);
void nft_match_icmpv6_type(struct nftnl_rule *r, uint8_t type);
void nft_load_addr(struct nftnl_rule *r, int family, enum nft_dir dir);
int nft_table_replace_put(struct agent_nft *n, bool add);
int nft_chain_devs_put(struct agent_nft *n, const char *name, int hook, const char **devs);
int nft_chain_put(struct agent_nft *n, const char *name, int hook);
int nft_chain_flush_put(struct agent_nft *n, const char *chain);
struct nftnl_rule *nft_rule_new(const char *chain);
int nft_rule_put(struct agent_nft *n, struct nftnl_rule *r, const char *text);
int nft_rule_drop_put(struct agent_nft *n, const char *chain);
int nft_rule_jump_put(struct agent_nft *n, const char *chain, const char *target);

/* nft_table.c */
const char *nft_set_name(size_t set);

/* nft_hooks.c */
bool nft_netdev_egress(const struct agent_nft *n, const struct nft_hooks *h);
int nft_hooks_build(struct agent_nft *n, const struct nft_hooks *h, int mode);
int nft_hooks_mode_rules_put(struct agent_nft *n, const struct nft_hooks *h, int mode, bool flush);

#endif
