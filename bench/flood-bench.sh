#!/usr/bin/env bash
# Does a handshake flood slow isolation down? On a lab of N hosts (default
# 20), `bulkhead isolate --all` (then release --all) RUNS times (default 5)
# without a flood, then RUNS times while one lab host keeps 500 TCP
# connections to bulkheadd that never finish TLS (bh-hostile flood; with
# TRICKLE=1 each sends a byte a second), and prints both medians, their
# ratios and the load average (the command's wall time includes the CLI's
# start and shares the cores with the flood itself; the controller's
# fan-out, from the command to the last ack, is its own). Needs root. Uses
# the build in $BH_BUILD (default build/). The flood is bounded in time
# (timeout) and stopped by its PID.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-20}
RUNS=${RUNS:-5}
FLOOD=${FLOOD:-500}
export BH_BUILD=${BH_BUILD:-$top/build}
export BH_LAB_PREFIX=bhF$$
hostile=$BH_BUILD/tests/bh-hostile
[[ -x $hostile ]] || { echo "not built: $hostile" >&2; exit 1; }
lab() { "$top/tests/lab/lab" "$@"; }
tmp=$(mktemp -d /tmp/bh-flood-bench.XXXXXX)
flood_pid=
cleanup() {
	[[ -n $flood_pid ]] && kill -TERM "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
	lab down >/dev/null 2>&1 || true
	rm -rf -- "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# runs LABEL: RUNS isolate --all, each followed by release --all; wall times
# (ms) in $tmp/LABEL.wall, the controller's elapsed_ms in $tmp/LABEL.fanout
runs() {
	local i t0 t1
	: >"$tmp/$1.wall"
	: >"$tmp/$1.fanout"
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"${cli[@]}" isolate --all --reason flood-bench --json >"$tmp/$1.json"
		t1=$(date +%s%N)
		jq -e --argjson n "$N" '.confirmed == $n' "$tmp/$1.json" >/dev/null ||
			{ echo "$1: isolate --all did not confirm all $N hosts" >&2; exit 1; }
		echo $(((t1 - t0) / 1000000)) >>"$tmp/$1.wall"
		jq -r '.elapsed_ms' "$tmp/$1.json" >>"$tmp/$1.fanout"
		"${cli[@]}" release --all --reason flood-bench >/dev/null
	done
}

lab up "$N" >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; exit 1; }
cli=("$BH_BUILD/cli/bulkhead" -s "$(lab dir)/ctl.sock")
runs quiet
# the flood outlives the measurement only by its bound
ip netns exec "$BH_LAB_PREFIX-h01" timeout $((RUNS * 20 + 30)) \
	"$hostile" -c 198.18.0.1 flood "$FLOOD" $((RUNS * 20 + 20)) ${TRICKLE:+trickle} \
	>"$tmp/flood.out" 2>&1 &
flood_pid=$!
sleep 3
held=$(ip netns exec "$BH_LAB_PREFIX-ctl" ss -Htn state established '( sport = :7443 )' | wc -l)
runs flood
kill -TERM "$flood_pid" 2>/dev/null
wait "$flood_pid" 2>/dev/null || true
flood_pid=

q=$(median <"$tmp/quiet.wall") f=$(median <"$tmp/flood.wall")
qf=$(median <"$tmp/quiet.fanout") ff=$(median <"$tmp/flood.fanout")
echo "build: $BH_BUILD; $N hosts; $RUNS runs each"
echo "flood: $FLOOD connections from h01 that never finish TLS${TRICKLE:+ (a byte a second)}; $held sessions established at bulkheadd (agents included) 3 s in"
echo "isolate --all, command to exit: median $q ms without the flood, $f ms with it"
echo "isolate --all, controller fan-out (elapsed_ms): median $qf ms without, $ff ms with"
awk -v q="$q" -v f="$f" -v qf="$qf" -v ff="$ff" 'BEGIN {
	printf "ratio (with / without): %.2f command to exit, %.2f controller fan-out\n", (q > 0 ? f / q : 0), (qf > 0 ? ff / qf : 0) }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
