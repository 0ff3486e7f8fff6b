/* Hardware profiles as ops tables, one per kind, in the manner of
 * iproute2's struct link_util: the agent asks the kind, never tests it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulkhead/diag.h"
#include "bulkhead/log.h"
#include "profile.h"

/* --- shared behaviour --- */

static void patterns_set(struct conf_patterns *ps, const char *const *list)
{
	memset(ps, 0, sizeof(*ps));
	for (; *list && ps->n < CONF_MAX_PATTERNS; list++)
		ps->p[ps->n++] = xstrdup(*list);
}

static void patterns_copy(struct conf_patterns *dst, const struct conf_patterns *src)
{
	memset(dst, 0, sizeof(*dst));
	for (int i = 0; i < src->n; i++)
		dst->p[dst->n++] = xstrdup(src->p[i]);
}

static void patterns_clear(struct conf_patterns *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->p[i]);
	memset(ps, 0, sizeof(*ps));
}

static void kept_add(char *kept, size_t len, const char *name, const char *why)
{
	size_t used = strlen(kept);

	snprintf(kept + used, len - used, "%s%s (%s)", used ? ", " : "", name, why);
}

/* The ARP peers of the management channel: the controllers and the
 * gateways towards them. */
static void hooks_arp_peers(const struct profile_ctx *c, struct nft_hooks *h)
{
	for (int i = 0; i < c->env->ncontrollers && h->narp_peers < NFT_MAX_ARP_PEERS; i++)
		h->arp_peers[h->narp_peers++] = c->env->controllers[i];
	for (int i = 0; i < c->ngws && h->narp_peers < NFT_MAX_ARP_PEERS; i++)
		h->arp_peers[h->narp_peers++] = c->gws[i];
}

/* The netdev hooks go on every data link, the management link included
 * when it is one: the ARP it needs passes. A dedicated management link
 * (the profile's management patterns) is left alone. */
static void hooks_netdev(const struct profile_ctx *c, struct nft_hooks *h)
{
	const struct profile *p = c->p;

	h->netdev = true;
	for (int i = 0; i < c->nlinks && h->ndevs < NFT_MAX_DEVS; i++) {
		const struct link_info *li = &c->links[i];

		if (li->loopback || !link_match(li->name, &p->data) ||
		    link_match(li->name, &p->management))
			continue;
		snprintf(h->devs[h->ndevs++], sizeof(h->devs[0]), "%s", li->name);
	}
	hooks_arp_peers(c, h);
}

/* Server and hypervisor: every data link that is up, but never one that
 * carries the management channel. */
static int isolate_data_links(const struct profile_ctx *c, struct agent_hold *out, int max,
			      char *kept, size_t kept_len)
{
	const struct profile *p = c->p;
	int n = 0;

	for (int i = 0; i < c->nlinks; i++) {
		const struct link_info *li = &c->links[i];

		if (li->loopback || !link_match(li->name, &p->data))
			continue;
		if (c->protect[i]) {
			/* Configured management is expected; a data link that
			 * turned out to carry the route to the controller is news. */
			if (!link_match(li->name, &p->management) &&
			    !(c->env->mgmt_if && strcmp(c->env->mgmt_if, li->name) == 0))
				kept_add(kept, kept_len, li->name, c->protect[i]);
			continue;
		}
		if (!li->up || n == max)
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", li->name);
		out[n++].kind = HOLD_LINK_DOWN;
	}
	return n;
}

static int release_hold(const struct profile_ctx *c, const struct agent_hold *h)
{
	int rc = h->kind == HOLD_LINK_DOWN
		     ? link_updown_set(c->l, h->name, true)
		     : link_brport_state_set(c->l, h->name, LINK_BR_FORWARDING);

	/* A link that is gone, or a port whose link is down, is as released
	 * as it can be: the bridge forwards again when the link comes up. */
	return rc == -ENODEV || rc == -ENETDOWN ? 0 : rc;
}

int profile_hold_apply(const struct profile_ctx *c, const struct agent_hold *h)
{
	const struct link_info *li = profile_ctx_link(c, h->name);
	int rc = h->kind == HOLD_LINK_DOWN ? link_updown_set(c->l, h->name, false)
					   : link_brport_block(c->l, h->name, li ? li->master : 0);

	/* A port whose link is down forwards nothing; the guard blocks it when
	 * the link comes back (the bridge would make it forwarding). */
	return rc == -ENODEV || rc == -ENETDOWN ? 0 : rc;
}

bool profile_hold_in_force(const struct profile_ctx *c, const struct agent_hold *h)
{
	const struct link_info *li = profile_ctx_link(c, h->name);

	if (!li)
		return true; /* gone: nothing passes */
	if (h->kind == HOLD_LINK_DOWN)
		return !li->up;
	/* Only forwarding passes frames; listening and learning do not. */
	return li->brport != LINK_BR_FORWARDING || !li->up;
}

/* --- linux-server --- */

static const char *const no_patterns[] = {NULL};
static const char *const mgmt_patterns[] = {"mgmt*", "bmc*", NULL};

static const struct profile_defaults server_defaults = {
    .management = mgmt_patterns,
    .data = (const char *const[]){"eth*", "en*", "bond*", "team*", "vlan*", NULL},
    .uplinks = no_patterns,
    .host_facing = no_patterns};

static void server_hooks(const struct profile_ctx *c, struct nft_hooks *h)
{
	if (c->p->netdev_ingress)
		hooks_netdev(c, h);
}

/* --- hypervisor --- */

static const struct profile_defaults hypervisor_defaults = {
    .management = mgmt_patterns,
    .uplinks = (const char *const[]){"eth*", "en*", "bond*", NULL},
    .data = (const char *const[]){"vnet*", "tap*", "vif*", NULL},
    .host_facing = no_patterns,
    .bridge = true};

static void hypervisor_hooks(const struct profile_ctx *c, struct nft_hooks *h)
{
	h->bridge = c->p->bridge;
	if (c->p->netdev_ingress)
		hooks_netdev(c, h);
}

/* --- linux-switch --- */

static const struct profile_defaults switch_defaults = {
    .management = (const char *const[]){"eth0", "mgmt*", NULL},
    .uplinks = (const char *const[]){"uplink*", NULL},
    .host_facing = (const char *const[]){"swp*", NULL},
    .data = no_patterns,
    .port_method = HOLD_LINK_DOWN};

/* The switch's own isolation guards its control plane; the hosts behind it
 * are cut off port by port, so forwarding is never dropped wholesale. */
static void switch_hooks(const struct profile_ctx *c, struct nft_hooks *h)
{
	h->no_forward = true;
}

/* Host-facing, not an uplink, not management; a bridge port if it is to
 * be blocked. */
static int switch_port_check(const struct profile_ctx *c, const char *port, const char **why)
{
	const struct profile *p = c->p;
	const struct link_info *li = profile_ctx_link(c, port);

	if (!li) {
		*why = "no such port";
		return -ENODEV;
	}
	if (!link_match(port, &p->host_facing) || link_match(port, &p->uplinks) ||
	    link_match(port, &p->management)) {
		*why = "not a host-facing port of this switch's profile";
		return -EPERM;
	}
	for (int i = 0; i < c->nlinks; i++) {
		if (&c->links[i] == li && c->protect[i]) {
			*why = c->protect[i];
			return -EPERM;
		}
	}
	if (p->port_method == HOLD_PORT_BLOCK && li->brport < 0) {
		*why = "not a bridge port (port_isolation is bridge-block)";
		return -EINVAL;
	}
	return 0;
}

static int switch_isolate(const struct profile_ctx *c, struct agent_hold *out, int max, char *kept,
			  size_t kept_len)
{
	const struct profile *p = c->p;
	int n = 0;

	for (int i = 0; i < c->nlinks && n < max; i++) {
		const struct link_info *li = &c->links[i];
		const char *why;

		if (!link_match(li->name, &p->host_facing))
			continue;
		if (switch_port_check(c, li->name, &why) < 0) {
			if (link_match(li->name, &p->host_facing) && c->protect[i])
				kept_add(kept, kept_len, li->name, why);
			continue;
		}
		/* Only what is open now: release restores exactly what we changed. */
		if (p->port_method == HOLD_LINK_DOWN ? !li->up : li->brport != LINK_BR_FORWARDING)
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", li->name);
		out[n++].kind = p->port_method;
	}
	return n;
}

static void profile_defaults_set(struct profile *p, const struct profile_defaults *d)
{
	patterns_set(&p->management, d->management);
	patterns_set(&p->data, d->data);
	patterns_set(&p->uplinks, d->uplinks);
	patterns_set(&p->host_facing, d->host_facing);
	p->netdev_ingress = false;
	p->bridge = d->bridge;
	p->port_method = d->port_method;
}

/* --- the table of kinds --- */

static const struct profile_ops profile_kinds[] = {
    {
	.name = "linux-server",
	.keys = PROFILE_KEY_NETDEV | PROFILE_KEY_DATA,
	.defaults = &server_defaults,
	.hooks = server_hooks,
	.isolate = isolate_data_links,
	.release = release_hold,
	.port_check = NULL,
    },
    {
	.name = "hypervisor",
	.keys = PROFILE_KEY_NETDEV | PROFILE_KEY_BRIDGE | PROFILE_KEY_DATA,
	.defaults = &hypervisor_defaults,
	.hooks = hypervisor_hooks,
	.isolate = isolate_data_links,
	.release = release_hold,
	.port_check = NULL,
    },
    {
	.name = "linux-switch",
	.keys = PROFILE_KEY_METHOD | PROFILE_KEY_HOST_FACING,
	.defaults = &switch_defaults,
	.hooks = switch_hooks,
	.isolate = switch_isolate,
	.release = release_hold,
	.port_check = switch_port_check,
    },
};
#define PROFILE_NKINDS (sizeof(profile_kinds) / sizeof(profile_kinds[0]))

static const struct profile_ops *profile_kind_find(const char *name)
{
	for (size_t i = 0; i < PROFILE_NKINDS; i++)
		if (strcmp(profile_kinds[i].name, name) == 0)
			return &profile_kinds[i];
	return NULL;
}

static const char *const profile_methods[] = {
    [HOLD_LINK_DOWN] = "link-down", [HOLD_PORT_BLOCK] = "bridge-block"};

const char *profile_method_name(enum hold_kind k)
{
	return k == HOLD_PORT_BLOCK ? profile_methods[HOLD_PORT_BLOCK]
				    : profile_methods[HOLD_LINK_DOWN];
}

int profile_method_parse(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (strcmp(s, profile_methods[i]) == 0)
			return i;
	return -1;
}

/* --- loading --- */

static void profile_report(conf_error_fn err, void *arg, const char *path,
			   const struct conf_where *at, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void profile_report(conf_error_fn err, void *arg, const char *path,
			   const struct conf_where *at, const char *fmt, ...)
{
	struct diag_list dl;
	va_list ap;

	diag_list_init(&dl);
	va_start(ap, fmt);
	diag_vadd(&dl, diag_file_add(&dl, path), at ? (unsigned)at->line : 0,
		  at ? (unsigned)at->col : 0, 0, fmt, ap);
	va_end(ap);
	diag_list_emit(&dl, err, NULL, arg);
	diag_list_clear(&dl);
}

static const char *profile_kinds_list(void)
{
	return "linux-server, hypervisor, linux-switch";
}

/* The kind-specific checks, every problem reported. */
static int profile_conf_check(const struct profile_conf *pc, const char *path, const char *name,
			      const struct profile_ops *ops, conf_error_fn err, void *arg)
{
	static const struct {
		unsigned key;
		const char *name;
		size_t at;
	} kk[] = {
	    {PROFILE_KEY_NETDEV, "netdev_ingress",
	     offsetof(struct profile_conf, at_netdev_ingress)},
	    {PROFILE_KEY_BRIDGE, "bridge", offsetof(struct profile_conf, at_bridge)},
	    {PROFILE_KEY_METHOD, "port_isolation",
	     offsetof(struct profile_conf, at_port_isolation)},
	    {PROFILE_KEY_DATA, "interfaces.data", offsetof(struct profile_conf, at_data)},
	    {PROFILE_KEY_HOST_FACING, "interfaces.host_facing",
	     offsetof(struct profile_conf, at_host_facing)},
	};
	int errors = 0;

	if (strcmp(pc->name, name) != 0) {
		profile_report(err, arg, path, &pc->at_name,
			       "\"name\": expected \"%s\" (the file's name), got \"%s\"", name,
			       pc->name);
		errors++;
	}
	for (size_t i = 0; i < sizeof(kk) / sizeof(kk[0]); i++) {
		const struct conf_where *at =
		    (const struct conf_where *)((const char *)pc + kk[i].at);

		if (at->line && !(ops->keys & kk[i].key)) {
			profile_report(err, arg, path, at, "\"%s\" is not an option of kind %s",
				       kk[i].name, ops->name);
			errors++;
		}
	}
	return errors ? -1 : 0;
}

int profile_load(struct profile *p, const char *dir, bool dir_explicit, const char *name,
		 conf_error_fn err, void *arg)
{
	struct profile_conf pc;
	const struct profile_ops *ops;
	char path[4096];
	struct stat st;
	bool bad;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
	if (strchr(name, '/') || stat(path, &st) < 0) {
		int e = strchr(name, '/') ? EINVAL : errno;

		ops = profile_kind_find(name);
		if (e == ENOENT && ops && !dir_explicit) {
			p->ops = ops;
			profile_defaults_set(p, ops->defaults);
			snprintf(p->source, sizeof(p->source), "built-in");
			return 0;
		}
		if (!ops)
			profile_report(err, arg, path, NULL,
				       "%s; \"%s\" is not a built-in kind either (%s)", strerror(e),
				       name, profile_kinds_list());
		else
			profile_report(err, arg, path, NULL, "%s (profile_dir is %s)", strerror(e),
				       dir);
		return -1;
	}
	/* Parse errors do not stop the kind's checks: every problem is told. */
	bad = profile_conf_load(path, &pc, err, arg) < 0;
	if (!pc.name) {
		profile_conf_clear(&pc);
		return -1;
	}
	ops = profile_kind_find(pc.kind ? pc.kind : pc.name);
	if (!ops) {
		profile_report(err, arg, path, pc.kind ? &pc.at_kind : &pc.at_name,
			       "unknown profile kind \"%s\" (known: %s)",
			       pc.kind ? pc.kind : pc.name, profile_kinds_list());
		bad = true;
	}
	if ((ops && profile_conf_check(&pc, path, name, ops, err, arg) < 0) || bad) {
		profile_conf_clear(&pc);
		return -1;
	}
	/* A file says all: it does not inherit the built-in patterns. */
	p->ops = ops;
	snprintf(p->source, sizeof(p->source), "%s", path);
	patterns_copy(&p->management, &pc.management);
	patterns_copy(&p->data, &pc.data);
	patterns_copy(&p->uplinks, &pc.uplinks);
	patterns_copy(&p->host_facing, &pc.host_facing);
	p->netdev_ingress = pc.netdev_ingress == 1;
	p->bridge = pc.bridge == 1;
	p->port_method =
	    pc.port_isolation && profile_method_parse(pc.port_isolation) == HOLD_PORT_BLOCK
		? HOLD_PORT_BLOCK
		: HOLD_LINK_DOWN;
	profile_conf_clear(&pc);
	return 0;
}

void profile_clear(struct profile *p)
{
	if (!p)
		return;
	patterns_clear(&p->management);
	patterns_clear(&p->data);
	patterns_clear(&p->uplinks);
	patterns_clear(&p->host_facing);
	p->ops = NULL;
}

/* --- what must stay up --- */

const struct link_info *profile_ctx_link(const struct profile_ctx *c, const char *name)
{
	for (int i = 0; i < c->nlinks; i++)
		if (strcmp(c->links[i].name, name) == 0)
			return &c->links[i];
	return NULL;
}

static int ctx_index(const struct profile_ctx *c, int ifindex)
{
	for (int i = 0; i < c->nlinks; i++)
		if (c->links[i].ifindex == ifindex)
			return i;
	return -1;
}

/* Management is what the config and the profile name, and whatever the
 * route to a controller leaves by; then what those stand on: a VLAN's
 * parent, a bond's members, and a management bridge's uplink ports. */
static void ctx_protect(struct profile_ctx *c)
{
	const struct profile *p = c->p;
	const char **pr = c->protect;
	bool more = true;

	for (int i = 0; i < c->nlinks; i++) {
		const struct link_info *li = &c->links[i];

		if (li->loopback)
			pr[i] = "loopback";
		else if (c->env->mgmt_if && strcmp(li->name, c->env->mgmt_if) == 0)
			pr[i] = "mgmt_if";
		else if (link_match(li->name, &p->management))
			pr[i] = "management interface";
	}
	for (int k = 0; k < c->env->ncontrollers; k++) {
		struct conf_addr gw;
		int ifindex, i;

		if (link_route_get(c->l, &c->env->controllers[k], &ifindex, &gw) < 0)
			continue;
		i = ctx_index(c, ifindex);
		if (i >= 0 && !pr[i])
			pr[i] = "carries the route to the controller";
		if (gw.family && c->ngws < CONF_MAX_ADDRS)
			c->gws[c->ngws++] = gw;
	}
	while (more) {
		more = false;
		for (int i = 0; i < c->nlinks; i++) {
			const struct link_info *li = &c->links[i];
			int lower = li->lower ? ctx_index(c, li->lower) : -1;
			int master = li->master ? ctx_index(c, li->master) : -1;

			if (pr[i] && lower >= 0 && !pr[lower]) {
				pr[lower] = "under a management link";
				more = true;
			}
			if (!pr[i] && master >= 0 && pr[master] &&
			    (strcmp(c->links[master].kind, "bridge") != 0 ||
			     link_match(li->name, &p->uplinks))) {
				pr[i] = strcmp(c->links[master].kind, "bridge") == 0
					    ? "uplink of a management bridge"
					    : "member of a management link";
				more = true;
			}
		}
	}
}

int profile_ctx_init(struct profile_ctx *c, const struct profile *p, struct agent_link *l,
		     const struct profile_env *env)
{
	int n;

	memset(c, 0, sizeof(*c));
	c->p = p;
	c->l = l;
	c->env = env;
	n = link_list(l, &c->links);
	if (n < 0)
		return n;
	c->nlinks = n;
	c->protect = xcalloc((size_t)n + 1, sizeof(*c->protect));
	ctx_protect(c);
	return 0;
}

void profile_ctx_done(struct profile_ctx *c)
{
	free(c->links);
	free(c->protect);
	c->links = NULL;
	c->protect = NULL;
	c->nlinks = 0;
}
