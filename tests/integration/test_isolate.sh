#!/usr/bin/env bash
# isolate --all on 8 hosts: real traffic before, during and after; a TCP flow
# opened before isolation stops; the controller still reaches every agent;
# the nftables table is readable; release --all opens everything again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=8
PORT=9000
STREAM_PORT=5001
lab_begin $N

# echo listeners on every host and on the controller (a non-management port)
for node in "${HOSTS[@]}" ctl; do
	listen_echo "$node" $PORT || diag "listener on $node:$PORT did not come up"
done

SPECS=()
while read -r s; do SPECS+=("$s"); done < <(
	pair_specs h01 h02 $PORT
	pair_specs h03 h07 $PORT
	pair_specs h08 h04 $PORT
	pair_specs h05 ctl $PORT
)

traffic open "before isolation" "${SPECS[@]}"

# ---- a long-lived TCP flow h02 -> h06, opened before isolation ----
STREAM=$T_TMP/stream.rx
cat >"$T_TMP/sender.sh" <<'EOF'
#!/bin/sh
# bounded: at most 450 lines, one every 0.2 s (90 s)
i=0
while [ $i -lt 450 ]; do
	i=$((i + 1))
	echo "line $i $(date +%s.%N)"
	sleep 0.2
done
EOF
chmod +x "$T_TMP/sender.sh"
: >"$STREAM"
bg_ns stream-rx h06 timeout 120 socat -u "TCP4-LISTEN:$STREAM_PORT,reuseaddr" "OPEN:$STREAM,creat,append"
wait_for 5 port_listening h06 $STREAM_PORT
bg_ns stream-tx h02 timeout 100 socat -u "EXEC:$T_TMP/sender.sh" "TCP4:$(addr h06 4):$STREAM_PORT,connect-timeout=2"
sleep 1
s0=$(log_size "$STREAM")
sleep 1.5
s1=$(log_size "$STREAM")
check "long-lived flow h02 -> h06 carries data before isolation ($s0 -> $s1 bytes)" test "$s1" -gt "$s0"

# ---- isolate ----
rc=$(run_cli "$T_TMP/iso" isolate --all --reason drill --json)
t_iso=$(now)
is "$rc" 0 "isolate --all --reason drill --json exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/iso.out"; diag_file "$T_TMP/iso.err"; }
J=$T_TMP/iso.out
check "isolate --json output is one JSON object" quiet jq -s -e 'length == 1 and (.[0] | type) == "object"' "$J"
is "$(jq -r '.command' "$J" 2>/dev/null)" isolate "isolate --json: command is isolate"
is "$(jq -r '.reason' "$J" 2>/dev/null)" drill "isolate --json: reason is drill"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$J" 2>/dev/null)" "$N $N" "isolate --json: targeted == confirmed == $N"
is "$(jq -r '[.hosts[] | select(.status == "confirmed") | .name] | sort | join(" ")' "$J" 2>/dev/null)" \
	"${HOSTS[*]}" "isolate --json: every lab host is listed as confirmed"
ISO_EPOCH=$(jq -r '.epoch' "$J" 2>/dev/null)
check "isolate --json: epoch is a positive integer ($ISO_EPOCH)" eval '[[ $ISO_EPOCH =~ ^[0-9]+$ && $ISO_EPOCH -gt 0 ]]'
diag "isolate: $(jq -c '{epoch, targeted, confirmed, elapsed_ms}' "$J" 2>/dev/null)"

# ---- the flow stops ----
sleep 1
s2=$(log_size "$STREAM")
sleep 2.5
s3=$(log_size "$STREAM")
check "long-lived flow carries no data after isolation ($s2 -> $s3 bytes)" test "$s3" -eq "$s2"
check "  ... while its sender is still running (the firewall stopped it)" bg_alive stream-tx
diag "last line received: $(tail -n 1 "$STREAM")"

# ---- traffic blocked ----
traffic blocked "isolated" "${SPECS[@]}"
alive=0
for node in "${HOSTS[@]}" ctl; do bg_alive "echo-$node-$PORT" && alive=$((alive + 1)); done
is "$alive" $((N + 1)) "every echo listener is still running (blocked checks are not vacuous)"

# ---- the controller still reaches every agent ----
sleep "$(awk -v a="$t_iso" -v b="$(now)" 'BEGIN { x = a + 2.5 - b; printf "%.2f", (x > 0 ? x : 0) }')"
status_json >"$T_TMP/st1.json"
check "status --json lists all $N hosts" \
	quiet jq -e --argjson n $N '.hosts | length == $n' "$T_TMP/st1.json"
is "$(jq -r '[.hosts[] | select(.mode == "isolated" and .connected == true) | .name] | sort | join(" ")' "$T_TMP/st1.json" 2>/dev/null)" \
	"${HOSTS[*]}" "status --json: all $N hosts isolated and connected"
# "COUNT: LIST" so that an empty or broken status cannot pass
stale=$(jq -r --argjson t "$t_iso" "$JQ_TS"'"\(.hosts | length): " + ([.hosts[] | select((.last_seen | ts) < $t + 1) | .name] | join(" "))' "$T_TMP/st1.json" 2>&1)
is "$stale" "$N: " "status --json: every host was last seen more than 1 s after isolation (management channel alive)"
future=$(jq -r --argjson t "$(now)" "$JQ_TS"'"\(.hosts | length): " + ([.hosts[] | select((.last_seen | ts) > $t + 1) | .name] | join(" "))' "$T_TMP/st1.json" 2>&1)
is "$future" "$N: " "status --json: no last_seen in the future"
is "$(jq -r --argjson e "${ISO_EPOCH:-0}" '[.hosts[] | select(.epoch == $e)] | length' "$T_TMP/st1.json" 2>/dev/null)" \
	"$N" "status --json: every host holds the isolate epoch $ISO_EPOCH"
(($(tap_failures) == 0)) || diag "$(jq -c '.hosts[]' "$T_TMP/st1.json" 2>/dev/null | head -n $N)"

# ---- the ruleset is readable ----
bad=""
for h in "${HOSTS[@]}"; do
	if ! lab exec "$h" -- nft list table inet bulkhead >"$T_TMP/nft.$h" 2>&1; then
		bad+="$h(missing) "
	elif grep -qiE 'unknown|invalid' "$T_TMP/nft.$h"; then
		bad+="$h(unknown) "
	fi
done
is "$bad" "" "nft list table inet bulkhead works in every host, with no 'unknown'/'invalid'"
hooks=$(grep -oE 'hook (input|output|forward)' "$T_TMP/nft.h01" 2>/dev/null | sort -u | tr '\n' ' ')
is "$hooks" "hook forward hook input hook output " "h01's table hooks input, output and forward"
check "h01's table is not dormant" eval '! grep -q "flags dormant" "$T_TMP/nft.h01"'
diag "nft list table inet bulkhead in h01:"
sed 's/^/#   /' "$T_TMP/nft.h01" | head -n 60

# ---- release ----
bg_stop stream-tx
bg_stop stream-rx
rc=$(run_cli "$T_TMP/rel" release --all)
is "$rc" 0 "release --all exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/rel.out"; diag_file "$T_TMP/rel.err"; }
traffic open "after release" "${SPECS[@]}"
status_json >"$T_TMP/st2.json"
is "$(jq -r '"\(.hosts | length): " + ([.hosts[] | select(.mode == "isolated") | .name] | join(" "))' "$T_TMP/st2.json" 2>&1)" "$N: " \
	"status --json after release: $N hosts, none isolated"
is "$(jq -r '[.hosts[] | select(.connected == true)] | length' "$T_TMP/st2.json" 2>/dev/null)" "$N" \
	"status --json after release: all $N hosts connected"

tap_done
