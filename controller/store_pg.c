/* The store in PostgreSQL, for controllers that share one database: the
 * same tables as SQLite's, epochs from a sequence, audit appends
 * serialised on the head row, the schema brought up to date at start. */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "audit.h"
#include "controller.h"
#include "store.h"
#include "store_pg.h"

/* Each step takes the schema from version i to i + 1; a step is never
 * edited once released, a new one is added. */
static const char *const migrations[] = {
    "CREATE SEQUENCE bh_epoch MINVALUE 0 START 1;"
    "CREATE TABLE hosts("
    " name TEXT PRIMARY KEY, mode INTEGER NOT NULL DEFAULT 0, epoch BIGINT NOT NULL DEFAULT 0,"
    " want_mode INTEGER NOT NULL DEFAULT 0, want_epoch BIGINT NOT NULL DEFAULT 0,"
    " hash TEXT NOT NULL DEFAULT '', last_seen_ms BIGINT NOT NULL DEFAULT 0,"
    " want_hash TEXT NOT NULL DEFAULT '', hold_confirm INTEGER NOT NULL DEFAULT 0,"
    " want_hard INTEGER NOT NULL DEFAULT 0, port_sw TEXT NOT NULL DEFAULT '',"
    " port_name TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE host_policies("
    " host TEXT NOT NULL, hash TEXT NOT NULL, frames BYTEA NOT NULL, stored_ms BIGINT,"
    " PRIMARY KEY(host, hash));"
    "CREATE TABLE commands("
    " id BIGSERIAL PRIMARY KEY, started_ms BIGINT NOT NULL, finished_ms BIGINT,"
    " uid BIGINT, \"user\" TEXT, pid BIGINT, action TEXT NOT NULL, reason TEXT,"
    " epoch BIGINT, targeted INTEGER, confirmed INTEGER);"
    "CREATE TABLE command_results("
    " command_id BIGINT NOT NULL REFERENCES commands(id), host TEXT NOT NULL,"
    " status TEXT NOT NULL, apply_us BIGINT, latency_us BIGINT, error TEXT);"
    "CREATE TABLE audit("
    " seq BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, host TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
    " result TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    " prev TEXT NOT NULL, hash TEXT NOT NULL UNIQUE);"
    "CREATE INDEX audit_host ON audit(host);"
    "CREATE TABLE audit_head(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " count BIGINT NOT NULL, hash TEXT NOT NULL);"
    "INSERT INTO audit_head VALUES(1, 0, '');"
    "CREATE TABLE pb_runs(id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,"
    " actor TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,"
    " current INTEGER NOT NULL DEFAULT 0, started_ms BIGINT, finished_ms BIGINT);"
    "CREATE TABLE pb_stages(run_id BIGINT NOT NULL, idx INTEGER NOT NULL,"
    " name TEXT NOT NULL, approval INTEGER, soak_ms BIGINT, on_failure_halt INTEGER,"
    " restore TEXT, state TEXT NOT NULL, epoch BIGINT NOT NULL DEFAULT 0,"
    " state_ms BIGINT NOT NULL DEFAULT 0, approved_by TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '', PRIMARY KEY(run_id, idx));"
    "CREATE TABLE pb_stage_hosts(run_id BIGINT NOT NULL, idx INTEGER NOT NULL,"
    " n INTEGER NOT NULL, host TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE pb_checks(run_id BIGINT NOT NULL, idx INTEGER NOT NULL,"
    " n INTEGER NOT NULL, from_host TEXT, target TEXT, target_name TEXT, proto INTEGER,"
    " port INTEGER, expect INTEGER, timeout_ms BIGINT, line INTEGER);",
    /* 2: the leader among controllers sharing the database, and its
     * fencing term. */
    "CREATE TABLE bh_leader(id INTEGER PRIMARY KEY CHECK (id = 1), term BIGINT NOT NULL,"
    " name TEXT NOT NULL, since_ms BIGINT NOT NULL);"
    "INSERT INTO bh_leader VALUES(1, 0, '', 0);"
    "CREATE INDEX hosts_want_epoch ON hosts(want_epoch);",
    /* 3: which controller holds each agent, and which controllers are
     * alive (seen is the server's clock, never a controller's). */
    "ALTER TABLE hosts ADD COLUMN ctl TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE hosts ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE bh_controllers(name TEXT PRIMARY KEY, seen TIMESTAMPTZ NOT NULL);"
    "CREATE INDEX hosts_ctl ON hosts(ctl);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define AUDIT_COLUMNS "seq, time_ms, actor, action, host, reason, result, detail, prev, hash"

/* --- epochs: one sequence for every controller --- */

static uint64_t pg_epoch_current(struct store *s)
{
	struct store_pg *p = pg(s);
	PGresult *r = pg_query(p,
			       "SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
			       " FROM bh_epoch",
			       "");

	if (r && PQntuples(r) == 1 && (uint64_t)pg_int(r, 0, 0) > p->epoch)
		p->epoch = (uint64_t)pg_int(r, 0, 0);
	PQclear(r);
	return p->epoch;
}

/* The sequence's next value, never below what this controller used or saw
 * last. With the server unreachable, the epoch is taken here instead, so
 * that an isolation still goes out with an epoch the agents accept; the
 * next call moves the sequence past it. */
static uint64_t pg_epoch_next(struct store *s)
{
	struct store_pg *p = pg(s);
	PGresult *r = pg_query(p, "SELECT bh_epoch_next($1)", "I", (int64_t)p->epoch);
	uint64_t e = 0;

	if (r && PQntuples(r) == 1)
		e = (uint64_t)pg_int(r, 0, 0);
	PQclear(r);
	if (e == 0) {
		e = p->epoch + 1;
		log_err("postgresql: %s: no epoch from the database; epoch %" PRIu64
			" taken by this controller",
			s->where, e);
	}
	p->epoch = e;
	return e;
}

static int pg_epoch_raise(struct store *s, uint64_t seen)
{
	struct store_pg *p = pg(s);

	if (seen <= p->epoch)
		return 0;
	if (pg_do(p, "SELECT bh_epoch_raise($1)", "I", (int64_t)seen) < 0)
		return -1;
	p->epoch = seen;
	return 0;
}

/* --- hosts --- */

struct hosts_arg {
	struct host *const *hosts;
	struct host *all;
	int n;
};

static int pg_hosts_load_txn(struct store_pg *p, const void *arg)
{
	const struct hosts_arg *a = arg;

	for (int i = 0; i < a->n; i++) {
		struct host *h = &a->all[i];
		PGresult *r;

		if (pg_do(p, "INSERT INTO hosts(name) VALUES($1) ON CONFLICT DO NOTHING", "t",
			  h->name) < 0)
			return -1;
		r = pg_query(p,
			     "SELECT mode, epoch, want_mode, want_epoch, hash, last_seen_ms,"
			     " (SELECT count(*) FROM audit a WHERE a.host = hosts.name"
			     "  AND a.action = 'alert: tamper'),"
			     " want_hash, hold_confirm, want_hard, port_sw, port_name FROM hosts"
			     " WHERE name = $1",
			     "t", h->name);
		if (!r)
			return -1;
		if (PQntuples(r) == 1) {
			h->mode = (enum bulkhead_mode)pg_int(r, 0, 0);
			h->epoch = (uint64_t)pg_int(r, 0, 1);
			h->want_mode = (enum bulkhead_mode)pg_int(r, 0, 2);
			h->want_epoch = (uint64_t)pg_int(r, 0, 3);
			pg_copy(h->hash, sizeof(h->hash), r, 0, 4);
			h->last_seen_ms = (uint64_t)pg_int(r, 0, 5);
			h->tampers = (uint32_t)pg_int(r, 0, 6);
			pg_copy(h->want_hash, sizeof(h->want_hash), r, 0, 7);
			h->hold_confirm = (int)pg_int(r, 0, 8);
			h->want_hard = (int)pg_int(r, 0, 9);
			pg_copy(h->port_sw, sizeof(h->port_sw), r, 0, 10);
			pg_copy(h->port_name, sizeof(h->port_name), r, 0, 11);
		}
		PQclear(r);
	}
	return 0;
}

static int pg_hosts_load(struct store *s, struct host *hosts, int n)
{
	struct hosts_arg a = {.all = hosts, .n = n};

	return pg_txn(pg(s), pg_hosts_load_txn, &a);
}

/* Every host's row in one statement, one round trip however many hosts. */
static int pg_hosts_want_txn(struct store_pg *p, const void *arg)
{
	const struct hosts_arg *a = arg;
	struct pg_arr col[8] = {{0}};
	int rc;

	for (int i = 0; i < a->n; i++) {
		const struct host *h = a->hosts[i];

		arr_str(&col[0], h->name);
		arr_int(&col[1], h->want_mode);
		arr_int(&col[2], (int64_t)h->want_epoch);
		arr_str(&col[3], h->want_hash);
		arr_int(&col[4], h->hold_confirm);
		arr_int(&col[5], h->want_hard);
		arr_str(&col[6], h->port_sw);
		arr_str(&col[7], h->port_name);
	}
	rc = pg_do(p,
		   "UPDATE hosts AS h SET want_mode=v.m, want_epoch=v.e, want_hash=v.hash,"
		   " hold_confirm=v.hc, want_hard=v.hard, port_sw=v.sw, port_name=v.pn"
		   " FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::int[],"
		   " $6::int[], $7::text[], $8::text[]) AS v(name, m, e, hash, hc, hard, sw, pn)"
		   " WHERE h.name = v.name",
		   "tttttttt", arr_end(&col[0]), arr_end(&col[1]), arr_end(&col[2]),
		   arr_end(&col[3]), arr_end(&col[4]), arr_end(&col[5]), arr_end(&col[6]),
		   arr_end(&col[7]));
	for (int i = 0; i < 8; i++)
		free(col[i].b);
	return rc;
}

static int pg_hosts_want(struct store *s, struct host *const *hosts, int n)
{
	struct hosts_arg a = {.hosts = hosts, .n = n};

	if (pg_txn(pg(s), pg_hosts_want_txn, &a) < 0) {
		log_err("postgresql: the commanded state was not stored");
		return -1;
	}
	return 0;
}

static int pg_hosts_seen_txn(struct store_pg *p, const void *arg)
{
	const struct hosts_arg *a = arg;
	struct pg_arr col[6] = {{0}};
	int rc;

	for (int i = 0; i < a->n; i++) {
		const struct host *h = a->hosts[i];

		arr_str(&col[0], h->name);
		arr_int(&col[1], h->mode);
		arr_int(&col[2], (int64_t)h->epoch);
		arr_str(&col[3], h->hash);
		arr_int(&col[4], (int64_t)h->last_seen_ms);
		arr_int(&col[5], h->pending_confirm);
	}
	/* What the agents reported: they report it again on every hello, so
	 * this commit need not wait for the disk (every loop pass of acks
	 * would). */
	rc = pg_exec(p, "SET LOCAL synchronous_commit = off");
	if (rc == 0)
		rc = pg_do(p,
			   "UPDATE hosts AS h SET mode=v.m, epoch=v.e, hash=v.hash,"
			   " last_seen_ms=v.seen, pending=v.p FROM unnest($1::text[], $2::int[],"
			   " $3::bigint[], $4::text[], $5::bigint[], $6::int[])"
			   " AS v(name, m, e, hash, seen, p) WHERE h.name = v.name",
			   "tttttt", arr_end(&col[0]), arr_end(&col[1]), arr_end(&col[2]),
			   arr_end(&col[3]), arr_end(&col[4]), arr_end(&col[5]));
	for (int i = 0; i < 6; i++)
		free(col[i].b);
	return rc;
}

static int pg_hosts_seen(struct store *s, struct host *const *hosts, int n)
{
	struct hosts_arg a = {.hosts = hosts, .n = n};

	return n ? pg_txn(pg(s), pg_hosts_seen_txn, &a) : 0;
}

/* --- policies --- */

static int pg_policy_put(struct store *s, const char *host, const char *hash, const void *frames,
			 size_t len)
{
	if (pg_do(pg(s),
		  "INSERT INTO host_policies(host, hash, frames, stored_ms) VALUES($1,$2,$3,$4)"
		  " ON CONFLICT DO NOTHING",
		  "ttbI", host, hash, frames, len, (int64_t)clock_wall_ms()) < 0) {
		log_err("postgresql: storing policy %.12s of %s failed", hash, host);
		return -1;
	}
	return 0;
}

static void *pg_policy_get(struct store *s, const char *host, const char *hash, size_t *len)
{
	struct store_pg *p = pg(s);
	PGresult *r;
	void *out = NULL;

	if (pg_ready(p) < 0)
		return NULL;
	/* Asked for in binary, the bytea comes back as its bytes. */
	r = PQexecParams(p->conn, "SELECT frames FROM host_policies WHERE host=$1 AND hash=$2", 2,
			 NULL, (const char *const[]){host, hash}, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_err("postgresql: %s: reading policy %.12s of %s: %s", s->where, hash, host,
			pg_errmsg(p, r));
	} else if (PQntuples(r) == 1) {
		*len = (size_t)PQgetlength(r, 0, 0);
		out = malloc(*len ? *len : 1);
		if (!out)
			fatal("out of memory");
		memcpy(out, PQgetvalue(r, 0, 0), *len);
	}
	PQclear(r);
	return out;
}

/* --- commands --- */

static int pg_command_begin(struct store *s, const struct store_command *c, int64_t *id)
{
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];
	PGresult *r;

	getpwuid_r(c->uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
	r = pg_query(pg(s),
		     "INSERT INTO commands(started_ms, uid, \"user\", pid, action, reason, epoch,"
		     " targeted) VALUES($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
		     "IItIttIi", (int64_t)clock_wall_ms(), (int64_t)c->uid,
		     pwp ? pwp->pw_name : NULL, (int64_t)c->pid, action_name(c->action), c->reason,
		     (int64_t)c->epoch, c->targeted);
	if (!r || PQntuples(r) != 1) {
		PQclear(r);
		log_err("postgresql: the command was not recorded");
		return -1;
	}
	*id = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

static int pg_command_end_txn(struct store_pg *p, const void *arg)
{
	const struct store_command_end *e = arg;

	/* A command whose start could not be recorded (the server was away)
	 * has no row to hang results on; its audit rows still go in. */
	if (e->id <= 0)
		return pg_audit_rows(p, (struct audit_row *)e->audit, e->naudit);
	for (int i = 0; i < e->nresults; i++) {
		const struct store_result *r = &e->results[i];

		if (pg_do(p,
			  "INSERT INTO command_results(command_id, host, status, apply_us,"
			  " latency_us, error) VALUES($1,$2,$3,$4,$5,$6)",
			  "IttIIt", e->id, r->host, host_status_name(r->status),
			  (int64_t)r->apply_us, (int64_t)r->latency_us, r->error) < 0)
			return -1;
	}
	if (pg_do(p, "UPDATE commands SET finished_ms=$1, confirmed=$2 WHERE id=$3", "IiI",
		  (int64_t)clock_wall_ms(), e->confirmed, e->id) < 0)
		return -1;
	return pg_audit_rows(p, (struct audit_row *)e->audit, e->naudit);
}

static int pg_command_end(struct store *s, const struct store_command_end *e)
{
	struct store_pg *p = pg(s);

	if (pg_backlog_flush(p) < 0 || pg_txn(p, pg_command_end_txn, e) < 0) {
		log_err("postgresql: the end of command %" PRId64 " was not recorded", e->id);
		pg_backlog_keep(p, e->audit, e->naudit);
		return -1;
	}
	return 0;
}

/* --- the audit log --- */

static int pg_audit_head_read(struct store_pg *p, const char *sql, int64_t *count, char hash[65])
{
	PGresult *r = pg_query(p, sql, "");
	int rc = -1;

	if (r && PQntuples(r) == 1) {
		*count = pg_int(r, 0, 0);
		pg_copy(hash, 65, r, 0, 1);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

static int pg_audit_head(struct store *s, int64_t *count, char hash[65])
{
	return pg_audit_head_read(pg(s), "SELECT count, hash FROM audit_head WHERE id = 1", count,
				  hash);
}

/* Inside a transaction: the head row locked, so that controllers append
 * one after the other; each row sealed to it, inserted, the head moved. */
int pg_audit_rows(struct store_pg *p, struct audit_row *rows, int n)
{
	char prev[65];
	int64_t count;

	if (n == 0)
		return 0;
	if (pg_audit_head_read(p, "SELECT count, hash FROM audit_head WHERE id = 1 FOR UPDATE",
			       &count, prev) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct audit_row *r = &rows[i];

		r->seq = ++count;
		audit_seal(prev, r);
		snprintf(prev, sizeof(prev), "%s", r->hash);
		if (pg_do(p,
			  "INSERT INTO audit(" AUDIT_COLUMNS
			  ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
			  "IItttttttt", r->seq, (int64_t)r->time_ms, r->actor, r->action,
			  r->host ? r->host : "", r->reason ? r->reason : "",
			  r->result ? r->result : "", r->detail ? r->detail : "", r->prev,
			  r->hash) < 0)
			return -1;
	}
	if (pg_do(p, "UPDATE audit_head SET count = $1, hash = $2 WHERE id = 1", "It", count,
		  prev) < 0)
		return -1;
	snprintf(p->sealed, sizeof(p->sealed), "%s", prev);
	return 0;
}

struct audit_rows_arg {
	struct audit_row *rows;
	int n;
};

static int pg_audit_append_txn(struct store_pg *p, const void *arg)
{
	const struct audit_rows_arg *a = arg;

	return pg_audit_rows(p, a->rows, a->n);
}

static int pg_audit_append(struct store *s, struct audit_row *rows, int n)
{
	struct audit_rows_arg a = {rows, n};
	struct store_pg *p = pg(s);

	if (pg_backlog_flush(p) < 0 || pg_txn(p, pg_audit_append_txn, &a) < 0) {
		log_err("audit: appending \"%s\" failed", n ? rows[0].action : "");
		pg_backlog_keep(p, rows, n);
		return -1;
	}
	return 0;
}

static int pg_audit_foreach(struct store *s, uint64_t since_ms, const char *host,
			    int (*fn)(const struct audit_row *r, void *arg), void *arg)
{
	const char *h = host ? host : "";
	PGresult *r = pg_query(pg(s),
			       "SELECT " AUDIT_COLUMNS " FROM audit WHERE time_ms >= $1"
			       " AND ($2::text = '' OR host = $2::text OR (host = '' AND (' ' ||"
			       " replace(replace(detail, ',', ' '), ':', ' ') || ' ') LIKE '% ' ||"
			       " $2::text || ' %')) ORDER BY seq",
			       "It", (int64_t)since_ms, h);
	int rc = 0;

	if (!r) {
		log_err("postgresql: reading the audit log failed");
		return -1;
	}
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct audit_row row = {
		    .seq = pg_int(r, i, 0),
		    .time_ms = (uint64_t)pg_int(r, i, 1),
		    .actor = PQgetvalue(r, i, 2),
		    .action = PQgetvalue(r, i, 3),
		    .host = PQgetvalue(r, i, 4),
		    .reason = PQgetvalue(r, i, 5),
		    .result = PQgetvalue(r, i, 6),
		    .detail = PQgetvalue(r, i, 7),
		};

		pg_copy(row.prev, sizeof(row.prev), r, i, 8);
		pg_copy(row.hash, sizeof(row.hash), r, i, 9);
		rc = fn(&row, arg);
	}
	PQclear(r);
	return rc;
}

/* --- the schema --- */

/* Epochs move under an advisory lock (1651769346), so that a raise and a
 * next from two controllers cannot interleave; replaced at every start. */
static const char functions[] =
    "CREATE OR REPLACE FUNCTION bh_epoch_next(floor bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(1651769346);"
    " PERFORM bh_epoch_floor(floor); RETURN nextval('bh_epoch'); END $$;"
    "CREATE OR REPLACE FUNCTION bh_epoch_raise(seen bigint) RETURNS void"
    " LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(1651769346);"
    " PERFORM bh_epoch_floor(seen); END $$;"
    "CREATE OR REPLACE FUNCTION bh_epoch_floor(floor bigint) RETURNS void"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " IF floor > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bh_epoch)"
    " THEN PERFORM setval('bh_epoch', floor); END IF; END $$;";

static int pg_migrate_txn(struct store_pg *p, const void *arg)
{
	PGresult *r;
	int version;

	if (pg_exec(p, "SELECT pg_advisory_xact_lock(1651769345)") < 0 ||
	    pg_exec(p, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)") < 0)
		return -1;
	r = pg_query(p, "SELECT max(version) FROM schema_version", "");
	if (!r)
		return -1;
	version = (int)pg_int(r, 0, 0);
	PQclear(r);
	if (version > SCHEMA_VERSION) {
		log_err("postgresql: %s: schema version %d is newer than this bulkheadd's (%d)",
			p->s.where, version, SCHEMA_VERSION);
		return -1;
	}
	for (; version < SCHEMA_VERSION; version++) {
		if (pg_exec(p, migrations[version]) < 0 ||
		    pg_do(p, "INSERT INTO schema_version VALUES($1)", "i", version + 1) < 0) {
			log_err("postgresql: %s: migration to schema version %d failed", p->s.where,
				version + 1);
			return -1;
		}
		log_info("postgresql: %s: schema at version %d", p->s.where, version + 1);
	}
	return pg_exec(p, functions);
}

/* A database a reading tool is pointed at must hold a store already. */
static int pg_schema_check(struct store_pg *p)
{
	PGresult *r = PQexec(p->conn, "SELECT max(version) FROM schema_version");
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK && pg_int(r, 0, 0) >= 1;

	if (!ok)
		log_err("postgresql: %s: not a bulkhead store: %s", p->s.where,
			PQresultStatus(r) == PGRES_TUPLES_OK ? "no schema" : pg_errmsg(p, r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* --- open and close --- */

static void pg_close(struct store *s)
{
	struct store_pg *p = pg(s);

	if (p->nbacklog && pg_backlog_flush(p) < 0)
		log_err("audit: %d rows never reached the database", p->nbacklog);
	pg_backlog_free(p);
	PQfinish(p->conn);
	PQfinish(p->lconn);
	free(p->conninfo);
	free(p);
}

static const struct store_ops pg_ops = {
    .name = "postgresql",
    .shared = 1,
    .close = pg_close,
    .epoch_current = pg_epoch_current,
    .epoch_next = pg_epoch_next,
    .epoch_raise = pg_epoch_raise,
    .hosts_load = pg_hosts_load,
    .hosts_want = pg_hosts_want,
    .hosts_seen = pg_hosts_seen,
    .policy_put = pg_policy_put,
    .policy_get = pg_policy_get,
    .command_begin = pg_command_begin,
    .command_end = pg_command_end,
    .audit_append = pg_audit_append,
    .audit_foreach = pg_audit_foreach,
    .audit_head = pg_audit_head,
    .run_insert = pg_run_insert,
    .run_save = pg_run_save,
    .stage_save = pg_stage_save,
    .run_load_last = pg_run_load_last,
    .leader_poll = pg_leader_poll,
    .hosts_wanted = pg_hosts_wanted,
    .hosts_held = pg_hosts_held,
    .hosts_elsewhere = pg_hosts_elsewhere,
};

/* The server named by conninfo (a libpq connection string or URI). The
 * connect timeout bounds how long a server that does not answer holds up
 * the controller; the string's own connect_timeout wins. */
struct store *store_pg_open(const char *conninfo, int read_only)
{
	struct store_pg *p = xcalloc(1, sizeof(*p));
	PGresult *r;

	p->s.ops = &pg_ops;
	p->conninfo = xstrdup(conninfo);
	p->conn = pg_connect(conninfo, read_only ? "bulkhead" : "bulkheadd");
	if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
		snprintf(p->s.where, sizeof(p->s.where), "%s%s%s/%s",
			 PQhost(p->conn)[0] == '/' ? "" : PQhost(p->conn),
			 PQhost(p->conn)[0] == '/' ? "socket " : ":",
			 PQhost(p->conn)[0] == '/' ? PQhost(p->conn) : PQport(p->conn),
			 PQdb(p->conn));
	else
		snprintf(p->s.where, sizeof(p->s.where), "\"%s\"", conninfo);
	if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
		log_err("postgresql: %s: cannot connect: %s", p->s.where,
			p->conn ? pg_errmsg(p, NULL) : "out of memory");
		pg_close(&p->s);
		return NULL;
	}
	/* Statements are short; a lock held by a stuck controller must not
	 * hold this one forever. */
	r = PQexec(p->conn, "SET lock_timeout = '5s'");
	PQclear(r);
	if (read_only ? pg_schema_check(p) < 0 : pg_txn(p, pg_migrate_txn, NULL) < 0) {
		pg_close(&p->s);
		return NULL;
	}
	pg_epoch_current(&p->s);
	return &p->s;
}
