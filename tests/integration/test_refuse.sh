#!/usr/bin/env bash
# The controller refuses agents it must not trust:
#  - "intruder": certificate from the lab CA, but a name not in the inventory;
#  - "rogue h02": name in the inventory, certificate from another CA.
# Legitimate agents stay connected and isolate --all still confirms them all.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=4
PORT=9000
lab_begin $N
DEAD_MS=${BH_LAB_DEAD_MS:-5000}
CTL_LOG=$LABDIR/logs/ctl.log
PKI=$LABDIR/pki
ROGUE_PKI=$LABDIR/rogue-pki
ROGUE_NAME=h02 # in the inventory; the rogue runs in h02's own namespace
INTRUDER_NS=h01

# extra_agent_conf NAME CERTDIR: agent config that trusts the lab CA (so
# that it accepts the real controller) and presents CERTDIR/NAME.crt
extra_agent_conf() {
	local name=$1 certdir=$2 tag=$3
	mkdir -p "$LABDIR/state/$tag"
	cat >"$LABDIR/conf/$tag.yaml" <<EOF
controllers: [$CTL_V4, "$CTL_V6"]
port: 7443
controller_name: bulkheadd
name: $name
ca: "$PKI/ca.crt"
cert: "$certdir/$name.crt"
key: "$certdir/$name.key"
state_dir: "$LABDIR/state/$tag"
profile: linux-server
mgmt_if: eth0
heartbeat_ms: 1000
dead_ms: $DEAD_MS
EOF
}

check "pki issue a certificate for 'intruder' from the lab CA" \
	quiet "$BULKHEAD" pki issue "$PKI" intruder
check "pki init a second CA" quiet "$BULKHEAD" pki init "$ROGUE_PKI"
check "pki issue a certificate for '$ROGUE_NAME' from the second CA" \
	quiet "$BULKHEAD" pki issue "$ROGUE_PKI" $ROGUE_NAME
check "the two CAs differ" eval '! cmp -s "$PKI/ca.crt" "$ROGUE_PKI/ca.crt"'
extra_agent_conf intruder "$PKI" intruder
extra_agent_conf $ROGUE_NAME "$ROGUE_PKI" rogue

# Each extra agent runs in a host's namespace in place of that host's agent:
# the agent owns its nftables table, so a second agent in a namespace whose
# agent is running cannot even start (that is not what this test is about).
lab agent-stop $INTRUDER_NS
lab agent-stop $ROGUE_NAME
OTHERS=()
for h in "${HOSTS[@]}"; do [[ $h == "$INTRUDER_NS" || $h == "$ROGUE_NAME" ]] || OTHERS+=("$h"); done

log_off=$(log_size "$CTL_LOG")
bg_ns intruder $INTRUDER_NS timeout 120 "$AGENT" -f "$LABDIR/conf/intruder.yaml"
bg_ns rogue $ROGUE_NAME timeout 120 "$AGENT" -f "$LABDIR/conf/rogue.yaml"

# give both time for several attempts, then look at the controller's log
refusals() { # number of new controller log lines that refuse something
	log_since "$CTL_LOG" "$log_off" | grep -ciE 'refus|reject|denied|not in (the )?inventory|unknown (ca|host)|verif|handshake'
}
wait_for 10 eval '(( $(refusals) >= 2 ))'
sleep 3 # several more attempts
log_since "$CTL_LOG" "$log_off" >"$T_TMP/ctl.new"
diag "controller log since the extra agents started:"
head -n 12 "$T_TMP/ctl.new" | sed 's/^/#   /'
diag "intruder agent's log:"
diag_file "$T_TMP/intruder.out" 4
diag "rogue agent's log:"
diag_file "$T_TMP/rogue.out" 4

check "the intruder agent kept running (it was not stopped by something else)" bg_alive intruder
check "the rogue agent kept running" bg_alive rogue
check "controller log: the 'intruder' certificate is refused" \
	quiet grep -iE 'intruder.*(refus|reject|denied|not in)|(refus|reject|denied).*intruder' "$T_TMP/ctl.new"
# the rogue's lines name its address (h02's), not its certificate
rogue_re="(${H4[$ROGUE_NAME]//./\\.}|${H6[$ROGUE_NAME]})([^0-9a-f.:]|:[^0-9a-f]|\$).*(refus|reject|denied|verif|unknown ca)"
n_other=$(grep -vi intruder "$T_TMP/ctl.new" | grep -ciE "$rogue_re")
check "controller log: the agent from $ROGUE_NAME's address with the other CA's certificate is refused ($n_other lines)" test "$n_other" -ge 1
check "controller log: no 'connected' line for either extra agent" \
	eval '! grep -iE "(intruder|$ROGUE_NAME).*: connected" "$T_TMP/ctl.new"'

status_json >"$T_TMP/st1.json"
is "$(jq -r '[.hosts[].name] | sort | join(" ")' "$T_TMP/st1.json" 2>/dev/null)" "${HOSTS[*]}" \
	"status lists exactly the inventory's hosts (no 'intruder')"
is "$(jq -r '[.hosts[] | select(.connected == true) | .name] | sort | join(" ")' "$T_TMP/st1.json" 2>/dev/null)" \
	"${OTHERS[*]}" "connected: exactly the hosts with their own agent running (not $INTRUDER_NS, not $ROGUE_NAME)"

bg_stop intruder
bg_stop rogue
lab agent-start $INTRUDER_NS
lab agent-start $ROGUE_NAME
check "the real $INTRUDER_NS and $ROGUE_NAME agents reconnect" lab wait-connected 20

rc=$(run_cli "$T_TMP/iso" isolate --all --reason refuse-drill --json)
is "$rc" 0 "isolate --all exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso.out" 2>/dev/null)" "$N $N" "isolate --json: targeted == confirmed == $N"
is "$(jq -r '[.hosts[] | select(.status == "confirmed") | .name] | sort | join(" ")' "$T_TMP/iso.out" 2>/dev/null)" \
	"${HOSTS[*]}" "isolate --json: every inventory host confirmed, nothing else"

for node in h01 h02; do listen_echo $node $PORT || diag "listener on $node did not come up"; done
SPECS=()
while read -r s; do SPECS+=("$s"); done < <(pair_specs h01 h02 $PORT)
traffic blocked "isolated" "${SPECS[@]}"
rc=$(run_cli "$T_TMP/rel" release --all)
is "$rc" 0 "release --all exits 0"

tap_done
