/* Typed messages: one struct per frame kind, with one encoder and one
 * decoder each, for the agent protocol (over TLS) and the control protocol
 * (the unix socket). The CLI, the controller, the agent and the test
 * stand-ins build and read frames only through these; the decoders are
 * the one surface hostile input reaches.
 *
 * An encoder writes into a buffer of WIRE_MAX_FRAME bytes and returns the
 * frame's length, or -1 when it does not fit. A decoder takes a frame that
 * wire_frame_decode accepted, checks what the kind requires (attributes
 * present, names known), fills the struct and returns 0, or -1 with *err.
 * Strings of a decoded message point into the frame: they live as long as
 * its buffer. */
#ifndef BULKHEAD_MSG_H
#define BULKHEAD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/names.h"
#include "bulkhead/wire.h"

/* A repeated string attribute. To encode, set v and n; a decoded one reads
 * the frame in place (v is NULL). */
struct msg_strs {
	const char *const *v;
	int n;
	const struct nlmsghdr *nlh; /* decoded: the frame */
	uint16_t attr;
};

/* Calls fn for each string in order; stops and returns -1 when fn does. */
int msg_strs_foreach(const struct msg_strs *l, int (*fn)(const char *s, void *arg), void *arg);
/* The first string, or dflt when there is none. */
const char *msg_strs_first(const struct msg_strs *l, const char *dflt);

/* --- agent <-> controller --- */

struct msg_hello {
	const char *name;
	enum bulkhead_mode mode;
	uint64_t epoch;
	const char *hash; /* policy held, "" for none */
	bool persisted;
	const char *software;
	uint32_t tampers;
	bool pending; /* a change awaits its confirmation */
	bool hard;
	struct msg_strs ports; /* switch ports held isolated */
};

/* Both ways. The controller's names it; the agent's carries the digest of
 * what its kernel holds and the name of the controller it is on. */
struct msg_heartbeat {
	const char *digest;	/* NULL: none */
	const char *controller; /* NULL: not said */
};

struct msg_set_mode {
	uint64_t epoch;
	enum bulkhead_mode mode;
	const char *hash;    /* NULL: keep the policy held */
	uint32_t confirm_ms; /* 0: needs no confirmation */
	bool hard;
};

/* The answer to SET_MODE, CONFIRM or PORT_SET (port set), or a rollback
 * the agent did by itself (sequence number 0). */
struct msg_ack {
	enum ack_status status;
	uint32_t result; /* 0 or an errno */
	uint64_t epoch;
	enum bulkhead_mode mode;
	uint64_t apply_us;
	const char *hash; /* NULL in port acks */
	bool persisted;
	const char *error; /* NULL: none */
	bool hard;
	struct msg_strs links; /* what hard isolation holds down */
	bool port;	       /* about switch ports, not the host's mode */
	enum port_state port_state;
	struct msg_strs ports;
};

struct msg_alert {
	enum alert_kind kind;
	const char *text;
	uint32_t tampers;
};

struct msg_confirm {
	uint64_t epoch;
};

struct msg_check {
	uint32_t id;
	const char *target; /* an address literal */
	uint8_t proto;	    /* IPPROTO_TCP or IPPROTO_ICMP */
	uint16_t port;
	uint32_t timeout_ms;
};

struct msg_check_result {
	uint32_t id;
	uint32_t result; /* 0 reached, else an errno */
	uint64_t latency_us;
	const char *error;
};

struct msg_port_set {
	uint64_t epoch;
	enum port_state state;
	struct msg_strs ports;
	uint32_t confirm_ms;
};

/* One part of a host policy (policy_wire.c reassembles them). */
struct msg_policy_part {
	const char *name, *hash;
	uint32_t part, parts;
	struct msg_strs ctl_addrs, collectors; /* part 0 */
	uint32_t port, deadman_s;	       /* part 0 */
	const void *elems_in, *elems_out;      /* WIRE_ELEM_LEN bytes each */
	uint32_t nin, nout;
};

/* --- CLI <-> controller --- */

/* isolate and release. */
struct msg_ctl_mode {
	bool release; /* WIRE_CTL_RELEASE, else WIRE_CTL_ISOLATE */
	bool all;
	struct msg_strs hosts;
	const char *reason; /* NULL: none given */
	uint32_t timeout_ms;
	uint32_t confirm_ms; /* release */
	bool hard, no_fallback;
};

/* apply: then the plan's frames, then WIRE_CTL_APPLY_END. */
struct msg_ctl_apply {
	const char *reason;
	uint32_t timeout_ms, confirm_ms;
	bool manual;
};

/* confirm. */
struct msg_ctl_confirm {
	uint32_t timeout_ms;
};

struct msg_ctl_audit {
	uint64_t since_ms;
	const char *host; /* NULL: every host */
};

/* playbook run: then its stages, checks and host policies, then APPLY_END. */
struct msg_ctl_pb_run {
	const char *name, *reason;
};

/* playbook approve. */
struct msg_ctl_pb_approve {
	const char *stage; /* NULL: the one waiting */
};

/* approve: a request held for a second operator, by its number. */
struct msg_ctl_approve {
	uint64_t id;
};

/* One host of a plan, before its policy frames. */
struct msg_plan_host {
	const char *name;
	enum bulkhead_mode mode;
	const char *hash;
	const char *base_hash; /* the policy the plan was made against */
};

struct msg_ctl_progress {
	uint32_t confirmed, total;
	const char *slowest; /* NULL: none yet */
	uint64_t slowest_us;
};

/* One host: in a command's result, in status, or in the policies list.
 * Fields that do not apply are left out of the frame. */
struct msg_ctl_host {
	const char *name;
	enum host_status status;
	enum bulkhead_mode mode;
	uint64_t epoch;
	const char *hash, *digest;
	bool connected;
	uint64_t apply_us, latency_us, last_seen_ms;
	int persisted; /* -1: no answer */
	const char *error;
	uint32_t tampers;
	bool hard;
	const char *controller; /* holding the host's session; NULL or "": none */
	bool with_result;	/* apply_us, latency_us and persisted are in the frame */
};

/* An answer's result, besides 0 (done) and 1 (not all of it was done). */
enum ctl_result {
	CTL_RESULT_HELD = 3,	/* held until a second operator approves it */
	CTL_RESULT_DENIED = 77, /* the caller's role does not allow the request */
};

/* The last frame of every answer. */
struct msg_ctl_end {
	uint32_t result; /* 0 ok, else the command did not do all it was asked */
	const char *error;
	uint64_t epoch, command;
	uint32_t confirmed, total;
	uint64_t elapsed_us;
	uint32_t confirm_ms; /* left for `bulkhead confirm` within this */
	bool is_run;	     /* playbook status: the fields below */
	uint64_t run;
	const char *run_name;
	enum run_state run_state;
	uint32_t stage;
};

struct msg_audit_row {
	uint64_t seq, time_ms;
	const char *actor, *action, *host, *reason, *result, *detail;
};

/* A stage, in a run request or in `playbook status`. */
struct msg_pb_stage {
	uint32_t index;
	const char *name, *restore;
	bool approval;
	uint32_t soak_ms;
	enum on_failure on_failure;
	bool with_state; /* status: the fields below */
	enum stage_state state;
	const char *approved_by, *detail;
	struct msg_strs hosts;
};

/* A check of a stage: in a run request (with its timeout and line), or in
 * status (with its stage and state). */
struct msg_pb_check {
	uint32_t stage;
	const char *from, *target_name, *target;
	uint8_t proto;
	uint16_t port;
	bool expect_open;
	uint32_t timeout_ms;
	uint64_t line; /* a u64 on the wire, as every WA_SEQ */
	bool with_state;
	enum check_state state;
};

#define MSG_CODEC(kind)                                                                            \
	int msg_##kind##_encode(void *buf, uint32_t seq, const struct msg_##kind *m);              \
	int msg_##kind##_decode(const struct wire_frame *f, struct msg_##kind *m, const char **err);

MSG_CODEC(hello)
MSG_CODEC(heartbeat)
MSG_CODEC(set_mode)
MSG_CODEC(ack)
MSG_CODEC(alert)
MSG_CODEC(confirm)
MSG_CODEC(check)
MSG_CODEC(check_result)
MSG_CODEC(port_set)
MSG_CODEC(policy_part)
MSG_CODEC(ctl_mode)
MSG_CODEC(ctl_apply)
MSG_CODEC(ctl_confirm)
MSG_CODEC(ctl_audit)
MSG_CODEC(ctl_pb_run)
MSG_CODEC(ctl_pb_approve)
MSG_CODEC(ctl_approve)
MSG_CODEC(plan_host)
MSG_CODEC(ctl_progress)
MSG_CODEC(ctl_host)
MSG_CODEC(ctl_end)
MSG_CODEC(audit_row)
MSG_CODEC(pb_stage)
MSG_CODEC(pb_check)

#undef MSG_CODEC

/* A frame with no attributes (status, policies, apply-end, audit-verify,
 * playbook status, abort, resume). */
int msg_empty_encode(void *buf, uint32_t seq, uint16_t type);

/* Any frame, by its type: the decoder of its kind. */
union msg {
	struct msg_hello hello;
	struct msg_heartbeat heartbeat;
	struct msg_set_mode set_mode;
	struct msg_ack ack;
	struct msg_alert alert;
	struct msg_confirm confirm;
	struct msg_check check;
	struct msg_check_result check_result;
	struct msg_port_set port_set;
	struct msg_policy_part policy_part;
	struct msg_ctl_mode ctl_mode;
	struct msg_ctl_apply ctl_apply;
	struct msg_ctl_confirm ctl_confirm;
	struct msg_ctl_audit ctl_audit;
	struct msg_ctl_pb_run ctl_pb_run;
	struct msg_ctl_pb_approve ctl_pb_approve;
	struct msg_ctl_approve ctl_approve;
	struct msg_plan_host plan_host;
	struct msg_ctl_progress ctl_progress;
	struct msg_ctl_host ctl_host;
	struct msg_ctl_end ctl_end;
	struct msg_audit_row audit_row;
	struct msg_pb_stage pb_stage;
	struct msg_pb_check pb_check;
};
int msg_decode(const struct wire_frame *f, union msg *m, const char **err);

/* A decoded message that holds its own copy of the frame, so that its
 * strings outlive the buffer the frame was read into. free() releases it. */
struct msg_kept {
	uint16_t type;
	union msg m;
	_Alignas(max_align_t) unsigned char frame[];
};
/* msg_decode into a new msg_kept; NULL with *err when f does not decode. */
struct msg_kept *msg_keep(const struct wire_frame *f, const char **err);
/* Encodes what msg_decode filled, as a frame of the same type. */
int msg_encode(void *buf, uint32_t seq, uint16_t type, const union msg *m);

#endif
