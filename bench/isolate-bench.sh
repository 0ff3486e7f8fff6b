#!/usr/bin/env bash
# Figures for `bulkhead isolate --all` on a lab of N hosts (default 8): the
# time from the command to its exit (median of RUNS, default 10), the agents'
# apply times, and as a baseline in the same run, loading the same isolation
# table with `nft -f` into one host's namespace. Needs root. Uses the build
# in $BH_BUILD (default: build-release/ if present, else build/).
# STORE=postgresql runs the controller on the lab's own PostgreSQL (lab up
# --store postgresql); STORE="sqlite postgresql" measures both in one run
# and prints their ratio.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-8}
RUNS=${RUNS:-10}
if [[ -z ${BH_BUILD:-} ]]; then
	BH_BUILD=$top/build-release
	[[ -x $BH_BUILD/cli/bulkhead ]] || BH_BUILD=$top/build
fi
export BH_BUILD BH_LAB_PREFIX=bhB$$
lab() { "$top/tests/lab/lab" "$@"; }
trap 'lab down >/dev/null 2>&1 || true; rm -f /tmp/bh-bench-$$.*' EXIT

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

STORES=${STORE:-sqlite}
# measure STORE: RUNS isolations on a fresh lab whose controller keeps its
# state in STORE; the lab stays up for the baseline after the last one.
measure() {
	local store=$1 opt=()
	[[ $store == sqlite ]] || opt=(--store "$store")
	lab down >/dev/null 2>&1 || true
	lab up "$N" "${opt[@]}" >/dev/null 2>&1
	cli=("$BH_BUILD/cli/bulkhead" -s "$(lab dir)/ctl.sock")
	# One round not timed: the agents' start-up is over, caches are warm.
	"${cli[@]}" isolate --all >/dev/null
	"${cli[@]}" release --all >/dev/null
	: >/tmp/bh-bench-$$.wall
	: >/tmp/bh-bench-$$.fanout
	: >/tmp/bh-bench-$$.apply
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"${cli[@]}" isolate --all --json >/tmp/bh-bench-$$.json
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000)) >>/tmp/bh-bench-$$.wall
		jq -r '.elapsed_ms * 1000 | floor' /tmp/bh-bench-$$.json >>/tmp/bh-bench-$$.fanout
		jq -r '.hosts[].apply_us' /tmp/bh-bench-$$.json >>/tmp/bh-bench-$$.apply
		"${cli[@]}" release --all >/dev/null
	done
	wall=$(median </tmp/bh-bench-$$.wall)
	echo "store $store: bulkhead isolate --all, $N hosts, command to exit: median $wall us over $RUNS runs (min $(sort -n /tmp/bh-bench-$$.wall | head -1), max $(sort -n /tmp/bh-bench-$$.wall | tail -1)); fan-out to the last ack: median $(median </tmp/bh-bench-$$.fanout) us; load $(cut -d' ' -f1 /proc/loadavg)"
	eval "wall_$store=$wall"
}
for st in $STORES; do measure "$st"; done

# Baseline: the same isolation table through nft -f (a process per change).
h=$(lab hosts | awk 'NR == 1 {print $1}')
lab exec "$h" -- nft list table inet bulkhead | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' |
	sed -e 's/table inet bulkhead.*/table inet bench {/' -e '/flags owner/d' >/tmp/bh-bench-$$.nft
: >/tmp/bh-bench-$$.nftf
for ((i = 0; i < RUNS; i++)); do
	t0=$(date +%s%N)
	lab exec "$h" -- nft -f /tmp/bh-bench-$$.nft
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) >>/tmp/bh-bench-$$.nftf
	lab exec "$h" -- nft delete table inet bench
done

fanout=$(median </tmp/bh-bench-$$.fanout)
apply=$(median </tmp/bh-bench-$$.apply)
nftf=$(median </tmp/bh-bench-$$.nftf)
echo "build: $BH_BUILD"
echo "bulkhead isolate --all, $N hosts, command to exit: median $wall us over $RUNS runs (min $(sort -n /tmp/bh-bench-$$.wall | head -1), max $(sort -n /tmp/bh-bench-$$.wall | tail -1))"
echo "controller fan-out, command to the last host's ack: median $fanout us"
echo "agent apply time: median $apply us over $((RUNS * N)) host applies"
echo "baseline, nft -f of the same table in one namespace: median $nftf us"
awk -v w="$wall" -v n="$nftf" -v h="$N" 'BEGIN {
	printf "ratio: isolate --all of %d hosts / one nft -f = %.2f\n", h, w / n }'
if [[ -n ${wall_sqlite:-} && -n ${wall_postgresql:-} ]]; then
	awk -v p="$wall_postgresql" -v s="$wall_sqlite" 'BEGIN {
		printf "ratio: isolate --all with PostgreSQL / with SQLite = %.2f\n", p / s }'
fi
