/* Audit rows the PostgreSQL store could not write (the server was down or
 * restarting) are kept in memory and appended, in their order and before
 * any newer row, as soon as the server answers again: the log loses
 * nothing to an outage shorter than the controller's life. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "audit.h"
#include "store_pg.h"

#define PG_BACKLOG_MAX 100000

static char *dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

void pg_backlog_keep(struct store_pg *p, const struct audit_row *rows, int n)
{
	if (n <= 0)
		return;
	if (p->nbacklog + n > PG_BACKLOG_MAX) {
		log_err("audit: %d rows lost: %d rows already wait for the database", n,
			p->nbacklog);
		return;
	}
	p->backlog = realloc(p->backlog, (size_t)(p->nbacklog + n) * sizeof(*p->backlog));
	if (!p->backlog)
		fatal("out of memory");
	for (int i = 0; i < n; i++) {
		struct audit_row *b = &p->backlog[p->nbacklog++];

		*b = (struct audit_row){.time_ms = rows[i].time_ms,
					.actor = dup_or_empty(rows[i].actor),
					.action = dup_or_empty(rows[i].action),
					.host = dup_or_empty(rows[i].host),
					.reason = dup_or_empty(rows[i].reason),
					.result = dup_or_empty(rows[i].result),
					.detail = dup_or_empty(rows[i].detail)};
	}
	log_err("audit: %d rows wait in memory until the database answers", p->nbacklog);
}

void pg_backlog_free(struct store_pg *p)
{
	for (int i = 0; i < p->nbacklog; i++) {
		struct audit_row *b = &p->backlog[i];

		free((char *)b->actor);
		free((char *)b->action);
		free((char *)b->host);
		free((char *)b->reason);
		free((char *)b->result);
		free((char *)b->detail);
	}
	free(p->backlog);
	p->backlog = NULL;
	p->nbacklog = 0;
}

static int pg_backlog_txn(struct store_pg *p, const void *arg)
{
	return pg_audit_rows(p, p->backlog, p->nbacklog);
}

int pg_backlog_flush(struct store_pg *p)
{
	int n = p->nbacklog;

	if (n == 0)
		return 0;
	if (pg_txn(p, pg_backlog_txn, NULL) < 0)
		return -1;
	log_warn("audit: %d rows kept while the database was away are written", n);
	pg_backlog_free(p);
	return 0;
}
