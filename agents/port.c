/* Switch ports, one by one (WIRE_PORT_SET): a linux-switch agent isolates
 * the ports that lead to hosts by the profile's method, keeps each port's
 * state in the record, and opens them commit-confirmed: a port opened and
 * not confirmed in time is isolated again. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "agent.h"

struct port_req {
	char names[AGENT_MAX_PORTS][LINK_NAME_MAX];
	int n;
	const char *bad;
};

static int port_req_add(const char *s, void *arg)
{
	struct port_req *r = arg;

	if (strlen(s) == 0 || strlen(s) >= LINK_NAME_MAX) {
		r->bad = "a port name must be 1..15 characters";
		return -1;
	}
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->names[i], s) == 0)
			return 0;
	if (r->n == AGENT_MAX_PORTS) {
		r->bad = "too many ports in one command";
		return -1;
	}
	snprintf(r->names[r->n++], LINK_NAME_MAX, "%s", s);
	return 0;
}

static struct agent_port *port_find(struct agent *a, const char *name)
{
	for (int i = 0; i < a->nports; i++)
		if (strcmp(a->ports[i].name, name) == 0)
			return &a->ports[i];
	return NULL;
}

bool port_held(const struct agent *a, const char *name)
{
	for (int i = 0; i < a->nports; i++)
		if (a->ports[i].isolated && strcmp(a->ports[i].name, name) == 0)
			return true;
	return false;
}

static struct agent_hold port_hold(const struct agent_port *p)
{
	struct agent_hold h;

	snprintf(h.name, sizeof(h.name), "%s", p->name);
	h.kind = p->method;
	return h;
}

/* The rollback timer runs to the earliest deadline of the ports opened. */
static void port_timer_arm(struct agent *a)
{
	uint64_t now = clock_mono_ms(), first = 0;

	evtimer_del(a->port_rollback_ev);
	for (int i = 0; i < a->nports; i++)
		if (a->ports[i].pending && (!first || a->ports[i].deadline_ms < first))
			first = a->ports[i].deadline_ms;
	if (first) {
		uint64_t ms = first > now ? first - now : 0;
		struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

		evtimer_add(a->port_rollback_ev, &tv);
	}
}

/* The names of a request, for its ack. */
static void port_ack_names(struct port_ack *pa, const struct port_req *r, const char **v)
{
	for (int i = 0; r && i < r->n; i++)
		v[i] = r->names[i];
	pa->names = v;
	pa->n = r ? r->n : 0;
}

static void port_ack_send(struct agent *a, uint32_t seq, enum ack_status status, uint32_t result,
			  uint64_t apply_us, const char *err, uint64_t epoch, enum port_state state,
			  const struct port_req *r)
{
	static const char *v[AGENT_MAX_PORTS];
	struct port_ack pa = {status, result, apply_us, err, epoch, state, NULL, 0};

	port_ack_names(&pa, r, v);
	session_send_port_ack(a, seq, &pa);
}

static void port_refuse(struct agent *a, uint32_t seq, uint32_t err, const char *why,
			uint64_t epoch, enum port_state state, const struct port_req *r)
{
	log_warn("port-set %s at epoch %" PRIu64 " refused: %s", port_state_name(state), epoch,
		 why);
	port_ack_send(a, seq, ACK_REFUSED, err, 0, why, epoch, state, r);
}

/* Every named port is checked before any is changed: one bad name refuses
 * the whole command. */
static int port_req_check(struct agent *a, const struct port_req *r, uint64_t epoch, bool isolate,
			  char *why, size_t len)
{
	struct profile_ctx c;
	int rc = 0;

	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		snprintf(why, len, "cannot list the links");
		return -EIO;
	}
	for (int i = 0; rc == 0 && i < r->n; i++) {
		const struct agent_port *p = port_find(a, r->names[i]);
		const char *w = NULL;

		rc = a->profile.ops->port_check(&c, r->names[i], &w);
		if (rc < 0)
			snprintf(why, len, "port %s: %s", r->names[i], w);
		else if (p && epoch < p->epoch) {
			snprintf(why, len, "port %s holds epoch %" PRIu64 "; stale epoch ignored",
				 p->name, p->epoch);
			rc = -ESTALE;
		} else if (!isolate && hard_holds(a, r->names[i])) {
			snprintf(why, len, "port %s is held by this switch's hard isolation",
				 r->names[i]);
			rc = -EBUSY;
		}
	}
	profile_ctx_done(&c);
	return rc;
}

/* Applies each port's state to the kernel; the first error goes to why. */
static int port_req_apply(struct agent *a, const struct port_req *r, char *why, size_t len)
{
	struct profile_ctx c;
	int rc = 0;

	if (profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0) {
		snprintf(why, len, "cannot list the links");
		return -EIO;
	}
	for (int i = 0; i < r->n; i++) {
		struct agent_port *p = port_find(a, r->names[i]);
		struct agent_hold h;
		int e;

		if (!p) /* callers name recorded ports only; any other is skipped */
			continue;
		h = port_hold(p);
		e = p->isolated ? profile_hold_apply(&c, &h)
				: (hard_holds(a, p->name) ? 0 : a->profile.ops->release(&c, &h));

		if (e < 0 && rc == 0) {
			rc = e;
			snprintf(why, len, "port %s: %s", p->name, strerror(-e));
		}
		log_info("port %s: %s%s%s", p->name, p->isolated ? "isolated, " : "open",
			 p->isolated ? profile_method_name(p->method) : "",
			 e < 0 ? " (failed)" : "");
	}
	profile_ctx_done(&c);
	return rc;
}

void port_set(struct agent *a, uint32_t seq, const struct msg_port_set *ps)
{
	static struct port_req r;
	static struct agent_port saved[AGENT_MAX_PORTS];
	uint32_t confirm_ms = ps->confirm_ms;
	uint64_t epoch = ps->epoch, t0 = clock_mono_us();
	enum port_state state = ps->state;
	bool isolate = state == PORT_ISOLATED;
	int nsaved = a->nports, repeat = 1, rc;
	char why[160];

	memset(&r, 0, sizeof(r));
	if (!a->profile.ops->port_check) {
		snprintf(why, sizeof(why), "profile %s (kind %s) has no switch ports",
			 a->profile.name, a->profile.ops->name);
		port_refuse(a, seq, EOPNOTSUPP, why, epoch, state, NULL);
		return;
	}
	if (msg_strs_foreach(&ps->ports, port_req_add, &r) < 0 || r.n == 0) {
		port_refuse(a, seq, EINVAL, r.bad ? r.bad : "port-set names no port", epoch, state,
			    NULL);
		return;
	}
	rc = port_req_check(a, &r, epoch, isolate, why, sizeof(why));
	if (rc < 0) {
		port_refuse(a, seq, (uint32_t)-rc, why, epoch, state, &r);
		return;
	}
	for (int i = 0; i < r.n; i++) {
		const struct agent_port *p = port_find(a, r.names[i]);

		if (!p || p->epoch != epoch || p->isolated != isolate)
			repeat = 0;
	}
	if (repeat) {
		bool pending = false;

		for (int i = 0; i < r.n; i++)
			pending |= port_find(a, r.names[i])->pending != 0;
		port_ack_send(a, seq, pending ? ACK_PENDING_CONFIRM : ACK_APPLIED, 0, 0, NULL,
			      epoch, state, &r);
		return;
	}
	memcpy(saved, a->ports, sizeof(saved[0]) * (size_t)a->nports);
	for (int i = 0; i < r.n; i++) {
		struct agent_port *p = port_find(a, r.names[i]);

		if (!p) {
			if (a->nports == AGENT_MAX_PORTS) {
				a->nports = nsaved;
				memcpy(a->ports, saved, sizeof(saved[0]) * (size_t)nsaved);
				port_refuse(a, seq, ENOSPC, "too many ports recorded", epoch, state,
					    &r);
				return;
			}
			p = &a->ports[a->nports++];
			memset(p, 0, sizeof(*p));
			snprintf(p->name, sizeof(p->name), "%s", r.names[i]);
			p->method = a->profile.port_method;
		}
		p->epoch = epoch;
		if (isolate) {
			/* Isolation wins: an open awaiting confirmation is dropped. */
			if (!p->isolated)
				p->method = a->profile.port_method;
			p->isolated = 1;
			p->pending = 0;
		} else if (p->isolated) {
			p->isolated = 0;
			p->pending = confirm_ms > 0;
			p->deadline_ms = clock_mono_ms() + confirm_ms;
		}
	}
	/* Recorded before applied; opening what a reboot would not remember
	 * is refused, isolating is done regardless. */
	if (agent_record(a) < 0 && !isolate) {
		a->nports = nsaved;
		memcpy(a->ports, saved, sizeof(saved[0]) * (size_t)nsaved);
		port_refuse(a, seq, EIO, "state directory not writable; refusing to open ports",
			    epoch, state, &r);
		return;
	}
	rc = port_req_apply(a, &r, why, sizeof(why));
	port_timer_arm(a);
	a->sync_due = a->m.persisted;
	if (rc < 0) {
		port_ack_send(a, seq, ACK_REFUSED, (uint32_t)-rc, clock_mono_us() - t0, why, epoch,
			      state, &r);
		return;
	}
	log_info("epoch %" PRIu64 ": %d port%s %s in %" PRIu64 " us%s", epoch, r.n,
		 r.n == 1 ? "" : "s", port_state_name(state), clock_mono_us() - t0,
		 !isolate && confirm_ms ? ", awaiting confirmation" : "");
	port_ack_send(a, seq, !isolate && confirm_ms ? ACK_PENDING_CONFIRM : ACK_APPLIED, 0,
		      clock_mono_us() - t0, NULL, epoch, state, &r);
}

int port_confirm(struct agent *a, uint64_t epoch)
{
	int n = 0;

	for (int i = 0; i < a->nports; i++) {
		if (a->ports[i].pending && a->ports[i].epoch == epoch) {
			a->ports[i].pending = 0;
			n++;
		}
	}
	if (n) {
		agent_record(a);
		a->sync_due = a->m.persisted;
		port_timer_arm(a);
		log_info("epoch %" PRIu64 ": %d port%s confirmed open", epoch, n,
			 n == 1 ? "" : "s");
	}
	return n;
}

void port_rollback_cb(evutil_socket_t fd, short what, void *arg)
{
	static struct port_req r;
	struct agent *a = arg;
	uint64_t now = clock_mono_ms(), epoch = 0, t0 = clock_mono_us();
	char why[160] = "";
	int rc;

	memset(&r, 0, sizeof(r));
	for (int i = 0; i < a->nports; i++) {
		struct agent_port *p = &a->ports[i];

		if (!p->pending || p->deadline_ms > now)
			continue;
		p->pending = 0;
		p->isolated = 1;
		p->method = a->profile.port_method;
		epoch = p->epoch;
		port_req_add(p->name, &r);
	}
	port_timer_arm(a);
	if (r.n == 0)
		return;
	agent_record(a);
	a->sync_due = a->m.persisted;
	rc = port_req_apply(a, &r, why, sizeof(why));
	agent_alert(a, ALERT_ROLLBACK,
		    "%d port%s opened at epoch %" PRIu64 " not confirmed in time; "
		    "isolated again (%s%s)",
		    r.n, r.n == 1 ? "" : "s", epoch, r.names[0], r.n > 1 ? ", ..." : "");
	port_ack_send(a, 0, ACK_ROLLED_BACK, rc < 0 ? (uint32_t)-rc : 0, clock_mono_us() - t0,
		      rc < 0 ? why : "not confirmed in time", epoch, PORT_ISOLATED, &r);
}

int port_restore(struct agent *a, const struct agent_record *r)
{
	int rolled_back = 0;

	a->nports = r->nports;
	memcpy(a->ports, r->ports, sizeof(r->ports[0]) * (size_t)r->nports);
	for (int i = 0; i < a->nports; i++) {
		if (!a->ports[i].pending)
			continue;
		/* Opened and never confirmed: back to isolated, as its timer
		 * would have done. */
		log_warn("port %s: opened at epoch %" PRIu64 " and never confirmed; "
			 "isolating it again",
			 a->ports[i].name, a->ports[i].epoch);
		a->ports[i].pending = 0;
		a->ports[i].isolated = 1;
		rolled_back++;
	}
	return rolled_back;
}

/* At start: every port the record holds isolated is isolated again. */
void port_reapply(struct agent *a)
{
	static struct port_req r;
	char why[160];

	memset(&r, 0, sizeof(r));
	for (int i = 0; i < a->nports; i++)
		if (a->ports[i].isolated)
			port_req_add(a->ports[i].name, &r);
	if (r.n && port_req_apply(a, &r, why, sizeof(why)) < 0)
		log_err("re-isolating ports at start: %s", why);
}

void port_verify(struct agent *a, const struct profile_ctx *c)
{
	for (int i = 0; i < a->nports; i++) {
		struct agent_hold h;
		int rc;

		if (!a->ports[i].isolated)
			continue;
		h = port_hold(&a->ports[i]);
		if (profile_hold_in_force(c, &h))
			continue;
		rc = profile_hold_apply(c, &h);
		a->tampers++;
		agent_alert(a, ALERT_TAMPER, "isolated port %s came back %s; %s", h.name,
			    h.kind == HOLD_LINK_DOWN ? "up" : "forwarding",
			    rc < 0 ? strerror(-rc) : "isolated again");
	}
}
