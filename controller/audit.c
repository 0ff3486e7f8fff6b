/* The audit log: an append-only, hash-chained record of every command
 * (who, what, why, when, each host's result) and every change a host
 * reports on its own (rollbacks, tampering, dead-man isolation, sessions
 * lost and regained). Each row's hash covers the previous row's hash and
 * its own fields, so an edited, deleted or reordered row breaks the chain;
 * the store keeps the head (count and last hash) apart, so a row removed
 * from the end is noticed too. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "bulkhead/log.h"
#include "audit.h"
#include "store.h"

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

void audit_seal(const char *prev, struct audit_row *r)
{
	snprintf(r->prev, sizeof(r->prev), "%s", prev);
	audit_hash(prev, r, r->hash);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

int audit_log(struct store *s, uint64_t time_ms, const char *actor, const char *action,
	      const char *host, const char *reason, const char *result, const char *fmt, ...)
{
	struct audit_row r = {.time_ms = time_ms,
			      .actor = actor,
			      .action = action,
			      .host = nz(host),
			      .reason = nz(reason),
			      .result = nz(result)};
	char detail[1024] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	r.detail = detail;
	return store_audit_append(s, &r, 1);
}

struct audit_walk {
	char prev[65];
	int64_t expect;
	char *err;
	size_t errlen;
};

static int audit_verify_row(const struct audit_row *r, void *arg)
{
	struct audit_walk *w = arg;
	char want[65];

	if (r->seq != w->expect) {
		snprintf(w->err, w->errlen,
			 "row %" PRId64 " is missing (next row is %" PRId64 "): rows were deleted",
			 w->expect, r->seq);
		return -1;
	}
	if (strcmp(r->prev, w->prev) != 0) {
		snprintf(w->err, w->errlen,
			 "row %" PRId64 " does not follow row %" PRId64
			 ": rows were reordered, removed or edited",
			 r->seq, r->seq - 1);
		return -1;
	}
	audit_hash(w->prev, r, want);
	if (strcmp(want, r->hash) != 0) {
		snprintf(w->err, w->errlen,
			 "row %" PRId64 " (%s, %s) does not match its hash: it was edited", r->seq,
			 r->action, r->host[0] ? r->host : r->actor);
		return -1;
	}
	snprintf(w->prev, sizeof(w->prev), "%s", r->hash);
	w->expect++;
	return 0;
}

int audit_verify(struct store *s, char *err, size_t errlen, int64_t *rows)
{
	struct audit_walk w = {.prev = "", .expect = 1, .err = err, .errlen = errlen};
	char head_hash[65];
	int64_t head_count;
	int rc;

	*rows = 0;
	err[0] = '\0';
	rc = store_audit_foreach(s, 0, NULL, audit_verify_row, &w);
	if (rc != 0) {
		if (!err[0])
			snprintf(err, errlen, "reading the audit log failed");
		return -1;
	}
	if (store_audit_head(s, &head_count, head_hash) < 0) {
		snprintf(err, errlen, "the audit log's head record is missing");
		return -1;
	}
	if (head_count != w.expect - 1 || strcmp(head_hash, w.prev) != 0) {
		snprintf(err, errlen,
			 "the log ends at row %" PRId64 " but %" PRId64
			 " rows were written: the last rows were deleted or the head edited",
			 w.expect - 1, head_count);
		return -1;
	}
	*rows = w.expect - 1;
	return 0;
}
