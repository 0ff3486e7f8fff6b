/* The agent's mode state machine. Older epochs are ignored, a repeat of
 * the current one changes nothing, isolation always wins, and every change
 * that opens traffic is commit-confirmed: unless confirmed in time it
 * returns by itself to the last confirmed state. A change is recorded
 * before it is applied; one that cannot be recorded is refused if it
 * opens traffic, and a failed one leaves the machine exactly as it was. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "mode.h"

/* What a failed change returns to: everything it may have touched. */
struct mode_snapshot {
	struct mode_state cur, prev;
	bool pending;
	int nholds;
};

void mode_init(struct mode_machine *m, const struct mode_backend *be, void *arg)
{
	memset(m, 0, sizeof(*m));
	m->be = be;
	m->arg = arg;
	m->cur.mode = MODE_OPEN;
}

const char *mode_policy_hash(const struct mode_state *s)
{
	return s->policy ? s->policy->hash : "";
}

/* Frees a policy no state of the machine refers to any more. */
static void mode_policy_drop(struct mode_machine *m, struct host_policy *hp)
{
	if (hp && hp != m->cur.policy && hp != m->prev.policy && hp != m->staged)
		host_policy_free(hp);
}

void mode_clear(struct mode_machine *m)
{
	struct host_policy *cur = m->cur.policy, *prev = m->prev.policy, *staged = m->staged;

	host_policy_free(cur);
	if (prev != cur)
		host_policy_free(prev);
	if (staged != cur && staged != prev)
		host_policy_free(staged);
	m->cur.policy = m->prev.policy = m->staged = NULL;
}

static void mode_snapshot_take(const struct mode_machine *m, struct mode_snapshot *s)
{
	s->cur = m->cur;
	s->prev = m->prev;
	s->pending = m->pending;
	s->nholds = m->nholds;
}

/* Back to the snapshot; hp, the policy the failed change brought, goes. */
static void mode_snapshot_restore(struct mode_machine *m, const struct mode_snapshot *s,
				  struct host_policy *hp)
{
	m->cur = s->cur;
	m->prev = s->prev;
	m->pending = s->pending;
	m->nholds = s->nholds;
	mode_policy_drop(m, hp);
}

static void mode_refuse(struct mode_result *res, uint32_t err, uint64_t apply_us, const char *why)
{
	res->status = ACK_REFUSED;
	res->error = err;
	res->apply_us = apply_us;
	snprintf(res->message, sizeof(res->message), "%s", why);
}

static int mode_record(struct mode_machine *m)
{
	m->persisted = m->be->record(m->arg) == 0;
	return m->persisted ? 0 : -1;
}

/* Puts the kernel into mode with hp, in_force being the policy the kernel
 * holds now: a tiny transaction when only the mode changes, the whole
 * table (one transaction) when the policy does. */
static int mode_kernel_apply(struct mode_machine *m, const struct host_policy *in_force,
			     enum bulkhead_mode mode, const struct host_policy *hp,
			     uint64_t *apply_us)
{
	uint64_t t0;
	int rc;

	if (hp == in_force) {
		rc = m->be->mode_apply(m->arg, mode, apply_us);
		if (rc != -ENOENT)
			return rc;
		/* Our table was deleted behind our back: rebuild it whole. */
		log_warn("table inet bulkhead is missing; re-installing it");
	}
	t0 = clock_mono_us();
	rc = m->be->table_install(m->arg, mode, hp);
	*apply_us = clock_mono_us() - t0;
	return rc;
}

/* Hard isolation's holds: the new ones are added to those already held. */
static void mode_hard_plan(struct mode_machine *m, char *kept, size_t kept_len)
{
	struct agent_hold plan[MODE_MAX_HOLDS];
	int n = m->be->hard_plan(m->arg, plan, MODE_MAX_HOLDS, kept, kept_len);

	for (int i = 0; i < n && m->nholds < MODE_MAX_HOLDS; i++) {
		int known = 0;

		for (int j = 0; j < m->nholds && !known; j++)
			known = strcmp(m->holds[j].name, plan[i].name) == 0;
		if (!known)
			m->holds[m->nholds++] = plan[i];
	}
}

/* Checks that need nothing but the request and the state held; the
 * policy the request names goes to *hp. 0, or -1 with res filled. */
static int mode_request_check(struct mode_machine *m, const struct mode_request *rq, bool opening,
			      struct host_policy **hp, struct mode_result *res)
{
	if (rq->mode < MODE_OPEN || rq->mode > MODE_MAX) {
		mode_refuse(res, EINVAL, 0, "unknown mode");
		return -1;
	}
	if (rq->hard && rq->mode != MODE_ISOLATED) {
		mode_refuse(res, EINVAL, 0, "--hard applies to isolation only");
		return -1;
	}
	if (rq->epoch < m->cur.epoch) {
		log_warn("ignoring epoch %" PRIu64 " (%s): this host holds epoch %" PRIu64,
			 rq->epoch, mode_name(rq->mode), m->cur.epoch);
		mode_refuse(res, ESTALE, 0, "stale epoch ignored");
		return -1;
	}
	/* A change rolled back is not taken again under the same epoch (a
	 * replay, say): opening traffic again needs a new command. Isolation
	 * still wins. */
	if (m->rolled_back_epoch && rq->epoch == m->rolled_back_epoch &&
	    rq->mode != MODE_ISOLATED) {
		mode_refuse(res, ESTALE, 0, "this epoch was rolled back; a new command is needed");
		return -1;
	}
	*hp = m->cur.policy;
	if (rq->hash && *rq->hash && strcmp(rq->hash, mode_policy_hash(&m->cur)) != 0) {
		if (!m->staged || strcmp(rq->hash, m->staged->hash) != 0) {
			mode_refuse(res, ENOENT, 0, "policy named by the command was not received");
			return -1;
		}
		*hp = m->staged;
		if (m->be->policy_save(m->arg, *hp) < 0 && opening) {
			mode_refuse(res, EIO, 0,
				    "cannot store the policy; refusing to open traffic");
			return -1;
		}
	}
	if (rq->mode == MODE_SEGMENTED && !*hp) {
		mode_refuse(res, ENOENT, 0, "no policy to enforce");
		return -1;
	}
	return 0;
}

void mode_set(struct mode_machine *m, const struct mode_request *rq, struct mode_result *res)
{
	/* Bringing held links back up opens traffic too. */
	bool opening = rq->mode != MODE_ISOLATED || (m->cur.hard && !rq->hard);
	struct mode_state old = m->cur;
	struct mode_snapshot snap;
	struct host_policy *hp;
	char kept[256] = "";
	int rc;

	memset(res, 0, sizeof(*res));
	if (mode_request_check(m, rq, opening, &hp, res) < 0)
		return;
	if (rq->epoch == old.epoch && rq->mode == old.mode && hp == old.policy &&
	    rq->hard == old.hard) {
		res->status = m->pending ? ACK_PENDING_CONFIRM : ACK_APPLIED;
		return;
	}
	mode_snapshot_take(m, &snap);
	/* While an earlier change awaits confirmation, the state to return to
	 * stays the last confirmed one. Isolation ends the wait: isolation
	 * wins, and the unconfirmed change is dropped. */
	if (!m->pending)
		m->prev = old;
	else if (!opening && !(rq->hash && *rq->hash))
		hp = m->prev.policy;
	m->pending = opening && rq->confirm_ms > 0;
	m->cur = (struct mode_state){rq->mode, rq->epoch, hp, rq->hard};
	if (hp == m->staged)
		m->staged = NULL;
	/* Recorded before they go down: after a crash the record names them. */
	if (m->cur.hard)
		mode_hard_plan(m, kept, sizeof(kept));
	if (mode_record(m) < 0 && opening) {
		/* Opening traffic that a reboot would not remember is refused;
		 * isolating without a record is still better than not isolating. */
		mode_snapshot_restore(m, &snap, hp);
		mode_refuse(res, EIO, 0, "state directory not writable; refusing to open traffic");
		return;
	}
	rc = mode_kernel_apply(m, old.policy, rq->mode, hp, &res->apply_us);
	if (rc < 0) {
		log_err("epoch %" PRIu64 ": applying %s failed: %s", rq->epoch, mode_name(rq->mode),
			strerror(-rc));
		mode_snapshot_restore(m, &snap, hp);
		/* The record must describe the kernel, not the command that failed. */
		mode_record(m);
		mode_refuse(res, (uint32_t)-rc, res->apply_us, strerror(-rc));
		return;
	}
	if (m->cur.hard) {
		/* The ack's apply time covers the links too. */
		uint64_t t0 = clock_mono_us();
		char text[320];

		m->be->hard_apply(m->arg, m->holds, m->nholds);
		res->apply_us += clock_mono_us() - t0;
		if (kept[0]) {
			snprintf(text, sizeof(text),
				 "isolated --hard left up what it would have taken down: %s", kept);
			m->be->alert(m->arg, ALERT_HARD, text);
		}
	} else if (old.hard) {
		m->be->hard_release(m->arg, m->holds, m->nholds);
	}
	/* Released and nothing to return to: the holds are done with. */
	if (!m->cur.hard && !m->pending && m->nholds) {
		m->nholds = 0;
		mode_record(m);
	}
	if (old.policy != m->cur.policy && !m->pending) {
		if (m->prev.policy == old.policy)
			m->prev.policy = NULL;
		mode_policy_drop(m, old.policy);
	}
	m->be->rollback_disarm(m->arg);
	if (m->pending) {
		m->confirm_ms = rq->confirm_ms;
		m->be->rollback_arm(m->arg, rq->confirm_ms);
	}
	log_info("epoch %" PRIu64 ": %s%s%s%.12s applied in %" PRIu64 " us%s", rq->epoch,
		 mode_name(rq->mode), m->cur.hard ? " --hard" : "", hp ? ", policy " : "",
		 mode_policy_hash(&m->cur), res->apply_us,
		 m->pending ? ", awaiting confirmation" : "");
	res->status = m->pending ? ACK_PENDING_CONFIRM : ACK_APPLIED;
	snprintf(res->message, sizeof(res->message), "%s", kept);
	res->changed = true;
}

void mode_confirm(struct mode_machine *m, uint64_t epoch, bool ports_committed,
		  struct mode_result *res)
{
	memset(res, 0, sizeof(*res));
	if (epoch != m->cur.epoch) {
		if (ports_committed)
			res->status = ACK_COMMITTED;
		else
			mode_refuse(res, ESTALE, 0, "confirmation for another epoch");
		return;
	}
	if (!m->pending && m->rolled_back_epoch && epoch == m->rolled_back_epoch) {
		mode_refuse(res, ESTALE, 0, "this epoch was rolled back");
		return;
	}
	if (m->pending) {
		struct host_policy *prev = m->prev.policy;

		m->be->rollback_disarm(m->arg);
		m->pending = false;
		m->prev.policy = NULL;
		m->prev.hard = false;
		if (!m->cur.hard)
			m->nholds = 0;
		mode_policy_drop(m, prev);
		mode_record(m);
		res->recorded = true;
		m->be->policy_gc(m->arg, mode_policy_hash(&m->cur));
		log_info("epoch %" PRIu64 ": confirmed", epoch);
	}
	res->status = ACK_COMMITTED;
}

void mode_rollback(struct mode_machine *m, const char *why, struct mode_result *res)
{
	struct host_policy *unconfirmed = m->cur.policy;
	enum bulkhead_mode to = m->prev.mode;
	char text[400];
	int rc;

	memset(res, 0, sizeof(*res));
	rc = mode_kernel_apply(m, m->cur.policy, to, m->prev.policy, &res->apply_us);
	if (rc < 0) {
		/* Cannot return: isolate, the one state that is always safe. */
		log_err("rollback failed (%s); isolating", strerror(-rc));
		to = MODE_ISOLATED;
		rc = mode_kernel_apply(m, m->cur.policy, to, m->prev.policy, &res->apply_us);
	}
	/* Back to hard isolation: exactly the links it held go down again. */
	m->cur.hard = to == MODE_ISOLATED && m->prev.hard;
	m->prev.hard = false;
	if (m->cur.hard)
		m->be->hard_apply(m->arg, m->holds, m->nholds);
	else
		m->nholds = 0;
	/* The epoch stays: the unconfirmed command must not be accepted again. */
	m->cur.mode = to;
	m->cur.policy = m->prev.policy;
	m->prev.policy = NULL;
	m->pending = false;
	m->rolled_back_epoch = m->cur.epoch;
	mode_policy_drop(m, unconfirmed);
	mode_record(m);
	snprintf(text, sizeof(text), "epoch %" PRIu64 " rolled back to %s%s%s%.12s: %s",
		 m->cur.epoch, mode_name(m->cur.mode), m->cur.hard ? " --hard" : "",
		 m->cur.policy ? ", policy " : "", mode_policy_hash(&m->cur), why);
	m->be->alert(m->arg, ALERT_ROLLBACK, text);
	res->status = ACK_ROLLED_BACK;
	res->error = rc < 0 ? (uint32_t)-rc : 0;
	snprintf(res->message, sizeof(res->message), "%s", why);
	res->changed = true;
}

int mode_deadman(struct mode_machine *m, uint32_t deadman_s, struct mode_result *res)
{
	struct mode_request rq = {.epoch = m->cur.epoch, .mode = MODE_ISOLATED};
	char text[160];

	if (m->cur.mode == MODE_ISOLATED)
		return 0;
	log_warn("controller out of reach for %u s: isolating (on_controller_loss)", deadman_s);
	mode_set(m, &rq, res);
	snprintf(text, sizeof(text),
		 "controller out of reach for %u s; isolated by on_controller_loss (epoch %" PRIu64
		 ")",
		 deadman_s, m->cur.epoch);
	m->be->alert(m->arg, ALERT_DEADMAN, text);
	return 1;
}

void mode_stage(struct mode_machine *m, struct host_policy *hp)
{
	struct host_policy *old = m->staged;

	m->staged = NULL;
	mode_policy_drop(m, old);
	m->staged = hp;
	log_info("policy %.12s received: %zu elements in, %zu out", hp->hash, hp->nin, hp->nout);
}

void mode_record_fill(const struct mode_machine *m, struct mode_record *r)
{
	memset(r, 0, sizeof(*r));
	r->mode = m->cur.mode;
	r->epoch = m->cur.epoch;
	snprintf(r->policy, sizeof(r->policy), "%s", mode_policy_hash(&m->cur));
	r->pending = m->pending;
	r->prev_mode = m->prev.mode;
	r->prev_epoch = m->prev.epoch;
	snprintf(r->prev_policy, sizeof(r->prev_policy), "%s", mode_policy_hash(&m->prev));
	r->hard = m->cur.hard;
	r->prev_hard = m->pending && m->prev.hard;
	r->nholds = m->nholds;
	memcpy(r->holds, m->holds, sizeof(m->holds[0]) * (size_t)m->nholds);
}

int mode_restore(struct mode_machine *m, const struct mode_record *rec, int loaded)
{
	struct mode_record r = *rec;
	int rolled_back = 0;

	m->cur.mode = MODE_OPEN;
	if (loaded > 0)
		return 0;
	if (loaded == 0 && r.pending) {
		char text[160];

		rolled_back = 1;
		log_warn("epoch %" PRIu64 ": the change to %s was never confirmed; rolling back "
			 "to %s",
			 r.epoch, mode_name(r.mode), mode_name(r.prev_mode));
		snprintf(text, sizeof(text),
			 "epoch %" PRIu64 " was not confirmed before the agent restarted; "
			 "rolled back to %s",
			 r.epoch, mode_name(r.prev_mode));
		m->be->alert(m->arg, ALERT_ROLLBACK, text);
		r.mode = r.prev_mode;
		memcpy(r.policy, r.prev_policy, sizeof(r.policy));
		r.pending = false;
		r.hard = r.mode == MODE_ISOLATED && r.prev_hard;
		r.prev_hard = false;
		if (!r.hard)
			r.nholds = 0;
	}
	if (loaded == 0) {
		/* The holds survive even a record whose policy is lost. */
		m->cur.hard = r.hard && r.mode == MODE_ISOLATED;
		m->nholds = m->cur.hard ? r.nholds : 0;
		memcpy(m->holds, r.holds, sizeof(r.holds[0]) * (size_t)m->nholds);
	}
	if (loaded == 0 && r.policy[0] && !(m->cur.policy = m->be->policy_load(m->arg, r.policy)))
		loaded = -1;
	if (loaded < 0) {
		/* An unreadable record, or a lost policy, could hide an
		 * isolation: fail closed. */
		log_err("state record unusable; isolating until the controller says otherwise");
		m->cur.mode = MODE_ISOLATED;
		m->cur.epoch = 0;
		return -1;
	}
	m->cur.mode = r.mode;
	m->cur.epoch = r.epoch;
	m->persisted = true;
	return rolled_back;
}

void mode_ack_fill(const struct mode_machine *m, const struct mode_result *res, struct msg_ack *k)
{
	*k = (struct msg_ack){
	    .status = res->status,
	    .result = res->error,
	    .epoch = m->cur.epoch,
	    .mode = m->cur.mode,
	    .apply_us = res->apply_us,
	    .hash = mode_policy_hash(&m->cur),
	    .persisted = m->persisted,
	    .error = res->message[0] ? res->message : NULL,
	    .hard = m->cur.hard,
	};
}

void mode_hello_fill(const struct mode_machine *m, struct msg_hello *h)
{
	h->mode = m->cur.mode;
	h->epoch = m->cur.epoch;
	h->hash = mode_policy_hash(&m->cur);
	h->persisted = m->persisted;
	h->pending = m->pending;
	h->hard = m->cur.hard;
}

void mode_set_msg(struct mode_machine *m, const struct msg_set_mode *k, struct mode_result *res)
{
	struct mode_request rq = {k->epoch, k->mode, k->hash, k->confirm_ms, k->hard};

	mode_set(m, &rq, res);
}
