/* The store in SQLite, the embedded default: one file in the state
 * directory, written ahead (WAL), every statement prepared once. */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "audit.h"
#include "controller.h"
#include "playbook.h"
#include "store.h"

#define SCHEMA_VERSION 2

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('epoch', 0);"
    "CREATE TABLE IF NOT EXISTS hosts("
    " name TEXT PRIMARY KEY, mode INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0,"
    " want_mode INTEGER NOT NULL DEFAULT 0, want_epoch INTEGER NOT NULL DEFAULT 0,"
    " hash TEXT NOT NULL DEFAULT '', last_seen_ms INTEGER NOT NULL DEFAULT 0,"
    " want_hash TEXT NOT NULL DEFAULT '', hold_confirm INTEGER NOT NULL DEFAULT 0,"
    " want_hard INTEGER NOT NULL DEFAULT 0, port_sw TEXT NOT NULL DEFAULT '',"
    " port_name TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS host_policies("
    " host TEXT NOT NULL, hash TEXT NOT NULL, frames BLOB NOT NULL, stored_ms INTEGER,"
    " PRIMARY KEY(host, hash));"
    "CREATE TABLE IF NOT EXISTS commands("
    " id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL, finished_ms INTEGER,"
    " uid INTEGER, user TEXT, pid INTEGER, action TEXT NOT NULL, reason TEXT,"
    " epoch INTEGER, targeted INTEGER, confirmed INTEGER);"
    "CREATE TABLE IF NOT EXISTS command_results("
    " command_id INTEGER NOT NULL REFERENCES commands(id), host TEXT NOT NULL,"
    " status TEXT NOT NULL, apply_us INTEGER, latency_us INTEGER, error TEXT);"
    "CREATE TABLE IF NOT EXISTS audit("
    " seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, host TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
    " result TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    " prev TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_host ON audit(host);"
    "CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " count INTEGER NOT NULL, hash TEXT NOT NULL);"
    "INSERT OR IGNORE INTO audit_head VALUES(1, 0, '');"
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

/* Every statement, prepared on first use and kept. */
enum sql {
	Q_EPOCH_GET,
	Q_EPOCH_SET,
	Q_HOST_INSERT,
	Q_HOST_SELECT,
	Q_HOST_WANT,
	Q_HOST_SEEN,
	Q_POLICY_PUT,
	Q_POLICY_GET,
	Q_COMMAND_BEGIN,
	Q_COMMAND_RESULT,
	Q_COMMAND_END,
	Q_AUDIT_HEAD,
	Q_AUDIT_INSERT,
	Q_AUDIT_HEAD_SET,
	Q_AUDIT_SELECT,
	Q_RUN_INSERT,
	Q_RUN_STAGE_INSERT,
	Q_RUN_HOST_INSERT,
	Q_RUN_CHECK_INSERT,
	Q_RUN_SAVE,
	Q_STAGE_SAVE,
	Q_RUN_LAST,
	Q_RUN_SELECT,
	Q_RUN_STAGES,
	Q_RUN_HOSTS,
	Q_RUN_CHECKS,
	Q_COUNT
};

#define AUDIT_COLUMNS "seq, time_ms, actor, action, host, reason, result, detail, prev, hash"

static const char *const sql_text[Q_COUNT] = {
    [Q_EPOCH_GET] = "SELECT value FROM meta WHERE key='epoch'",
    [Q_EPOCH_SET] = "UPDATE meta SET value=? WHERE key='epoch'",
    [Q_HOST_INSERT] = "INSERT OR IGNORE INTO hosts(name) VALUES(?)",
    [Q_HOST_SELECT] = "SELECT mode, epoch, want_mode, want_epoch, hash, last_seen_ms,"
		      " (SELECT count(*) FROM audit a WHERE a.host = hosts.name"
		      "  AND a.action = 'alert: tamper'),"
		      " want_hash, hold_confirm, want_hard, port_sw, port_name FROM hosts"
		      " WHERE name=?",
    [Q_HOST_WANT] = "UPDATE hosts SET want_mode=?, want_epoch=?, want_hash=?, hold_confirm=?,"
		    " want_hard=?, port_sw=?, port_name=? WHERE name=?",
    [Q_HOST_SEEN] = "UPDATE hosts SET mode=?, epoch=?, hash=?, last_seen_ms=? WHERE name=?",
    [Q_POLICY_PUT] = "INSERT OR IGNORE INTO host_policies(host, hash, frames, stored_ms)"
		     " VALUES(?,?,?,?)",
    [Q_POLICY_GET] = "SELECT frames FROM host_policies WHERE host=? AND hash=?",
    [Q_COMMAND_BEGIN] = "INSERT INTO commands(started_ms, uid, user, pid, action, reason, epoch,"
			" targeted) VALUES(?,?,?,?,?,?,?,?)",
    [Q_COMMAND_RESULT] = "INSERT INTO command_results(command_id, host, status, apply_us,"
			 " latency_us, error) VALUES(?,?,?,?,?,?)",
    [Q_COMMAND_END] = "UPDATE commands SET finished_ms=?, confirmed=? WHERE id=?",
    [Q_AUDIT_HEAD] = "SELECT count, hash FROM audit_head WHERE id = 1",
    [Q_AUDIT_INSERT] = "INSERT INTO audit(" AUDIT_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?)",
    [Q_AUDIT_HEAD_SET] = "UPDATE audit_head SET count = ?, hash = ? WHERE id = 1",
    [Q_AUDIT_SELECT] = "SELECT " AUDIT_COLUMNS " FROM audit WHERE time_ms >= ?"
		       " AND (? = '' OR host = ? OR (host = '' AND (' ' ||"
		       " replace(replace(detail, ',', ' '), ':', ' ') || ' ') LIKE '% ' || ? ||"
		       " ' %')) ORDER BY seq",
    [Q_RUN_INSERT] = "INSERT INTO pb_runs(name, actor, reason, state, current, started_ms)"
		     " VALUES(?,?,?,?,0,?)",
    [Q_RUN_STAGE_INSERT] = "INSERT INTO pb_stages(run_id, idx, name, approval, soak_ms,"
			   " on_failure_halt, restore, state) VALUES(?,?,?,?,?,?,?,?)",
    [Q_RUN_HOST_INSERT] = "INSERT INTO pb_stage_hosts VALUES(?,?,?,?,?)",
    [Q_RUN_CHECK_INSERT] = "INSERT INTO pb_checks VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [Q_RUN_SAVE] = "UPDATE pb_runs SET state = ?, current = ?,"
		   " finished_ms = CASE WHEN ? IN ('done', 'aborted') THEN ? ELSE NULL END"
		   " WHERE id = ?",
    [Q_STAGE_SAVE] = "UPDATE pb_stages SET state = ?, epoch = ?, state_ms = ?,"
		     " approved_by = ?, detail = ? WHERE run_id = ? AND idx = ?",
    [Q_RUN_LAST] = "SELECT id FROM pb_runs ORDER BY id DESC LIMIT 1",
    [Q_RUN_SELECT] = "SELECT name, actor, reason, state, current FROM pb_runs WHERE id = ?",
    [Q_RUN_STAGES] = "SELECT idx, name, approval, soak_ms, on_failure_halt, restore, state,"
		     " epoch, state_ms, approved_by, detail FROM pb_stages WHERE run_id = ?"
		     " ORDER BY idx",
    [Q_RUN_HOSTS] = "SELECT idx, host, hash FROM pb_stage_hosts WHERE run_id = ?"
		    " ORDER BY idx, n",
    [Q_RUN_CHECKS] = "SELECT idx, from_host, target, target_name, proto, port, expect,"
		     " timeout_ms, line FROM pb_checks WHERE run_id = ? ORDER BY idx, n",
};

struct store_sqlite {
	struct store s;
	sqlite3 *db;
	uint64_t epoch;
	sqlite3_stmt *st[Q_COUNT];
};

static struct store_sqlite *sq(struct store *s)
{
	return (struct store_sqlite *)s;
}

static int sq_exec(struct store_sqlite *q, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(q->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_err("sqlite: %s: %s", q->s.where, err ? err : sqlite3_errmsg(q->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* The statement, reset and ready for its parameters. */
static sqlite3_stmt *sq_stmt(struct store_sqlite *q, enum sql which)
{
	if (!q->st[which] &&
	    sqlite3_prepare_v2(q->db, sql_text[which], -1, &q->st[which], NULL) != SQLITE_OK)
		fatal("sqlite: %s: %s", sql_text[which], sqlite3_errmsg(q->db));
	sqlite3_reset(q->st[which]);
	sqlite3_clear_bindings(q->st[which]);
	return q->st[which];
}

/* Runs a statement that returns no rows; 0 or -1 (logged). */
static int sq_done(struct store_sqlite *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	log_err("sqlite: %s: %s", q->s.where, sqlite3_errmsg(q->db));
	return -1;
}

static void sq_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void sq_copy(char *out, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, len, "%s", t ? (const char *)t : "");
}

/* Several statements as one: BEGIN, fn, COMMIT, or ROLLBACK when fn fails. */
static int sq_txn(struct store_sqlite *q, int (*fn)(struct store_sqlite *q, const void *arg),
		  const void *arg)
{
	if (sq_exec(q, "BEGIN") < 0)
		return -1;
	if (fn(q, arg) < 0) {
		sq_exec(q, "ROLLBACK");
		return -1;
	}
	return sq_exec(q, "COMMIT");
}

/* --- epochs --- */

static int sq_epoch_write(struct store_sqlite *q)
{
	sqlite3_stmt *st = sq_stmt(q, Q_EPOCH_SET);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)q->epoch);
	return sq_done(q, st);
}

static uint64_t sq_epoch_current(struct store *s)
{
	return sq(s)->epoch;
}

static uint64_t sq_epoch_next(struct store *s)
{
	struct store_sqlite *q = sq(s);

	q->epoch++;
	sq_epoch_write(q);
	return q->epoch;
}

/* An agent holding a newer epoch than ours (a restored database, say)
 * moves the counter forward, so the next command is not ignored as stale. */
static int sq_epoch_raise(struct store *s, uint64_t seen)
{
	struct store_sqlite *q = sq(s);

	if (seen <= q->epoch)
		return 0;
	q->epoch = seen;
	return sq_epoch_write(q);
}

/* --- hosts --- */

struct hosts_arg {
	struct host *const *hosts;
	struct host *all;
	int n;
};

static int sq_hosts_load_txn(struct store_sqlite *q, const void *arg)
{
	const struct hosts_arg *a = arg;

	for (int i = 0; i < a->n; i++) {
		struct host *h = &a->all[i];
		sqlite3_stmt *st = sq_stmt(q, Q_HOST_INSERT);

		sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC);
		if (sq_done(q, st) < 0)
			return -1;
		st = sq_stmt(q, Q_HOST_SELECT);
		sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			h->mode = sqlite3_column_int(st, 0);
			h->epoch = (uint64_t)sqlite3_column_int64(st, 1);
			h->want_mode = sqlite3_column_int(st, 2);
			h->want_epoch = (uint64_t)sqlite3_column_int64(st, 3);
			sq_copy(h->hash, sizeof(h->hash), st, 4);
			h->last_seen_ms = (uint64_t)sqlite3_column_int64(st, 5);
			h->tampers = (uint32_t)sqlite3_column_int64(st, 6);
			sq_copy(h->want_hash, sizeof(h->want_hash), st, 7);
			h->hold_confirm = sqlite3_column_int(st, 8);
			h->want_hard = sqlite3_column_int(st, 9);
			sq_copy(h->port_sw, sizeof(h->port_sw), st, 10);
			sq_copy(h->port_name, sizeof(h->port_name), st, 11);
		}
		sqlite3_reset(st);
	}
	return 0;
}

static int sq_hosts_load(struct store *s, struct host *hosts, int n)
{
	struct hosts_arg a = {.all = hosts, .n = n};

	return sq_txn(sq(s), sq_hosts_load_txn, &a);
}

static int sq_hosts_want_txn(struct store_sqlite *q, const void *arg)
{
	const struct hosts_arg *a = arg;

	for (int i = 0; i < a->n; i++) {
		const struct host *h = a->hosts[i];
		sqlite3_stmt *st = sq_stmt(q, Q_HOST_WANT);

		sqlite3_bind_int(st, 1, h->want_mode);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)h->want_epoch);
		sqlite3_bind_text(st, 3, h->want_hash, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, h->hold_confirm);
		sqlite3_bind_int(st, 5, h->want_hard);
		sqlite3_bind_text(st, 6, h->port_sw, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, h->port_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, h->name, -1, SQLITE_STATIC);
		if (sq_done(q, st) < 0)
			return -1;
	}
	return sq_epoch_write(q);
}

/* The commanded state is stored before the first frame leaves (WAL: it
 * survives a crash of bulkheadd; synchronous=NORMAL may lose the last
 * transactions on power loss, which the agents' own records cover). */
static int sq_hosts_want(struct store *s, struct host *const *hosts, int n)
{
	struct hosts_arg a = {.hosts = hosts, .n = n};

	if (sq_txn(sq(s), sq_hosts_want_txn, &a) < 0) {
		log_err("sqlite: the commanded state was not stored");
		return -1;
	}
	return 0;
}

static int sq_hosts_seen_txn(struct store_sqlite *q, const void *arg)
{
	const struct hosts_arg *a = arg;

	for (int i = 0; i < a->n; i++) {
		const struct host *h = a->hosts[i];
		sqlite3_stmt *st = sq_stmt(q, Q_HOST_SEEN);

		sqlite3_bind_int(st, 1, h->mode);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)h->epoch);
		sqlite3_bind_text(st, 3, h->hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)h->last_seen_ms);
		sqlite3_bind_text(st, 5, h->name, -1, SQLITE_STATIC);
		if (sq_done(q, st) < 0)
			return -1;
	}
	return 0;
}

static int sq_hosts_seen(struct store *s, struct host *const *hosts, int n)
{
	struct hosts_arg a = {.hosts = hosts, .n = n};

	return n ? sq_txn(sq(s), sq_hosts_seen_txn, &a) : 0;
}

/* --- policies --- */

static int sq_policy_put(struct store *s, const char *host, const char *hash, const void *frames,
			 size_t len)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_POLICY_PUT);

	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 3, frames, len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)clock_wall_ms());
	if (sq_done(q, st) < 0) {
		log_err("sqlite: storing policy %.12s of %s failed", hash, host);
		return -1;
	}
	return 0;
}

static void *sq_policy_get(struct store *s, const char *host, const char *hash, size_t *len)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_POLICY_GET);
	void *out = NULL;

	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		out = malloc(*len ? *len : 1);
		if (!out)
			fatal("out of memory");
		memcpy(out, sqlite3_column_blob(st, 0), *len);
	}
	sqlite3_reset(st);
	return out;
}

/* --- commands --- */

static int sq_command_begin(struct store *s, const struct store_command *c, int64_t *id)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_COMMAND_BEGIN);
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];

	getpwuid_r(c->uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_int64(st, 2, c->uid);
	if (pwp)
		sqlite3_bind_text(st, 3, pwp->pw_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, c->pid);
	sqlite3_bind_text(st, 5, action_name(c->action), -1, SQLITE_STATIC);
	sq_text(st, 6, c->reason);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)c->epoch);
	sqlite3_bind_int(st, 8, c->targeted);
	if (sq_done(q, st) < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(q->db);
	return 0;
}

static int sq_audit_rows(struct store_sqlite *q, struct audit_row *rows, int n);

static int sq_command_end_txn(struct store_sqlite *q, const void *arg)
{
	const struct store_command_end *e = arg;
	sqlite3_stmt *st;

	for (int i = 0; i < e->nresults; i++) {
		const struct store_result *r = &e->results[i];

		st = sq_stmt(q, Q_COMMAND_RESULT);
		sqlite3_bind_int64(st, 1, e->id);
		sqlite3_bind_text(st, 2, r->host, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, host_status_name(r->status), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)r->apply_us);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)r->latency_us);
		sq_text(st, 6, r->error);
		if (sq_done(q, st) < 0)
			return -1;
	}
	st = sq_stmt(q, Q_COMMAND_END);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_int(st, 2, e->confirmed);
	sqlite3_bind_int64(st, 3, e->id);
	if (sq_done(q, st) < 0)
		return -1;
	return sq_audit_rows(q, (struct audit_row *)e->audit, e->naudit);
}

static int sq_command_end(struct store *s, const struct store_command_end *e)
{
	return sq_txn(sq(s), sq_command_end_txn, e);
}

/* --- the audit log --- */

static int sq_audit_head(struct store *s, int64_t *count, char hash[65])
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_AUDIT_HEAD);
	int rc = -1;

	if (sqlite3_step(st) == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		sq_copy(hash, 65, st, 1);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/* Inside a transaction: each row sealed to the head, inserted, the head moved. */
static int sq_audit_rows(struct store_sqlite *q, struct audit_row *rows, int n)
{
	char prev[65];
	int64_t count;
	sqlite3_stmt *st;

	if (n == 0)
		return 0;
	if (sq_audit_head(&q->s, &count, prev) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct audit_row *r = &rows[i];

		r->seq = ++count;
		audit_seal(prev, r);
		snprintf(prev, sizeof(prev), "%s", r->hash);
		st = sq_stmt(q, Q_AUDIT_INSERT);
		sqlite3_bind_int64(st, 1, r->seq);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r->time_ms);
		sqlite3_bind_text(st, 3, r->actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, r->action, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, r->host ? r->host : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, r->reason ? r->reason : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, r->result ? r->result : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, r->detail ? r->detail : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, r->prev, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, r->hash, -1, SQLITE_STATIC);
		if (sq_done(q, st) < 0)
			return -1;
	}
	st = sq_stmt(q, Q_AUDIT_HEAD_SET);
	sqlite3_bind_int64(st, 1, count);
	sqlite3_bind_text(st, 2, prev, -1, SQLITE_STATIC);
	return sq_done(q, st);
}

struct audit_rows_arg {
	struct audit_row *rows;
	int n;
};

static int sq_audit_append_txn(struct store_sqlite *q, const void *arg)
{
	const struct audit_rows_arg *a = arg;

	return sq_audit_rows(q, a->rows, a->n);
}

static int sq_audit_append(struct store *s, struct audit_row *rows, int n)
{
	struct audit_rows_arg a = {rows, n};

	if (sq_txn(sq(s), sq_audit_append_txn, &a) < 0) {
		log_err("audit: appending \"%s\" failed", n ? rows[0].action : "");
		return -1;
	}
	return 0;
}

static int sq_audit_foreach(struct store *s, uint64_t since_ms, const char *host,
			    int (*fn)(const struct audit_row *r, void *arg), void *arg)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_AUDIT_SELECT);
	int rc = 0, step;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_ms);
	for (int i = 2; i <= 4; i++)
		sqlite3_bind_text(st, i, host ? host : "", -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_row r = {
		    .seq = sqlite3_column_int64(st, 0),
		    .time_ms = (uint64_t)sqlite3_column_int64(st, 1),
		    .actor = (const char *)sqlite3_column_text(st, 2),
		    .action = (const char *)sqlite3_column_text(st, 3),
		    .host = (const char *)sqlite3_column_text(st, 4),
		    .reason = (const char *)sqlite3_column_text(st, 5),
		    .result = (const char *)sqlite3_column_text(st, 6),
		    .detail = (const char *)sqlite3_column_text(st, 7),
		};

		sq_copy(r.prev, sizeof(r.prev), st, 8);
		sq_copy(r.hash, sizeof(r.hash), st, 9);
		rc = fn(&r, arg);
	}
	if (rc == 0 && step != SQLITE_DONE) {
		log_err("sqlite: reading the audit log: %s", sqlite3_errmsg(q->db));
		rc = -1;
	}
	sqlite3_reset(st);
	return rc;
}

/* --- playbook runs --- */

static int sq_run_stage_insert(struct store_sqlite *q, const struct pb_run *r, int i)
{
	const struct pb_stage_rt *s = &r->stages[i];
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_STAGE_INSERT);

	sqlite3_bind_int64(st, 1, r->id);
	sqlite3_bind_int(st, 2, i);
	sqlite3_bind_text(st, 3, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, s->approval);
	sqlite3_bind_int64(st, 5, s->soak_ms);
	sqlite3_bind_int(st, 6, s->on_failure == ON_FAILURE_HALT);
	sqlite3_bind_text(st, 7, s->restore, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, stage_state_name(s->state), -1, SQLITE_STATIC);
	if (sq_done(q, st) < 0)
		return -1;
	for (int j = 0; j < s->nhosts; j++) {
		st = sq_stmt(q, Q_RUN_HOST_INSERT);
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_int(st, 3, j);
		sqlite3_bind_text(st, 4, s->hosts[j]->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, s->hashes[j], -1, SQLITE_STATIC);
		if (sq_done(q, st) < 0)
			return -1;
	}
	for (int j = 0; j < s->nchecks; j++) {
		const struct pb_check_rt *k = &s->checks[j];

		st = sq_stmt(q, Q_RUN_CHECK_INSERT);
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
		if (sq_done(q, st) < 0)
			return -1;
	}
	return 0;
}

static int sq_run_insert_txn(struct store_sqlite *q, const void *arg)
{
	struct pb_run *r = (struct pb_run *)arg;
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_INSERT);

	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, run_state_name(r->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)clock_wall_ms());
	if (sq_done(q, st) < 0)
		return -1;
	r->id = sqlite3_last_insert_rowid(q->db);
	for (int i = 0; i < r->nstages; i++)
		if (sq_run_stage_insert(q, r, i) < 0)
			return -1;
	return 0;
}

/* The run, its stages, hosts and checks, in one transaction. */
static int sq_run_insert(struct store *s, struct pb_run *r)
{
	if (sq_txn(sq(s), sq_run_insert_txn, r) < 0) {
		log_err("sqlite: storing the playbook run failed");
		return -1;
	}
	return 0;
}

static int sq_run_save(struct store *s, const struct pb_run *r)
{
	struct store_sqlite *q = sq(s);
	sqlite3_stmt *st = sq_stmt(q, Q_RUN_SAVE);

	sqlite3_bind_text(st, 1, run_state_name(r->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, r->current);
	sqlite3_bind_text(st, 3, run_state_name(r->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_int64(st, 5, r->id);
	return sq_done(q, st);
}

static int sq_stage_save(struct store *s, const struct pb_run *r, int idx)
{
	struct store_sqlite *q = sq(s);
	const struct pb_stage_rt *g = &r->stages[idx];
	sqlite3_stmt *st = sq_stmt(q, Q_STAGE_SAVE);

	sqlite3_bind_text(st, 1, stage_state_name(g->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)g->epoch);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)g->state_ms);
	sqlite3_bind_text(st, 4, g->approved_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, g->detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, r->id);
	sqlite3_bind_int(st, 7, idx);
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

static struct pb_run *sq_run_load_last(struct store *s, store_host_find_fn find, void *arg)
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

/* --- open and close --- */

static void sq_close(struct store *s)
{
	struct store_sqlite *q = sq(s);

	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .epoch_current = sq_epoch_current,
    .epoch_next = sq_epoch_next,
    .epoch_raise = sq_epoch_raise,
    .hosts_load = sq_hosts_load,
    .hosts_want = sq_hosts_want,
    .hosts_seen = sq_hosts_seen,
    .policy_put = sq_policy_put,
    .policy_get = sq_policy_get,
    .command_begin = sq_command_begin,
    .command_end = sq_command_end,
    .audit_append = sq_audit_append,
    .audit_foreach = sq_audit_foreach,
    .audit_head = sq_audit_head,
    .run_insert = sq_run_insert,
    .run_save = sq_run_save,
    .stage_save = sq_stage_save,
    .run_load_last = sq_run_load_last,
};

struct store *store_sqlite_open(const char *path, int read_only)
{
	struct store_sqlite *q = xcalloc(1, sizeof(*q));
	int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	sqlite3_stmt *st;
	char sql[64];

	q->s.ops = &sqlite_ops;
	snprintf(q->s.where, sizeof(q->s.where), "%s", path);
	if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
		log_err("%s: %s", path, sqlite3_errmsg(q->db));
		sq_close(&q->s);
		return NULL;
	}
	sqlite3_busy_timeout(q->db, 2000);
	if (!read_only) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d;", SCHEMA_VERSION);
		if (sq_exec(q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") < 0 ||
		    sq_exec(q, schema) < 0 || sq_exec(q, sql) < 0) {
			sq_close(&q->s);
			return NULL;
		}
	}
	/* A file that is not a store is refused here, not at its first use. */
	if (sqlite3_prepare_v2(q->db, sql_text[Q_EPOCH_GET], -1, &st, NULL) != SQLITE_OK) {
		log_err("%s: not a bulkhead store: %s", path, sqlite3_errmsg(q->db));
		sq_close(&q->s);
		return NULL;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		q->epoch = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return &q->s;
}
