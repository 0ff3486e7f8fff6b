/* The tamper guard: nftables events and a periodic check compare what the
 * kernel holds with what the agent last applied. A change made by anyone
 * else is undone at once and reported to the controller. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "agent.h"

#include <linux/netfilter.h>

/* The baseline after a change is taken this long after its ack, plus up
 * to as much again at random: when every host of a site isolates at once,
 * reading the tables back must not compete with the isolations. */
#define GUARD_BASELINE_DELAY_MS 200

#define guard_alert(a, ...)                                                                        \
	do {                                                                                       \
		(a)->tampers++;                                                                    \
		agent_alert(a, ALERT_TAMPER, __VA_ARGS__);                                         \
	} while (0)

void guard_baseline(struct agent *a)
{
	int rc = nft_table_digest(a->nft, a->digest);

	a->digest_due = 0;
	if (a->baseline_ev)
		evtimer_del(a->baseline_ev);
	if (rc < 0) {
		log_err("reading table inet %s back failed: %s", NFT_TABLE_NAME, strerror(-rc));
		a->digest[0] = '\0';
	}
}

static void guard_who(const struct nft_event *ev, char *buf, size_t len)
{
	if (ev && ev->pid)
		snprintf(buf, len, "%s (pid %" PRIu32 ")", ev->comm[0] ? ev->comm : "?", ev->pid);
	else
		snprintf(buf, len, "an unknown process");
}

/* Compares the kernel's table with the baseline; restores it if they differ. */
static void guard_verify(struct agent *a, const struct nft_event *ev, const char *how)
{
	char now[65], who[64];
	uint64_t t0;
	int rc, gone;

	if (!a->digest[0] && !a->digest_due) {
		guard_baseline(a);
		return;
	}
	if (a->digest_due) {
		/* A change of ours awaits its baseline: the periodic check waits
		 * for it too, but another process's change is undone at once. */
		if (!ev)
			return;
		/* Events were lost, none is known to touch us: made sure of
		 * quietly, without an alert. */
		if (!ev->table_touched) {
			if (agent_table_install(a) == 0)
				guard_baseline(a);
			return;
		}
		rc = -EAGAIN;
	} else {
		rc = nft_table_digest(a->nft, now);
		if (rc == 0 && strcmp(now, a->digest) == 0)
			return;
	}
	gone = rc == -ENOENT;
	t0 = clock_mono_us();
	rc = agent_table_install(a);
	guard_who(ev, who, sizeof(who));
	if (rc < 0) {
		guard_alert(a, "table inet %s was changed by %s (%s) and could not be restored: %s",
			    NFT_TABLE_NAME, who, how, strerror(-rc));
		return;
	}
	guard_baseline(a);
	guard_alert(a, "table inet %s was %s by %s (%s); restored to %s in %" PRIu64 " us",
		    NFT_TABLE_NAME, gone ? "deleted" : "changed", who, how,
		    mode_name(a->m.cur.mode), clock_mono_us() - t0);
}

static const char *guard_family(int family)
{
	switch (family) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_IPV6: return "ip6";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_NETDEV: return "netdev";
	case NFPROTO_ARP: return "arp";
	default: return "?";
	}
}

/* While isolated nothing else may hook into the packet path: a base chain
 * added by someone else cannot accept past our drop, but it is the mark of
 * someone working against the isolation, so it goes, and is reported. */
static void guard_foreign_chain(struct agent *a, const struct nft_event *ev)
{
	char who[64];
	int rc;

	if (a->m.cur.mode != MODE_ISOLATED)
		return;
	guard_who(ev, who, sizeof(who));
	for (int i = 0; i < ev->nforeign; i++) {
		const struct nft_chain_ref *ref = &ev->foreign[i];

		rc = nft_foreign_chain_remove(a->nft, ref->family, ref->table, ref->name);
		guard_alert(a, "base chain %s %s %s added by %s while isolated; %s",
			    guard_family(ref->family), ref->table, ref->name, who,
			    rc == 0 ? "removed" : strerror(-rc));
	}
}

static void guard_event(const struct nft_event *ev, void *arg)
{
	struct agent *a = arg;

	if (ev->nforeign)
		guard_foreign_chain(a, ev);
	if (ev->table_touched || ev->overrun)
		guard_verify(a, ev, ev->overrun ? "events lost, checked" : "nftables event");
}

static void guard_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	int rc = nft_watch_read(a->watch, guard_event, a);

	if (rc < 0)
		log_err("reading nftables events: %s", strerror(-rc));
}

void guard_links_verify(struct agent *a, const char *how)
{
	struct profile_ctx c;
	struct nft_hooks h;

	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0)
		return;
	hard_verify(a, &c);
	port_verify(a, &c);
	/* A data link that appeared, or a new gateway towards the controller,
	 * changes what the profile's tables must cover: install them anew. */
	memset(&h, 0, sizeof(h));
	a->profile.ops->hooks(&c, &h);
	profile_ctx_done(&c);
	if (memcmp(&h, nft_hooks_installed(a->nft), sizeof(h)) != 0) {
		int rc = agent_table_install(a);

		if (rc < 0)
			log_err("re-installing the table for changed links (%s): %s", how,
				strerror(-rc));
		else
			log_info("links changed (%s): table re-installed for them", how);
		guard_baseline(a);
	}
}

static void guard_link_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	if (link_watch_read(a->link) > 0)
		guard_links_verify(a, "link event");
}

/* The next periodic check, verify_ms from now give or take a tenth, so
 * that the agents of a site do not all read their tables back at once. */
static void guard_verify_arm(struct agent *a)
{
	uint32_t r, ms = (uint32_t)a->conf.verify_ms;
	struct timeval tv;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	tv = clock_tv_ms(ms - ms / 10 + r % (ms / 5 + 1));
	evtimer_add(a->verify_ev, &tv);
}

static void guard_verify_cb(evutil_socket_t fd, short what, void *arg)
{
	guard_verify(arg, NULL, "periodic check");
	guard_links_verify(arg, "periodic check");
	guard_verify_arm(arg);
}

static void guard_baseline_cb(evutil_socket_t fd, short what, void *arg)
{
	guard_baseline(arg);
}

void guard_baseline_later(struct agent *a)
{
	uint32_t r;
	struct timeval tv;

	if (evtimer_pending(a->baseline_ev, NULL))
		return;
	RAND_bytes((unsigned char *)&r, sizeof(r));
	tv = clock_tv_ms(GUARD_BASELINE_DELAY_MS + r % (GUARD_BASELINE_DELAY_MS + 1));
	evtimer_add(a->baseline_ev, &tv);
}

int guard_start(struct agent *a)
{

	a->watch = nft_watch_new();
	if (!a->watch)
		return -1;
	a->watch_ev =
	    event_new(a->base, nft_watch_fd(a->watch), EV_READ | EV_PERSIST, guard_watch_cb, a);
	a->verify_ev = evtimer_new(a->base, guard_verify_cb, a);
	a->baseline_ev = evtimer_new(a->base, guard_baseline_cb, a);
	a->link_ev =
	    event_new(a->base, link_watch_fd(a->link), EV_READ | EV_PERSIST, guard_link_cb, a);
	if (!a->watch_ev || !a->verify_ev || !a->baseline_ev || !a->link_ev)
		fatal("out of memory");
	event_add(a->watch_ev, NULL);
	event_add(a->link_ev, NULL);
	guard_verify_arm(a);
	guard_baseline(a);
	return 0;
}

void guard_stop(struct agent *a)
{
	if (a->watch_ev)
		event_free(a->watch_ev);
	if (a->verify_ev)
		event_free(a->verify_ev);
	if (a->baseline_ev)
		event_free(a->baseline_ev);
	if (a->link_ev)
		event_free(a->link_ev);
	nft_watch_free(a->watch);
}
