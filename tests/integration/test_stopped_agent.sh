#!/usr/bin/env bash
# One agent is stopped: isolate --all --timeout 3 must exit non-zero and name
# that host (text and --json), the other hosts are confirmed and really cut
# off, and the stopped host is really not. Then one agent is frozen
# (SIGSTOP): its host must be reported as timeout after about 3 s.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=4
PORT=9000
STOPPED=h03
lab_begin $N
DEAD_MS=${BH_LAB_DEAD_MS:-5000}
OTHERS=()
for h in "${HOSTS[@]}"; do [[ $h == "$STOPPED" ]] || OTHERS+=("$h"); done

for node in "${HOSTS[@]}" ctl; do
	listen_echo "$node" $PORT || diag "listener on $node:$PORT did not come up"
done
OSPECS=() # between hosts whose agents run, and to the controller
while read -r s; do OSPECS+=("$s"); done < <(
	pair_specs h01 h02 $PORT
	pair_specs h04 ctl $PORT
)
SSPECS=() # the stopped host and the controller
while read -r s; do SSPECS+=("$s"); done < <(pair_specs $STOPPED ctl $PORT)

lab agent-stop $STOPPED
ok_down=0
wait_for $(((DEAD_MS + 999) / 1000 + 3)) host_disconnected $STOPPED && ok_down=1
check "status shows $STOPPED not connected after its agent stopped" test $ok_down = 1

# ---- text ----
t0=$(date +%s%N)
rc=$(run_cli "$T_TMP/iso" isolate --all --timeout 3 --reason partial)
el=$((($(date +%s%N) - t0) / 1000000))
diag "isolate --all --timeout 3 (exit $rc, ${el} ms):"
sed 's/^/#   /' "$T_TMP/iso.out" "$T_TMP/iso.err" | head -n 20
is "$rc" 1 "isolate --all --timeout 3 exits 1 (some host did not confirm)"
check "isolate returns within the timeout (+3 s slack): ${el} ms" test "$el" -lt 6000
check "isolate's text output names $STOPPED" quiet grep -qw "$STOPPED" "$T_TMP/iso.out" "$T_TMP/iso.err"
# Every line that names a host of ours that did confirm must not say it failed
bad=$(grep -hwE "$(IFS='|'; echo "${OTHERS[*]}")" "$T_TMP/iso.out" "$T_TMP/iso.err" |
	grep -iE 'not.connected|timeout|timed out|fail|unconfirmed|did not' || true)
is "$bad" "" "isolate's text output does not report a running host as unconfirmed"

# ---- json ----
rc=$(run_cli "$T_TMP/isoj" isolate --all --timeout 3 --reason partial --json)
J=$T_TMP/isoj.out
is "$rc" 1 "isolate --all --timeout 3 --json exits 1"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$J" 2>/dev/null)" "$N $((N - 1))" "isolate --json: targeted $N, confirmed $((N - 1))"
st=$(jq -r --arg h $STOPPED '.hosts[] | select(.name == $h) | .status' "$J" 2>/dev/null)
check "isolate --json: $STOPPED has status not-connected/timeout/failed (got '$st')" \
	eval '[[ $st == not-connected || $st == timeout || $st == failed ]]'
is "$(jq -r '[.hosts[] | select(.status == "confirmed") | .name] | sort | join(" ")' "$J" 2>/dev/null)" \
	"${OTHERS[*]}" "isolate --json: every other host confirmed"
diag "isolate --json hosts: $(jq -c '[.hosts[] | {name, status}]' "$J" 2>/dev/null)"

# ---- what is true on the wire ----
traffic blocked "others isolated" "${OSPECS[@]}"
traffic open "$STOPPED (not confirmed) is really not cut off" "${SSPECS[@]}"

# ---- the stopped host comes back ----
lab agent-start $STOPPED
check "$STOPPED's agent reconnects" lab wait-connected 20
iso_now() { [[ $(host_field $STOPPED mode) == isolated ]]; }
check "$STOPPED, targeted while down, is isolated once it is back (within 5 s)" wait_for 5 iso_now
traffic blocked "$STOPPED back" "${SSPECS[@]}"

rc=$(run_cli "$T_TMP/rel" release --all)
is "$rc" 0 "release --all exits 0"
traffic open "after release" "${OSPECS[@]}" "${SSPECS[@]}"

# ---- a frozen agent (SIGSTOP): connected, but never answers ----
FROZEN=h02
FPID=$(awk '{print $1}' "$LABDIR/pids/$FROZEN.pid" 2>/dev/null)
if [[ $FPID =~ ^[0-9]+$ ]] && kill -STOP "$FPID"; then
	t0=$(date +%s%N)
	rc=$(run_cli "$T_TMP/isof" isolate --all --timeout 3 --reason frozen --json)
	el=$((($(date +%s%N) - t0) / 1000000))
	kill -CONT "$FPID"
	J=$T_TMP/isof.out
	is "$rc" 1 "frozen $FROZEN agent: isolate --all --timeout 3 --json exits 1"
	is "$(jq -r --arg h $FROZEN '.hosts[] | select(.name == $h) | .status' "$J" 2>/dev/null)" timeout \
		"frozen $FROZEN agent: its status is timeout"
	check "frozen $FROZEN agent: isolate waited about 3 s (${el} ms)" eval '((el >= 2500 && el < 6000))'
	is "$(jq -r '[.hosts[] | select(.status == "confirmed") | .name] | join(" ")' "$J" 2>/dev/null)" \
		"$(printf '%s\n' "${HOSTS[@]}" | grep -vx $FROZEN | tr '\n' ' ' | sed 's/ $//')" \
		"frozen $FROZEN agent: every other host confirmed"
	diag "isolate --json hosts: $(jq -c '[.hosts[] | {name, status}]' "$J" 2>/dev/null)"
else
	tap_not_ok "could not SIGSTOP $FROZEN's agent (pid '$FPID')"
fi
check "after SIGCONT every agent is connected" lab wait-connected 20
rc=$(run_cli "$T_TMP/rel2" release --all)
is "$rc" 0 "release --all exits 0"

tap_done
