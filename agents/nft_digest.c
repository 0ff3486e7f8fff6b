/* Reads our tables back from the kernel and hashes what decides what they
 * do, so that the guard can tell when someone else has changed them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <openssl/evp.h>

#include "bulkhead/log.h"
#include "nft_int.h"

struct nft_dump {
	EVP_MD_CTX *md;
	int nobj;
};

static void nft_digest_update(struct nft_dump *d, const void *data, size_t len)
{
	if (!EVP_DigestUpdate(d->md, data, len))
		fatal("nft: EVP_DigestUpdate failed");
}

/* One object, as a line of text. */
static void nft_digest_line(struct nft_dump *d, const char *text)
{
	nft_digest_update(d, text, strlen(text));
	nft_digest_update(d, "\n", 1);
	d->nobj++;
}

/* Name, hook, priority and policy: what decides what the chain does. */
static int nft_dump_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_chain *c = nft_alloc_check(nftnl_chain_alloc());
	char line[256];

	if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		nftnl_chain_free(c);
		return MNL_CB_ERROR;
	}
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
	nft_digest_line(data, line);
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

/* A rule as libnftnl prints it, less what changes without changing what
 * the rule does: its handle, its position and its counters' values. */
static int nft_dump_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_rule *r = nft_alloc_check(nftnl_rule_alloc());
	int ret = MNL_CB_ERROR;

	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		char line[2048];

		nftnl_rule_unset(r, NFTNL_RULE_HANDLE);
		nftnl_rule_unset(r, NFTNL_RULE_POSITION);
		nftnl_expr_foreach(r, nft_counter_zero, NULL);
		nftnl_rule_snprintf(line, sizeof(line), r, NFTNL_OUTPUT_DEFAULT, 0);
		nft_digest_line(data, line);
		ret = MNL_CB_OK;
	}
	nftnl_rule_free(r);
	return ret;
}

/* A set's elements, as the kernel returns them: everything after the
 * nfgenmsg, whose res_id carries the ruleset generation. */
static int nft_dump_elems_cb(const struct nlmsghdr *nlh, void *data)
{
	const char *p = mnl_nlmsg_get_payload(nlh);
	size_t skip = MNL_ALIGN(sizeof(struct nfgenmsg));

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + skip)
		return MNL_CB_ERROR;
	nft_digest_update(data, p + skip, nlh->nlmsg_len - MNL_NLMSG_HDRLEN - skip);
	return MNL_CB_OK;
}

/* One dump request filtered to our table of `family` (and set, for
 * elements); every reply goes through cb. */
static int nft_dump_run(struct agent_nft *n, uint8_t family, uint16_t type, const char *set,
			mnl_cb_t cb, struct nft_dump *d)
{
	/* Its own buffer: a read-back may come before any batch was sent. */
	static char req[512] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(req, type, family, NLM_F_DUMP, n->seq);
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

/* The chains, then the rules, of our table of one family. */
static int nft_dump_table(struct agent_nft *n, uint8_t family, struct nft_dump *d)
{
	int ret = nft_dump_run(n, family, NFT_MSG_GETCHAIN, NULL, nft_dump_chain_cb, d);

	if (ret == 0)
		ret = nft_dump_run(n, family, NFT_MSG_GETRULE, NULL, nft_dump_rule_cb, d);
	return ret;
}

int nft_table_digest(struct agent_nft *n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	struct nft_dump d = {.md = EVP_MD_CTX_new()};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *set;
	int ret;

	if (!d.md || !EVP_DigestInit_ex(d.md, EVP_sha256(), NULL))
		fatal("nft: cannot start SHA-256");
	ret = nft_dump_table(n, NFPROTO_INET, &d);
	if (ret == 0 && d.nobj == 0)
		ret = -ENOENT;
	/* The profile's tables, where it has them: the same guard covers them. */
	for (int f = 0; ret == 0 && f < 2; f++) {
		bool want = f == 0 ? n->installed.netdev : n->installed.bridge;
		uint8_t family = f == 0 ? NFPROTO_NETDEV : NFPROTO_BRIDGE;

		if (!want)
			continue;
		nft_digest_update(&d, nft_family_name(family), strlen(nft_family_name(family)));
		ret = nft_dump_table(n, family, &d);
	}
	/* The policy lives in the sets: an element slipped in is tampering too. */
	for (size_t i = 0; ret == 0 && (set = nft_set_name(i)); i++) {
		nft_digest_update(&d, set, strlen(set));
		ret = nft_dump_run(n, NFPROTO_INET, NFT_MSG_GETSETELEM, set, nft_dump_elems_cb, &d);
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
