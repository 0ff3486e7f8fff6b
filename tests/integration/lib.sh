# Shared helpers for the bulkhead integration tests. Source it, then call
# lab_begin N. Every test prints TAP (plan last) and exits non-zero if any
# check failed. Needs root, iproute2, jq, socat, ping (iputils).
#
# Every process a test starts in the lab is recorded in the lab's pid dir
# (pids/t-NAME.pid), so that 'lab down' stops it too; every command that sends
# traffic is bounded by 'timeout'.

set -uo pipefail

TI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BH_ROOT=$(cd "$TI_DIR/../.." && pwd)
LAB=$BH_ROOT/tests/lab/lab
export BH_BUILD=${BH_BUILD:-$BH_ROOT/build}
export BH_LAB_PREFIX=${BH_LAB_PREFIX:-bhT$$}
export BH_LAB_DIR=${BH_LAB_DIR:-/run/bulkhead-lab/$BH_LAB_PREFIX}
LABDIR=$BH_LAB_DIR
BULKHEAD=$BH_BUILD/controller/bulkhead
BULKHEADD=$BH_BUILD/controller/bulkheadd
AGENT=$BH_BUILD/agents/bulkhead-agent
CTL_V4=198.18.0.1
CTL_V6=2001:2::1
T_NAME=$(basename "$0" .sh)
T_MAX=${BH_TEST_PROC_MAX:-300} # upper bound (s) on any helper process's life
T_TMP=
T_DONE=0

_tap_n=0
_tap_fail=0
tap_failures() { echo "$_tap_fail"; } # checks failed so far

# ---- TAP ---------------------------------------------------------------

tap_ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}
tap_not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_fail=$((_tap_fail + 1))
	echo "not ok $_tap_n - $*"
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
diag_file() { # file [lines]
	[[ -f $1 ]] || return 0
	tail -n "${2:-20}" "$1" | sed 's/^/#   /'
}
# check DESCRIPTION CMD...: ok if CMD succeeds
check() {
	local d=$1
	shift
	if "$@"; then
		tap_ok "$d"
	else
		tap_not_ok "$d"
		return 1
	fi
}
# quiet CMD...: CMD with its output discarded (for check)
quiet() { "$@" >/dev/null 2>&1; }
# is GOT EXPECTED DESCRIPTION
is() {
	if [[ $1 == "$2" ]]; then
		tap_ok "$3"
	else
		tap_not_ok "$3"
		diag "  got:      '$1'" "  expected: '$2'"
		return 1
	fi
}
tap_done() {
	T_DONE=1
	echo "1..$_tap_n"
	((_tap_fail == 0)) && exit 0
	diag "$_tap_fail of $_tap_n checks failed"
	exit 1
}
bail() {
	echo "Bail out! $*"
	exit 1
}

# ---- lab -----------------------------------------------------------------

lab() { "$LAB" "$@"; }
ctl() { "$LAB" ctl -- "$@"; }

_t_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ ${BH_TEST_KEEP:-0} == 1 ]]; then
		diag "BH_TEST_KEEP=1: lab '$BH_LAB_PREFIX' left up in $LABDIR"
	else
		"$LAB" down >/dev/null 2>&1 || "$LAB" down
	fi
	[[ -n $T_TMP && -d $T_TMP && ${BH_TEST_KEEP:-0} != 1 ]] && rm -rf -- "$T_TMP"
	if ((T_DONE == 0)); then
		echo "# test ended early (exit $rc)"
		((rc == 0)) && rc=1
	fi
	exit "$rc"
}

# lab_begin N: skip unless root; bring the lab up with N hosts; trap cleanup.
lab_begin() {
	local n=$1
	if [[ $(id -u) != 0 ]]; then
		echo "1..0 # SKIP needs root (network namespaces)"
		exit 0
	fi
	local b
	for b in "$BULKHEAD" "$BULKHEADD" "$AGENT"; do
		[[ -x $b ]] || bail "binary not built: $b (BH_BUILD=$BH_BUILD)"
	done
	for b in jq socat ping ip timeout nft ss; do
		command -v "$b" >/dev/null || bail "missing tool: $b (apt-get install -y jq socat iputils-ping nftables iproute2)"
	done
	T_TMP=$(mktemp -d "/tmp/bh-$T_NAME.XXXXXX")
	trap _t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	diag "$T_NAME: lab prefix $BH_LAB_PREFIX, dir $LABDIR, build $BH_BUILD"
	if lab up "$n" >"$T_TMP/up.log" 2>&1; then
		tap_ok "lab up $n: controller and $n agents started, every host connected"
	else
		tap_not_ok "lab up $n: controller and $n agents started, every host connected"
		diag_file "$T_TMP/up.log" 60
		tap_done
	fi
	load_hosts
}

declare -A H4 H6
HOSTS=()
load_hosts() {
	local h a b
	HOSTS=()
	while read -r h a b; do
		HOSTS+=("$h")
		H4[$h]=$a
		H6[$h]=$b
	done < <(lab hosts)
	H4[ctl]=$CTL_V4
	H6[ctl]=$CTL_V6
}

# addr NODE 4|6
addr() {
	if [[ $2 == 4 ]]; then echo "${H4[$1]}"; else echo "${H6[$1]}"; fi
}

# ---- processes -----------------------------------------------------------

_proc_start() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	set -- $s
	echo "${20}"
}

# bg_ns NAME NODE CMD...: run CMD in NODE's namespace in the background,
# output to $T_TMP/NAME.out, PID recorded in the lab's pids/t-NAME.pid.
bg_ns() {
	local name=$1 node=$2 pid
	shift 2
	"$LAB" exec "$node" -- "$@" </dev/null >"$T_TMP/$name.out" 2>&1 &
	pid=$!
	echo "$pid $(_proc_start "$pid")" >"$LABDIR/pids/t-$name.pid"
}

# bg_pid NAME: print the PID if the process is still alive (not a zombie)
bg_pid() {
	local f=$LABDIR/pids/t-$1.pid pid st cur s
	[[ -f $f ]] || return 1
	read -r pid st <"$f"
	cur=$(_proc_start "$pid")
	[[ -n $cur && $cur == "$st" ]] || return 1
	s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s%% *} != Z ]] || return 1
	echo "$pid"
}
bg_alive() { bg_pid "$1" >/dev/null; }

# bg_stop NAME: TERM, then KILL after a bounded wait
bg_stop() {
	local pid i
	if pid=$(bg_pid "$1"); then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 30; i++)); do
			bg_alive "$1" || break
			sleep 0.1
		done
		bg_alive "$1" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$LABDIR/pids/t-$1.pid"
	wait "$pid" 2>/dev/null
	return 0
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds
wait_for() {
	local secs=$1 deadline
	shift
	deadline=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		"$@" && return 0
	(($(date +%s%N) < deadline)) || return 1
		sleep 0.2
	done
}

# is the TCP port listening in NODE?
port_listening() { # NODE PORT
	[[ -n $(lab exec "$1" -- ss -Hltn "sport = :$2" 2>/dev/null) ]]
}

# listen_echo NODE PORT: a TCP echo server on both families (bounded life)
listen_echo() {
	local node=$1 port=$2
	bg_ns "echo-$node-$port" "$node" timeout "$T_MAX" \
		socat "TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork" PIPE
	wait_for 5 port_listening "$node" "$port"
}

# ---- traffic ---------------------------------------------------------------

_sock_addr() { # ADDR PORT
	if [[ $1 == *:* ]]; then echo "TCP6:[$1]:$2"; else echo "TCP4:$1:$2"; fi
}

# tcp_ok NODE ADDR PORT: connect from NODE, send a random line, get it echoed
tcp_ok() {
	local tok out
	tok="bulkhead-$RANDOM$RANDOM-$$"
	out=$(echo "$tok" | timeout 6 "$LAB" exec "$1" -- \
		socat -t 2 -T 4 - "$(_sock_addr "$2" "$3"),connect-timeout=1" 2>/dev/null)
	[[ $out == "$tok" ]]
}

# ping_ok NODE ADDR: one echo request, one second to answer
ping_ok() {
	local fam=-4
	[[ $2 == *:* ]] && fam=-6
	timeout 4 "$LAB" exec "$1" -- ping "$fam" -n -q -c1 -W1 "$2" >/dev/null 2>&1
}

# Traffic matrix. A spec is "tcp FROM TO FAMILY PORT" or "ping FROM TO FAMILY".
# pair_specs A B PORT: TCP and ping, both ways, both families.
pair_specs() {
	local a=$1 b=$2 port=$3 f
	for f in 4 6; do
		echo "tcp $a $b $f $port"
		echo "tcp $b $a $f $port"
		echo "ping $a $b $f"
		echo "ping $b $a $f"
	done
}

_spec_run() { # spec words -> exit status
	local kind=$1 from=$2 to=$3 fam=$4 port=${5:-}
	case $kind in
	tcp) tcp_ok "$from" "$(addr "$to" "$fam")" "$port" ;;
	ping) ping_ok "$from" "$(addr "$to" "$fam")" ;;
	esac
}

_spec_text() {
	local kind=$1 from=$2 to=$3 fam=$4 port=${5:-} a
	a=$(addr "$to" "$fam")
	if [[ $kind == tcp ]]; then
		[[ $a == *:* ]] && a="[$a]"
		echo "tcp IPv$fam $from -> $to $a:$port"
	else
		echo "ping IPv$fam $from -> $to $a"
	fi
}

# traffic EXPECT LABEL SPEC...: EXPECT is open or blocked. Runs every check
# in parallel (each bounded), then prints one TAP line per check.
# Returns non-zero if any check did not match.
traffic() {
	local expect=$1 label=$2 i rc bad=0
	shift 2
	local specs=("$@") d=$T_TMP/traffic.$RANDOM pids=()
	mkdir -p "$d"
	for i in "${!specs[@]}"; do
		(
			# shellcheck disable=SC2086
			if _spec_run ${specs[$i]}; then echo 0; else echo 1; fi >"$d/$i"
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in "${!specs[@]}"; do
		rc=$(cat "$d/$i" 2>/dev/null || echo 2)
		# shellcheck disable=SC2086
		if [[ ($expect == open && $rc == 0) || ($expect == blocked && $rc == 1) ]]; then
			tap_ok "$label: $(_spec_text ${specs[$i]}) $expect"
		else
			tap_not_ok "$label: $(_spec_text ${specs[$i]}) $expect"
			bad=1
		fi
	done
	rm -rf "$d"
	return $bad
}

# ---- controller ------------------------------------------------------------

# jq helper: seconds since the epoch of an RFC 3339 UTC time with optional fraction
# shellcheck disable=SC2034 # used by the tests
JQ_TS='def ts: capture("^(?<s>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?<f>\\.[0-9]+)?Z$") as $c | ($c.s + "Z" | fromdateiso8601) + ("0" + ($c.f // "") | tonumber);'

status_json() { ctl status --json 2>"$T_TMP/status.err"; }

# host_field HOST FIELD: a field of HOST in status --json
host_field() {
	status_json | jq -r --arg h "$1" --arg f "$2" '.hosts[] | select(.name == $h) | .[$f] | tostring'
}

host_connected() { [[ $(host_field "$1" connected) == true ]]; }
host_disconnected() { [[ $(host_field "$1" connected) == false ]]; }

# run_cli OUTPREFIX ARGS...: run the CLI, stdout/stderr to files, prints exit code
run_cli() {
	local out=$1 rc=0
	shift
	timeout 60 "$LAB" ctl -- "$@" >"$out.out" 2>"$out.err" || rc=$?
	echo "$rc"
}

# lines of a log file after byte offset
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
log_since() { tail -c +"$(($2 + 1))" "$1" 2>/dev/null; }

now() { date +%s.%N; }
