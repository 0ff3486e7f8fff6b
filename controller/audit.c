/* The audit log: an append-only, hash-chained record in SQLite of every
 * command (who, what, why, when, each host's result) and every change a
 * host reports on its own (rollbacks, tampering, dead-man isolation,
 * sessions lost and regained). Each row's hash covers the previous row's
 * hash and its own fields, so an edited, deleted or reordered row breaks
 * the chain; the head (count and last hash) is kept apart in meta, so a
 * row removed from the end is noticed too. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "bulkhead/log.h"
#include "audit.h"

static const char audit_schema[] =
    "CREATE TABLE IF NOT EXISTS audit("
    " seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, host TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
    " result TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    " prev TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_host ON audit(host);"
    "CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " count INTEGER NOT NULL, hash TEXT NOT NULL);"
    "INSERT OR IGNORE INTO audit_head VALUES(1, 0, '');";

int audit_init(sqlite3 *db)
{
	char *err = NULL;

	if (sqlite3_exec(db, audit_schema, NULL, NULL, &err) != SQLITE_OK) {
		log_err("sqlite: audit log: %s", err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* sha256(prev "\n" seq "\n" time_ms "\n" actor "\n" action "\n" host "\n"
 * reason "\n" result "\n" detail), as lowercase hex. */
static void audit_hash(const char *prev, const struct audit_row *r, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	const char *fields[] = {r->actor, r->action, r->host, r->reason, r->result, r->detail};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char nums[64];

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		fatal("audit: cannot start SHA-256");
	snprintf(nums, sizeof(nums), "\n%" PRId64 "\n%" PRIu64, r->seq, r->time_ms);
	EVP_DigestUpdate(ctx, prev, strlen(prev));
	EVP_DigestUpdate(ctx, nums, strlen(nums));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		EVP_DigestUpdate(ctx, "\n", 1);
		EVP_DigestUpdate(ctx, fields[i] ? fields[i] : "",
				 strlen(fields[i] ? fields[i] : ""));
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32)
		fatal("audit: cannot finish SHA-256");
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

int audit_append(sqlite3 *db, uint64_t time_ms, const char *actor, const char *action,
		 const char *host, const char *reason, const char *result, const char *fmt, ...)
{
	struct audit_row r = {.time_ms = time_ms,
			      .actor = actor,
			      .action = action,
			      .host = nz(host),
			      .reason = nz(reason),
			      .result = nz(result)};
	char prev[65] = "", hash[65], detail[1024] = "";
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc = -1;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	r.detail = detail;
	if (sqlite3_prepare_v2(db, "SELECT count, hash FROM audit_head WHERE id = 1", -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	r.seq = sqlite3_column_int64(st, 0) + 1;
	snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	audit_hash(prev, &r, hash);
	if (sqlite3_prepare_v2(
		db,
		"INSERT INTO audit(seq, time_ms, actor, action, host, reason, result,"
		" detail, prev, hash) VALUES(?,?,?,?,?,?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, r.seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r.time_ms);
	sqlite3_bind_text(st, 3, r.actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r.action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r.host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r.reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r.result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r.detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, prev, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "UPDATE audit_head SET count = ?, hash = ? WHERE id = 1", -1,
			       &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, r.seq);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	if (rc < 0)
		log_err("audit: appending \"%s\" failed: %s", action, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static void audit_row_fill(sqlite3_stmt *st, struct audit_row *r)
{
	r->seq = sqlite3_column_int64(st, 0);
	r->time_ms = (uint64_t)sqlite3_column_int64(st, 1);
	r->actor = (const char *)sqlite3_column_text(st, 2);
	r->action = (const char *)sqlite3_column_text(st, 3);
	r->host = (const char *)sqlite3_column_text(st, 4);
	r->reason = (const char *)sqlite3_column_text(st, 5);
	r->result = (const char *)sqlite3_column_text(st, 6);
	r->detail = (const char *)sqlite3_column_text(st, 7);
	r->prev = (const char *)sqlite3_column_text(st, 8);
	r->hash = (const char *)sqlite3_column_text(st, 9);
}

#define AUDIT_COLUMNS "seq, time_ms, actor, action, host, reason, result, detail, prev, hash"

int audit_verify(sqlite3 *db, char *err, size_t errlen, int64_t *rows)
{
	sqlite3_stmt *st = NULL;
	char prev[65] = "", want[65];
	int64_t expect = 1, head_count = -1;
	int rc = -1, step;

	*rows = 0;
	if (sqlite3_prepare_v2(db, "SELECT " AUDIT_COLUMNS " FROM audit ORDER BY seq", -1, &st,
			       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read the audit log: %s", sqlite3_errmsg(db));
		return -1;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_row r;

		audit_row_fill(st, &r);
		if (r.seq != expect) {
			snprintf(err, errlen,
				 "row %" PRId64 " is missing (next row is %" PRId64
				 "): rows were deleted",
				 expect, r.seq);
			goto out;
		}
		if (strcmp(r.prev, prev) != 0) {
			snprintf(err, errlen,
				 "row %" PRId64 " does not follow row %" PRId64
				 ": rows were reordered, removed or edited",
				 r.seq, r.seq - 1);
			goto out;
		}
		audit_hash(prev, &r, want);
		if (strcmp(want, r.hash) != 0) {
			snprintf(err, errlen,
				 "row %" PRId64 " (%s, %s) does not match its hash: it "
				 "was edited",
				 r.seq, r.action, r.host[0] ? r.host : r.actor);
			goto out;
		}
		snprintf(prev, sizeof(prev), "%s", r.hash);
		expect++;
	}
	if (step != SQLITE_DONE) {
		snprintf(err, errlen, "reading the audit log failed: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT count, hash FROM audit_head WHERE id = 1", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		head_count = sqlite3_column_int64(st, 0);
		if (head_count != expect - 1 ||
		    strcmp((const char *)sqlite3_column_text(st, 1), prev) != 0) {
			snprintf(
			    err, errlen,
			    "the log ends at row %" PRId64 " but %" PRId64
			    " rows were written: the last rows were deleted or the head edited",
			    expect - 1, head_count);
			goto out;
		}
	} else {
		snprintf(err, errlen, "the audit log's head record is missing");
		goto out;
	}
	*rows = expect - 1;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int audit_foreach(sqlite3 *db, uint64_t since_ms, const char *host,
		  int (*fn)(const struct audit_row *r, void *arg), void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(
		db,
		"SELECT " AUDIT_COLUMNS " FROM audit WHERE time_ms >= ?"
		" AND (? = '' OR host = ? OR (host = '' AND (' ' ||"
		" replace(replace(detail, ',', ' '), ':', ' ') || ' ') LIKE '% ' || ? || ' %'))"
		" ORDER BY seq",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_ms);
	for (int i = 2; i <= 4; i++)
		sqlite3_bind_text(st, i, nz(host), -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct audit_row r;

		audit_row_fill(st, &r);
		rc = fn(&r, arg);
	}
	sqlite3_finalize(st);
	return rc;
}
