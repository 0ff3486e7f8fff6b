/* The controller's command bookkeeping (controller/command.c) and the
 * control socket's roles and two-person rule (controller/access.c), without
 * sockets: the agents' sessions and the CLI's connection are stand-ins
 * that record what they are given; the store is a real SQLite file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "bulkhead/log.h"
#include "audit.h"
#include "controller.h"

/* --- stand-ins for peer.c and control.c --- */

struct peer {
	uint32_t seq;
	int modes, confirms;
	uint64_t epoch;
	enum bulkhead_mode mode;
};

struct client {
	int nrows, finished;
	char names[8][16];
	enum host_status status[8];
	char errors[8][128];
	struct msg_ctl_end end;
	int ended;
	uid_t uid;
	enum access_role role;
	int approvals; /* playbook approvals made in its name */
	int pending;   /* output not yet written */
	char approver[256];
};

int peer_send_mode(struct peer *p, uint64_t epoch, enum bulkhead_mode mode, const char *hash,
		   uint32_t confirm_ms)
{
	p->seq++;
	p->modes++;
	p->epoch = epoch;
	p->mode = mode;
	return 0;
}

int peer_send_confirm(struct peer *p, uint64_t epoch)
{
	p->seq++;
	p->confirms++;
	return 0;
}

uint32_t peer_last_seq(const struct peer *p)
{
	return p->seq;
}

int peer_send_ports(struct peer *p, uint64_t epoch, enum port_state state, const char *const *ports,
		    int nports, uint32_t confirm_ms)
{
	p->seq++;
	return 0;
}

int client_send(struct client *cl, const void *frame, int len)
{
	struct wire_frame f;
	const char *err;
	union msg m;

	assert_true(len > 0);
	assert_int_equal(wire_frame_decode(frame, (size_t)len, &f, &err), 0);
	assert_int_equal(msg_decode(&f, &m, &err), 0);
	if (f.type == WIRE_CTL_HOST && cl->nrows < 8) {
		snprintf(cl->names[cl->nrows], sizeof(cl->names[0]), "%s", m.ctl_host.name);
		snprintf(cl->errors[cl->nrows], sizeof(cl->errors[0]), "%s",
			 m.ctl_host.error ? m.ctl_host.error : "");
		cl->status[cl->nrows++] = m.ctl_host.status;
	} else if (f.type == WIRE_CTL_END) {
		cl->end = m.ctl_end;
		cl->end.error = NULL; /* points into the frame */
		cl->ended = 1;
	}
	return 0;
}

void client_finish(struct client *cl)
{
	cl->finished = 1;
}

void client_end(struct client *cl, uint32_t result, const char *err)
{
	cl->ended = 1;
	cl->end.result = result;
	client_finish(cl);
}

uid_t client_uid(const struct client *cl)
{
	return cl->uid;
}

pid_t client_pid(const struct client *cl)
{
	return 100 + (pid_t)cl->uid;
}

enum access_role client_role(const struct client *cl)
{
	return cl->role;
}

int client_pending(const struct client *cl)
{
	return cl->pending;
}

void playbook_approve_as(struct ctl *c, struct client *cl, const char *stage, const char *actor)
{
	cl->approvals++;
	snprintf(cl->approver, sizeof(cl->approver), "%s", actor);
	client_end(cl, 0, NULL);
}

/* --- the controller around the commands --- */

struct env {
	struct ctl c;
	struct inventory inv;
	struct host hosts[3];
	struct peer peers[3];
	struct client cl;
	char dir[64];
};

static int setup(void **state)
{
	static const char *const names[] = {"h01", "h02", "h03"};
	struct env *e = calloc(1, sizeof(*e));
	char path[128];

	snprintf(e->dir, sizeof(e->dir), "/tmp/bh-test-command.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(path, sizeof(path), "%s/bulkhead.db", e->dir);
	e->c.store = store_open(path, 0);
	assert_non_null(e->c.store);
	e->c.base = event_base_new();
	e->c.inv = &e->inv;
	e->c.hosts = e->hosts;
	e->c.nhosts = 3;
	for (int i = 0; i < 3; i++) {
		e->hosts[i].name = names[i];
		e->hosts[i].peer = i < 2 ? &e->peers[i] : NULL; /* h03 is not connected */
	}
	assert_int_equal(store_hosts_load(e->c.store, e->hosts, 3), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[160];

	command_free_all(&e->c);
	access_free_all(&e->c);
	store_close(e->c.store);
	event_base_free(e->c.base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void start(struct env *e, enum action action, enum bulkhead_mode mode, int manual,
		  uint32_t timeout_ms)
{
	struct target_spec specs[3];
	struct command_opts o = {.action = action,
				 .reason = "test",
				 .timeout_ms = timeout_ms,
				 .confirm_ms = 30000,
				 .manual = manual,
				 .uid = 0,
				 .pid = 1};

	for (int i = 0; i < 3; i++)
		specs[i] = (struct target_spec){&e->hosts[i], mode, NULL};
	assert_int_equal(command_start(&e->c, &e->cl, &o, specs, 3), 0);
}

/* An ack from host i, answering its last frame (or seq). */
static void ack(struct env *e, int i, uint32_t seq, enum ack_status status, uint64_t epoch,
		enum bulkhead_mode mode, uint32_t result)
{
	struct msg_ack k = {.status = status,
			    .result = result,
			    .epoch = epoch,
			    .mode = mode,
			    .apply_us = 100,
			    .persisted = true};

	command_host_acked(&e->c, &e->hosts[i], seq ? seq : e->peers[i].seq, &k);
}

static int row_of(const struct env *e, const char *name)
{
	for (int i = 0; i < e->cl.nrows; i++)
		if (strcmp(e->cl.names[i], name) == 0)
			return i;
	fail_msg("no row for %s", name);
	return -1;
}

struct audit_find {
	const char *host, *result;
	int found;
};

static int audit_find_cb(const struct audit_row *r, void *arg)
{
	struct audit_find *a = arg;

	if (strcmp(r->host, a->host) == 0 && strcmp(r->result, a->result) == 0)
		a->found++;
	return 0;
}

static int audited(struct env *e, const char *host, const char *result)
{
	struct audit_find a = {host, result, 0};

	store_audit_foreach(e->c.store, 0, NULL, audit_find_cb, &a);
	return a.found;
}

/* The fan-out reaches every connected agent at once; the command ends when
 * every host has answered, with each host's result recorded. */
static void test_isolate(void **state)
{
	struct env *e = *state;
	uint64_t epoch;

	start(e, ACTION_ISOLATE, MODE_ISOLATED, 0, 10000);
	assert_int_equal(e->peers[0].modes, 1);
	assert_int_equal(e->peers[1].modes, 1);
	epoch = e->peers[0].epoch;
	assert_true(epoch > 0);
	assert_int_equal(e->hosts[0].want_mode, MODE_ISOLATED);
	assert_int_equal(e->hosts[0].want_epoch, epoch);
	ack(e, 0, 0, ACK_APPLIED, epoch, MODE_ISOLATED, 0);
	assert_false(e->cl.ended);
	/* An ack of an older command, to another frame, is not this one's. */
	ack(e, 1, e->peers[1].seq + 7, ACK_APPLIED, epoch - 1, MODE_OPEN, 0);
	assert_false(e->cl.ended);
	ack(e, 1, 0, ACK_APPLIED, epoch, MODE_ISOLATED, 0);
	assert_true(e->cl.ended);
	assert_true(e->cl.finished);
	assert_int_equal(e->cl.end.result, 1); /* h03 never answered */
	assert_int_equal(e->cl.end.confirmed, 2);
	assert_int_equal(e->cl.end.total, 3);
	assert_int_equal(e->cl.end.epoch, epoch);
	assert_int_equal(e->cl.status[row_of(e, "h01")], HOST_CONFIRMED);
	assert_int_equal(e->cl.status[row_of(e, "h03")], HOST_NOT_CONNECTED);
	/* The answer is out first; the record follows once it has left. */
	assert_int_equal(audited(e, "", "done"), 0);
	e->cl.pending = 1;
	event_base_loop(e->c.base, EVLOOP_NONBLOCK);
	assert_int_equal(audited(e, "", "done"), 0);
	e->cl.pending = 0;
	/* Past the 1 ms re-check, on libevent's coarse clock too. */
	usleep(20000);
	event_base_loop(e->c.base, EVLOOP_NONBLOCK);
	assert_int_equal(audited(e, "h01", "confirmed"), 1);
	assert_int_equal(audited(e, "h03", "not-connected"), 1);
	assert_int_equal(audited(e, "", "done"), 1);
	assert_int_equal(audited(e, "", "started"), 1);
}

/* What is wanted of every host is in the store when the frames go out,
 * isolation included: a controller killed right after the fan-out restarts
 * knowing what it sent. */
static void test_isolate_stored_with_frames(void **state)
{
	struct env *e = *state;
	struct host h;

	start(e, ACTION_ISOLATE, MODE_ISOLATED, 0, 10000);
	assert_int_equal(e->peers[0].modes, 1);
	memset(&h, 0, sizeof(h));
	h.name = "h01";
	assert_int_equal(store_hosts_load(e->c.store, &h, 1), 0);
	assert_int_equal(h.want_mode, MODE_ISOLATED);
	assert_int_equal(h.want_epoch, e->peers[0].epoch);
	assert_int_equal(audited(e, "", "started"), 1);
	assert_false(e->cl.ended);
}

/* A change that opens traffic waits for its commit; a refusal, a rollback
 * and a newer command's mode end a host's part with what happened. */
static void test_release_outcomes(void **state)
{
	struct env *e = *state;
	uint64_t epoch;

	start(e, ACTION_RELEASE, MODE_OPEN, 0, 10000);
	epoch = e->peers[0].epoch;
	ack(e, 0, 0, ACK_PENDING_CONFIRM, epoch, MODE_OPEN, 0);
	ack(e, 1, 0, ACK_REFUSED, epoch - 1, MODE_ISOLATED, ESTALE);
	assert_false(e->cl.ended);
	ack(e, 0, 0, ACK_COMMITTED, epoch, MODE_OPEN, 0);
	assert_true(e->cl.ended);
	assert_int_equal(e->cl.status[row_of(e, "h01")], HOST_CONFIRMED);
	assert_int_equal(e->cl.status[row_of(e, "h02")], HOST_FAILED);
	assert_string_equal(e->cl.errors[row_of(e, "h02")], strerror(ESTALE));
	assert_int_equal(e->cl.end.confirmed, 1);

	memset(&e->cl, 0, sizeof(e->cl));
	start(e, ACTION_RELEASE, MODE_OPEN, 0, 10000);
	epoch = e->peers[0].epoch;
	ack(e, 0, 0, ACK_ROLLED_BACK, epoch, MODE_ISOLATED, 0);
	ack(e, 1, 999, ACK_APPLIED, epoch + 1, MODE_ISOLATED, 0);
	assert_true(e->cl.ended);
	assert_int_equal(e->cl.status[row_of(e, "h01")], HOST_ROLLED_BACK);
	assert_int_equal(e->cl.status[row_of(e, "h02")], HOST_SUPERSEDED);
	assert_int_equal(e->cl.end.confirmed, 0);
}

/* Left for `bulkhead confirm`: the pending change counts as done, and the
 * end says how long the operator has. */
static void test_manual(void **state)
{
	struct env *e = *state;
	uint64_t epoch;

	start(e, ACTION_APPLY, MODE_SEGMENTED, 1, 10000);
	epoch = e->peers[0].epoch;
	assert_true(e->hosts[0].hold_confirm);
	ack(e, 0, 0, ACK_PENDING_CONFIRM, epoch, MODE_SEGMENTED, 0);
	ack(e, 1, 0, ACK_PENDING_CONFIRM, epoch, MODE_SEGMENTED, 0);
	assert_true(e->cl.ended);
	assert_int_equal(e->cl.status[row_of(e, "h01")], HOST_PENDING_CONFIRM);
	assert_int_equal(e->cl.end.confirm_ms, 30000);
	assert_int_equal(e->cl.end.confirmed, 2);
}

/* A connected agent that does not answer by the deadline times out. */
static void test_timeout(void **state)
{
	struct env *e = *state;
	struct timeval limit = {1, 0};

	start(e, ACTION_ISOLATE, MODE_ISOLATED, 0, 20);
	ack(e, 0, 0, ACK_APPLIED, e->peers[0].epoch, MODE_ISOLATED, 0);
	event_base_loopexit(e->c.base, &limit);
	event_base_dispatch(e->c.base);
	assert_true(e->cl.ended);
	assert_int_equal(e->cl.status[row_of(e, "h02")], HOST_TIMEOUT);
	assert_int_equal(e->cl.status[row_of(e, "h01")], HOST_CONFIRMED);
	assert_int_equal(audited(e, "h02", "timeout"), 1);
}

/* The CLI went away: the command still finishes and is recorded. */
static void test_client_gone(void **state)
{
	struct env *e = *state;
	uint64_t epoch;

	start(e, ACTION_ISOLATE, MODE_ISOLATED, 0, 10000);
	epoch = e->peers[0].epoch;
	command_client_gone(&e->c, &e->cl);
	ack(e, 0, 0, ACK_APPLIED, epoch, MODE_ISOLATED, 0);
	ack(e, 1, 0, ACK_APPLIED, epoch, MODE_ISOLATED, 0);
	assert_false(e->cl.ended);
	assert_int_equal(e->cl.nrows, 0);
	event_base_loop(e->c.base, EVLOOP_NONBLOCK);
	assert_int_equal(audited(e, "h02", "confirmed"), 1);
	assert_int_equal(audited(e, "", "done"), 1);
}

/* --- roles and the two-person rule (access.c) --- */

/* Groups decide the role; root always operates; with no groups named,
 * everyone who reaches the socket does. */
static void test_roles(void **state)
{
	struct ctl_access a = {.read = {4001}, .nread = 1, .operate = {4002}, .noperate = 1};
	struct ctl_access open = {0};
	const gid_t reader[] = {4101, 4001}, op[] = {4102, 27, 4002}, none[] = {4103};

	(void)state;
	assert_int_equal(access_role_of(&a, 4101, reader, 2), ROLE_READ);
	assert_int_equal(access_role_of(&a, 4102, op, 3), ROLE_OPERATE);
	assert_int_equal(access_role_of(&a, 4103, none, 1), ROLE_DEFAULT);
	assert_int_equal(access_role_of(&a, 0, none, 1), ROLE_OPERATE);
	assert_int_equal(access_role_of(&open, 4103, none, 1), ROLE_OPERATE);
	assert_int_equal(ctl_request_role(&a, WIRE_CTL_STATUS), ROLE_READ);
	assert_int_equal(ctl_request_role(&a, WIRE_CTL_AUDIT), ROLE_READ);
	assert_int_equal(ctl_request_role(&a, WIRE_CTL_ISOLATE), ROLE_OPERATE);
	a.role[WIRE_CTL_AUDIT - NLMSG_MIN_TYPE] = ROLE_OPERATE;
	assert_int_equal(ctl_request_role(&a, WIRE_CTL_AUDIT), ROLE_OPERATE);
}

/* A reader asking for an isolation is refused, and the refusal audited. */
static void test_role_refused(void **state)
{
	struct env *e = *state;

	e->c.conf.access.nread = 1;
	e->cl.uid = 4101;
	e->cl.role = ROLE_READ;
	assert_int_equal(access_check(&e->c, &e->cl, WIRE_CTL_STATUS), 0);
	assert_false(e->cl.ended);
	assert_int_equal(access_check(&e->c, &e->cl, WIRE_CTL_ISOLATE), -1);
	assert_true(e->cl.ended);
	assert_int_equal(e->cl.end.result, CTL_RESULT_DENIED);
	assert_int_equal(audited(e, "", "refused"), 1);
}

/* release of every host waits for a second user; the one who asked cannot
 * approve it; isolation never waits. */
static void test_two_person_release(void **state)
{
	struct env *e = *state;
	struct client second = {.uid = 4102, .role = ROLE_OPERATE};
	uint64_t id;

	e->c.conf.access.two_person = TWO_PERSON_RELEASE_ALL;
	e->c.conf.access.two_person_ms = 60000;
	e->cl.uid = 4101;
	start(e, ACTION_ISOLATE, MODE_ISOLATED, 0, 10000);
	assert_int_equal(e->peers[0].modes, 1);
	command_free_all(&e->c);

	memset(&e->cl, 0, sizeof(e->cl));
	e->cl.uid = 4101;
	start(e, ACTION_RELEASE, MODE_OPEN, 0, 10000);
	assert_true(e->cl.ended);
	assert_int_equal(e->cl.end.result, CTL_RESULT_HELD);
	assert_int_equal(e->peers[0].modes, 1); /* nothing sent */
	assert_int_equal(audited(e, "", "held"), 1);
	id = e->c.hold_seq;

	memset(&e->cl, 0, sizeof(e->cl));
	e->cl.uid = 4101;
	access_approve(&e->c, &e->cl, id);
	assert_int_equal(e->cl.end.result, CTL_RESULT_DENIED);
	assert_int_equal(e->peers[0].modes, 1);

	access_approve(&e->c, &second, id);
	assert_int_equal(e->peers[0].modes, 2);
	assert_int_equal(e->peers[0].mode, MODE_OPEN);
	assert_int_equal(audited(e, "", "approved"), 1);
	/* Approved once: a second approval finds nothing. */
	memset(&second.end, 0, sizeof(second.end));
	command_free_all(&e->c);
	access_approve(&e->c, &second, id);
	assert_int_equal(second.end.result, 1);
	assert_int_equal(e->peers[0].modes, 2);
}

/* A hold runs out: approving it later does nothing. A playbook approval
 * held and approved runs in both names. */
static void test_two_person_expiry_and_playbook(void **state)
{
	struct env *e = *state;
	struct client second = {.uid = 4102, .role = ROLE_OPERATE};

	e->c.conf.access.two_person = TWO_PERSON_RELEASE_ALL | TWO_PERSON_PLAYBOOK_APPROVE;
	e->c.conf.access.two_person_ms = 1;
	e->cl.uid = 4101;
	start(e, ACTION_RELEASE, MODE_OPEN, 0, 10000);
	assert_int_equal(e->cl.end.result, CTL_RESULT_HELD);
	usleep(5000);
	access_approve(&e->c, &second, e->c.hold_seq);
	assert_int_equal(second.end.result, 1);
	assert_int_equal(e->peers[0].modes, 0);
	assert_int_equal(audited(e, "", "expired"), 1);

	e->c.conf.access.two_person_ms = 60000;
	memset(&e->cl, 0, sizeof(e->cl));
	e->cl.uid = 4101;
	assert_int_equal(access_hold_pb_approve(&e->c, &e->cl, "wave1"), 1);
	assert_int_equal(e->cl.end.result, CTL_RESULT_HELD);
	memset(&second, 0, sizeof(second));
	second.uid = 4102;
	access_approve(&e->c, &second, e->c.hold_seq);
	assert_int_equal(second.approvals, 1);
	assert_non_null(strstr(second.approver, "approved by"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_isolate, setup, teardown),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test_setup_teardown(test_role_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_person_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_person_expiry_and_playbook, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_isolate_stored_with_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_manual, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
	};

	log_init("test_command", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
