/* The PostgreSQL store's playbook runs: a run stored whole before its
 * first step, every step after, and the last run read back at start. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "controller.h"
#include "playbook.h"
#include "store_pg.h"

static int pg_run_stage_insert(struct store_pg *p, const struct pb_run *r, int i)
{
	const struct pb_stage_rt *s = &r->stages[i];

	if (pg_do(p,
		  "INSERT INTO pb_stages(run_id, idx, name, approval, soak_ms, on_failure_halt,"
		  " restore, state) VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
		  "IitiIitt", r->id, i, s->name, s->approval, (int64_t)s->soak_ms,
		  s->on_failure == ON_FAILURE_HALT, s->restore, stage_state_name(s->state)) < 0)
		return -1;
	for (int j = 0; j < s->nhosts; j++)
		if (pg_do(p, "INSERT INTO pb_stage_hosts VALUES($1,$2,$3,$4,$5)", "Iiitt", r->id, i,
			  j, s->hosts[j]->name, s->hashes[j]) < 0)
			return -1;
	for (int j = 0; j < s->nchecks; j++) {
		const struct pb_check_rt *k = &s->checks[j];

		if (pg_do(p, "INSERT INTO pb_checks VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
			  "IiitttiiiIi", r->id, i, j, k->from, k->target, k->target_name,
			  (int)k->proto, (int)k->port, k->expect_open, (int64_t)k->timeout_ms,
			  k->line) < 0)
			return -1;
	}
	return 0;
}

static int pg_run_insert_txn(struct store_pg *p, const void *arg)
{
	struct pb_run *r = (struct pb_run *)arg;
	PGresult *res = pg_fence(p) < 0
			    ? NULL
			    : pg_query(p,
				       "INSERT INTO pb_runs(name, actor, reason, state, current,"
				       " started_ms) VALUES($1,$2,$3,$4,0,$5) RETURNING id",
				       "ttttI", r->name, r->actor, r->reason,
				       run_state_name(r->state), (int64_t)clock_wall_ms());

	if (!res || PQntuples(res) != 1) {
		PQclear(res);
		return -1;
	}
	r->id = pg_int(res, 0, 0);
	PQclear(res);
	for (int i = 0; i < r->nstages; i++)
		if (pg_run_stage_insert(p, r, i) < 0)
			return -1;
	return 0;
}

/* The run, its stages, hosts and checks, in one transaction. */
int pg_run_insert(struct store *s, struct pb_run *r)
{
	if (pg_txn(pg(s), pg_run_insert_txn, r) < 0) {
		log_err("postgresql: storing the playbook run failed");
		return -1;
	}
	return 0;
}

/* Runs are driven by the leader alone: each write checks its term in the
 * same transaction. */
static int pg_run_save_txn(struct store_pg *p, const void *arg)
{
	const struct pb_run *r = arg;

	return pg_fence(p) < 0 ? -1
			       : pg_do(p,
				       "UPDATE pb_runs SET state = $1, current = $2,"
				       " finished_ms = CASE WHEN $3::text IN ('done', 'aborted')"
				       " THEN $4::bigint ELSE NULL END WHERE id = $5",
				       "titII", run_state_name(r->state), r->current,
				       run_state_name(r->state), (int64_t)clock_wall_ms(), r->id);
}

int pg_run_save(struct store *s, const struct pb_run *r)
{
	return pg_txn(pg(s), pg_run_save_txn, r);
}

struct stage_arg {
	const struct pb_run *r;
	int idx;
};

static int pg_stage_save_txn(struct store_pg *p, const void *arg)
{
	const struct stage_arg *a = arg;
	const struct pb_stage_rt *g = &a->r->stages[a->idx];

	return pg_fence(p) < 0
		   ? -1
		   : pg_do(p,
			   "UPDATE pb_stages SET state = $1, epoch = $2, state_ms = $3,"
			   " approved_by = $4, detail = $5 WHERE run_id = $6 AND idx = $7",
			   "tIIttIi", stage_state_name(g->state), (int64_t)g->epoch,
			   (int64_t)g->state_ms, g->approved_by, g->detail, a->r->id, a->idx);
}

int pg_stage_save(struct store *s, const struct pb_run *r, int idx)
{
	struct stage_arg a = {r, idx};

	return pg_txn(pg(s), pg_stage_save_txn, &a);
}

/* A stored state name back to its enum; a name this version does not know
 * reads as the first value, and is logged. */
static int pg_name(const PGresult *res, int row, int col, enum name_table t)
{
	const char *s = PQgetvalue(res, row, col);
	int v = name_parse(t, s);

	if (v < 0) {
		log_warn("postgresql: unknown state \"%s\" in the playbook tables", s);
		return 0;
	}
	return v;
}

static int pg_run_stages_load(struct store_pg *p, struct pb_run *r)
{
	PGresult *res = pg_query(p,
				 "SELECT idx, name, approval, soak_ms, on_failure_halt, restore,"
				 " state, epoch, state_ms, approved_by, detail FROM pb_stages"
				 " WHERE run_id = $1 ORDER BY idx",
				 "I", r->id);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct pb_stage_rt *s = pb_stage_add(r);

		pg_copy(s->name, sizeof(s->name), res, i, 1);
		s->approval = (int)pg_int(res, i, 2);
		s->soak_ms = (uint32_t)pg_int(res, i, 3);
		s->on_failure = pg_int(res, i, 4) ? ON_FAILURE_HALT : ON_FAILURE_REISOLATE;
		pg_copy(s->restore, sizeof(s->restore), res, i, 5);
		s->state = pg_name(res, i, 6, NAMES_STAGE_STATE);
		s->epoch = (uint64_t)pg_int(res, i, 7);
		s->state_ms = (uint64_t)pg_int(res, i, 8);
		pg_copy(s->approved_by, sizeof(s->approved_by), res, i, 9);
		pg_copy(s->detail, sizeof(s->detail), res, i, 10);
	}
	PQclear(res);
	return 0;
}

static int pg_run_hosts_load(struct store_pg *p, struct pb_run *r, store_host_find_fn find,
			     void *arg)
{
	PGresult *res = pg_query(p,
				 "SELECT idx, host, hash FROM pb_stage_hosts WHERE run_id = $1"
				 " ORDER BY idx, n",
				 "I", r->id);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int idx = (int)pg_int(res, i, 0);
		struct host *h = find(arg, PQgetvalue(res, i, 1));

		if (idx < 0 || idx >= r->nstages || !h)
			continue; /* the inventory changed under the run: the host is skipped */
		pb_stage_host_add(&r->stages[idx], h, PQgetvalue(res, i, 2));
	}
	PQclear(res);
	return 0;
}

static int pg_run_checks_load(struct store_pg *p, struct pb_run *r)
{
	PGresult *res = pg_query(p,
				 "SELECT idx, from_host, target, target_name, proto, port, expect,"
				 " timeout_ms, line FROM pb_checks WHERE run_id = $1"
				 " ORDER BY idx, n",
				 "I", r->id);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int idx = (int)pg_int(res, i, 0);
		struct pb_check_rt *k;

		if (idx < 0 || idx >= r->nstages)
			continue;
		k = pb_check_add(&r->stages[idx]);
		pg_copy(k->from, sizeof(k->from), res, i, 1);
		pg_copy(k->target, sizeof(k->target), res, i, 2);
		pg_copy(k->target_name, sizeof(k->target_name), res, i, 3);
		k->proto = (uint8_t)pg_int(res, i, 4);
		k->port = (uint16_t)pg_int(res, i, 5);
		k->expect_open = (int)pg_int(res, i, 6);
		k->timeout_ms = (uint32_t)pg_int(res, i, 7);
		k->line = (int)pg_int(res, i, 8);
	}
	PQclear(res);
	return 0;
}

struct pb_run *pg_run_load_last(struct store *s, store_host_find_fn find, void *arg)
{
	struct store_pg *p = pg(s);
	PGresult *res = pg_query(p,
				 "SELECT id, name, actor, reason, state, current FROM pb_runs"
				 " ORDER BY id DESC LIMIT 1",
				 "");
	struct pb_run *r = NULL;

	if (res && PQntuples(res) == 1) {
		r = xcalloc(1, sizeof(*r));
		r->id = pg_int(res, 0, 0);
		pg_copy(r->name, sizeof(r->name), res, 0, 1);
		pg_copy(r->actor, sizeof(r->actor), res, 0, 2);
		pg_copy(r->reason, sizeof(r->reason), res, 0, 3);
		r->state = pg_name(res, 0, 4, NAMES_RUN_STATE);
		r->current = (int)pg_int(res, 0, 5);
	}
	PQclear(res);
	if (!r)
		return NULL;
	if (pg_run_stages_load(p, r) < 0 || pg_run_hosts_load(p, r, find, arg) < 0 ||
	    pg_run_checks_load(p, r) < 0 || r->nstages == 0 || r->current < 0 ||
	    r->current >= r->nstages) {
		log_err("postgresql: playbook run %" PRId64 " is damaged or unreadable; it is left"
			" out",
			r->id);
		pb_run_free(r);
		return NULL;
	}
	return r;
}
