/* Hard isolation: on top of the isolated table, the links (or, on a switch,
 * the host-facing ports) that the profile names go down or are blocked.
 * What was taken down is recorded first, so that a release, a rollback or
 * a restart puts back exactly that, and never the management channel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/log.h"
#include "agent.h"

static int hard_find(const struct agent *a, const char *name)
{
	for (int i = 0; i < a->nholds; i++)
		if (strcmp(a->holds[i].name, name) == 0)
			return i;
	return -1;
}

int hard_plan(struct agent *a, char *kept, size_t kept_len)
{
	struct agent_hold plan[AGENT_MAX_HOLDS];
	struct profile_ctx c;
	int n, added = 0;

	kept[0] = '\0';
	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		log_err("hard isolation: cannot list the links; only the table isolates");
		return 0;
	}
	n = a->profile.ops->isolate(&c, plan, AGENT_MAX_HOLDS, kept, kept_len);
	profile_ctx_done(&c);
	for (int i = 0; i < n && a->nholds < AGENT_MAX_HOLDS; i++) {
		if (hard_find(a, plan[i].name) >= 0)
			continue;
		a->holds[a->nholds++] = plan[i];
		added++;
	}
	if (kept[0])
		log_warn("hard isolation leaves up: %s", kept);
	return added;
}

void hard_apply(struct agent *a)
{
	struct profile_ctx c;

	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		log_err("hard isolation: cannot list the links");
		return;
	}
	for (int i = 0; i < a->nholds; i++) {
		const struct agent_hold *h = &a->holds[i];
		int rc;

		if (profile_hold_in_force(&c, h))
			continue;
		rc = profile_hold_apply(&c, h);
		if (rc < 0)
			log_err("hard isolation: %s %s: %s",
				h->kind == HOLD_LINK_DOWN ? "link down" : "block port", h->name,
				strerror(-rc));
		else
			log_info("hard isolation: %s %s", h->name,
				 h->kind == HOLD_LINK_DOWN ? "down" : "blocking");
	}
	profile_ctx_done(&c);
}

/* The holds stay recorded: while the release awaits confirmation they are
 * what a rollback takes down again. A port the controller isolated on its
 * own stays isolated. */
void hard_release(struct agent *a)
{
	struct profile_ctx c;

	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		log_err("hard isolation: cannot list the links to release them");
		return;
	}
	for (int i = 0; i < a->nholds; i++) {
		const struct agent_hold *h = &a->holds[i];
		int rc;

		if (port_held(a, h->name))
			continue;
		rc = a->profile.ops->release(&c, h);
		if (rc < 0)
			agent_alert(a, "hard", "releasing %s failed: %s", h->name, strerror(-rc));
		else
			log_info("hard isolation released: %s %s", h->name,
				 h->kind == HOLD_LINK_DOWN ? "up" : "forwarding");
	}
	profile_ctx_done(&c);
}

/* Someone set a held link up, or the bridge made a blocked port forward
 * again after its link came back: undo it, and say so. */
void hard_verify(struct agent *a, const struct profile_ctx *c)
{
	if (!a->hard)
		return;
	for (int i = 0; i < a->nholds; i++) {
		const struct agent_hold *h = &a->holds[i];
		int rc;

		if (profile_hold_in_force(c, h))
			continue;
		rc = profile_hold_apply(c, h);
		a->tampers++;
		agent_alert(a, "tamper", "%s %s came back %s while isolated --hard; %s",
			    h->kind == HOLD_LINK_DOWN ? "link" : "port", h->name,
			    h->kind == HOLD_LINK_DOWN ? "up" : "forwarding",
			    rc < 0 ? strerror(-rc) : "taken down again");
	}
}
