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
	int mode;
	char hash[65], base[65];
	char *frames; /* its WIRE_POLICY frames, as received */
	size_t len;
	int complete;
};

struct plan_rx {
	struct ctl *ctl;
	struct command_opts o;
	char *reason;
	struct plan_host *hosts;
	int n;
	struct policy_wire_rx *wrx;
	char err[320];
};

struct plan_rx *plan_rx_new(struct ctl *c, const struct command_opts *o)
{
	struct plan_rx *rx = xcalloc(1, sizeof(*rx));

	rx->ctl = c;
	rx->o = *o;
	rx->reason = o->reason ? xstrdup(o->reason) : NULL;
	rx->o.reason = rx->reason;
	rx->hosts = xcalloc((size_t)c->nhosts + 1, sizeof(*rx->hosts));
	rx->wrx = policy_wire_rx_new();
	return rx;
}

void plan_rx_free(struct plan_rx *rx)
{
	if (!rx)
		return;
	for (int i = 0; i < rx->n; i++)
		free(rx->hosts[i].frames);
	free(rx->hosts);
	free(rx->reason);
	policy_wire_rx_free(rx->wrx);
	free(rx);
}

static int plan_error(struct plan_rx *rx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int plan_error(struct plan_rx *rx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rx->err, sizeof(rx->err), fmt, ap);
	va_end(ap);
	return -1;
}

int plan_rx_add(struct plan_rx *rx, const void *frame, size_t len, const struct wire_frame *f)
{
	struct plan_host *ph = rx->n ? &rx->hosts[rx->n - 1] : NULL;
	const char *err;
	int rc;

	if (f->type == WIRE_PLAN_HOST) {
		const char *name = wire_get_str(f, WA_NAME, "");
		struct host *h = ctl_host_find(rx->ctl, name);

		if (!h)
			return plan_error(rx,
					  "the plan names host \"%s\", which is not in the "
					  "controller's inventory",
					  name);
		for (int i = 0; i < rx->n; i++)
			if (rx->hosts[i].host == h)
				return plan_error(rx, "the plan names host \"%s\" twice", name);
		if (ph && !ph->complete)
			return plan_error(rx, "the plan's policy for %s is incomplete",
					  ph->host->name);
		ph = &rx->hosts[rx->n++];
		ph->host = h;
		ph->mode = wire_get_u8(f, WA_MODE, MODE_SEGMENTED);
		snprintf(ph->hash, sizeof(ph->hash), "%s", wire_get_str(f, WA_HASH, ""));
		snprintf(ph->base, sizeof(ph->base), "%s", wire_get_str(f, WA_BASE_HASH, ""));
		if (ph->mode != MODE_SEGMENTED || strlen(ph->hash) != 64)
			return plan_error(rx, "the plan's entry for %s is malformed", name);
		return 0;
	}
	if (f->type != WIRE_POLICY || !ph || ph->complete)
		return plan_error(rx, "unexpected %s frame in the plan", wire_type_name(f->type));
	/* Checked here as the agent will check it: in order, and to the hash. */
	rc = policy_wire_rx_add(rx->wrx, f, &err);
	if (rc < 0)
		return plan_error(rx, "the plan's policy for %s is damaged: %s", ph->host->name,
				  err);
	ph->frames = realloc(ph->frames, ph->len + len);
	if (!ph->frames)
		fatal("out of memory");
	memcpy(ph->frames + ph->len, frame, len);
	ph->len += len;
	if (rc == 1) {
		struct host_policy *hp = policy_wire_rx_take(rx->wrx);

		if (strcmp(hp->hash, ph->hash) != 0 || strcmp(hp->host, ph->host->name) != 0) {
			host_policy_free(hp);
			return plan_error(rx, "the plan's policy for %s does not match its entry",
					  ph->host->name);
		}
		host_policy_free(hp);
		ph->complete = 1;
	}
	return 0;
}

void plan_rx_fail(struct plan_rx *rx, struct client *cl)
{
	log_warn("apply refused: %s", rx->err);
	client_end(cl, 1, rx->err);
	plan_rx_free(rx);
}

void plan_rx_finish(struct plan_rx *rx, struct client *cl)
{
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
		    (ph->host->conn && strcmp(ph->host->want_hash, ph->host->hash) != 0)) {
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

		if (store_policy_put(rx->ctl, ph->host->name, ph->hash, ph->frames, ph->len) < 0) {
			free(specs);
			plan_error(rx, "the controller could not store the policy of %s",
				   ph->host->name);
			plan_rx_fail(rx, cl);
			return;
		}
		specs[i].host = ph->host;
		/* Isolation wins: an isolated host takes the policy and stays isolated. */
		specs[i].mode = ph->host->want_mode == MODE_ISOLATED ? MODE_ISOLATED : ph->mode;
		specs[i].hash = ph->hash;
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
	struct wire_builder b;

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];
		size_t len = 0;
		char *frames = NULL;

		wire_build_start(&b, buf, WIRE_CTL_HOST, 0);
		wire_put_str(&b, WA_NAME, h->name);
		wire_put_u8(&b, WA_MODE, (uint8_t)h->mode);
		wire_put_u64(&b, WA_EPOCH, h->epoch);
		wire_put_str(&b, WA_HASH, h->hash);
		wire_put_u8(&b, WA_CONNECTED, h->conn != NULL);
		if (strcmp(h->want_hash, h->hash) != 0 || h->want_mode != h->mode)
			wire_put_str(&b, WA_STATUS, "changing");
		client_send(cl, buf, wire_build_end(&b));
		if (h->hash[0] && (frames = store_policy_get(c, h->name, h->hash, &len)))
			client_send(cl, frames, (int)len);
		free(frames);
	}
	wire_build_start(&b, buf, WIRE_CTL_END, 0);
	wire_put_u32(&b, WA_RESULT, 0);
	client_send(cl, buf, wire_build_end(&b));
	client_finish(cl);
}
