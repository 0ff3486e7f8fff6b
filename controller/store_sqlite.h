/* What the SQLite store's files share (store_sqlite.c, store_sqlite_run.c):
 * the handle, the statements and the helpers that run them. */
#ifndef BULKHEAD_STORE_SQLITE_H
#define BULKHEAD_STORE_SQLITE_H

#include <sqlite3.h>

#include "store.h"

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

struct store_sqlite {
	struct store s;
	sqlite3 *db;
	uint64_t epoch;
	sqlite3_stmt *st[Q_COUNT];
};

struct store_sqlite *sq(struct store *s);
int sq_exec(struct store_sqlite *q, const char *sql);
/* The statement, reset and ready for its parameters. */
sqlite3_stmt *sq_stmt(struct store_sqlite *q, enum sql which);
/* Runs a statement that returns no rows; 0 or -1 (logged). */
int sq_done(struct store_sqlite *q, sqlite3_stmt *st);
void sq_text(sqlite3_stmt *st, int i, const char *s);
/* Binds the parameters in order, one letter each: i int, I int64, t text
 * (NULL binds NULL), b blob (pointer, size_t). */
void sq_bind(sqlite3_stmt *st, const char *types, ...);
void sq_copy(char *out, size_t len, sqlite3_stmt *st, int col);
/* Several statements as one: BEGIN, fn, COMMIT, or ROLLBACK when fn fails. */
int sq_txn(struct store_sqlite *q, int (*fn)(struct store_sqlite *q, const void *arg),
	   const void *arg);

/* store_sqlite_run.c: playbook runs */
int sq_run_insert(struct store *s, struct pb_run *r);
int sq_run_save(struct store *s, const struct pb_run *r);
int sq_stage_save(struct store *s, const struct pb_run *r, int stage);
struct pb_run *sq_run_load_last(struct store *s, store_host_find_fn find, void *arg);

#endif
