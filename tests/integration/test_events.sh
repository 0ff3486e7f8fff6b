#!/usr/bin/env bash
# bulkheadd's events (events_file, events_exec), on a lab of three hosts of
# the example site: an isolation, a tamper alert and a one-stage playbook
# each give their JSON lines in events_file, events_exec gets the same lines
# on its stdin, and the playbook's stages show in the metrics.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SITE_HOSTS=(v5-web01 v5-app01 v5-db01)
lab_begin_site "$BH_ROOT/policies" "${SITE_HOSTS[@]}"
N=${#HOSTS[@]}
command -v curl >/dev/null || bail "missing tool: curl (scripts/install-deps)"

EVENTS=$T_TMP/events.jsonl
EXEC_OUT=$T_TMP/exec.jsonl
HOOK=$T_TMP/hook.sh
printf '#!/bin/sh\n# one event on stdin, appended to a file\ncat >>"%s"\n' "$EXEC_OUT" >"$HOOK"
chmod +x "$HOOK"
ctl_conf_set metrics_listen "127.0.0.1:$MPORT"
ctl_conf_set events_file "$EVENTS"
ctl_conf_set events_exec "$HOOK"
ctl_conf_set events_syslog true
check "bulkheadd -n accepts events_file, events_exec, events_syslog" \
	quiet "$BULKHEADD" -n -f "$LABDIR/conf/bulkheadd.yaml"
lab ctl-stop >/dev/null 2>&1
check "bulkheadd restarts with events configured" quiet lab ctl-start
check "the site's $N hosts reconnect" quiet lab wait-connected 20
ctl_status=/proc/$(daemon_pid ctl)/status
check "with events_exec, bulkheadd drops its capabilities but installs no seccomp filter" \
	eval 'grep -q "^Seccomp:[[:space:]]*0" "$ctl_status" && grep -q "^CapEff:[[:space:]]*0*$" "$ctl_status" &&
		grep -q "no seccomp filter, because events_exec runs" "$LABDIR/logs/ctl.log"'

# event_in FILE JQ-FILTER: some line of FILE is JSON and matches the filter
event_in() { [[ -f $1 ]] && jq -e -s "any(.[]; $2)" "$1" >/dev/null 2>&1; }

# ---- a command ---------------------------------------------------------------

is "$(run_cli "$T_TMP/iso" isolate "${HOSTS[@]}" --reason "events test")" 0 "isolate the $N hosts"
epoch=$(status_json | jq '[.hosts[].epoch] | max')
cmd_ev='.event == "command" and .action == "isolate" and .epoch == '$epoch' and .hosts == '$N' and .results.confirmed == '$N' and (.command_id | type) == "number" and (.time | test("^[0-9-]+T[0-9:.]+Z$"))'
check "events_file: the isolation's command event (epoch $epoch, $N confirmed)" wait_for 5 event_in "$EVENTS" "$cmd_ev"
check "events_exec got the same event on its stdin" wait_for 5 event_in "$EXEC_OUT" "$cmd_ev"

# ---- a tamper alert ------------------------------------------------------------

# An owned table cannot be touched by another process: this agent runs
# without ownership, so that the tampering takes and is undone.
TH=${HOSTS[1]}
lab agent-stop "$TH" >/dev/null 2>&1
check "$TH's agent stopped" wait_for 10 host_disconnected "$TH"
lab agent-start "$TH" -- --no-table-owner >/dev/null 2>&1
check "$TH's agent restarted with --no-table-owner and reconnects" wait_for 10 host_connected "$TH"
check "its table is back" wait_for 5 quiet nsx "$TH" nft list table inet bulkhead
check "tampering: 'nft flush table inet bulkhead' in $TH" quiet nsx "$TH" nft flush table inet bulkhead
tam_ev='.event == "alert" and .host == "'$TH'" and .kind == "tamper" and (.text | length > 0)'
check "events_file: a tamper alert event for $TH" wait_for 10 event_in "$EVENTS" "$tam_ev"
check "events_exec got the tamper alert" wait_for 5 event_in "$EXEC_OUT" "$tam_ev"
check "bulkhead_tamper_alerts_total is 1 or more" wait_for 5 eval '(( $(metric_now bulkhead_tamper_alerts_total) >= 1 ))'

# ---- a playbook stage ----------------------------------------------------------

SITE=$T_TMP/site
cp -r "$BH_ROOT/policies" "$SITE"
PB=$SITE/playbooks/events.yaml
cat >"$PB" <<EOF2
# written by test_events.sh
playbook: events-drill
description: one stage, no approval, no checks
stages:
  - name: back-web
    hosts: [${HOSTS[0]}]
    approval: none
EOF2
rc=$(run_cli "$T_TMP/run" playbook run "$PB" --policy "$SITE" --reason "test_events")
is "$rc" 0 "playbook run events.yaml exits 0"
[[ $rc == 0 ]] || diag_file "$T_TMP/run.err" 10
stage_ev() { echo '.event == "stage" and .playbook == "events-drill" and .stage == "back-web" and .index == 1 and (.run | type) == "number" and .state == "'$1'"'; }
check "events_file: stage back-web applying" wait_for 10 event_in "$EVENTS" "$(stage_ev applying)"
check "events_file: stage back-web done" wait_for 20 event_in "$EVENTS" "$(stage_ev done)"
check "events_exec got the stage's done" wait_for 5 event_in "$EXEC_OUT" "$(stage_ev done)"
check "events_file: the stage's reconnect command" event_in "$EVENTS" \
	'.event == "command" and .action == "playbook reconnect" and .hosts == 1'
check "bulkhead_playbook_stage_state{stage=\"back-web\",state=\"done\"} is 1" wait_for 5 eval \
	'scrape | grep -qE "^bulkhead_playbook_stage_state\{playbook=\"events-drill\",run=\"[0-9]+\",stage=\"back-web\",state=\"done\"\} 1$"'

# ---- every line ------------------------------------------------------------------

check "events_file: every line is one JSON object with time and event" eval \
	'jq -e -s "all(.[]; (.time | type) == \"string\" and (.event | type) == \"string\")" "$EVENTS" >/dev/null &&
	 [[ $(jq -s length "$EVENTS") == $(wc -l <"$EVENTS") ]]'
check "events_exec got as many events as events_file" wait_for 5 eval \
	'[[ $(jq -s length "$EXEC_OUT") == $(jq -s length "$EVENTS") ]]'
check "bulkhead_events_failed_total is 0" metric_is bulkhead_events_failed_total 0
diag "events:" && diag_file "$EVENTS" 12

tap_done
