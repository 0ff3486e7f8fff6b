/* The agent's nftables table: built with libnftnl the way nft builds it, and
 * committed with libmnl as one batch per change, reading every ACK. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>

#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <openssl/evp.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "nft.h"

#define NFT_BATCH_LIMIT 32768
/* libnftnl does not bound-check, and mnl_nlmsg_batch_next() only notices the
 * overflow after a message was written past the limit: keep a spare tail. */
#define NFT_RCVBUF_SIZE 16384 /* ACKs are 36 bytes; room for a whole batch of them */
#define NFT_DESC_LEN 96
/* The kernel always answers a batch; this only guards against a lost ACK. */
#define NFT_ACK_TIMEOUT_S 5
/* "filter": after conntrack (-200), so that `ct state established` sees replies
 * the host sends; an accept elsewhere cannot undo our drop whatever the order. */
#define NFT_PRIO_BASE 0
/* The loopback device is ifindex 1 in every network namespace. */
#define NFT_LOOPBACK_IFINDEX 1

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
	int cap; /* room in acked[] and desc[] */
	bool *acked;
	char (*desc)[NFT_DESC_LEN];
};

/* Kernel 6.9 and later; older uapi headers lack it. */
#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

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

/* Which end of a packet a management rule matches. */
enum nft_dir { NFT_DIR_SRC, NFT_DIR_DST };

static const struct nft_chain_def {
	const char *base, *isolate, *policy;
	uint32_t hook;
} nft_chains[] = {
    {"input", "isolate_in", "policy_in", NF_INET_LOCAL_IN},
    {"output", "isolate_out", "policy_out", NF_INET_LOCAL_OUT},
    {"forward", "isolate_fwd", "policy_fwd", NF_INET_FORWARD},
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

static const char *nft_family_name(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_NETDEV: return "netdev";
	case NFPROTO_BRIDGE: return "bridge";
	default: return "?";
	}
}

struct agent_nft *agent_nft_new(bool own_table)
{
	struct agent_nft *n = xcalloc(1, sizeof(*n));
	struct timeval tv = {.tv_sec = NFT_ACK_TIMEOUT_S};
	int one = 1;

	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl) {
		log_err("nft: netlink socket: %s", strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_err("nft: netlink bind: %s", strerror(errno));
		goto fail;
	}
	/* Error ACKs need not echo the whole rule back; older kernels lack it. */
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		log_err("nft: SO_RCVTIMEO: %s", strerror(errno));
		goto fail;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	n->owner = own_table;
	n->family = NFPROTO_INET;
	n->seq = (uint32_t)time(NULL);
	return n;
fail:
	agent_nft_free(n);
	return NULL;
}

void agent_nft_free(struct agent_nft *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n->batch.acked);
	free(n->batch.desc);
	free(n->sndbuf);
	free(n);
}

/* --- batch: build, send once, read every ACK --- */

/* limit: bytes the batch may take; the buffer keeps a spare tail beyond it. */
static void nft_batch_start(struct agent_nft *n, size_t limit)
{
	struct nft_batch *b = &n->batch;

	if (limit < NFT_BATCH_LIMIT)
		limit = NFT_BATCH_LIMIT;
	if (n->sndbuf_size < 2 * limit) {
		free(n->sndbuf);
		n->sndbuf_size = 2 * limit;
		n->sndbuf = malloc(n->sndbuf_size);
		if (!n->sndbuf)
			fatal("nft: out of memory");
	}
	/* The whole batch goes in one sendto: the socket must take it. */
	if ((int)limit > n->sock_sndbuf) {
		int sz = (int)limit + 65536;

		if (setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz,
			       sizeof(sz)) == 0 ||
		    setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) ==
			0)
			n->sock_sndbuf = sz;
	}
	b->mb = mnl_nlmsg_batch_start(n->sndbuf, limit);
	if (!b->mb)
		fatal("nft: out of memory");
	b->seq_begin = n->seq++;
	b->seq_first = n->seq;
	b->nmsg = 0;
	b->nacked = 0;
	b->err = 0;
	b->err_idx = -1;
	b->refused = false;
	nftnl_batch_begin(mnl_nlmsg_batch_current(b->mb), b->seq_begin);
	mnl_nlmsg_batch_next(b->mb);
}

/* Starts one object message and records what it is for error reports. */
static struct nlmsghdr *nft_batch_msg_start(struct agent_nft *n, uint16_t type, uint16_t flags,
					    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct nlmsghdr *nft_batch_msg_start(struct agent_nft *n, uint16_t type, uint16_t flags,
					    const char *fmt, ...)
{
	struct nft_batch *b = &n->batch;
	va_list ap;

	if (b->nmsg == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->acked = realloc(b->acked, sizeof(*b->acked) * (size_t)b->cap);
		b->desc = realloc(b->desc, sizeof(*b->desc) * (size_t)b->cap);
		if (!b->acked || !b->desc)
			fatal("nft: out of memory");
	}
	va_start(ap, fmt);
	vsnprintf(b->desc[b->nmsg], NFT_DESC_LEN, fmt, ap);
	va_end(ap);
	b->acked[b->nmsg] = false;
	b->nmsg++;
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->mb), type, n->family,
				     flags | NLM_F_ACK, n->seq++);
}

/* Returns -EMSGSIZE once the batch no longer fits the send buffer. */
static int nft_batch_msg_end(struct agent_nft *n)
{
	if (!mnl_nlmsg_batch_next(n->batch.mb))
		return -EMSGSIZE;
	return 0;
}

static int nft_batch_ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_batch *b = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t idx;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_OK;
	/* A batch the kernel cannot parse (or no memory for the error list)
	 * gets one ACK for the BATCH_BEGIN message and no others. */
	if (nlh->nlmsg_seq == b->seq_begin) {
		if (e->error && !b->err) {
			b->err = e->error;
			b->err_idx = -1;
		}
		b->refused = true;
		return MNL_CB_OK;
	}
	idx = nlh->nlmsg_seq - b->seq_first;
	if (idx >= (uint32_t)b->nmsg || b->acked[idx])
		return MNL_CB_OK; /* late ACK of an earlier, timed-out batch */
	b->acked[idx] = true;
	b->nacked++;
	if (e->error && !b->err) {
		b->err = e->error;
		b->err_idx = (int)idx;
	}
	return MNL_CB_OK;
}

/* Reads ACKs until every message is accounted for, errors included: the
 * kernel reports every failing message of an aborted batch. */
static int nft_batch_acks_read(struct agent_nft *n)
{
	struct nft_batch *b = &n->batch;
	mnl_cb_t ctl_cb[NLMSG_ERROR + 1] = {[NLMSG_ERROR] = nft_batch_ack_cb};

	while (b->nacked < b->nmsg && !b->refused) {
		ssize_t len = mnl_socket_recvfrom(n->nl, n->rcvbuf, sizeof(n->rcvbuf));
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		if (mnl_cb_run2(n->rcvbuf, (size_t)len, 0, n->portid, NULL, b, ctl_cb,
				MNL_ARRAY_SIZE(ctl_cb)) == MNL_CB_ERROR)
			return -errno;
	}
	if (b->refused && !b->err)
		return -EPROTO;
	return b->err;
}

/* Closes, sends and acknowledges the batch; frees it in every case. */
static int nft_batch_commit(struct agent_nft *n)
{
	struct nft_batch *b = &n->batch;
	int ret;

	nftnl_batch_end(mnl_nlmsg_batch_current(b->mb), n->seq++);
	if (!mnl_nlmsg_batch_next(b->mb)) {
		ret = -EMSGSIZE;
		goto out;
	}
	if (mnl_socket_sendto(n->nl, mnl_nlmsg_batch_head(b->mb), mnl_nlmsg_batch_size(b->mb)) <
	    0) {
		ret = -errno;
		goto out;
	}
	ret = nft_batch_acks_read(n);
out:
	mnl_nlmsg_batch_stop(b->mb);
	b->mb = NULL;
	return ret;
}

static const char *nft_batch_err_desc(const struct nft_batch *b)
{
	return b->err_idx >= 0 ? b->desc[b->err_idx] : "batch";
}

/* Drops a batch that was never sent. */
static void nft_batch_abort(struct agent_nft *n)
{
	mnl_nlmsg_batch_stop(n->batch.mb);
	n->batch.mb = NULL;
}

/* --- expressions, in the shapes nft emits so that listings decode --- */

static struct nftnl_expr *nft_expr_new(const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		fatal("nft: out of memory");
	return e;
}

static void nft_expr_meta_add(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nft_expr_new("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void nft_expr_payload_add(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
				 uint32_t dreg)
{
	struct nftnl_expr *e = nft_expr_new("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void nft_expr_cmp_eq_add(struct nftnl_rule *r, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nft_expr_new("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

static void nft_expr_counter_add(struct nftnl_rule *r)
{
	nftnl_rule_add_expr(r, nft_expr_new("counter"));
}

/* chain is the jump target, NULL for accept and drop. */
static void nft_expr_verdict_add(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = nft_expr_new("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	nftnl_rule_add_expr(r, e);
}

/* `meta nfproto ipv4`: nft's implicit dependency of `ip saddr` in inet. */
static void nft_match_nfproto(struct nftnl_rule *r, uint8_t nfproto)
{
	nft_expr_meta_add(r, NFT_META_NFPROTO, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &nfproto, sizeof(nfproto));
}

static void nft_match_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	nft_expr_meta_add(r, NFT_META_L4PROTO, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &proto, sizeof(proto));
}

/* `iif "lo"` / `oif "lo"`. */
static void nft_match_ifindex(struct nftnl_rule *r, uint32_t key, uint32_t ifindex)
{
	nft_expr_meta_add(r, key, NFT_REG_1);
	nft_expr_cmp_eq_add(r, &ifindex, sizeof(ifindex));
}

/* `meta nfproto ipv4; ip saddr` and the like, into reg 1: what `ip saddr`
 * (or `ip6 daddr`...) loads before it compares or looks up. */
static void nft_load_addr(struct nftnl_rule *r, int family, enum nft_dir dir)
{
	bool v4 = family == AF_INET, src = dir == NFT_DIR_SRC;

	nft_match_nfproto(r, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
	nft_expr_payload_add(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? (src ? 12 : 16) : (src ? 8 : 24),
			     v4 ? 4 : 16, NFT_REG_1);
}

/* `ip saddr A` / `ip6 daddr A` and so on. */
static void nft_match_addr(struct nftnl_rule *r, const struct conf_addr *a, enum nft_dir dir)
{
	nft_load_addr(r, a->family, dir);
	nft_expr_cmp_eq_add(r, &a->a, a->family == AF_INET ? 4 : 16);
}

/* `tcp sport P` / `tcp dport P`. */
static void nft_match_tcp_port(struct nftnl_rule *r, uint16_t port, enum nft_dir dir)
{
	uint16_t be = htons(port);

	nft_match_l4proto(r, IPPROTO_TCP);
	nft_expr_payload_add(r, NFT_PAYLOAD_TRANSPORT_HEADER, dir == NFT_DIR_SRC ? 0 : 2,
			     sizeof(be), NFT_REG_1);
	nft_expr_cmp_eq_add(r, &be, sizeof(be));
}

/* `icmpv6 type T`. */
static void nft_match_icmpv6_type(struct nftnl_rule *r, uint8_t type)
{
	nft_match_nfproto(r, NFPROTO_IPV6);
	nft_match_l4proto(r, IPPROTO_ICMPV6);
	nft_expr_payload_add(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, sizeof(type), NFT_REG_1);
	nft_expr_cmp_eq_add(r, &type, sizeof(type));
}

/* --- batch messages --- */

static int nft_table_put(struct agent_nft *n, uint16_t type, uint16_t flags, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		fatal("nft: out of memory");
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, n->family);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	/* Owned: only this socket may change the table. Persist: it stays in
	 * force when the agent exits, and the next agent adopts it. */
	if (type == NFT_MSG_NEWTABLE && n->owner && !(n->adopt_plain && !strcmp(what, "ensure")))
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	nlh = nft_batch_msg_start(n, type, flags, "%s table %s %s", what,
				  nft_family_name(n->family), NFT_TABLE_NAME);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return nft_batch_msg_end(n);
}

/* hook < 0 makes a regular chain; devs (NULL-terminated) binds a netdev
 * base chain to those links. */
static int nft_chain_devs_put(struct agent_nft *n, const char *name, int hook, const char **devs)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		fatal("nft: out of memory");
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
	nlh = nft_batch_msg_start(n, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "add chain %s %s", name,
				  n->family == NFPROTO_INET ? "" : nft_family_name(n->family));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nft_batch_msg_end(n);
}

static int nft_chain_put(struct agent_nft *n, const char *name, int hook)
{
	return nft_chain_devs_put(n, name, hook, NULL);
}

/* Without a handle, DELRULE removes every rule of the chain. */
static int nft_chain_flush_put(struct agent_nft *n, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r)
		fatal("nft: out of memory");
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, n->family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = nft_batch_msg_start(n, NFT_MSG_DELRULE, 0, "flush chain %s", chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nft_batch_msg_end(n);
}

/* For the inet table; nft_rule_put sends it for the current family. */
static struct nftnl_rule *nft_rule_new(const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		fatal("nft: out of memory");
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	return r;
}

/* Appends r to its chain; takes ownership of r. text is the rule as nft
 * prints it, for error reports. */
static int nft_rule_put(struct agent_nft *n, struct nftnl_rule *r, const char *text)
{
	struct nlmsghdr *nlh;

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, n->family);
	nlh = nft_batch_msg_start(n, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
				  "add rule '%s' to chain %s", text,
				  nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nft_batch_msg_end(n);
}

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

static int nft_rule_drop_put(struct agent_nft *n, const char *chain)
{
	struct nftnl_rule *r = nft_rule_new(chain);

	nft_expr_counter_add(r);
	nft_expr_verdict_add(r, NF_DROP, NULL);
	return nft_rule_put(n, r, "counter drop");
}

static int nft_rule_jump_put(struct agent_nft *n, const char *chain, const char *target)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	char text[NFT_DESC_LEN];

	nft_expr_verdict_add(r, NFT_JUMP, target);
	snprintf(text, sizeof(text), "jump %s", target);
	return nft_rule_put(n, r, text);
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

/* isolate_in / isolate_out: only what every mode keeps open, then drop. */
static int nft_isolate_chain_put(struct agent_nft *n, const char *chain,
				 const struct nft_mgmt *mgmt, const struct host_policy *hp,
				 enum nft_dir dir)
{
	int ret = nft_mgmt_rules_put(n, chain, mgmt, hp, dir);

	if (ret == 0)
		ret = nft_rule_drop_put(n, chain);
	return ret;
}

/* --- the policy: sets behind a fixed rule skeleton --- */

/* `ct state established,related accept` */
static int nft_rule_ct_put(struct agent_nft *n, const char *chain)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	struct nftnl_expr *e = nft_expr_new("ct");
	uint32_t mask = (1u << 1) | (1u << 2), zero = 0; /* NF_CT_STATE_BIT(ESTABLISHED|RELATED) */

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	e = nft_expr_new("bitwise");
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	nftnl_rule_add_expr(r, e);
	e = nft_expr_new("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &zero, sizeof(zero));
	nftnl_rule_add_expr(r, e);
	nft_expr_verdict_add(r, NF_ACCEPT, NULL);
	return nft_rule_put(n, r, "ct state established,related accept");
}

static void nft_expr_lookup_add(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nft_expr_new("lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	nftnl_rule_add_expr(r, e);
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
 * the four set lookups of the direction, then drop. */
static int nft_policy_chain_put(struct agent_nft *n, const char *chain, const struct nft_mgmt *mgmt,
				const struct host_policy *hp, enum nft_dir dir)
{
	enum policy_dir pdir = dir == NFT_DIR_SRC ? POLICY_IN : POLICY_OUT;
	int ret = nft_mgmt_rules_put(n, chain, mgmt, hp, dir);

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

static int nft_set_put(struct agent_nft *n, size_t set)
{
	const struct nft_set_def *d = &nft_sets[set];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	bool v4 = d->family == AF_INET;
	uint32_t addr_type = v4 ? NFT_DTYPE_IPV4 : NFT_DTYPE_IPV6;
	struct nlmsghdr *nlh;

	if (!s || !ud)
		fatal("nft: out of memory");
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, d->name);
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)set + 1);
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
	nlh = nft_batch_msg_start(n, NFT_MSG_NEWSET, NLM_F_CREATE, "add set %s", d->name);
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
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();

	if (!el)
		fatal("nft: out of memory");
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
	nlh = nft_batch_msg_start(n, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "add %d elements to set %s",
				  *count, name);
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
		if (!s) {
			s = nftnl_set_alloc();
			if (!s)
				fatal("nft: out of memory");
			nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
			nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
			nftnl_set_set_str(s, NFTNL_SET_NAME, d->name);
			nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)set + 1);
		}
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

/* --- the profile's tables: netdev and bridge --- */

/* What the netdev chains let through while isolated: IP, judged by table
 * inet bulkhead, and VLAN-tagged frames, judged again on their VLAN link. */
static const struct {
	uint16_t ethertype;
	const char *name;
} nft_netdev_pass[] = {
    {ETH_P_IP, "ip"}, {ETH_P_IPV6, "ip6"}, {ETH_P_8021Q, "8021q"}, {ETH_P_8021AD, "8021ad"}};

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

static bool nft_netdev_egress(const struct agent_nft *n, const struct nft_hooks *h)
{
	return h->netdev && h->ndevs > 0 && !n->no_egress;
}

/* Add, delete, and add again only when the profile wants the table: a
 * table left by an earlier profile goes in the same transaction. */
static int nft_netdev_build(struct agent_nft *n, const struct nft_hooks *h)
{
	const char *devs[NFT_MAX_DEVS + 1];
	int ret;

	n->family = NFPROTO_NETDEV;
	ret = nft_table_put(n, NFT_MSG_NEWTABLE, NLM_F_CREATE, "ensure");
	if (ret == 0)
		ret = nft_table_put(n, NFT_MSG_DELTABLE, 0, "delete");
	if (ret < 0 || !h->netdev)
		goto out;
	ret = nft_table_put(n, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
	if (ret == 0)
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
	ret = nft_table_put(n, NFT_MSG_NEWTABLE, NLM_F_CREATE, "ensure");
	if (ret == 0)
		ret = nft_table_put(n, NFT_MSG_DELTABLE, 0, "delete");
	if (ret == 0 && h->bridge) {
		ret = nft_table_put(n, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
		if (ret == 0)
			ret = nft_chain_put(n, "forward", NF_BR_FORWARD);
		if (ret == 0)
			ret = nft_chain_put(n, "isolate_fwd", -1);
		if (ret == 0)
			ret = nft_rule_drop_put(n, "isolate_fwd");
	}
	n->family = NFPROTO_INET;
	return ret;
}

/* The profile tables' base chains: flushed (flush), then a jump into
 * their isolate chains while isolated; no rule in the other modes. */
static int nft_extra_mode_rules_put(struct agent_nft *n, const struct nft_hooks *h, int mode,
				    bool flush)
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

void nft_hooks_set(struct agent_nft *n, const struct nft_hooks *h)
{
	n->hooks = *h;
	n->hooks_set = true;
}

const struct nft_hooks *nft_hooks_installed(const struct agent_nft *n)
{
	return &n->installed;
}

static int nft_table_batch_build(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
				 const struct host_policy *hp)
{
	size_t i;
	int ret;

	/* Add, delete, add: the delete cannot fail for lack of a table, and the
	 * whole replacement commits atomically. */
	ret = nft_table_put(n, NFT_MSG_NEWTABLE, NLM_F_CREATE, "ensure");
	if (ret == 0)
		ret = nft_table_put(n, NFT_MSG_DELTABLE, 0, "delete");
	if (ret == 0)
		ret = nft_table_put(n, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add");
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
	if (ret == 0)
		ret = nft_isolate_chain_put(n, "isolate_in", mgmt, hp, NFT_DIR_SRC);
	if (ret == 0)
		ret = nft_isolate_chain_put(n, "isolate_out", mgmt, hp, NFT_DIR_DST);
	if (ret == 0)
		ret = nft_rule_drop_put(n, "isolate_fwd");
	if (ret == 0)
		ret = nft_policy_chain_put(n, "policy_in", mgmt, hp, NFT_DIR_SRC);
	if (ret == 0)
		ret = nft_policy_chain_put(n, "policy_out", mgmt, hp, NFT_DIR_DST);
	if (ret == 0)
		ret = nft_rule_drop_put(n, "policy_fwd");
	if (ret == 0)
		ret = nft_mode_rules_put(n, &n->hooks, mode);
	if (ret == 0 && n->hooks_set)
		ret = nft_netdev_build(n, &n->hooks);
	if (ret == 0 && n->hooks_set)
		ret = nft_bridge_build(n, &n->hooks);
	if (ret == 0 && n->hooks_set)
		ret = nft_extra_mode_rules_put(n, &n->hooks, mode, false);
	return ret;
}

static bool nft_mode_valid(int mode)
{
	return mode >= MODE_OPEN && mode <= MODE_MAX;
}

static int nft_table_install_once(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
				  const struct host_policy *hp);

int nft_table_install(struct agent_nft *n, const struct nft_mgmt *mgmt, int mode,
		      const struct host_policy *hp)
{
	int ret = nft_table_install_once(n, mgmt, mode, hp);

	/* Netdev egress hooks came with kernel 5.16: without them, ingress only. */
	if (ret < 0 && nft_netdev_egress(n, &n->hooks) &&
	    strstr(nft_batch_err_desc(&n->batch), "add chain egress")) {
		log_warn("nft: this kernel has no netdev egress hook (%s); non-IP traffic is "
			 "dropped on ingress only",
			 strerror(-ret));
		n->no_egress = true;
		ret = nft_table_install_once(n, mgmt, mode, hp);
	}
	/* The kernel will not make an existing unowned table owned (one left by
	 * an agent run with --no-table-owner): take it as it is, delete it, and
	 * create it owned, all in the same transaction. */
	if (n->owner && ret == -EOPNOTSUPP && strstr(nft_batch_err_desc(&n->batch), "ensure")) {
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
		ret = nft_extra_mode_rules_put(n, &n->installed, mode, true);
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

/* --- reading the kernel's copy back --- */

struct nft_dump {
	EVP_MD_CTX *md;
	int nobj;
};

static void nft_digest_text(struct nft_dump *d, const char *text)
{
	if (!EVP_DigestUpdate(d->md, text, strlen(text)) || !EVP_DigestUpdate(d->md, "\n", 1))
		fatal("nft: EVP_DigestUpdate failed");
	d->nobj++;
}

static int nft_dump_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	char line[256];

	if (!c)
		fatal("nft: out of memory");
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		nftnl_chain_free(c);
		return MNL_CB_ERROR;
	}
	/* Name, hook, priority and policy: what decides what the chain does. */
	snprintf(line, sizeof(line), "chain %s hook %d prio %d policy %d",
		 nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
		 nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)
		     ? (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM)
		     : -1,
		 nftnl_chain_is_set(c, NFTNL_CHAIN_PRIO) ? nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO)
							 : 0,
		 nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY)
		     ? (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY)
		     : -1);
	nft_digest_text(data, line);
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int nft_counter_zero(struct nftnl_expr *e, void *data)
{
	if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, 0);
		nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, 0);
	}
	return 0;
}

static int nft_dump_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	char line[2048];

	if (!r)
		fatal("nft: out of memory");
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
		nftnl_rule_free(r);
		return MNL_CB_ERROR;
	}
	/* Handles and counters change without changing what the rule does. */
	nftnl_rule_unset(r, NFTNL_RULE_HANDLE);
	nftnl_rule_unset(r, NFTNL_RULE_POSITION);
	nftnl_expr_foreach(r, nft_counter_zero, NULL);
	nftnl_rule_snprintf(line, sizeof(line), r, NFTNL_OUTPUT_DEFAULT, 0);
	nft_digest_text(data, line);
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/* A set's elements, as the kernel returns them: everything after the
 * nfgenmsg, whose res_id carries the ruleset generation. */
static int nft_dump_elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_dump *d = data;
	const char *p = mnl_nlmsg_get_payload(nlh);
	size_t skip = MNL_ALIGN(sizeof(struct nfgenmsg));

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + skip)
		return MNL_CB_ERROR;
	if (!EVP_DigestUpdate(d->md, p + skip, nlh->nlmsg_len - MNL_NLMSG_HDRLEN - skip))
		fatal("nft: EVP_DigestUpdate failed");
	return MNL_CB_OK;
}

/* One dump request filtered to our table (and set, for elements); every
 * reply goes through cb. */
static int nft_dump_run(struct agent_nft *n, uint16_t type, const char *set, mnl_cb_t cb,
			struct nft_dump *d)
{
	struct nlmsghdr *nlh =
	    nftnl_nlmsg_build_hdr(n->sndbuf, type, n->family, NLM_F_DUMP, n->seq);
	uint32_t seq = n->seq++;
	int ret;

	/* NFTA_RULE_TABLE, NFTA_CHAIN_TABLE and NFTA_SET_ELEM_LIST_TABLE are all 1. */
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, NFT_TABLE_NAME);
	if (set)
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t len = mnl_socket_recvfrom(n->nl, n->rcvbuf, sizeof(n->rcvbuf));

		if (len < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		ret = mnl_cb_run(n->rcvbuf, (size_t)len, seq, n->portid, cb, d);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -errno : 0;
}

int nft_table_digest(struct agent_nft *n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	struct nft_dump d = {.md = EVP_MD_CTX_new()};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ret;

	if (!d.md || !EVP_DigestInit_ex(d.md, EVP_sha256(), NULL))
		fatal("nft: cannot start SHA-256");
	ret = nft_dump_run(n, NFT_MSG_GETCHAIN, NULL, nft_dump_chain_cb, &d);
	if (ret == 0)
		ret = nft_dump_run(n, NFT_MSG_GETRULE, NULL, nft_dump_rule_cb, &d);
	if (ret == 0 && d.nobj == 0)
		ret = -ENOENT;
	/* The profile's tables, where it has them: the same guard covers them. */
	for (int f = 0; ret == 0 && f < 2; f++) {
		bool want = f == 0 ? n->installed.netdev : n->installed.bridge;

		if (!want)
			continue;
		n->family = f == 0 ? NFPROTO_NETDEV : NFPROTO_BRIDGE;
		EVP_DigestUpdate(d.md, nft_family_name(n->family),
				 strlen(nft_family_name(n->family)));
		ret = nft_dump_run(n, NFT_MSG_GETCHAIN, NULL, nft_dump_chain_cb, &d);
		if (ret == 0)
			ret = nft_dump_run(n, NFT_MSG_GETRULE, NULL, nft_dump_rule_cb, &d);
		n->family = NFPROTO_INET;
	}
	/* The policy lives in the sets: an element slipped in is tampering too. */
	for (size_t i = 0; ret == 0 && i < NFT_NSETS; i++) {
		EVP_DigestUpdate(d.md, nft_sets[i].name, strlen(nft_sets[i].name));
		ret = nft_dump_run(n, NFT_MSG_GETSETELEM, nft_sets[i].name, nft_dump_elems_cb, &d);
	}
	if (ret == 0) {
		if (!EVP_DigestFinal_ex(d.md, md, &mdlen) || mdlen != 32)
			fatal("nft: cannot finish SHA-256");
		for (unsigned int i = 0; i < mdlen; i++) {
			out[2 * i] = hex[md[i] >> 4];
			out[2 * i + 1] = hex[md[i] & 0xf];
		}
		out[64] = '\0';
	}
	EVP_MD_CTX_free(d.md);
	return ret;
}

/* A base chain someone else hooked in beside ours: flush it, then delete it. */
int nft_foreign_chain_remove(struct agent_nft *n, int family, const char *table, const char *chain)
{
	struct nftnl_chain *c;
	struct nftnl_rule *r;
	struct nlmsghdr *nlh;
	int ret;

	nft_batch_start(n, 0);
	r = nft_rule_new(chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nlh = nft_batch_msg_start(n, NFT_MSG_DELRULE, 0, "flush chain %s %s", table, chain);
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family = (uint8_t)family;
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	ret = nft_batch_msg_end(n);
	c = nftnl_chain_alloc();
	if (!c)
		fatal("nft: out of memory");
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nlh = nft_batch_msg_start(n, NFT_MSG_DELCHAIN, 0, "delete chain %s %s", table, chain);
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family = (uint8_t)family;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
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
