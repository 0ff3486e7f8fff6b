/* The one table of names of each enum in bulkhead/names.h. */
#include <string.h>

#include "bulkhead/names.h"

#define NITEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const mode_names[] = {
    [MODE_OPEN] = "open", [MODE_SEGMENTED] = "segmented", [MODE_ISOLATED] = "isolated"};

static const char *const ack_status_names[] = {
    [ACK_APPLIED] = "applied",	   [ACK_PENDING_CONFIRM] = "pending-confirm",
    [ACK_COMMITTED] = "committed", [ACK_ROLLED_BACK] = "rolled-back",
    [ACK_REFUSED] = "refused",
};

static const char *const host_status_names[] = {
    [HOST_NONE] = "",
    [HOST_CONFIRMED] = "confirmed",
    [HOST_FAILED] = "failed",
    [HOST_TIMEOUT] = "timeout",
    [HOST_NOT_CONNECTED] = "not-connected",
    [HOST_ROLLED_BACK] = "rolled-back",
    [HOST_SUPERSEDED] = "superseded",
    [HOST_PENDING_CONFIRM] = "pending-confirm",
    [HOST_ISOLATED_AT_SWITCH] = "isolated-at-switch",
    [HOST_PENDING_ISOLATE] = "pending-isolate",
    [HOST_PENDING_SEGMENT] = "pending-segment",
    [HOST_PENDING_OPEN] = "pending-open",
    [HOST_AWAITING_CONFIRMATION] = "awaiting-confirmation",
    [HOST_CHANGING] = "changing",
};

static const char *const action_names[] = {
    [ACTION_ISOLATE] = "isolate",
    [ACTION_RELEASE] = "release",
    [ACTION_APPLY] = "apply",
    [ACTION_CONFIRM] = "confirm",
    [ACTION_PB_RECONNECT] = "playbook reconnect",
    [ACTION_PB_REISOLATE] = "playbook re-isolate",
};

static const char *const port_state_names[] = {[PORT_OPEN] = "open", [PORT_ISOLATED] = "isolated"};

static const char *const alert_kind_names[] = {
    [ALERT_TAMPER] = "tamper",
    [ALERT_ROLLBACK] = "rollback",
    [ALERT_DEADMAN] = "deadman",
    [ALERT_HARD] = "hard",
};

static const char *const run_state_names[] = {[RUN_RUNNING] = "running",
					      [RUN_HALTED] = "halted",
					      [RUN_ABORTED] = "aborted",
					      [RUN_DONE] = "done"};

static const char *const stage_state_names[] = {
    [STAGE_PENDING] = "pending",	 [STAGE_AWAITING_APPROVAL] = "awaiting-approval",
    [STAGE_APPLYING] = "applying",	 [STAGE_CHECKING] = "checking",
    [STAGE_SOAKING] = "soaking",	 [STAGE_RECHECKING] = "rechecking",
    [STAGE_REISOLATING] = "reisolating", [STAGE_DONE] = "done",
    [STAGE_FAILED] = "failed",		 [STAGE_ABORTED] = "aborted",
};

static const char *const on_failure_names[] = {
    [ON_FAILURE_REISOLATE] = "reisolate", [ON_FAILURE_HALT] = "halt"};

static const char *const check_state_names[] = {
    [CHECK_UNKNOWN] = "-", [CHECK_PASSED] = "passed", [CHECK_FAILED] = "failed"};

static const struct {
	const char *const *names;
	int n;
} tables[NAMES_COUNT] = {
    [NAMES_MODE] = {mode_names, NITEMS(mode_names)},
    [NAMES_ACK_STATUS] = {ack_status_names, NITEMS(ack_status_names)},
    [NAMES_HOST_STATUS] = {host_status_names, NITEMS(host_status_names)},
    [NAMES_ACTION] = {action_names, NITEMS(action_names)},
    [NAMES_PORT_STATE] = {port_state_names, NITEMS(port_state_names)},
    [NAMES_ALERT_KIND] = {alert_kind_names, NITEMS(alert_kind_names)},
    [NAMES_RUN_STATE] = {run_state_names, NITEMS(run_state_names)},
    [NAMES_STAGE_STATE] = {stage_state_names, NITEMS(stage_state_names)},
    [NAMES_ON_FAILURE] = {on_failure_names, NITEMS(on_failure_names)},
    [NAMES_CHECK_STATE] = {check_state_names, NITEMS(check_state_names)},
};

const char *name_lookup(enum name_table t, int v)
{
	if ((unsigned)t >= NAMES_COUNT || v < 0 || v >= tables[t].n || !tables[t].names[v])
		return "unknown";
	return tables[t].names[v];
}

int name_parse(enum name_table t, const char *s)
{
	for (int i = 0; s && (unsigned)t < NAMES_COUNT && i < tables[t].n; i++)
		if (tables[t].names[i] && strcmp(s, tables[t].names[i]) == 0)
			return i;
	return -1;
}

int name_count(enum name_table t)
{
	return (unsigned)t < NAMES_COUNT ? tables[t].n : 0;
}

#define TYPED(type, fn, table)                                                                     \
	const char *fn##_name(enum type v)                                                         \
	{                                                                                          \
		return name_lookup(table, (int)v);                                                 \
	}                                                                                          \
	int fn##_parse(const char *s)                                                              \
	{                                                                                          \
		return name_parse(table, s);                                                       \
	}

TYPED(bulkhead_mode, mode, NAMES_MODE)
TYPED(ack_status, ack_status, NAMES_ACK_STATUS)
TYPED(host_status, host_status, NAMES_HOST_STATUS)
TYPED(action, action, NAMES_ACTION)
TYPED(port_state, port_state, NAMES_PORT_STATE)
TYPED(alert_kind, alert_kind, NAMES_ALERT_KIND)
TYPED(run_state, run_state, NAMES_RUN_STATE)
TYPED(stage_state, stage_state, NAMES_STAGE_STATE)
TYPED(on_failure, on_failure, NAMES_ON_FAILURE)
TYPED(check_state, check_state, NAMES_CHECK_STATE)
