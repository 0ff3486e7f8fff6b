#!/usr/bin/env bash
# Isolation survives an agent killed with SIGKILL (the host stays cut off
# while the agent is dead, and after it comes back) and a controller killed
# with SIGKILL (hosts stay cut off, reconnect, and are still isolated);
# release works afterwards.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=4
PORT=9000
VICTIM=h03
lab_begin $N
DEAD_MS=${BH_LAB_DEAD_MS:-5000}

for node in "${HOSTS[@]}" ctl; do
	listen_echo "$node" $PORT || diag "listener on $node:$PORT did not come up"
done

# checks that involve the victim, both ways, both families, and the controller
VSPECS=()
while read -r s; do VSPECS+=("$s"); done < <(
	pair_specs $VICTIM h01 $PORT
	pair_specs $VICTIM ctl $PORT
)
# checks between other hosts and to the controller
OSPECS=()
while read -r s; do OSPECS+=("$s"); done < <(
	pair_specs h01 h02 $PORT
	pair_specs h04 ctl $PORT
)

traffic open "before isolation" "${VSPECS[@]}" "${OSPECS[@]}"

# all hosts isolated and connected, according to status --json
all_isolated_connected() {
	local got
	got=$(status_json | jq -r '[.hosts[] | select(.mode == "isolated" and .connected == true) | .name] | sort | join(" ")' 2>/dev/null)
	[[ $got == "${HOSTS[*]}" ]]
}

rc=$(run_cli "$T_TMP/iso" isolate --all --reason restart-drill --json)
is "$rc" 0 "isolate --all exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso.out" 2>/dev/null)" "$N $N" "isolate --json: targeted == confirmed == $N"
ISO_EPOCH=$(jq -r '.epoch' "$T_TMP/iso.out" 2>/dev/null)
traffic blocked "isolated" "${VSPECS[@]}"

# ---- SIGKILL the victim's agent ----
VPID=$(cat "$LABDIR/pids/$VICTIM.pid" 2>/dev/null | awk '{print $1}')
lab agent-stop $VICTIM --kill 2>"$T_TMP/stop.err"
check "$VICTIM's agent (pid $VPID) is gone after SIGKILL" eval '[[ -n $VPID ]] && ! [[ -d /proc/$VPID ]] || [[ $(awk "{print \$3}" /proc/$VPID/stat 2>/dev/null) == Z ]]'
ctl_noticed=0
wait_for $(((DEAD_MS + 999) / 1000 + 3)) host_disconnected $VICTIM && ctl_noticed=1
check "status shows $VICTIM not connected within dead_ms + 3 s" test $ctl_noticed = 1
check "while the agent is dead: table inet bulkhead is still in $VICTIM" \
	quiet lab exec $VICTIM -- nft list table inet bulkhead
traffic blocked "$VICTIM's agent dead" "${VSPECS[@]}"
agent_procs() { # agents running in the victim's namespace
	local p n=0
	for p in $(ip netns pids "$BH_LAB_PREFIX-$VICTIM" 2>/dev/null); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$(readlink -f "$AGENT")" ]] && n=$((n + 1))
	done
	echo $n
}
is "$(agent_procs)" 0 "no agent ran in $VICTIM during those checks"
is "$(host_field $VICTIM mode)" isolated "status still records $VICTIM as isolated while its agent is dead"

# ---- restart it ----
lab agent-start $VICTIM
check "$VICTIM's agent reconnects after restart" lab wait-connected 20
check "status: $VICTIM isolated and connected after restart" \
	eval '[[ $(host_field $VICTIM mode) == isolated && $(host_field $VICTIM connected) == true ]]'
is "$(host_field $VICTIM epoch)" "$ISO_EPOCH" "status: $VICTIM still holds the isolate epoch"
traffic blocked "$VICTIM's agent restarted" "${VSPECS[@]}"
diag "agent log after restart:"
diag_file "$LABDIR/logs/$VICTIM.log" 4

# ---- SIGKILL the controller ----
CPID=$(awk '{print $1}' "$LABDIR/pids/ctl.pid" 2>/dev/null)
lab ctl-stop --kill
check "bulkheadd (pid $CPID) is gone after SIGKILL" eval '! [[ -d /proc/$CPID ]] || [[ $(awk "{print \$3}" /proc/$CPID/stat 2>/dev/null) == Z ]]'
rc=$(run_cli "$T_TMP/st-dead" status)
is "$rc" 69 "status exits 69 while the controller is down"
traffic blocked "controller dead" "${VSPECS[@]}" "${OSPECS[@]}"

ctl_start_ok=0
lab ctl-start 2>"$T_TMP/ctl-start.err" && ctl_start_ok=1
check "bulkheadd restarts (control socket accepts)" test $ctl_start_ok = 1
((ctl_start_ok)) || diag_file "$T_TMP/ctl-start.err"
check "every agent reconnects to the restarted controller" lab wait-connected 30
check "status after controller restart: all $N hosts isolated and connected" wait_for 5 all_isolated_connected
status_json >"$T_TMP/st.json"
is "$(jq -r --argjson e "${ISO_EPOCH:-0}" '[.hosts[] | select(.epoch == $e)] | length' "$T_TMP/st.json" 2>/dev/null)" \
	"$N" "status after controller restart: every host holds the isolate epoch $ISO_EPOCH"
traffic blocked "controller restarted" "${VSPECS[@]}" "${OSPECS[@]}"

# ---- release ----
rc=$(run_cli "$T_TMP/rel" release --all --json)
is "$rc" 0 "release --all exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/rel.out"; diag_file "$T_TMP/rel.err"; }
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/rel.out" 2>/dev/null)" "$N $N" "release --json: targeted == confirmed == $N"
REL_EPOCH=$(jq -r '.epoch' "$T_TMP/rel.out" 2>/dev/null)
check "release epoch ($REL_EPOCH) is newer than the isolate epoch ($ISO_EPOCH) across the controller restart" \
	eval '[[ $REL_EPOCH =~ ^[0-9]+$ && $ISO_EPOCH =~ ^[0-9]+$ && $REL_EPOCH -gt $ISO_EPOCH ]]'
traffic open "after release" "${VSPECS[@]}" "${OSPECS[@]}"

tap_done
