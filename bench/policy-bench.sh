#!/usr/bin/env bash
# The offline policy benchmark: a generated site of 1,000 hosts and 200 rules
# (the baseline), then one of 10,000 hosts and 2,000 rules, each parsed,
# compiled and rendered for every host; prints both and the ratio.
# Target: the 10,000-host site is parsed, compiled and rendered in under 1 s
# on one thread (its CPU time, which other load on the machine inflates
# less than the wall time).
#
# usage: bench/policy-bench.sh [POLICY_BENCH]
#   POLICY_BENCH  the benchmark program (default: build/bench/policy_bench)
# Build without sanitizers for meaningful figures, e.g.
#   meson setup build-rel -Dbuildtype=release && ninja -C build-rel
#   bench/policy-bench.sh build-rel/bench/policy_bench
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench=${1:-$top/build/bench/policy_bench}
if [ ! -x "$bench" ]; then
	echo "policy-bench: no benchmark program at $bench (build it first)" >&2
	exit 1
fi
nproc=$(nproc)

echo "== baseline: 1,000 hosts, 200 rules"
small=$("$bench" -n 1000 -r 200)
printf '%s\n' "$small"
echo
echo "== 10,000 hosts, 2,000 rules (and the same over $nproc threads)"
big=$("$bench" -n 10000 -r 2000 -j "$nproc")
printf '%s\n' "$big"
echo

# "compile+render:  WALL CPU ..." -> the CPU ms, which load on the machine
# does not inflate
cpu() { printf '%s\n' "$1" | awk '/^compile\+render:/ && NF > 4 { print $3; exit }'; }
wall() { printf '%s\n' "$1" | awk '/^total:/ { print $2; exit }'; }
total_cpu() { printf '%s\n' "$1" | awk '/^total:/ { print $3; exit }'; }
s=$(cpu "$small")
b=$(cpu "$big")
awk -v s="$s" -v b="$b" -v w="$(wall "$big")" -v c="$(total_cpu "$big")" 'BEGIN {
	printf "compile+render cpu: %.0f ms for 1,000 hosts, %.0f ms for 10,000 hosts: x%.1f for x10 hosts and rules\n", s, b, b / s
	printf "10,000 hosts, parse + compile + render: %.0f ms cpu, %.0f ms wall (target < 1000 ms cpu): %s\n", c, w, (c < 1000 ? "ok" : "over")
}'
