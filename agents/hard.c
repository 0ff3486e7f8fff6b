/* Hard isolation on this host: on top of the isolated table, the links (or,
 * on a switch, the host-facing ports) that the profile names go down or are
 * blocked. The mode machine records the holds before they go down, so that
 * a release, a rollback or a restart puts back exactly those, and never the
 * management channel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/log.h"
#include "agent.h"

bool hard_holds(const struct agent *a, const char *name)
{
	if (!a->m.cur.hard)
		return false;
	for (int i = 0; i < a->m.nholds; i++)
		if (strcmp(a->m.holds[i].name, name) == 0)
			return true;
	return false;
}

int hard_plan(struct agent *a, struct agent_hold *out, int max, char *kept, size_t kept_len)
{
	struct profile_ctx c;
	int n;

	kept[0] = '\0';
	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		log_err("hard isolation: cannot list the links; only the table isolates");
		return 0;
	}
	n = a->profile.ops->isolate(&c, out, max, kept, kept_len);
	profile_ctx_done(&c);
	if (kept[0])
		log_warn("hard isolation leaves up: %s", kept);
	return n;
}

/* Each hold through fn, with the links as they are now. */
static void hard_each(struct agent *a, const struct agent_hold *h, int n,
		      void (*fn)(struct agent *a, const struct profile_ctx *c,
				 const struct agent_hold *h))
{
	struct profile_ctx c;

	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		log_err("hard isolation: cannot list the links");
		return;
	}
	for (int i = 0; i < n; i++)
		fn(a, &c, &h[i]);
	profile_ctx_done(&c);
}

static const char *hard_what(const struct agent_hold *h, bool down)
{
	if (h->kind == HOLD_LINK_DOWN)
		return down ? "down" : "up";
	return down ? "blocking" : "forwarding";
}

static void hard_apply_one(struct agent *a, const struct profile_ctx *c, const struct agent_hold *h)
{
	int rc;

	if (profile_hold_in_force(c, h))
		return;
	rc = profile_hold_apply(c, h);
	if (rc < 0)
		log_err("hard isolation: %s %s: %s",
			h->kind == HOLD_LINK_DOWN ? "link down" : "block port", h->name,
			strerror(-rc));
	else
		log_info("hard isolation: %s %s", h->name, hard_what(h, true));
}

void hard_apply(struct agent *a, const struct agent_hold *h, int n)
{
	hard_each(a, h, n, hard_apply_one);
}

/* A port the controller isolated on its own stays isolated. */
static void hard_release_one(struct agent *a, const struct profile_ctx *c,
			     const struct agent_hold *h)
{
	int rc;

	if (port_held(a, h->name))
		return;
	rc = a->profile.ops->release(c, h);
	if (rc < 0)
		agent_alert(a, ALERT_HARD, "releasing %s failed: %s", h->name, strerror(-rc));
	else
		log_info("hard isolation released: %s %s", h->name, hard_what(h, false));
}

void hard_release(struct agent *a, const struct agent_hold *h, int n)
{
	hard_each(a, h, n, hard_release_one);
}

/* Someone set a held link up, or the bridge made a blocked port forward
 * again after its link came back: undo it, and say so. */
void hard_verify(struct agent *a, const struct profile_ctx *c)
{
	if (!a->m.cur.hard)
		return;
	for (int i = 0; i < a->m.nholds; i++) {
		const struct agent_hold *h = &a->m.holds[i];
		int rc;

		if (profile_hold_in_force(c, h))
			continue;
		rc = profile_hold_apply(c, h);
		a->tampers++;
		agent_alert(a, ALERT_TAMPER, "%s %s came back %s while isolated --hard; %s",
			    h->kind == HOLD_LINK_DOWN ? "link" : "port", h->name,
			    hard_what(h, false), rc < 0 ? strerror(-rc) : "taken down again");
	}
}
