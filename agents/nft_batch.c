/* The agent's NETLINK_NETFILTER socket and its batches: begin, one tagged
 * message per object, end, one sendto, then every ACK read and mapped back
 * to the message it answers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "bulkhead/log.h"
#include "nft_int.h"

/* The kernel always answers a batch; this only guards against a lost ACK. */
#define NFT_ACK_TIMEOUT_S 5

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
	free(n->batch.msgs);
	free(n->sndbuf);
	free(n);
}

/* limit: bytes the batch may take; the buffer keeps a spare tail beyond it. */
void nft_batch_start(struct agent_nft *n, size_t limit)
{
	struct nft_batch *b = &n->batch;

	if (limit < NFT_BATCH_LIMIT)
		limit = NFT_BATCH_LIMIT;
	if (n->sndbuf_size < 2 * limit) {
		free(n->sndbuf);
		n->sndbuf_size = 2 * limit;
		n->sndbuf = nft_alloc_check(malloc(n->sndbuf_size));
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
	b->mb = nft_alloc_check(mnl_nlmsg_batch_start(n->sndbuf, limit));
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

/* The message type for a kind and an operation: ensure and add send the
 * NEW message, delete and flush the DEL one (a flush names no rule). */
static uint16_t nft_obj_msg_type(enum nft_obj_kind kind, enum nft_obj_op op)
{
	static const uint16_t types[][2] = {
	    [NFT_OBJ_TABLE] = {NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE},
	    [NFT_OBJ_CHAIN] = {NFT_MSG_DELCHAIN, NFT_MSG_NEWCHAIN},
	    [NFT_OBJ_SET] = {NFT_MSG_DELSET, NFT_MSG_NEWSET},
	    [NFT_OBJ_SETELEM] = {NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM},
	    [NFT_OBJ_RULE] = {NFT_MSG_DELRULE, NFT_MSG_NEWRULE},
	};

	return types[kind][op == NFT_OP_ENSURE || op == NFT_OP_ADD];
}

/* Starts one object message, tagged with what it does to which object, and
 * records its description for error reports. */
struct nlmsghdr *nft_batch_msg_start(struct agent_nft *n, enum nft_obj_kind kind,
				     enum nft_obj_op op, int hook, const char *fmt, ...)
{
	struct nft_batch *b = &n->batch;
	uint16_t type = nft_obj_msg_type(kind, op), flags = NLM_F_ACK;
	struct nft_batch_msg *m;
	va_list ap;

	if (b->nmsg == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->msgs = nft_alloc_check(realloc(b->msgs, sizeof(*b->msgs) * (size_t)b->cap));
	}
	m = &b->msgs[b->nmsg++];
	m->seq = n->seq++;
	m->acked = false;
	m->tag = (struct nft_obj_tag){.kind = kind, .op = op, .family = n->family, .hook = hook};
	va_start(ap, fmt);
	vsnprintf(m->desc, NFT_DESC_LEN, fmt, ap);
	va_end(ap);
	if (op == NFT_OP_ENSURE || op == NFT_OP_ADD)
		flags |= kind == NFT_OBJ_RULE ? NLM_F_CREATE | NLM_F_APPEND : NLM_F_CREATE;
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->mb), type, n->family, flags,
				     m->seq);
}

/* Returns -EMSGSIZE once the batch no longer fits the send buffer. */
int nft_batch_msg_end(struct agent_nft *n)
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
	if (idx >= (uint32_t)b->nmsg || b->msgs[idx].acked)
		return MNL_CB_OK; /* late ACK of an earlier, timed-out batch */
	b->msgs[idx].acked = true;
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
int nft_batch_commit(struct agent_nft *n)
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

const char *nft_batch_err_desc(const struct nft_batch *b)
{
	return b->err_idx >= 0 ? b->msgs[b->err_idx].desc : "batch";
}

/* The tag of the message the first error answered; NULL when there was
 * none, or when the kernel refused the batch as a whole. */
const struct nft_obj_tag *nft_batch_err_tag(const struct nft_batch *b)
{
	return b->err_idx >= 0 ? &b->msgs[b->err_idx].tag : NULL;
}

/* Drops a batch that was never sent. */
void nft_batch_abort(struct agent_nft *n)
{
	mnl_nlmsg_batch_stop(n->batch.mb);
	n->batch.mb = NULL;
}
