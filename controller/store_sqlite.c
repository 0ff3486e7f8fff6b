/* The store in SQLite, the embedded default: one file in the state
 * directory, written ahead (WAL), every statement prepared once. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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
#include "store_sqlite.h"

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

struct store_sqlite *sq(struct store *s)
{
	return (struct store_sqlite *)s;
}

int sq_exec(struct store_sqlite *q, const char *sql)
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
sqlite3_stmt *sq_stmt(struct store_sqlite *q, enum sql which)
{
	if (!q->st[which] &&
	    sqlite3_prepare_v2(q->db, sql_text[which], -1, &q->st[which], NULL) != SQLITE_OK)
		fatal("sqlite: %s: %s", sql_text[which], sqlite3_errmsg(q->db));
	sqlite3_reset(q->st[which]);
	sqlite3_clear_bindings(q->st[which]);
	return q->st[which];
}

/* Runs a statement that returns no rows; 0 or -1 (logged). */
int sq_done(struct store_sqlite *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	log_err("sqlite: %s: %s", q->s.where, sqlite3_errmsg(q->db));
	return -1;
}

void sq_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Binds the parameters in order, one letter each: i int, I int64, t text
 * (NULL binds NULL), b blob (pointer, size_t). */
void sq_bind(sqlite3_stmt *st, const char *types, ...)
{
	va_list ap;

	va_start(ap, types);
	for (int i = 1; types[i - 1]; i++) {
		switch (types[i - 1]) {
		case 'i': sqlite3_bind_int(st, i, va_arg(ap, int)); break;
		case 'I': sqlite3_bind_int64(st, i, va_arg(ap, sqlite3_int64)); break;
		case 't': sq_text(st, i, va_arg(ap, const char *)); break;
		case 'b': {
			const void *p = va_arg(ap, const void *);

			sqlite3_bind_blob64(st, i, p, va_arg(ap, size_t), SQLITE_STATIC);
			break;
		}
		}
	}
	va_end(ap);
}

void sq_copy(char *out, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, len, "%s", t ? (const char *)t : "");
}

/* Several statements as one: BEGIN, fn, COMMIT, or ROLLBACK when fn fails. */
int sq_txn(struct store_sqlite *q, int (*fn)(struct store_sqlite *q, const void *arg),
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

		sq_bind(st, "iItiittt", h->want_mode, (sqlite3_int64)h->want_epoch, h->want_hash,
			h->hold_confirm, h->want_hard, h->port_sw, h->port_name, h->name);
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

		sq_bind(st, "iItIt", h->mode, (sqlite3_int64)h->epoch, h->hash,
			(sqlite3_int64)h->last_seen_ms, h->name);
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

	sq_bind(st, "ttbI", host, hash, frames, len, (sqlite3_int64)clock_wall_ms());
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

	sq_bind(st, "tt", host, hash);
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
	sq_bind(st, "IItIttIi", (sqlite3_int64)clock_wall_ms(), (sqlite3_int64)c->uid,
		pwp ? pwp->pw_name : NULL, (sqlite3_int64)c->pid, action_name(c->action), c->reason,
		(sqlite3_int64)c->epoch, c->targeted);
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
		sq_bind(st, "IttIIt", (sqlite3_int64)e->id, r->host, host_status_name(r->status),
			(sqlite3_int64)r->apply_us, (sqlite3_int64)r->latency_us, r->error);
		if (sq_done(q, st) < 0)
			return -1;
	}
	st = sq_stmt(q, Q_COMMAND_END);
	sq_bind(st, "IiI", (sqlite3_int64)clock_wall_ms(), e->confirmed, (sqlite3_int64)e->id);
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
		sq_bind(st, "IItttttttt", (sqlite3_int64)r->seq, (sqlite3_int64)r->time_ms,
			r->actor, r->action, r->host ? r->host : "", r->reason ? r->reason : "",
			r->result ? r->result : "", r->detail ? r->detail : "", r->prev, r->hash);
		if (sq_done(q, st) < 0)
			return -1;
	}
	st = sq_stmt(q, Q_AUDIT_HEAD_SET);
	sq_bind(st, "It", (sqlite3_int64)count, prev);
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
