/* Watches nftables events (NFNLGRP_NFTABLES) for commits by other processes
 * that change our table or hook a base chain in beside it. Events of one
 * transaction arrive object by object and end with NFT_MSG_NEWGEN, which
 * names the committing process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>

#include "bulkhead/log.h"
#include "nft.h"

struct nft_watch {
	struct mnl_socket *nl;
	struct nft_event pending; /* what the current generation did so far */
	pid_t self;
	char buf[32768]; /* MNL_SOCKET_BUFFER_SIZE is not a constant */
};

struct nft_watch *nft_watch_new(void)
{
	struct nft_watch *w = xcalloc(1, sizeof(*w));
	unsigned int group = NFNLGRP_NFTABLES;
	int rcvbuf = 1 << 20;

	w->self = getpid();
	w->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl || mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		log_err("nft: cannot watch nftables events: %s", strerror(errno));
		nft_watch_free(w);
		return NULL;
	}
	/* A burst of foreign changes must not overflow us before we look. */
	setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return w;
}

void nft_watch_free(struct nft_watch *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w);
}

int nft_watch_fd(const struct nft_watch *w)
{
	return mnl_socket_get_fd(w->nl);
}

/* Attribute 1 of every table-scoped nftables object is its table's name
 * (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, ...). */
struct watch_attrs {
	const struct nlattr *tb[NFTA_CHAIN_MAX + 1];
};

static int watch_attr_cb(const struct nlattr *attr, void *data)
{
	struct watch_attrs *a = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= NFTA_CHAIN_MAX)
		a->tb[type] = attr;
	return MNL_CB_OK;
}

static const char *watch_str(const struct nlattr *attr, char *buf, size_t len)
{
	size_t n;

	if (!attr)
		return NULL;
	n = mnl_attr_get_payload_len(attr);
	if (n >= len)
		n = len - 1;
	memcpy(buf, mnl_attr_get_payload(attr), n);
	buf[n] = '\0';
	return buf;
}

static void watch_object(struct nft_watch *w, const struct nlmsghdr *nlh, uint8_t msg)
{
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct watch_attrs a = {0};
	char table[64];

	if (mnl_attr_parse(nlh, sizeof(*nfg), watch_attr_cb, &a) < 0)
		return;
	if (!watch_str(a.tb[1], table, sizeof(table)))
		return;
	/* Ours: table inet bulkhead, and the profile's netdev and bridge tables. */
	if ((nfg->nfgen_family == NFPROTO_INET || nfg->nfgen_family == NFPROTO_NETDEV ||
	     nfg->nfgen_family == NFPROTO_BRIDGE) &&
	    strcmp(table, NFT_TABLE_NAME) == 0) {
		w->pending.table_touched = true;
		return;
	}
	if (msg == NFT_MSG_NEWCHAIN && a.tb[NFTA_CHAIN_HOOK] &&
	    w->pending.nforeign <
		(int)(sizeof(w->pending.foreign) / sizeof(w->pending.foreign[0]))) {
		struct nft_chain_ref *ref = &w->pending.foreign[w->pending.nforeign++];

		ref->family = nfg->nfgen_family;
		snprintf(ref->table, sizeof(ref->table), "%s", table);
		watch_str(a.tb[NFTA_CHAIN_NAME], ref->name, sizeof(ref->name));
	}
}

static int watch_gen_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= NFTA_GEN_MAX)
		tb[type] = attr;
	return MNL_CB_OK;
}

/* The end of a generation: report it if it concerns us and was not ours. */
static void watch_generation(struct nft_watch *w, const struct nlmsghdr *nlh,
			     void (*fn)(const struct nft_event *, void *), void *arg)
{
	const struct nlattr *tb[NFTA_GEN_MAX + 1] = {0};
	struct nft_event *ev = &w->pending;

	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), watch_gen_attr_cb, tb);
	if (tb[NFTA_GEN_PROC_PID] && mnl_attr_get_payload_len(tb[NFTA_GEN_PROC_PID]) == 4)
		ev->pid = ntohl(mnl_attr_get_u32(tb[NFTA_GEN_PROC_PID]));
	watch_str(tb[NFTA_GEN_PROC_NAME], ev->comm, sizeof(ev->comm));
	if ((ev->table_touched || ev->nforeign) && ev->pid != (uint32_t)w->self)
		fn(ev, arg);
	memset(ev, 0, sizeof(*ev));
}

int nft_watch_read(struct nft_watch *w, void (*fn)(const struct nft_event *ev, void *arg),
		   void *arg)
{
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(w->nl, w->buf, sizeof(w->buf));
		const struct nlmsghdr *nlh;
		int rest;

		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {
				/* Events were lost: nothing can be assumed about them. */
				struct nft_event ev = {.overrun = true};

				memset(&w->pending, 0, sizeof(w->pending));
				fn(&ev, arg);
				continue;
			}
			return -errno;
		}
		rest = (int)len;
		for (nlh = (const struct nlmsghdr *)w->buf; mnl_nlmsg_ok(nlh, rest);
		     nlh = mnl_nlmsg_next(nlh, &rest)) {
			uint8_t msg = (uint8_t)(nlh->nlmsg_type & 0xff);

			if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES ||
			    nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg))
				continue;
			if (msg == NFT_MSG_NEWGEN)
				watch_generation(w, nlh, fn, arg);
			else
				watch_object(w, nlh, msg);
		}
	}
}
