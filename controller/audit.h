/* The hash-chained audit log: rows, their seal and its verification, over
 * whatever store holds them (bulkheadd, and `bulkhead audit verify`). */
#ifndef BULKHEAD_AUDIT_H
#define BULKHEAD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct audit_row {
	int64_t seq;
	uint64_t time_ms;
	const char *actor, *action, *host, *reason, *result, *detail;
	char prev[65], hash[65];
};

/* The row's hash, from the previous row's and its own fields (seq set). */
void audit_seal(const char *prev, struct audit_row *r);
/* One row, chained to the last; detail is printf-formatted (fmt may be NULL). */
int audit_log(struct store *s, uint64_t time_ms, const char *actor, const char *action,
	      const char *host, const char *reason, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* 0 when the chain is whole (*rows gets its length); -1 with the first
 * fault in err. */
int audit_verify(struct store *s, char *err, size_t errlen, int64_t *rows);

#endif
