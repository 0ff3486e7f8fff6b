/* Writes the seed corpora of the frame targets: one frame of every kind
 * (corpus/msg), the request streams the CLI sends (corpus/control) and a
 * kept policy file (corpus/state), with a policy compiled from a site.
 * usage: fuzz-corpus-gen SITE_DIR CORPUS_DIR */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/msg.h"
#include "bulkhead/policy.h"
#include "fuzz_util.h"

#define HASH "5d41402abc4b2a76b9719d911017c592aa5f37b8e4c6b1c6e3c5f0a1b2c3d4e5"

static _Alignas(8) unsigned char buf[WIRE_MAX_FRAME];
static const char *corpus;

/* A stream being written: frames one after another. */
static FILE *stream_open(const char *sub, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, sub, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

static void stream_put(FILE *f, uint16_t type, const union msg *m)
{
	int len = m ? msg_encode(buf, 1, type, m) : msg_empty_encode(buf, 1, type);

	if (len < 0 || fwrite(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: cannot encode\n", wire_type_name(type));
		exit(1);
	}
}

static void stream_close(FILE *f)
{
	if (fclose(f) != 0) {
		perror("fclose");
		exit(1);
	}
}

/* corpus/msg/KIND: one frame. */
static void frame_write(uint16_t type, const union msg *m)
{
	FILE *f = stream_open("msg", wire_type_name(type));

	stream_put(f, type, m);
	stream_close(f);
}

static int policy_emit(const void *frame, int len, void *arg)
{
	return fwrite(frame, 1, (size_t)len, arg) == (size_t)len ? 0 : -1;
}

static void frames_write(void)
{
	static const char *const names[] = {"web01", "db01"};
	static const uint8_t elem[WIRE_ELEM_LEN] = {4, 6, 0xbb, 1, 0xbb, 1, 10, 0, 0, 1};
	struct msg_strs two = {.v = names, .n = 2};
	union msg m;

	m.hello = (struct msg_hello){.name = "web01",
				     .mode = MODE_SEGMENTED,
				     .epoch = 7,
				     .hash = HASH,
				     .persisted = true,
				     .software = "0.1.0",
				     .tampers = 1,
				     .pending = true,
				     .hard = true,
				     .ports = two};
	frame_write(WIRE_HELLO, &m);
	m.heartbeat = (struct msg_heartbeat){.digest = HASH};
	frame_write(WIRE_HEARTBEAT, &m);
	m.set_mode = (struct msg_set_mode){
	    .epoch = 8, .mode = MODE_ISOLATED, .hash = HASH, .confirm_ms = 30000, .hard = true};
	frame_write(WIRE_SET_MODE, &m);
	m.ack = (struct msg_ack){.status = ACK_PENDING_CONFIRM,
				 .result = 0,
				 .epoch = 8,
				 .mode = MODE_ISOLATED,
				 .apply_us = 1200,
				 .hash = HASH,
				 .persisted = true,
				 .error = "no",
				 .hard = true,
				 .links = two,
				 .port = true,
				 .port_state = PORT_ISOLATED,
				 .ports = two};
	frame_write(WIRE_ACK, &m);
	m.alert = (struct msg_alert){.kind = ALERT_TAMPER, .text = "table changed", .tampers = 2};
	frame_write(WIRE_ALERT, &m);
	m.confirm = (struct msg_confirm){.epoch = 8};
	frame_write(WIRE_CONFIRM, &m);
	m.check = (struct msg_check){.id = 3,
				     .target = "2001:2::1",
				     .proto = IPPROTO_TCP,
				     .port = 443,
				     .timeout_ms = 2000};
	frame_write(WIRE_CHECK, &m);
	m.check_result = (struct msg_check_result){
	    .id = 3, .result = 111, .latency_us = 900, .error = "refused"};
	frame_write(WIRE_CHECK_RESULT, &m);
	m.port_set = (struct msg_port_set){
	    .epoch = 9, .state = PORT_ISOLATED, .ports = two, .confirm_ms = 1000};
	frame_write(WIRE_PORT_SET, &m);
	m.policy_part =
	    (struct msg_policy_part){.name = "web01",
				     .hash = HASH,
				     .part = 0,
				     .parts = 1,
				     .ctl_addrs = {.v = (const char *[]){"198.18.0.1"}, .n = 1},
				     .port = 7443,
				     .deadman_s = 60,
				     .elems_in = elem,
				     .nin = 1,
				     .elems_out = elem,
				     .nout = 1};
	frame_write(WIRE_POLICY, &m);
	m.ctl_mode = (struct msg_ctl_mode){.hosts = two,
					   .reason = "incident 42",
					   .timeout_ms = 10000,
					   .confirm_ms = 30000,
					   .hard = true};
	frame_write(WIRE_CTL_ISOLATE, &m);
	m.ctl_mode.all = true;
	m.ctl_mode.no_fallback = true;
	frame_write(WIRE_CTL_RELEASE, &m);
	m.ctl_apply = (struct msg_ctl_apply){
	    .reason = "change 7", .timeout_ms = 10000, .confirm_ms = 30000, .manual = true};
	frame_write(WIRE_CTL_APPLY, &m);
	m.ctl_confirm = (struct msg_ctl_confirm){.timeout_ms = 5000};
	frame_write(WIRE_CTL_CONFIRM, &m);
	m.ctl_audit = (struct msg_ctl_audit){.since_ms = 1700000000000, .host = "web01"};
	frame_write(WIRE_CTL_AUDIT, &m);
	m.ctl_pb_run = (struct msg_ctl_pb_run){.name = "restore-2023", .reason = "drill"};
	frame_write(WIRE_CTL_PB_RUN, &m);
	m.ctl_pb_approve = (struct msg_ctl_pb_approve){.stage = "wave1"};
	frame_write(WIRE_CTL_PB_APPROVE, &m);
	m.plan_host = (struct msg_plan_host){
	    .name = "web01", .mode = MODE_SEGMENTED, .hash = HASH, .base_hash = HASH};
	frame_write(WIRE_PLAN_HOST, &m);
	m.ctl_progress = (struct msg_ctl_progress){
	    .confirmed = 1, .total = 2, .slowest = "db01", .slowest_us = 5000};
	frame_write(WIRE_CTL_PROGRESS, &m);
	m.ctl_host = (struct msg_ctl_host){.name = "web01",
					   .status = HOST_CONFIRMED,
					   .mode = MODE_ISOLATED,
					   .epoch = 8,
					   .hash = HASH,
					   .digest = HASH,
					   .connected = true,
					   .apply_us = 1,
					   .latency_us = 2,
					   .last_seen_ms = 3,
					   .persisted = 1,
					   .error = "x",
					   .tampers = 1,
					   .hard = true};
	frame_write(WIRE_CTL_HOST, &m);
	m.ctl_end = (struct msg_ctl_end){.result = 1,
					 .error = "timeout",
					 .epoch = 8,
					 .command = 4,
					 .confirmed = 1,
					 .total = 2,
					 .elapsed_us = 9,
					 .confirm_ms = 1,
					 .is_run = true,
					 .run = 2,
					 .run_name = "restore-2023",
					 .run_state = RUN_HALTED,
					 .stage = 1};
	frame_write(WIRE_CTL_END, &m);
	m.audit_row = (struct msg_audit_row){.seq = 1,
					     .time_ms = 2,
					     .actor = "root",
					     .action = "isolate",
					     .host = "web01",
					     .reason = "r",
					     .result = "ok",
					     .detail = "d"};
	frame_write(WIRE_CTL_AUDIT_ROW, &m);
	m.pb_stage = (struct msg_pb_stage){.index = 1,
					   .name = "wave1",
					   .restore = "restricted backup-only",
					   .approval = true,
					   .soak_ms = 5000,
					   .on_failure = ON_FAILURE_HALT,
					   .with_state = true,
					   .state = STAGE_SOAKING,
					   .approved_by = "root",
					   .detail = "d",
					   .hosts = two};
	frame_write(WIRE_PB_STAGE, &m);
	m.pb_check = (struct msg_pb_check){.stage = 1,
					   .from = "web01",
					   .target_name = "db01",
					   .target = "198.18.0.2",
					   .proto = IPPROTO_TCP,
					   .port = 5432,
					   .expect_open = true,
					   .timeout_ms = 2000,
					   .line = 12,
					   .with_state = true,
					   .state = CHECK_PASSED};
	frame_write(WIRE_PB_CHECK, &m);
	frame_write(WIRE_CTL_STATUS, NULL);
}

/* The smallest host policy of the site that has elements both ways. */
static struct host_policy *policy_pick(const char *site)
{
	struct policy *p = policy_load_at(site, FUZZ_TODAY, conf_error_stderr, NULL, NULL);
	struct host_policy *best = NULL;

	if (!p)
		exit(1);
	for (size_t i = 0; i < policy_host_count(p); i++) {
		struct host_policy *hp = policy_host_compile(p, policy_host_name(p, i));

		if (hp && hp->nin && hp->nout &&
		    (!best || hp->nin + hp->nout < best->nin + best->nout)) {
			host_policy_free(best);
			best = hp;
		} else {
			host_policy_free(hp);
		}
	}
	policy_free(p);
	if (!best)
		exit(1);
	return best;
}

static void streams_write(const struct host_policy *hp)
{
	static const char *const one[] = {"web01"};
	union msg m;
	FILE *f;

	f = stream_open("control", "isolate");
	m.ctl_mode = (struct msg_ctl_mode){.hosts = {.v = one, .n = 1}, .reason = "incident"};
	stream_put(f, WIRE_CTL_ISOLATE, &m);
	stream_close(f);

	f = stream_open("control", "apply");
	m.ctl_apply = (struct msg_ctl_apply){.reason = "change", .timeout_ms = 10000};
	stream_put(f, WIRE_CTL_APPLY, &m);
	m.plan_host = (struct msg_plan_host){
	    .name = hp->host, .mode = MODE_SEGMENTED, .hash = hp->hash, .base_hash = ""};
	stream_put(f, WIRE_PLAN_HOST, &m);
	policy_wire_encode(hp, buf, policy_emit, f);
	stream_put(f, WIRE_CTL_APPLY_END, NULL);
	stream_close(f);

	f = stream_open("control", "playbook-run");
	m.ctl_pb_run = (struct msg_ctl_pb_run){.name = "restore-2023", .reason = "drill"};
	stream_put(f, WIRE_CTL_PB_RUN, &m);
	m.pb_stage = (struct msg_pb_stage){.name = "wave1", .restore = "segmented"};
	stream_put(f, WIRE_PB_STAGE, &m);
	m.pb_check = (struct msg_pb_check){.from = hp->host,
					   .target = "198.18.0.2",
					   .proto = IPPROTO_TCP,
					   .port = 22,
					   .expect_open = true};
	stream_put(f, WIRE_PB_CHECK, &m);
	m.plan_host = (struct msg_plan_host){.name = hp->host, .hash = hp->hash};
	stream_put(f, WIRE_PLAN_HOST, &m);
	policy_wire_encode(hp, buf, policy_emit, f);
	stream_put(f, WIRE_CTL_APPLY_END, NULL);
	stream_close(f);

	f = stream_open("state", "policy");
	policy_wire_encode(hp, buf, policy_emit, f);
	stream_close(f);
}

int main(int argc, char **argv)
{
	struct host_policy *hp;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SITE_DIR CORPUS_DIR\n", argv[0]);
		return 2;
	}
	corpus = argv[2];
	frames_write();
	hp = policy_pick(argv[1]);
	streams_write(hp);
	host_policy_free(hp);
	return 0;
}
