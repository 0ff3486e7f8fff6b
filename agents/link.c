/* Links and bridge ports through rtnetlink, with libnl-route-3. Requests are
 * built by hand where libnl has no call for them (a bridge port's state),
 * and every request waits for its ACK, whose errno is returned as is. */
#include <net/if.h> /* before libnl's linux/if.h, which then leaves it alone */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/if_bridge.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>

#include "bulkhead/log.h"
#include "link.h"

/* The kernel always answers; this only guards against a lost reply. */
#define LINK_REPLY_TIMEOUT_S 5

_Static_assert(LINK_BR_BLOCKING == BR_STATE_BLOCKING && LINK_BR_FORWARDING == BR_STATE_FORWARDING &&
		   LINK_BR_DISABLED == BR_STATE_DISABLED,
	       "bridge port states");

struct agent_link {
	struct nl_sock *sk;    /* requests */
	struct nl_cb *cb;      /* their ACKs */
	struct nl_sock *watch; /* link and route events */
	int events;
	int reply_err; /* errno of the last ACK, negative */
	bool reply_done;
	int no_block[16]; /* bridges where blocking does not hold (no STP) */
	int nno_block;
};

static int link_ack_err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct agent_link *l = arg;

	l->reply_err = e->error;
	l->reply_done = true;
	return NL_STOP;
}

static int link_ack_cb(struct nl_msg *msg, void *arg)
{
	struct agent_link *l = arg;

	l->reply_err = 0;
	l->reply_done = true;
	return NL_STOP;
}

static int link_event_cb(struct nl_msg *msg, void *arg)
{
	struct agent_link *l = arg;

	l->events++;
	return NL_OK;
}

struct agent_link *agent_link_new(void)
{
	struct agent_link *l = xcalloc(1, sizeof(*l));
	struct timeval tv = {.tv_sec = LINK_REPLY_TIMEOUT_S};
	int rc;

	l->sk = nl_socket_alloc();
	l->watch = nl_socket_alloc();
	l->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!l->sk || !l->watch || !l->cb)
		fatal("link: out of memory");
	nl_cb_err(l->cb, NL_CB_CUSTOM, link_ack_err_cb, l);
	nl_cb_set(l->cb, NL_CB_ACK, NL_CB_CUSTOM, link_ack_cb, l);
	rc = nl_connect(l->sk, NETLINK_ROUTE);
	if (rc < 0) {
		log_err("link: rtnetlink socket: %s", nl_geterror(rc));
		goto fail;
	}
	setsockopt(nl_socket_get_fd(l->sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* Events come unasked: no sequence numbers to check. */
	nl_socket_disable_seq_check(l->watch);
	nl_socket_modify_cb(l->watch, NL_CB_VALID, NL_CB_CUSTOM, link_event_cb, l);
	rc = nl_connect(l->watch, NETLINK_ROUTE);
	if (rc == 0)
		rc = nl_socket_add_memberships(l->watch, RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE,
					       RTNLGRP_IPV6_ROUTE, 0);
	if (rc == 0)
		rc = nl_socket_set_nonblocking(l->watch);
	if (rc < 0) {
		log_err("link: cannot watch link events: %s", nl_geterror(rc));
		goto fail;
	}
	return l;
fail:
	agent_link_free(l);
	return NULL;
}

void agent_link_free(struct agent_link *l)
{
	if (!l)
		return;
	nl_socket_free(l->sk);
	nl_socket_free(l->watch);
	nl_cb_put(l->cb);
	free(l);
}

/* Sends msg (freed here) and waits for its ACK. */
static int link_request(struct agent_link *l, struct nl_msg *msg)
{
	int rc = nl_send_auto(l->sk, msg);

	nlmsg_free(msg);
	if (rc < 0)
		return -EIO;
	l->reply_done = false;
	l->reply_err = 0;
	while (!l->reply_done) {
		rc = nl_recvmsgs(l->sk, l->cb);
		/* The error callback has kept the kernel's errno; libnl's own
		 * code for it is lossy. */
		if (rc < 0 && !l->reply_done)
			return rc == -NLE_AGAIN ? -ETIMEDOUT : -EIO;
	}
	return l->reply_err;
}

int link_updown_set(struct agent_link *l, const char *name, bool up)
{
	struct ifinfomsg ifi = {
	    .ifi_family = AF_UNSPEC,
	    .ifi_change = IFF_UP,
	    .ifi_flags = up ? IFF_UP : 0,
	};
	struct nl_msg *msg;

	if (strlen(name) >= LINK_NAME_MAX)
		return -EINVAL;
	msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
	if (!msg)
		fatal("link: out of memory");
	/* ifindex 0: the kernel finds the link by IFLA_IFNAME. */
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return link_request(l, msg);
}

int link_brport_state_set(struct agent_link *l, const char *name, uint8_t state)
{
	struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE};
	struct nlattr *pi;
	struct nl_msg *msg;
	int rc = -EMSGSIZE;

	/* AF_BRIDGE requests are looked up by index only, never by name. */
	ifi.ifi_index = (int)if_nametoindex(name);
	if (ifi.ifi_index == 0)
		return -errno;
	msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
	if (!msg)
		fatal("link: out of memory");
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		goto fail;
	/* Without NLA_F_NESTED the kernel reads IFLA_PROTINFO as the old bare
	 * u8 state; nested, it holds IFLA_BRPORT_* attributes. The kernel
	 * refuses (EBUSY) while the bridge runs kernel STP, and (ENETDOWN) on a
	 * port whose link is down: a down port forwards nothing anyway. */
	pi = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
	if (!pi || nla_put_u8(msg, IFLA_BRPORT_STATE, state) < 0)
		goto fail;
	nla_nest_end(msg, pi);
	return link_request(l, msg);
fail:
	nlmsg_free(msg);
	return rc;
}

int link_brport_state_get(struct agent_link *l, const char *name)
{
	struct nl_cache *ports = NULL;
	struct nl_object *o;
	int idx = (int)if_nametoindex(name), rc = -ENOENT;

	if (idx == 0)
		return -errno;
	if (rtnl_link_alloc_cache(l->sk, AF_BRIDGE, &ports) < 0)
		return -EIO;
	for (o = nl_cache_get_first(ports); o; o = nl_cache_get_next(o))
		if (rtnl_link_get_ifindex((struct rtnl_link *)o) == idx)
			rc = rtnl_link_bridge_get_port_state((struct rtnl_link *)o);
	nl_cache_free(ports);
	return rc;
}

int link_brport_block(struct agent_link *l, const char *name, int bridge)
{
	int rc;

	for (int i = 0; bridge && i < l->nno_block; i++)
		if (l->no_block[i] == bridge)
			return link_brport_state_set(l, name, BR_STATE_DISABLED);
	rc = link_brport_state_set(l, name, BR_STATE_BLOCKING);
	if (rc < 0)
		return rc;
	/* Without STP the kernel's port state selection, which follows every
	 * change, makes a designated port forwarding again at once: blocking
	 * only holds where an STP daemon runs. Disabled holds everywhere, until
	 * the port's carrier changes (the guard watches for that). The bridge
	 * is remembered, so its other ports skip the first try. */
	if (link_brport_state_get(l, name) == BR_STATE_FORWARDING) {
		rc = link_brport_state_set(l, name, BR_STATE_DISABLED);
		if (bridge && l->nno_block < (int)(sizeof(l->no_block) / sizeof(l->no_block[0])))
			l->no_block[l->nno_block++] = bridge;
	}
	return rc;
}

bool link_match(const char *name, const struct conf_patterns *ps)
{
	for (int i = 0; i < ps->n; i++)
		if (fnmatch(ps->p[i], name, 0) == 0)
			return true;
	return false;
}

static void link_info_fill(struct rtnl_link *rl, struct link_info *li)
{
	const char *kind = rtnl_link_get_type(rl);
	int32_t nsid;

	memset(li, 0, sizeof(*li));
	snprintf(li->name, sizeof(li->name), "%s", rtnl_link_get_name(rl));
	li->ifindex = rtnl_link_get_ifindex(rl);
	li->master = rtnl_link_get_master(rl);
	/* A veth's or macvlan's IFLA_LINK may name a link of another namespace. */
	if (rtnl_link_get_link_netnsid(rl, &nsid) != 0)
		li->lower = rtnl_link_get_link(rl);
	if (li->lower == li->ifindex)
		li->lower = 0;
	snprintf(li->kind, sizeof(li->kind), "%s", kind ? kind : "");
	li->up = (rtnl_link_get_flags(rl) & IFF_UP) != 0;
	li->loopback = (rtnl_link_get_flags(rl) & IFF_LOOPBACK) != 0;
	li->brport = -1;
}

int link_list(struct agent_link *l, struct link_info **out)
{
	struct nl_cache *links = NULL, *ports = NULL;
	struct nl_object *o;
	struct link_info *li = NULL;
	int n = 0, cap, rc;

	*out = NULL;
	rc = rtnl_link_alloc_cache(l->sk, AF_UNSPEC, &links);
	if (rc < 0)
		return -EIO;
	cap = nl_cache_nitems(links);
	li = xcalloc((size_t)cap + 1, sizeof(*li));
	for (o = nl_cache_get_first(links); o && n < cap; o = nl_cache_get_next(o))
		link_info_fill((struct rtnl_link *)o, &li[n++]);
	/* Bridge port states come only with an AF_BRIDGE dump. */
	rc = rtnl_link_alloc_cache(l->sk, AF_BRIDGE, &ports);
	if (rc < 0) {
		rc = -EIO;
		goto out;
	}
	for (o = nl_cache_get_first(ports); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *rl = (struct rtnl_link *)o;
		int idx = rtnl_link_get_ifindex(rl);

		if (rtnl_link_get_master(rl) == 0 || rtnl_link_get_master(rl) == idx)
			continue; /* the bridge itself */
		for (int i = 0; i < n; i++)
			if (li[i].ifindex == idx)
				li[i].brport = rtnl_link_bridge_get_port_state(rl);
	}
	rc = n;
	*out = li;
	li = NULL;
out:
	free(li);
	nl_cache_free(links);
	if (ports)
		nl_cache_free(ports);
	return rc;
}

int link_route_get(struct agent_link *l, const struct conf_addr *dst, int *ifindex,
		   struct conf_addr *gw)
{
	struct nl_addr *a = nl_addr_build(dst->family, &dst->a, dst->family == AF_INET ? 4 : 16);
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh;
	struct nl_addr *via;
	int rc;

	if (!a)
		fatal("link: out of memory");
	memset(gw, 0, sizeof(*gw));
	*ifindex = 0;
	rc = rtnl_route_lookup(l->sk, a, &route);
	nl_addr_put(a);
	if (rc < 0)
		return rc == -NLE_OBJ_NOTFOUND ? -ENETUNREACH : -EHOSTUNREACH;
	nh = rtnl_route_nexthop_n(route, 0);
	if (!nh) {
		rtnl_route_put(route);
		return -ENETUNREACH;
	}
	*ifindex = rtnl_route_nh_get_ifindex(nh);
	via = rtnl_route_nh_get_gateway(nh);
	if (via && (nl_addr_get_family(via) == AF_INET || nl_addr_get_family(via) == AF_INET6) &&
	    nl_addr_get_len(via) <= sizeof(gw->a)) {
		gw->family = nl_addr_get_family(via);
		memcpy(&gw->a, nl_addr_get_binary_addr(via), nl_addr_get_len(via));
		nl_addr2str(via, gw->text, sizeof(gw->text));
	}
	rtnl_route_put(route);
	return 0;
}

int link_watch_fd(const struct agent_link *l)
{
	return nl_socket_get_fd(l->watch);
}

int link_watch_read(struct agent_link *l)
{
	l->events = 0;
	/* Non-blocking: libnl returns 0 on EAGAIN, so stop once a read brings
	 * nothing. Bounded, so that a flood cannot hold the agent here. */
	for (int i = 0; i < 256; i++) {
		int before = l->events, rc = nl_recvmsgs_default(l->watch);

		if (rc == -NLE_NOMEM) {
			/* Events were lost (ENOBUFS): count one, so that all is checked. */
			l->events++;
			continue;
		}
		if (rc < 0 || l->events == before)
			break;
	}
	return l->events;
}
