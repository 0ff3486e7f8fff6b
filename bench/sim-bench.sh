#!/usr/bin/env bash
# One bulkheadd against N simulated agents (bench/agent-sim), for each N
# given (default 1000 10000 30000): every session real mutual TLS with its
# own certificate, from its own source address in a namespace of its own.
# For each N it prints
#   - the first connection of all N (the controller's handshake rate),
#   - isolate --all and release --all: median and worst of RUNS (5), and the
#     per-host ack latency (p50, p99, max) of the isolations,
#   - the controller's memory per agent (Pss, connected minus idle) and its
#     CPU per heartbeat while idle,
#   - a controller restart: every agent reconnected, and how fast.
# Figures, not a test. Needs root. Uses build-release/ if present.
# PERF=DIR records the controller's idle heartbeats with perf into DIR.
#
# usage: sudo bench/sim-bench.sh [N...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
IDLE_S=${IDLE_S:-10}
BUILD=${BH_BUILD:-$top/build-release}
[[ -x $BUILD/bench/agent-sim ]] || BUILD=$top/build
CLI=$BUILD/cli/bulkhead
CTLD=$BUILD/controller/bulkheadd
SIM=$BUILD/bench/agent-sim
for b in "$CLI" "$CTLD" "$SIM"; do
	[[ -x $b ]] || { echo "sim-bench: $b missing: build first" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "sim-bench: run as root" >&2; exit 1; }

(($# > 0)) || set -- 1000 10000 30000

P=bhM$$
NS_CTL=$P-ctl
NS_SIM=$P-sim
CTL_ADDR=198.18.0.1
SIM_ADDR=198.18.0.2
SRC_NET=198.19.0.0/16 # the agents' source addresses
DIR=$(mktemp -d /dev/shm/bh-sim.XXXXXX)
CTL_PID= SIM_PID=

cleanup() {
	[[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
	[[ -n $CTL_PID ]] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	ip netns del "$NS_SIM" 2>/dev/null
	ip netns del "$NS_CTL" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$NS_CTL"
ip netns add "$NS_SIM"
# The pair is made inside the namespaces: nothing is left in the root one.
ip -n "$NS_CTL" link add veth0 type veth peer name veth0 netns "$NS_SIM"
ip -n "$NS_CTL" addr add $CTL_ADDR/24 dev veth0
ip -n "$NS_SIM" addr add $SIM_ADDR/24 dev veth0
for ns in "$NS_CTL" "$NS_SIM"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set veth0 up
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.veth0.rp_filter=0
	ip netns exec "$ns" sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
done
ip -n "$NS_CTL" route add $SRC_NET via $SIM_ADDR
# Any address of the range is the simulator's own, without adding each.
ip -n "$NS_SIM" route add local $SRC_NET dev lo

ctl() { "$CLI" -s "$DIR/ctl.sock" "$@"; }
connected() { ctl status --json 2>/dev/null | jq '[.hosts[] | select(.connected)] | length' 2>/dev/null || echo 0; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
pctl() { sort -n | awk -v p="$1" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i]}'; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Waits (at most $2 s) for $1 hosts connected; prints the ms it took.
wait_connected() {
	local want=$1 t0 deadline
	t0=$(now_ms)
	deadline=$((t0 + $2 * 1000))
	while (($(connected) < want)); do
		(($(now_ms) > deadline)) && { echo "timeout"; return 1; }
		sleep 0.05
	done
	echo $(($(now_ms) - t0))
}

ctl_start() {
	ip netns exec "$NS_CTL" bash -c 'ulimit -n hard; exec "$@"' _ "$CTLD" -f "$DIR/bulkheadd.yaml" \
		>>"$DIR/ctl.log" 2>&1 &
	CTL_PID=$!
	for ((i = 0; i < 100; i++)); do [[ -S $DIR/ctl.sock ]] && ctl status >/dev/null 2>&1 && return; sleep 0.05; done
	echo "sim-bench: bulkheadd did not start:" >&2
	tail -5 "$DIR/ctl.log" >&2
	exit 1
}

ctl_stop() {
	kill "$CTL_PID"
	wait "$CTL_PID" 2>/dev/null || true
	CTL_PID=
	rm -f "$DIR/ctl.sock"
}

setup() { # n
	local n=$1
	rm -rf "$DIR/pki" "$DIR/state"
	mkdir -p "$DIR/state"
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
		printf "sim%05d 198.19.%d.%d\n", i + 1, int(i / 256), i % 256 }' >"$DIR/names"
	"$CLI" pki init "$DIR/pki" >/dev/null
	"$CLI" pki issue "$DIR/pki" bulkheadd >/dev/null
	awk '{print $1}' "$DIR/names" | xargs "$CLI" pki issue "$DIR/pki" >/dev/null
	{
		echo "hosts:"
		awk '{printf "  - name: %s\n    addresses: [%s]\n    profile: linux-server\n", $1, $2}' "$DIR/names"
	} >"$DIR/inventory.yaml"
	cat >"$DIR/bulkheadd.yaml" <<EOF
listen: "$CTL_ADDR"
port: 7443
ca: "$DIR/pki/ca.crt"
cert: "$DIR/pki/bulkheadd.crt"
key: "$DIR/pki/bulkheadd.key"
state_dir: "$DIR/state"
control_socket: "$DIR/ctl.sock"
inventory: "$DIR/inventory.yaml"
EOF
}

# One command, timed: wall ms into $DIR/$1.wall, and for isolations the
# per-host ack latencies into $DIR/lat.
timed() { # action
	local act=$1 t0 t1
	t0=$(date +%s%N)
	ctl "$act" --all --json >"$DIR/out.json" || true
	t1=$(date +%s%N)
	awk -v us=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.1f\n", us / 1000}' >>"$DIR/$act.wall"
	jq -e '.confirmed == .targeted' "$DIR/out.json" >/dev/null ||
		echo "sim-bench: $act --all did not confirm every host" >&2
	[[ $act == isolate ]] && jq -r '.hosts[].latency_us' "$DIR/out.json" >>"$DIR/lat"
	return 0
}

printf '%-7s %-22s %-13s %-13s %-24s %-11s %-11s %s\n' agents "first connect" \
	"isolate ms" "release ms" "isolate ack p50/p99/max" "KiB/agent" "us/hb" "restart"
for n in "$@"; do
	# One descriptor per session on both ends, and no raising the hard limit.
	if ((n + 64 > $(ulimit -Hn))); then
		printf '%-7s skipped: needs %d file descriptors a process, the hard limit here is %d\n' \
			"$n" $((n + 64)) "$(ulimit -Hn)"
		continue
	fi
	setup "$n"
	ctl_start
	idle=$(pss_kib "$CTL_PID")
	h0=$(cpu_ticks "$CTL_PID")
	ip netns exec "$NS_SIM" bash -c 'ulimit -n hard; exec "$@"' _ "$SIM" -c $CTL_ADDR -p "$DIR/pki" \
		-s 198.19.0.0 "$DIR/names" >"$DIR/sim.out" 2>"$DIR/sim.err" &
	SIM_PID=$!
	first=$(wait_connected "$n" 120) || { echo "sim-bench: $n agents did not all connect"; tail -3 "$DIR/sim.err"; exit 1; }
	rate=$(awk -v n="$n" -v ms="$first" 'BEGIN {printf "%.0f", n / (ms / 1000)}')
	# The controller's own CPU per handshake, whatever the simulator's share
	hs_us=$(awk -v d=$(($(cpu_ticks "$CTL_PID") - h0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
		'BEGIN {printf "%.0f", d / hz * 1e6 / n}')
	: >"$DIR/lat"
	: >"$DIR/isolate.wall"
	: >"$DIR/release.wall"
	for ((r = 0; r < RUNS; r++)); do timed isolate; timed release; done
	sleep 2
	pss=$(pss_kib "$CTL_PID")
	c0=$(cpu_ticks "$CTL_PID")
	# PERF=DIR: the controller's idle profile, DIR/idle-N.data
	if [[ -n ${PERF:-} ]]; then
		perf record -q -F 499 -g -p "$CTL_PID" -o "$PERF/idle-$n.data" -- sleep "$IDLE_S" 2>/dev/null
	else
		sleep "$IDLE_S"
	fi
	c1=$(cpu_ticks "$CTL_PID")
	hz=$(getconf CLK_TCK)
	# Each second every agent sends one heartbeat and is sent one.
	us_hb=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v n="$n" -v s="$IDLE_S" \
		'BEGIN {printf "%.1f", d / hz * 1e6 / (n * s)}')
	kib=$(awk -v a="$pss" -v b="$idle" -v n="$n" 'BEGIN {printf "%.1f", (a - b) / n}')
	ctl_stop
	t0=$(now_ms)
	ctl_start
	back=$(wait_connected "$n" 120) || back=timeout
	[[ $back != timeout ]] && back=$(($(now_ms) - t0))
	lat=$(awk '{printf "%.1f\n", $1 / 1000}' "$DIR/lat")
	printf '%-7s %-22s %-13s %-13s %-24s %-11s %-11s %s\n' "$n" "${first} ms (${rate}/s, ${hs_us} us)" \
		"$(median <"$DIR/isolate.wall")/$(sort -n "$DIR/isolate.wall" | tail -1)" \
		"$(median <"$DIR/release.wall")/$(sort -n "$DIR/release.wall" | tail -1)" \
		"$(pctl 50 <<<"$lat")/$(pctl 99 <<<"$lat")/$(pctl 100 <<<"$lat") ms" \
		"$kib" "$us_hb" "${back} ms"
	kill "$SIM_PID"
	wait "$SIM_PID" 2>/dev/null || true
	SIM_PID=
	ctl_stop
	# Agents refused by the half-open limits (handshake_max,
	# handshake_per_source): a herd of one connection each should see none.
	refusals=$(grep -c 'connection closed at once\|dropped at handshake_max' "$DIR/ctl.log" || true)
	echo "        $n: connections refused by the half-open limits: ${refusals:-0} log lines"
	: >"$DIR/ctl.log"
done
echo "(first connect: every agent connected, agents per second, the controller's CPU per handshake;"
echo " isolate and release: median/worst of $RUNS runs, command to exit, every host confirmed;"
echo " KiB/agent: the controller's Pss with every agent connected, minus before any;"
echo " us/hb: the controller's CPU per heartbeat exchanged, idle over ${IDLE_S} s;"
echo " restart: controller stopped and started, until every agent is connected again)"
