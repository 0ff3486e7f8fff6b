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
BULKHEAD=$BH_BUILD/cli/bulkhead
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

# _lab_start WHAT TOOLS... -- LAB-ARGS...: skip unless root; check the
# binaries and tools; trap cleanup; run 'lab LAB-ARGS...' as the first check.
_lab_start() {
	local what=$1 b tools=()
	shift
	while (($# > 0)) && [[ $1 != -- ]]; do
		tools+=("$1")
		shift
	done
	shift
	if [[ $(id -u) != 0 ]]; then
		echo "1..0 # SKIP needs root (network namespaces)"
		exit 0
	fi
	for b in "$BULKHEAD" "$BULKHEADD" "$AGENT"; do
		[[ -x $b ]] || bail "binary not built: $b (BH_BUILD=$BH_BUILD)"
	done
	for b in jq socat ping ip timeout nft ss "${tools[@]}"; do
		command -v "$b" >/dev/null || bail "missing tool: $b (apt-get install -y jq socat iputils-ping nftables iproute2)"
	done
	T_TMP=$(mktemp -d "/tmp/bh-$T_NAME.XXXXXX")
	trap _t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	diag "$T_NAME: lab prefix $BH_LAB_PREFIX, dir $LABDIR, build $BH_BUILD"
	if lab "$@" >"$T_TMP/up.log" 2>&1; then
		tap_ok "$what"
	else
		tap_not_ok "$what"
		diag_file "$T_TMP/up.log" 60
		tap_done
	fi
	load_hosts
}

# lab_begin N: skip unless root; bring the lab up with N hosts; trap cleanup.
lab_begin() {
	_lab_start "lab up $1: controller and $1 agents started, every host connected" -- up "$1"
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

# ---- policy sites (test_policy.sh) -------------------------------------------

# lab_begin_site DIR [HOST...]: like lab_begin, with 'lab up-site DIR [HOST...]'
# (a lab of a policy site: each inventory host with its own addresses).
lab_begin_site() {
	_lab_start "lab up-site $*: controller and every agent started, every host connected" \
		unshare -- up-site "$@"
}

# is the UDP port bound in NODE?
udp_port_listening() { # NODE PORT
	[[ -n $(lab exec "$1" -- ss -Hlun "sport = :$2" 2>/dev/null) ]]
}

# udp_ok NODE ADDR PORT DSTNODE: send a random token from NODE to ADDR:PORT
# (3 datagrams, 0.2 s apart); ok if DSTNODE's receiver got it (a background
# process named udp-DSTNODE-PORT, e.g. bg_ns udp-h01-53 h01 timeout ... socat -u
# UDP6-RECV:53,ipv6only=0,reuseaddr STDOUT, whose output is in $T_TMP)
# within 2 s of the last one.
udp_ok() {
	local from=$1 a=$2 port=$3 dst=$4 tok sa rx
	tok="bulkhead-udp-$RANDOM$RANDOM-$$"
	rx=$T_TMP/udp-$dst-$port.out
	if [[ $a == *:* ]]; then sa="UDP6-SENDTO:[$a]:$port"; else sa="UDP4-SENDTO:$a:$port"; fi
	timeout 5 "$LAB" exec "$from" -- sh -c \
		'for i in 1 2 3; do echo "$1" | socat -u - "$2"; sleep 0.2; done' sh "$tok" "$sa" >/dev/null 2>&1
	wait_for 2 grep -qF -- "$tok" "$rx"
}

# nft_normalize: a listed table with counter values cleared and the owner
# marks the agent's table carries (comment "# progname ...", "flags owner")
# removed, so that it compares with the same ruleset loaded by 'nft -f'.
nft_normalize() {
	sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' |
		awk 'NR == 1 { sub(/ # progname .*$/, "") }
		     NR == 2 && /^\tflags [a-z,]*owner[a-z,]*$/ { skip = 1; next }
		     skip && $0 == "" { skip = 0; next }
		     { skip = 0; print }'
}

# ---- faults: nftables table, agent record, logs, processes -------------------
# (added for test_faults.sh)

# ns_name NODE: the lab namespace of a node of a 'lab up N' lab (hNN, ctl, sw)
ns_name() { echo "$BH_LAB_PREFIX-$1"; }

# nsx NODE CMD...: run CMD in NODE's namespace (without the lab script, for
# loops where its start-up time matters)
nsx() {
	local n=$1
	shift
	ip netns exec "$(ns_name "$n")" "$@"
}

# bh_table NODE: table inet bulkhead as nft lists it, counters zeroed
# (non-zero exit if it cannot be listed)
bh_table() {
	local out
	out=$(nsx "$1" nft list table inet bulkhead 2>&1) || { echo "$out"; return 1; }
	sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' <<<"$out"
}

# bh_table_rules TEXT: one line per chain, "NAME: rule; rule; ..." (the
# chain's type/hook line left out), from the output of bh_table
bh_table_rules() {
	awk '
	/^\tchain [^ ]+ \{$/ { c = $2; n = 0; r[c] = ""; order[++k] = c; next }
	c != "" && /^\t\}$/ { c = ""; next }
	c != "" {
		line = $0; sub(/^\t+/, "", line)
		if (line == "" || line ~ /^type .* hook /) next
		r[c] = r[c] (n++ ? "; " : "") line
	}
	END { for (i = 1; i <= k; i++) print order[i] ": " r[order[i]] }' <<<"$1"
}

# bh_table_skeleton TEXT: the table without the rules of its base chains and
# without the ownership lines (table header comment, "flags owner"): what
# must be the same in every mode, when nothing is missing
bh_table_skeleton() {
	awk '
	NR == 1 { print "table inet bulkhead {"; next }
	/^\tflags / || /^$/ { next }
	/^\tchain (input|output|forward) \{$/ { base = 1; print; next }
	base && /^\t\}$/ { base = 0; print; next }
	base && !/^\t\ttype / { next }
	{ print }' <<<"$1"
}

# bh_table_mode TEXT [SKELETON]: "isolated" if the three base chains hold
# exactly jump isolate_in/out/fwd, "open" if they hold nothing, anything
# else is printed as "partial: ..." (exit 1). With SKELETON (from
# bh_table_skeleton of a complete table), the rest of the table must match it
# too, or "incomplete: ..." is printed (exit 1).
bh_table_mode() {
	local text=$1 skel=${2:-} rules in out fwd
	if [[ $text != "table inet bulkhead {"* ]]; then
		echo "missing: $(head -n 1 <<<"$text")"
		return 1
	fi
	rules=$(bh_table_rules "$text")
	in=$(sed -n 's/^input: //p' <<<"$rules")
	out=$(sed -n 's/^output: //p' <<<"$rules")
	fwd=$(sed -n 's/^forward: //p' <<<"$rules")
	if [[ -n $skel && $(bh_table_skeleton "$text") != "$skel" ]]; then
		echo "incomplete: $(diff <(echo "$skel") <(bh_table_skeleton "$text") | grep '^[<>]' | head -n 4 | tr '\n' '|')"
		return 1
	fi
	if [[ $in == "jump isolate_in" && $out == "jump isolate_out" && $fwd == "jump isolate_fwd" ]]; then
		echo isolated
	elif [[ -z $in && -z $out && -z $fwd ]] && grep -qx 'input: ' <<<"$rules" &&
		grep -qx 'output: ' <<<"$rules" && grep -qx 'forward: ' <<<"$rules"; then
		echo open
	else
		echo "partial: input[$in] output[$out] forward[$fwd]"
		return 1
	fi
}

# bh_state_parse FILE: checks an agent record (bulkhead-agent-state 2) and
# prints "MODE EPOCH PENDING PREV_MODE"; "corrupt: WHY" and exit 1 if it is not
# a complete, well-formed record
bh_state_parse() {
	local f=$1
	[[ -f $f ]] || { echo "corrupt: no file $f"; return 1; }
	[[ -s $f && -z $(tail -c 1 "$f") ]] || { echo "corrupt: empty or no final newline"; return 1; }
	awk '
	NR == 1 { if ($0 != "bulkhead-agent-state 2") bad = "first line \"" $0 "\""; next }
	NF != 2 { bad = bad ? bad : "line " NR " \"" $0 "\""; next }
	$1 == "mode" || $1 == "prev-mode" {
		if ($2 !~ /^(open|segmented|isolated)$/) bad = $1 " " $2
		if ($1 == "mode") { mode = $2; m++ } else prev = $2
		next
	}
	$1 == "epoch" || $1 == "prev-epoch" {
		if ($2 !~ /^[0-9]+$/) bad = $1 " " $2
		if ($1 == "epoch") { epoch = $2; e++ }
		next
	}
	$1 == "pending" { if ($2 !~ /^[01]$/) bad = "pending " $2; pending = $2; next }
	$1 == "policy" || $1 == "prev-policy" {
		if ($2 != "-" && $2 !~ /^[0-9a-f]+$/) bad = $1 " " $2
		next
	}
	{ bad = "unknown line \"" $0 "\"" }
	END {
		if (NR == 0) bad = "empty"
		if (!bad && (m != 1 || e != 1)) bad = "not exactly one mode and one epoch line"
		if (bad) { print "corrupt: " bad; exit 1 }
		print mode, epoch, pending + 0, (prev ? prev : "-")
	}' "$f"
}

# wait_log FILE OFFSET REGEX SECONDS: poll (every 20 ms) until a line of FILE
# after byte OFFSET matches REGEX (grep -E); prints the first such line
wait_log() {
	local f=$1 off=$2 re=$3 deadline line
	deadline=$(($(date +%s%N) + $4 * 1000000000))
	while :; do
		line=$(log_since "$f" "$off" | grep -m1 -E -- "$re") && { echo "$line"; return 0; }
		(($(date +%s%N) < deadline)) || return 1
		sleep 0.02
	done
}

# ms_since T0: milliseconds since T0 (a value of date +%s%N)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# daemon_pid NAME: PID of a lab daemon (ctl or hNN) from its pid file, if it
# is alive and is the recorded process
daemon_pid() {
	local f=$LABDIR/pids/$1.pid pid st
	[[ -f $f ]] || return 1
	read -r pid st <"$f" || return 1
	[[ $pid =~ ^[0-9]+$ && -n $st && $(_proc_start "$pid") == "$st" ]] || return 1
	proc_gone "$pid" && return 1
	echo "$pid"
}

# proc_gone PID: the process has exited (gone, or a zombie)
proc_gone() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	[[ ${s%% *} == Z || ${s%% *} == X ]]
}

# kill9_wait PID: SIGKILL, then wait (at most 3 s) until it has exited (or
# it had already)
kill9_wait() {
	local i
	[[ $1 =~ ^[1-9][0-9]*$ ]] || return 1 # never 0 or -N: process groups
	kill -KILL "$1" 2>/dev/null || { proc_gone "$1"; return; } # already gone: fine
	for ((i = 0; i < 300; i++)); do
		proc_gone "$1" && return 0
		sleep 0.01
	done
	return 1
}

# cont_kill PID USEC: SIGCONT a stopped PID, busy-wait USEC microseconds (finer
# than sleep(1) can), then SIGKILL it (perl, Time::HiRes)
cont_kill() {
	[[ $1 =~ ^[1-9][0-9]*$ ]] || return 1
	perl -MTime::HiRes=time -e 'kill "CONT", $ARGV[0]; my $t = time + $ARGV[1] / 1e6; 1 while time < $t;
		kill("KILL", $ARGV[0]) or exit 1' "$1" "$2"
}

# ---- a private copy of the binaries ----

# bin_snapshot: run a copy of the binaries from now on, so that a rebuild of
# $BH_BUILD meanwhile cannot mix versions or leave a binary missing for a
# moment; for tests that restart daemons over a minute or more
# (BH_TEST_SNAPSHOT=0: run them in place). Call before lab_begin; the copy is
# /tmp/bh-bin.PID (bh-send too, when built), removed by bin_snapshot_remove
# in the test's EXIT trap or, if the test ended before that, by the next run.
T_SNAP=
T_SNAP_FROM=
# shellcheck disable=SC2034 # BH_SEND: lib_agent.sh's
bin_snapshot() {
	[[ ${BH_TEST_SNAPSHOT:-1} == 1 && $(id -u) == 0 ]] || return 0
	local d from=$BH_BUILD
	for d in /tmp/bh-bin.*; do
		[[ -d $d && ${d##*.} =~ ^[0-9]+$ ]] && ! kill -0 "${d##*.}" 2>/dev/null && rm -rf -- "$d"
	done
	d=/tmp/bh-bin.$$
	rm -rf -- "$d"
	mkdir -p "$d/controller" "$d/cli" "$d/agents" "$d/tests" || return 1
	if cp "$from/controller/bulkheadd" "$d/controller/" && cp "$from/cli/bulkhead" "$d/cli/" &&
		cp "$from/agents/bulkhead-agent" "$d/agents/" &&
		{ [[ ! -x $from/tests/bh-send ]] || cp "$from/tests/bh-send" "$d/tests/"; } &&
		"$d/cli/bulkhead" --version >/dev/null 2>&1; then
		T_SNAP=$d T_SNAP_FROM=$from
		export BH_BUILD=$d
		BULKHEAD=$d/cli/bulkhead
		BULKHEADD=$d/controller/bulkheadd
		AGENT=$d/agents/bulkhead-agent
		BH_SEND=$d/tests/bh-send
	else
		rm -rf -- "$d"
		diag "could not copy the binaries of $from: running them in place"
	fi
}

bin_snapshot_remove() {
	[[ -n $T_SNAP && -d $T_SNAP && ${BH_TEST_KEEP:-0} != 1 ]] && rm -rf -- "$T_SNAP"
	return 0
}

# The phases of a long test: phase_init names the first and starts the
# clock (T_START); phase NAME starts the next and says how long the one
# before it took.
phase_init() {
	T_START=$(now)
	phase_t=$T_START phase_n=$1
}

phase() {
	local t
	t=$(now)
	diag "---- $1 ($phase_n took $(awk -v a="$phase_t" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s)"
	phase_t=$t phase_n=$1
}

# ---- metrics and events (test_metrics.sh, test_events.sh) --------------------

MPORT=9464 # the metrics listener the tests configure, on loopback in the controller's namespace
# scrape [PATH [CURL-ARGS...]]: the body of a request in the controller's
# namespace; the headers go to $T_TMP/headers, the status code to $T_TMP/code
scrape() {
	local path=${1:-/metrics}
	shift || true
	timeout 10 "$LAB" exec ctl -- curl -sS --max-time 5 -D "$T_TMP/headers" \
		-o "$T_TMP/body" -w '%{http_code}' "$@" "http://127.0.0.1:$MPORT$path" \
		>"$T_TMP/code" 2>"$T_TMP/curl.err"
	cat "$T_TMP/body" 2>/dev/null
}
# metric TEXT SAMPLE: the value of one sample line ("name{labels}" exactly)
metric() {
	awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $NF; found = 1 } END { exit !found }' <<<"$1"
}
metric_now() { metric "$(scrape)" "$1"; }
# metric_is SAMPLE VALUE: the scraped value is VALUE (numerically)
metric_is() {
	local v
	v=$(metric_now "$1") || return 1
	awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'
}

# ctl_conf_set KEY VALUE: a top-level key of the lab's bulkheadd.yaml
# replaced or added (restart bulkheadd to apply)
ctl_conf_set() {
	local f=$LABDIR/conf/bulkheadd.yaml
	if grep -q "^$1:" "$f"; then sed -i "s|^$1:.*|$1: $2|" "$f"; else echo "$1: $2" >>"$f"; fi
}
