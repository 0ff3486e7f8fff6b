/* The typed messages (lib/msg.c): every kind encodes and decodes back to
 * the same values; a frame without what its kind requires, or with a name
 * its kind does not know, is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "bulkhead/msg.h"

static char buf[WIRE_MAX_FRAME];

/* Encodes with fn, then decodes the frame whole: wire codec, then kind. */
static void frame_decode(int len, struct wire_frame *f)
{
	const char *err = NULL;

	assert_true(len > 0);
	assert_int_equal(wire_frame_decode(buf, (size_t)len, f, &err), 0);
}

struct strs_join {
	char out[256];
};

static int join_cb(const char *s, void *arg)
{
	struct strs_join *j = arg;
	size_t n = strlen(j->out);

	snprintf(j->out + n, sizeof(j->out) - n, "%s%s", n ? "," : "", s);
	return 0;
}

static const char *joined(const struct msg_strs *l)
{
	static struct strs_join j;

	j.out[0] = '\0';
	msg_strs_foreach(l, join_cb, &j);
	return j.out;
}

static void test_hello(void **state)
{
	const char *ports[] = {"swp1", "swp7"};
	struct msg_hello in = {.name = "h01",
			       .mode = MODE_ISOLATED,
			       .epoch = 42,
			       .hash = "",
			       .persisted = false,
			       .software = "bulkhead-agent test",
			       .tampers = 3,
			       .pending = true,
			       .hard = true,
			       .ports = {.v = ports, .n = 2}},
			 out;
	struct wire_frame f;
	const char *err;

	frame_decode(msg_hello_encode(buf, 7, &in), &f);
	assert_int_equal(f.nlh->nlmsg_seq, 7);
	assert_int_equal(msg_hello_decode(&f, &out, &err), 0);
	assert_string_equal(out.name, "h01");
	assert_int_equal(out.mode, MODE_ISOLATED);
	assert_int_equal(out.epoch, 42);
	assert_false(out.persisted); /* a false that is sent, its default being true */
	assert_int_equal(out.tampers, 3);
	assert_true(out.pending);
	assert_true(out.hard);
	assert_int_equal(out.ports.n, 2);
	assert_string_equal(joined(&out.ports), "swp1,swp7");
}

static void test_ack_kinds(void **state)
{
	const char *links[] = {"eth1"};
	struct msg_ack mode_ack = {.status = ACK_PENDING_CONFIRM,
				   .epoch = 9,
				   .mode = MODE_SEGMENTED,
				   .apply_us = 150,
				   .hash = "abc",
				   .persisted = true,
				   .hard = true,
				   .links = {.v = links, .n = 1}},
		       port_ack = {.status = ACK_REFUSED,
				   .result = 22,
				   .epoch = 9,
				   .error = "port swp9: no such link",
				   .port = true,
				   .port_state = PORT_OPEN,
				   .ports = {.v = links, .n = 1}},
		       out;
	struct wire_frame f;
	const char *err;

	frame_decode(msg_ack_encode(buf, 3, &mode_ack), &f);
	assert_int_equal(msg_ack_decode(&f, &out, &err), 0);
	assert_int_equal(out.status, ACK_PENDING_CONFIRM);
	assert_int_equal(out.mode, MODE_SEGMENTED);
	assert_int_equal(out.apply_us, 150);
	assert_string_equal(out.hash, "abc");
	assert_false(out.port);
	assert_null(out.error);
	assert_string_equal(joined(&out.links), "eth1");

	frame_decode(msg_ack_encode(buf, 4, &port_ack), &f);
	assert_int_equal(msg_ack_decode(&f, &out, &err), 0);
	assert_true(out.port);
	assert_int_equal(out.port_state, PORT_OPEN);
	assert_int_equal(out.result, 22);
	assert_null(out.hash);
	assert_string_equal(out.error, "port swp9: no such link");
}

/* Every kind through the generic pair: what msg_decode fills, msg_encode
 * writes back byte for byte. */
static void test_generic_roundtrip(void **state)
{
	static char again[WIRE_MAX_FRAME];
	const char *hosts[] = {"h01", "h02", "h03"};
	struct msg_ctl_mode isolate = {.all = false,
				       .hosts = {.v = hosts, .n = 3},
				       .reason = "INC-1",
				       .timeout_ms = 3000,
				       .hard = true};
	struct msg_ctl_host row = {.name = "h02",
				   .status = HOST_ISOLATED_AT_SWITCH,
				   .mode = MODE_ISOLATED,
				   .epoch = 5,
				   .hash = "",
				   .digest = "d",
				   .connected = true,
				   .latency_us = 900,
				   .persisted = 0,
				   .error = "isolated at sw1 port p-h02"};
	struct msg_ctl_end end = {.result = 0,
				  .is_run = true,
				  .run = 4,
				  .run_name = "restore",
				  .run_state = RUN_RUNNING,
				  .stage = 0};
	struct msg_pb_stage stage = {.index = 1,
				     .name = "wave1",
				     .restore = "segmented",
				     .on_failure = ON_FAILURE_HALT,
				     .with_state = true,
				     .state = STAGE_SOAKING,
				     .approved_by = "root",
				     .detail = "soaking 60 s",
				     .hosts = {.v = hosts, .n = 2}};
	struct {
		uint16_t type;
		const void *m;
	} cases[] = {
	    {WIRE_CTL_ISOLATE, &isolate},
	    {WIRE_CTL_HOST, &row},
	    {WIRE_CTL_END, &end},
	    {WIRE_PB_STAGE, &stage},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wire_frame f;
		const char *err;
		union msg m;
		int len = msg_encode(buf, 1, cases[i].type, cases[i].m), len2;

		frame_decode(len, &f);
		assert_int_equal(msg_decode(&f, &m, &err), 0);
		/* Decoded repeated strings point into buf: encode elsewhere. */
		len2 = msg_encode(again, 1, cases[i].type, &m);
		assert_int_equal(len2, len);
		assert_memory_equal(again, buf, (size_t)len);
	}
}

static void test_required(void **state)
{
	struct wire_builder b;
	struct wire_frame f;
	struct msg_set_mode sm;
	struct msg_ack k;
	const char *err = NULL;

	/* SET_MODE without its mode. */
	wire_build_start(&b, buf, WIRE_SET_MODE, 1);
	wire_put_u64(&b, WA_EPOCH, 3);
	frame_decode(wire_build_end(&b), &f);
	assert_int_equal(msg_set_mode_decode(&f, &sm, &err), -1);
	assert_string_equal(err, "set-mode frame: no mode");
	/* A mode out of range. */
	wire_put_u8(&b, WA_MODE, 9);
	frame_decode(wire_build_end(&b), &f);
	assert_int_equal(msg_set_mode_decode(&f, &sm, &err), -1);
	assert_string_equal(err, "set-mode frame: unknown mode");
	/* An ack status nobody knows. */
	wire_build_start(&b, buf, WIRE_ACK, 1);
	wire_put_u64(&b, WA_EPOCH, 3);
	wire_put_u8(&b, WA_MODE, MODE_OPEN);
	wire_put_u32(&b, WA_RESULT, 0);
	wire_put_str(&b, WA_STATUS, "maybe");
	frame_decode(wire_build_end(&b), &f);
	assert_int_equal(msg_ack_decode(&f, &k, &err), -1);
	assert_string_equal(err, "ack frame: unknown status");
	/* A port larger than a port. */
	wire_build_start(&b, buf, WIRE_CHECK, 1);
	wire_put_u32(&b, WA_CHECK_ID, 1);
	wire_put_str(&b, WA_TARGET, "198.18.0.1");
	wire_put_u32(&b, WA_PORT, 70000);
	frame_decode(wire_build_end(&b), &f);
	{
		struct msg_check c;

		assert_int_equal(msg_check_decode(&f, &c, &err), -1);
		assert_string_equal(err, "check frame: out-of-range port");
	}
	/* The kind decoder of another kind. */
	assert_int_equal(msg_ack_decode(&f, &k, &err), -1);
	assert_string_equal(err, "a check frame where ack was expected");
}

static void test_defaults(void **state)
{
	struct wire_frame f;
	struct msg_ctl_mode m;
	struct msg_check c;
	const char *err;

	frame_decode(msg_empty_encode(buf, 1, WIRE_CTL_RELEASE), &f);
	assert_int_equal(msg_ctl_mode_decode(&f, &m, &err), 0);
	assert_true(m.release);
	assert_int_equal(m.timeout_ms, 10000);
	assert_int_equal(m.confirm_ms, 30000);
	assert_null(m.reason);
	assert_int_equal(m.hosts.n, 0);
	assert_int_equal(msg_strs_first(&m.hosts, NULL) == NULL, 1);

	frame_decode(msg_check_encode(buf, 1, &(struct msg_check){5, "2001:2::1", 0, 0, 0}), &f);
	assert_int_equal(msg_check_decode(&f, &c, &err), 0);
	assert_int_equal(c.proto, 0);
	assert_int_equal(c.timeout_ms, 0);
}

/* A check that must stay closed says so on the wire, and its line (a u64,
 * as every seq) comes back whole. */
static void test_pb_check(void **state)
{
	struct msg_pb_check in = {.from = "h01",
				  .target = "198.18.1.2",
				  .proto = IPPROTO_TCP,
				  .port = 5432,
				  .expect_open = false,
				  .timeout_ms = 2000,
				  .line = 17},
			    out;
	struct wire_frame f;
	const char *err;

	frame_decode(msg_pb_check_encode(buf, 1, &in), &f);
	assert_non_null(f.tb[WA_EXPECT]);
	assert_int_equal(mnl_attr_get_payload_len(f.tb[WA_SEQ]), sizeof(uint64_t));
	assert_int_equal(msg_pb_check_decode(&f, &out, &err), 0);
	assert_false(out.expect_open);
	assert_int_equal(out.line, 17);
	assert_int_equal(out.port, 5432);
}

/* A heartbeat names the controller, both ways, and so does a host's line
 * of an answer; an empty heartbeat (no digest, no name) still decodes. */
static void test_controller_named(void **state)
{
	struct msg_heartbeat hb;
	struct msg_ctl_host h;
	struct wire_frame f;
	const char *err;

	frame_decode(msg_heartbeat_encode(buf, 3, &(struct msg_heartbeat){.controller = "ctlB"}),
		     &f);
	assert_int_equal(msg_heartbeat_decode(&f, &hb, &err), 0);
	assert_string_equal(hb.controller, "ctlB");
	assert_null(hb.digest);

	frame_decode(msg_empty_encode(buf, 4, WIRE_HEARTBEAT), &f);
	assert_int_equal(msg_heartbeat_decode(&f, &hb, &err), 0);
	assert_null(hb.controller);

	frame_decode(msg_ctl_host_encode(buf, 0,
					 &(struct msg_ctl_host){.name = "h01",
								.hash = "",
								.connected = true,
								.controller = "ctlA",
								.persisted = -1}),
		     &f);
	assert_int_equal(msg_ctl_host_decode(&f, &h, &err), 0);
	assert_true(h.connected);
	assert_string_equal(h.controller, "ctlA");
}

/* A kept message reads its own copy of the frame. */
static void test_keep(void **state)
{
	const char *hosts[] = {"h01", "h02"};
	struct msg_pb_stage in = {.name = "wave1", .restore = "segmented", .hosts = {hosts, 2}};
	struct msg_kept *k;
	struct wire_frame f;
	const char *err;

	frame_decode(msg_pb_stage_encode(buf, 1, &in), &f);
	k = msg_keep(&f, &err);
	assert_non_null(k);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(k->type, WIRE_PB_STAGE);
	assert_string_equal(k->m.pb_stage.name, "wave1");
	assert_string_equal(joined(&k->m.pb_stage.hosts), "h01,h02");
	free(k);
}

static void test_names(void **state)
{
	for (int t = 0; t < NAMES_COUNT; t++)
		for (int v = 0; v < name_count(t); v++)
			assert_int_equal(name_parse(t, name_lookup(t, v)), v);
	assert_string_equal(host_status_name(HOST_NOT_CONNECTED), "not-connected");
	assert_string_equal(action_name(ACTION_PB_REISOLATE), "playbook re-isolate");
	assert_int_equal(stage_state_parse("awaiting-approval"), STAGE_AWAITING_APPROVAL);
	assert_int_equal(mode_parse("closed"), -1);
	assert_string_equal(mode_name((enum bulkhead_mode)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_ack_kinds),
	    cmocka_unit_test(test_generic_roundtrip),
	    cmocka_unit_test(test_required),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_pb_check),
	    cmocka_unit_test(test_keep),
	    cmocka_unit_test(test_controller_named),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
