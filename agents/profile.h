/* Hardware profiles: what a kind of machine is and how it is isolated, as
 * one ops table per kind (linux-server, hypervisor, linux-switch), read from
 * hw-profiles/NAME.yaml. */
#ifndef BULKHEAD_AGENT_PROFILE_H
#define BULKHEAD_AGENT_PROFILE_H

#include <stdbool.h>

#include "bulkhead/conf.h"
#include "link.h"
#include "nft.h"

/* How a link or port is held by an isolation. */
enum hold_kind {
	HOLD_LINK_DOWN,	 /* the link is set administratively down */
	HOLD_PORT_BLOCK, /* the bridge port is set to blocking */
};

struct agent_hold {
	char name[LINK_NAME_MAX];
	enum hold_kind kind;
};

/* What stays up whatever the profile says: the management channel. */
struct profile_env {
	const char *mgmt_if; /* agent.yaml's mgmt_if, or NULL */
	const struct conf_addr *controllers;
	int ncontrollers;
};

/* The links of the host as one decision sees them. */
struct profile_ctx {
	const struct profile *p;
	struct agent_link *l;
	const struct profile_env *env;
	struct link_info *links;
	int nlinks;
	/* per link: why hard isolation must leave it alone (NULL: it may go) */
	const char **protect;
	struct conf_addr gws[CONF_MAX_ADDRS]; /* gateways towards the controllers */
	int ngws;
};

struct profile;

/* A kind's built-in profile: its interface patterns (NULL-terminated
 * shell globs) and settings. */
struct profile_defaults {
	const char *const *management, *const *data, *const *uplinks, *const *host_facing;
	bool bridge;
	enum hold_kind port_method;
};

struct profile_ops {
	const char *name;
	unsigned keys; /* PROFILE_KEY_*: the kind-specific keys a file may hold */
	/* The built-in profile, when there is no file. */
	const struct profile_defaults *defaults;
	/* What the kind adds to table inet bulkhead (netdev, bridge tables). */
	void (*hooks)(const struct profile_ctx *c, struct nft_hooks *h);
	/* Hard isolation: what it takes down, into out (at most max); the
	 * names left up that it would have taken, into kept. Returns the count. */
	int (*isolate)(const struct profile_ctx *c, struct agent_hold *out, int max, char *kept,
		       size_t kept_len);
	/* Puts one held link or port back. */
	int (*release)(const struct profile_ctx *c, const struct agent_hold *h);
	/* Per-port isolation (WIRE_PORT_SET): NULL when the kind has no switch
	 * ports. Returns 0 when port may be isolated, else -errno and *why. */
	int (*port_check)(const struct profile_ctx *c, const char *port, const char **why);
};

#define PROFILE_KEY_NETDEV 0x1
#define PROFILE_KEY_BRIDGE 0x2
#define PROFILE_KEY_METHOD 0x4
#define PROFILE_KEY_DATA 0x8
#define PROFILE_KEY_HOST_FACING 0x10

struct profile {
	const struct profile_ops *ops;
	char name[64];
	char source[4096]; /* the file, or "built-in" */
	struct conf_patterns management, data, uplinks, host_facing;
	bool netdev_ingress;
	bool bridge;
	enum hold_kind port_method; /* linux-switch: how a port is isolated */
};

/* Reads dir/NAME.yaml. With no such file and dir not set explicitly, a
 * built-in kind of that name is used as it ships. Every problem goes to err
 * as "file:line:col: message"; returns 0 or -1. */
int profile_load(struct profile *p, const char *dir, bool dir_explicit, const char *name,
		 conf_error_fn err, void *arg);
void profile_clear(struct profile *p);
const char *profile_method_name(enum hold_kind k);
/* The hold kind named s (link-down, bridge-block), or -1. */
int profile_method_parse(const char *s);

/* Takes a snapshot of the links and works out what is protected. The
 * caller calls profile_ctx_done. Returns 0 or -errno. */
int profile_ctx_init(struct profile_ctx *c, const struct profile *p, struct agent_link *l,
		     const struct profile_env *env);
void profile_ctx_done(struct profile_ctx *c);
const struct link_info *profile_ctx_link(const struct profile_ctx *c, const char *name);

/* Applies a hold (down, blocking). A link that is gone holds nothing: 0. */
int profile_hold_apply(const struct profile_ctx *c, const struct agent_hold *h);
/* Does the kernel still hold it? */
bool profile_hold_in_force(const struct profile_ctx *c, const struct agent_hold *h);

#endif
