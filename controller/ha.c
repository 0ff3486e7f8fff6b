/* Controllers sharing one store: which of them leads (the leader alone
 * drives playbook runs), and the commands other controllers stored,
 * carried to the agents connected here. Every controller takes agents and
 * operator commands; nothing here stands between an isolation and the
 * agents. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "audit.h"
#include "controller.h"
#include "playbook.h"

#define HA_POLL_MS 250

/* A host commanded through another controller: the newer want is taken,
 * and sent when its agent is connected here. */
static void ha_want(void *arg, const struct host *w)
{
	struct ctl *c = arg;
	struct host *h = ctl_host_find(c, w->name);

	if (w->want_epoch > c->want_mark)
		c->want_mark = w->want_epoch;
	if (!h || w->want_epoch <= h->want_epoch)
		return;
	h->want_mode = w->want_mode;
	h->want_epoch = w->want_epoch;
	snprintf(h->want_hash, sizeof(h->want_hash), "%s", w->want_hash);
	h->hold_confirm = w->hold_confirm;
	h->want_hard = w->want_hard;
	snprintf(h->port_sw, sizeof(h->port_sw), "%s", w->port_sw);
	snprintf(h->port_name, sizeof(h->port_name), "%s", w->port_name);
	if (!h->peer || h->epoch >= h->want_epoch)
		return;
	log_info("%s: %s at epoch %" PRIu64 ", commanded through another controller", h->name,
		 mode_name(h->want_mode), h->want_epoch);
	peer_send_mode(h->peer, h->want_epoch, h->want_mode, h->want_hash, CTL_CONFIRM_MS_DEFAULT);
}

static void ha_leader_poll(struct ctl *c)
{
	uint64_t term = 0;
	int lead = store_leader_poll(c->store, c->name, &term) == 1;

	if (lead == c->leader && term == c->term)
		return;
	if (lead) {
		log_info("%s leads (term %" PRIu64 ")", c->name, term);
		audit_log(c->store, clock_wall_ms(), c->name, "leader", NULL, NULL, "elected",
			  "term %" PRIu64, term);
		if (c->leader == 0) {
			/* The run as the last leader left it. */
			pb_run_free(c->run);
			c->run = store_run_load_last(c->store, ctl_host_lookup, c);
		}
	} else if (c->leader == 1) {
		log_warn("%s no longer leads (term %" PRIu64 "); playbook runs stop here", c->name,
			 c->term);
	}
	c->leader = lead;
	c->term = term;
}

/* This controller is alive, and holds these agents: said every tick, the
 * list itself only when an agent came or went. */
static void ha_held_say(struct ctl *c)
{
	struct host **claims = xcalloc((size_t)c->nhosts + 1, sizeof(*claims));
	struct host **held = xcalloc((size_t)c->nhosts + 1, sizeof(*held));
	int nclaims = 0, nheld = 0;

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];

		if (!h->peer)
			continue;
		held[nheld++] = h;
		if (h->claim)
			claims[nclaims++] = h;
	}
	if (store_hosts_held(c->store, c->name, claims, nclaims, c->held_changed ? held : NULL,
			     nheld) == 0) {
		for (int i = 0; i < nclaims; i++)
			claims[i]->claim = 0;
		c->held_changed = 0;
	}
	free(claims);
	free(held);
}

/* A host another live controller holds: as its agent last reported it. */
static void ha_elsewhere(void *arg, const struct host *w, const char *on)
{
	struct ctl *c = arg;
	struct host *h = ctl_host_find(c, w->name);

	if (!h || h->peer)
		return;
	if (strcmp(h->on, on) != 0)
		snprintf(h->on, sizeof(h->on), "%s", on);
	h->on_read = 1;
	if (w->last_seen_ms > h->last_seen_ms)
		h->last_seen_ms = w->last_seen_ms;
	if (w->epoch < h->epoch)
		return;
	h->mode = w->mode;
	h->epoch = w->epoch;
	snprintf(h->hash, sizeof(h->hash), "%s", w->hash);
	h->pending_confirm = w->pending_confirm;
	command_host_reported(c, h);
}

/* Where the agents not connected here are. A host no live controller
 * holds is not seen; when the store does not answer, none is. */
static void ha_elsewhere_read(struct ctl *c)
{
	int rc;

	for (int i = 0; i < c->nhosts; i++)
		c->hosts[i].on_read = 0;
	rc = store_hosts_elsewhere(c->store, c->name, ha_elsewhere, c);
	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];

		if (h->on[0] && (rc < 0 || !h->on_read))
			h->on[0] = '\0';
	}
}

static void ha_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *c = arg;

	ha_leader_poll(c);
	store_hosts_wanted(c->store, c->want_mark, ha_want, c);
	ha_held_say(c);
	ha_elsewhere_read(c);
}

int ha_init(struct ctl *c)
{
	struct timeval tv = clock_tv_ms(HA_POLL_MS);
	char host[64];

	if (c->conf.name) {
		snprintf(c->name, sizeof(c->name), "%s", c->conf.name);
	} else {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "bulkheadd");
		host[sizeof(host) - 1] = '\0';
		snprintf(c->name, sizeof(c->name), "%s", host);
	}
	for (int i = 0; i < c->nhosts; i++)
		if (c->hosts[i].want_epoch > c->want_mark)
			c->want_mark = c->hosts[i].want_epoch;
	c->leader = -1;
	c->held_changed = 1; /* what the store holds is from before this start */
	ha_leader_poll(c);
	if (!c->store->ops->shared)
		return 0;
	c->ha_ev = event_new(c->base, -1, EV_PERSIST, ha_tick_cb, c);
	if (!c->ha_ev)
		fatal("out of memory");
	event_add(c->ha_ev, &tv);
	return 0;
}

void ha_close(struct ctl *c)
{
	if (c->ha_ev)
		event_free(c->ha_ev);
	c->ha_ev = NULL;
}
