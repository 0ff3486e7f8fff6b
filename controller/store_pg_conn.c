/* The PostgreSQL store's connection: statements with their parameters,
 * transactions, and reconnection when the server restarted or went away. */
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "store_pg.h"

#define PG_PARAMS_MAX 16

struct store_pg *pg(struct store *s)
{
	return (struct store_pg *)s;
}

/* The server's message, on one line. */
const char *pg_errmsg(const struct store_pg *p, const PGresult *r)
{
	static char msg[512];
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char *nl;

	if (!m || !m[0])
		m = PQerrorMessage(p->conn);
	snprintf(msg, sizeof(msg), "%s", m && m[0] ? m : "unknown error");
	if ((nl = strchr(msg, '\n')))
		*nl = '\0';
	return msg;
}

static int pg_lost(const struct store_pg *p)
{
	return PQstatus(p->conn) == CONNECTION_BAD;
}

/* Once reconnecting timed out, the next try waits PG_RETRY_MS: a server
 * that does not answer costs one connect timeout per interval, not one per
 * statement, and the statements in between fail at once. A refusal is
 * quick, and tried again at every statement. */
#define PG_RETRY_MS 1000
#define PG_SLOW_MS 500

static int pg_reset(struct store_pg *p)
{
	uint64_t now = clock_mono_ms();

	if (p->slow && now - p->tried_ms < PG_RETRY_MS)
		return -1;
	p->tried_ms = now;
	PQreset(p->conn);
	p->slow = clock_mono_ms() - now > PG_SLOW_MS;
	if (pg_lost(p)) {
		/* Every statement tries again; the outage is logged once. */
		if (!p->down++)
			log_err("postgresql: %s: reconnecting failed: %s", p->s.where,
				pg_errmsg(p, NULL));
		else
			log_debug("postgresql: %s: reconnecting failed: %s", p->s.where,
				  pg_errmsg(p, NULL));
		return -1;
	}
	log_warn("postgresql: %s: reconnected%s", p->s.where,
		 p->down ? " (the writes refused meanwhile were logged)" : "");
	p->down = 0;
	p->slow = 0;
	return 0;
}

/* A server that restarted or closed the idle connection has left an error
 * or an end of file on the socket: read it, and reconnect before sending,
 * so that nothing is sent into a connection already gone. */
int pg_conn_alive(PGconn *conn)
{
	struct pollfd fd = {.fd = PQsocket(conn), .events = POLLIN};

	/* The error and the end of file may come in two reads. */
	for (int i = 0;
	     i < 4 && PQstatus(conn) == CONNECTION_OK && fd.fd >= 0 && poll(&fd, 1, 0) > 0; i++)
		if (!PQconsumeInput(conn))
			break;
	return PQstatus(conn) == CONNECTION_OK && fd.fd >= 0;
}

int pg_ready(struct store_pg *p)
{
	return pg_conn_alive(p->conn) ? 0 : pg_reset(p);
}

struct pg_params {
	const char *v[PG_PARAMS_MAX];
	int len[PG_PARAMS_MAX], fmt[PG_PARAMS_MAX], n;
	char num[PG_PARAMS_MAX][24];
};

static void pg_params_fill(struct pg_params *pp, const char *types, va_list ap)
{
	pp->n = 0;
	for (const char *t = types; *t; t++) {
		int i = pp->n++;

		if (i >= PG_PARAMS_MAX)
			fatal("postgresql: more than %d parameters", PG_PARAMS_MAX);
		pp->fmt[i] = 0;
		pp->len[i] = 0;
		switch (*t) {
		case 'i':
			snprintf(pp->num[i], sizeof(pp->num[i]), "%d", va_arg(ap, int));
			pp->v[i] = pp->num[i];
			break;
		case 'I':
			snprintf(pp->num[i], sizeof(pp->num[i]), "%" PRId64, va_arg(ap, int64_t));
			pp->v[i] = pp->num[i];
			break;
		case 't': pp->v[i] = va_arg(ap, const char *); break;
		case 'b':
			pp->v[i] = va_arg(ap, const char *);
			pp->len[i] = (int)va_arg(ap, size_t);
			pp->fmt[i] = 1;
			break;
		default: fatal("postgresql: parameter type '%c'", *t);
		}
	}
}

static PGresult *pg_vquery(struct store_pg *p, int binary, const char *sql, const char *types,
			   va_list ap)
{
	struct pg_params pp;
	PGresult *r;
	ExecStatusType st;

	pg_params_fill(&pp, types, ap);
	if (!p->in_txn && pg_ready(p) < 0)
		return NULL;
	r = PQexecParams(p->conn, sql, pp.n, NULL, pp.v, pp.len, pp.fmt, binary);
	st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	if (pg_lost(p))
		log_err("postgresql: %s: the connection was lost: %s", p->s.where, pg_errmsg(p, r));
	else
		log_err("postgresql: %s: %s", p->s.where, pg_errmsg(p, r));
	PQclear(r);
	return NULL;
}

PGresult *pg_query(struct store_pg *p, const char *sql, const char *types, ...)
{
	PGresult *r;
	va_list ap;

	va_start(ap, types);
	r = pg_vquery(p, 0, sql, types, ap);
	va_end(ap);
	return r;
}

int pg_do(struct store_pg *p, const char *sql, const char *types, ...)
{
	PGresult *r;
	va_list ap;

	va_start(ap, types);
	r = pg_vquery(p, 0, sql, types, ap);
	va_end(ap);
	PQclear(r);
	return r ? 0 : -1;
}

int pg_exec(struct store_pg *p, const char *sql)
{
	PGresult *r = PQexec(p->conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		log_err("postgresql: %s: %s", p->s.where, pg_errmsg(p, r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* After a COMMIT whose answer was lost: did the audit rows it sealed land? */
static int pg_sealed_landed(struct store_pg *p)
{
	PGresult *r = pg_query(p, "SELECT 1 FROM audit WHERE hash = $1", "t", p->sealed);
	int landed = r && PQntuples(r) == 1;

	PQclear(r);
	return r ? landed : -1;
}

int pg_txn(struct store_pg *p, int (*fn)(struct store_pg *p, const void *arg), const void *arg)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc;

		if (pg_ready(p) < 0)
			return -1;
		p->sealed[0] = '\0';
		p->in_txn = 1;
		rc = pg_exec(p, "BEGIN") == 0 && fn(p, arg) == 0 ? 0 : -1;
		if (rc == 0 && pg_exec(p, "COMMIT") == 0) {
			p->in_txn = 0;
			return 0;
		}
		p->in_txn = 0;
		if (!pg_lost(p)) {
			if (rc < 0)
				pg_exec(p, "ROLLBACK");
			return -1;
		}
		if (pg_reset(p) < 0)
			return -1;
		if (rc == 0) {
			/* Lost at COMMIT: only a transaction that sealed audit rows
			 * can tell whether it landed, so only it is sent again. */
			int landed = p->sealed[0] ? pg_sealed_landed(p) : -1;

			if (landed == 1)
				return 0;
			if (landed < 0) {
				log_err("postgresql: %s: the connection was lost at COMMIT;"
					" whether the transaction landed is unknown",
					p->s.where);
				return -1;
			}
		}
		log_warn("postgresql: %s: the transaction is sent again", p->s.where);
	}
	return -1;
}

void pg_copy(char *out, size_t len, const PGresult *r, int row, int col)
{
	snprintf(out, len, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

int64_t pg_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The server's notices ("relation already exists, skipping") are not news. */
static void pg_notice(void *arg, const char *msg)
{
	log_debug("postgresql: %s", msg);
}

/* Statements are synchronous: the timeouts bound how long a server that
 * does not answer (down, or cut off over TCP) holds up the controller's
 * loop. What the string itself sets wins. */
PGconn *pg_connect(const char *conninfo, const char *app)
{
	static const char *const keys[] = {"connect_timeout",
					   "keepalives_idle",
					   "keepalives_interval",
					   "keepalives_count",
					   "tcp_user_timeout",
					   "application_name",
					   "dbname",
					   NULL};
	const char *vals[] = {"5", "5", "1", "3", "5000", app, conninfo, NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);

	if (!conn)
		fatal("out of memory");
	PQsetNoticeProcessor(conn, pg_notice, NULL);
	return conn;
}

static void arr_put(struct pg_arr *a, const char *s, size_t len)
{
	if (a->n + len + 2 > a->cap) {
		a->cap = (a->n + len + 2) * 2;
		a->b = realloc(a->b, a->cap);
		if (!a->b)
			fatal("out of memory");
	}
	memcpy(a->b + a->n, s, len);
	a->n += len;
	a->b[a->n] = '\0';
}

void arr_str(struct pg_arr *a, const char *v)
{
	arr_put(a, a->n ? ",\"" : "{\"", 2);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			arr_put(a, "\\", 1);
		arr_put(a, v, 1);
	}
	arr_put(a, "\"", 1);
}

void arr_int(struct pg_arr *a, int64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%s%" PRId64, a->n ? "," : "{", v);
	arr_put(a, num, strlen(num));
}

const char *arr_end(struct pg_arr *a)
{
	if (!a->n)
		arr_put(a, "{", 1);
	arr_put(a, "}", 1);
	return a->b;
}
