/* Links and bridge ports through rtnetlink (libnl-route-3): up and down,
 * bridge port state, listing by pattern, the route to an address, and link
 * events. Only agents/link*.c include libnl. Every function returns 0 (or a
 * count) or -errno. */
#ifndef BULKHEAD_AGENT_LINK_H
#define BULKHEAD_AGENT_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "bulkhead/conf.h"

#define LINK_NAME_MAX 16 /* IFNAMSIZ */

/* The kernel's bridge port states (linux/if_bridge.h), for callers that do
 * not include kernel headers. */
#define LINK_BR_DISABLED 0
#define LINK_BR_BLOCKING 4
#define LINK_BR_FORWARDING 3

struct agent_link;

/* One link of this network namespace. */
struct link_info {
	char name[LINK_NAME_MAX];
	int ifindex;
	int master; /* ifindex of its bridge or bond, 0 for none */
	int lower;  /* IFLA_LINK in this namespace (a VLAN's parent), 0 for none */
	char kind[16];
	bool up;       /* administratively (IFF_UP) */
	bool loopback; /* IFF_LOOPBACK */
	int brport;    /* bridge port state, -1 when not a bridge port */
};

/* Two rtnetlink sockets: one for requests, one for link and route events. */
struct agent_link *agent_link_new(void);
void agent_link_free(struct agent_link *l);

/* Sets a link administratively up or down. */
int link_updown_set(struct agent_link *l, const char *name, bool up);

/* Sets a bridge port's STP state (LINK_BR_BLOCKING, LINK_BR_FORWARDING). */
int link_brport_state_set(struct agent_link *l, const char *name, uint8_t state);

/* A bridge port's state, or -errno (-ENOENT: not a bridge port). */
int link_brport_state_get(struct agent_link *l, const char *name);

/* Stops a bridge port forwarding: blocking, or disabled where blocking does
 * not hold (a bridge without STP). bridge: the port's master ifindex, or 0. */
int link_brport_block(struct agent_link *l, const char *name, int bridge);

/* Every link of the namespace, bridge port states included. *out is an
 * array the caller frees; returns the count. */
int link_list(struct agent_link *l, struct link_info **out);

/* Does name match any of the shell globs? */
bool link_match(const char *name, const struct conf_patterns *ps);

/* The route the kernel would take to dst: its output link and, when the
 * destination is not on the link, the gateway (gw->family 0 otherwise). */
int link_route_get(struct agent_link *l, const struct conf_addr *dst, int *ifindex,
		   struct conf_addr *gw);

/* Link and route events, to notice a held link coming back up, a port
 * that is forwarding again, or a new route to the controller. */
int link_watch_fd(const struct agent_link *l);
/* Reads what is pending; returns how many events were read. */
int link_watch_read(struct agent_link *l);

#endif
