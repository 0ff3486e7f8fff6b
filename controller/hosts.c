/* The inventory's hosts as bulkheadd tracks them, and who is asking. */
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"

struct host *ctl_host_find(struct ctl *c, const char *name)
{
	const struct inv_host *ih = inventory_host_find(c->inv, name);

	/* hosts[] is the inventory's hosts, in its order */
	return ih ? &c->hosts[ih - c->inv->hosts] : NULL;
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
