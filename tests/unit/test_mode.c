/* The agent's mode state machine (agents/mode.c) driven through a fake
 * backend: isolate, release, commit-confirm, rollback, stale epochs,
 * failures that must leave the state as it was, the dead-man switch, hard
 * isolation and the restart from a record. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bulkhead/log.h"
#include "mode.h"

/* What the fake kernel, disk and timers saw. */
struct fake {
	struct mode_machine *m;
	char ops[512]; /* "record apply install ..." in order */
	enum bulkhead_mode kernel_mode;
	const struct host_policy *kernel_policy;
	int next_apply_rc, next_install_rc; /* returned once, then 0 */
	int table_gone;			    /* mode_apply says -ENOENT until an install */
	int record_fails;
	struct mode_record rec;
	int armed;
	uint32_t armed_ms;
	int alerts;
	enum alert_kind alert;
	char alert_text[400];
	struct agent_hold plan[4];
	int nplan;
	char kept[32];
	int hard_down, hard_up;	     /* holds applied, released */
	struct host_policy *disk[4]; /* saved policies, for policy_load */
	int ndisk;
};

static void op(struct fake *f, const char *name)
{
	size_t n = strlen(f->ops);

	snprintf(f->ops + n, sizeof(f->ops) - n, "%s%s", n ? " " : "", name);
}

static int f_mode_apply(void *arg, enum bulkhead_mode mode, uint64_t *apply_us)
{
	struct fake *f = arg;
	int rc = f->next_apply_rc;

	op(f, "apply");
	*apply_us = 150;
	f->next_apply_rc = 0;
	if (f->table_gone)
		return -ENOENT;
	if (rc == 0)
		f->kernel_mode = mode;
	return rc;
}

static int f_table_install(void *arg, enum bulkhead_mode mode, const struct host_policy *hp)
{
	struct fake *f = arg;
	int rc = f->next_install_rc;

	op(f, "install");
	f->next_install_rc = 0;
	if (rc == 0) {
		f->kernel_mode = mode;
		f->kernel_policy = hp;
		f->table_gone = 0;
	}
	return rc;
}

static int f_hard_plan(void *arg, struct agent_hold *out, int max, char *kept, size_t kept_len)
{
	struct fake *f = arg;

	op(f, "plan");
	memcpy(out, f->plan, sizeof(f->plan[0]) * (size_t)f->nplan);
	snprintf(kept, kept_len, "%s", f->kept);
	return f->nplan;
}

static void f_hard_apply(void *arg, const struct agent_hold *h, int n)
{
	struct fake *f = arg;

	op(f, "down");
	f->hard_down = n;
}

static void f_hard_release(void *arg, const struct agent_hold *h, int n)
{
	struct fake *f = arg;

	op(f, "up");
	f->hard_up = n;
}

static int f_record(void *arg)
{
	struct fake *f = arg;

	op(f, "record");
	if (f->record_fails)
		return -1;
	mode_record_fill(f->m, &f->rec);
	return 0;
}

static int f_policy_save(void *arg, const struct host_policy *hp)
{
	op(arg, "save");
	return 0;
}

static struct host_policy *f_policy_load(void *arg, const char *hash)
{
	struct fake *f = arg;

	for (int i = 0; i < f->ndisk; i++)
		if (strcmp(f->disk[i]->hash, hash) == 0) {
			struct host_policy *hp = f->disk[i];

			f->disk[i] = f->disk[--f->ndisk];
			return hp;
		}
	return NULL;
}

static void f_policy_gc(void *arg, const char *keep)
{
	op(arg, "gc");
}

static void f_rollback_arm(void *arg, uint32_t ms)
{
	struct fake *f = arg;

	f->armed = 1;
	f->armed_ms = ms;
}

static void f_rollback_disarm(void *arg)
{
	((struct fake *)arg)->armed = 0;
}

static void f_alert(void *arg, enum alert_kind kind, const char *text)
{
	struct fake *f = arg;

	f->alerts++;
	f->alert = kind;
	snprintf(f->alert_text, sizeof(f->alert_text), "%s", text);
}

static const struct mode_backend fake_backend = {
    .mode_apply = f_mode_apply,
    .table_install = f_table_install,
    .hard_plan = f_hard_plan,
    .hard_apply = f_hard_apply,
    .hard_release = f_hard_release,
    .record = f_record,
    .policy_save = f_policy_save,
    .policy_load = f_policy_load,
    .policy_gc = f_policy_gc,
    .rollback_arm = f_rollback_arm,
    .rollback_disarm = f_rollback_disarm,
    .alert = f_alert,
};

struct env {
	struct fake f;
	struct mode_machine m;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	mode_init(&e->m, &fake_backend, &e->f);
	e->f.m = &e->m;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	mode_clear(&e->m);
	for (int i = 0; i < e->f.ndisk; i++)
		host_policy_free(e->f.disk[i]);
	free(e);
	return 0;
}

static struct host_policy *policy_new(char c)
{
	struct host_policy *hp = xcalloc(1, sizeof(*hp));

	hp->host = xstrdup("h01");
	memset(hp->hash, c, 64);
	return hp;
}

static void set(struct env *e, uint64_t epoch, enum bulkhead_mode mode, const char *hash,
		uint32_t confirm_ms, bool hard, struct mode_result *res)
{
	struct mode_request rq = {epoch, mode, hash, confirm_ms, hard};

	e->f.ops[0] = '\0';
	mode_set(&e->m, &rq, res);
}

/* Isolation: recorded first, then one tiny transaction; the ack says applied. */
static void test_isolate(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	set(e, 1, MODE_ISOLATED, NULL, 0, false, &r);
	assert_int_equal(r.status, ACK_APPLIED);
	assert_int_equal(r.error, 0);
	assert_true(r.changed);
	assert_string_equal(e->f.ops, "record apply");
	assert_int_equal(e->f.kernel_mode, MODE_ISOLATED);
	assert_int_equal(e->f.rec.mode, MODE_ISOLATED);
	assert_int_equal(e->f.rec.epoch, 1);
	assert_false(e->m.pending);
	assert_false(e->f.armed);
	assert_true(e->m.persisted);
	/* The same command again changes nothing. */
	set(e, 1, MODE_ISOLATED, NULL, 0, false, &r);
	assert_int_equal(r.status, ACK_APPLIED);
	assert_false(r.changed);
	assert_string_equal(e->f.ops, "");
}

/* An epoch older than the one held is refused and changes nothing. */
static void test_stale_epoch(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	set(e, 5, MODE_ISOLATED, NULL, 0, false, &r);
	set(e, 3, MODE_OPEN, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_REFUSED);
	assert_int_equal(r.error, ESTALE);
	assert_string_equal(r.message, "stale epoch ignored");
	assert_string_equal(e->f.ops, "");
	assert_int_equal(e->m.cur.mode, MODE_ISOLATED);
	assert_int_equal(e->m.cur.epoch, 5);
}

/* A release opens traffic: it waits for its confirmation, and is committed. */
static void test_release_confirm(void **state)
{
	struct env *e = *state;
	struct host_policy *hp = policy_new('a');
	struct mode_result r;

	set(e, 1, MODE_ISOLATED, NULL, 0, false, &r);
	mode_stage(&e->m, hp);
	set(e, 2, MODE_SEGMENTED, hp->hash, 30000, false, &r);
	assert_int_equal(r.status, ACK_PENDING_CONFIRM);
	assert_string_equal(e->f.ops, "save record install");
	assert_ptr_equal(e->f.kernel_policy, hp);
	assert_true(e->m.pending);
	assert_true(e->f.armed);
	assert_int_equal(e->f.armed_ms, 30000);
	assert_int_equal(e->m.prev.mode, MODE_ISOLATED);
	assert_true(e->f.rec.pending);
	/* A confirmation of another epoch is refused. */
	mode_confirm(&e->m, 1, false, &r);
	assert_int_equal(r.status, ACK_REFUSED);
	assert_string_equal(r.message, "confirmation for another epoch");
	/* ...unless it committed switch ports. */
	mode_confirm(&e->m, 1, true, &r);
	assert_int_equal(r.status, ACK_COMMITTED);
	assert_true(e->m.pending);
	mode_confirm(&e->m, 2, false, &r);
	assert_int_equal(r.status, ACK_COMMITTED);
	assert_true(r.recorded);
	assert_false(e->m.pending);
	assert_false(e->f.armed);
	assert_false(e->f.rec.pending);
	assert_int_equal(e->m.cur.mode, MODE_SEGMENTED);
}

/* Not confirmed in time: back to the last confirmed state, and that epoch
 * cannot open traffic again; isolation still can. */
static void test_rollback(void **state)
{
	struct env *e = *state;
	struct host_policy *hp = policy_new('b');
	struct mode_result r;

	set(e, 1, MODE_ISOLATED, NULL, 0, false, &r);
	mode_stage(&e->m, hp);
	set(e, 2, MODE_SEGMENTED, hp->hash, 30000, false, &r);
	e->f.ops[0] = '\0';
	mode_rollback(&e->m, "not confirmed within 30000 ms", &r);
	assert_int_equal(r.status, ACK_ROLLED_BACK);
	assert_int_equal(r.error, 0);
	assert_string_equal(r.message, "not confirmed within 30000 ms");
	assert_int_equal(e->m.cur.mode, MODE_ISOLATED);
	assert_int_equal(e->m.cur.epoch, 2);
	assert_null(e->m.cur.policy);
	assert_false(e->m.pending);
	assert_int_equal(e->f.kernel_mode, MODE_ISOLATED);
	assert_int_equal(e->f.alert, ALERT_ROLLBACK);
	assert_non_null(strstr(e->f.alert_text, "epoch 2 rolled back to isolated"));
	assert_int_equal(e->f.rec.mode, MODE_ISOLATED);
	/* A replay of the rolled-back command is refused. */
	set(e, 2, MODE_OPEN, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_REFUSED);
	assert_int_equal(r.error, ESTALE);
	assert_string_equal(r.message, "this epoch was rolled back; a new command is needed");
	mode_confirm(&e->m, 2, false, &r);
	assert_int_equal(r.status, ACK_REFUSED);
	assert_string_equal(r.message, "this epoch was rolled back");
	/* A new command opens it. */
	set(e, 3, MODE_OPEN, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_PENDING_CONFIRM);
}

/* A change the kernel refuses leaves the whole state, the unconfirmed
 * change before it included, exactly as it was. */
static void test_apply_failure_restores(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	set(e, 1, MODE_ISOLATED, NULL, 0, false, &r);
	set(e, 2, MODE_OPEN, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_PENDING_CONFIRM);
	e->f.next_apply_rc = -EIO;
	set(e, 3, MODE_ISOLATED, NULL, 0, false, &r);
	assert_int_equal(r.status, ACK_REFUSED);
	assert_int_equal(r.error, EIO);
	assert_string_equal(e->f.ops, "record apply record");
	assert_int_equal(e->m.cur.mode, MODE_OPEN);
	assert_int_equal(e->m.cur.epoch, 2);
	assert_true(e->m.pending);
	assert_int_equal(e->m.prev.mode, MODE_ISOLATED);
	assert_int_equal(e->m.prev.epoch, 1);
	/* The record describes the kernel, not the command that failed. */
	assert_int_equal(e->f.rec.mode, MODE_OPEN);
	assert_int_equal(e->f.rec.epoch, 2);
	assert_true(e->f.rec.pending);
}

/* Opening traffic that could not be recorded is refused; isolating is not. */
static void test_record_failure(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	e->f.record_fails = 1;
	set(e, 1, MODE_OPEN, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_REFUSED);
	assert_int_equal(r.error, EIO);
	assert_string_equal(r.message, "state directory not writable; refusing to open traffic");
	assert_string_equal(e->f.ops, "record");
	assert_int_equal(e->m.cur.epoch, 0);
	set(e, 2, MODE_ISOLATED, NULL, 0, false, &r);
	assert_int_equal(r.status, ACK_APPLIED);
	assert_false(e->m.persisted);
	assert_int_equal(e->f.kernel_mode, MODE_ISOLATED);
}

/* The table deleted behind the agent's back: the mode change installs it whole. */
static void test_table_gone(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	e->f.table_gone = 1;
	set(e, 1, MODE_ISOLATED, NULL, 0, false, &r);
	assert_int_equal(r.status, ACK_APPLIED);
	assert_string_equal(e->f.ops, "record apply install");
	assert_int_equal(e->f.kernel_mode, MODE_ISOLATED);
}

/* Commands that cannot be carried out. */
static void test_refusals(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	set(e, 1, MODE_SEGMENTED, NULL, 30000, false, &r);
	assert_int_equal(r.error, ENOENT);
	assert_string_equal(r.message, "no policy to enforce");
	set(e, 1, MODE_SEGMENTED,
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 30000, false, &r);
	assert_int_equal(r.error, ENOENT);
	assert_string_equal(r.message, "policy named by the command was not received");
	set(e, 1, MODE_OPEN, NULL, 30000, true, &r);
	assert_int_equal(r.error, EINVAL);
	set(e, 1, (enum bulkhead_mode)7, NULL, 0, false, &r);
	assert_int_equal(r.error, EINVAL);
	assert_string_equal(r.message, "unknown mode");
	assert_string_equal(e->f.ops, "");
}

/* The dead-man switch isolates at the epoch held, so that the controller's
 * next command supersedes it, and says so. */
static void test_deadman(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	set(e, 4, MODE_OPEN, NULL, 0, false, &r);
	assert_int_equal(mode_deadman(&e->m, 30, &r), 1);
	assert_int_equal(r.status, ACK_APPLIED);
	assert_int_equal(e->m.cur.mode, MODE_ISOLATED);
	assert_int_equal(e->m.cur.epoch, 4);
	assert_int_equal(e->f.alert, ALERT_DEADMAN);
	assert_non_null(strstr(e->f.alert_text, "controller out of reach for 30 s"));
	assert_int_equal(mode_deadman(&e->m, 30, &r), 0);
	set(e, 5, MODE_OPEN, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_PENDING_CONFIRM);
}

/* Hard isolation: the holds are recorded before they go down, kept while
 * a release awaits confirmation, back down on rollback, dropped on commit. */
static void test_hard(void **state)
{
	struct env *e = *state;
	struct mode_result r;

	e->f.nplan = 2;
	snprintf(e->f.plan[0].name, sizeof(e->f.plan[0].name), "eth1");
	snprintf(e->f.plan[1].name, sizeof(e->f.plan[1].name), "eth2");
	snprintf(e->f.kept, sizeof(e->f.kept), "eth0 (management)");
	set(e, 1, MODE_ISOLATED, NULL, 0, true, &r);
	assert_int_equal(r.status, ACK_APPLIED);
	assert_string_equal(e->f.ops, "plan record apply down");
	assert_string_equal(r.message, "eth0 (management)");
	assert_int_equal(e->f.alert, ALERT_HARD);
	assert_int_equal(e->f.rec.nholds, 2);
	assert_true(e->f.rec.hard);
	assert_int_equal(e->f.hard_down, 2);
	/* Releasing hard isolation opens traffic, even to isolated. */
	set(e, 2, MODE_ISOLATED, NULL, 30000, false, &r);
	assert_int_equal(r.status, ACK_PENDING_CONFIRM);
	assert_string_equal(e->f.ops, "record apply up");
	assert_int_equal(e->m.nholds, 2);
	assert_true(e->f.rec.prev_hard);
	mode_rollback(&e->m, "not confirmed", &r);
	assert_true(e->m.cur.hard);
	assert_int_equal(e->f.hard_down, 2);
	set(e, 3, MODE_ISOLATED, NULL, 30000, false, &r);
	mode_confirm(&e->m, 3, false, &r);
	assert_int_equal(r.status, ACK_COMMITTED);
	assert_false(e->m.cur.hard);
	assert_int_equal(e->m.nholds, 0);
}

/* At start: a change never confirmed rolls back; a lost policy isolates. */
static void test_restore(void **state)
{
	struct env *e = *state;
	struct mode_record rec = {.mode = MODE_OPEN,
				  .epoch = 7,
				  .pending = true,
				  .prev_mode = MODE_ISOLATED,
				  .prev_epoch = 6};
	struct mode_machine m2;

	assert_int_equal(mode_restore(&e->m, &rec, 0), 1);
	assert_int_equal(e->m.cur.mode, MODE_ISOLATED);
	assert_int_equal(e->m.cur.epoch, 7);
	assert_int_equal(e->f.alert, ALERT_ROLLBACK);
	assert_true(e->m.persisted);

	mode_init(&m2, &fake_backend, &e->f);
	memset(rec.policy, 'c', 64);
	rec.pending = false;
	rec.mode = MODE_SEGMENTED;
	assert_int_equal(mode_restore(&m2, &rec, 0), -1);
	assert_int_equal(m2.cur.mode, MODE_ISOLATED);
	assert_int_equal(m2.cur.epoch, 0);
	/* The policy is on disk: the record holds. */
	e->f.disk[e->f.ndisk++] = policy_new('c');
	mode_init(&m2, &fake_backend, &e->f);
	assert_int_equal(mode_restore(&m2, &rec, 0), 0);
	assert_int_equal(m2.cur.mode, MODE_SEGMENTED);
	assert_non_null(m2.cur.policy);
	mode_clear(&m2);
	/* An unreadable record isolates; none at all leaves the host open. */
	mode_init(&m2, &fake_backend, &e->f);
	assert_int_equal(mode_restore(&m2, &rec, -1), -1);
	assert_int_equal(m2.cur.mode, MODE_ISOLATED);
	mode_init(&m2, &fake_backend, &e->f);
	assert_int_equal(mode_restore(&m2, &rec, 1), 0);
	assert_int_equal(m2.cur.mode, MODE_OPEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_isolate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_epoch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_confirm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply_failure_restores, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadman, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
	};

	log_init("test_mode", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
