/* The SQLite store's playbook runs: a run stored whole before its first
 * step, every step after, and the last run read back at start. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "controller.h"
#include "playbook.h"
#include "store_sqlite.h"

static int sq_run_stage_insert(struct store_sqlite *q, const struct pb_run *r, int i)
{
	const struct pb_stage_rt *s = &r->stages[i];
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_STAGE_INSERT);

	sq_bind(st, "IitiIitt", (sqlite3_int64)r->id, i, s->name, s->approval,
		(sqlite3_int64)s->soak_ms, s->on_failure == ON_FAILURE_HALT, s->restore,
		stage_state_name(s->state));
	if (sq_done(q, st) < 0)
		return -1;
	for (int j = 0; j < s->nhosts; j++) {
		st = sq_stmt(q, Q_RUN_HOST_INSERT);
		sq_bind(st, "Iiitt", (sqlite3_int64)r->id, i, j, s->hosts[j]->name, s->hashes[j]);
		if (sq_done(q, st) < 0)
			return -1;
	}
	for (int j = 0; j < s->nchecks; j++) {
		const struct pb_check_rt *k = &s->checks[j];

		st = sq_stmt(q, Q_RUN_CHECK_INSERT);
		sq_bind(st, "IiitttiiiIi", (sqlite3_int64)r->id, i, j, k->from, k->target,
			k->target_name, k->proto, k->port, k->expect_open,
			(sqlite3_int64)k->timeout_ms, k->line);
		if (sq_done(q, st) < 0)
			return -1;
	}
	return 0;
}

static int sq_run_insert_txn(struct store_sqlite *q, const void *arg)
{
	struct pb_run *r = (struct pb_run *)arg;
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_INSERT);

	sq_bind(st, "ttttI", r->name, r->actor, r->reason, run_state_name(r->state),
		(sqlite3_int64)clock_wall_ms());
	if (sq_done(q, st) < 0)
		return -1;
	r->id = sqlite3_last_insert_rowid(q->db);
	for (int i = 0; i < r->nstages; i++)
		if (sq_run_stage_insert(q, r, i) < 0)
			return -1;
	return 0;
}

/* The run, its stages, hosts and checks, in one transaction. */
int sq_run_insert(struct store *s, struct pb_run *r)
{
	if (sq_txn(sq(s), sq_run_insert_txn, r) < 0) {
		log_err("sqlite: storing the playbook run failed");
		return -1;
	}
	return 0;
}

int sq_run_save(struct store *s, const struct pb_run *r)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_SAVE);

	sq_bind(st, "titII", run_state_name(r->state), r->current, run_state_name(r->state),
		(sqlite3_int64)clock_wall_ms(), (sqlite3_int64)r->id);
	return sq_done(q, st);
}

int sq_stage_save(struct store *s, const struct pb_run *r, int idx)
{
	struct store_sqlite *q = sq(s);
	const struct pb_stage_rt *g = &r->stages[idx];
	sqlite3_stmt *st = sq_stmt(q, Q_STAGE_SAVE);

	sq_bind(st, "tIIttIi", stage_state_name(g->state), (sqlite3_int64)g->epoch,
		(sqlite3_int64)g->state_ms, g->approved_by, g->detail, (sqlite3_int64)r->id, idx);
	return sq_done(q, st);
}

/* A stored state name back to its enum; a name this version does not know
 * reads as the first value, and is logged. */
static int sq_name(sqlite3_stmt *st, int col, enum name_table t)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	int v = name_parse(t, s ? s : "");

	if (v < 0) {
		log_warn("sqlite: unknown state \"%s\" in the playbook tables", s ? s : "");
		return 0;
	}
	return v;
}

static void sq_run_stages_load(struct store_sqlite *q, struct pb_run *r)
{
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_STAGES);

	sqlite3_bind_int64(st, 1, r->id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pb_stage_rt *s = pb_stage_add(r);

		sq_copy(s->name, sizeof(s->name), st, 1);
		s->approval = sqlite3_column_int(st, 2);
		s->soak_ms = (uint32_t)sqlite3_column_int64(st, 3);
		s->on_failure = sqlite3_column_int(st, 4) ? ON_FAILURE_HALT : ON_FAILURE_REISOLATE;
		sq_copy(s->restore, sizeof(s->restore), st, 5);
		s->state = sq_name(st, 6, NAMES_STAGE_STATE);
		s->epoch = (uint64_t)sqlite3_column_int64(st, 7);
		s->state_ms = (uint64_t)sqlite3_column_int64(st, 8);
		sq_copy(s->approved_by, sizeof(s->approved_by), st, 9);
		sq_copy(s->detail, sizeof(s->detail), st, 10);
	}
	sqlite3_reset(st);
}

static void sq_run_hosts_load(struct store_sqlite *q, struct pb_run *r, store_host_find_fn find,
			      void *arg)
{
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_HOSTS);

	sqlite3_bind_int64(st, 1, r->id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int idx = sqlite3_column_int(st, 0);
		struct host *h = find(arg, (const char *)sqlite3_column_text(st, 1));

		if (idx < 0 || idx >= r->nstages || !h)
			continue; /* the inventory changed under the run: the host is skipped */
		pb_stage_host_add(&r->stages[idx], h, (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_reset(st);
}

static void sq_run_checks_load(struct store_sqlite *q, struct pb_run *r)
{
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_CHECKS);

	sqlite3_bind_int64(st, 1, r->id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int idx = sqlite3_column_int(st, 0);
		struct pb_check_rt *k;

		if (idx < 0 || idx >= r->nstages)
			continue;
		k = pb_check_add(&r->stages[idx]);
		sq_copy(k->from, sizeof(k->from), st, 1);
		sq_copy(k->target, sizeof(k->target), st, 2);
		sq_copy(k->target_name, sizeof(k->target_name), st, 3);
		k->proto = (uint8_t)sqlite3_column_int(st, 4);
		k->port = (uint16_t)sqlite3_column_int(st, 5);
		k->expect_open = sqlite3_column_int(st, 6);
		k->timeout_ms = (uint32_t)sqlite3_column_int64(st, 7);
		k->line = sqlite3_column_int(st, 8);
	}
	sqlite3_reset(st);
}

struct pb_run *sq_run_load_last(struct store *s, store_host_find_fn find, void *arg)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_LAST);
	struct pb_run *r = NULL;
	int64_t id;

	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return NULL;
	}
	id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = sq_stmt(q, Q_RUN_SELECT);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r = xcalloc(1, sizeof(*r));
		r->id = id;
		sq_copy(r->name, sizeof(r->name), st, 0);
		sq_copy(r->actor, sizeof(r->actor), st, 1);
		sq_copy(r->reason, sizeof(r->reason), st, 2);
		r->state = sq_name(st, 3, NAMES_RUN_STATE);
		r->current = sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	if (!r)
		return NULL;
	sq_run_stages_load(q, r);
	sq_run_hosts_load(q, r, find, arg);
	sq_run_checks_load(q, r);
	if (r->nstages == 0 || r->current < 0 || r->current >= r->nstages) {
		log_err("sqlite: playbook run %" PRId64 " is damaged; it is left out", r->id);
		pb_run_free(r);
		return NULL;
	}
	return r;
}
