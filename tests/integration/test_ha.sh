#!/usr/bin/env bash
# Two controllers sharing the lab's PostgreSQL store (lab up N --controllers
# 2): the leader killed with SIGKILL during isolate --all leaves every host
# isolated and confirmed through the other; agents move to the surviving
# controller within 2 s, round after round (the p99 is printed); a paused
# leader loses its lease, and the audit chain stays whole across it all.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=${BH_HA_HOSTS:-8}
ROUNDS=${BH_HA_ROUNDS:-5}
# A controller silent for dead_ms is left: 1 s, checked every 250 ms.
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
	runuser perl -- up "$N" --store postgresql --controllers 2

psql_q() { lab psql -Atc "$1" 2>>"$T_TMP/psql.err"; }
pidname() { [[ $1 == ctlA ]] && echo ctl || echo ctlB; }
other() { [[ $1 == ctlA ]] && echo ctlB || echo ctlA; }
on() { # CTL ARGS...: the CLI on one controller
	local c=$1
	shift
	timeout 60 "$LAB" ctl --on "$c" -- "$@"
}
leader() { psql_q "SELECT name FROM bh_leader"; }
term() { psql_q "SELECT term FROM bh_leader"; }

# held_by CTL [ASKED]: how many hosts CTL holds, as ASKED's status shows
# them (default CTL itself)
held_by() {
	on "${2:-$1}" status --json 2>/dev/null |
		jq --arg c "$1" '[.hosts[] | select(.connected == true and .controller == $c)] | length' 2>/dev/null
}
all_on() { [[ $(held_by "$1") == "$N" ]]; }

# all_isolated_on CTL EPOCH: every host connected to CTL, isolated, at EPOCH or newer
all_isolated_on() {
	local got
	got=$(on "$1" status --json 2>/dev/null | jq --arg c "$1" --argjson e "$2" \
		'[.hosts[] | select(.controller == $c and .mode == "isolated" and .epoch >= $e)] | length' 2>/dev/null)
	[[ $got == "$N" ]]
}

# Milliseconds of the day of a log line's "HH:MM:SS.mmm", or of now (UTC).
now_ms() { date -u +%H:%M:%S.%3N | awk -F'[:.]' '{ print (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'; }

# failover_times T_MS CTL: for each agent, the time from T_MS until CTL
# logged its hello ("hNN (address): connected, ...") after mark_logs
failover_times() {
	local t=$1 f
	f=$LABDIR/logs/$(pidname "$2").log
	log_since "$f" "$(cat "$T_TMP/offset.$2")" | grep ': connected, ' |
		awk -v t="$t" '!seen[$4]++ { split($1, c, /[:.]/); print ((c[1] * 60 + c[2]) * 60 + c[3]) * 1000 + c[4] - t }'
}

mark_logs() { # the controllers' log sizes, for failover_times
	local c
	for c in ctlA ctlB; do log_size "$LABDIR/logs/$(pidname $c).log" >"$T_TMP/offset.$c"; done
}

is "$(leader)" ctlA "ctlA leads (it started first)"
is "$(held_by ctlA)" "$N" "every agent is on ctlA"
check "ctlB shows every host connected, on ctlA" wait_for 5 eval '[[ $(held_by ctlA ctlB) == "$N" ]]'
check "an agent's heartbeats name its controller" \
	grep -q "on controller ctlA (" "$LABDIR/logs/${HOSTS[0]}.log"
: >"$T_TMP/failover.ms"

# ---- the leader killed with SIGKILL during isolate --all ----
# The last host is cut off from both controllers, so the command waits for
# it: ctlA is killed while the command is in flight, then the host heals.
LAST=${HOSTS[$((N - 1))]}
lab partition "$LAST"
CUR=ctlA
mark_logs
PID=$(daemon_pid ctl)
size=$(log_size "$LABDIR/logs/ctl.log")
on ctlA isolate --all --reason ha-drill --timeout 20 --no-fallback --json >"$T_TMP/iso.out" 2>"$T_TMP/iso.err" &
ISO_PID=$!
wait_for 10 eval 'log_since "$LABDIR/logs/ctl.log" $size | grep -q "isolate by"' ||
	diag "ctlA did not log the isolate"
T_KILL=$(now_ms)
kill9_wait "$PID"
wait $ISO_PID
ISO_RC=$?
check "the isolate on ctlA fails when ctlA is killed (exit $ISO_RC)" test "$ISO_RC" -ne 0
diag "its output: $(cat "$T_TMP/iso.out" "$T_TMP/iso.err" | head -c 300 | tr '\n' ' ')"
lab heal "$LAST"
check "every agent moves to ctlB" wait_for 10 all_on ctlB
failover_times "$T_KILL" ctlB | sort -n | tee -a "$T_TMP/failover.ms" >"$T_TMP/round.ms"
diag "round 1 (during isolate --all): failover ms: $(tr '\n' ' ' <"$T_TMP/round.ms")"
check "ctlB leads once ctlA's lock is gone" wait_for 5 eval '[[ $(leader) == ctlB ]]'
is "$(term)" 2 "ctlB took term 2"
# ctlA stored what it commanded before its first frame left: ctlB carries
# it on to every agent that comes to it, the healed one too.
ISO_EPOCH=$(psql_q "SELECT coalesce(min(want_epoch), 0) FROM hosts WHERE want_mode = 2")
is "$(psql_q "SELECT count(*) FROM hosts WHERE want_mode = 2")" "$N" \
	"the store holds the isolation (epoch $ISO_EPOCH) of every host"
check "every host isolated and confirmed through ctlB (epoch >= $ISO_EPOCH)" \
	wait_for 10 all_isolated_on ctlB "${ISO_EPOCH:-1}"
check "ctlA restarts while ctlB leads" lab ctl-start ctlA
check "ctlA, holding no agent, shows every host connected, on ctlB, isolated" \
	wait_for 5 eval '[[ $(on ctlA status --json | jq --argjson e "${ISO_EPOCH:-1}" \
		"[.hosts[] | select(.connected and .controller == \"ctlB\" and .mode == \"isolated\" and .epoch >= \$e)] | length") == "$N" ]]'
CUR=ctlB

# ---- more rounds: the controller holding every agent, killed ----
for ((r = 2; r <= ROUNDS; r++)); do
	mark_logs
	PID=$(daemon_pid "$(pidname $CUR)")
	T_KILL=$(now_ms)
	kill9_wait "$PID"
	NEXT=$(other $CUR)
	if ! wait_for 10 all_on "$NEXT"; then
		tap_not_ok "round $r: every agent moves from $CUR to $NEXT"
		break
	fi
	failover_times "$T_KILL" "$NEXT" | sort -n | tee -a "$T_TMP/failover.ms" >"$T_TMP/round.ms"
	diag "round $r ($CUR killed): failover ms: $(tr '\n' ' ' <"$T_TMP/round.ms")"
	wait_for 5 eval '[[ $(leader) == "$NEXT" ]]' || tap_not_ok "round $r: $NEXT leads"
	lab ctl-start "$CUR" || tap_not_ok "round $r: $CUR restarts"
	CUR=$NEXT
done
check "all hosts still isolated after $ROUNDS failovers" all_isolated_on "$CUR" "${ISO_EPOCH:-1}"

sort -n "$T_TMP/failover.ms" >"$T_TMP/failover.sorted"
COUNT=$(wc -l <"$T_TMP/failover.sorted")
P50=$(awk '{ v[NR] = $1 } END { i = int(NR * 0.50 + 0.999); print v[i < 1 ? 1 : i] }' "$T_TMP/failover.sorted")
P99=$(awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); print v[i < 1 ? 1 : i] }' "$T_TMP/failover.sorted")
MAX=$(tail -n 1 "$T_TMP/failover.sorted")
diag "agent failover after SIGKILL of its controller: $COUNT samples, p50 $P50 ms, p99 $P99 ms, max $MAX ms"
check "one failover time per agent and round ($COUNT)" test "$COUNT" -ge $((N * ROUNDS - 1))
check "failover p99 ($P99 ms) under 2000 ms" eval '[[ -n $P99 && $P99 -lt 2000 ]]'

# ---- the leader paused: its lease runs out, the other leads, it is fenced ----
T0=$(date +%s%N)
mark_logs
T_STOP=$(now_ms)
PID=$(daemon_pid "$(pidname $CUR)")
NEXT=$(other $CUR)
OLD_TERM=$(term)
kill -STOP "$PID"
check "with $CUR paused, every agent moves to $NEXT" wait_for 10 all_on "$NEXT"
failover_times "$T_STOP" "$NEXT" | sort -n >"$T_TMP/silent.ms"
diag "agent failover from a paused controller (dead_ms $BH_LAB_DEAD_MS): $(tr '\n' ' ' <"$T_TMP/silent.ms")"
SILENT_MAX=$(tail -n 1 "$T_TMP/silent.ms")
check "failover from a silent controller ($SILENT_MAX ms) under 2000 ms" \
	eval '[[ -n $SILENT_MAX && $SILENT_MAX -lt 2000 ]]'
check "$NEXT leads once the paused leader's lease ran out" wait_for 10 eval '[[ $(leader) == "$NEXT" ]]'
diag "leadership moved $(ms_since "$T0") ms after the pause"
check "$NEXT took a newer term than $OLD_TERM" eval '[[ $(term) -gt $OLD_TERM ]]'
size=$(log_size "$LABDIR/logs/$(pidname $CUR).log")
kill -CONT "$PID"
check "$CUR, resumed, knows it no longer leads" \
	wait_for 5 eval 'log_since "$LABDIR/logs/$(pidname $CUR).log" $size | grep -q "no longer"'
CUR=$NEXT

# ---- a release through the controller that holds no agent ----
# CUR sends it to its agents; the other reads their reports in the store.
check "$(other $CUR), resumed, shows every host connected, on $CUR" \
	wait_for 5 eval '[[ $(held_by "$CUR" "$(other $CUR)") == "$N" ]]'
rc=0
on "$(other $CUR)" release --all --json >"$T_TMP/rel.out" 2>&1 || rc=$?
is "$rc" 0 "release --all on $(other $CUR), every agent on $CUR, exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/rel.out" 2>/dev/null)" "$N $N" "release: every host confirmed"
is "$(jq -r --arg c "$CUR" '[.hosts[] | select(.status == "confirmed" and .mode != "isolated" and .controller == $c)] | length' "$T_TMP/rel.out" 2>/dev/null)" "$N" \
	"release: each host confirmed out of isolation, on $CUR"
diag "release: $(jq -c '[.hosts[] | {name, status, mode, controller}] | .[0:2]' "$T_TMP/rel.out" 2>/dev/null)"
diag "release through $(other $CUR): $(jq -r '"\(.elapsed_ms) ms"' "$T_TMP/rel.out" 2>/dev/null)"
rc=0
on "$CUR" audit verify >"$T_TMP/verify.out" 2>&1 || rc=$?
is "$rc" 0 "audit verify on $CUR passes after every failover"
diag "$(cat "$T_TMP/verify.out")"
rc=0
on "$(other $CUR)" audit verify >"$T_TMP/verify2.out" 2>&1 || rc=$?
is "$rc" 0 "audit verify on $(other $CUR) passes too"
read -r n max distinct head < <(psql_q "SELECT count(*), max(seq), count(DISTINCT hash),
	(SELECT count FROM audit_head) FROM audit" | tr '|' ' ')
check "audit rows 1..$max, no gap or repeat, head at $head" \
	eval '[[ $n == "$max" && $n == "$distinct" && $n == "$head" ]]'
check "the audit log says which controller each agent connected to" \
	eval '[[ $(psql_q "SELECT count(*) FROM audit WHERE action = '"'"'connected'"'"' AND detail LIKE '"'"'%, on ctlB'"'"'") -ge $N ]]'
is "$(psql_q "SELECT count(*) FROM audit WHERE action = 'leader'")" "$(term)" \
	"one audit row per leader term ($(term))"

tap_done
