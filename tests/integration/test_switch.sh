#!/usr/bin/env bash
# A switch agent (profile linux-switch) in the lab's switch namespace manages
# the bridge ports p-hNN that lead to the hosts, driven by the real
# controller: a host whose agent is dead is isolated at its port (isolate,
# the switch-port fallback), release reopens it commit-confirmed (bulkheadd
# confirms), isolate sw1 --hard blocks every host-facing port and release
# sw1 brings back what it took. Real traffic between the hosts proves every
# step; the switch's record, a restart, tampering (alerts reach bulkheadd)
# and link flaps are checked too, with both port_isolation methods, and the
# time to change 48 ports is printed.
# bh-send, a stand-in controller, sends what bulkheadd never sends: frames at
# an older epoch, for the uplink or for a port that does not exist, and
# openings it never confirms (they must roll back).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

lab_begin_snap 3 bridge-block
SWLOG=$LABDIR/logs/sw1.log
H1=$(addr h01 4) H2=$(addr h02 4) H3=$(addr h03 4)
tampers() { host_field "$1" tamper_count; }
fwd() { [[ $(brport_state "$1") == forwarding ]]; }
not_fwd() { ! fwd "$1"; }
# kill_agent HOST: SIGKILL its agent, wait until bulkheadd sees it gone
kill_agent() {
	lab agent-stop "$1" --kill
	wait_for 10 host_disconnected "$1"
}

check "before: h01 -> h02 ping" nsping_ok h01 "$H2"
check "before: h01 -> ctl ping" nsping_ok h01 "$CTL_V4"
check "the switch agent logged its profile" grep -q "hardware profile linux-switch" "$SWLOG"

# ---- a dead host agent: isolate h01 cuts it off at p-h01 ----
check "h01's agent killed: disconnected" kill_agent h01
rc=$(run_cli "$T_TMP/iso1" isolate h01 --json --reason "switch test")
J=$T_TMP/iso1.out
is "$rc $(jhost "$J" h01 status)" "1 isolated-at-switch" "isolate h01: exit 1, isolated-at-switch"
is "$(jhost "$J" h01 error)" "isolated at sw1 port p-h01 (host agent silent)" "isolate h01: the summary names sw1 port p-h01"
E=$(jq -r .epoch "$J" 2>/dev/null)
check "p-h01 no longer forwards (bridge state $(brport_state p-h01))" not_fwd p-h01
check "p-h02 still forwards" fwd p-h02
check "isolated port: h01 -> h02 ping fails" nsping_fails h01 "$H2"
check "isolated port: h02 -> h01 ping fails" nsping_fails h02 "$H1"
check "isolated port: h01 -> ctl ping fails" nsping_fails h01 "$CTL_V4"
check "other ports: h02 -> h03 ping still works" nsping_ok h02 "$H3"
check "the record holds the port: 'port p-h01 isolated bridge-block $E 0'" \
	state_has sw1 "port p-h01 isolated bridge-block $E 0"

# ---- the same command again: acked, nothing changes ----
rc=$(run_cli "$T_TMP/iso1b" isolate h01 --json --reason "switch test")
is "$(jhost "$T_TMP/iso1b.out" h01 status)" isolated-at-switch "isolate h01 again: isolated-at-switch again (idempotent)"
check "p-h01 still blocked" not_fwd p-h01

# ---- tampering on the switch, and a link flap from the host ----
t0=$(tampers sw1)
swx bridge link set dev p-h01 state 3
tamper_more() { (($(tampers sw1) > t0)); }
check "port set forwarding by hand: the agent blocks it again, bulkheadd gets the alert (tamper count > $t0)" \
	wait_for 5 tamper_more
check "after the tamper: p-h01 blocked" not_fwd p-h01
check "after the tamper: h01 -> h02 ping fails" nsping_fails h01 "$H2"
ip -n "$BH_LAB_PREFIX-h01" link set eth0 down
sleep 0.3
ip -n "$BH_LAB_PREFIX-h01" link set eth0 up
sleep 1
check "host flaps its link: p-h01 does not come back forwarding ($(brport_state p-h01))" not_fwd p-h01
check "after the flap: h01 -> h02 ping fails" nsping_fails h01 "$H2"

# ---- release h01: the port opens, commit-confirmed by bulkheadd ----
swoff=$(log_size "$SWLOG")
rc=$(run_cli "$T_TMP/rel1" release h01 --confirm-timeout 2 --json --reason "switch test")
E2=$(jq -r .epoch "$T_TMP/rel1.out" 2>/dev/null)
is "$(jhost "$T_TMP/rel1.out" h01 status)" not-connected "release h01: its own agent is still dead (not-connected)"
check "release h01: p-h01 forwards again" wait_for 5 fwd p-h01
check "the switch opened it awaiting confirmation, and got it" \
	quiet wait_log "$SWLOG" "$swoff" "epoch $E2: 1 port confirmed open" 5
sleep 2.5
check "confirmed: still open after the 2 s confirmation time, h01 -> h02 ping works" nsping_ok h01 "$H2"
check "record: open, not pending ('port p-h01 open bridge-block $E2 0')" state_has sw1 "port p-h01 open bridge-block $E2 0"
lab agent-start h01
check "h01's agent is back" wait_for 20 host_connected h01

# ---- several ports, and a restart of the switch agent ----
kill_agent h02
kill_agent h03
rc=$(run_cli "$T_TMP/iso23" isolate h02 h03 --json --reason "switch test")
is "$(jstatuses "$T_TMP/iso23.out")" "h02=isolated-at-switch h03=isolated-at-switch" "isolate h02 h03 (agents dead): both at the switch"
lab switch-agent stop --kill
swx bridge link set dev p-h02 state 3
swx bridge link set dev p-h03 state 3
check "with the switch agent dead and the ports forced open, h02 -> h03 ping works" nsping_ok h02 "$H3"
lab switch-agent start
check "the switch agent is back" wait_for 20 host_connected sw1
check "restarted agent re-isolated p-h02 from its record" not_fwd p-h02
check "restarted agent re-isolated p-h03 from its record" not_fwd p-h03
check "after the restart: h02 -> h03 ping fails" nsping_fails h02 "$H3"
check "after the restart: h01 -> ctl ping works (p-h01 was opened and confirmed)" nsping_ok h01 "$CTL_V4"

# ---- hard isolation of the switch: every host-facing port ----
rc=$(run_cli "$T_TMP/hard" isolate sw1 --hard --json --reason "switch test")
is "$rc $(jhost "$T_TMP/hard.out" sw1 status)" "0 confirmed" "isolate sw1 --hard: exit 0, confirmed"
check "hard: p-h01 (the one host port that was open) blocked" not_fwd p-h01
check "hard: h01 -> ctl ping fails" nsping_fails h01 "$CTL_V4"
check "hard: the uplink p-ctl still forwards" fwd p-ctl
check "hard: record says 'hard 1' and 'held-port p-h01'" \
	bash -c "grep -qx 'hard 1' '$(state_file sw1)' && grep -qx 'held-port p-h01' '$(state_file sw1)'"
check "hard: sw1 stays connected" host_connected sw1
rc=$(run_cli "$T_TMP/hardrel" release sw1 --confirm-timeout 2 --json --reason "switch test")
is "$rc $(jhost "$T_TMP/hardrel.out" sw1 status)" "0 confirmed" "release sw1: exit 0, confirmed"
check "released: p-h01 forwards" fwd p-h01
check "released: p-h02 stays isolated (set for its silent host, not by --hard)" not_fwd p-h02
sleep 2.5
check "confirmed release: h01 -> ctl ping works after the confirmation time" nsping_ok h01 "$CTL_V4"
check "record: no hard lines any more" bash -c "! grep -q '^hard\|^held-' '$(state_file sw1)'"

# ---- link-down method ----
rc=$(run_cli "$T_TMP/rel23" release h02 h03 --confirm-timeout 2 --reason "switch test")
check "release h02 h03: p-h02 and p-h03 forward again" wait_for 5 eval 'fwd p-h02 && fwd p-h03'
check "sw1 restarted with port_isolation link-down" switch_method link-down
check "h01's agent killed: disconnected" kill_agent h01
rc=$(run_cli "$T_TMP/iso30" isolate h01 --json --reason "switch test: link-down")
is "$(jhost "$T_TMP/iso30.out" h01 status)" isolated-at-switch "link-down: isolate h01: isolated-at-switch"
is "$(link_state sw p-h01)" DOWN "link-down: p-h01 is down"
check "link-down: h01 -> ctl ping fails" nsping_fails h01 "$CTL_V4"
swx ip link set p-h01 up
sleep 1
is "$(link_state sw p-h01)" DOWN "link-down: set up by hand, the agent takes it down again"
rc=$(run_cli "$T_TMP/rel30" release h01 --confirm-timeout 2 --reason "switch test: link-down")
linkup() { [[ $(link_state sw p-h01) == UP ]]; }
check "link-down: release h01, p-h01 up again" wait_for 5 linkup
check "link-down: opened, h01 -> ctl ping works" nsping_ok h01 "$CTL_V4" ||
	diag "p-h01: $(swx ip -o link show p-h01) bridge state $(brport_state p-h01)" \
		"h01: $(ip -n "$BH_LAB_PREFIX-h01" -o link show eth0)" "$(tail -n 5 "$SWLOG")"

# ---- 48 host-facing ports: the time to change them all ----
# p-h04 .. p-h48: veth pairs inside the switch namespace (peer q-hNN), on br0
for ((i = 4; i <= 48; i++)); do
	printf 'link add p-h%02d type veth peer name q-h%02d\nlink set p-h%02d master br0 up\nlink set q-h%02d up\n' $i $i $i $i
done | swx ip -batch - || bail "could not add the 45 extra ports"
ports_up() { swx ip -o link show | grep -cE '^[0-9]+: p-h[0-9]+@[^:]*: <([A-Z_]+,)*UP[,>]'; }
is "$(ports_up)" 48 "48 host-facing ports p-h01..p-h48, all up"
swoff=$(log_size "$SWLOG")
t0=$(date +%s%N)
rc=$(run_cli "$T_TMP/hard48" isolate sw1 --hard --json --reason "switch test: 48 ports")
el=$(ms_since "$t0")
is "$rc $(jhost "$T_TMP/hard48.out" sw1 status)" "0 confirmed" "isolate sw1 --hard with 48 ports: exit 0, confirmed"
is "$(ports_up)" 0 "every one of the 48 host-facing ports is down"
is "$(link_state sw p-ctl)" UP "the uplink p-ctl is up"
ap=$(jhost "$T_TMP/hard48.out" sw1 apply_us)
check "the switch agent took 48 ports down in under a second (${ap} us)" eval "[[ \$ap =~ ^[0-9]+$ ]] && ((ap < 1000000))"
swoff2=$(log_size "$SWLOG")
t1=$(date +%s%N)
rc=$(run_cli "$T_TMP/rel48" release sw1 --json --reason "switch test: 48 ports")
el2=$(ms_since "$t1")
is "$rc $(ports_up)" "0 48" "release sw1: exit 0, the 48 ports up again"
# first and last line of each change in the agent's log (HH:MM:SS.mmm)
span() { # FROM-OFFSET TO-OFFSET REGEX: ms between the first and last matching line
	log_since "$SWLOG" "$1" | head -c $(($2 - $1)) | grep -E "$3" |
		awk '{ split($1, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]; if (!n++) a = s; b = s }
		     END { if (n) printf "%.0f ms over %d lines", (b - a) * 1000, n }'
}
diag "FIGURE: 48 ports, link-down, through bulkheadd: isolate sw1 --hard ${el} ms (CLI)," \
	"        bulkheadd $(jq -r .elapsed_ms "$T_TMP/hard48.out" 2>/dev/null) ms, agent apply $(awk -v u="$ap" 'BEGIN { printf "%.1f", u / 1000 }') ms;" \
	"        log: $(span "$swoff" "$swoff2" 'hard isolation: p-h[0-9]+ down') down;" \
	"        release sw1 ${el2} ms (CLI), bulkheadd $(jq -r .elapsed_ms "$T_TMP/rel48.out" 2>/dev/null) ms, log: $(span "$swoff2" "$(log_size "$SWLOG")" 'hard isolation released: p-h[0-9]+ up') up"

# ---- bh-send: what bulkheadd never sends ----
bhs_start || bail "bh-send did not start"
lab agent-conf sw1 port="$BH_SEND_PORT"
lab switch-agent stop
BHS_OFF=$(wc -l <"$BHS_OUT")
lab switch-agent start
check "sw1 reaches the stand-in controller" quiet wait_hello sw1
# above every epoch the switch holds (its mode's and its ports')
E=$(awk '$1 == "epoch" || $1 == "prev-epoch" { if ($2 > m) m = $2 } $1 == "port" { if ($5 > m) m = $5 } END { print m + 0 }' "$(state_file sw1)")
ack=$(bhs_req sw1 port-set $((E + 10)) isolated p-h01)
is "$(field "$ack" status) $(field "$ack" ports)" "applied p-h01" "port-set $((E + 10)) isolated p-h01: applied"
ack=$(bhs_req sw1 port-set $((E + 9)) open p-h01 confirm=3000)
is "$(field "$ack" status) $(field "$ack" result)" "refused 116" "port-set at an older epoch ($((E + 9))): refused ESTALE"
ack=$(bhs_req sw1 port-set $((E + 11)) isolated p-ctl)
is "$(field "$ack" status) $(field "$ack" result)" "refused 1" "port-set on the uplink p-ctl: refused EPERM"
is "$(link_state sw p-ctl)" UP "the uplink stays up"
ack=$(bhs_req sw1 port-set $((E + 11)) isolated p-h02 no-such-port)
is "$(field "$ack" status) $(field "$ack" result)" "refused 19" "port-set naming a port that does not exist: refused ENODEV, whole command"
is "$(link_state sw p-h02)" UP "the refused command changed nothing: p-h02 up"

# an opening that is never confirmed rolls back (BHS_OFF: bhs_req runs in
# a subshell here, the rollback is looked for after this request)
BHS_OFF=$(wc -l <"$BHS_OUT")
ack=$(bhs_req sw1 port-set $((E + 12)) open p-h01 confirm=2000)
is "$(field "$ack" status)" pending-confirm "port-set $((E + 12)) open p-h01 confirm=2000: pending-confirm"
is "$(link_state sw p-h01)" UP "opened: p-h01 up"
check "record: open, pending" state_has sw1 "port p-h01 open link-down $((E + 12)) 1"
rb=$(bhs_wait '^sw1 ack seq=0 status=rolled-back' 6)
is "$(field "$rb" ports) $(field "$rb" state)" "p-h01 isolated" "not confirmed in 2 s: rolled back, port p-h01 isolated again"
is "$(link_state sw p-h01)" DOWN "after the rollback: p-h01 down"
check "record after the rollback: isolated, not pending" state_has sw1 "port p-h01 isolated link-down $((E + 12)) 0"

# hard isolation: a held port cannot be opened; a release never confirmed rolls back
ack=$(bhs_req sw1 set-mode $((E + 20)) isolated hard)
is "$(field "$ack" status) $(field "$ack" hard)" "applied 1" "set-mode $((E + 20)) isolated --hard: applied, hard=1"
ack=$(bhs_req sw1 port-set $((E + 21)) open p-h02 confirm=2000)
is "$(field "$ack" status) $(field "$ack" result)" "refused 16" "port-set open on a port held by hard isolation: refused EBUSY"
BHS_OFF=$(wc -l <"$BHS_OUT")
ack=$(bhs_req sw1 set-mode $((E + 22)) open confirm=2000)
is "$(field "$ack" status)" pending-confirm "release of the hard isolation: pending-confirm"
is "$(link_state sw p-h02)" UP "released: p-h02 up"
is "$(link_state sw p-h01)" DOWN "released: p-h01 stays down (set by port-set, not by --hard)"
rb=$(bhs_wait '^sw1 ack seq=0 status=rolled-back' 6)
is "$(field "$rb" mode) $(field "$rb" hard)" "isolated 1" "release not confirmed: rolled back to isolated --hard"
is "$(link_state sw p-h02)" DOWN "after the rollback: p-h02 down again"

tap_done
