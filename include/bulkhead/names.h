/* The states, actions and results that travel between the programs, as
 * enums, each with one table of names: the text on the wire, in the audit
 * log, in `bulkhead` output and in its JSON are all these names. Comparing
 * such a name anywhere else is a bug: parse it here, once, into the enum. */
#ifndef BULKHEAD_NAMES_H
#define BULKHEAD_NAMES_H

/* A host's mode (DESIGN.md: host modes). */
enum bulkhead_mode {
	MODE_OPEN = 0,
	MODE_SEGMENTED = 1,
	MODE_ISOLATED = 2,
	MODE_MAX = MODE_ISOLATED
};

/* What an agent says of a command it got. */
enum ack_status {
	ACK_APPLIED,	     /* in force */
	ACK_PENDING_CONFIRM, /* in force, rolls back unless confirmed */
	ACK_COMMITTED,	     /* a confirmation: the change stays */
	ACK_ROLLED_BACK,     /* not confirmed in time: back to the last confirmed state */
	ACK_REFUSED,	     /* nothing changed; the result says why */
	ACK_STATUS_MAX = ACK_REFUSED
};

/* A host's line in the controller's answers: its result in a command, or
 * what it is waiting for in `status` and `plan`. HOST_NONE has no name. */
enum host_status {
	HOST_NONE,
	HOST_CONFIRMED,
	HOST_FAILED,
	HOST_TIMEOUT,
	HOST_NOT_CONNECTED,
	HOST_ROLLED_BACK,
	HOST_SUPERSEDED,
	HOST_PENDING_CONFIRM, /* left for `bulkhead confirm` on purpose */
	HOST_ISOLATED_AT_SWITCH,
	HOST_PENDING_ISOLATE, /* commanded while away */
	HOST_PENDING_SEGMENT,
	HOST_PENDING_OPEN,
	HOST_AWAITING_CONFIRMATION,
	HOST_CHANGING, /* plan: a change is in flight */
	HOST_STATUS_MAX = HOST_CHANGING
};

/* What a command does, as the audit log and the CLI name it. */
enum action {
	ACTION_ISOLATE,
	ACTION_RELEASE,
	ACTION_APPLY,
	ACTION_CONFIRM,
	ACTION_PB_RECONNECT, /* a playbook stage brings its hosts back */
	ACTION_PB_REISOLATE, /* a playbook stage that failed, or was aborted */
	ACTION_MAX = ACTION_PB_REISOLATE
};

/* A switch port as the controller sets it. */
enum port_state { PORT_OPEN, PORT_ISOLATED, PORT_STATE_MAX = PORT_ISOLATED };

/* What an agent reports on its own. */
enum alert_kind {
	ALERT_TAMPER,	/* someone changed what the agent holds; undone */
	ALERT_ROLLBACK, /* a change was not confirmed in time */
	ALERT_DEADMAN,	/* isolated after losing the controller */
	ALERT_HARD,	/* hard isolation left something up, or failed to release */
	ALERT_KIND_MAX = ALERT_HARD
};

/* A playbook run, and each of its stages. */
enum run_state { RUN_RUNNING, RUN_HALTED, RUN_ABORTED, RUN_DONE, RUN_STATE_MAX = RUN_DONE };

enum stage_state {
	STAGE_PENDING,
	STAGE_AWAITING_APPROVAL,
	STAGE_APPLYING,
	STAGE_CHECKING,
	STAGE_SOAKING,
	STAGE_RECHECKING,
	STAGE_REISOLATING,
	STAGE_DONE,
	STAGE_FAILED,
	STAGE_ABORTED,
	STAGE_STATE_MAX = STAGE_ABORTED
};

/* What a failed stage does to its hosts. */
enum on_failure { ON_FAILURE_REISOLATE, ON_FAILURE_HALT, ON_FAILURE_MAX = ON_FAILURE_HALT };

/* A check of the running stage, as `playbook status` shows it. */
enum check_state { CHECK_UNKNOWN, CHECK_PASSED, CHECK_FAILED, CHECK_STATE_MAX = CHECK_FAILED };

/* The tables, for code that handles any of them (the message codec). */
enum name_table {
	NAMES_MODE,
	NAMES_ACK_STATUS,
	NAMES_HOST_STATUS,
	NAMES_ACTION,
	NAMES_PORT_STATE,
	NAMES_ALERT_KIND,
	NAMES_RUN_STATE,
	NAMES_STAGE_STATE,
	NAMES_ON_FAILURE,
	NAMES_CHECK_STATE,
	NAMES_COUNT
};
/* The name of value v, or "unknown" when it has none. */
const char *name_lookup(enum name_table t, int v);
/* The value named s, or -1. */
int name_parse(enum name_table t, const char *s);
/* One more than the largest value. */
int name_count(enum name_table t);

/* The same, typed: mode_name(MODE_OPEN), ack_status_parse("applied"), ... */
#define BULKHEAD_NAMES(type, fn)                                                                   \
	const char *fn##_name(enum type v);                                                        \
	int fn##_parse(const char *s);

BULKHEAD_NAMES(bulkhead_mode, mode)
BULKHEAD_NAMES(ack_status, ack_status)
BULKHEAD_NAMES(host_status, host_status)
BULKHEAD_NAMES(action, action)
BULKHEAD_NAMES(port_state, port_state)
BULKHEAD_NAMES(alert_kind, alert_kind)
BULKHEAD_NAMES(run_state, run_state)
BULKHEAD_NAMES(stage_state, stage_state)
BULKHEAD_NAMES(on_failure, on_failure)
BULKHEAD_NAMES(check_state, check_state)

#undef BULKHEAD_NAMES

#endif
