/* What the PostgreSQL store's files share (store_pg.c, store_pg_run.c):
 * the connection, and the helpers that run statements and transactions
 * over it, reconnecting when the server went away. */
#ifndef BULKHEAD_STORE_PG_H
#define BULKHEAD_STORE_PG_H

#include <libpq-fe.h>

#include "audit.h"

#include "store.h"

struct store_pg {
	struct store s;
	PGconn *conn;
	char *conninfo;
	uint64_t epoch;		   /* the last epoch this controller took or saw */
	int in_txn;		   /* inside pg_txn: no reconnection half-way */
	char sealed[65];	   /* the last audit hash a transaction wrote, "" for none */
	PGconn *lconn;		   /* holds the leader's advisory lock, NULL until asked */
	uint64_t term;		   /* the fencing term while leader, 0 while not */
	int down;		   /* reconnecting failed: said once, until it works again */
	uint64_t tried_ms;	   /* the last reconnection tried (monotonic) */
	int slow;		   /* and it took a timeout to fail */
	uint64_t ltried_ms;	   /* the last connection tried for the lock */
	struct audit_row *backlog; /* rows not yet written, strings owned */
	int nbacklog;
};

struct store_pg *pg(struct store *s);
/* One statement with its parameters, one letter each: i int, I int64,
 * t text (NULL sends NULL), b bytea (pointer, size_t). Outside a
 * transaction a lost connection is reset and the statement sent once
 * more. The result (rows or command ok), or NULL once logged. */
PGresult *pg_query(struct store_pg *p, const char *sql, const char *types, ...);
/* A statement that returns no rows: 0 or -1 (logged). */
int pg_do(struct store_pg *p, const char *sql, const char *types, ...);
/* BEGIN, fn, COMMIT; ROLLBACK when fn fails. A transaction cut by a lost
 * connection before its COMMIT is run again once on a new connection. */
int pg_txn(struct store_pg *p, int (*fn)(struct store_pg *p, const void *arg), const void *arg);
/* Reconnects first when the server closed the idle connection: 0 or -1. */
int pg_ready(struct store_pg *p);
/* Without parameters, inside a transaction (no reconnection): 0 or -1. */
int pg_exec(struct store_pg *p, const char *sql);
/* The last error, on one line (r may be NULL). */
const char *pg_errmsg(const struct store_pg *p, const PGresult *r);
/* A column as text, copied ("" for NULL), or as an integer (0 for NULL). */
void pg_copy(char *out, size_t len, const PGresult *r, int row, int col);
int64_t pg_int(const PGresult *r, int row, int col);

/* 0 when the server has closed conn (it said so, or hung up), else 1. */
int pg_conn_alive(PGconn *conn);
/* A new connection for conninfo, its notices quiet; check PQstatus. */
PGconn *pg_connect(const char *conninfo, const char *app);

/* Array literals for one-statement updates of many rows: the value of a
 * text[] or bigint[] parameter, "{...}", each element quoted. Free b. */
struct pg_arr {
	char *b;
	size_t n, cap;
};
void arr_str(struct pg_arr *a, const char *v);
void arr_int(struct pg_arr *a, int64_t v);
const char *arr_end(struct pg_arr *a);

/* Inside a transaction: rows sealed to the head and appended (store_pg.c). */
int pg_audit_rows(struct store_pg *p, struct audit_row *rows, int n);

/* store_pg_backlog.c: audit rows waiting for the server */
void pg_backlog_keep(struct store_pg *p, const struct audit_row *rows, int n);
/* 0 when nothing waits (any more), -1 while the server is still away. */
int pg_backlog_flush(struct store_pg *p);
void pg_backlog_free(struct store_pg *p);

/* store_pg_ha.c: the leader, the wants of other controllers, and where
 * the agents are */
int pg_leader_poll(struct store *s, const char *me, uint64_t *term);
int pg_hosts_wanted(struct store *s, uint64_t after, store_want_fn fn, void *arg);
int pg_hosts_held(struct store *s, const char *me, struct host *const *claims, int nclaims,
		  struct host *const *held, int nheld);
int pg_hosts_elsewhere(struct store *s, const char *me, store_held_fn fn, void *arg);
/* Inside a transaction: 0 while this store's term is the database's. */
int pg_fence(struct store_pg *p);

/* store_pg_run.c: playbook runs */
int pg_run_insert(struct store *s, struct pb_run *r);
int pg_run_save(struct store *s, const struct pb_run *r);
int pg_stage_save(struct store *s, const struct pb_run *r, int stage);
struct pb_run *pg_run_load_last(struct store *s, store_host_find_fn find, void *arg);

#endif
