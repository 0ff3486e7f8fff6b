/* Playbook runs: hosts come back in stages. Each stage waits for its
 * approval if it has a gate, reconnects its hosts (commit-confirmed), runs
 * its checks from the agents, soaks, checks again, and only then does the
 * next stage start. A stage whose checks fail is re-isolated (or the run
 * halts, as the playbook says). Every step is stored in SQLite before it is
 * taken, and a periodic step function drives the run from that state, so a
 * controller killed at any point resumes where it was: a stage already sent
 * is waited for, never sent again. */
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

#define PB_TICK_MS 200
#define PB_APPLY_TIMEOUT_MS 60000
#define PB_CHECK_GRACE_MS 3000
/* How long a stage waits for the agents that run its checks to (re)connect,
 * after a controller restart say, before a check that could not run fails. */
#define PB_AGENT_WAIT_MS 15000

struct pb_check_rt {
	char from[64], target[48], target_name[64];
	uint8_t proto;
	uint16_t port;
	int expect_open;
	uint32_t timeout_ms;
	int line;
	uint32_t id;	  /* of the probe in flight, 0 when none */
	uint64_t sent_ms; /* 0: not sent yet this round */
	int result;	  /* -1 pending, 0 reached, else an errno */
	char err[96];
};

struct pb_stage_rt {
	char name[64], restore[64];
	int approval, on_failure_halt;
	uint32_t soak_ms;
	struct host **hosts;
	char (*hashes)[65];
	int nhosts;
	struct pb_check_rt *checks;
	int nchecks;
	/* pending, awaiting-approval, applying, checking, soaking, rechecking,
	 * reisolating, done, failed, aborted */
	char state[24];
	uint64_t epoch;	   /* of the stage's apply (or re-isolation) */
	uint64_t state_ms; /* when the state began */
	char approved_by[128];
	char detail[320];
	int checks_sent; /* this round's probes are out (not stored: a restart sends again) */
};

struct pb_run {
	int64_t id;
	char name[64], actor[128], reason[256];
	char state[16]; /* running, halted, aborted, done */
	int current;
	struct pb_stage_rt *stages;
	int nstages;
};

static const char pb_schema[] =
    "CREATE TABLE IF NOT EXISTS pb_runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " actor TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,"
    " current INTEGER NOT NULL DEFAULT 0, started_ms INTEGER, finished_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS pb_stages(run_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " name TEXT NOT NULL, approval INTEGER, soak_ms INTEGER, on_failure_halt INTEGER,"
    " restore TEXT, state TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0,"
    " state_ms INTEGER NOT NULL DEFAULT 0, approved_by TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '', PRIMARY KEY(run_id, idx));"
    "CREATE TABLE IF NOT EXISTS pb_stage_hosts(run_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " n INTEGER NOT NULL, host TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pb_checks(run_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " n INTEGER NOT NULL, from_host TEXT, target TEXT, target_name TEXT, proto INTEGER,"
    " port INTEGER, expect INTEGER, timeout_ms INTEGER, line INTEGER);";

/* --- the store --- */

static sqlite3_stmt *pb_prepare(struct ctl *c, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		fatal("sqlite: %s: %s", sql, sqlite3_errmsg(c->db));
	return st;
}

static void pb_run_save(struct ctl *c, const struct pb_run *r)
{
	sqlite3_stmt *st =
	    pb_prepare(c, "UPDATE pb_runs SET state = ?, current = ?,"
			  " finished_ms = CASE WHEN ? IN ('done', 'aborted') THEN ? ELSE NULL END"
			  " WHERE id = ?");

	sqlite3_bind_text(st, 1, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, r->current);
	sqlite3_bind_text(st, 3, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_int64(st, 5, r->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_err("sqlite: playbook run %" PRId64 ": %s", r->id, sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

static void pb_stage_save(struct ctl *c, const struct pb_run *r, int idx)
{
	const struct pb_stage_rt *s = &r->stages[idx];
	sqlite3_stmt *st =
	    pb_prepare(c, "UPDATE pb_stages SET state = ?, epoch = ?, state_ms = ?,"
			  " approved_by = ?, detail = ? WHERE run_id = ? AND idx = ?");

	sqlite3_bind_text(st, 1, s->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s->epoch);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)s->state_ms);
	sqlite3_bind_text(st, 4, s->approved_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, s->detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, r->id);
	sqlite3_bind_int(st, 7, idx);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_err("sqlite: playbook stage %d: %s", idx, sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

static void pb_audit(struct ctl *c, const struct pb_run *r, const char *actor, const char *what,
		     const char *result, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void pb_audit(struct ctl *c, const struct pb_run *r, const char *actor, const char *what,
		     const char *result, const char *fmt, ...)
{
	char action[96], detail[512];
	va_list ap;

	snprintf(action, sizeof(action), "playbook %s", what);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	audit_append(c->db, clock_wall_ms(), actor ? actor : r->actor, action, NULL, r->reason, result,
		     "%s (run %" PRId64 "): %s", r->name, r->id, detail);
}

/* Moves a stage to a new state, stored before anything else happens. */
static void pb_stage_state(struct ctl *c, struct pb_run *r, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void pb_stage_state(struct ctl *c, struct pb_run *r, const char *state, const char *fmt, ...)
{
	struct pb_stage_rt *s = &r->stages[r->current];
	va_list ap;

	snprintf(s->state, sizeof(s->state), "%s", state);
	s->state_ms = clock_wall_ms();
	s->checks_sent = 0;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
		va_end(ap);
	}
	pb_stage_save(c, r, r->current);
	log_info("playbook %s: stage %d \"%s\": %s%s%s", r->name, r->current + 1, s->name, state,
		 fmt ? ": " : "", fmt ? s->detail : "");
}

static void pb_run_free(struct pb_run *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nstages; i++) {
		free(r->stages[i].hosts);
		free(r->stages[i].hashes);
		free(r->stages[i].checks);
	}
	free(r->stages);
	free(r);
}

/* A new stage, check or stage host, zeroed, at the end of its list; the
 * run is built this way both from the CLI's frames and from the store. */
static struct pb_stage_rt *pb_stage_add(struct pb_run *r)
{
	r->stages = realloc(r->stages, sizeof(*r->stages) * (size_t)(r->nstages + 1));
	if (!r->stages)
		fatal("out of memory");
	memset(&r->stages[r->nstages], 0, sizeof(r->stages[0]));
	return &r->stages[r->nstages++];
}

static struct pb_check_rt *pb_check_add(struct pb_stage_rt *s)
{
	s->checks = realloc(s->checks, sizeof(*s->checks) * (size_t)(s->nchecks + 1));
	if (!s->checks)
		fatal("out of memory");
	memset(&s->checks[s->nchecks], 0, sizeof(s->checks[0]));
	s->checks[s->nchecks].result = -1;
	return &s->checks[s->nchecks++];
}

static void pb_stage_host_add(struct pb_stage_rt *s, struct host *h, const char *hash)
{
	s->hosts = realloc(s->hosts, sizeof(*s->hosts) * (size_t)(s->nhosts + 1));
	s->hashes = realloc(s->hashes, sizeof(*s->hashes) * (size_t)(s->nhosts + 1));
	if (!s->hosts || !s->hashes)
		fatal("out of memory");
	s->hosts[s->nhosts] = h;
	snprintf(s->hashes[s->nhosts++], 65, "%s", hash);
}

/* --- stage actions --- */

static void pb_stage_command(struct ctl *c, struct pb_run *r, int isolate)
{
	struct pb_stage_rt *s = &r->stages[r->current];
	struct target_spec *specs = xcalloc((size_t)s->nhosts + 1, sizeof(*specs));
	char actor[400];
	struct command_opts o = {
	    .action = isolate ? "playbook re-isolate" : "playbook reconnect",
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
		if (k->sent_ms || !(h = ctl_host_find(c, k->from)) || !h->conn)
			continue;
		k->result = -1;
		k->err[0] = '\0';
		k->id = ++c->check_seq;
		if (agent_conn_send_check(h->conn, k->id, k->target, k->proto, k->port,
					  k->timeout_ms) == 0)
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

		/* Connected: after a controller restart, the hello says whether a
		 * change still awaits its confirmation. */
		if (!h->conn || h->epoch < s->epoch || h->pending_confirm) {
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

	if (s->on_failure_halt) {
		pb_stage_state(c, r, "failed", "%s; hosts left as they are (on_failure: halt)",
			       why);
		snprintf(r->state, sizeof(r->state), "halted");
		pb_run_save(c, r);
		pb_audit(c, r, NULL, "stage failed", "halted", "stage %s: %s", s->name, why);
		return;
	}
	pb_stage_state(c, r, "reisolating", "%s", why);
	pb_audit(c, r, NULL, "stage failed", "re-isolating", "stage %s: %s", s->name, why);
	pb_stage_command(c, r, 1);
}

/* One step of the run, from its stored state. Called on a timer and after
 * every event that may move it. */
static void pb_step(struct ctl *c)
{
	struct pb_run *r = c->run;
	struct pb_stage_rt *s;
	uint64_t now = clock_wall_ms();
	char why[320];
	int v;

	if (!r || strcmp(r->state, "running") != 0)
		return;
	s = &r->stages[r->current];
	if (strcmp(s->state, "pending") == 0) {
		if (s->approval && !s->approved_by[0]) {
			pb_stage_state(c, r, "awaiting-approval",
				       "run: bulkhead playbook approve %s", s->name);
			pb_audit(c, r, NULL, "awaiting approval", "waiting", "stage %s (%d hosts)",
				 s->name, s->nhosts);
			return;
		}
		pb_stage_state(c, r, "applying", "%d hosts to %s", s->nhosts, s->restore);
		pb_audit(c, r, NULL, "stage reconnect", "applying", "stage %s: %d hosts to %s",
			 s->name, s->nhosts, s->restore);
		pb_stage_command(c, r, 0);
	} else if (strcmp(s->state, "applying") == 0) {
		v = pb_stage_applied(s, 0, why, sizeof(why));
		if (v > 0) {
			pb_stage_state(c, r, "checking", "%d checks", s->nchecks);
		} else if (v < 0 || now > s->state_ms + PB_APPLY_TIMEOUT_MS) {
			pb_fail(c, r, why);
		}
	} else if (strcmp(s->state, "checking") == 0 || strcmp(s->state, "rechecking") == 0) {
		pb_checks_send(c, r, now);
		v = pb_checks_verdict(s, now, why, sizeof(why));
		if (v < 0) {
			pb_fail(c, r, why);
		} else if (v > 0 && s->soak_ms && strcmp(s->state, "checking") == 0) {
			pb_stage_state(c, r, "soaking", "%d checks passed; soaking %u s",
				       s->nchecks, s->soak_ms / 1000);
		} else if (v > 0) {
			pb_stage_state(c, r, "done", "%d hosts back, %d checks passed", s->nhosts,
				       s->nchecks);
			pb_audit(c, r, NULL, "stage done", "done",
				 "stage %s: %d hosts back to %s, %d "
				 "checks passed",
				 s->name, s->nhosts, s->restore, s->nchecks);
			if (++r->current == r->nstages) {
				r->current--;
				snprintf(r->state, sizeof(r->state), "done");
				pb_audit(c, r, NULL, "run done", "done", "%d stages", r->nstages);
			}
			pb_run_save(c, r);
		}
	} else if (strcmp(s->state, "soaking") == 0) {
		if (now >= s->state_ms + s->soak_ms)
			pb_stage_state(c, r, "rechecking", "after %u s of soak", s->soak_ms / 1000);
	} else if (strcmp(s->state, "reisolating") == 0) {
		v = pb_stage_applied(s, 1, why, sizeof(why));
		if (v != 0 || now > s->state_ms + PB_APPLY_TIMEOUT_MS) {
			char cause[sizeof(s->detail)];

			snprintf(cause, sizeof(cause), "%s", s->detail);
			pb_stage_state(c, r, "failed", "%s; re-isolated%s", cause,
				       v > 0 ? "" : " (not every host confirmed)");
			snprintf(r->state, sizeof(r->state), "halted");
			pb_run_save(c, r);
			pb_audit(c, r, NULL, "stage re-isolated", "halted", "stage %s: %s", s->name,
				 s->detail);
		}
	}
}

static void pb_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	pb_step(arg);
}

void playbook_check_result(struct ctl *c, struct host *h, uint32_t id, uint32_t result,
			   const char *err)
{
	struct pb_stage_rt *s;

	if (!c->run)
		return;
	s = &c->run->stages[c->run->current];
	for (int i = 0; i < s->nchecks; i++)
		if (s->checks[i].id == id && strcmp(s->checks[i].from, h->name) == 0) {
			s->checks[i].result = (int)result;
			snprintf(s->checks[i].err, sizeof(s->checks[i].err), "%s", err ? err : "");
			pb_step(c);
			return;
		}
}

/* --- loading a run back at start --- */

static struct pb_run *pb_run_load(struct ctl *c, int64_t id)
{
	sqlite3_stmt *st =
	    pb_prepare(c, "SELECT name, actor, reason, state, current FROM pb_runs WHERE id = ?");
	struct pb_run *r = NULL;

	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	r = xcalloc(1, sizeof(*r));
	r->id = id;
	snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(r->actor, sizeof(r->actor), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(r->reason, sizeof(r->reason), "%s", (const char *)sqlite3_column_text(st, 2));
	snprintf(r->state, sizeof(r->state), "%s", (const char *)sqlite3_column_text(st, 3));
	r->current = sqlite3_column_int(st, 4);
	sqlite3_finalize(st);

	st = pb_prepare(c, "SELECT idx, name, approval, soak_ms, on_failure_halt, restore, state,"
			   " epoch, state_ms, approved_by, detail FROM pb_stages WHERE run_id = ?"
			   " ORDER BY idx");
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pb_stage_rt *s;

		s = pb_stage_add(r);
		snprintf(s->name, sizeof(s->name), "%s", (const char *)sqlite3_column_text(st, 1));
		s->approval = sqlite3_column_int(st, 2);
		s->soak_ms = (uint32_t)sqlite3_column_int64(st, 3);
		s->on_failure_halt = sqlite3_column_int(st, 4);
		snprintf(s->restore, sizeof(s->restore), "%s",
			 (const char *)sqlite3_column_text(st, 5));
		snprintf(s->state, sizeof(s->state), "%s",
			 (const char *)sqlite3_column_text(st, 6));
		s->epoch = (uint64_t)sqlite3_column_int64(st, 7);
		s->state_ms = (uint64_t)sqlite3_column_int64(st, 8);
		snprintf(s->approved_by, sizeof(s->approved_by), "%s",
			 (const char *)sqlite3_column_text(st, 9));
		snprintf(s->detail, sizeof(s->detail), "%s",
			 (const char *)sqlite3_column_text(st, 10));
	}
	sqlite3_finalize(st);

	st = pb_prepare(c, "SELECT idx, host, hash FROM pb_stage_hosts WHERE run_id = ? ORDER BY"
			   " idx, n");
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int idx = sqlite3_column_int(st, 0);
		struct pb_stage_rt *s = idx < r->nstages ? &r->stages[idx] : NULL;
		struct host *h = ctl_host_find(c, (const char *)sqlite3_column_text(st, 1));

		if (!s || !h)
			continue; /* the inventory changed under the run: the host is skipped */
		pb_stage_host_add(s, h, (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);

	st = pb_prepare(c, "SELECT idx, from_host, target, target_name, proto, port, expect,"
			   " timeout_ms, line FROM pb_checks WHERE run_id = ? ORDER BY idx, n");
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int idx = sqlite3_column_int(st, 0);
		struct pb_stage_rt *s = idx < r->nstages ? &r->stages[idx] : NULL;
		struct pb_check_rt *k;

		if (!s)
			continue;
		k = pb_check_add(s);
		snprintf(k->from, sizeof(k->from), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(k->target, sizeof(k->target), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		snprintf(k->target_name, sizeof(k->target_name), "%s",
			 (const char *)sqlite3_column_text(st, 3));
		k->proto = (uint8_t)sqlite3_column_int(st, 4);
		k->port = (uint16_t)sqlite3_column_int(st, 5);
		k->expect_open = sqlite3_column_int(st, 6);
		k->timeout_ms = (uint32_t)sqlite3_column_int64(st, 7);
		k->line = sqlite3_column_int(st, 8);
	}
out:
	sqlite3_finalize(st);
	return r;
}

int playbook_init(struct ctl *c)
{
	struct timeval tv = {0, PB_TICK_MS * 1000};
	sqlite3_stmt *st;
	char *err = NULL;

	if (sqlite3_exec(c->db, pb_schema, NULL, NULL, &err) != SQLITE_OK) {
		log_err("sqlite: playbooks: %s", err ? err : sqlite3_errmsg(c->db));
		sqlite3_free(err);
		return -1;
	}
	/* The last run: driven on if running, kept for status otherwise. */
	st = pb_prepare(c, "SELECT id FROM pb_runs ORDER BY id DESC LIMIT 1");
	if (sqlite3_step(st) == SQLITE_ROW)
		c->run = pb_run_load(c, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	if (c->run && (!strcmp(c->run->state, "running") || !strcmp(c->run->state, "halted")))
		log_info("playbook %s (run %" PRId64 ") is %s at stage %d \"%s\" (%s): resuming",
			 c->run->name, c->run->id, c->run->state, c->run->current + 1,
			 c->run->stages[c->run->current].name,
			 c->run->stages[c->run->current].state);
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

/* --- receiving a run from the CLI --- */

struct pb_rx {
	struct ctl *ctl;
	struct pb_run *r;
	struct policy_wire_rx *wrx;
	int host_open;	    /* a PLAN_HOST whose policy frames are still coming */
	char host_hash[65]; /* its hash */
	char *frames;	    /* and the frames so far */
	size_t flen;
	int dry;
	char err[320];
};

struct pb_rx *playbook_rx_new(struct ctl *c, const struct wire_frame *f, uid_t uid, pid_t pid)
{
	struct pb_rx *rx = xcalloc(1, sizeof(*rx));

	rx->ctl = c;
	rx->r = xcalloc(1, sizeof(*rx->r));
	snprintf(rx->r->name, sizeof(rx->r->name), "%s", wire_get_str(f, WA_NAME, "playbook"));
	snprintf(rx->r->reason, sizeof(rx->r->reason), "%s", wire_get_str(f, WA_REASON, ""));
	ctl_actor(uid, pid, rx->r->actor, sizeof(rx->r->actor));
	snprintf(rx->r->state, sizeof(rx->r->state), "running");
	rx->wrx = policy_wire_rx_new();
	return rx;
}

void playbook_rx_free(struct pb_rx *rx)
{
	if (!rx)
		return;
	pb_run_free(rx->r);
	policy_wire_rx_free(rx->wrx);
	free(rx->frames);
	free(rx);
}

static int pb_rx_error(struct pb_rx *rx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int pb_rx_error(struct pb_rx *rx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rx->err, sizeof(rx->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int pb_rx_stage(struct pb_rx *rx, const struct wire_frame *f)
{
	struct pb_run *r = rx->r;
	struct pb_stage_rt *s;

	s = pb_stage_add(r);
	snprintf(s->name, sizeof(s->name), "%s", wire_get_str(f, WA_NAME, ""));
	snprintf(s->restore, sizeof(s->restore), "%s", wire_get_str(f, WA_RESTORE, "segmented"));
	s->approval = wire_get_u8(f, WA_APPROVAL, 0);
	s->soak_ms = wire_get_u32(f, WA_SOAK_MS, 0);
	s->on_failure_halt = strcmp(wire_get_str(f, WA_ON_FAILURE, "reisolate"), "halt") == 0;
	snprintf(s->state, sizeof(s->state), "pending");
	return s->name[0] ? 0 : pb_rx_error(rx, "a stage without a name");
}

static int pb_rx_check(struct pb_rx *rx, const struct wire_frame *f)
{
	struct pb_stage_rt *s = &rx->r->stages[rx->r->nstages - 1];
	struct pb_check_rt *k;
	struct conf_addr a;

	k = pb_check_add(s);
	snprintf(k->from, sizeof(k->from), "%s", wire_get_str(f, WA_HOST, ""));
	snprintf(k->target, sizeof(k->target), "%s", wire_get_str(f, WA_TARGET, ""));
	snprintf(k->target_name, sizeof(k->target_name), "%s", wire_get_str(f, WA_NAME, k->target));
	k->proto = wire_get_u8(f, WA_PROTO, IPPROTO_TCP);
	k->port = (uint16_t)wire_get_u32(f, WA_PORT, 0);
	k->expect_open = wire_get_u8(f, WA_EXPECT, 1);
	k->timeout_ms = wire_get_u32(f, WA_TIMEOUT_MS, 2000);
	k->line = (int)wire_get_u64(f, WA_SEQ, 0);
	if (!ctl_host_find(rx->ctl, k->from))
		return pb_rx_error(rx, "stage %s: check from \"%s\", which is not in the inventory",
				   s->name, k->from);
	if (conf_addr_parse(k->target, &a) < 0 ||
	    (k->proto != IPPROTO_TCP && k->proto != IPPROTO_ICMP))
		return pb_rx_error(rx, "stage %s: malformed check", s->name);
	return 0;
}

static int pb_rx_host(struct pb_rx *rx, const struct wire_frame *f)
{
	struct pb_stage_rt *s = &rx->r->stages[rx->r->nstages - 1];
	const char *name = wire_get_str(f, WA_NAME, "");
	struct host *h = ctl_host_find(rx->ctl, name);

	if (!h)
		return pb_rx_error(rx, "stage %s: host \"%s\" is not in the controller's inventory",
				   s->name, name);
	for (int i = 0; i < rx->r->nstages; i++)
		for (int j = 0; j < rx->r->stages[i].nhosts; j++)
			if (rx->r->stages[i].hosts[j] == h)
				return pb_rx_error(rx, "host %s is in two stages", name);
	pb_stage_host_add(s, h, wire_get_str(f, WA_HASH, ""));
	snprintf(rx->host_hash, sizeof(rx->host_hash), "%s", wire_get_str(f, WA_HASH, ""));
	rx->host_open = 1;
	rx->flen = 0;
	return 0;
}

/* A stage host's policy: checked against its hash, then stored like any
 * other policy, so that a reconnecting agent can be sent it. */
static int pb_rx_policy(struct pb_rx *rx, const void *frame, size_t len, const struct wire_frame *f)
{
	struct pb_stage_rt *s = &rx->r->stages[rx->r->nstages - 1];
	struct host *h = s->hosts[s->nhosts - 1];
	const char *err;
	int rc = policy_wire_rx_add(rx->wrx, f, &err);

	if (rc < 0)
		return pb_rx_error(rx, "stage %s: policy of %s: %s", s->name, h->name, err);
	rx->frames = realloc(rx->frames, rx->flen + len);
	if (!rx->frames)
		fatal("out of memory");
	memcpy(rx->frames + rx->flen, frame, len);
	rx->flen += len;
	if (rc == 1) {
		struct host_policy *hp = policy_wire_rx_take(rx->wrx);
		int bad = strcmp(hp->hash, rx->host_hash) != 0;

		host_policy_free(hp);
		if (bad)
			return pb_rx_error(rx, "stage %s: policy of %s does not match its hash",
					   s->name, h->name);
		if (store_policy_put(rx->ctl, h->name, rx->host_hash, rx->frames, rx->flen) < 0)
			return pb_rx_error(rx, "the controller could not store the policy of %s",
					   h->name);
		rx->host_open = 0;
	}
	return 0;
}

int playbook_rx_add(struct pb_rx *rx, const void *frame, size_t len, const struct wire_frame *f)
{
	if (f->type == WIRE_PB_STAGE) {
		if (rx->host_open)
			return pb_rx_error(rx, "a policy in the run is incomplete");
		return pb_rx_stage(rx, f);
	}
	if (rx->r->nstages == 0)
		return pb_rx_error(rx, "the run has no stages");
	if (f->type == WIRE_PB_CHECK)
		return pb_rx_check(rx, f);
	if (f->type == WIRE_PLAN_HOST) {
		if (rx->host_open)
			return pb_rx_error(rx, "a policy in the run is incomplete");
		return pb_rx_host(rx, f);
	}
	if (f->type == WIRE_POLICY && rx->host_open)
		return pb_rx_policy(rx, frame, len, f);
	return pb_rx_error(rx, "unexpected %s frame in the run", wire_type_name(f->type));
}

void playbook_rx_fail(struct pb_rx *rx, struct client *cl)
{
	log_warn("playbook run refused: %s", rx->err);
	client_end(cl, 1, rx->err);
	playbook_rx_free(rx);
}

/* Stores the run: the run row, its stages, hosts and checks, in one
 * transaction, before the first step. */
static int pb_run_store(struct ctl *c, struct pb_run *r)
{
	sqlite3_stmt *st;
	int rc = 0;

	sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
	st = pb_prepare(c, "INSERT INTO pb_runs(name, actor, reason, state, current, started_ms)"
			   " VALUES(?,?,?,?,0,?)");
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)clock_wall_ms());
	rc |= sqlite3_step(st) != SQLITE_DONE;
	sqlite3_finalize(st);
	r->id = sqlite3_last_insert_rowid(c->db);
	for (int i = 0; i < r->nstages; i++) {
		struct pb_stage_rt *s = &r->stages[i];

		st = pb_prepare(c, "INSERT INTO pb_stages(run_id, idx, name, approval, soak_ms,"
				   " on_failure_halt, restore, state) VALUES(?,?,?,?,?,?,?,?)");
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_text(st, 3, s->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, s->approval);
		sqlite3_bind_int64(st, 5, s->soak_ms);
		sqlite3_bind_int(st, 6, s->on_failure_halt);
		sqlite3_bind_text(st, 7, s->restore, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, s->state, -1, SQLITE_STATIC);
		rc |= sqlite3_step(st) != SQLITE_DONE;
		sqlite3_finalize(st);
		for (int j = 0; j < s->nhosts; j++) {
			st = pb_prepare(c, "INSERT INTO pb_stage_hosts VALUES(?,?,?,?,?)");
			sqlite3_bind_int64(st, 1, r->id);
			sqlite3_bind_int(st, 2, i);
			sqlite3_bind_int(st, 3, j);
			sqlite3_bind_text(st, 4, s->hosts[j]->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, s->hashes[j], -1, SQLITE_STATIC);
			rc |= sqlite3_step(st) != SQLITE_DONE;
			sqlite3_finalize(st);
		}
		for (int j = 0; j < s->nchecks; j++) {
			struct pb_check_rt *k = &s->checks[j];

			st = pb_prepare(c, "INSERT INTO pb_checks VALUES(?,?,?,?,?,?,?,?,?,?,?)");
			sqlite3_bind_int64(st, 1, r->id);
			sqlite3_bind_int(st, 2, i);
			sqlite3_bind_int(st, 3, j);
			sqlite3_bind_text(st, 4, k->from, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, k->target, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 6, k->target_name, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 7, k->proto);
			sqlite3_bind_int(st, 8, k->port);
			sqlite3_bind_int(st, 9, k->expect_open);
			sqlite3_bind_int64(st, 10, k->timeout_ms);
			sqlite3_bind_int(st, 11, k->line);
			rc |= sqlite3_step(st) != SQLITE_DONE;
			sqlite3_finalize(st);
		}
	}
	if (rc) {
		log_err("sqlite: storing the playbook run: %s", sqlite3_errmsg(c->db));
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return 0;
}

void playbook_rx_finish(struct pb_rx *rx, struct client *cl)
{
	struct ctl *c = rx->ctl;
	struct pb_run *r = rx->r;
	char msg[256];

	if (rx->host_open)
		pb_rx_error(rx, "a policy in the run is incomplete");
	else if (r->nstages == 0)
		pb_rx_error(rx, "the run has no stages");
	else if (c->run && strcmp(c->run->state, "done") != 0 &&
		 strcmp(c->run->state, "aborted") != 0)
		pb_rx_error(rx, "playbook %s (run %" PRId64 ") is %s: abort it first", c->run->name,
			    c->run->id, c->run->state);
	for (int i = 0; !rx->err[0] && i < r->nstages; i++)
		if (r->stages[i].nhosts == 0)
			pb_rx_error(rx, "stage %s has no hosts", r->stages[i].name);
	if (rx->err[0] || pb_run_store(c, r) < 0) {
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

static void pb_status_send(struct ctl *c, struct client *cl)
{
	static char buf[WIRE_MAX_FRAME];
	struct pb_run *r = c->run;
	struct wire_builder b;

	if (!r) {
		client_end(cl, 1, "no playbook is running");
		return;
	}
	for (int i = 0; i < r->nstages; i++) {
		struct pb_stage_rt *s = &r->stages[i];

		wire_build_start(&b, buf, WIRE_PB_STAGE, 0);
		wire_put_u32(&b, WA_STAGE, (uint32_t)i);
		wire_put_str(&b, WA_NAME, s->name);
		wire_put_str(&b, WA_STATE, s->state);
		wire_put_str(&b, WA_RESTORE, s->restore);
		wire_put_u8(&b, WA_APPROVAL, (uint8_t)s->approval);
		wire_put_str(&b, WA_ACTOR, s->approved_by);
		wire_put_u32(&b, WA_SOAK_MS, s->soak_ms);
		wire_put_str(&b, WA_DETAIL, s->detail);
		for (int j = 0; j < s->nhosts; j++)
			wire_put_str(&b, WA_HOST, s->hosts[j]->name);
		client_send(cl, buf, wire_build_end(&b));
		for (int j = 0; j < s->nchecks; j++) {
			struct pb_check_rt *k = &s->checks[j];

			wire_build_start(&b, buf, WIRE_PB_CHECK, 0);
			wire_put_u32(&b, WA_STAGE, (uint32_t)i);
			wire_put_str(&b, WA_HOST, k->from);
			wire_put_str(&b, WA_NAME, k->target_name);
			wire_put_str(&b, WA_TARGET, k->target);
			wire_put_u8(&b, WA_PROTO, k->proto);
			wire_put_u32(&b, WA_PORT, k->port);
			wire_put_u8(&b, WA_EXPECT, (uint8_t)k->expect_open);
			wire_put_str(&b, WA_STATE,
				     i != r->current || k->result < 0	  ? "-"
				     : (k->result == 0) == k->expect_open ? "passed"
									  : "failed");
			client_send(cl, buf, wire_build_end(&b));
		}
	}
	wire_build_start(&b, buf, WIRE_CTL_END, 0);
	wire_put_u32(&b, WA_RESULT, 0);
	wire_put_u64(&b, WA_RUN, (uint64_t)r->id);
	wire_put_str(&b, WA_NAME, r->name);
	wire_put_str(&b, WA_STATE, r->state);
	wire_put_u32(&b, WA_STAGE, (uint32_t)r->current);
	client_send(cl, buf, wire_build_end(&b));
	client_finish(cl);
}

void playbook_request(struct ctl *c, struct client *cl, const struct wire_frame *f)
{
	struct pb_run *r = c->run;
	struct pb_stage_rt *s = r ? &r->stages[r->current] : NULL;
	char actor[128], msg[320];

	if (f->type == WIRE_CTL_PB_STATUS) {
		pb_status_send(c, cl);
		return;
	}
	if (!r) {
		client_end(cl, 1, "no playbook is running");
		return;
	}
	ctl_actor(client_uid(cl), client_pid(cl), actor, sizeof(actor));
	switch (f->type) {
	case WIRE_CTL_PB_APPROVE: {
		const char *want = wire_get_str(f, WA_NAME, NULL);

		if (strcmp(r->state, "running") != 0 ||
		    strcmp(s->state, "awaiting-approval") != 0) {
			snprintf(msg, sizeof(msg), "stage %s is %s, not awaiting approval", s->name,
				 s->state);
			client_end(cl, 1, msg);
			return;
		}
		if (want && strcmp(want, s->name) != 0) {
			snprintf(msg, sizeof(msg), "the stage awaiting approval is %s, not %s",
				 s->name, want);
			client_end(cl, 1, msg);
			return;
		}
		snprintf(s->approved_by, sizeof(s->approved_by), "%s", actor);
		pb_stage_state(c, r, "pending", "approved by %s", actor);
		pb_audit(c, r, actor, "stage approved", "approved", "stage %s", s->name);
		snprintf(msg, sizeof(msg), "stage %s approved", s->name);
		break;
	}
	case WIRE_CTL_PB_ABORT: {
		int applied;

		if (strcmp(r->state, "done") == 0 || strcmp(r->state, "aborted") == 0) {
			snprintf(msg, sizeof(msg), "playbook %s is %s already", r->name, r->state);
			client_end(cl, 1, msg);
			return;
		}
		/* A stage that failed under on_failure: halt left its hosts open. */
		applied =
		    strcmp(s->state, "pending") != 0 && strcmp(s->state, "awaiting-approval") != 0;

		/* The running stage goes back to isolation; earlier stages stay. */
		pb_audit(c, r, actor, "run aborted", "aborted", "at stage %s (%s)%s", s->name,
			 s->state, applied ? ": re-isolating its hosts" : "");
		if (applied)
			pb_stage_command(c, r, 1);
		pb_stage_state(c, r, "aborted", "aborted by %s", actor);
		snprintf(r->state, sizeof(r->state), "aborted");
		pb_run_save(c, r);
		snprintf(msg, sizeof(msg), "playbook %s aborted at stage %s%s", r->name, s->name,
			 applied ? "; its hosts are being re-isolated" : "");
		break;
	}
	case WIRE_CTL_PB_RESUME:
		if (strcmp(r->state, "halted") != 0) {
			snprintf(msg, sizeof(msg), "playbook %s is %s, not halted", r->name,
				 r->state);
			client_end(cl, 1, msg);
			return;
		}
		/* The failed stage runs again from the start, gate included. */
		s->approved_by[0] = '\0';
		snprintf(r->state, sizeof(r->state), "running");
		pb_run_save(c, r);
		pb_stage_state(c, r, "pending", "resumed by %s", actor);
		pb_audit(c, r, actor, "run resumed", "running", "at stage %s", s->name);
		snprintf(msg, sizeof(msg), "playbook %s resumed at stage %s", r->name, s->name);
		break;
	default: client_end(cl, 1, "unknown playbook request"); return;
	}
	client_end(cl, 0, msg);
	pb_step(c);
}
