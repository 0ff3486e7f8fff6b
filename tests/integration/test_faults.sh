#!/usr/bin/env bash
# Faults and tampering (issue 6, "What must be shown"), on a lab of 5 hosts
# with heartbeat_ms 300 / dead_ms 1500 (BH_LAB_HEARTBEAT_MS/BH_LAB_DEAD_MS
# override them):
#  1. SIGKILL the agent at random points during applies (100 times): the
#     kernel's table is always the complete old or the complete new state, the
#     state file always parses, and it is what the agent re-applies at start.
#  2. Simulated reboot of an isolated host (agent killed, controller down,
#     ruleset flushed): the agent isolates the host again before its first
#     connection attempt.
#  3. Tampering: the owned table cannot be flushed or deleted; with
#     --no-table-owner, a flush, a delete and an accept-all table are each
#     undone within 1 s and each raises an alert.
#  4. Isolate during a partition: the host is reported not confirmed, and is
#     isolated once the partition heals, without a new command.
#  5. SIGKILL the controller during the fan-out of isolate --all: every host
#     ends in the mode the controller had recorded as commanded.
#  6. A blackholed session is noticed by both sides within the heartbeat timeout.
#  7. A full state directory: isolation is applied and reported as not
#     persisted; a release is refused with the reason, the host stays isolated.
# BH_FAULTS_KILLS (default 100) sets the number of kills of part 1.
export BH_LAB_PREFIX=${BH_LAB_PREFIX:-bhF$$}
export BH_LAB_HEARTBEAT_MS=${BH_LAB_HEARTBEAT_MS:-300}
export BH_LAB_DEAD_MS=${BH_LAB_DEAD_MS:-1500}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# Daemons restart many times over a minute: run a copy of the binaries.
bin_snapshot

N=5
PORT=9000
HB_MS=$BH_LAB_HEARTBEAT_MS
DEAD_MS=$BH_LAB_DEAD_MS
KILLS=${BH_FAULTS_KILLS:-100}
T_START=$(date +%s%N)

MNT=""      # the tmpfs of part 7, while mounted
CLI_PIDS=() # background CLI runs (each bounded by timeout)

_f_cleanup() {
	local rc=$? p
	for p in "${CLI_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	bin_snapshot_remove
	if [[ -n $MNT ]]; then
		# the agent's mount namespace holds a copy of the mount: stop it first
		"$LAB" agent-stop h03 >/dev/null 2>&1
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null ||
			echo "# warning: could not unmount $MNT"
		MNT=""
	fi
	(exit $rc)
	_t_cleanup
}

if [[ $(id -u) == 0 ]]; then
	for b in sqlite3 mount umount dd df; do
		command -v $b >/dev/null || bail "missing tool: $b (apt-get install -y sqlite3 coreutils mount)"
	done
	perl -MTime::HiRes -e 1 2>/dev/null || bail "missing tool: perl with Time::HiRes (apt-get install -y perl)"
fi
lab_begin $N
trap _f_cleanup EXIT
diag "heartbeat_ms $HB_MS, dead_ms $DEAD_MS"
[[ -n $T_SNAP ]] && diag "binaries: a copy of $T_SNAP_FROM ($(date -r "$T_SNAP_FROM/agents/bulkhead-agent" +%FT%T) agent) in $T_SNAP"
SOCK=$LABDIR/ctl.sock
CLOG=$LABDIR/logs/ctl.log
alog() { echo "$LABDIR/logs/$1.log"; }
statef() { echo "$LABDIR/state/$1/state"; }
cli() { timeout 20 "$BULKHEAD" -s "$SOCK" "$@"; }

for node in "${HOSTS[@]}" ctl; do
	listen_echo "$node" $PORT || diag "listener on $node:$PORT did not come up"
done

# small traffic matrices: NODE <-> controller, TCP and ping, both families
ctl_specs() { pair_specs "$1" ctl $PORT; }
specs_of() { # host... -> SPECS
	SPECS=()
	local h s
	for h in "$@"; do
		while read -r s; do SPECS+=("$s"); done < <(ctl_specs "$h")
	done
}

# mode of HOST's table in the kernel (isolated, open, or what is wrong)
SKEL=$(bh_table_skeleton "$(bh_table h01)")
kmode() { bh_table_mode "$(bh_table "$1")" "$SKEL"; }

# base chains in NODE's ruleset other than table inet bulkhead's
foreign_base_chains() {
	nsx "$1" nft -j list chains 2>/dev/null | jq -r '.nftables[] | select(.chain and .chain.hook and
		(.chain.family != "inet" or .chain.table != "bulkhead")) | .chain | "\(.family) \(.table) \(.name)"'
}

ctl_connected_since() { # HOST OFFSET SECS: the controller logged HOST's hello after OFFSET
	wait_log "$CLOG" "$2" "[: ]$1 \\([^)]*\\): connected" "$3" >/dev/null
}

# The reference skeleton must be the agent's full table (open at start).
check "reference: h01's table at start is complete and open, isolate chains end in drop" \
	eval '[[ $(kmode h01) == open ]] && grep -q "chain isolate_in" <<<"$SKEL" && grep -q "chain isolate_out" <<<"$SKEL" &&
		grep -q "chain isolate_fwd" <<<"$SKEL" && [[ $(grep -c "counter drop" <<<"$SKEL") -ge 3 ]]'

# =============================================================================
# 1. SIGKILL the agent during applies
# =============================================================================
H1=h02
declare -A C1=() # failure counters
D1=()            # first failures, for diagnostics
# per way of killing (0: ms after the CLI starts, 1: us after SIGCONT):
# the table after the kill was the old / the new state (and of the old, how
# often the record was already the new one); the command changed nothing
n_old=(0 0) n_new=(0 0) n_recorded_only=(0 0) n_same=(0 0)
n_rolled_back=0 n_startkills=0 n_raced=0 seen_state=0
f1() { # key text
	C1[$1]=$((${C1[$1]:-0} + 1))
	((${#D1[@]} < 15)) && D1+=("kill $i: $1: $2")
}

# after a kill: the table must be complete, the record must parse
dead_check() { # what
	local t s
	t=$(kmode $H1) || f1 dead-table "$1: table $t"
	DEAD_TABLE=$t
	if [[ ! -e $(statef $H1) ]] && ((!seen_state)); then
		s="open 0 0 -" # no record yet: the agent has never applied a command
	else
		s=$(bh_state_parse "$(statef $H1)") || f1 dead-state "$1: state file $s"
		seen_state=1
	fi
	DEAD_STATE=$s
}

start_agent_checked() { # (re)start H1 and check what it re-applies against its record
	local aoff coff line rmode repoch smode sepoch spend sprev exp t after
	if [[ ! -e $(statef $H1) ]] && ((!seen_state)); then
		read -r smode sepoch spend sprev <<<"open 0 0 -"
	else
		read -r smode sepoch spend sprev <<<"$(bh_state_parse "$(statef $H1)")"
	fi
	exp=$smode
	[[ $spend == 1 ]] && exp=$sprev && n_rolled_back=$((n_rolled_back + 1))
	aoff=$(log_size "$(alog $H1)")
	coff=$(log_size "$CLOG")
	lab agent-start $H1 2>/dev/null || { f1 start "lab agent-start failed"; return 1; }
	if ! line=$(wait_log "$(alog $H1)" "$aoff" 're-applied at start' 5); then
		f1 start "no 're-applied at start' line within 5 s"
		return 1
	fi
	t=$(kmode $H1)
	read -r rmode repoch < <(sed -nE 's/.*: mode ([a-z]+), epoch ([0-9]+) re-applied at start.*/\1 \2/p' <<<"$line")
	[[ $rmode == "$exp" && $repoch == "$sepoch" ]] ||
		f1 reapply "record '$smode $sepoch pending $spend prev $sprev', agent re-applied '$rmode $repoch'"
	# the table right after the re-apply, unless the controller already sent a change
	after=$(log_since "$(alog $H1)" "$aoff" | sed -n '/re-applied at start/,$p' | grep -cE ': (open|isolated|segmented)[^ ]* applied')
	if ((after == 0)); then
		[[ $t == "$rmode" ]] || f1 reapply-table "agent re-applied $rmode, the table is $t"
	else
		n_raced=$((n_raced + 1))
	fi
	ctl_connected_since $H1 "$coff" 5 || f1 connect "$H1 did not connect within 5 s"
}

settle() { # record, table and status agree (pending changes confirmed)
	local deadline s t st smode sepoch spend sprev
	deadline=$(($(date +%s%N) + 4000000000))
	while :; do
		if [[ ! -e $(statef $H1) ]] && ((!seen_state)); then
			s="open 0 0 -"
		else
			s=$(bh_state_parse "$(statef $H1)") && seen_state=1
		fi
		read -r smode sepoch spend sprev <<<"$s"
		t=$(kmode $H1)
		[[ $smode == "$t" && $spend == 0 ]] && break
		if (($(date +%s%N) > deadline)); then
			f1 settle "record '$s', table '$t' after 4 s"
			return 1
		fi
		sleep 0.02
	done
	st=$(cli status --json 2>/dev/null | jq -r --arg h $H1 '.hosts[] | select(.name == $h) | "\(.mode) \(.connected)"')
	[[ $st == "$t true" ]] || f1 status "status says '$st', the table is $t"
	SETTLED=$t
}

t1=$(date +%s%N)
SETTLED=$(kmode $H1)
for ((i = 1; i <= KILLS; i++)); do
	if (($(ms_since "$t1") > 150000)); then
		diag "part 1: stopped after $((i - 1)) kills: 150 s budget spent"
		break
	fi
	if ((i % 2)); then cmd=isolate want=isolated; else cmd=release want=open; fi
	old=$SETTLED
	if ! apid=$(daemon_pid $H1); then
		f1 agent "no running agent before the kill"
		start_agent_checked
		settle
		continue
	fi
	if (((i / 2) % 2)); then
		# The agent is stopped while the command reaches it, then killed a
		# random 0-1500 us after SIGCONT: a finer aim at its record and apply.
		m=1
		kill -STOP "$apid"
		timeout 10 "$BULKHEAD" -s "$SOCK" $cmd $H1 --timeout 2 >/dev/null 2>&1 &
		CLI_PIDS+=($!)
		sleep 0.06
		d=$((RANDOM % 1500))
		cont_kill "$apid" $d
		how="killed $d us after SIGCONT with the $cmd frame waiting"
	else
		# killed a random 0-20 ms after the CLI starts
		m=0
		timeout 10 "$BULKHEAD" -s "$SOCK" $cmd $H1 --timeout 2 >/dev/null 2>&1 &
		CLI_PIDS+=($!)
		d=$((RANDOM % 21))
		sleep "0.$(printf %03d $d)"
		how="killed $d ms into $cmd"
	fi
	kill9_wait "$apid" || f1 kill "agent $apid did not die"
	dead_check "$how ($old -> $want)"
	if [[ $want == "$old" ]]; then
		n_same[m]=$((n_same[m] + 1))
	elif [[ $DEAD_TABLE == "$want" ]]; then
		n_new[m]=$((n_new[m] + 1))
	elif [[ $DEAD_TABLE == "$old" ]]; then
		n_old[m]=$((n_old[m] + 1))
		[[ $DEAD_STATE == "$want "* ]] && n_recorded_only[m]=$((n_recorded_only[m] + 1))
	fi
	if ((i % 3 == 0)); then
		# and once more while it re-applies its record at start
		if lab agent-start $H1 2>/dev/null && apid=$(daemon_pid $H1); then
			d2=$((RANDOM % 21))
			sleep "0.$(printf %03d $d2)"
			kill9_wait "$apid" || f1 kill "agent $apid did not die"
			n_startkills=$((n_startkills + 1))
			dead_check "killed $d2 ms after its start"
		else
			f1 start "lab agent-start failed"
		fi
	fi
	start_agent_checked
	settle
done
done1=$((i - 1))
el1=$(ms_since "$t1")
for p in "${CLI_PIDS[@]}"; do wait "$p" 2>/dev/null; done
CLI_PIDS=()

check "part 1: $done1 of $KILLS SIGKILLs during applies done ($n_startkills more during the start's re-apply) in ${el1} ms" \
	test "$done1" -eq "$KILLS"
diag "part 1: table after the kill, killed 0-20 ms after the CLI started: old state ${n_old[0]} times (record already new: ${n_recorded_only[0]}), new state ${n_new[0]}, no change ${n_same[0]}" \
	"part 1: killed 0-1500 us after SIGCONT with the command waiting: old ${n_old[1]} (record already new: ${n_recorded_only[1]}), new ${n_new[1]}, no change ${n_same[1]}" \
	"part 1: unconfirmed releases rolled back at start: $n_rolled_back; controller changes right after start: $n_raced"
is "${C1[dead-table]:-0}" 0 "part 1: after every kill the table was the complete isolated or the complete open state"
is "${C1[dead-state]:-0}" 0 "part 1: after every kill the state file parsed (magic, mode, epoch)"
is "$((${C1[start]:-0} + ${C1[reapply]:-0}))" 0 "part 1: every restart re-applied the recorded mode and epoch (a pending change rolled back)"
is "${C1[reapply-table]:-0}" 0 "part 1: right after the re-apply, the table was the re-applied mode"
is "$((${C1[settle]:-0} + ${C1[status]:-0} + ${C1[connect]:-0} + ${C1[agent]:-0} + ${C1[kill]:-0}))" 0 \
	"part 1: after every restart the agent reconnected, and record, table and status agreed"
((${#D1[@]} == 0)) || diag "${D1[@]}"
check "part 1: the kills landed on both sides of the apply (old table: $((n_old[0] + n_old[1])), new: $((n_new[0] + n_new[1])))" \
	test $((n_old[0] + n_old[1] > 0 && n_new[0] + n_new[1] > 0)) = 1
[[ $SETTLED == open ]] || cli release $H1 >/dev/null 2>&1
specs_of $H1
traffic open "part 1: $H1 released after the kills" "${SPECS[@]}"

# =============================================================================
# 2. Simulated reboot of an isolated host, controller unreachable
# =============================================================================
H2=h03
specs_of $H2
rc=$(run_cli "$T_TMP/iso2" isolate $H2 --reason reboot-drill --json)
is "$rc" 0 "part 2: isolate $H2 exits 0"
EPOCH2=$(jq -r '.epoch' "$T_TMP/iso2.out" 2>/dev/null)
traffic blocked "part 2: $H2 isolated" "${SPECS[@]}"
apid=$(daemon_pid $H2)
check "part 2: $H2's agent killed with SIGKILL" kill9_wait "${apid:-0}"
lab ctl-stop 2>/dev/null
check "part 2: bulkheadd stopped" eval '! daemon_pid ctl >/dev/null'
check "part 2: 'nft flush ruleset' in $H2 (the orphaned table can go)" quiet nsx $H2 nft flush ruleset
is "$(nsx $H2 nft list ruleset 2>&1)" "" "part 2: $H2's ruleset is empty (as after a reboot)"
traffic open "part 2: $H2 after the 'reboot', no agent" "${SPECS[@]}"
aoff=$(log_size "$(alog $H2)")
lab agent-start $H2 -- -v
reline=$(wait_log "$(alog $H2)" "$aoff" 're-applied at start' 5)
check "part 2: the agent logs 're-applied at start' ($reline)" test -n "$reline"
check "part 2: it re-applied mode isolated, epoch $EPOCH2" eval '[[ $reline == *"mode isolated, epoch $EPOCH2 re-applied"* ]]'
is "$(kmode $H2)" isolated "part 2: $H2's table is complete and isolated right after the agent's start"
traffic blocked "part 2: agent started, controller down" "${SPECS[@]}"
check "part 2: the controller is still down" eval '! daemon_pid ctl >/dev/null'
connline=$(wait_log "$(alog $H2)" "$aoff" '[Cc]onnect' 5)
check "part 2: the agent tried to connect ($connline)" test -n "$connline"
order=$(log_since "$(alog $H2)" "$aoff" | awk '/re-applied at start/ && !r { r = NR } /[Cc]onnect|[Ss]ession|[Hh]andshake/ && !c { c = NR } END { print (r ? r : "none"), (c ? c : "none") }')
check "part 2: 're-applied at start' comes before the first connection line (lines: $order)" \
	eval 'read -r a b <<<"$order"; [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] && ((a < b))'
diag "agent log:" && log_since "$(alog $H2)" "$aoff" | head -n 6 | sed 's/^/#   /'
check "part 2: bulkheadd restarts" quiet lab ctl-start
check "part 2: every agent reconnects" lab wait-connected 20
is "$(host_field $H2 mode) $(host_field $H2 epoch)" "isolated $EPOCH2" "part 2: status: $H2 isolated at epoch $EPOCH2"

# =============================================================================
# 3. Tampering
# =============================================================================
H3=h04
specs_of $H3
rc=$(run_cli "$T_TMP/iso3" isolate $H3 --reason tamper-drill)
is "$rc" 0 "part 3: isolate $H3 exits 0"
t=$(bh_table $H3)
check "part 3a: the table is owned by the agent (flags owner)" eval 'grep -qE "^\sflags .*owner" <<<"$t"'
for op in flush delete; do
	out=$(nsx $H3 nft $op table inet bulkhead 2>&1)
	rc=$?
	check "part 3a: 'nft $op table inet bulkhead' fails with Operation not permitted (exit $rc)" \
		eval '((rc != 0)) && [[ $out == *"Operation not permitted"* ]]'
done
is "$(kmode $H3)" isolated "part 3a: the table is still complete and isolated"
traffic blocked "part 3a: after the attempts" "${SPECS[@]}"

lab agent-stop $H3
aoff=$(log_size "$(alog $H3)")
coff=$(log_size "$CLOG")
lab agent-start $H3 -- --no-table-owner
check "part 3b: agent restarted with --no-table-owner, says the table is not owned" \
	quiet wait_log "$(alog $H3)" "$aoff" 're-applied at start; table not owned' 5
check "part 3b: it reconnects" ctl_connected_since $H3 "$coff" 10
t=$(bh_table $H3)
check "part 3b: the table has no owner flag" eval '! grep -qE "^\sflags .*owner" <<<"$t"'
is "$(bh_table_mode "$t" "$SKEL")" isolated "part 3b: the table is complete and isolated"
restored() { # OP: is the tampering undone?
	[[ $(kmode $H3) == isolated ]] || return 1
	[[ $1 != evil ]] || [[ -z $(foreign_base_chains $H3) ]]
}
for op in flush delete evil; do
	tc0=$(host_field $H3 tamper_count)
	coff=$(log_size "$CLOG")
	t0=$(date +%s%N)
	case $op in
	flush) out=$(nsx $H3 nft flush table inet bulkhead 2>&1) ;;
	delete) out=$(nsx $H3 nft delete table inet bulkhead 2>&1) ;;
	evil) out=$(nsx $H3 nft -f - 2>&1 <<<'table inet evil { chain in { type filter hook input priority -500; policy accept; }; }') ;;
	esac
	rc=$?
	check "part 3b: tampering '$op' is accepted by the kernel (exit $rc${out:+: $out})" test $rc = 0
	ok=0
	for ((k = 0; k <= 20; k++)); do # every 50 ms, for 1 s
		restored $op && { ok=1; break; }
		sleep 0.05
	done
	el=$(ms_since "$t0")
	check "part 3b: '$op' undone within 1 s (${el} ms)" test $ok = 1
	((ok)) || diag "table: $(kmode $H3); foreign base chains: $(foreign_base_chains $H3 | tr '\n' ' ')"
	aline=$(wait_log "$CLOG" "$coff" "$H3: ALERT tamper" 3)
	check "part 3b: '$op' raised an alert in the controller's log" test -n "$aline"
	diag "  $aline"
	tc1=$tc0
	for ((k = 0; k < 30; k++)); do
		tc1=$(host_field $H3 tamper_count)
		[[ $tc1 =~ ^[0-9]+$ && $tc0 =~ ^[0-9]+$ ]] && ((tc1 > tc0)) && break
		sleep 0.1
	done
	check "part 3b: '$op': status tamper_count rose ($tc0 -> $tc1)" eval '[[ $tc1 =~ ^[0-9]+$ && $tc0 =~ ^[0-9]+$ ]] && ((tc1 > tc0))'
done
traffic blocked "part 3b: after the three tamperings" "${SPECS[@]}"

# =============================================================================
# 4. Isolate during a partition
# =============================================================================
H4=h05
specs_of $H4
traffic open "part 4: $H4 before the partition" "${SPECS[@]}"
coff=$(log_size "$CLOG")
aoff=$(log_size "$(alog $H4)")
check "part 4: lab partition $H4" quiet lab partition $H4
rc=$(run_cli "$T_TMP/iso4" isolate --all --timeout 3 --reason partition-drill --json)
is "$rc" 1 "part 4: isolate --all exits 1 (not every host confirmed)"
J=$T_TMP/iso4.out
st4=$(jq -r --arg h $H4 '.hosts[] | select(.name == $h) | .status' "$J" 2>/dev/null)
check "part 4: isolate --json: $H4 not confirmed (status '$st4')" eval '[[ -n $st4 && $st4 != confirmed ]]'
others=$(printf '%s\n' "${HOSTS[@]}" | grep -vx $H4 | tr '\n' ' ')
is "$(jq -r '[.hosts[] | select(.status == "confirmed") | .name] | sort | join(" ")' "$J" 2>/dev/null) " "$others" \
	"part 4: isolate --json: every other host confirmed"
is "$(kmode $H4)" open "part 4: $H4's table is still open while partitioned (the isolation is pending)"
check "part 4: status does not show $H4 isolated" eval '[[ $(host_field $H4 mode) != isolated ]]'
drops=$(lab partitions | sed -nE 's/.*counter packets ([0-9]+).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
check "part 4: the switch dropped $H4's frames ($drops packets)" test "$drops" -gt 0
check "part 4: no RST reached either side: the controller closed on the heartbeat timeout" \
	quiet wait_log "$CLOG" "$coff" "$H4 \\(.*session closed: agent silent past the heartbeat timeout" 3
t_heal=$(date +%s%N)
lab heal $H4
iso4() { [[ $(host_field $H4 mode) == isolated && $(host_field $H4 connected) == true ]]; }
ok=0
wait_for 25 iso4 && ok=1
check "part 4: $H4 isolated and connected after the heal, without a new command ($(ms_since "$t_heal") ms)" test $ok = 1
is "$(kmode $H4)" isolated "part 4: $H4's table is complete and isolated"
traffic blocked "part 4: $H4 after the heal" "${SPECS[@]}"
diag "controller: $(log_since "$CLOG" "$coff" | grep -E "$H4" | grep -iE 'pending|connected' | head -n 2 | tr '\n' '|')"

# =============================================================================
# 5. SIGKILL the controller during the fan-out of isolate --all
# =============================================================================
DB=$LABDIR/state/ctl/bulkhead.db
all_modes() { # the mode of every host in status, in HOSTS order
	cli status --json 2>/dev/null | jq -r '[.hosts[] | select(.connected == true) | "\(.name)=\(.mode)"] | sort | join(" ")'
}
want_all() { # MODE -> what all_modes prints when every host is in MODE
	local h s=""
	for h in "${HOSTS[@]}"; do s+="$h=$1 "; done
	echo "${s% }"
}
release_all() {
	local rc
	rc=$(run_cli "$T_TMP/rel5" release --all --timeout 5)
	[[ $rc == 0 ]] && wait_for 5 eval '[[ $(all_modes) == "$(want_all open)" ]]'
}
check "part 5: release --all before the rounds" release_all
# Each round: bulkheadd is stopped (SIGSTOP) while the CLI connects and sends
# isolate --all, then let go (SIGCONT) and killed (SIGKILL) a random 0-2.5 ms
# later, a finer aim than the CLI's start-up allows. At least 6 rounds, until
# one killed it with the command recorded and not yet applied by every host
# (at most 12).
rounds=0 rounds_stored=0 rounds_inflight=0 rounds_partial=0
while ((rounds < 12)) && ! ((rounds >= 6 && rounds_partial > 0)); do
	rounds=$((rounds + 1))
	declare -A aoffs=()
	for h in "${HOSTS[@]}"; do aoffs[$h]=$(log_size "$(alog $h)"); done
	if ! cpid=$(daemon_pid ctl); then
		tap_not_ok "part 5 round $rounds: bulkheadd is running"
		break
	fi
	delay=$((RANDOM % 2500))
	kill -STOP "$cpid"
	timeout 15 "$BULKHEAD" -s "$SOCK" isolate --all --timeout 5 --reason fanout-kill >"$T_TMP/iso5.out" 2>&1 &
	clipid=$!
	CLI_PIDS+=("$clipid")
	sleep 0.1
	cont_kill "$cpid" $delay
	kill9_wait "$cpid" || diag "bulkheadd ($cpid) did not die"
	wait $clipid
	clirc=$?
	CLI_PIDS=()
	# What the controller recorded as commanded, read while it is down
	wants=$(sqlite3 -readonly "$DB" "SELECT want_mode || ' ' || want_epoch FROM hosts" 2>&1 | sort -u)
	if [[ $(wc -l <<<"$wants") != 1 || ! $wants =~ ^[0-9]+\ [0-9]+$ ]]; then
		tap_not_ok "part 5 round $rounds: the controller's record commands every host the same ($(tr '\n' '|' <<<"$wants"))"
		lab ctl-start 2>/dev/null
		lab wait-connected 20 2>/dev/null
		continue
	fi
	read -r wmode wepoch <<<"$wants"
	case $wmode in 2) exp=isolated ;; 0) exp=open ;; *) exp="mode $wmode" ;; esac
	napplied=0
	for h in "${HOSTS[@]}"; do
		log_since "$(alog $h)" "${aoffs[$h]}" | grep -q "epoch $wepoch: isolated applied" && napplied=$((napplied + 1))
	done
	if [[ $exp == isolated ]]; then
		rounds_stored=$((rounds_stored + 1))
		((clirc != 0)) && rounds_inflight=$((rounds_inflight + 1))
		((napplied < N)) && rounds_partial=$((rounds_partial + 1))
	fi
	ok=1
	lab ctl-start 2>/dev/null || ok=0
	lab wait-connected 20 2>/dev/null || ok=0
	wait_for 10 eval '[[ $(all_modes) == "$(want_all $exp)" ]]' || ok=0
	kbad=""
	for h in "${HOSTS[@]}"; do
		m=$(kmode $h)
		[[ $m == "$exp" ]] || kbad+="$h:$m "
	done
	check "part 5 round $rounds (killed ${delay} us after SIGCONT, CLI exit $clirc): recorded $exp at epoch $wepoch, $napplied/$N hosts had applied it; after the restart every host is $exp (status, kernel${kbad:+; wrong: $kbad})" \
		eval '((ok)) && [[ -z $kbad ]]' || diag "status: $(all_modes)"
	if [[ $exp == isolated ]]; then
		TS=()
		for h in "${HOSTS[@]}"; do TS+=("tcp ctl $h 4 $PORT" "ping $h ctl 6"); done
		traffic blocked "part 5 round $rounds" "${TS[@]}"
		check "part 5: release --all after round $rounds" release_all
	fi
done
check "part 5: $rounds rounds; in $rounds_inflight the kill came after the command was recorded and before the CLI had its result ($rounds_stored recorded, $rounds_partial not yet applied everywhere)" \
	test "$rounds_inflight" -gt 0

# =============================================================================
# 6. A blackholed session is noticed by both sides
# =============================================================================
H6=h02
check "part 6: $H6 connected before the blackhole" host_connected $H6
coff=$(log_size "$CLOG")
aoff=$(log_size "$(alog $H6)")
lab partition $H6
t0=$(date +%s%N)
ctl_ms="" agent_ms=""
limit6=$((DEAD_MS + 2000))
while (($(ms_since "$t0") < limit6 + 2000)); do
	[[ -z $ctl_ms ]] && log_since "$CLOG" "$coff" | grep -qE "$H6 \\(.*session closed: agent silent past the heartbeat timeout" &&
		ctl_ms=$(ms_since "$t0")
	[[ -z $agent_ms ]] && log_since "$(alog $H6)" "$aoff" | grep -q "controller silent past the heartbeat timeout" &&
		agent_ms=$(ms_since "$t0")
	[[ -n $ctl_ms && -n $agent_ms ]] && break
	sleep 0.05
done
check "part 6: the controller noticed the blackhole in ${ctl_ms:-(never)} ms (limit dead_ms + 2 s = $limit6 ms)" \
	eval '[[ -n $ctl_ms ]] && ((ctl_ms <= limit6))'
check "part 6: the agent noticed it in ${agent_ms:-(never)} ms (limit $limit6 ms)" \
	eval '[[ -n $agent_ms ]] && ((agent_ms <= limit6))'
check "part 6: the controller's status shows $H6 not connected" host_disconnected $H6
lab heal $H6
check "part 6: $H6 reconnects after the heal" lab wait-connected 25

# =============================================================================
# 7. Full state directory
# =============================================================================
H7=h03
specs_of $H7
rc=$(run_cli "$T_TMP/rel7a" release $H7)
is "$rc" 0 "part 7: release $H7 (before filling its disk)"
is "$(kmode $H7)" open "part 7: $H7's table is open"
lab agent-stop $H7
SD=$LABDIR/state/$H7
mkdir -p "$T_TMP/state-$H7"
cp -a "$SD/." "$T_TMP/state-$H7/"
if mount -t tmpfs -o size=64k,mode=0700 bhF-full "$SD"; then
	MNT=$SD
	cp -a "$T_TMP/state-$H7/." "$SD/"
	dd if=/dev/zero of="$SD/fill" bs=4k count=64 >/dev/null 2>&1 # 64 KiB at most
	avail=$(df --output=avail "$SD" | tail -n 1 | tr -d ' ')
	check "part 7: $H7's state dir is a full 64k tmpfs (available: ${avail} KiB; a 1-byte write fails)" \
		eval '[[ $avail == 0 ]] && ! (echo x >"$SD/probe") 2>/dev/null'
	rm -f "$SD/probe"
	disk_state=$(bh_state_parse "$SD/state")
	coff=$(log_size "$CLOG")
	lab agent-start $H7
	check "part 7: $H7's agent reconnects" ctl_connected_since $H7 "$coff" 10
	rc=$(run_cli "$T_TMP/iso7" isolate $H7 --reason disk-full --json)
	J=$T_TMP/iso7.out
	diag "isolate $H7 --json (exit $rc): $(jq -c '.hosts[0] | {status, persisted, mode}' "$J" 2>/dev/null)"
	is "$(jq -r '.hosts[0] | "\(.name) \(.status) \(.mode)"' "$J" 2>/dev/null)" "$H7 confirmed isolated" \
		"part 7: isolate $H7 --json: confirmed, isolated"
	is "$(jq -r '.hosts[0].persisted' "$J" 2>/dev/null)" false "part 7: isolate --json: persisted is false"
	is "$(kmode $H7)" isolated "part 7: $H7's table is complete and isolated"
	traffic blocked "part 7: isolated with a full disk" "${SPECS[@]}"
	is "$(bh_state_parse "$SD/state")" "$disk_state" "part 7: the record on disk is the old one ($disk_state)"
	t0=$(date +%s%N)
	rc=$(run_cli "$T_TMP/rel7" release $H7 --timeout 4 --json)
	el=$(ms_since "$t0")
	J=$T_TMP/rel7.out
	st7=$(jq -r '.hosts[0].status' "$J" 2>/dev/null)
	err7=$(jq -r '.hosts[0].error // empty' "$J" 2>/dev/null)
	diag "release $H7 --timeout 4 --json (exit $rc, $el ms): $(jq -c '.hosts[0] | {status, mode, error}' "$J" 2>/dev/null) $(head -c 300 "$T_TMP/rel7.err")"
	check "part 7: release $H7 is not carried out (exit $rc, status '$st7')" eval '[[ $rc != 0 && $st7 != confirmed ]]'
	check "part 7: it is reported as refused by the agent, with the reason: the state directory (status '$st7', error '$err7')" \
		eval '[[ $st7 != timeout && $st7 != not-connected ]] && cat "$J" "$T_TMP/rel7.err" | grep -qi "state dir"'
	is "$(host_field $H7 mode)" isolated "part 7: status: $H7 still isolated"
	is "$(kmode $H7)" isolated "part 7: $H7's table is still isolated"
	traffic blocked "part 7: after the refused release" "${SPECS[@]}"
	lab agent-stop $H7
	if umount "$SD"; then MNT=""; fi
	check "part 7: the tmpfs is unmounted" test -z "$MNT"
else
	tap_not_ok "part 7: mount a 64k tmpfs over $SD"
fi

diag "test_faults: $(ms_since "$T_START") ms in all"
tap_done
