/* Playbook runs: hosts come back in stages. Each stage waits for its
 * approval if it has a gate, reconnects its hosts (commit-confirmed), runs
 * its checks from the agents, soaks, checks again, and only then does the
 * next stage start. A stage whose checks fail is re-isolated (or the run
 * halts, as the playbook says). Every step is stored before it is taken, and a periodic step
 * function drives the run from that state, so a controller killed at any point resumes where it
 * was: a stage already sent is waited for, never sent again. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "audit.h"
#include "controller.h"
#include "events.h"
#include "playbook.h"

#define PB_TICK_MS 200
#define PB_APPLY_TIMEOUT_MS 60000
#define PB_CHECK_GRACE_MS 3000
/* How long a stage waits for the agents that run its checks to (re)connect,
 * after a controller restart say, before a check that could not run fails. */
#define PB_AGENT_WAIT_MS 15000

void pb_run_save(struct ctl *c, const struct pb_run *r)
{
	if (store_run_save(c->store, r) < 0)
		log_err("playbook run %" PRId64 ": its state was not stored", r->id);
}

static void pb_stage_save(struct ctl *c, const struct pb_run *r, int idx)
{
	if (store_stage_save(c->store, r, idx) < 0)
		log_err("playbook run %" PRId64 ", stage %d: its state was not stored", r->id,
			idx + 1);
}

void pb_audit(struct ctl *c, const struct pb_run *r, const char *actor, const char *what,
	      const char *result, const char *fmt, ...)
{
	char action[96], detail[512];
	va_list ap;

	snprintf(action, sizeof(action), "playbook %s", what);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	audit_log(c->store, clock_wall_ms(), actor ? actor : r->actor, action, NULL, r->reason,
		  result, "%s (run %" PRId64 "): %s", r->name, r->id, detail);
}

/* Moves a stage to a new state, stored before anything else happens. */
void pb_stage_state(struct ctl *c, struct pb_run *r, enum stage_state state, const char *fmt, ...)
{
	struct pb_stage_rt *s = &r->stages[r->current];
	va_list ap;

	s->state = state;
	s->state_ms = clock_wall_ms();
	s->checks_sent = 0;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
		va_end(ap);
	}
	pb_stage_save(c, r, r->current);
	events_stage(c->events, r->name, r->id, r->current, s->name, state);
	log_info("playbook %s: stage %d \"%s\": %s%s%s", r->name, r->current + 1, s->name,
		 stage_state_name(state), fmt ? ": " : "", fmt ? s->detail : "");
}

/* --- stage actions --- */

void pb_stage_command(struct ctl *c, struct pb_run *r, int isolate)
{
	struct pb_stage_rt *s = &r->stages[r->current];
	struct target_spec *specs = xcalloc((size_t)s->nhosts + 1, sizeof(*specs));
	char actor[400];
	struct command_opts o = {
	    .action = isolate ? ACTION_PB_REISOLATE : ACTION_PB_RECONNECT,
	    .reason = r->reason,
	    .timeout_ms = PB_APPLY_TIMEOUT_MS,
	    .confirm_ms = CTL_CONFIRM_MS_DEFAULT,
	    .actor = actor,
	    .epoch_out = &s->epoch,
	};

	snprintf(actor, sizeof(actor), "playbook %s, stage %s%s%s", r->name, s->name,
		 s->approved_by[0] ? ", approved by " : "", s->approved_by);
	for (int i = 0; i < s->nhosts; i++) {
		specs[i].host = s->hosts[i];
		specs[i].mode = isolate ? MODE_ISOLATED : MODE_SEGMENTED;
		specs[i].hash = isolate ? NULL : s->hashes[i];
	}
	command_start(c, NULL, &o, specs, s->nhosts);
	free(specs);
	pb_stage_save(c, r, r->current);
}

/* Sends each check of the round whose agent is connected; the others go
 * out when their agents come back. */
static void pb_checks_send(struct ctl *c, struct pb_run *r, uint64_t now)
{
	struct pb_stage_rt *s = &r->stages[r->current];

	for (int i = 0; i < s->nchecks; i++) {
		struct pb_check_rt *k = &s->checks[i];
		struct host *h;

		if (!s->checks_sent) {
			k->sent_ms = 0;
			k->id = 0;
		}
		if (k->sent_ms || !(h = ctl_host_find(c, k->from)) || !h->peer)
			continue;
		k->result = -1;
		k->err[0] = '\0';
		k->id = ++c->check_seq;
		if (peer_send_check(h->peer, &(struct msg_check){k->id, k->target, k->proto,
								 k->port, k->timeout_ms}) == 0)
			k->sent_ms = now;
	}
	s->checks_sent = 1;
}

/* 1 all passed, 0 still waiting, -1 one failed (described in why). */
static int pb_checks_verdict(struct pb_stage_rt *s, uint64_t now, char *why, size_t len)
{
	int waiting = 0;

	for (int i = 0; i < s->nchecks; i++) {
		struct pb_check_rt *k = &s->checks[i];
		int reached;

		if (!k->sent_ms) {
			/* A check that could not run proves nothing either way. */
			if (now < s->state_ms + PB_AGENT_WAIT_MS) {
				waiting = 1;
				continue;
			}
			snprintf(why, len,
				 "check from %s to %s (line %d) could not run: the agent of "
				 "%s is not connected",
				 k->from, k->target_name, k->line, k->from);
			return -1;
		}
		if (k->result < 0) {
			if (now < k->sent_ms + k->timeout_ms + PB_CHECK_GRACE_MS) {
				waiting = 1;
				continue;
			}
			k->result = ETIMEDOUT;
			snprintf(k->err, sizeof(k->err), "no answer from the agent of %s", k->from);
		}
		reached = k->result == 0;
		if (reached != k->expect_open) {
			char what[16] = "ping";

			if (k->proto == IPPROTO_TCP)
				snprintf(what, sizeof(what), "tcp/%u", k->port);
			snprintf(why, len, "check from %s to %s %s (line %d) %s%s%s", k->from,
				 k->target_name, what, k->line,
				 reached ? "was reached but must not be" : "failed",
				 k->err[0] ? ": " : "", k->err);
			return -1;
		}
	}
	return waiting ? 0 : 1;
}

/* Whether every host of the stage reports the stage's state. */
static int pb_stage_applied(struct pb_stage_rt *s, int isolate, char *why, size_t len)
{
	for (int i = 0; i < s->nhosts; i++) {
		struct host *h = s->hosts[i];

		/* Seen (here or by another controller): after a restart, the hello says whether a
		 * change still awaits its confirmation. */
		if (!host_seen(h) || h->epoch < s->epoch || h->pending_confirm) {
			snprintf(why, len, "%s has not confirmed", h->name);
			return 0;
		}
		if (isolate ? h->mode != MODE_ISOLATED
			    : h->mode != MODE_SEGMENTED || strcmp(h->hash, s->hashes[i]) != 0) {
			snprintf(why, len, "%s is %s, not %s (rolled back or superseded)", h->name,
				 mode_name(h->mode), isolate ? "isolated" : "segmented");
			return -1;
		}
	}
	return 1;
}

static void pb_fail(struct ctl *c, struct pb_run *r, const char *why)
{
	struct pb_stage_rt *s = &r->stages[r->current];

	if (s->on_failure == ON_FAILURE_HALT) {
		pb_stage_state(c, r, STAGE_FAILED, "%s; hosts left as they are (on_failure: halt)",
			       why);
		r->state = RUN_HALTED;
		pb_run_save(c, r);
		pb_audit(c, r, NULL, "stage failed", "halted", "stage %s: %s", s->name, why);
		return;
	}
	pb_stage_state(c, r, STAGE_REISOLATING, "%s", why);
	pb_audit(c, r, NULL, "stage failed", "re-isolating", "stage %s: %s", s->name, why);
	pb_stage_command(c, r, 1);
}

/* The stage's checks: failed, still waiting, or passed (then soak, or done). */
static void pb_step_checking(struct ctl *c, struct pb_run *r, uint64_t now)
{
	struct pb_stage_rt *s = &r->stages[r->current];
	char why[320];
	int v;

	pb_checks_send(c, r, now);
	v = pb_checks_verdict(s, now, why, sizeof(why));
	if (v < 0) {
		pb_fail(c, r, why);
	} else if (v > 0 && s->soak_ms && s->state == STAGE_CHECKING) {
		pb_stage_state(c, r, STAGE_SOAKING, "%d checks passed; soaking %u s", s->nchecks,
			       s->soak_ms / 1000);
	} else if (v > 0) {
		pb_stage_state(c, r, STAGE_DONE, "%d hosts back, %d checks passed", s->nhosts,
			       s->nchecks);
		pb_audit(c, r, NULL, "stage done", "done",
			 "stage %s: %d hosts back to %s, %d checks passed", s->name, s->nhosts,
			 s->restore, s->nchecks);
		if (++r->current == r->nstages) {
			r->current--;
			r->state = RUN_DONE;
			pb_audit(c, r, NULL, "run done", "done", "%d stages", r->nstages);
		}
		pb_run_save(c, r);
	}
}

/* One step of the run, from its stored state. Called on a timer and after
 * every event that may move it. */
void pb_step(struct ctl *c)
{
	struct pb_run *r = c->run;
	struct pb_stage_rt *s;
	uint64_t now = clock_wall_ms();
	char why[320];
	int v;

	/* Of controllers sharing a store, the leader alone drives the run. */
	if (!r || r->state != RUN_RUNNING || c->leader != 1)
		return;
	s = &r->stages[r->current];
	switch (s->state) {
	case STAGE_PENDING:
		if (s->approval && !s->approved_by[0]) {
			pb_stage_state(c, r, STAGE_AWAITING_APPROVAL,
				       "run: bulkhead playbook approve %s", s->name);
			pb_audit(c, r, NULL, "awaiting approval", "waiting", "stage %s (%d hosts)",
				 s->name, s->nhosts);
			return;
		}
		pb_stage_state(c, r, STAGE_APPLYING, "%d hosts to %s", s->nhosts, s->restore);
		pb_audit(c, r, NULL, "stage reconnect", "applying", "stage %s: %d hosts to %s",
			 s->name, s->nhosts, s->restore);
		pb_stage_command(c, r, 0);
		break;
	case STAGE_APPLYING:
		v = pb_stage_applied(s, 0, why, sizeof(why));
		if (v > 0)
			pb_stage_state(c, r, STAGE_CHECKING, "%d checks", s->nchecks);
		else if (v < 0 || now > s->state_ms + PB_APPLY_TIMEOUT_MS)
			pb_fail(c, r, why);
		break;
	case STAGE_CHECKING:
	case STAGE_RECHECKING: pb_step_checking(c, r, now); break;
	case STAGE_SOAKING:
		if (now >= s->state_ms + s->soak_ms)
			pb_stage_state(c, r, STAGE_RECHECKING, "after %u s of soak",
				       s->soak_ms / 1000);
		break;
	case STAGE_REISOLATING:
		v = pb_stage_applied(s, 1, why, sizeof(why));
		if (v != 0 || now > s->state_ms + PB_APPLY_TIMEOUT_MS) {
			char cause[sizeof(s->detail)];

			snprintf(cause, sizeof(cause), "%s", s->detail);
			pb_stage_state(c, r, STAGE_FAILED, "%s; re-isolated%s", cause,
				       v > 0 ? "" : " (not every host confirmed)");
			r->state = RUN_HALTED;
			pb_run_save(c, r);
			pb_audit(c, r, NULL, "stage re-isolated", "halted", "stage %s: %s", s->name,
				 s->detail);
		}
		break;
	default: break;
	}
}

static void pb_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	pb_step(arg);
}

void playbook_check_result(struct ctl *c, struct host *h, const struct msg_check_result *m)
{
	struct pb_stage_rt *s;

	if (!c->run)
		return;
	s = &c->run->stages[c->run->current];
	for (int i = 0; i < s->nchecks; i++)
		if (s->checks[i].id == m->id && strcmp(s->checks[i].from, h->name) == 0) {
			s->checks[i].result = (int)m->result;
			snprintf(s->checks[i].err, sizeof(s->checks[i].err), "%s",
				 m->error ? m->error : "");
			pb_step(c);
			return;
		}
}

int playbook_init(struct ctl *c)
{
	struct timeval tv = clock_tv_ms(PB_TICK_MS);

	/* The last run: driven on if running, kept for status otherwise. */
	c->run = store_run_load_last(c->store, ctl_host_lookup, c);
	if (c->run && (c->run->state == RUN_RUNNING || c->run->state == RUN_HALTED))
		log_info("playbook %s (run %" PRId64 ") is %s at stage %d \"%s\" (%s): resuming",
			 c->run->name, c->run->id, run_state_name(c->run->state),
			 c->run->current + 1, c->run->stages[c->run->current].name,
			 stage_state_name(c->run->stages[c->run->current].state));
	c->pb_tick = event_new(c->base, -1, EV_PERSIST, pb_tick_cb, c);
	if (!c->pb_tick)
		fatal("out of memory");
	event_add(c->pb_tick, &tv);
	return 0;
}

void playbook_close(struct ctl *c)
{
	if (c->pb_tick)
		event_free(c->pb_tick);
	pb_run_free(c->run);
	c->run = NULL;
}
