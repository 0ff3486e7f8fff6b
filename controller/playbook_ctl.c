/* A playbook run as the CLI hands it over (its stages, checks and each
 * host's policy), and the operator's requests about the run: status,
 * approve, abort, resume. */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "controller.h"
#include "playbook.h"

struct pb_rx {
	struct ctl *ctl;
	struct pb_run *r;
	struct policy_collect pc; /* the policy of the stage host last named */
	char err[320];
};

struct pb_rx *playbook_rx_new(struct ctl *c, const struct msg_ctl_pb_run *m, uid_t uid, pid_t pid)
{
	struct pb_rx *rx = xcalloc(1, sizeof(*rx));

	rx->ctl = c;
	rx->r = xcalloc(1, sizeof(*rx->r));
	snprintf(rx->r->name, sizeof(rx->r->name), "%s", m->name);
	snprintf(rx->r->reason, sizeof(rx->r->reason), "%s", m->reason);
	ctl_actor(uid, pid, rx->r->actor, sizeof(rx->r->actor));
	rx->r->state = RUN_RUNNING;
	return rx;
}

static void playbook_rx_free(void *arg)
{
	struct pb_rx *rx = arg;

	if (!rx)
		return;
	pb_run_free(rx->r);
	policy_collect_clear(&rx->pc);
	free(rx);
}

#define PB_NOT_LEADER                                                                              \
	"this controller does not lead; give playbook commands to the leader (see the audit"       \
	" log's \"leader\" rows)"

/* The reason the request is refused, for its answer. */
#define pb_rx_error(rx, ...) errbuf_set((rx)->err, sizeof((rx)->err), __VA_ARGS__)

static int pb_rx_stage(struct pb_rx *rx, const struct msg_pb_stage *m)
{
	struct pb_stage_rt *s = pb_stage_add(rx->r);

	snprintf(s->name, sizeof(s->name), "%s", m->name);
	snprintf(s->restore, sizeof(s->restore), "%s", m->restore);
	s->approval = m->approval;
	s->soak_ms = m->soak_ms;
	s->on_failure = m->on_failure;
	s->state = STAGE_PENDING;
	return s->name[0] ? 0 : pb_rx_error(rx, "a stage without a name");
}

static int pb_rx_check(struct pb_rx *rx, const struct msg_pb_check *m)
{
	struct pb_stage_rt *s = &rx->r->stages[rx->r->nstages - 1];
	struct pb_check_rt *k = pb_check_add(s);
	struct conf_addr a;

	snprintf(k->from, sizeof(k->from), "%s", m->from);
	snprintf(k->target, sizeof(k->target), "%s", m->target);
	snprintf(k->target_name, sizeof(k->target_name), "%s",
		 m->target_name ? m->target_name : m->target);
	k->proto = m->proto;
	k->port = m->port;
	k->expect_open = m->expect_open;
	k->timeout_ms = m->timeout_ms;
	k->line = (int)m->line;
	if (!ctl_host_find(rx->ctl, k->from))
		return pb_rx_error(rx, "stage %s: check from \"%s\", which is not in the inventory",
				   s->name, k->from);
	if (conf_addr_parse(k->target, &a) < 0 ||
	    (k->proto != IPPROTO_TCP && k->proto != IPPROTO_ICMP))
		return pb_rx_error(rx, "stage %s: malformed check", s->name);
	return 0;
}

static int pb_rx_host(struct pb_rx *rx, const struct msg_plan_host *m)
{
	struct pb_stage_rt *s = &rx->r->stages[rx->r->nstages - 1];
	struct host *h = ctl_host_find(rx->ctl, m->name);

	if (!h)
		return pb_rx_error(rx, "stage %s: host \"%s\" is not in the controller's inventory",
				   s->name, m->name);
	for (int i = 0; i < rx->r->nstages; i++)
		for (int j = 0; j < rx->r->stages[i].nhosts; j++)
			if (rx->r->stages[i].hosts[j] == h)
				return pb_rx_error(rx, "host %s is in two stages", m->name);
	pb_stage_host_add(s, h, m->hash);
	policy_collect_start(&rx->pc, m->hash);
	return 0;
}

/* A stage host's policy: checked against its hash, then stored like any
 * other policy, so that a reconnecting agent can be sent it. */
static int pb_rx_policy(struct pb_rx *rx, const void *frame, size_t len, const struct wire_frame *f)
{
	struct pb_stage_rt *s = &rx->r->stages[rx->r->nstages - 1];
	struct host *h = s->hosts[s->nhosts - 1];
	char why[200];

	switch (policy_collect_add(&rx->pc, h->name, frame, len, f, why, sizeof(why))) {
	case -1: return pb_rx_error(rx, "stage %s: policy of %s: %s", s->name, h->name, why);
	case -2:
		return pb_rx_error(rx, "stage %s: policy of %s does not match its hash", s->name,
				   h->name);
	case 0: return 0;
	}
	if (store_policy_put(rx->ctl->store, h->name, rx->pc.hash, rx->pc.frames, rx->pc.len) < 0)
		return pb_rx_error(rx, "the controller could not store the policy of %s", h->name);
	return 0;
}

static int playbook_rx_add(void *arg, const void *frame, size_t len, const struct wire_frame *f)
{
	struct pb_rx *rx = arg;
	const char *err;
	union msg m;

	if (f->type == WIRE_POLICY && rx->pc.open)
		return pb_rx_policy(rx, frame, len, f);
	if (msg_decode(f, &m, &err) < 0)
		return pb_rx_error(rx, "the run is malformed: %s", err);
	if ((f->type == WIRE_PB_STAGE || f->type == WIRE_PLAN_HOST) && rx->pc.open)
		return pb_rx_error(rx, "a policy in the run is incomplete");
	if (f->type == WIRE_PB_STAGE)
		return pb_rx_stage(rx, &m.pb_stage);
	if (rx->r->nstages == 0)
		return pb_rx_error(rx, "the run has no stages");
	if (f->type == WIRE_PB_CHECK)
		return pb_rx_check(rx, &m.pb_check);
	if (f->type == WIRE_PLAN_HOST)
		return pb_rx_host(rx, &m.plan_host);
	return pb_rx_error(rx, "unexpected %s frame in the run", wire_type_name(f->type));
}

static void playbook_rx_fail(void *arg, struct client *cl)
{
	struct pb_rx *rx = arg;

	log_warn("playbook run refused: %s", rx->err);
	client_end(cl, 1, rx->err);
	playbook_rx_free(rx);
}

static int pb_run_ended(const struct pb_run *r)
{
	return r->state == RUN_DONE || r->state == RUN_ABORTED;
}

static void playbook_rx_finish(void *arg, struct client *cl)
{
	struct pb_rx *rx = arg;
	struct ctl *c = rx->ctl;
	struct pb_run *r = rx->r;
	char msg[256];

	if (rx->pc.open)
		pb_rx_error(rx, "a policy in the run is incomplete");
	else if (r->nstages == 0)
		pb_rx_error(rx, "the run has no stages");
	else if (c->leader != 1)
		pb_rx_error(rx, "%s", PB_NOT_LEADER);
	else if (c->run && !pb_run_ended(c->run))
		pb_rx_error(rx, "playbook %s (run %" PRId64 ") is %s: abort it first", c->run->name,
			    c->run->id, run_state_name(c->run->state));
	for (int i = 0; !rx->err[0] && i < r->nstages; i++)
		if (r->stages[i].nhosts == 0)
			pb_rx_error(rx, "stage %s has no hosts", r->stages[i].name);
	if (rx->err[0] || store_run_insert(c->store, r) < 0) {
		if (!rx->err[0])
			pb_rx_error(rx, "the controller could not store the run");
		playbook_rx_fail(rx, cl);
		return;
	}
	pb_run_free(c->run); /* a finished run, kept for status until now */
	c->run = r;
	rx->r = NULL;
	pb_audit(c, r, NULL, "run started", "running", "%d stages", r->nstages);
	snprintf(msg, sizeof(msg), "playbook %s started as run %" PRId64 ": %d stage%s", r->name,
		 r->id, r->nstages, r->nstages == 1 ? "" : "s");
	client_end(cl, 0, msg);
	playbook_rx_free(rx);
	pb_step(c);
}

/* --- status, approve, abort, resume --- */

static enum check_state pb_check_state(const struct pb_run *r, int stage,
				       const struct pb_check_rt *k)
{
	if (stage != r->current || k->result < 0)
		return CHECK_UNKNOWN;
	return (k->result == 0) == k->expect_open ? CHECK_PASSED : CHECK_FAILED;
}

static void pb_status_stage_send(struct client *cl, const struct pb_run *r, int i, char *buf)
{
	const struct pb_stage_rt *s = &r->stages[i];
	const char **hosts = xcalloc((size_t)s->nhosts + 1, sizeof(*hosts));
	struct msg_pb_stage m = {.index = (uint32_t)i,
				 .name = s->name,
				 .restore = s->restore,
				 .approval = s->approval,
				 .soak_ms = s->soak_ms,
				 .on_failure = s->on_failure,
				 .with_state = true,
				 .state = s->state,
				 .approved_by = s->approved_by,
				 .detail = s->detail,
				 .hosts = {.v = hosts, .n = s->nhosts}};

	for (int j = 0; j < s->nhosts; j++)
		hosts[j] = s->hosts[j]->name;
	client_send(cl, buf, msg_pb_stage_encode(buf, 0, &m));
	free(hosts);
	for (int j = 0; j < s->nchecks; j++) {
		const struct pb_check_rt *k = &s->checks[j];
		struct msg_pb_check mk = {.stage = (uint32_t)i,
					  .from = k->from,
					  .target_name = k->target_name,
					  .target = k->target,
					  .proto = k->proto,
					  .port = k->port,
					  .expect_open = k->expect_open,
					  .with_state = true,
					  .state = pb_check_state(r, i, k)};

		client_send(cl, buf, msg_pb_check_encode(buf, 0, &mk));
	}
}

static void pb_status_send(struct ctl *c, struct client *cl)
{
	static char buf[WIRE_MAX_FRAME];
	struct pb_run *r;
	struct msg_ctl_end end = {.is_run = true};

	/* A follower does not drive the run: the leader's last stored step. */
	if (c->leader == 0) {
		pb_run_free(c->run);
		c->run = store_run_load_last(c->store, ctl_host_lookup, c);
	}
	r = c->run;

	if (!r) {
		client_end(cl, 1,
			   "no playbook is running; start one with `bulkhead playbook run FILE`");
		return;
	}
	for (int i = 0; i < r->nstages; i++)
		pb_status_stage_send(cl, r, i, buf);
	end.run = (uint64_t)r->id;
	end.run_name = r->name;
	end.run_state = r->state;
	end.stage = (uint32_t)r->current;
	client_send(cl, buf, msg_ctl_end_encode(buf, 0, &end));
	client_finish(cl);
}

/* 0 when the stage that waits can be approved (and is want, if given);
 * else -1 with msg saying why not. */
static int pb_approve_check(const struct pb_run *r, const char *want, char *msg, size_t len)
{
	const struct pb_stage_rt *s = &r->stages[r->current];

	if (r->state != RUN_RUNNING || s->state != STAGE_AWAITING_APPROVAL) {
		snprintf(msg, len, "stage %s is %s, not awaiting approval", s->name,
			 stage_state_name(s->state));
		return -1;
	}
	if (want && strcmp(want, s->name) != 0) {
		snprintf(msg, len, "the stage awaiting approval is %s, not %s", s->name, want);
		return -1;
	}
	return 0;
}

/* 0 with msg, or -1 with msg saying why not. */
static int pb_approve(struct ctl *c, struct pb_run *r, const char *want, const char *actor,
		      char *msg, size_t len)
{
	struct pb_stage_rt *s = &r->stages[r->current];

	if (pb_approve_check(r, want, msg, len) < 0)
		return -1;
	snprintf(s->approved_by, sizeof(s->approved_by), "%s", actor);
	pb_stage_state(c, r, STAGE_PENDING, "approved by %s", actor);
	pb_audit(c, r, actor, "stage approved", "approved", "stage %s", s->name);
	snprintf(msg, len, "stage %s approved", s->name);
	return 0;
}

static int pb_abort(struct ctl *c, struct pb_run *r, const char *actor, char *msg, size_t len)
{
	struct pb_stage_rt *s = &r->stages[r->current];
	int applied;

	if (pb_run_ended(r)) {
		snprintf(msg, len, "playbook %s is %s already", r->name, run_state_name(r->state));
		return -1;
	}
	/* A stage that failed under on_failure: halt left its hosts open. */
	applied = s->state != STAGE_PENDING && s->state != STAGE_AWAITING_APPROVAL;
	/* The running stage goes back to isolation; earlier stages stay. */
	pb_audit(c, r, actor, "run aborted", "aborted", "at stage %s (%s)%s", s->name,
		 stage_state_name(s->state), applied ? ": re-isolating its hosts" : "");
	if (applied)
		pb_stage_command(c, r, 1);
	pb_stage_state(c, r, STAGE_ABORTED, "aborted by %s", actor);
	r->state = RUN_ABORTED;
	pb_run_save(c, r);
	snprintf(msg, len, "playbook %s aborted at stage %s%s", r->name, s->name,
		 applied ? "; its hosts are being re-isolated" : "");
	return 0;
}

static int pb_resume(struct ctl *c, struct pb_run *r, const char *actor, char *msg, size_t len)
{
	struct pb_stage_rt *s = &r->stages[r->current];

	if (r->state != RUN_HALTED) {
		snprintf(msg, len, "playbook %s is %s, not halted", r->name,
			 run_state_name(r->state));
		return -1;
	}
	/* The failed stage runs again from the start, gate included. */
	s->approved_by[0] = '\0';
	r->state = RUN_RUNNING;
	pb_run_save(c, r);
	pb_stage_state(c, r, STAGE_PENDING, "resumed by %s", actor);
	pb_audit(c, r, actor, "run resumed", "running", "at stage %s", s->name);
	snprintf(msg, len, "playbook %s resumed at stage %s", r->name, s->name);
	return 0;
}

void playbook_request(struct ctl *c, struct client *cl, const struct wire_frame *f)
{
	struct pb_run *r = c->run;
	char actor[128], msg[320];
	const char *err;
	union msg m;
	int rc;

	if (f->type == WIRE_CTL_PB_STATUS) {
		pb_status_send(c, cl);
		return;
	}
	if (!r) {
		client_end(cl, 1,
			   "no playbook is running; start one with `bulkhead playbook run FILE`");
		return;
	}
	if (msg_decode(f, &m, &err) < 0) {
		client_end(cl, 1, err);
		return;
	}
	/* The leader alone drives the run (and a follower's copy is stale). */
	if (c->leader != 1) {
		client_end(cl, 1, PB_NOT_LEADER);
		return;
	}
	ctl_actor(client_uid(cl), client_pid(cl), actor, sizeof(actor));
	switch (f->type) {
	case WIRE_CTL_PB_APPROVE:
		if (pb_approve_check(r, m.ctl_pb_approve.stage, msg, sizeof(msg)) < 0) {
			client_end(cl, 1, msg);
			return;
		}
		if (access_hold_pb_approve(c, cl, m.ctl_pb_approve.stage))
			return;
		rc = pb_approve(c, r, m.ctl_pb_approve.stage, actor, msg, sizeof(msg));
		break;
	case WIRE_CTL_PB_ABORT: rc = pb_abort(c, r, actor, msg, sizeof(msg)); break;
	case WIRE_CTL_PB_RESUME: rc = pb_resume(c, r, actor, msg, sizeof(msg)); break;
	default: client_end(cl, 1, "unknown playbook request"); return;
	}
	client_end(cl, rc < 0 ? 1 : 0, msg);
	if (rc == 0)
		pb_step(c);
}

void playbook_approve_as(struct ctl *c, struct client *cl, const char *stage, const char *actor)
{
	char msg[320];
	int rc;

	if (!c->run) {
		client_end(cl, 1, "no playbook is running");
		return;
	}
	if (c->leader != 1) {
		client_end(cl, 1, PB_NOT_LEADER);
		return;
	}
	rc = pb_approve(c, c->run, stage, actor, msg, sizeof(msg));
	client_end(cl, rc < 0 ? 1 : 0, msg);
	if (rc == 0)
		pb_step(c);
}

const struct body_ops playbook_body_ops = {playbook_rx_add, playbook_rx_finish, playbook_rx_fail,
					   playbook_rx_free};
