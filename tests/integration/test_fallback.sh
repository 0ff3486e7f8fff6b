#!/usr/bin/env bash
# The switch-port fallback (issue 5), through the real CLI and bulkheadd, on
# a lab of 4 hosts with a switch agent sw1 (profile linux-switch) in the
# switch namespace, whose inventory entry maps the ports p-hNN to the hosts:
#  1. --no-fallback: h03's agent is killed (SIGKILL); isolate --all
#     --no-fallback reports it not-connected, its port stays up and its
#     traffic still flows.
#  2. isolate --all (with the fallback): exits 1; the summary (text and
#     JSON) says "isolated at sw1 port p-h03 (host agent silent)" for h03
#     only, every other host confirmed itself; with one other host released,
#     traffic from h03 to the controller and to that host fails (real TCP
#     and ping, both families) while h03's own table is still open: the cut
#     is the switch's; p-h03 is down.
#  3. release h03 reopens p-h03, commit-confirmed: the switch confirms, the
#     port stays open past the confirmation time, traffic flows again.
#  4. A frozen agent (SIGSTOP, connected but silent): with --timeout 2 the
#     fallback happens at the deadline (sw1 now uses bridge-block: the
#     port stops forwarding, its link stays up). The time from the command to its exit is printed
#     (the figure for the issue's note).
#  5. A playbook stage reconnects its hosts' ports only: h02 and h03 both
#     isolated at the switch (agents killed), a stage with h02 only reopens
#     p-h02 (h02 comes back segmented, its checks pass) and p-h03 stays down.
# (isolate --hard through the CLI is in test_hard.sh.)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

N=4
PORT=9000
SILENT=h03
lab_begin_snap $N link-down
SOCK=$LABDIR/ctl.sock
CLOG=$LABDIR/logs/ctl.log
SWLOG=$LABDIR/logs/sw1.log

for node in "${HOSTS[@]}" ctl; do
	listen_echo "$node" $PORT || diag "listener on $node:$PORT did not come up"
done
listeners_alive() {
	local n
	for n in "${HOSTS[@]}" ctl; do bg_alive "echo-$n-$PORT" || return 1; done
}
# traffic of a host to the controller: TCP and ping, both families
to_ctl() {
	local f
	for f in 4 6; do
		echo "tcp $1 ctl $f $PORT"
		echo "ping $1 ctl $f"
	done
}
declare -A TO_CTL # one spec a line
for h in "${HOSTS[@]}"; do TO_CTL[$h]=$(to_ctl "$h"); done
# traffic_ctl EXPECT LABEL HOST [SPEC...]: traffic, with HOST's specs to the controller
traffic_ctl() {
	local e=$1 l=$2 specs
	mapfile -t specs <<<"${TO_CTL[$3]}"
	shift 3
	traffic "$e" "$l" "$@" "${specs[@]}"
}
# table inet bulkhead of a host: open / isolated (see lib.sh bh_table_mode)
table_mode() { bh_table_mode "$(bh_table "$1")"; }

traffic open "before" "tcp $SILENT h04 4 $PORT" "tcp h04 $SILENT 6 $PORT" "tcp $SILENT ctl 4 $PORT" "ping $SILENT ctl 6"

# ---- 1. --no-fallback ----------------------------------------------------------
lab agent-stop $SILENT --kill
check "$SILENT's agent killed with SIGKILL: bulkheadd sees it disconnected" wait_for 10 host_disconnected $SILENT
rc=$(run_cli "$T_TMP/nofb" isolate --all --no-fallback --json --timeout 3 --reason "fallback test: no fallback")
J=$T_TMP/nofb.out
is "$rc" 1 "isolate --all --no-fallback exits 1"
is "$(jstatuses "$J")" "h01=confirmed h02=confirmed h03=not-connected h04=confirmed sw1=confirmed" \
	"--no-fallback: $SILENT not-connected, every other host (and sw1) confirmed"
is "$(jhost "$J" $SILENT error)" null "--no-fallback: no switch port named for $SILENT"
is "$(swport p-$SILENT)" "UP forwarding" "--no-fallback: p-$SILENT stays up and forwarding"
traffic_ctl open "--no-fallback: $SILENT is not cut off" $SILENT

# ---- 2. isolate --all: h03 at its switch port ----------------------------------
rc=$(run_cli "$T_TMP/iso" isolate --all --reason "fallback test")
diag "isolate --all (exit $rc):"
sed 's/^/#   /' "$T_TMP/iso.out" "$T_TMP/iso.err" | head -n 20
is "$rc" 1 "isolate --all exits 1 ($SILENT did not confirm itself)"
is "$(cat "$T_TMP/iso.out" "$T_TMP/iso.err" | grep -c 'isolated at ')" 1 "one line of the summary says 'isolated at'"
check "... it is $SILENT's: 'isolated-at-switch ...: isolated at sw1 port p-$SILENT (host agent silent)'" \
	grep -qE "^ *$SILENT +isolated-at-switch .*: isolated at sw1 port p-$SILENT \(host agent silent\)$" "$T_TMP/iso.out" "$T_TMP/iso.err"
check "the text summary names no other host as not confirmed" \
	eval "! grep -hE '^ +(h01|h02|h04|sw1) ' '$T_TMP/iso.out' '$T_TMP/iso.err'"
rc=$(run_cli "$T_TMP/isoj" isolate --all --json --reason "fallback test")
J=$T_TMP/isoj.out
is "$rc" 1 "isolate --all --json exits 1"
is "$(jstatuses "$J")" "h01=confirmed h02=confirmed h03=isolated-at-switch h04=confirmed sw1=confirmed" \
	"isolate --json: $SILENT isolated-at-switch, every other host confirmed itself"
is "$(jhost "$J" $SILENT error)" "isolated at sw1 port p-$SILENT (host agent silent)" \
	"isolate --json: $SILENT's error names the switch and the port"
is "$(jq -r '[.hosts[] | select(.error != null) | .name] | join(" ")' "$J" 2>/dev/null)" $SILENT \
	"isolate --json: no other host has an error"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$J" 2>/dev/null)" "5 4" "isolate --json: targeted 5, confirmed 4"
diag "isolate --json: elapsed $(jq -r .elapsed_ms "$J") ms for a host whose agent is not connected (fallback at once)"
is "$(swport p-$SILENT)" "DOWN disabled" "p-$SILENT is down (ip -n SW link: no UP flag)"
is "$(swport p-h04)" "UP forwarding" "p-h04 is still up and forwarding"
check "the switch's record holds p-$SILENT isolated (link-down)" \
	grep -qE "^port p-$SILENT isolated link-down [0-9]+ 0$" "$(state_file sw1)"

rc=$(run_cli "$T_TMP/rel4" release h04 --reason "fallback test: a host to talk to")
is "$rc" 0 "release h04 exits 0 (a host that is not isolated)"
is "$(table_mode $SILENT)" open "$SILENT's own table is still open (its agent is dead): only the switch cuts it off"
CUT=("tcp $SILENT h04 4 $PORT" "tcp $SILENT h04 6 $PORT" "tcp h04 $SILENT 4 $PORT" "ping $SILENT h04 4" "ping h04 $SILENT 6")
traffic_ctl blocked "at the switch: $SILENT" $SILENT "${CUT[@]}"
traffic_ctl open "not isolated: h04" h04
check "every echo listener still runs (the blocked checks are not vacuous)" listeners_alive

# ---- 3. release h03: its port reopens, commit-confirmed -----------------------
off=$(log_size "$CLOG")
swoff=$(log_size "$SWLOG")
rc=$(run_cli "$T_TMP/rel3" release $SILENT --confirm-timeout 2 --json --reason "fallback test: back")
diag "release $SILENT (exit $rc): $(jq -c '[.hosts[] | {name, status, error}]' "$T_TMP/rel3.out" 2>/dev/null)"
is "$(jhost "$T_TMP/rel3.out" $SILENT status)" not-connected "release $SILENT: its own agent is still dead (not-connected)"
check "bulkheadd asks sw1 to reopen p-$SILENT" quiet wait_log "$CLOG" "$off" "$SILENT: reopening sw1 port p-$SILENT" 5
check "sw1 opens p-$SILENT awaiting confirmation, then it is confirmed" \
	quiet wait_log "$SWLOG" "$swoff" 'port(s)? confirmed open' 5
check "the switch's record: p-$SILENT open, not pending" \
	wait_for 5 grep -qE "^port p-$SILENT open link-down [0-9]+ 0$" "$(state_file sw1)"
check "bulkheadd records that p-$SILENT is open again (the switch's commit)" \
	quiet wait_log "$CLOG" "$off" "$SILENT: port p-$SILENT on sw1 is open again" 3 ||
	diag "ctl.log since the release:" "$(log_since "$CLOG" "$off" | tail -n 5)"
sleep 2.5
is "$(swport p-$SILENT)" "UP forwarding" "p-$SILENT still up and forwarding after the 2 s confirmation time"
check "no rollback on sw1" eval "! log_since '$SWLOG' '$swoff' | grep -q 'not confirmed'"
traffic_ctl open "released at the switch: $SILENT" $SILENT "${CUT[@]}"
lab agent-start $SILENT
check "$SILENT's agent restarted and reconnected" wait_for 20 host_connected $SILENT
mode_is() { [[ $(host_field "$1" mode) == "$2" ]]; }
check "$SILENT gets the release it missed: open" wait_for 5 mode_is $SILENT open
rc=$(run_cli "$T_TMP/relall" release --all --reason "fallback test: reset")
is "$rc" 0 "release --all exits 0"

# ---- 4. a frozen agent: the fallback at the deadline --------------------------
FROZEN=h02
check "sw1 restarted with port_isolation bridge-block" switch_method bridge-block
FPID=$(agent_pid $FROZEN)
if [[ $FPID =~ ^[1-9][0-9]*$ ]] && kill -STOP "$FPID"; then
	t0=$(date +%s%N)
	rc=$(run_cli "$T_TMP/frz" isolate --all --timeout 2 --json --reason "fallback test: frozen")
	el=$(ms_since "$t0")
	J=$T_TMP/frz.out
	is "$rc" 1 "frozen $FROZEN: isolate --all --timeout 2 exits 1"
	is "$(jstatuses "$J")" "h01=confirmed h02=isolated-at-switch h03=confirmed h04=confirmed sw1=confirmed" \
		"frozen $FROZEN: isolated-at-switch, every other host confirmed itself"
	is "$(jhost "$J" $FROZEN error)" "isolated at sw1 port p-$FROZEN (host agent silent)" \
		"frozen $FROZEN: the summary names sw1 port p-$FROZEN"
	check "frozen $FROZEN: the fallback came at the 2 s deadline, not before (${el} ms)" \
		eval "((el >= 1950 && el < 3500))"
	diag "FIGURE: isolate --all --timeout 2 with a frozen agent: ${el} ms from the command to its exit" \
		"        (bulkheadd's own elapsed_ms: $(jq -r .elapsed_ms "$J" 2>/dev/null)); log lines:" \
		"$(grep -h "$FROZEN: agent silent at the deadline" "$CLOG" | tail -n 1)" \
		"$(grep -h 'port isolated in' "$SWLOG" | tail -n 1)"
	st=$(swport p-$FROZEN)
	check "bridge-block: p-$FROZEN no longer forwards, its link stays up (bridge link: '$st')" \
		eval "[[ \$st == 'UP blocking' || \$st == 'UP disabled' ]]"
	is "$(table_mode $FROZEN)" open "$FROZEN's own table is still open (agent frozen)"
	traffic_ctl blocked "frozen $FROZEN, cut at the switch" $FROZEN
	kill -CONT "$FPID"
else
	tap_not_ok "could not SIGSTOP $FROZEN's agent (pid '$FPID')"
fi
off=$(log_size "$CLOG")
rc=$(run_cli "$T_TMP/relall2" release --all --reason "fallback test: reset")
diag "release --all after the freeze (exit $rc): $(jstatuses "$T_TMP/relall2.out" 2>/dev/null || cat "$T_TMP/relall2.out")"
check "release --all reopens p-$FROZEN" wait_for 5 port_open p-$FROZEN
check "every agent connected again" lab wait-connected 20
check "$FROZEN is open again" wait_for 10 mode_is $FROZEN open
traffic_ctl open "after release: $FROZEN" $FROZEN

# ---- 5. a playbook stage reconnects its hosts' ports only ---------------------
# A policy site for the lab's hosts (the CLI compiles the playbook from it;
# bulkheadd matches the hosts by name)
SITE=$T_TMP/site
mkdir -p "$SITE/playbooks"
cat >"$SITE/management.yaml" <<EOF
management:
  controllers: [$CTL_V4, "$CTL_V6"]
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
  controller:
    networks: [$CTL_V4/32, "$CTL_V6/128"]
EOF
cat >"$SITE/rules.yaml" <<EOF
rules:
  - from: lab
    to: lab
    services: [echo, ping]
    comment: the lab's hosts talk to each other
  - from: lab
    to: controller
    services: [echo, ping]
    comment: and to the controller's echo port
EOF
{
	echo "hosts:"
	for h in "${HOSTS[@]}"; do
		printf '  - name: %s\n    addresses: [%s, "%s"]\n    profile: linux-server\n    labels: {role: lab}\n' \
			"$h" "${H4[$h]}" "${H6[$h]}"
	done
	echo "switches:"
	echo "  - name: sw1"
	echo "    addresses: [198.18.0.2]"
	echo "    profile: linux-switch"
	echo "    labels: {role: switch}"
	echo "    ports: {$(for h in "${HOSTS[@]}"; do printf 'p-%s: %s, ' "$h" "$h"; done | sed 's/, $//')}"
} >"$SITE/inventory.yaml"
PB=$SITE/playbooks/ports.yaml
cat >"$PB" <<EOF
playbook: ports
description: h02 comes back; h03 stays cut off at its port
stages:
  - name: s1-h02
    hosts: [h02]
    approval: none
    checks:
      - from: h02
        connect: $CTL_V4 tcp/$PORT
      - from: h02
        connect: h03 tcp/$PORT
        expect: closed
        timeout: 1s
EOF
check "the lab's policy site passes bulkhead check" quiet "$BULKHEAD" check "$SITE"

lab agent-stop h02 --kill
lab agent-stop h03 --kill
check "h02's and h03's agents killed: both disconnected" \
	wait_for 10 eval 'host_disconnected h02 && host_disconnected h03'
rc=$(run_cli "$T_TMP/iso5" isolate --all --json --reason "fallback test: playbook")
is "$(jstatuses "$T_TMP/iso5.out")" "h01=confirmed h02=isolated-at-switch h03=isolated-at-switch h04=confirmed sw1=confirmed" \
	"isolate --all: h02 and h03 isolated at their switch ports"
check "p-h02 and p-h03 blocked" eval 'port_cut p-h02 && port_cut p-h03'
# h02's host has been cleaned; its agent runs again, but its port is cut
lab agent-start h02
off=$(log_size "$CLOG")
rc=$(run_cli "$T_TMP/pb" playbook run "$PB" --policy "$SITE" --reason "fallback test: stage")
is "$rc" 0 "playbook run ports.yaml exits 0"
diag "$(cat "$T_TMP/pb.out" "$T_TMP/pb.err")"
stage_state() { timeout 10 "$BULKHEAD" -s "$SOCK" playbook status --json 2>/dev/null | jq -r '.stages[0].state'; }
stage_over() { [[ $(stage_state) == "done" || $(stage_state) == failed ]]; }
wait_for 40 stage_over
is "$(stage_state)" "done" "stage s1-h02 done: h02 back, its checks passed"
[[ $(stage_state) == "done" ]] || diag "$(timeout 10 "$BULKHEAD" -s "$SOCK" playbook status 2>&1)" "$(log_since "$CLOG" "$off" | tail -n 8)"
is "$(log_since "$CLOG" "$off" | grep -o '[^ ]*: reopening sw1 port [^ ]*' | sort -u | tr '\n' ' ')" \
	"h02: reopening sw1 port p-h02 " "the stage reopened p-h02 only"
is "$(swport p-h02)" "UP forwarding" "p-h02 forwarding again"
check "p-h03 still blocked ($(swport p-h03))" port_cut p-h03
is "$(host_field h02 mode) $(host_field h02 connected)" "segmented true" "h02 is segmented and connected"
traffic open "the stage's host h02 (segmented)" "tcp h02 ctl 4 $PORT" "tcp h02 ctl 6 $PORT" "ping h02 ctl 4"
traffic_ctl blocked "h03, in no stage, cut at its port" h03 "tcp h02 h03 4 $PORT" "ping h02 h03 6"
check "every echo listener still runs" listeners_alive

tap_done
