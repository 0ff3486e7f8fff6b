#!/usr/bin/env bash
# Staged reconnection (issue 4, "What must be shown"): a full drill on a lab
# of the whole example site (policies/, 51 hosts), with a playbook the test
# writes into a copy of policies/ (so that it controls hosts, checks, gates
# and soaks):
#   stage 1 s1-v5          v5 web, app and db tiers  gate, soak 2s
#   stage 2 s2-batch-mail  v5-batch01 and mail01     gate, soak 1s, one check
#                                                    that fails at run time
#   stage 3 s3-hr          the HR tier               gate, soak 10s
#   stage 4 s4-ce          the company edition       gate, soak 60s
# The other 29 hosts are in no stage and must stay isolated throughout.
#  1. isolate --all: status says all 51 isolated, flows that worked are cut.
#  2. stage 1 waits for approval (status), its hosts still cut off (traffic);
#     after approve its checks pass, its hosts are segmented with the policy
#     the dry run announced, an allowed flow works; hosts of later stages are
#     still cut off (flows the policy allows once they are back: fail now).
#  3. stage 2's failing check re-isolates its hosts (status, traffic, audit),
#     the run halts; resume re-runs it from its gate and it fails again; the
#     cause is repaired, resume, and it passes.
#  4. bulkheadd is SIGKILLed right after stage 3's approval and again in its
#     soak, and restarted each time: the log says "resuming", the stage
#     completes, the audit log has exactly one 'playbook reconnect' for it,
#     the agents were confirmed (no rollback), stage 4's hosts stayed cut off.
#  5. abort during stage 4's soak: its hosts are isolated again, the run is
#     aborted (playbook status, the store), earlier stages stay.
# 5b. a second run (drill2, one stage of the v3.4 tier): bulkheadd is killed
#     while the stage's checks run and one checking agent comes back 1.5 s
#     after the restart: the stage must still pass.
#  6. audit verify passes; an edited row makes it exit 1 naming the row (and
#     undoing the edit makes it pass again); the timeline lists the drill's
#     steps in order, in text, markdown and csv.
#
# The failing check (stage 2) is "from v5-batch01 connect 198.19.240.10
# tcp/443": the e-gov filing API (groups.yaml e-gov, 198.19.240.0/24, part of
# 198.18.0.0/15), which the rules allow to the filers (v5-batch01 is one).
# 'playbook check' accepts it: beyond the inventory only the source's side is
# known ("unknown beyond the inventory"). In the lab no host has that address
# and nothing routes to it (hosts have 198.18.0.0/16 on link and no default
# route), so the agent's connect fails with "Network is unreachable": the
# policy allows the flow, the network cannot deliver it - an uplink that is
# down. After two failures the test repairs it: the switch namespace (the
# lab's network, no agent there) gets 198.19.240.10 on its bridge and
# v5-batch01 a route to 198.19.240.0/24 over its link; nothing listens on 443,
# so the connect is answered with a RST, which is what the check accepts.
#
# A lab prefix of its own, whatever the environment says.
export BH_LAB_PREFIX=bhK$$
export BH_LAB_DIR=/run/bulkhead-lab/$BH_LAB_PREFIX
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# bulkheadd restarts mid-run: run a copy of the binaries.
bin_snapshot

STOPPED=() # agents the test stopped (SIGSTOP), until it lets them go
_p_cleanup() {
	local rc=$? p
	for p in "${STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done
	bin_snapshot_remove
	(exit $rc)
	_t_cleanup
}

if [[ $(id -u) == 0 ]]; then
	command -v sqlite3 >/dev/null || bail "missing tool: sqlite3 (apt-get install -y sqlite3)"
fi

phase_init "lab up-site"
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

lab_begin_site "$BH_ROOT/policies"
trap _p_cleanup EXIT
N=${#HOSTS[@]}
diag "site lab: $N hosts"
[[ -n $T_SNAP ]] && diag "binaries: a copy of $T_SNAP_FROM ($(date -r "$T_SNAP_FROM/controller/bulkheadd" +%FT%T) bulkheadd) in $T_SNAP"

SOCK=$LABDIR/ctl.sock
CLOG=$LABDIR/logs/ctl.log
DB=$LABDIR/state/ctl/bulkhead.db
cli() { timeout 20 "$BULKHEAD" -s "$SOCK" "$@"; }
sq() { timeout 10 sqlite3 -readonly "$DB" "$1" 2>&1; } # read-only query of the controller's store

# ---- the playbook ------------------------------------------------------------
SITE=$T_TMP/site
cp -r "$BH_ROOT/policies" "$SITE"
PB=$SITE/playbooks/drill.yaml
EGOV=198.19.240.10
cat >"$PB" <<EOF
# written by test_playbook.sh
playbook: drill
description: test_playbook drill
stages:
  - name: s1-v5
    hosts: [v5-web, v5-app, v5-db]
    approval: required
    soak: 2s
    checks:
      - from: v5-app
        connect: v5-db01 tcp/5432
      - from: v5-web01
        connect: v5-app01 tcp/9000
      - from: v5-app01           # mail01 comes back at stage 2
        connect: mail01 tcp/25
        expect: closed
        timeout: 1s
  - name: s2-batch-mail
    hosts: [v5-batch01, mail01]
    approval: required
    soak: 1s
    checks:
      - from: v5-app01
        connect: mail01 tcp/25
      - from: v5-batch01         # e-gov: allowed, but not routed in the lab (see the top)
        connect: $EGOV tcp/443
        timeout: 1s
  - name: s3-hr
    hosts: [hr-web, hr-app, hr-db]
    approval: required
    soak: 10s                    # longer than the agents take to come back after a kill (see part 4)
    checks:
      - from: hr-app
        connect: hr-db01 tcp/5432
      - from: hr-app01           # the company edition comes back at stage 4
        connect: ce-db01 tcp/5432
        expect: closed
        timeout: 1s
  - name: s4-ce
    hosts: [ce-web, ce-app, ce-db]
    approval: required
    soak: 60s
    checks:
      - from: ce-web
        connect: ce-app02 tcp/9000
EOF
# the line a check is reported by: its "- from:" line
EGOV_LINE=$(grep -n -- '- from: v5-batch01 ' "$PB" | cut -d: -f1)
S1_HOSTS="v5-web01 v5-web02 v5-web03 v5-app01 v5-app02 v5-app03 v5-db01 v5-db02"
S2_HOSTS="mail01 v5-batch01"
S3_HOSTS="hr-web01 hr-web02 hr-app01 hr-app02 hr-db01 hr-db02"
S4_HOSTS="ce-web01 ce-web02 ce-app01 ce-app02 ce-db01 ce-db02"
# shellcheck disable=SC2086
REST=$(printf '%s\n' "${HOSTS[@]}" | grep -vxF -f <(printf '%s\n' $S1_HOSTS $S2_HOSTS $S3_HOSTS $S4_HOSTS) | tr '\n' ' ')

# Flows between hosts of one stage, that the policy allows once they are
# back ("tcp FROM TO FAMILY PORT", see lib.sh traffic)
F_S1=("tcp v5-web01 v5-app01 4 9000" "tcp v5-web02 v5-app01 6 9000")
F_S2=("tcp v5-app01 mail01 4 25" "tcp v5-app03 mail01 6 25" "tcp v5-app02 v5-batch01 4 8105")
F_S3=("tcp hr-app01 hr-db01 4 5432" "tcp hr-app02 hr-db01 6 5432")
F_S4=("tcp ce-web01 ce-app02 4 9000" "tcp ce-web02 ce-app02 6 9000")

# ---- helpers -------------------------------------------------------------------
pbj() { cli playbook status --json 2>/dev/null; }
stage_field() { # STAGE FIELD [JSON]: a field of a stage in playbook status --json
	local j=${3:-$(pbj)}
	jq -r --arg s "$1" --arg f "$2" '.stages[] | select(.name == $s) | .[$f] | tostring' <<<"$j" 2>/dev/null
}
stage_is() { [[ $(stage_field "$1" state) == "$2" ]]; }
stage_states() { pbj | jq -r '[.stages[] | "\(.name)=\(.state)"] | join(" ")' 2>/dev/null; }
# check results of a stage: "FROM>TO=RESULT ..."
stage_checks() { jq -r --arg s "$1" '.stages[] | select(.name == $s) | [.checks[] | "\(.from)>\(.to)=\(.result)"] | join(" ")' <<<"$2" 2>/dev/null; }
# hosts_not MODE HOST...: "COUNT FOUND HOST=MODE..." for those not in MODE
hosts_not() {
	local m=$1
	shift
	status_json | jq -r --arg m "$m" '[.hosts[] | select(.name as $n | $ARGS.positional | index($n))] as $s |
		"\($s | length) found" + ([$s[] | select(.mode != $m) | " \(.name)=\(.mode)"] | join(""))' --args "$@" 2>&1
}
# hosts_in MODE LABEL HOST...: a TAP line, ok if every HOST is in MODE
hosts_in() {
	local m=$1 label=$2 got
	shift 2
	got=$(hosts_not "$m" "$@")
	is "$got" "$# found" "$label: status says all $# $m"
}
# audit_count ACTION STAGE: commands of a stage in the audit log (the
# 'started' row each command writes once)
audit_count() {
	sq "SELECT count(*) FROM audit WHERE action = '$1' AND host = '' AND result = 'started'
		AND (actor = 'playbook drill, stage $2' OR actor LIKE 'playbook drill, stage $2,%')"
}
audit_rows() { # ACTION DETAIL_LIKE: rows of that action whose detail matches
	sq "SELECT count(*) FROM audit WHERE action = '$1' AND detail LIKE '$2'"
}
# wait_stage_done_tracking STAGE SECS: wait until STAGE is done (or failed);
# meanwhile keep the last status in which it was soaking (SOAK_JSON): the
# results of the first round of checks (rechecking sends them all again)
wait_stage_done_tracking() {
	local s=$1 deadline j st
	SOAK_JSON="" SEEN=""
	deadline=$(($(date +%s%N) + $2 * 1000000000))
	while (($(date +%s%N) < deadline)); do
		j=$(pbj)
		st=$(stage_field "$s" state "$j")
		[[ $SEEN == *" $st" ]] || SEEN+=" $st"
		[[ $st == soaking ]] && SOAK_JSON=$j
		[[ $st == "done" || $st == failed ]] && return 0
		sleep 0.15
	done
	return 1
}
# policy hashes the dry run announces: "HOST HASH12" per line
dry_hashes() {
	awk '/\[ruleset [0-9a-f]+\]$/ { h = $NF; sub(/\]$/, "", h); for (i = 1; i < NF - 1; i++) print $i, h }' "$T_TMP/dry.out" | sort
}
status_hashes() { # HOST...: "HOST HASH12" from status --json
	status_json | jq -r '.hosts[] | select(.name as $n | $ARGS.positional | index($n)) | "\(.name) \(.policy_hash // "none" | .[0:12])"' --args "$@" | sort
}
# in_order FILE PATTERN...: every PATTERN (ERE) matches a line of FILE, each
# on a later line than the one before; prints the line numbers, or what is
# missing
in_order() {
	local f=$1
	shift
	printf '%s\n' "$@" | awk '
		NR == FNR { p[++n] = $0; next }
		k < n && $0 ~ p[k + 1] { k++; at = at (k > 1 ? " " : "") FNR }
		END {
			if (k == n) print "in order: lines " at
			else print "missing after line " (at ? at : "0") ": /" p[k + 1] "/"
		}' - "$f"
}
ctl_pid() { daemon_pid ctl; }

# ---- listeners and the oracle ------------------------------------------------
phase "0. listeners, the policy says the flows are allowed"
lfail=""
for f in "${F_S1[@]}" "${F_S2[@]}" "${F_S3[@]}" "${F_S4[@]}"; do
	read -r _ _ to _ port <<<"$f"
	bg_alive "echo-$to-$port" && continue
	bg_ns "echo-$to-$port" "$to" timeout "$T_MAX" socat "TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork" PIPE
done
for f in "${F_S1[@]}" "${F_S2[@]}" "${F_S3[@]}" "${F_S4[@]}"; do
	read -r _ _ to _ port <<<"$f"
	wait_for 5 port_listening "$to" "$port" || lfail+="$to:$port "
done
is "$lfail" "" "TCP echo listeners up on v5-app01:9000 mail01:25 v5-batch01:8105 hr-db01:5432 ce-app02:9000"
ebad=""
for f in "${F_S1[@]}" "${F_S2[@]}" "${F_S3[@]}" "${F_S4[@]}"; do
	read -r _ from to _ port <<<"$f"
	"$BULKHEAD" explain "$SITE" --from "$from" --to "$to" "tcp/$port" >/dev/null 2>&1 || ebad+="$from->$to:$port "
done
is "$ebad" "" "bulkhead explain: every test flow is allowed by the policy once both ends are back"
traffic open "before the incident (hosts open)" "${F_S1[@]}" "${F_S2[@]}" "${F_S3[@]}" "${F_S4[@]}"

# ==== 1. isolate --all ========================================================
phase "1. isolate --all"
rc=$(run_cli "$T_TMP/iso" isolate --all --reason "test_playbook: ransomware drill")
is "$rc" 0 "isolate --all exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/iso.out"; diag_file "$T_TMP/iso.err"; }
hosts_in isolated "after isolate --all" "${HOSTS[@]}"
traffic blocked "isolated" "${F_S1[@]}" "${F_S2[@]}" "${F_S3[@]}" "${F_S4[@]}"

# ==== 2. stage 1: gate, approve, checks; later stages still cut off ===========
phase "2. the playbook; stage 1"
"$BULKHEAD" playbook check --policy "$SITE" "$PB" >"$T_TMP/pbcheck.out" 2>&1
is "$?" 0 "playbook check drill.yaml exits 0"
diag "$(head -n 1 "$T_TMP/pbcheck.out")"
"$BULKHEAD" playbook run --dry-run --policy "$SITE" "$PB" >"$T_TMP/dry.out" 2>"$T_TMP/dry.err"
is "$?" 0 "playbook run --dry-run drill.yaml exits 0"
check "dry run: the e-gov check is not judged ('unknown beyond the inventory'), so only the run can fail it" \
	eval 'grep -A1 -F "v5-batch01 -> $EGOV tcp/443: must be open" "$T_TMP/dry.out" | grep -q "unknown beyond the inventory"'
rc=$(run_cli "$T_TMP/run" playbook run "$PB" --policy "$SITE" --reason "test_playbook: restore drill")
is "$rc" 0 "playbook run exits 0"
check "playbook run: 'playbook drill started as run N: 4 stages'" grep -qE '^playbook drill started as run [0-9]+: 4 stages$' "$T_TMP/run.out"
[[ $rc == 0 ]] || { diag_file "$T_TMP/run.out"; diag_file "$T_TMP/run.err"; }
pbj >"$T_TMP/pb0.json"
is "$(jq -r '[.stages[] | "\(.name)=\(.state)"] | join(" ")' "$T_TMP/pb0.json" 2>&1)" \
	"s1-v5=awaiting-approval s2-batch-mail=pending s3-hr=pending s4-ce=pending" \
	"playbook status --json: stage 1 awaiting-approval, the others pending"
is "$(jq -r '[.stages[] | .hosts] | join(" | ")' "$T_TMP/pb0.json" 2>&1)" "$S1_HOSTS | $S2_HOSTS | $S3_HOSTS | $S4_HOSTS" \
	"playbook status --json: the stages' hosts as the groups expand"
hosts_in isolated "stage 1 awaiting approval" "${HOSTS[@]}"
traffic blocked "stage 1 not approved yet" "${F_S1[@]}"

rc=$(run_cli "$T_TMP/appr1" playbook approve s1-v5)
is "$rc" 0 "playbook approve s1-v5 exits 0"
t_appr=$(now)
wait_stage_done_tracking s1-v5 20
diag "stage 1 went through:$SEEN ($(elapsed "$t_appr") s after approve)"
is "$(stage_field s1-v5 state)" "done" "stage 1 done"
is "$(stage_checks s1-v5 "$SOAK_JSON")" \
	"v5-app01>v5-db01=passed v5-app02>v5-db01=passed v5-app03>v5-db01=passed v5-web01>v5-app01=passed v5-app01>mail01=passed" \
	"stage 1 while soaking: its 5 checks passed (3 open to v5-db01, 1 open to v5-app01, 1 closed to mail01)"
check "stage 1 detail: '8 hosts back, 5 checks passed'" eval '[[ $(stage_field s1-v5 detail) == "8 hosts back, 5 checks passed"* ]]'
wait_for 5 stage_is s2-batch-mail awaiting-approval
is "$(stage_states)" "s1-v5=done s2-batch-mail=awaiting-approval s3-hr=pending s4-ce=pending" "then stage 2 waits at its gate"
# shellcheck disable=SC2086
hosts_in segmented "stage 1 done" $S1_HOSTS
# shellcheck disable=SC2086
is "$(status_hashes $S1_HOSTS)" "$(dry_hashes | grep -E "^($(tr ' ' '|' <<<"$S1_HOSTS")) ")" \
	"stage 1's hosts run the policy hashes the dry run announced"
# shellcheck disable=SC2086
hosts_in isolated "stage 1 done: every host of a later stage or none" $S2_HOSTS $S3_HOSTS $S4_HOSTS $REST
traffic open "stage 1 back" "${F_S1[@]}"
traffic blocked "stage 1 back, later stages still cut off" "${F_S2[@]}" "${F_S3[@]}" "${F_S4[@]}"

# ==== 3. a failing check re-isolates; resume ==================================
phase "3. stage 2: a check that fails"
AUD0=$(sq "SELECT max(seq) FROM audit")
rc=$(run_cli "$T_TMP/appr2" playbook approve s2-batch-mail)
is "$rc" 0 "playbook approve s2-batch-mail exits 0"
t_appr=$(now)
wait_stage_done_tracking s2-batch-mail 20
pbj >"$T_TMP/pb2.json"
diag "stage 2 went through:$SEEN ($(elapsed "$t_appr") s after approve)"
is "$(stage_field s2-batch-mail state "$(cat "$T_TMP/pb2.json")")" failed "stage 2 failed"
d2=$(stage_field s2-batch-mail detail "$(cat "$T_TMP/pb2.json")")
diag "stage 2: $d2"
want_re="^check from v5-batch01 to ${EGOV//./\\.} tcp/443 \\(line $EGOV_LINE\\) failed.*; re-isolated$"
check "stage 2 detail names the check and its line ($EGOV_LINE), and says re-isolated" eval '[[ $d2 =~ $want_re ]]'
is "$(stage_checks s2-batch-mail "$(cat "$T_TMP/pb2.json")")" "v5-app01>mail01=passed v5-batch01>$EGOV=failed" \
	"stage 2's checks: v5-app01 -> mail01 passed (the stage was up), v5-batch01 -> e-gov failed"
is "$(sq "SELECT group_concat(action || ':' || host || ':' || result, ' ') FROM (SELECT * FROM audit WHERE seq > $AUD0
	AND action IN ('playbook reconnect', 'playbook re-isolate') ORDER BY seq)")" \
	"playbook reconnect::started playbook reconnect:mail01:confirmed playbook reconnect:v5-batch01:confirmed playbook reconnect::done playbook re-isolate::started playbook re-isolate:mail01:confirmed playbook re-isolate:v5-batch01:confirmed playbook re-isolate::done" \
	"audit: stage 2 reconnected both hosts (confirmed), then re-isolated both (confirmed)"
is "$(sq "SELECT state FROM pb_runs ORDER BY id DESC LIMIT 1")" halted "the run is halted (pb_runs in the store)"
# shellcheck disable=SC2086
hosts_in isolated "stage 2 re-isolated" $S2_HOSTS
traffic blocked "stage 2 re-isolated" "${F_S2[@]}"
# shellcheck disable=SC2086
hosts_in segmented "stage 2 re-isolated: stage 1 stays" $S1_HOSTS
traffic open "stage 2 re-isolated: stage 1 stays" "${F_S1[0]}"

# resume without repairing anything: the same failure
rc=$(run_cli "$T_TMP/res1" playbook resume)
is "$rc" 0 "playbook resume exits 0"
diag "$(cat "$T_TMP/res1.out" "$T_TMP/res1.err")"
is "$(stage_states)" "s1-v5=done s2-batch-mail=awaiting-approval s3-hr=pending s4-ce=pending" \
	"resume: stage 2 starts again from its gate"
# shellcheck disable=SC2086
hosts_in isolated "resumed, stage 2 at its gate" $S2_HOSTS
rc=$(run_cli "$T_TMP/appr2b" playbook approve s2-batch-mail)
is "$rc" 0 "playbook approve s2-batch-mail (second time) exits 0"
wait_for 15 eval '[[ $(audit_rows "playbook stage re-isolated" "%stage s2-batch-mail: check from v5-batch01 to $EGOV tcp/443%") == 2 ]]'
is "$(audit_rows "playbook stage re-isolated" "%stage s2-batch-mail: check from v5-batch01 to $EGOV tcp/443%")" 2 \
	"resumed without a repair: the check fails again, stage 2 re-isolated a second time (audit)"
wait_for 5 stage_is s2-batch-mail failed
is "$(stage_field s2-batch-mail state)" failed "stage 2 failed again"
is "$(audit_count "playbook reconnect" s2-batch-mail) $(audit_count "playbook re-isolate" s2-batch-mail)" "2 2" \
	"audit: stage 2 reconnected twice and re-isolated twice"
# shellcheck disable=SC2086
hosts_in isolated "stage 2 re-isolated again" $S2_HOSTS
traffic blocked "stage 2 re-isolated again" "${F_S2[@]}"

# the repair: the uplink to e-gov (see the top of the file)
if ip -n "$(ns_name sw)" addr add "$EGOV/24" dev br0 &&
	ip -n "$(ns_name sw)" route add 198.18.0.0/16 dev br0 &&
	ip -n "$(ns_name v5-batch01)" route add 198.19.240.0/24 dev eth0; then
	tap_ok "repair: $EGOV on the switch's bridge, v5-batch01 routes 198.19.240.0/24"
else
	tap_not_ok "repair: $EGOV on the switch's bridge, v5-batch01 routes 198.19.240.0/24"
fi
rc=$(run_cli "$T_TMP/res2" playbook resume)
is "$rc" 0 "playbook resume (after the repair) exits 0"
wait_for 5 stage_is s2-batch-mail awaiting-approval
rc=$(run_cli "$T_TMP/appr2c" playbook approve s2-batch-mail)
is "$rc" 0 "playbook approve s2-batch-mail (third time) exits 0"
t_appr=$(now)
wait_stage_done_tracking s2-batch-mail 20
diag "stage 2 went through:$SEEN ($(elapsed "$t_appr") s after approve)"
is "$(stage_field s2-batch-mail state)" "done" "repaired: stage 2 done"
is "$(stage_checks s2-batch-mail "$SOAK_JSON")" "v5-app01>mail01=passed v5-batch01>$EGOV=passed" "repaired: stage 2's checks passed while soaking"
wait_for 5 stage_is s3-hr awaiting-approval
is "$(stage_states)" "s1-v5=done s2-batch-mail=done s3-hr=awaiting-approval s4-ce=pending" "then stage 3 waits at its gate"
# shellcheck disable=SC2086
hosts_in segmented "stage 2 done" $S1_HOSTS $S2_HOSTS
traffic open "stage 2 back" "${F_S2[@]}"
traffic blocked "stage 2 back, stages 3 and 4 still cut off" "${F_S3[@]}" "${F_S4[@]}"

# ==== 4. bulkheadd killed in stage 3, twice ====================================
# Kill 1 lands right after the approval, with the stage's reconnect sent and
# no host's answer in yet: the six agents are stopped (SIGSTOP) before the
# approval and let go once bulkheadd is dead, so that the point of the kill
# does not depend on how fast they ack. (A kill after their acks, while the
# checks run, is part 5b.) Kill 2 lands at the start of the 10 s soak; the
# agents are back (reconnect backoff) well before it ends.
phase "4. SIGKILL bulkheadd during stage 3"
declare -A AOFF
for h in $S3_HOSTS; do AOFF[$h]=$(log_size "$LABDIR/logs/$h.log"); done
coff=$(log_size "$CLOG")
cpid=$(ctl_pid)
check "bulkheadd is running (pid ${cpid:-none})" test -n "$cpid"
STOPPED=()
for h in $S3_HOSTS; do
	p=$(daemon_pid "$h") && kill -STOP "$p" && STOPPED+=("$p")
done
is "${#STOPPED[@]}" 6 "kill 1: stage 3's six agents stopped (SIGSTOP) before the approval"
cli playbook approve s3-hr >"$T_TMP/appr3.out" 2>&1
arc=$?
line=$(wait_log "$CLOG" "$coff" 'playbook reconnect by .*: epoch [0-9]+, 6 hosts' 5)
check "kill 1: 'playbook approve s3-hr' (exit $arc), and bulkheadd sent the reconnect: ${line#* info: }" test -n "$line"
check "kill 1: SIGKILL bulkheadd with the reconnect sent, no answer in" kill9_wait "${cpid:-0}"
for p in "${STOPPED[@]}"; do kill -CONT "$p"; done
STOPPED=()
k1=$(sq "SELECT state || ' ' || (approved_by != '') FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 2")
k1_acked=$(sq "SELECT count(*) FROM hosts WHERE epoch = (SELECT epoch FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 2)
	AND name IN ('$(sed "s/ /','/g" <<<"$S3_HOSTS")')")
is "$k1 $k1_acked" "applying 1 0" "kill 1: the store had stage 3 approved and applying, none of its 6 hosts recorded at the stage's epoch"
check "kill 1: bulkheadd restarts (lab ctl-start)" quiet lab ctl-start
line=$(wait_log "$CLOG" "$coff" 'playbook drill \(run [0-9]+\) is running at stage 3 "s3-hr" \([a-z-]+\): resuming' 10)
check "kill 1: the log says the run is resuming at stage 3" test -n "$line"
diag "kill 1: ${line:-no resuming line}"
check "kill 1: every agent reconnects" quiet lab wait-connected 20
wait_for 15 stage_is s3-hr soaking
is "$(stage_field s3-hr state)" soaking "stage 3 reaches its soak after the restart"
coff=$(log_size "$CLOG")
cpid=$(ctl_pid)
check "kill 2: SIGKILL bulkheadd while stage 3 soaks" kill9_wait "${cpid:-0}"
k2=$(sq "SELECT state FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 2")
is "$k2" soaking "kill 2: the store had stage 3 soaking"
# stage 4's hosts while the controller is down: still cut off
traffic blocked "controller down, stage 4 not begun" "${F_S4[0]}"
check "kill 2: bulkheadd restarts (lab ctl-start)" quiet lab ctl-start
line=$(wait_log "$CLOG" "$coff" 'playbook drill \(run [0-9]+\) is running at stage 3 "s3-hr" \(soaking\): resuming' 10)
check "kill 2: the log says the run is resuming at stage 3 (soaking)" test -n "$line"
diag "kill 2: ${line:-no resuming line}"
check "kill 2: every agent reconnects" quiet lab wait-connected 20
t3=$(now)
wait_stage_done_tracking s3-hr 20
diag "stage 3 after the second restart:$SEEN ($(elapsed "$t3") s)"
is "$(stage_field s3-hr state)" "done" "stage 3 done after two controller kills"
d3=$(stage_field s3-hr detail)
check "stage 3 detail: '6 hosts back, 3 checks passed' ($d3)" eval '[[ $d3 == "6 hosts back, 3 checks passed"* ]]'
wait_for 5 stage_is s4-ce awaiting-approval
is "$(stage_states)" "s1-v5=done s2-batch-mail=done s3-hr=done s4-ce=awaiting-approval" "then stage 4 waits at its gate"
is "$(audit_count "playbook reconnect" s3-hr)" 1 "audit: exactly one 'playbook reconnect' command for stage 3"
is "$(audit_count "playbook re-isolate" s3-hr)" 0 "audit: no re-isolation of stage 3"
is "$(audit_count "playbook reconnect" s1-v5) $(audit_count "playbook reconnect" s2-batch-mail)" "1 3" \
	"audit: one reconnect for stage 1, three for stage 2 (two failures, one success)"
E3=$(sq "SELECT epoch FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 2")
bad="" rb=""
for h in $S3_HOSTS; do
	log_since "$LABDIR/logs/$h.log" "${AOFF[$h]}" | grep -q "epoch $E3: confirmed" || bad+="$h "
	log_since "$LABDIR/logs/$h.log" "${AOFF[$h]}" | grep -qiE 'roll(ed)? ?back' && rb+="$h "
done
is "$bad" "" "every stage 3 agent logged 'epoch $E3: confirmed' (the restarted controller confirmed the change)"
is "$rb" "" "no stage 3 agent rolled back"
# shellcheck disable=SC2086
hosts_in segmented "stage 3 done" $S1_HOSTS $S2_HOSTS $S3_HOSTS
# shellcheck disable=SC2086
is "$(status_json | jq -r '.hosts[] | select(.name as $n | $ARGS.positional | index($n)) | .epoch' --args $S3_HOSTS | sort -u)" "$E3" \
	"stage 3's hosts are at the stage's epoch $E3 (applied once)"
# shellcheck disable=SC2086
hosts_in isolated "stage 3 done, after two restarts: stage 4 and the rest" $S4_HOSTS $REST
traffic open "stage 3 back" "${F_S3[@]}"
traffic blocked "stage 3 back, stage 4 still cut off" "${F_S4[@]}"

# ==== 5. abort ===================================================================
phase "5. abort during stage 4"
rc=$(run_cli "$T_TMP/appr4" playbook approve s4-ce)
is "$rc" 0 "playbook approve s4-ce exits 0"
wait_for 15 stage_is s4-ce soaking
is "$(stage_field s4-ce state)" soaking "stage 4 soaking (60 s)"
# shellcheck disable=SC2086
hosts_in segmented "stage 4 soaking" $S4_HOSTS
traffic open "stage 4 soaking" "${F_S4[@]}"
rc=$(run_cli "$T_TMP/abort" playbook abort)
is "$rc" 0 "playbook abort exits 0"
diag "abort: $(cat "$T_TMP/abort.out" "$T_TMP/abort.err")"
check "abort says 'aborted at stage s4-ce; its hosts are being re-isolated'" \
	grep -q 'aborted at stage s4-ce; its hosts are being re-isolated' "$T_TMP/abort.out"
cli playbook status --json >"$T_TMP/pb5.json" 2>"$T_TMP/pb5.err"
prc=$?
cli playbook status >"$T_TMP/pb5.txt" 2>&1
is "$(stage_field s4-ce state "$(cat "$T_TMP/pb5.json")")" aborted "playbook status --json after abort: stage s4-ce aborted"
[[ $(stage_field s4-ce state "$(cat "$T_TMP/pb5.json")") == aborted ]] ||
	diag "playbook status --json exited $prc: $(cat "$T_TMP/pb5.json" "$T_TMP/pb5.err")" "playbook status: $(cat "$T_TMP/pb5.txt")"
is "$(sq "SELECT state FROM pb_runs ORDER BY id DESC LIMIT 1") $(sq "SELECT state FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 3")" \
	"aborted aborted" "the store: run aborted, stage 4 aborted"
# shellcheck disable=SC2086
wait_for 10 eval '[[ $(hosts_not isolated $S4_HOSTS) == "6 found" ]]'
# shellcheck disable=SC2086
hosts_in isolated "aborted: stage 4's hosts" $S4_HOSTS
traffic blocked "aborted: stage 4 re-isolated" "${F_S4[@]}"
# shellcheck disable=SC2086
hosts_in segmented "aborted: stages 1-3 stay" $S1_HOSTS $S2_HOSTS $S3_HOSTS
traffic open "aborted: stages 1-3 stay" "${F_S1[0]}" "${F_S2[0]}" "${F_S3[0]}"
# shellcheck disable=SC2086
hosts_in isolated "after the drill: the hosts of no stage" $REST
is "$(audit_count "playbook reconnect" s4-ce) $(audit_count "playbook re-isolate" s4-ce)" "1 1" "audit: stage 4 reconnected once, re-isolated once (the abort)"

# ==== 5b. bulkheadd killed while a stage's checks run =============================
# A second run, one stage. bulkheadd is killed while the stage is checking,
# and one agent that runs a check (v34-web01) is slow to come back: it is
# stopped (SIGSTOP) before bulkheadd restarts and let go 1.5 s after the
# "resuming" line, well within the check's 2 s timeout plus the controller's
# grace. Resuming where it was means running the checks once the agents are
# back, and the stage passes; a check must not fail because its agent had not
# reconnected yet.
phase "5b. SIGKILL bulkheadd while a stage's checks run"
PB2=$SITE/playbooks/drill2.yaml
cat >"$PB2" <<'EOF2'
# written by test_playbook.sh
playbook: drill2
stages:
  - name: t1-v34
    hosts: [v34-web, v34-app]
    approval: required
    checks:
      - from: v34-web01
        connect: v34-app01 tcp/9000
      - from: v34-app02          # v34-db is still isolated; keeps the stage checking for 3 s
        connect: v34-db01 tcp/5432
        expect: closed
        timeout: 3s
EOF2
T1_HOSTS="v34-web01 v34-web02 v34-app01 v34-app02"
rc=$(run_cli "$T_TMP/run2" playbook run "$PB2" --policy "$SITE" --reason "test_playbook: second run")
is "$rc" 0 "playbook run drill2 exits 0 (after the abort)"
[[ $rc == 0 ]] || { diag_file "$T_TMP/run2.out"; diag_file "$T_TMP/run2.err"; }
rc=$(run_cli "$T_TMP/appr5" playbook approve t1-v34)
is "$rc" 0 "playbook approve t1-v34 exits 0"
wait_for 10 stage_is t1-v34 checking
is "$(stage_field t1-v34 state)" checking "drill2: stage t1-v34 checking"
coff=$(log_size "$CLOG")
cpid=$(ctl_pid)
check "kill 3: SIGKILL bulkheadd while t1-v34 is checking" kill9_wait "${cpid:-0}"
k3=$(sq "SELECT state FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 0")
is "$k3" checking "kill 3: the store had t1-v34 checking"
apid=$(daemon_pid v34-web01)
if [[ -n $apid ]] && kill -STOP "$apid"; then
	STOPPED=("$apid")
	tap_ok "v34-web01's agent stopped (SIGSTOP, pid $apid) while bulkheadd is down"
else
	tap_not_ok "v34-web01's agent stopped (SIGSTOP) while bulkheadd is down"
fi
check "kill 3: bulkheadd restarts (lab ctl-start)" quiet lab ctl-start
line=$(wait_log "$CLOG" "$coff" 'playbook drill2 \(run [0-9]+\) is running at stage 1 "t1-v34" \(checking\): resuming' 10)
check "kill 3: the log says the run is resuming at t1-v34 (checking)" test -n "$line"
sleep 1.5
for p in "${STOPPED[@]}"; do kill -CONT "$p"; done
STOPPED=()
check "kill 3: every agent reconnects (v34-web01 let go 1.5 s after the restart)" quiet lab wait-connected 20
wait_stage_done_tracking t1-v34 20
d5=$(stage_field t1-v34 detail)
diag "t1-v34 after the restart:$SEEN: $d5"
is "$(stage_field t1-v34 state)" "done" "kill 3: t1-v34 done: its checks ran once their agents were back"
[[ $(stage_field t1-v34 state) == "done" ]] || diag "controller log since the restart:" "$(log_since "$CLOG" "$coff" | grep -v ': connected' | head -n 12)"
is "$(audit_rows "playbook stage failed" "%stage t1-v34:%not connected%")" 0 "audit: no check of t1-v34 failed as 'agent ... not connected'"
# shellcheck disable=SC2086
hosts_in segmented "drill2 after the restart" $T1_HOSTS
# leave no run behind whatever happened
[[ $(sq "SELECT state FROM pb_runs ORDER BY id DESC LIMIT 1") == "done" ]] || run_cli "$T_TMP/abort2" playbook abort >/dev/null

# ==== 6. the record ==============================================================
phase "6. audit verify, timeline"
rc=$(run_cli "$T_TMP/verify" audit verify)
is "$rc" 0 "audit verify exits 0 after the drill"
diag "$(cat "$T_TMP/verify.out" "$T_TMP/verify.err")"
check "audit verify says intact" grep -q 'intact' "$T_TMP/verify.out"
STEPS=(
	'isolate: 51 of 51 hosts confirmed'
	'playbook run started'
	'playbook stage approved.*stage s1-v5'
	'playbook reconnect: 8 of 8 hosts confirmed'
	'playbook stage done.*stage s1-v5: 8 hosts back'
	'playbook stage approved.*stage s2-batch-mail'
	'playbook stage failed.*stage s2-batch-mail: check from v5-batch01 to 198\.19\.240\.10 tcp/443'
	'playbook re-isolate: 2 of 2 hosts confirmed'
	'playbook stage re-isolated.*stage s2-batch-mail'
	'playbook run resumed.*at stage s2-batch-mail'
	'playbook stage re-isolated.*stage s2-batch-mail'
	'playbook run resumed.*at stage s2-batch-mail'
	'playbook stage done.*stage s2-batch-mail: 2 hosts back'
	'playbook stage approved.*stage s3-hr'
	'playbook stage done.*stage s3-hr: 6 hosts back'
	'playbook stage approved.*stage s4-ce'
	'playbook reconnect: 6 of 6 hosts confirmed'
	'playbook run aborted.*at stage s4-ce'
	'playbook re-isolate: 6 of 6 hosts confirmed'
)
for fmt in text markdown csv; do
	rc=$(run_cli "$T_TMP/tl-$fmt" timeline --format "$fmt")
	is "$rc" 0 "timeline --format $fmt exits 0"
	res=$(in_order "$T_TMP/tl-$fmt.out" "${STEPS[@]}")
	check "timeline --format $fmt: the drill's ${#STEPS[@]} steps in order (isolate, approvals, done, re-isolations, resumes, abort)" \
		eval '[[ $res == "in order:"* ]]'
	diag "$fmt: $res"
	[[ $res == "in order:"* ]] || diag_file "$T_TMP/tl-$fmt.out" 40
done
check "timeline text: the approvals name who approved (root (uid 0, ...)" \
	eval '[[ $(grep -cE "playbook stage approved.*by root \(uid 0" "$T_TMP/tl-text.out") -ge 5 ]]'
check "timeline markdown: a table (header, separator, every row '| ... |')" eval \
	'[[ $(sed -n 1p "$T_TMP/tl-markdown.out") == "| Date and time (UTC) |"* && $(sed -n 2p "$T_TMP/tl-markdown.out") == "|---|"* ]] &&
	 ! tail -n +3 "$T_TMP/tl-markdown.out" | grep -qv "^| .* |$"'
check "timeline csv: header, then every row five quoted fields" eval \
	'[[ $(sed -n 1p "$T_TMP/tl-csv.out") == "time_utc,what,hosts,by,reason" ]] &&
	 ! tail -n +2 "$T_TMP/tl-csv.out" | grep -qvE "^\"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\",\"[^\"]*\",\"[^\"]*\",\"[^\"]*\",\"[^\"]*\"$"'
is "$(($(wc -l <"$T_TMP/tl-csv.out") - 1)) $(($(wc -l <"$T_TMP/tl-markdown.out") - 2))" "$(wc -l <"$T_TMP/tl-text.out") $(wc -l <"$T_TMP/tl-text.out")" \
	"the three formats list the same number of steps ($(wc -l <"$T_TMP/tl-text.out"))"

# an edited row: the approval of stage 1, its reason changed
SEQ=$(sq "SELECT seq FROM audit WHERE action = 'playbook stage approved' AND detail LIKE '%stage s1-v5' ORDER BY seq LIMIT 1")
ORIG=$(sq "SELECT reason FROM audit WHERE seq = ${SEQ:-0}")
check "the audit row of stage 1's approval (seq ${SEQ:-none}, reason '$ORIG')" test -n "$SEQ"
timeout 10 sqlite3 "$DB" "UPDATE audit SET reason = 'x' WHERE seq = ${SEQ:-0}"
is "$?" 0 "sqlite3: UPDATE audit SET reason = 'x' WHERE seq = $SEQ"
rc=$(run_cli "$T_TMP/verify2" audit verify)
is "$rc" 1 "audit verify exits 1 after the edit"
diag "$(cat "$T_TMP/verify2.out" "$T_TMP/verify2.err")"
check "audit verify names row $SEQ as edited" grep -qE "row $SEQ [^0-9].*edited|row $SEQ$|row $SEQ:" "$T_TMP/verify2.out" "$T_TMP/verify2.err"
timeout 10 sqlite3 "$DB" "UPDATE audit SET reason = '$(sed "s/'/''/g" <<<"$ORIG")' WHERE seq = ${SEQ:-0}"
rc=$(run_cli "$T_TMP/verify3" audit verify)
is "$rc" 0 "audit verify exits 0 again once the row is put back as it was"

phase "done"
diag "total $(elapsed "$T_START") s"
tap_done
