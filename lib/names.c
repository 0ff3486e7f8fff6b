/* The one table of names of each enum in bulkhead/names.h. */
#include <string.h>

#include "bulkhead/names.h"

#define NITEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* In the order of each enum; the assertions below keep them in step. */
static const char *const mode_names[] = {"open", "segmented", "isolated"};
static const char *const ack_status_names[] = {"applied", "pending-confirm", "committed",
					       "rolled-back", "refused"};
static const char *const host_status_names[] = {"",
						"confirmed",
						"failed",
						"timeout",
						"not-connected",
						"rolled-back",
						"superseded",
						"pending-confirm",
						"isolated-at-switch",
						"pending-isolate",
						"pending-segment",
						"pending-open",
						"awaiting-confirmation",
						"changing"};
static const char *const action_names[] = {
    "isolate", "release", "apply", "confirm", "playbook reconnect", "playbook re-isolate"};
static const char *const port_state_names[] = {"open", "isolated"};
static const char *const alert_kind_names[] = {"tamper", "rollback", "deadman", "hard"};
static const char *const run_state_names[] = {"running", "halted", "aborted", "done"};
static const char *const stage_state_names[] = {
    "pending",	  "awaiting-approval", "applying", "checking", "soaking",
    "rechecking", "reisolating",       "done",	   "failed",   "aborted"};
static const char *const on_failure_names[] = {"reisolate", "halt"};
static const char *const check_state_names[] = {"-", "passed", "failed"};

_Static_assert(NITEMS(mode_names) == MODE_MAX + 1, "mode names");
_Static_assert(NITEMS(ack_status_names) == ACK_STATUS_MAX + 1, "ack_status names");
_Static_assert(NITEMS(host_status_names) == HOST_STATUS_MAX + 1, "host_status names");
_Static_assert(NITEMS(action_names) == ACTION_MAX + 1, "action names");
_Static_assert(NITEMS(port_state_names) == PORT_STATE_MAX + 1, "port_state names");
_Static_assert(NITEMS(alert_kind_names) == ALERT_KIND_MAX + 1, "alert_kind names");
_Static_assert(NITEMS(run_state_names) == RUN_STATE_MAX + 1, "run_state names");
_Static_assert(NITEMS(stage_state_names) == STAGE_STATE_MAX + 1, "stage_state names");
_Static_assert(NITEMS(on_failure_names) == ON_FAILURE_MAX + 1, "on_failure names");
_Static_assert(NITEMS(check_state_names) == CHECK_STATE_MAX + 1, "check_state names");

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
