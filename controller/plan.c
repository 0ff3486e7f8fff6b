/* Plans: `bulkhead plan` reads every host's applied policy from here, and
 * `bulkhead apply` sends back exactly the plan it reviewed. A plan names,
 * per host, the policy it was made against; if any host has moved on since,
 * the whole plan is refused and nothing is sent. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "controller.h"

struct plan_host {
	struct host *host;
	enum bulkhead_mode mode;
	char base[65];
	struct policy_collect pc; /* its WIRE_POLICY frames, as received */
	int complete;
};

struct plan_rx {
	struct ctl *ctl;
	struct command_opts o;
	char *reason;
	struct plan_host *hosts;
	int n;
	char err[320];
};

void policy_collect_start(struct policy_collect *pc, const char *hash)
{
	if (!pc->rx)
		pc->rx = policy_wire_rx_new();
	snprintf(pc->hash, sizeof(pc->hash), "%s", hash);
	pc->len = 0;
	pc->open = 1;
}

int policy_collect_add(struct policy_collect *pc, const char *host, const void *frame, size_t len,
		       const struct wire_frame *f, char *err, size_t errlen)
{
	const char *why;
	int rc = policy_wire_rx_add(pc->rx, f, &why);
	struct host_policy *hp;

	if (rc < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	pc->frames = realloc(pc->frames, pc->len + len);
	if (!pc->frames)
		fatal("out of memory");
	memcpy(pc->frames + pc->len, frame, len);
	pc->len += len;
	if (rc == 0)
		return 0;
	hp = policy_wire_rx_take(pc->rx);
	rc = strcmp(hp->hash, pc->hash) == 0 && strcmp(hp->host, host) == 0;
	host_policy_free(hp);
	if (!rc)
		return -2;
	pc->open = 0;
	return 1;
}

void policy_collect_clear(struct policy_collect *pc)
{
	policy_wire_rx_free(pc->rx);
	free(pc->frames);
	memset(pc, 0, sizeof(*pc));
}

struct plan_rx *plan_rx_new(struct ctl *c, const struct command_opts *o)
{
	struct plan_rx *rx = xcalloc(1, sizeof(*rx));

	rx->ctl = c;
	rx->o = *o;
	rx->reason = o->reason ? xstrdup(o->reason) : NULL;
	rx->o.reason = rx->reason;
	rx->hosts = xcalloc((size_t)c->nhosts + 1, sizeof(*rx->hosts));
	return rx;
}

static void plan_rx_free(void *arg)
{
	struct plan_rx *rx = arg;

	if (!rx)
		return;
	for (int i = 0; i < rx->n; i++)
		policy_collect_clear(&rx->hosts[i].pc);
	free(rx->hosts);
	free(rx->reason);
	free(rx);
}

/* The reason the request is refused, for its answer. */
#define plan_error(rx, ...) errbuf_set((rx)->err, sizeof((rx)->err), __VA_ARGS__)

static int plan_rx_add(void *arg, const void *frame, size_t len, const struct wire_frame *f)
{
	struct plan_rx *rx = arg;
	struct plan_host *ph = rx->n ? &rx->hosts[rx->n - 1] : NULL;
	struct msg_plan_host m;
	const char *err;
	char why[200];
	struct host *h;

	if (f->type != WIRE_PLAN_HOST) {
		if (f->type != WIRE_POLICY || !ph || ph->complete)
			return plan_error(rx, "unexpected %s frame in the plan",
					  wire_type_name(f->type));
		/* Checked here as the agent will check it: in order, and to the hash. */
		switch (
		    policy_collect_add(&ph->pc, ph->host->name, frame, len, f, why, sizeof(why))) {
		case -1:
			return plan_error(rx, "the plan's policy for %s is damaged: %s",
					  ph->host->name, why);
		case -2:
			return plan_error(rx, "the plan's policy for %s does not match its entry",
					  ph->host->name);
		case 1: ph->complete = 1; break;
		}
		return 0;
	}
	if (msg_plan_host_decode(f, &m, &err) < 0)
		return plan_error(rx, "the plan is malformed: %s", err);
	h = ctl_host_find(rx->ctl, m.name);
	if (!h)
		return plan_error(rx,
				  "the plan names host \"%s\", which is not in the "
				  "controller's inventory",
				  m.name);
	for (int i = 0; i < rx->n; i++)
		if (rx->hosts[i].host == h)
			return plan_error(rx, "the plan names host \"%s\" twice", m.name);
	if (ph && !ph->complete)
		return plan_error(rx, "the plan's policy for %s is incomplete", ph->host->name);
	ph = &rx->hosts[rx->n++];
	ph->host = h;
	ph->mode = m.mode;
	snprintf(ph->base, sizeof(ph->base), "%s", m.base_hash);
	if (ph->mode != MODE_SEGMENTED || strlen(m.hash) != 64)
		return plan_error(rx, "the plan's entry for %s is malformed", m.name);
	policy_collect_start(&ph->pc, m.hash);
	return 0;
}

static void plan_rx_fail(void *arg, struct client *cl)
{
	struct plan_rx *rx = arg;

	log_warn("apply refused: %s", rx->err);
	client_end(cl, 1, rx->err);
	plan_rx_free(rx);
}

static void plan_rx_finish(void *arg, struct client *cl)
{
	struct plan_rx *rx = arg;
	struct target_spec *specs = xcalloc((size_t)rx->n + 1, sizeof(*specs));
	char stale[256] = "";
	int nstale = 0;

	if (rx->n && !rx->hosts[rx->n - 1].complete)
		plan_error(rx, "the plan's policy for %s is incomplete",
			   rx->hosts[rx->n - 1].host->name);
	else if (rx->n == 0)
		plan_error(rx, "the plan changes nothing");
	for (int i = 0; !rx->err[0] && i < rx->n; i++) {
		struct plan_host *ph = &rx->hosts[i];

		/* The plan was reviewed against base, the policy the agent reported;
		 * a different one, or a change in flight to a connected host, voids
		 * it. A host that is away keeps its last word: the plan supersedes
		 * what was waiting for it. */
		if (strcmp(ph->base, ph->host->hash) != 0 || ph->host->hold_confirm ||
		    (ph->host->peer && strcmp(ph->host->want_hash, ph->host->hash) != 0)) {
			size_t l = strlen(stale);

			if (nstale++ < 8)
				snprintf(stale + l, sizeof(stale) - l, "%s%s", l ? ", " : "",
					 ph->host->name);
		}
	}
	if (!rx->err[0] && nstale)
		plan_error(rx,
			   "the plan is stale: %d host%s changed since it was made (%s%s); "
			   "run bulkhead plan again",
			   nstale, nstale == 1 ? "" : "s", stale, nstale > 8 ? ", ..." : "");
	if (rx->err[0]) {
		free(specs);
		plan_rx_fail(rx, cl);
		return;
	}
	for (int i = 0; i < rx->n; i++) {
		struct plan_host *ph = &rx->hosts[i];

		if (store_policy_put(rx->ctl->store, ph->host->name, ph->pc.hash, ph->pc.frames,
				     ph->pc.len) < 0) {
			free(specs);
			plan_error(rx, "the controller could not store the policy of %s",
				   ph->host->name);
			plan_rx_fail(rx, cl);
			return;
		}
		specs[i].host = ph->host;
		/* Isolation wins: an isolated host takes the policy and stays isolated. */
		specs[i].mode = ph->host->want_mode == MODE_ISOLATED ? MODE_ISOLATED : ph->mode;
		specs[i].hash = ph->pc.hash;
	}
	command_start(rx->ctl, cl, &rx->o, specs, rx->n);
	free(specs);
	plan_rx_free(rx);
}

/* Every host with the policy its agent reports it applied (HOST rows, each
 * followed by that policy's frames), then END. */
void plan_policies_send(struct ctl *c, struct client *cl)
{
	static char buf[WIRE_MAX_FRAME];

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];
		struct msg_ctl_host m = {
		    .name = h->name,
		    .status = strcmp(h->want_hash, h->hash) != 0 || h->want_mode != h->mode
				  ? HOST_CHANGING
				  : HOST_NONE,
		    .mode = h->mode,
		    .epoch = h->epoch,
		    .hash = h->hash,
		    .connected = host_seen(h),
		    .persisted = -1,
		};
		size_t len = 0;
		char *frames = NULL;

		client_send(cl, buf, msg_ctl_host_encode(buf, 0, &m));
		if (h->hash[0] && (frames = store_policy_get(c->store, h->name, h->hash, &len)))
			client_send(cl, frames, (int)len);
		free(frames);
	}
	client_end(cl, 0, NULL);
}

const struct body_ops plan_body_ops = {plan_rx_add, plan_rx_finish, plan_rx_fail, plan_rx_free};
