# Helpers for the agent-side tests of issue 5 (test_switch, test_hard,
# test_hypervisor): bh-send, a stand-in controller that sends an agent the
# frames the controller has no command for yet, and reads its acks. Source
# after lib.sh.

BH_SEND=$BH_BUILD/tests/bh-send
BH_SEND_PORT=7444
BHS_OUT=
BHS_FD=
BHS_OFF=0

# bhs_start [CERTBASE]: bh-send in the controller's namespace on
# $CTL_V4:$BH_SEND_PORT, presenting CERTBASE.crt/.key (default the lab's
# bulkheadd), commands from a FIFO held open by this shell, output to $BHS_OUT
bhs_start() {
	local cb=${1:-$LABDIR/pki/bulkheadd}
	[[ -x $BH_SEND ]] || bail "not built: $BH_SEND"
	BHS_OUT=$T_TMP/bhs.out
	rm -f "$T_TMP/bhs.in"
	mkfifo "$T_TMP/bhs.in"
	: >"$BHS_OUT"
	# like bg_ns, but reading the FIFO: recorded in pids/, so 'lab down' stops it
	"$LAB" exec ctl -- timeout "$T_MAX" "$BH_SEND" -l "$CTL_V4" -p "$BH_SEND_PORT" \
		-a "$LABDIR/pki/ca.crt" -c "$cb.crt" -k "$cb.key" \
		-t "$T_MAX" <"$T_TMP/bhs.in" >"$BHS_OUT" 2>&1 &
	echo "$! $(_proc_start $!)" >"$LABDIR/pids/t-bhs.pid"
	exec {BHS_FD}>"$T_TMP/bhs.in"
	wait_for 5 grep -q '^listening' "$BHS_OUT"
}

bhs_stop() {
	[[ -n $BHS_FD ]] && exec {BHS_FD}>&-
	BHS_FD=
	bg_stop bhs
}

# bhs_wait REGEX SECS: the first line after the last request that matches
bhs_wait() {
	local re=$1 secs=${2:-10} deadline line
	deadline=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		line=$(tail -n +"$((BHS_OFF + 1))" "$BHS_OUT" | grep -m1 -E -- "$re") && {
			echo "$line"
			return 0
		}
		(($(date +%s%N) < deadline)) || return 1
		sleep 0.05
	done
}

# bhs_req NODE CMD ARGS...: send one command; prints the agent's ack line
# (or nothing after 10 s)
bhs_req() {
	local node=$1 sent seq
	BHS_OFF=$(wc -l <"$BHS_OUT")
	echo "$*" >&"$BHS_FD"
	sent=$(bhs_wait "^$node (sent seq=|error=)" 5) || return 1
	[[ $sent == *"sent seq="* ]] || { echo "$sent"; return 1; }
	seq=${sent#*seq=}
	seq=${seq%% *}
	bhs_wait "^$node ack seq=$seq " 10
}

# field LINE KEY: the value of KEY=VALUE in an output line
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# wait_hello NODE: wait (20 s) until NODE's agent has said hello to bh-send
wait_hello() {
	BHS_OFF=${2:-$BHS_OFF}
	bhs_wait "^$1 hello " 20
}

# the agent record of a node, and whether it has a line
state_file() { echo "$LABDIR/state/$1/state"; }
state_has() { grep -qx -- "$2" "$(state_file "$1")"; }

# ip in the switch or a host namespace, without the lab script (fast)
swx() { ip netns exec "$BH_LAB_PREFIX-sw" "$@"; }
brport_state() { swx bridge -j link show dev "$1" | jq -r '.[0].state'; }
link_state() { # NS-NODE DEV -> UP or DOWN (administrative)
	local ns=$BH_LAB_PREFIX-$1
	if ip -n "$ns" -o link show dev "$2" | grep -q '[<,]UP[,>]'; then echo UP; else echo DOWN; fi
}

# ping between namespaces by name (lab nodes or VM namespaces), 1 s
nsping() { # FROM-NODE ADDR
	timeout 4 ip netns exec "$BH_LAB_PREFIX-$1" ping -n -q -c1 -W1 "$2" >/dev/null 2>&1
}
nsping_fails() { ! nsping "$@"; }
nsping_ok() { # a few tries: a port just opened may need ARP again
	local i
	for i in 1 2 3; do nsping "$@" && return 0; done
	return 1
}

# ---- added for test_fallback.sh (and the CLI versions of test_switch,
# test_hard, test_hypervisor): a copy of the binaries, switch ports, the
# CLI's JSON answers ----

bin_snapshot_cleanup() {
	local rc=$?
	bin_snapshot_remove
	(exit $rc)
	_t_cleanup
}

# lab_begin_snap N [METHOD]: bin_snapshot, lab_begin N, and with METHOD
# (link-down or bridge-block) a switch agent sw1 in the switch namespace,
# connected to bulkheadd, with the inventory's port map p-hNN: hNN.
lab_begin_snap() {
	local n=$1 method=${2:-}
	bin_snapshot
	lab_begin "$n"
	trap bin_snapshot_cleanup EXIT
	[[ -n $T_SNAP ]] && diag "binaries: a copy of $T_SNAP_FROM in $T_SNAP"
	[[ -n $method ]] || return 0
	if lab switch-agent up --method "$method" >"$T_TMP/sw-up.log" 2>&1 && host_connected sw1; then
		tap_ok "switch agent sw1 (linux-switch, $method) runs in the switch namespace, connected to bulkheadd"
	else
		tap_not_ok "switch agent sw1 (linux-switch, $method) runs in the switch namespace, connected to bulkheadd"
		diag_file "$T_TMP/sw-up.log"
		diag_file "$LABDIR/logs/sw1.log"
		tap_done
	fi
}

# switch_method METHOD: restart sw1 with port_isolation METHOD (its record,
# and so the ports it holds, stays); waits until bulkheadd has it again
switch_method() {
	lab switch-agent stop >>"$T_TMP/switch-method.log" 2>&1
	sed -i "s/^port_isolation:.*/port_isolation: $1/" "$LABDIR/profiles/sw1/linux-switch.yaml"
	lab switch-agent start >>"$T_TMP/switch-method.log" 2>&1
	wait_for 20 host_connected sw1
}

# swport PORT: "UP forwarding", "DOWN disabled", "UP blocking", ...: the
# port's administrative state and its bridge port state in the switch
swport() { echo "$(link_state sw "$1") $(brport_state "$1")"; }
port_cut() { [[ $(swport "$1") != "UP forwarding" ]]; } # down or not forwarding
port_open() { [[ $(swport "$1") == "UP forwarding" ]]; }

# jhost FILE HOST FIELD: a field of HOST in a CLI command's --json answer
jhost() { jq -r --arg h "$2" --arg f "$3" '.hosts[] | select(.name == $h) | .[$f] | tostring' "$1" 2>/dev/null; }
# jstatuses FILE: "HOST=STATUS ..." of a --json answer, sorted by name
jstatuses() { jq -r '[.hosts[] | "\(.name)=\(.status)"] | sort | join(" ")' "$1" 2>/dev/null; }

# agent_pid NODE: the PID of a lab agent (hNN or sw1), if it runs
agent_pid() { daemon_pid "$1"; }
