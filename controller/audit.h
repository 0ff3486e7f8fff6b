/* The hash-chained audit log (audit.c), shared by bulkheadd and by
 * `bulkhead audit verify --db`. */
#ifndef BULKHEAD_AUDIT_H
#define BULKHEAD_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

struct audit_row {
	int64_t seq;
	uint64_t time_ms;
	const char *actor, *action, *host, *reason, *result, *detail;
	const char *prev, *hash;
};

int audit_init(sqlite3 *db);
/* One row, chained to the last; detail is printf-formatted (fmt may be NULL). */
int audit_append(sqlite3 *db, uint64_t time_ms, const char *actor, const char *action,
		 const char *host, const char *reason, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* 0 when the chain is whole (*rows gets its length); -1 with the first
 * fault in err. */
int audit_verify(sqlite3 *db, char *err, size_t errlen, int64_t *rows);
/* Rows from since_ms on (and about host, when not NULL/empty), in order. */
int audit_foreach(sqlite3 *db, uint64_t since_ms, const char *host,
		  int (*fn)(const struct audit_row *r, void *arg), void *arg);

#endif
