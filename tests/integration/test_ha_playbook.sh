#!/usr/bin/env bash
# A playbook run on two controllers sharing the lab's PostgreSQL store (lab
# up N --store postgresql --controllers 2): the leader is killed with
# SIGKILL in the middle of a stage, and the other controller, leading with
# a newer term, reads the run from the store and finishes that stage
# exactly once; the later stage is approved and run once on it.
#
#   stage s1-a   h01 h02   gate   runs on ctlA, the leader
#   stage s2-b   h03 h04   gate   h04 is cut off from both controllers
#                                 (lab partition) before the approval, so
#                                 that the stage waits for it in "applying";
#                                 ctlA is killed there, h04 heals, and ctlB
#                                 finishes the stage
#   stage s3-c   h05 h06   gate   approved and run on ctlB
#   h07 is in no stage and stays isolated.
#
# Then a second run, ha2, one stage t1-h07 (h07) on ctlB: h07 is cut off
# from both controllers while its check runs (a connect to an address no
# node has, about 3 s), so the check fails (no answer) and the stage's
# re-isolation (on_failure: reisolate) waits for h07; ctlB is killed
# there, h07 heals, and ctlA, leading with the next term, finishes the
# re-isolation once and halts the run.
#
# What is counted (the audit log in the store): every stage's reconnect
# command once ('playbook reconnect' ... 'started'), one 'playbook stage
# done' row per stage, no re-isolation, one 'leader' row per term.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=7
PORT=8080
VOID=198.18.0.250 # on the lab's link, no node has it
export BH_LAB_HEARTBEAT_MS=250 BH_LAB_DEAD_MS=1000
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [[ -z ${BH_LAB_PG_BIN:-} ]]; then
	echo "1..0 # SKIP no PostgreSQL server programs (apt-get install postgresql)"
	exit 0
fi
if ! grep -q HAVE_LIBPQ "$BH_BUILD/build.ninja" 2>/dev/null; then
	echo "1..0 # SKIP bulkheadd built without libpq"
	exit 0
fi
_lab_start "lab up $N --store postgresql --controllers 2: ctlA and ctlB, $N agents connected" \
	-- up "$N" --store postgresql --controllers 2

psql_q() { lab psql -Atc "$1" 2>>"$T_TMP/psql.err"; }
on() { # CTL ARGS...: the CLI on one controller
	local c=$1
	shift
	timeout 30 "$LAB" ctl --on "$c" -- "$@"
}
leader() { psql_q "SELECT name FROM bh_leader"; }
term() { psql_q "SELECT term FROM bh_leader"; }
# held_by CTL: how many hosts CTL holds the session of
held_by() {
	on "$1" status --json 2>/dev/null | jq --arg me "$1" \
		'[.hosts[] | select((.controller // (if .connected then $me else "" end)) == $me)] | length' 2>/dev/null
}
all_on() { [[ $(held_by "$1") == "$N" ]]; }
held_on() { # CTL HOST: CTL holds HOST's session
	on "$1" status --json 2>/dev/null | jq -e --arg me "$1" --arg h "$2" \
		'.hosts[] | select(.name == $h) | (.controller // (if .connected then $me else "" end)) == $me' >/dev/null
}
pbj() { on "$1" playbook status --json 2>/dev/null; }
stage_state() { pbj "$1" | jq -r --arg s "$2" '.stages[] | select(.name == $s) | .state' 2>/dev/null; }
stage_is() { [[ $(stage_state "$1" "$2") == "$3" ]]; }
# mode_on CTL HOST
mode_on() { on "$1" status --json 2>/dev/null | jq -r --arg h "$2" '.hosts[] | select(.name == $h) | .mode' 2>/dev/null; }
# audit rows of the run: commands of a stage (the row each writes once), and
# the playbook's own rows about a stage
cmd_count() { # ACTION STAGE [PLAYBOOK]
	local pb=${3:-ha}
	psql_q "SELECT count(*) FROM audit WHERE action = '$1' AND host = '' AND result = 'started'
		AND (actor = 'playbook $pb, stage $2' OR actor LIKE 'playbook $pb, stage $2,%')"
}
pb_rows() { # ACTION STAGE [PLAYBOOK]
	psql_q "SELECT count(*) FROM audit WHERE action = '$1' AND detail LIKE '${3:-ha} (run %): stage $2:%'"
}
stage_db() { psql_q "SELECT state FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = $1"; }

is "$(leader)" ctlA "ctlA leads (it started first), term $(term)"
TERM0=$(term)
check "every agent is on ctlA" wait_for 10 all_on ctlA

# ---- a policy site for the lab's hosts, and the playbook ----
SITE=$T_TMP/site
mkdir -p "$SITE/playbooks"
cat >"$SITE/management.yaml" <<EOF
management:
  controllers: [198.18.0.1, 198.18.0.3]
  port: 7443
EOF
cat >"$SITE/services.yaml" <<EOF
services:
  echo: [tcp/$PORT]
  ping: [icmp]
EOF
cat >"$SITE/groups.yaml" <<EOF
groups:
  lab:
    match: {role: lab}
  void:
    networks: [$VOID/32]
EOF
cat >"$SITE/rules.yaml" <<EOF
rules:
  - from: lab
    to: lab
    services: [echo, ping]
    comment: the lab's hosts talk to each other
  - from: lab
    to: void
    services: [echo]
    comment: an address on the lab's link that no node has (run ha2's failing check)
EOF
{
	echo "hosts:"
	for h in "${HOSTS[@]}"; do
		printf '  - name: %s\n    addresses: [%s, "%s"]\n    profile: linux-server\n    labels: {role: lab}\n' \
			"$h" "${H4[$h]}" "${H6[$h]}"
	done
} >"$SITE/inventory.yaml"
PB=$SITE/playbooks/ha.yaml
cat >"$PB" <<EOF
playbook: ha
description: three stages; the leader dies in the second
stages:
  - name: s1-a
    hosts: [h01, h02]
    approval: required
    checks:
      - from: h01
        connect: h02 tcp/$PORT
  - name: s2-b
    hosts: [h03, h04]
    approval: required
    checks:
      - from: h03
        connect: h04 tcp/$PORT
      - from: h04
        connect: h01 tcp/$PORT
  - name: s3-c
    hosts: [h05, h06]
    approval: required
    checks:
      - from: h05
        connect: h06 tcp/$PORT
      - from: h06            # h07 is in no stage
        connect: h07 tcp/$PORT
        expect: closed
        timeout: 1s
EOF
check "the lab's policy site passes bulkhead check" quiet "$BULKHEAD" check "$SITE"
lfail=""
for h in h01 h02 h04 h06 h07; do listen_echo "$h" "$PORT" || lfail+="$h "; done
is "$lfail" "" "TCP echo listeners on port $PORT"

rc=0
on ctlA isolate --all --reason "test_ha_playbook" --no-fallback >"$T_TMP/iso.out" 2>&1 || rc=$?
is "$rc" 0 "isolate --all on ctlA exits 0"
rc=0
on ctlA playbook run "$PB" --policy "$SITE" --reason "test_ha_playbook: restore" >"$T_TMP/run.out" 2>&1 || rc=$?
is "$rc" 0 "playbook run on ctlA (the leader) exits 0"
[[ $rc == 0 ]] || diag_file "$T_TMP/run.out"

# ---- stage 1 on ctlA ----
check "s1-a waits for approval" wait_for 15 stage_is ctlA s1-a awaiting-approval
check "playbook approve s1-a on ctlA" quiet on ctlA playbook approve s1-a
check "s1-a done on ctlA" wait_for 30 stage_is ctlA s1-a "done"
check "s2-b waits for approval" wait_for 10 stage_is ctlA s2-b awaiting-approval

# ---- stage 2: ctlA killed while the stage waits for h04 ----
lab partition h04
check "h04 cut off from both controllers: no longer on ctlA" wait_for 15 eval '! held_on ctlA h04'
CLOG=$LABDIR/logs/ctl.log
CLOGB=$LABDIR/logs/ctlB.log
offa=$(log_size "$CLOG")
offb=$(log_size "$CLOGB")
check "playbook approve s2-b on ctlA" quiet on ctlA playbook approve s2-b
line=$(wait_log "$CLOG" "$offa" 'playbook reconnect by .*: epoch [0-9]+, 2 hosts' 10)
check "ctlA sent s2-b's reconnect: ${line#* info: }" test -n "$line"
check "h03 segmented through ctlA, h04 not (cut off)" \
	wait_for 15 eval '[[ $(mode_on ctlA h03) == segmented && $(mode_on ctlA h04) == isolated ]]'
is "$(stage_state ctlA s2-b)" applying "s2-b is applying on ctlA: it waits for h04"
is "$(stage_db 1)" applying "the store has s2-b applying"
E2=$(psql_q "SELECT epoch FROM pb_stages WHERE run_id = (SELECT max(id) FROM pb_runs) AND idx = 1")
check "the store has s2-b's epoch ($E2)" eval '[[ ${E2:-0} -gt 0 ]]'
T0=$(date +%s%N)
check "SIGKILL ctlA, the leader, in the middle of s2-b" kill9_wait "$(daemon_pid ctl)"
lab heal h04
check "ctlB leads once ctlA's lock is gone" wait_for 10 eval '[[ $(leader) == ctlB ]]'
diag "ctlB leads $(ms_since "$T0") ms after the kill"
is "$(term)" "$((TERM0 + 1))" "ctlB took term $((TERM0 + 1))"
line=$(wait_log "$CLOGB" "$offb" "ctlB leads \\(term $((TERM0 + 1))\\)" 5)
check "ctlB's log: ${line#* info: }" test -n "$line"
check "every agent moves to ctlB, h04 too once healed" wait_for 30 all_on ctlB
diag "every agent on ctlB $(ms_since "$T0") ms after the kill"
check "ctlB finishes s2-b" wait_for 40 eval 'stage_is ctlB s2-b "done"'
[[ $(stage_state ctlB s2-b) == "done" ]] || diag "$(on ctlB playbook status 2>&1)" "$(log_since "$CLOGB" "$offb" | grep -i playbook | tail -n 10)"
diag "s2-b done $(ms_since "$T0") ms after the kill"
is "$(psql_q "SELECT string_agg(name || '=' || epoch, ' ' ORDER BY name) FROM hosts WHERE name IN ('h03', 'h04')")" \
	"h03=$E2 h04=$E2" "h03 and h04 at s2-b's epoch $E2 (the stage applied once)"
is "$(mode_on ctlB h04)" segmented "h04 segmented, through ctlB"
check "ctlA restarts as a follower" quiet lab ctl-start ctlA

# ---- stage 3 on ctlB ----
check "s3-c waits for approval on ctlB" wait_for 10 stage_is ctlB s3-c awaiting-approval
rc=0
on ctlA playbook approve s3-c >"$T_TMP/appr-a.out" 2>&1 || rc=$?
check "approve on ctlA, the follower, is refused (exit $rc): $(head -c 160 "$T_TMP/appr-a.out")" test "$rc" -ne 0
check "playbook approve s3-c on ctlB" quiet on ctlB playbook approve s3-c
check "s3-c done on ctlB" wait_for 30 stage_is ctlB s3-c "done"
pbj ctlB >"$T_TMP/final.json"
is "$(jq -r '.state' "$T_TMP/final.json")" "done" "ctlB's playbook status --json: the run is done"
is "$(jq -r '[.stages[] | "\(.name)=\(.state)"] | join(" ")' "$T_TMP/final.json")" \
	"s1-a=done s2-b=done s3-c=done" "every stage done"
is "$(psql_q "SELECT state FROM pb_runs ORDER BY id DESC LIMIT 1")" "done" "the store: the run is done"
is "$(pbj ctlA | jq -r '.state' 2>/dev/null)" "done" "ctlA's playbook status (a follower: the stored run) says done too"
is "$(mode_on ctlB h07)" isolated "h07, in no stage, is still isolated"

# ---- exactly once ----
for s in s1-a s2-b s3-c; do
	is "$(cmd_count 'playbook reconnect' $s) $(cmd_count 'playbook re-isolate' $s)" "1 0" \
		"$s: one reconnect command, no re-isolation"
	is "$(pb_rows 'playbook stage reconnect' $s) $(pb_rows 'playbook stage done' $s)" "1 1" \
		"$s: one 'stage reconnect' row, one 'stage done' row"
done
is "$(psql_q "SELECT count(*) FROM audit WHERE action = 'playbook stage approved' AND detail LIKE '%stage s3-c'") \
$(psql_q "SELECT count(*) FROM audit WHERE action = 'playbook run done'")" "1 1" "one approval of s3-c, one 'run done'"
is "$(psql_q "SELECT count(*) FROM audit WHERE action = 'leader'")" "$(term)" "one 'leader' audit row per term ($(term))"
rb=""
for h in h03 h04; do grep -qiE 'roll(ed)? ?back' "$LABDIR/logs/$h.log" && rb+="$h "; done
is "$rb" "" "no agent of s2-b rolled back"

# ---- a second run: ctlB killed while a stage is re-isolated ----
PB2=$SITE/playbooks/ha2.yaml
cat >"$PB2" <<EOF
playbook: ha2
stages:
  - name: t1-h07
    hosts: [h07]
    approval: required
    on_failure: reisolate
    checks:
      - from: h07            # allowed, but no node has the address: runs about 3 s
        connect: $VOID tcp/$PORT
        timeout: 5s
EOF
rc=0
on ctlB playbook run "$PB2" --policy "$SITE" --reason "test_ha_playbook: second run" >"$T_TMP/run2.out" 2>&1 || rc=$?
is "$rc" 0 "playbook run ha2 on ctlB, the leader, exits 0"
[[ $rc == 0 ]] || diag_file "$T_TMP/run2.out"
check "t1-h07 waits for approval" wait_for 10 stage_is ctlB t1-h07 awaiting-approval
check "playbook approve t1-h07 on ctlB" quiet on ctlB playbook approve t1-h07
check "t1-h07 checking on ctlB (h07 back)" wait_for 20 stage_is ctlB t1-h07 checking
lab partition h07
check "t1-h07's check fails, ctlB re-isolates h07, which does not answer (cut off)" \
	wait_for 20 stage_is ctlB t1-h07 reisolating
is "$(stage_db 0)" reisolating "the store has t1-h07 re-isolating"
TERM1=$(term)
T0=$(date +%s%N)
check "SIGKILL ctlB, the leader, while t1-h07 is re-isolated" kill9_wait "$(daemon_pid ctlB)"
lab heal h07
check "ctlA leads once ctlB's lock is gone" wait_for 10 eval '[[ $(leader) == ctlA ]]'
is "$(term)" "$((TERM1 + 1))" "ctlA took term $((TERM1 + 1))"
check "every agent moves to ctlA" wait_for 30 all_on ctlA
diag "every agent on ctlA $(ms_since "$T0") ms after the kill"
check "ctlA finishes the re-isolation: t1-h07 failed" wait_for 40 stage_is ctlA t1-h07 failed
pbj ctlA >"$T_TMP/final2.json"
is "$(jq -r '.state' "$T_TMP/final2.json")" halted "ctlA's playbook status --json: ha2 halted"
d=$(jq -r '.stages[0].detail' "$T_TMP/final2.json")
check "t1-h07's detail says re-isolated, every host confirmed: $d" eval '[[ $d == *"; re-isolated" ]]'
is "$(mode_on ctlA h07)" isolated "h07 isolated again, through ctlA"
is "$(cmd_count 'playbook reconnect' t1-h07 ha2) $(cmd_count 'playbook re-isolate' t1-h07 ha2)" "1 1" \
	"t1-h07: one reconnect command, one re-isolation"
is "$(pb_rows 'playbook stage failed' t1-h07 ha2) $(pb_rows 'playbook stage re-isolated' t1-h07 ha2)" "1 1" \
	"t1-h07: one 'stage failed' row, one 'stage re-isolated' row"
is "$(psql_q "SELECT count(*) FROM audit WHERE action = 'leader'")" "$(term)" "one 'leader' audit row per term ($(term))"

rc=0
on ctlA audit verify >"$T_TMP/verify.out" 2>&1 || rc=$?
is "$rc" 0 "audit verify on ctlA passes"
diag "$(cat "$T_TMP/verify.out")"
read -r n max distinct head < <(psql_q "SELECT count(*), max(seq), count(DISTINCT hash),
	(SELECT count FROM audit_head) FROM audit" | tr '|' ' ')
check "audit rows 1..$max, no gap or repeat, head at $head" \
	eval '[[ $n == "$max" && $n == "$distinct" && $n == "$head" ]]'
tap_done
