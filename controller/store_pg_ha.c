/* Controllers sharing one PostgreSQL store: one of them leads, chosen by a
 * session-level advisory lock held on a connection of its own; each new
 * leader takes the next fencing term, and leader-only writes carry it, so
 * that a leader that stalled and lost its lock writes nothing after. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "controller.h"
#include "store_pg.h"

#define PG_LOCK_LEADER "1651769347"
#define PG_LEASE "2s" /* against a poll every 250 ms (ha.c) */

static void pg_leader_lost(struct store_pg *p, const char *why)
{
	if (p->term)
		log_warn("postgresql: %s: no longer the leader (term %" PRIu64 "): %s", p->s.where,
			 p->term, why);
	p->term = 0;
	PQfinish(p->lconn);
	p->lconn = NULL; /* a new connection holds no lock */
}

/* Takes the lock if it is free; the term it then takes is the database's
 * (one more than the last leader's). */
static int pg_leader_take(struct store_pg *p, const char *me)
{
	PGresult *r = PQexec(p->lconn, "SELECT pg_try_advisory_lock(" PG_LOCK_LEADER ")");
	char now[24];
	const char *vals[2] = {me, now};

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_err("postgresql: %s: asking for the leader lock: %s", p->s.where,
			PQerrorMessage(p->lconn));
		PQclear(r);
		pg_leader_lost(p, "the lock's connection failed");
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		return 0;
	}
	PQclear(r);
	snprintf(now, sizeof(now), "%" PRIu64, clock_wall_ms());
	r = PQexecParams(
	    p->lconn,
	    "UPDATE bh_leader SET term = term + 1, name = $1, since_ms = $2 WHERE id = 1"
	    " RETURNING term",
	    2, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		log_err("postgresql: %s: taking a new term: %s", p->s.where, pg_errmsg(p, r));
		PQclear(r);
		pg_leader_lost(p, "no term");
		return -1;
	}
	p->term = (uint64_t)pg_int(r, 0, 0);
	PQclear(r);
	log_info("postgresql: %s: %s leads, term %" PRIu64, p->s.where, me, p->term);
	return 1;
}

int pg_leader_poll(struct store *s, const char *me, uint64_t *term)
{
	struct store_pg *p = pg(s);
	PGresult *r;
	int rc;

	*term = 0;
	if (p->lconn && !pg_conn_alive(p->lconn))
		pg_leader_lost(p, "the lock's connection was lost");
	if (!p->lconn) {
		/* After a failed try, one a second: a server that does not
		 * answer costs a connect timeout each time. */
		if (p->ltried_ms && clock_mono_ms() - p->ltried_ms < 1000)
			return -1;
		p->ltried_ms = clock_mono_ms();
		p->lconn = pg_connect(p->conninfo, "bulkheadd-leader");
		if (PQstatus(p->lconn) != CONNECTION_OK) {
			pg_leader_lost(p, "no connection for the lock");
			return -1;
		}
		p->ltried_ms = 0;
		/* The lease: a leader that stops asking (paused, hung) for this
		 * long loses its session, its lock with it, and another leads. */
		r = PQexec(p->lconn, "SET idle_session_timeout = '" PG_LEASE "'");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			log_warn("postgresql: %s: no idle_session_timeout (PostgreSQL < 14?): a"
				 " paused leader keeps the lock until its connection drops",
				 p->s.where);
		PQclear(r);
	}
	if (!p->term) {
		rc = pg_leader_take(p, me);
		*term = p->term;
		return rc;
	}
	/* Still ours while the lock's session lives and no one took a term since. */
	r = PQexec(p->lconn, "SELECT term FROM bh_leader WHERE id = 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		PQclear(r);
		pg_leader_lost(p, "the lock's connection was lost");
		return -1;
	}
	if ((uint64_t)pg_int(r, 0, 0) != p->term) {
		PQclear(r);
		pg_leader_lost(p, "another controller took a newer term");
		return 0;
	}
	PQclear(r);
	*term = p->term;
	return 1;
}

int pg_fence(struct store_pg *p)
{
	PGresult *r = pg_query(p, "SELECT term FROM bh_leader WHERE id = 1 FOR SHARE", "");
	uint64_t db = r && PQntuples(r) == 1 ? (uint64_t)pg_int(r, 0, 0) : UINT64_MAX;

	PQclear(r);
	if (db == p->term)
		return 0;
	log_err("postgresql: %s: a leader-only write refused: this controller's term is %" PRIu64
		", the database's %" PRIu64,
		p->s.where, p->term, db);
	return -1;
}

int pg_hosts_wanted(struct store *s, uint64_t after, store_want_fn fn, void *arg)
{
	PGresult *r;

	/* Polled every 250 ms: the moment rows kept in an outage go in. */
	pg_backlog_flush(pg(s));
	r = pg_query(pg(s),
		     "SELECT name, want_mode, want_epoch, want_hash, hold_confirm,"
		     " want_hard, port_sw, port_name FROM hosts WHERE want_epoch > $1"
		     " ORDER BY want_epoch",
		     "I", (int64_t)after);

	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct host w = {.name = PQgetvalue(r, i, 0)};

		w.want_mode = (enum bulkhead_mode)pg_int(r, i, 1);
		w.want_epoch = (uint64_t)pg_int(r, i, 2);
		pg_copy(w.want_hash, sizeof(w.want_hash), r, i, 3);
		w.hold_confirm = (int)pg_int(r, i, 4);
		w.want_hard = (int)pg_int(r, i, 5);
		pg_copy(w.port_sw, sizeof(w.port_sw), r, i, 6);
		pg_copy(w.port_name, sizeof(w.port_name), r, i, 7);
		fn(arg, &w);
	}
	PQclear(r);
	return 0;
}

/* A controller that has not said it is alive for this long holds no agent. */
#define PG_ALIVE "2 s" /* against a word every 250 ms (ha.c) */

struct held_arg {
	const char *me;
	struct host *const *claims, *const *held;
	int nclaims, nheld;
};

/* "{name,...}" of n hosts, for ANY($n::text[]). */
static const char *held_names(struct pg_arr *a, struct host *const *hosts, int n)
{
	for (int i = 0; i < n; i++)
		arr_str(a, hosts[i]->name);
	return arr_end(a);
}

static int pg_hosts_held_txn(struct store_pg *p, const void *arg)
{
	const struct held_arg *a = arg;
	struct pg_arr claims = {0}, held = {0};
	int rc;

	/* Said again every 250 ms: it need not wait for the disk. */
	rc = pg_exec(p, "SET LOCAL synchronous_commit = off");
	if (rc == 0)
		rc = pg_do(p,
			   "INSERT INTO bh_controllers VALUES($1, now())"
			   " ON CONFLICT (name) DO UPDATE SET seen = now()",
			   "t", a->me);
	/* A claim is taken from whoever held the host before: its agent left
	 * that controller to come here. */
	if (rc == 0 && a->nclaims)
		rc = pg_do(p, "UPDATE hosts SET ctl = $1 WHERE name = ANY($2::text[]) AND ctl <> $1",
			   "tt", a->me, held_names(&claims, a->claims, a->nclaims));
	/* Only its own: a host another controller claimed since stays its. */
	if (rc == 0 && a->held)
		rc = pg_do(p, "UPDATE hosts SET ctl = '' WHERE ctl = $1 AND NOT name = ANY($2::text[])",
			   "tt", a->me, held_names(&held, a->held, a->nheld));
	free(claims.b);
	free(held.b);
	return rc;
}

int pg_hosts_held(struct store *s, const char *me, struct host *const *claims, int nclaims,
		  struct host *const *held, int nheld)
{
	struct held_arg a = {me, claims, held, nclaims, nheld};

	return pg_txn(pg(s), pg_hosts_held_txn, &a);
}

int pg_hosts_elsewhere(struct store *s, const char *me, store_held_fn fn, void *arg)
{
	PGresult *r = pg_query(pg(s),
			       "SELECT h.name, h.ctl, h.mode, h.epoch, h.hash, h.pending,"
			       " h.last_seen_ms FROM hosts h JOIN bh_controllers c ON c.name = h.ctl"
			       " WHERE h.ctl <> '' AND h.ctl <> $1"
			       " AND c.seen > now() - interval '" PG_ALIVE "'",
			       "t", me);

	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct host w = {.name = PQgetvalue(r, i, 0)};

		w.mode = (enum bulkhead_mode)pg_int(r, i, 2);
		w.epoch = (uint64_t)pg_int(r, i, 3);
		pg_copy(w.hash, sizeof(w.hash), r, i, 4);
		w.pending_confirm = (int)pg_int(r, i, 5);
		w.last_seen_ms = (uint64_t)pg_int(r, i, 6);
		fn(arg, &w, PQgetvalue(r, i, 1));
	}
	PQclear(r);
	return 0;
}
