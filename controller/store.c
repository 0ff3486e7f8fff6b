/* The controller's state in SQLite: hosts, epochs, and the record of every
 * command with each host's result. */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "audit.h"
#include "controller.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
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
    " status TEXT NOT NULL, apply_us INTEGER, latency_us INTEGER, error TEXT);";

static int store_exec(struct ctl *c, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_err("sqlite: %s", err ? err : sqlite3_errmsg(c->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static sqlite3_stmt *store_prepare(struct ctl *c, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		fatal("sqlite: %s: %s", sql, sqlite3_errmsg(c->db));
	return st;
}

static void store_step_done(struct ctl *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		log_err("sqlite: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

int store_open(struct ctl *c)
{
	char path[4096];
	sqlite3_stmt *st;

	if (mkdir(c->conf.state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("%s: %s", c->conf.state_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/bulkhead.db", c->conf.state_dir);
	if (sqlite3_open(path, &c->db) != SQLITE_OK) {
		log_err("%s: %s", path, sqlite3_errmsg(c->db));
		return -1;
	}
	sqlite3_busy_timeout(c->db, 2000);
	if (store_exec(c, schema) < 0 || audit_init(c->db) < 0)
		return -1;
	st = store_prepare(c, "SELECT value FROM meta WHERE key='epoch'");
	if (sqlite3_step(st) == SQLITE_ROW)
		c->epoch = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

void store_close(struct ctl *c)
{
	if (!c->db)
		return;
	store_last_seen_flush(c);
	sqlite3_close(c->db);
	c->db = NULL;
}

/* Inventory hosts get a row; what is already known of them is kept. */
int store_hosts_load(struct ctl *c)
{
	sqlite3_stmt *ins = store_prepare(c, "INSERT OR IGNORE INTO hosts(name) VALUES(?)");
	sqlite3_stmt *sel =
	    store_prepare(c, "SELECT mode, epoch, want_mode, want_epoch, hash, last_seen_ms,"
			     " (SELECT count(*) FROM audit a WHERE a.host = hosts.name"
			     "  AND a.action = 'alert: tamper'),"
			     " want_hash, hold_confirm, want_hard, port_sw, port_name FROM hosts"
			     " WHERE name=?");

	store_exec(c, "BEGIN");
	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];

		sqlite3_bind_text(ins, 1, h->name, -1, SQLITE_STATIC);
		sqlite3_step(ins);
		sqlite3_reset(ins);
		sqlite3_bind_text(sel, 1, h->name, -1, SQLITE_STATIC);
		if (sqlite3_step(sel) == SQLITE_ROW) {
			h->mode = sqlite3_column_int(sel, 0);
			h->epoch = (uint64_t)sqlite3_column_int64(sel, 1);
			h->want_mode = sqlite3_column_int(sel, 2);
			h->want_epoch = (uint64_t)sqlite3_column_int64(sel, 3);
			snprintf(h->hash, sizeof(h->hash), "%s",
				 (const char *)sqlite3_column_text(sel, 4));
			h->last_seen_ms = (uint64_t)sqlite3_column_int64(sel, 5);
			h->tampers = (uint32_t)sqlite3_column_int64(sel, 6);
			snprintf(h->want_hash, sizeof(h->want_hash), "%s",
				 (const char *)sqlite3_column_text(sel, 7));
			h->hold_confirm = sqlite3_column_int(sel, 8);
			h->want_hard = sqlite3_column_int(sel, 9);
			snprintf(h->port_sw, sizeof(h->port_sw), "%s",
				 (const char *)sqlite3_column_text(sel, 10));
			snprintf(h->port_name, sizeof(h->port_name), "%s",
				 (const char *)sqlite3_column_text(sel, 11));
		}
		sqlite3_reset(sel);
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(sel);
	return store_exec(c, "COMMIT");
}

static void store_epoch_write(struct ctl *c)
{
	sqlite3_stmt *st = store_prepare(c, "UPDATE meta SET value=? WHERE key='epoch'");

	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->epoch);
	store_step_done(c, st);
}

uint64_t store_epoch_next(struct ctl *c)
{
	c->epoch++;
	store_epoch_write(c);
	return c->epoch;
}

/* An agent holding a newer epoch than ours (a restored database, say) moves
 * the counter forward, so the next command is not ignored as stale. */
void store_epoch_raise(struct ctl *c, uint64_t seen)
{
	if (seen <= c->epoch)
		return;
	c->epoch = seen;
	store_epoch_write(c);
}

/* The commanded state is stored before the first frame leaves (WAL: it
 * survives a crash of bulkheadd; synchronous=NORMAL may lose the last
 * transactions on power loss, which the agents' own records cover). */
int store_hosts_want(struct ctl *c, struct host **hosts, int n)
{
	sqlite3_stmt *st = store_prepare(
	    c, "UPDATE hosts SET want_mode=?, want_epoch=?, want_hash=?, hold_confirm=?,"
	       " want_hard=?, port_sw=?, port_name=? WHERE name=?");
	int rc = store_exec(c, "BEGIN");

	for (int i = 0; rc == 0 && i < n; i++) {
		sqlite3_bind_int(st, 1, hosts[i]->want_mode);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)hosts[i]->want_epoch);
		sqlite3_bind_text(st, 3, hosts[i]->want_hash, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, hosts[i]->hold_confirm);
		sqlite3_bind_int(st, 5, hosts[i]->want_hard);
		sqlite3_bind_text(st, 6, hosts[i]->port_sw, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, hosts[i]->port_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, hosts[i]->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	store_epoch_write(c);
	if (rc == 0)
		rc = store_exec(c, "COMMIT");
	if (rc < 0) {
		log_err("sqlite: the commanded state was not stored: %s", sqlite3_errmsg(c->db));
		store_exec(c, "ROLLBACK");
	}
	return rc;
}

int store_policy_put(struct ctl *c, const char *host, const char *hash, const void *frames,
		     size_t len)
{
	sqlite3_stmt *st = store_prepare(
	    c,
	    "INSERT OR IGNORE INTO host_policies(host, hash, frames, stored_ms) VALUES(?,?,?,?)");
	int rc;

	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 3, frames, len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)clock_wall_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	if (rc < 0)
		log_err("sqlite: storing policy %.12s of %s: %s", hash, host,
			sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return rc;
}

void *store_policy_get(struct ctl *c, const char *host, const char *hash, size_t *len)
{
	sqlite3_stmt *st =
	    store_prepare(c, "SELECT frames FROM host_policies WHERE host=? AND hash=?");
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
	sqlite3_finalize(st);
	return out;
}

void store_host_confirmed(struct ctl *c, struct host *h)
{
	sqlite3_stmt *st = store_prepare(
	    c, "UPDATE hosts SET mode=?, epoch=?, hash=?, last_seen_ms=? WHERE name=?");

	sqlite3_bind_int(st, 1, h->mode);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)h->epoch);
	sqlite3_bind_text(st, 3, h->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)h->last_seen_ms);
	sqlite3_bind_text(st, 5, h->name, -1, SQLITE_STATIC);
	store_step_done(c, st);
}

/* Heartbeats only touch memory; this writes last-seen times in one transaction. */
void store_last_seen_flush(struct ctl *c)
{
	sqlite3_stmt *st = store_prepare(c, "UPDATE hosts SET last_seen_ms=? WHERE name=?");

	store_exec(c, "BEGIN");
	for (int i = 0; i < c->nhosts; i++) {
		if (!c->hosts[i].conn)
			continue;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->hosts[i].last_seen_ms);
		sqlite3_bind_text(st, 2, c->hosts[i].name, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	store_exec(c, "COMMIT");
}

int64_t store_command_begin(struct ctl *c, uid_t uid, pid_t pid, const char *action,
			    const char *reason, uint64_t epoch, int targeted)
{
	sqlite3_stmt *st = store_prepare(
	    c, "INSERT INTO commands(started_ms, uid, user, pid, action, reason, epoch, targeted)"
	       " VALUES(?,?,?,?,?,?,?,?)");
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];

	getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_int64(st, 2, uid);
	if (pwp)
		sqlite3_bind_text(st, 3, pwp->pw_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, pid);
	sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)epoch);
	sqlite3_bind_int(st, 8, targeted);
	store_step_done(c, st);
	return sqlite3_last_insert_rowid(c->db);
}

void store_command_result(struct ctl *c, int64_t id, const char *host, const char *status,
			  uint64_t apply_us, uint64_t latency_us, const char *err)
{
	sqlite3_stmt *st = store_prepare(
	    c, "INSERT INTO command_results(command_id, host, status, apply_us, latency_us, error)"
	       " VALUES(?,?,?,?,?,?)");

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)apply_us);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)latency_us);
	if (err)
		sqlite3_bind_text(st, 6, err, -1, SQLITE_STATIC);
	store_step_done(c, st);
}

void store_command_end(struct ctl *c, int64_t id, int confirmed)
{
	sqlite3_stmt *st =
	    store_prepare(c, "UPDATE commands SET finished_ms=?, confirmed=? WHERE id=?");

	sqlite3_bind_int64(st, 1, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_int(st, 2, confirmed);
	sqlite3_bind_int64(st, 3, id);
	store_step_done(c, st);
}
