/* The inventory's hosts as bulkheadd tracks them, and who is asking. */
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "bulkhead/log.h"
#include "controller.h"

struct host *ctl_host_find(struct ctl *c, const char *name)
{
	const struct inv_host *ih = inventory_host_find(c->inv, name);

	/* hosts[] is the inventory's hosts, in its order */
	return ih ? &c->hosts[ih - c->inv->hosts] : NULL;
}

static void ctl_hosts_seen_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_hosts_seen_flush(arg, false);
}

void ctl_host_seen(struct ctl *c, struct host *h)
{
	if (!c->seen_ev) {
		c->seen = xcalloc((size_t)c->nhosts, sizeof(*c->seen));
		c->seen_ev = event_new(c->base, -1, 0, ctl_hosts_seen_cb, c);
		if (!c->seen_ev)
			fatal("out of memory");
	}
	if (h->seen_due)
		return;
	h->seen_due = true;
	c->seen[c->nseen++] = h;
	if (c->nseen == 1)
		event_active(c->seen_ev, 0, 0);
}

void ctl_hosts_seen_flush(struct ctl *c, bool last)
{
	store_hosts_seen(c->store, c->seen, c->nseen);
	for (int i = 0; i < c->nseen; i++)
		c->seen[i]->seen_due = false;
	c->nseen = 0;
	if (!last)
		return;
	if (c->seen_ev)
		event_free(c->seen_ev);
	free(c->seen);
	c->seen_ev = NULL;
	c->seen = NULL;
}

struct host *ctl_host_lookup(void *ctl, const char *name)
{
	return ctl_host_find(ctl, name);
}

void ctl_actor(uid_t uid, pid_t pid, char *buf, size_t len)
{
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];

	getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
	snprintf(buf, len, "%s (uid %u, pid %d)", pwp ? pwp->pw_name : "?", (unsigned)uid,
		 (int)pid);
}

enum host_status host_pending(const struct host *h)
{
	if (h->want_epoch > h->epoch)
		return h->want_mode == MODE_ISOLATED	? HOST_PENDING_ISOLATE
		       : h->want_mode == MODE_SEGMENTED ? HOST_PENDING_SEGMENT
							: HOST_PENDING_OPEN;
	return h->pending_confirm ? HOST_AWAITING_CONFIRMATION : HOST_NONE;
}

const char *host_controller(const struct ctl *c, const struct host *h)
{
	if (!c->store->ops->shared)
		return NULL;
	if (h->peer)
		return h->via[0] ? h->via : c->name;
	return h->on[0] ? h->on : NULL;
}
