#!/usr/bin/env bash
# Hostile peers. With a valid certificate, bh-hostile breaks the protocol in
# every way it knows (truncated frames, impossible lengths, unknown types, a
# wrong version, a bad attribute, garbage, a heartbeat flood, acks for what
# was never sent) while the other hosts are isolated and released: each
# attack closes only its own session and is audited as a protocol violation,
# and every command confirms every other host. Then two floods of TCP
# connections that never finish TLS (one trickling a byte a second) hold at
# most handshake_per_source places each while isolate --all confirms every
# host. Last, a controller the agent trusts sends it garbage: the agent
# keeps its mode (its nftables table unchanged) and reconnects.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

N=5
PER_SOURCE=8
BH_HOSTILE=$BH_BUILD/tests/bh-hostile
[[ -x $BH_HOSTILE ]] || bail "not built: $BH_HOSTILE"
lab_begin $N
CTL_LOG=$LABDIR/logs/ctl.log
PKI=$LABDIR/pki
EVIL=h0$N # its agent stops; bh-hostile uses its certificate in its namespace
OTHERS=()
for h in "${HOSTS[@]}"; do [[ $h == "$EVIL" ]] || OTHERS+=("$h"); done

# bulkheadd with a small per-source limit, so that the flood's is seen
echo "handshake_per_source: $PER_SOURCE" >>"$LABDIR/conf/bulkheadd.yaml"
lab ctl-stop >"$T_TMP/ctl-restart.log" 2>&1
lab ctl-start >>"$T_TMP/ctl-restart.log" 2>&1
check "bulkheadd restarted with handshake_per_source: $PER_SOURCE, every host back" \
	lab wait-connected 30

# ---- hostile sessions, during commands for the other hosts ----
ATTACKS=(truncated-close truncated-stall oversized unaligned unknown-type bad-version bad-attr
	garbage heartbeat-flood ack-epoch ack-seq)
declare -A REASON=(
	[truncated-close]='closed in the middle of a frame'
	[truncated-stall]='stalled in the middle of a frame'
	[oversized]='malformed frame length'
	[unaligned]='malformed frame length'
	[unknown-type]='unknown frame type'
	[bad-version]='unsupported protocol version'
	[bad-attr]='malformed attribute'
	[garbage]='malformed frame length'
	[heartbeat-flood]='frame flood'
	[ack-epoch]='ack for an epoch that was never issued'
	[ack-seq]='ack for a frame that was never sent'
)
lab agent-stop $EVIL
run_cli "$T_TMP/audit0" audit --json >/dev/null
seq0=$(jq '[.rows[].seq] | max // 0' "$T_TMP/audit0.out" 2>/dev/null)
log_off=$(log_size "$CTL_LOG")
bg_ns hostile $EVIL timeout 150 "$BH_HOSTILE" -c "$CTL_V4" -a "$PKI/ca.crt" \
	-C "$PKI/$EVIL.crt" -k "$PKI/$EVIL.key" -w 15 "${ATTACKS[@]}"

# isolate and release the others while the attacks go on (bounded: 30 rounds, 120 s)
rounds=0 bad_rounds=0
deadline=$(($(date +%s) + 120))
while bg_alive hostile && ((rounds < 30 && $(date +%s) < deadline)); do
	rounds=$((rounds + 1))
	for verb in isolate release; do
		rc=$(run_cli "$T_TMP/r$rounds-$verb" "$verb" "${OTHERS[@]}" --reason "hostile drill" --json)
		got=$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/r$rounds-$verb.out" 2>/dev/null)
		if [[ $rc != 0 || $got != "${#OTHERS[@]} ${#OTHERS[@]}" ]]; then
			bad_rounds=$((bad_rounds + 1))
			diag "round $rounds $verb: exit $rc, targeted/confirmed '$got'"
			diag_file "$T_TMP/r$rounds-$verb.err" 4
		fi
	done
done
wait_for 60 eval '! bg_alive hostile'
diag "bh-hostile:"
diag_file "$T_TMP/hostile.out" 20
check "$rounds rounds of isolate + release of ${OTHERS[*]} during the attacks" test "$rounds" -ge 2
is "$bad_rounds" 0 "every isolate and release during the attacks confirmed every other host"
log_since "$CTL_LOG" "$log_off" >"$T_TMP/ctl.new"
run_cli "$T_TMP/audit" audit --json >/dev/null
for a in "${ATTACKS[@]}"; do
	is "$(awk -v a="$a" '$1 == a { print $2 }' "$T_TMP/hostile.out")" closed "$a: bulkheadd closed the session"
	n=$(jq --arg h "$EVIL" --arg r "${REASON[$a]}" \
		'[.rows[] | select(.action == "protocol violation" and .host == $h and (.detail | contains($r)))] | length' \
		"$T_TMP/audit.out" 2>/dev/null)
	check "$a: audited as a protocol violation: '${REASON[$a]}'" test "${n:-0}" -ge 1
done
n=$(jq --arg h "$EVIL" '[.rows[] | select(.action == "protocol violation" and .host == $h)] | length' "$T_TMP/audit.out" 2>/dev/null)
is "$n" "${#ATTACKS[@]}" "one protocol-violation row per attack, no more"
n=$(jq --arg h "$EVIL" --argjson s "${seq0:-0}" '[.rows[] | select(.seq > $s and .host != $h and
	(.action == "protocol violation" or .action == "session lost"))] | length' "$T_TMP/audit.out" 2>/dev/null)
is "$n" 0 "audit: no other host lost its session during the attacks"
check "bulkheadd still runs" quiet daemon_pid ctl
status_json >"$T_TMP/st1.json"
is "$(jq -r '[.hosts[] | select(.connected == true) | .name] | sort | join(" ")' "$T_TMP/st1.json")" \
	"${OTHERS[*]}" "status: every other host connected"

lab agent-start $EVIL
check "$EVIL's own agent reconnects" lab wait-connected 20
rc=$(run_cli "$T_TMP/iso-all" isolate --all --reason "after the attacks" --json)
is "$rc $(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso-all.out" 2>/dev/null)" "0 $N $N" \
	"isolate --all after the attacks: exit 0, all $N confirmed"
is "$(status_json | jq -r '[.hosts[] | select(.mode == "isolated" and .connected == true)] | length')" \
	"$N" "status --json: all $N hosts connected and isolated"
rc=$(run_cli "$T_TMP/rel-all" release --all --reason "after the attacks")
is "$rc" 0 "release --all exits 0"

# ---- floods of connections that never finish TLS ----
TRICKLER=${OTHERS[0]}
# half-open connections from ADDR held by bulkheadd now (ESTAB on its port,
# less the agent's own session)
half_open() {
	local n
	n=$(nsx ctl ss -Htn state established "( sport = :7443 )" | awk -v a="$1" '
		{ p = $4; sub(/^\[?(::ffff:)?/, "", p); sub(/\]?:[0-9]+$/, "", p); if (p == a) n++ }
		END { print n + 0 }')
	echo $((n > 0 ? n - 1 : 0))
}
log_off=$(log_size "$CTL_LOG")
bg_ns flood $EVIL timeout 60 "$BH_HOSTILE" -c "$CTL_V4" flood 500 30
# the trickle outlasts the 30 s deadline of a handshake that trickles
bg_ns trickle "$TRICKLER" timeout 80 "$BH_HOSTILE" -c "$CTL_V4" flood 50 45 trickle
sleep 4
samples=() over=0
for ((i = 0; i < 9; i++)); do
	s=$(half_open "${H4[$EVIL]}")
	samples+=("$s")
	((s > PER_SOURCE)) && over=$((over + 1))
	sleep 0.3
done
diag "half-open connections held from $EVIL during the flood: ${samples[*]}"
med=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 5p)
check "flood of 500 from $EVIL: bulkheadd holds at most $PER_SOURCE half-open (median of 9 samples: $med)" \
	test "$med" -le "$PER_SOURCE"
check "flood: bulkheadd holds some (the limit is a limit, not a wall: median $med > 0)" test "$med" -gt 0
rc=$(run_cli "$T_TMP/iso-flood" isolate --all --reason "during the flood" --json)
is "$rc $(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso-flood.out" 2>/dev/null)" "0 $N $N" \
	"isolate --all during both floods: exit 0, all $N confirmed"
rc=$(run_cli "$T_TMP/rel-flood" release --all --reason "during the flood" --json)
is "$rc $(jq -r '.confirmed' "$T_TMP/rel-flood.out" 2>/dev/null)" "0 $N" "release --all during the floods: all $N confirmed"
wait_for 70 eval '! bg_alive flood && ! bg_alive trickle'
diag "flood: $(cat "$T_TMP/flood.out")" "trickle: $(cat "$T_TMP/trickle.out")"
opened=$(sed -n 's/.*opened=\([0-9]*\).*/\1/p' "$T_TMP/flood.out")
check "the flood opened more than 500 connections (${opened:-0}), each reopened when closed" \
	test "${opened:-0}" -gt 500
log_since "$CTL_LOG" "$log_off" >"$T_TMP/ctl.flood"
wait_log "$CTL_LOG" "$log_off" 'agent handshakes in the last 10 s' 12 >/dev/null
log_since "$CTL_LOG" "$log_off" >"$T_TMP/ctl.flood"
grep -E 'handshake|half-open' "$T_TMP/ctl.flood" | head -n 6 | sed 's/^/#   /'
check "controller log: 'connection closed at once: handshake_per_source reached'" \
	quiet grep -F 'connection closed at once: handshake_per_source reached' "$T_TMP/ctl.flood"
check "controller log: a summary line per 10 s window" \
	quiet grep -F 'agent handshakes in the last 10 s' "$T_TMP/ctl.flood"
check "controller log: trickling handshakes end at the 30 s deadline (summary counts them)" \
	quiet grep -E 'handshakes in the last 10 s: .*, [1-9][0-9]* not finished in time' "$T_TMP/ctl.flood"
lines=$(wc -l <"$T_TMP/ctl.flood")
check "controller log: not flooded ($lines lines for some thousands of connections)" test "$lines" -lt 200
check "every host still connected after the floods" lab wait-connected 20

# ---- the other direction: a trusted controller sends garbage ----
VICTIM=${OTHERS[1]}
bhs_start || bail "bh-send did not start"
BHS_OFF=$(wc -l <"$BHS_OUT")
lab agent-conf "$VICTIM" port="$BH_SEND_PORT"
lab agent-stop "$VICTIM"
lab agent-start "$VICTIM"
hello=$(wait_hello "$VICTIM")
check "$VICTIM's agent reaches the stand-in controller" test -n "$hello"
E=$(field "$hello" epoch)
E=$((${E:-0} + 1))
ack=$(bhs_req "$VICTIM" set-mode "$E" isolated)
is "$(field "$ack" status) $(field "$ack" mode)" "applied isolated" "bh-send: set-mode $E isolated applied"
before=$(bh_table "$VICTIM")
check "$VICTIM's table is isolated" test "$(bh_table_mode "$before")" = isolated
for kind in truncated oversized unaligned unknown-type bad-version bad-attr garbage raw; do
	BHS_OFF=$(wc -l <"$BHS_OUT")
	if [[ $kind == raw ]]; then
		# a whole heartbeat frame of protocol version 2, byte by byte
		echo "$VICTIM raw 1400000011000000000000000000000002000000" >&"$BHS_FD"
	else
		echo "$VICTIM garbage $kind" >&"$BHS_FD"
	fi
	down=$(bhs_wait "^$VICTIM down" 15)
	back=$(bhs_wait "^$VICTIM hello " 20)
	is "$([[ -n $down ]] && echo down) $(field "$back" mode)" "down isolated" \
		"garbage $kind from the controller: the agent closes the session, reconnects, still isolated"
	is "$(bh_table "$VICTIM")" "$before" "garbage $kind: the nftables table is unchanged"
done
check "agent log: the malformed frames are named" \
	quiet grep -E 'malformed frame from the controller|session to controller closed' "$LABDIR/logs/$VICTIM.log"
check "the agent still runs" quiet agent_pid "$VICTIM"
bhs_stop

tap_done
