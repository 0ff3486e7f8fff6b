#!/usr/bin/env bash
# bulkhead against the other ways of cutting N hosts off, in one run, for
# each N given (default 100 300 1000), every host a lab namespace:
#   bulkhead  isolate --all / release --all through bulkheadd and N agents
#   floor     one process committing the agent's isolation transaction
#             into every namespace in turn (bench/nft_floor.c)
#   nft -f    ip netns exec NS nft -f FILE for every namespace, NFT_JOBS
#             (default 8) at a time (xargs -P)
#   pssh      parallel-ssh -p 100 to an sshd in every namespace, each
#             running nft -f - with the same ruleset
#   ansible   ansible, forks 100, pipelining, the shell module running nft
# Every method's isolation is checked with traffic: fping from the
# controller to every host gets no answer, and the management path still
# works (bulkhead: every agent still connected; the others: a TCP connect
# from sampled hosts to the controller's port 7443). Release is checked the
# same way (every host answers again).
#
# Writes bench/out/compare.tsv and bench/out/compare.png (gnuplot), prints
# a table. Figures, not a test. Needs root, scripts/install-deps --bench,
# and a release build (build-release/, else build/).
#
#   RUNS       runs of each command of bulkhead and the floor (default 5)
#   NFT_RUNS   runs of nft -f (default 3)
#   SLOW_RUNS  runs of pssh and ansible (default 1)
#   SLOW_MAX   largest N that pssh and ansible are run for (default 300)
#   BUDGET_S   seconds one pssh or ansible command may take before the
#              method is given up for that N (default 300)
#   OUT        where the TSV, table and plot go (default bench/out)
#   PERF=DIR   perf record of bulkheadd during one more isolate --all at
#              the largest N, into DIR/bulkheadd-N.data
#
# usage: sudo bench/compare.sh [N...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
NFT_RUNS=${NFT_RUNS:-3}
SLOW_RUNS=${SLOW_RUNS:-1}
SLOW_MAX=${SLOW_MAX:-300}
BUDGET_S=${BUDGET_S:-300}
NFT_JOBS=${NFT_JOBS:-8}
if [[ -z ${BH_BUILD:-} ]]; then
	BH_BUILD=$top/build-release
	[[ -x $BH_BUILD/bench/nft_floor ]] || BH_BUILD=$top/build
fi
FLOOR=$BH_BUILD/bench/nft_floor
CLI=$BH_BUILD/cli/bulkhead
[[ $(id -u) == 0 ]] || { echo "compare: run as root" >&2; exit 1; }
[[ -x $FLOOR && -x $CLI ]] || { echo "compare: build first ($BH_BUILD)" >&2; exit 1; }
for c in fping parallel-ssh ansible /usr/sbin/sshd ssh-keygen gnuplot jq socat; do
	command -v "$c" >/dev/null || { echo "compare: $c missing: scripts/install-deps --bench" >&2; exit 1; }
done
(($# > 0)) || set -- 100 300 1000

export BH_BUILD BH_LAB_PREFIX=bhC$$
OUT=${OUT:-$top/bench/out}
W=$(mktemp -d /dev/shm/bh-cmp.XXXXXX)
NS_CTL=$BH_LAB_PREFIX-ctl
CTL_V4=198.18.0.1
CTL_V6=2001:2::1
FLOOR_PID='' LISTEN_PID=''
mkdir -p "$OUT" "$W/sshd" "$W/ssh"

lab() { "$top/tests/lab/lab" "$@"; }

sshd_stop() { # every sshd this script started, by the pid it wrote
	local f pid
	for f in "$W"/sshd/*.pid; do
		[[ -e $f ]] || continue
		read -r pid <"$f" || continue
		kill "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

cleanup() {
	[[ -n $FLOOR_PID ]] && kill "$FLOOR_PID" 2>/dev/null
	[[ -n $LISTEN_PID ]] && kill "$LISTEN_PID" 2>/dev/null
	sshd_stop
	lab down >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR] = $1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
pctl() { sort -n | awk -v p="$1" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; if (NR) print a[i]}'; }
worst() { sort -n | tail -1; }
now_us() { echo $(($(date +%s%N) / 1000)); }
load1() { cut -d' ' -f1 /proc/loadavg; }
ms_since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN {printf "%.1f\n", (b - a) / 1000}'; }

# How many hosts answer one ping from the controller (fping: one packet
# each, 200 ms timeout, 1 ms apart: bounded in count and time).
reached() {
	(ip netns exec "$NS_CTL" timeout 60 fping -q -c1 -t200 -i1 -f "$W/addrs" 2>&1 || true) |
		awk '/xmt\/rcv/ { split($5, a, "/"); if (a[2] > 0) n++ } END {print n + 0}'
}

# The management path of the methods without an agent: a TCP connect from
# up to 20 hosts, spread over the lab, to the controller's port 7443.
mgmt_sampled() {
	local n=$1 step i ok=0 tried=0 h
	step=$(((n + 19) / 20))
	for ((i = 1; i <= n; i += step)); do
		h=$(awk -v i="$i" 'NR == i {print $1}' "$W/hosts")
		tried=$((tried + 1))
		timeout 3 ip netns exec "$BH_LAB_PREFIX-$h" \
			socat -u /dev/null "TCP:$CTL_V4:7443,connect-timeout=2" 2>/dev/null && ok=$((ok + 1))
	done
	echo "$ok/$tried"
}

# The isolation ruleset of the text-based methods: the agent's isolate
# chains (loopback, the agent's port 7443 to the controller, neighbour
# discovery), plus ssh from the controller, which pssh and ansible need.
ruleset_write() {
	cat >"$W/isolate.nft" <<EOF
table inet bhcmp
delete table inet bhcmp
table inet bhcmp {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ip saddr $CTL_V4 tcp sport 7443 accept
		ip6 saddr $CTL_V6 tcp sport 7443 accept
		ip saddr $CTL_V4 tcp dport 22 accept
		ip6 saddr $CTL_V6 tcp dport 22 accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		counter drop
	}
	chain output {
		type filter hook output priority filter; policy drop;
		oif "lo" accept
		ip daddr $CTL_V4 tcp dport 7443 accept
		ip6 daddr $CTL_V6 tcp dport 7443 accept
		ip daddr $CTL_V4 tcp sport 22 accept
		ip6 daddr $CTL_V6 tcp sport 22 accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		counter drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		counter drop
	}
}
EOF
	printf 'table inet bhcmp\ndelete table inet bhcmp\n' >"$W/release.nft"
}

# tsv N METHOD OP RUNS MEDIAN WORST P50 P99 MAX CUT MGMT LOAD NOTE
tsv() { (IFS=$'\t'; echo "$*") >>"$OUT/compare.tsv"; }

# One row per method and op from files of run times ($W/M.OP); $1 N, $2 M.
rows() {
	local n=$1 m=$2 op med wst p50=- p99=- max=-
	for op in isolate release; do
		if [[ -s $W/$m.$op ]]; then
			med=$(median <"$W/$m.$op")
			wst=$(worst <"$W/$m.$op")
		else
			med=- wst=-
		fi
		p50=- p99=- max=-
		if [[ $m == bulkhead && $op == isolate && -s $W/lat ]]; then
			p50=$(pctl 50 <"$W/lat") p99=$(pctl 99 <"$W/lat") max=$(pctl 100 <"$W/lat")
		fi
		tsv "$n" "$m" "$op" "$(cat "$W/$m.$op" 2>/dev/null | wc -l)" "$med" "$wst" \
			"$p50" "$p99" "$max" "${CUT[$m]:--}" "${MGMT[$m]:--}" "${LOAD[$m]:--}" "${NOTE[$m]:-}"
	done
}

bench_bulkhead() { # n
	local n=$1 r t0 ok
	lab up "$n" >"$W/lab.log" 2>&1 || { tail -5 "$W/lab.log" >&2; exit 1; }
	local cli=("$CLI" -s "$(lab dir)/ctl.sock")
	LOAD[bulkhead]=$(load1)
	[[ $(reached) == "$n" ]] || NOTE[bulkhead]="not every host answered before isolating"
	: >"$W/lat"
	for ((r = 0; r < RUNS; r++)); do
		t0=$(now_us)
		"${cli[@]}" isolate --all --reason compare --json >"$W/out.json" || true
		ms_since "$t0" >>"$W/bulkhead.isolate"
		jq -e '.confirmed == .targeted' "$W/out.json" >/dev/null || NOTE[bulkhead]="an isolate did not confirm every host"
		jq -r '.hosts[].latency_us / 1000' "$W/out.json" >>"$W/lat"
		if ((r == 0)); then
			ok=$(reached)
			CUT[bulkhead]="$((n - ok))/$n cut"
			MGMT[bulkhead]="$("${cli[@]}" status --json | jq '[.hosts[] | select(.connected)] | length')/$n connected"
		fi
		t0=$(now_us)
		"${cli[@]}" release --all --reason compare --json >"$W/out.json" || true
		ms_since "$t0" >>"$W/bulkhead.release"
		jq -e '.confirmed == .targeted' "$W/out.json" >/dev/null || NOTE[bulkhead]="a release did not confirm every host"
		if ((r == 0)); then CUT[bulkhead]+=", $(reached)/$n back"; fi
	done
	if [[ -n ${PERF:-} && $n == "$MAXN" ]]; then
		local ctlpid
		read -r ctlpid _ <"$(lab dir)/pids/ctl.pid"
		perf record -q -g -F 999 -p "$ctlpid" -o "$PERF/bulkheadd-$n.data" -- sleep 3 >/dev/null 2>&1 &
		local perfpid=$!
		sleep 0.5
		"${cli[@]}" isolate --all --reason compare-perf --json >"$W/perf.json" || true
		echo "perf: isolate --all of $n in $(jq .elapsed_ms "$W/perf.json") ms (controller)" >&2
		wait "$perfpid" || true
		"${cli[@]}" release --all --reason compare-perf >/dev/null || true
	fi
	lab down >/dev/null 2>&1
}

bench_floor() { # n
	local n=$1 r ms failed ready
	LOAD[floor]=$(load1)
	local nss=()
	mapfile -t nss < <(awk -v p="$BH_LAB_PREFIX" '{print p "-" $1}' "$W/hosts")
	coproc FL { "$FLOOR" -c "$CTL_V4" -p 7443 "${nss[@]}"; }
	FLOOR_PID=$FL_PID
	read -r ready _ <&"${FL[0]}"
	[[ $ready == ready ]] || { echo "compare: nft_floor did not start" >&2; exit 1; }
	for ((r = 0; r < RUNS; r++)); do
		echo isolate >&"${FL[1]}"
		read -r _ ms failed <&"${FL[0]}"
		echo "$ms" >>"$W/floor.isolate"
		((failed == 0)) || NOTE[floor]="$failed commits failed"
		if ((r == 0)); then
			CUT[floor]="$((n - $(reached)))/$n cut"
			MGMT[floor]="$(mgmt_sampled "$n") tcp"
		fi
		echo release >&"${FL[1]}"
		read -r _ ms failed <&"${FL[0]}"
		echo "$ms" >>"$W/floor.release"
		if ((r == 0)); then CUT[floor]+=", $(reached)/$n back"; fi
	done
	echo quit >&"${FL[1]}"
	wait "$FLOOR_PID" 2>/dev/null || true
	FLOOR_PID=
}

nft_all() { # file
	awk -v p="$BH_LAB_PREFIX" '{print p "-" $1}' "$W/hosts" |
		xargs -P "$NFT_JOBS" -I{} ip netns exec {} nft -f "$1"
}

bench_nft() { # n
	local n=$1 r t0
	LOAD[nft]=$(load1)
	for ((r = 0; r < NFT_RUNS; r++)); do
		t0=$(now_us)
		nft_all "$W/isolate.nft" || NOTE[nft]="an nft -f failed"
		ms_since "$t0" >>"$W/nft.isolate"
		if ((r == 0)); then
			CUT[nft]="$((n - $(reached)))/$n cut"
			MGMT[nft]="$(mgmt_sampled "$n") tcp"
		fi
		t0=$(now_us)
		nft_all "$W/release.nft" || NOTE[nft]="an nft -f failed"
		ms_since "$t0" >>"$W/nft.release"
		if ((r == 0)); then CUT[nft]+=", $(reached)/$n back"; fi
	done
}

ssh_setup() { # once: keys, configs
	ssh-keygen -q -t ed25519 -N "" -f "$W/ssh/host_ed25519" -C bhcmp-host
	ssh-keygen -q -t ed25519 -N "" -f "$W/ssh/id" -C bhcmp
	cp "$W/ssh/id.pub" "$W/ssh/authorized_keys"
	cat >"$W/ssh/sshd_config" <<EOF
Port 22
HostKey $W/ssh/host_ed25519
AuthorizedKeysFile $W/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PrintMotd no
LogLevel ERROR
MaxStartups 200
EOF
	cat >"$W/ssh/config" <<EOF
Host *
	User root
	IdentityFile $W/ssh/id
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	LogLevel ERROR
	ConnectTimeout 20
	ControlMaster no
EOF
	mkdir -p /run/sshd # sshd's privilege separation directory
	mkdir -p "$W/ansible/tmp" "$W/ansible/cp"
	cat >"$W/ansible/ansible.cfg" <<EOF
[defaults]
forks = 100
host_key_checking = False
local_tmp = $W/ansible/tmp
interpreter_python = /usr/bin/python3
stdout_callback = minimal

[ssh_connection]
pipelining = True
ssh_args = -F $W/ssh/config -o ControlMaster=no
control_path_dir = $W/ansible/cp
EOF
}

sshd_start() { # sshd in every host namespace, until each listens (60 s)
	local h v4 i up starters=()
	while read -r h v4 _; do
		ip netns exec "$BH_LAB_PREFIX-$h" /usr/sbin/sshd -f "$W/ssh/sshd_config" \
			-o "ListenAddress=$v4" -o "PidFile=$W/sshd/$h.pid" &
		starters+=($!)
	done <"$W/hosts"
	wait "${starters[@]}" # each sshd forks into the background and writes its pid file
	for ((i = 0; i < 120; i++)); do
		up=$(ls "$W/sshd" | wc -l)
		((up == $(wc -l <"$W/hosts"))) && return 0
		sleep 0.5
	done
	echo "compare: only $up sshd started" >&2
	return 1
}

bench_ssh_tool() { # n method
	local n=$1 m=$2 r t0 rc op
	LOAD[$m]=$(load1)
	for ((r = 0; r < SLOW_RUNS; r++)); do
		for op in isolate release; do
			t0=$(now_us)
			rc=0
			case $m in
			pssh)
				ip netns exec "$NS_CTL" timeout "$BUDGET_S" parallel-ssh -p 100 -t "$BUDGET_S" \
					-h "$W/addrs" -x "-F $W/ssh/config" -I 'nft -f -' <"$W/$op.nft" \
					>"$W/$m.log" 2>&1 || rc=$?
				;;
			ansible)
				ip netns exec "$NS_CTL" env ANSIBLE_CONFIG="$W/ansible/ansible.cfg" \
					HOME="$W/ansible" timeout "$BUDGET_S" ansible all -i "$W/inventory" \
					-m shell -a "echo $(base64 -w0 <"$W/$op.nft") | base64 -d | nft -f -" \
					>"$W/$m.log" 2>&1 || rc=$?
				;;
			esac
			if ((rc == 124)); then
				NOTE[$m]="given up: one $op took over ${BUDGET_S} s"
				return 0
			fi
			((rc == 0)) || NOTE[$m]="$op exit $rc: $(grep -ciE 'fail|unreachable' "$W/$m.log") failure lines"
			ms_since "$t0" >>"$W/$m.$op"
			if ((r == 0)); then
				if [[ $op == isolate ]]; then
					CUT[$m]="$((n - $(reached)))/$n cut"
					MGMT[$m]="$(mgmt_sampled "$n") tcp"
				else
					CUT[$m]+=", $(reached)/$n back"
				fi
			fi
		done
	done
}

bench_net_only() { # n
	local n=$1 m
	lab up "$n" --net-only >"$W/lab.log" 2>&1 || { tail -5 "$W/lab.log" >&2; exit 1; }
	# The agents' port on the controller, for the management check.
	ip netns exec "$NS_CTL" socat -u TCP-LISTEN:7443,fork,reuseaddr /dev/null &
	LISTEN_PID=$!
	sleep 0.3
	bench_floor "$n"
	bench_nft "$n"
	if ((n <= SLOW_MAX)); then
		sshd_start
		{
			echo "[lab]"
			awk '{print $2}' "$W/hosts"
		} >"$W/inventory"
		for m in pssh ansible; do bench_ssh_tool "$n" "$m"; done
		sshd_stop
	else
		NOTE[pssh]="not run: N > SLOW_MAX ($SLOW_MAX)"
		NOTE[ansible]="not run: N > SLOW_MAX ($SLOW_MAX)"
	fi
	kill "$LISTEN_PID" 2>/dev/null || true
	wait "$LISTEN_PID" 2>/dev/null || true
	LISTEN_PID=
	lab down >/dev/null 2>&1
}

MAXN=$(printf '%s\n' "$@" | sort -n | tail -1)
START_LOAD=$(load1)
ruleset_write
ssh_setup
printf 'n\tmethod\top\truns\tmedian_ms\tworst_ms\tack_p50_ms\tack_p99_ms\tack_max_ms\tcut\tmgmt\tload1\tnote\n' \
	>"$OUT/compare.tsv"
{
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
		"$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
	echo "start: $(date -u +%FT%TZ) $(uptime)"
} | tee "$OUT/compare.txt"
for n in "$@"; do
	declare -A CUT=() MGMT=() LOAD=() NOTE=()
	rm -f "$W"/*.isolate "$W"/*.release "$W/lat"
	# hosts as the lab names them (the same for both labs of this N)
	awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
		printf (n > 99 ? "h%03d" : "h%02d") " 198.18.%d.%d\n", i, 1 + int((i - 1) / 250), 1 + (i - 1) % 250 }' >"$W/hosts"
	awk '{print $2}' "$W/hosts" >"$W/addrs"
	echo "N=$n: bulkhead ($(uptime))" >&2
	bench_bulkhead "$n"
	echo "N=$n: floor, nft, pssh, ansible ($(uptime))" >&2
	bench_net_only "$n"
	for m in bulkhead floor nft pssh ansible; do rows "$n" "$m"; done
	unset CUT MGMT LOAD NOTE
done
echo "end: $(date -u +%FT%TZ) $(uptime)" | tee -a "$OUT/compare.txt"

# The table: times, and ratios to the floor and to bulkhead (isolate).
awk -F'\t' '
NR == 1 { next }
{ k = $1 SUBSEP $2; med[k, $3] = $5; wst[k, $3] = $6; note[k] = $13; cut[k] = $10; mgmt[k] = $11
  load[k] = $12; if (!($1 in seen)) { seen[$1] = 1; ns[++nn] = $1 }
  if ($3 == "isolate" && $2 == "bulkhead") { p50[$1] = $7; p99[$1] = $8; mx[$1] = $9 } }
END {
	split("bulkhead floor nft pssh ansible", ms, " ")
	printf "%-6s %-9s %-19s %-19s %-8s %-8s %-6s %s\n", "N", "method", "isolate med/worst", \
		"release med/worst", "x floor", "x bh", "load1", "checks / note"
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		for (j = 1; j <= 5; j++) {
			m = ms[j]; k = n SUBSEP m
			iso = med[k, "isolate"]; fl = med[n SUBSEP "floor", "isolate"]; bh = med[n SUBSEP "bulkhead", "isolate"]
			rf = (iso != "-" && fl > 0) ? sprintf("%.0f", iso / fl) : "-"
			rb = (iso != "-" && bh > 0) ? sprintf("%.2f", iso / bh) : "-"
			printf "%-6s %-9s %-19s %-19s %-8s %-8s %-6s %s%s\n", n, m, \
				med[k, "isolate"] " / " wst[k, "isolate"] " ms", med[k, "release"] " / " wst[k, "release"] " ms", \
				rf, rb, load[k], cut[k] "; " mgmt[k], note[k] == "" ? "" : "; " note[k]
		}
		printf "%-6s %-9s ack p50/p99/max %s / %s / %s ms\n", n, "bulkhead", p50[n], p99[n], mx[n]
	}
}' "$OUT/compare.tsv" | tee -a "$OUT/compare.txt"

# The plot: isolate time against N, every method, log-scale y.
for m in bulkhead floor nft pssh ansible; do
	awk -F'\t' -v m="$m" '$2 == m && $3 == "isolate" && $5 != "-" {print $1, $5, $6}' \
		"$OUT/compare.tsv" >"$W/plot.$m"
done
declare -A TITLE=([bulkhead]="bulkhead isolate --all"
	[floor]="floor: one process, libnftnl, namespace by namespace"
	[nft]="nft -f per namespace (xargs -P $NFT_JOBS)"
	[pssh]="parallel-ssh -p 100, nft -f -"
	[ansible]="ansible, forks 100, pipelining")
plot_terms() { # the methods with figures (gnuplot refuses an empty file)
	local m sep=""
	for m in bulkhead floor nft pssh ansible; do
		[[ -s $W/plot.$m ]] || continue
		printf '%s"%s" using 1:2:2:3 with yerrorlines title "%s"' "$sep" "$W/plot.$m" "${TITLE[$m]}"
		sep=", "
	done
}
gnuplot <<EOF
set terminal pngcairo size 900,600 noenhanced
set output "$OUT/compare.png"
set title "isolate N lab hosts: median of runs (bars to the worst), $(nproc) cores, load average $START_LOAD at the start, $(load1) at the end"
set xlabel "hosts (N)"
set ylabel "time to isolate every host (ms)"
set logscale y
set logscale x
set grid
set key top left
plot $(plot_terms)
EOF
echo "wrote $OUT/compare.tsv, $OUT/compare.png, $OUT/compare.txt"
