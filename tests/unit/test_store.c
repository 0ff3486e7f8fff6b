/* The store's ops against every backend: the same tests on a SQLite file
 * and, when BH_TEST_PG names a server (a libpq connection string to an
 * empty database the test may wipe), on PostgreSQL, where two open stores
 * stand for two controllers sharing the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "bulkhead/log.h"
#include "audit.h"
#include "controller.h"
#include "playbook.h"
#include "store.h"

struct env {
	int pg;
	char dir[64];
	char spec[512];
	struct host hosts[3];
};

static const char *const names[] = {"h01", "h02", "h03"};

/* Runs raw SQL on the backend, beside the store (an intruder's edit, a
 * server-side disconnect). */
static void env_sql(struct env *e, const char *sql)
{
	if (!e->pg) {
		sqlite3 *db;

		assert_int_equal(sqlite3_open(e->spec + strlen("sqlite:"), &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		return;
	}
#ifdef HAVE_LIBPQ
	PGconn *c = PQconnectdb(e->spec + strlen("postgresql:"));
	PGresult *r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
#endif
}

static int env_setup(void **state, int pg)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *conninfo = getenv("BH_TEST_PG");

	e->pg = pg;
	if (pg) {
		snprintf(e->spec, sizeof(e->spec), "postgresql:%s", conninfo);
		env_sql(e, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
	} else {
		snprintf(e->dir, sizeof(e->dir), "/tmp/bh-test-store.XXXXXX");
		assert_non_null(mkdtemp(e->dir));
		snprintf(e->spec, sizeof(e->spec), "sqlite:%s/bulkhead.db", e->dir);
	}
	for (int i = 0; i < 3; i++)
		e->hosts[i].name = names[i];
	*state = e;
	return 0;
}

static int setup_sqlite(void **state)
{
	return env_setup(state, 0);
}

static int setup_pg(void **state)
{
	return env_setup(state, 1);
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	if (!e->pg) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
		assert_int_equal(system(cmd), 0);
	}
	free(e);
	return 0;
}

static struct store *env_open(struct env *e)
{
	struct store *s = store_open(e->spec, 0);

	assert_non_null(s);
	return s;
}

/* --- the tests, for every backend --- */

static void test_epochs(void **state)
{
	struct env *e = *state;
	struct store *s = env_open(e), *t;
	uint64_t a, b;

	assert_int_equal(store_epoch_current(s), 0);
	a = store_epoch_next(s);
	b = store_epoch_next(s);
	assert_true(a >= 1 && b == a + 1);
	assert_int_equal(store_epoch_current(s), b);
	assert_int_equal(store_epoch_raise(s, b - 1), 0); /* older: no change */
	assert_int_equal(store_epoch_raise(s, b + 100), 0);
	assert_int_equal(store_epoch_next(s), b + 101);
	/* Reopened, the counter goes on from where it was. */
	assert_int_equal(store_hosts_want(s, NULL, 0), 0);
	store_close(s);
	t = env_open(e);
	assert_int_equal(store_epoch_current(t), b + 101);
	assert_int_equal(store_epoch_next(t), b + 102);
	store_close(t);
}

static void test_hosts(void **state)
{
	struct env *e = *state;
	struct store *s = env_open(e);
	struct host *want[2] = {&e->hosts[1], &e->hosts[2]};
	struct host back[3] = {{.name = "h01"}, {.name = "h02"}, {.name = "h03"}};

	assert_int_equal(store_hosts_load(s, e->hosts, 3), 0);
	e->hosts[1].want_mode = MODE_ISOLATED;
	e->hosts[1].want_epoch = store_epoch_next(s);
	e->hosts[1].want_hard = 1;
	e->hosts[1].hold_confirm = 1;
	snprintf(e->hosts[1].want_hash, sizeof(e->hosts[1].want_hash), "%064d", 7);
	snprintf(e->hosts[1].port_sw, sizeof(e->hosts[1].port_sw), "sw01");
	snprintf(e->hosts[1].port_name, sizeof(e->hosts[1].port_name), "swp3");
	/* Several hosts in one call, one with characters that a statement
	 * built from the values would have to quote. */
	e->hosts[2].want_mode = MODE_SEGMENTED;
	e->hosts[2].want_epoch = e->hosts[1].want_epoch;
	snprintf(e->hosts[2].port_name, sizeof(e->hosts[2].port_name), "a\"b\\c,{d}");
	assert_int_equal(store_hosts_want(s, want, 2), 0);
	e->hosts[1].mode = MODE_ISOLATED;
	e->hosts[1].epoch = e->hosts[1].want_epoch;
	e->hosts[1].last_seen_ms = 1700000000123ULL;
	snprintf(e->hosts[1].hash, sizeof(e->hosts[1].hash), "%064d", 9);
	assert_int_equal(store_hosts_seen(s, want, 1), 0);
	assert_int_equal(audit_log(s, 1, "agent", "alert: tamper", "h02", NULL, NULL, NULL), 0);
	store_close(s);

	s = env_open(e);
	assert_int_equal(store_hosts_load(s, back, 3), 0);
	assert_int_equal(back[0].want_mode, MODE_OPEN);
	assert_int_equal(back[1].want_mode, MODE_ISOLATED);
	assert_int_equal(back[1].want_epoch, e->hosts[1].want_epoch);
	assert_int_equal(back[1].want_hard, 1);
	assert_int_equal(back[1].hold_confirm, 1);
	assert_string_equal(back[1].want_hash, e->hosts[1].want_hash);
	assert_string_equal(back[1].port_sw, "sw01");
	assert_string_equal(back[1].port_name, "swp3");
	assert_int_equal(back[1].mode, MODE_ISOLATED);
	assert_int_equal(back[1].epoch, e->hosts[1].epoch);
	assert_string_equal(back[1].hash, e->hosts[1].hash);
	assert_int_equal(back[1].last_seen_ms, 1700000000123ULL);
	assert_int_equal(back[1].tampers, 1);
	assert_int_equal(back[2].want_mode, MODE_SEGMENTED);
	assert_string_equal(back[2].port_name, "a\"b\\c,{d}");
	store_close(s);
}

static void test_policies(void **state)
{
	struct env *e = *state;
	struct store *s = env_open(e);
	static const unsigned char frames[] = {0x10, 0x00, 0x00, 0xff, 0x00, 0x7f, 0x80, 0x00};
	unsigned char big[70000];
	size_t len = 0;
	void *got;

	assert_int_equal(store_hosts_load(s, e->hosts, 3), 0);
	assert_null(store_policy_get(s, "h01", "abc", &len));
	assert_int_equal(store_policy_put(s, "h01", "abc", frames, sizeof(frames)), 0);
	assert_int_equal(store_policy_put(s, "h01", "abc", frames, sizeof(frames)), 0);
	got = store_policy_get(s, "h01", "abc", &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(frames));
	assert_memory_equal(got, frames, sizeof(frames));
	free(got);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	assert_int_equal(store_policy_put(s, "h02", "def", big, sizeof(big)), 0);
	got = store_policy_get(s, "h02", "def", &len);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	free(got);
	store_close(s);
}

static void test_commands_and_audit(void **state)
{
	struct env *e = *state;
	struct store *s = env_open(e);
	struct store_command c = {.uid = 0,
				  .pid = 42,
				  .action = ACTION_ISOLATE,
				  .reason = "drill",
				  .epoch = 5,
				  .targeted = 2};
	struct store_result res[2] = {{"h01", HOST_CONFIRMED, 120, 900, NULL},
				      {"h02", HOST_FAILED, 0, 0, "apply failed"}};
	struct audit_row rows[2] = {{.time_ms = 10,
				     .actor = "root",
				     .action = "isolate",
				     .host = "h01",
				     .reason = "drill",
				     .result = "confirmed",
				     .detail = ""},
				    {.time_ms = 11,
				     .actor = "root",
				     .action = "isolate",
				     .host = "h02",
				     .reason = "drill",
				     .result = "failed",
				     .detail = "apply failed"}};
	struct store_command_end end = {
	    .confirmed = 1, .results = res, .nresults = 2, .audit = rows, .naudit = 2};
	char err[320], hash[65];
	int64_t id = 0, n, count;

	assert_int_equal(store_command_begin(s, &c, &id), 0);
	assert_true(id > 0);
	end.id = id;
	assert_int_equal(audit_log(s, 9, "root", "isolate", "", "drill", NULL, "targets %d", 2), 0);
	assert_int_equal(store_command_end(s, &end), 0);
	assert_int_equal(rows[0].seq, 2);
	assert_int_equal(rows[1].seq, 3);
	assert_int_equal(audit_verify(s, err, sizeof(err), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_audit_head(s, &count, hash), 0);
	assert_int_equal(count, 3);
	assert_string_equal(hash, rows[1].hash);
	store_close(s);

	/* An edited row breaks the chain, on either backend. */
	env_sql(e, "UPDATE audit SET reason = 'nothing happened' WHERE seq = 2");
	s = store_open(e->spec, 1);
	assert_non_null(s);
	assert_int_equal(audit_verify(s, err, sizeof(err), &n), -1);
	assert_non_null(strstr(err, "row 2"));
	store_close(s);
	/* And so does a row removed from the end. */
	env_sql(e, "UPDATE audit SET reason = 'drill' WHERE seq = 2");
	env_sql(e, "DELETE FROM audit WHERE seq = 3");
	s = store_open(e->spec, 1);
	assert_int_equal(audit_verify(s, err, sizeof(err), &n), -1);
	assert_non_null(strstr(err, "deleted"));
	store_close(s);
}

struct host_set {
	struct host *hosts;
	int n;
};

static struct host *host_find(void *arg, const char *name)
{
	struct host_set *hs = arg;

	for (int i = 0; i < hs->n; i++)
		if (strcmp(hs->hosts[i].name, name) == 0)
			return &hs->hosts[i];
	return NULL;
}

static void test_runs(void **state)
{
	struct env *e = *state;
	struct store *s = env_open(e);
	struct host_set hs = {e->hosts, 2}; /* h03 has left the inventory since */
	struct pb_run *r = calloc(1, sizeof(*r)), *b;
	struct pb_stage_rt *g;
	struct pb_check_rt *k;

	assert_null(store_run_load_last(s, host_find, &hs));
	snprintf(r->name, sizeof(r->name), "waves");
	snprintf(r->actor, sizeof(r->actor), "root");
	snprintf(r->reason, sizeof(r->reason), "restore");
	for (int i = 0; i < 2; i++) {
		g = pb_stage_add(r);
		snprintf(g->name, sizeof(g->name), "wave%d", i + 1);
		g->approval = i;
		g->soak_ms = 60000;
		g->on_failure = i ? ON_FAILURE_HALT : ON_FAILURE_REISOLATE;
		pb_stage_host_add(g, &e->hosts[i], "aaaa");
		pb_stage_host_add(g, &e->hosts[2], "cccc");
		k = pb_check_add(g);
		snprintf(k->from, sizeof(k->from), "h01");
		snprintf(k->target, sizeof(k->target), "198.18.0.12");
		snprintf(k->target_name, sizeof(k->target_name), "h02");
		k->proto = 6;
		k->port = 443;
		k->expect_open = 1;
		k->timeout_ms = 2000;
		k->line = 17;
	}
	assert_int_equal(store_run_insert(s, r), 0);
	assert_true(r->id > 0);
	r->current = 1;
	r->state = RUN_HALTED;
	assert_int_equal(store_run_save(s, r), 0);
	r->stages[1].state = STAGE_AWAITING_APPROVAL;
	r->stages[1].epoch = 77;
	r->stages[1].state_ms = 1234;
	snprintf(r->stages[1].approved_by, sizeof(r->stages[1].approved_by), "alice");
	snprintf(r->stages[1].detail, sizeof(r->stages[1].detail), "waiting");
	assert_int_equal(store_stage_save(s, r, 1), 0);
	store_close(s);

	s = env_open(e);
	b = store_run_load_last(s, host_find, &hs);
	assert_non_null(b);
	assert_int_equal(b->id, r->id);
	assert_string_equal(b->name, "waves");
	assert_string_equal(b->reason, "restore");
	assert_int_equal(b->state, RUN_HALTED);
	assert_int_equal(b->current, 1);
	assert_int_equal(b->nstages, 2);
	assert_string_equal(b->stages[1].name, "wave2");
	assert_int_equal(b->stages[1].on_failure, ON_FAILURE_HALT);
	assert_int_equal(b->stages[1].state, STAGE_AWAITING_APPROVAL);
	assert_int_equal(b->stages[1].epoch, 77);
	assert_string_equal(b->stages[1].approved_by, "alice");
	assert_int_equal(b->stages[1].nhosts, 1); /* h03 left out */
	assert_ptr_equal(b->stages[1].hosts[0], &e->hosts[1]);
	assert_int_equal(b->stages[0].nchecks, 1);
	assert_string_equal(b->stages[0].checks[0].target, "198.18.0.12");
	assert_int_equal(b->stages[0].checks[0].port, 443);
	assert_int_equal(b->stages[0].checks[0].line, 17);
	pb_run_free(b);
	pb_run_free(r);
	store_close(s);
}

/* --- PostgreSQL only: two controllers, a lost connection, bad names --- */

static void test_pg_two_controllers(void **state)
{
	struct env *e = *state;
	struct store *a = env_open(e), *b = env_open(e);
	uint64_t last = 0;
	char err[320];
	int64_t n;

	for (int i = 0; i < 20; i++) {
		uint64_t ea = store_epoch_next(a), eb = store_epoch_next(b);

		assert_true(ea > last && eb > ea);
		last = eb;
		assert_int_equal(audit_log(i % 2 ? a : b, (uint64_t)i, "root", "isolate", "h01",
					   NULL, NULL, "epoch %llu", (unsigned long long)ea),
				 0);
	}
	/* One controller raises, the other's next epoch is newer still. */
	assert_int_equal(store_epoch_raise(a, last + 50), 0);
	assert_int_equal(store_epoch_next(b), last + 51);
	assert_int_equal(audit_verify(b, err, sizeof(err), &n), 0);
	assert_int_equal(n, 20);
	store_close(a);
	store_close(b);
}

static void test_pg_reconnect(void **state)
{
	struct env *e = *state;
	struct store *s = env_open(e);
	struct store_command c = {.action = ACTION_RELEASE, .epoch = 1, .targeted = 1};
	char err[320];
	int64_t n, id;

	assert_int_equal(audit_log(s, 1, "root", "release", "h01", NULL, NULL, NULL), 0);
	/* The server ends every other session, as a restart does. */
	env_sql(e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		   " WHERE application_name = 'bulkheadd' AND pid <> pg_backend_pid()"
		   " AND datname = current_database()");
	usleep(100000);
	assert_int_equal(audit_log(s, 2, "root", "release", "h02", NULL, NULL, NULL), 0);
	env_sql(e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		   " WHERE application_name = 'bulkheadd' AND pid <> pg_backend_pid()"
		   " AND datname = current_database()");
	usleep(100000);
	assert_int_equal(store_command_begin(s, &c, &id), 0);
	assert_true(store_epoch_next(s) > 0);
	assert_int_equal(audit_verify(s, err, sizeof(err), &n), 0);
	assert_int_equal(n, 2); /* neither lost nor written twice */
	store_close(s);
}

static struct pb_run *run_new(struct env *e)
{
	struct pb_run *r = calloc(1, sizeof(*r));
	struct pb_stage_rt *g = pb_stage_add(r);

	snprintf(r->name, sizeof(r->name), "waves");
	snprintf(g->name, sizeof(g->name), "wave1");
	pb_stage_host_add(g, &e->hosts[0], "aaaa");
	return r;
}

struct wanted {
	int n;
	char name[16];
	uint64_t epoch;
	enum bulkhead_mode mode;
};

static void wanted_cb(void *arg, const struct host *w)
{
	struct wanted *got = arg;

	got->n++;
	snprintf(got->name, sizeof(got->name), "%s", w->name);
	got->epoch = w->want_epoch;
	got->mode = w->want_mode;
}

/* One leader at a time, each with a newer term; a leader that lost its
 * lock (here: its lock's session ended) is fenced off before it notices. */
static void test_pg_leader(void **state)
{
	struct env *e = *state;
	struct store *a = env_open(e), *b = env_open(e);
	struct pb_run *ra = run_new(e), *rb = run_new(e);
	struct host *want[1] = {&e->hosts[0]};
	struct wanted got = {0};
	uint64_t ta, tb;

	assert_int_equal(store_leader_poll(a, "ctlA", &ta), 1);
	assert_int_equal(ta, 1);
	assert_int_equal(store_leader_poll(b, "ctlB", &tb), 0);
	assert_int_equal(store_leader_poll(a, "ctlA", &ta), 1);
	assert_int_equal(ta, 1);
	assert_int_equal(store_run_insert(b, rb), -1); /* not the leader */
	assert_int_equal(store_run_insert(a, ra), 0);
	assert_int_equal(store_run_save(a, ra), 0);

	env_sql(e, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		   " WHERE application_name = 'bulkheadd-leader' AND datname = current_database()");
	usleep(100000);
	assert_int_equal(store_leader_poll(b, "ctlB", &tb), 1);
	assert_int_equal(tb, 2);
	/* a still believes it leads: its writes are refused all the same. */
	ra->current = 0;
	assert_int_equal(store_run_save(a, ra), -1);
	assert_int_equal(store_stage_save(a, ra, 0), -1);
	assert_int_equal(store_leader_poll(a, "ctlA", &ta) == 1, 0);
	assert_int_equal(store_run_save(b, ra), 0);

	/* What one controller commands, the other reads back. */
	assert_int_equal(store_hosts_load(a, e->hosts, 3), 0);
	e->hosts[0].want_mode = MODE_ISOLATED;
	e->hosts[0].want_epoch = store_epoch_next(a);
	assert_int_equal(store_hosts_want(a, want, 1), 0);
	assert_int_equal(store_hosts_wanted(b, e->hosts[0].want_epoch - 1, wanted_cb, &got), 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.name, "h01");
	assert_int_equal(got.epoch, e->hosts[0].want_epoch);
	assert_int_equal(got.mode, MODE_ISOLATED);
	got.n = 0;
	assert_int_equal(store_hosts_wanted(b, e->hosts[0].want_epoch, wanted_cb, &got), 0);
	assert_int_equal(got.n, 0);
	pb_run_free(ra);
	pb_run_free(rb);
	store_close(a);
	store_close(b);
}

static void test_pg_bad_names(void **state)
{
	struct env *e = *state;
	char spec[600];

	(void)e;
	assert_null(store_open("postgresql:host=/nonexistent-bh-dir port=1 dbname=x", 0));
	assert_null(store_open("postgresql:this is not = a connection string", 0));
	assert_null(store_open("postgres:dbname=x", 0));
	/* A database without a store is refused to a reading tool. */
	env_sql(e, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
	snprintf(spec, sizeof(spec), "%s", e->spec);
	assert_null(store_open(spec, 1));
}

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
	    cmocka_unit_test_setup_teardown(test_epochs, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_hosts, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_policies, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_commands_and_audit, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_runs, setup_sqlite, teardown),
	};
	const struct CMUnitTest pg_tests[] = {
	    cmocka_unit_test_setup_teardown(test_epochs, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_hosts, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_policies, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_commands_and_audit, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_runs, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_pg_two_controllers, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_pg_leader, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_pg_bad_names, setup_pg, teardown),
	};
	int rc;

	log_init("test_store", 0);
	rc = cmocka_run_group_tests_name("store-sqlite", sqlite_tests, NULL, NULL);
#ifdef HAVE_LIBPQ
	if (getenv("BH_TEST_PG") && getenv("BH_TEST_PG")[0])
		rc |= cmocka_run_group_tests_name("store-postgresql", pg_tests, NULL, NULL);
	else
		printf("store-postgresql: skipped (BH_TEST_PG names no server;"
		       " tests/integration/test_pg.sh runs them)\n");
#else
	(void)pg_tests;
	printf("store-postgresql: skipped (built without libpq)\n");
#endif
	return rc;
}
