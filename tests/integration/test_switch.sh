#!/usr/bin/env bash
# A switch agent (profile linux-switch) in the lab's switch namespace manages
# the bridge ports p-hNN that lead to the hosts. Driven by bh-send, a
# stand-in controller, through the wire frames the controller will send:
# WIRE_PORT_SET isolated/open (commit-confirmed), WIRE_CONFIRM, SET_MODE
# isolated --hard. Real traffic between the hosts proves every step; the
# agent's record, a restart, tampering and link flaps are checked too.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

lab_begin 3
bhs_start || bail "bh-send did not start"
BHS_OFF=0
if lab switch-agent up --method bridge-block --port "$BH_SEND_PORT" >"$T_TMP/sw.log" 2>&1 &&
	wait_hello sw1 0 >/dev/null; then
	tap_ok "switch agent sw1 (linux-switch, bridge-block) runs in the switch namespace and reaches the controller"
else
	tap_not_ok "switch agent sw1 (linux-switch, bridge-block) runs in the switch namespace and reaches the controller"
	diag_file "$T_TMP/sw.log"
	diag_file "$LABDIR/logs/sw1.log" 30
	tap_done
fi
SWLOG=$LABDIR/logs/sw1.log
H1=$(addr h01 4) H2=$(addr h02 4) H3=$(addr h03 4)

check "before: h01 -> h02 ping" nsping_ok h01 "$H2"
check "before: h01 -> ctl ping" nsping_ok h01 "$CTL_V4"

# ---- isolate one port ----
ack=$(bhs_req sw1 port-set 10 isolated p-h01)
is "$(field "$ack" status) $(field "$ack" ports) $(field "$ack" state)" "applied p-h01 isolated" \
	"port-set 10 isolated p-h01: acked applied, the port echoed"
diag "ack: $ack"
check "p-h01 no longer forwards (bridge state $(brport_state p-h01))" test "$(brport_state p-h01)" != forwarding
check "p-h02 still forwards" test "$(brport_state p-h02)" == forwarding
check "isolated port: h01 -> h02 ping fails" nsping_fails h01 "$H2"
check "isolated port: h02 -> h01 ping fails" nsping_fails h02 "$H1"
check "isolated port: h01 -> ctl ping fails" nsping_fails h01 "$CTL_V4"
check "other ports: h02 -> h03 ping still works" nsping_ok h02 "$H3"
check "the record holds the port: 'port p-h01 isolated bridge-block 10 0'" \
	state_has sw1 "port p-h01 isolated bridge-block 10 0"

# ---- the same command again: acked, nothing changes ----
ack=$(bhs_req sw1 port-set 10 isolated p-h01)
is "$(field "$ack" status)" applied "port-set 10 isolated p-h01 again: applied (idempotent)"

# ---- tampering on the switch, and a link flap from the host ----
BHS_OFF=$(wc -l <"$BHS_OUT")
swx bridge link set dev p-h01 state 3
check "port set forwarding by hand: the agent blocks it again and alerts" \
	quiet bhs_wait '^sw1 alert kind=tamper .*p-h01' 5
check "after the tamper: h01 -> h02 ping fails" nsping_fails h01 "$H2"
BHS_OFF=$(wc -l <"$BHS_OUT")
ip -n "$BH_LAB_PREFIX-h01" link set eth0 down
sleep 0.3
ip -n "$BH_LAB_PREFIX-h01" link set eth0 up
sleep 1
check "host flaps its link: p-h01 does not come back forwarding ($(brport_state p-h01))" \
	test "$(brport_state p-h01)" != forwarding
check "after the flap: h01 -> h02 ping fails" nsping_fails h01 "$H2"

# ---- refusals ----
ack=$(bhs_req sw1 port-set 9 open p-h01 confirm=3000)
is "$(field "$ack" status) $(field "$ack" result)" "refused 116" "port-set at an older epoch (9): refused ESTALE"
ack=$(bhs_req sw1 port-set 11 isolated p-ctl)
is "$(field "$ack" status) $(field "$ack" result)" "refused 1" "port-set on the uplink p-ctl: refused EPERM"
check "the uplink still forwards" test "$(brport_state p-ctl)" == forwarding
ack=$(bhs_req sw1 port-set 11 isolated p-h02 no-such-port)
is "$(field "$ack" status) $(field "$ack" result)" "refused 19" "port-set naming a port that does not exist: refused ENODEV, whole command"
check "refused command changed nothing: p-h02 forwards" test "$(brport_state p-h02)" == forwarding

# ---- open, unconfirmed: rolls back ----
ack=$(bhs_req sw1 port-set 12 open p-h01 confirm=2000)
is "$(field "$ack" status)" pending-confirm "port-set 12 open p-h01 confirm=2000: pending-confirm"
check "opened: h01 -> h02 ping works" nsping_ok h01 "$H2"
check "record: open, pending" state_has sw1 "port p-h01 open bridge-block 12 1"
rb=$(bhs_wait '^sw1 ack seq=0 status=rolled-back' 6)
is "$(field "$rb" ports) $(field "$rb" state)" "p-h01 isolated" "not confirmed in 2 s: rolled back, port p-h01 isolated again"
check "after the rollback: h01 -> h02 ping fails" nsping_fails h01 "$H2"
check "record after the rollback: isolated, not pending" state_has sw1 "port p-h01 isolated bridge-block 12 0"

# ---- open, confirmed: stays open ----
ack=$(bhs_req sw1 port-set 13 open p-h01 confirm=2000)
is "$(field "$ack" status)" pending-confirm "port-set 13 open p-h01: pending-confirm"
ack=$(bhs_req sw1 confirm 13)
is "$(field "$ack" status)" committed "confirm 13: committed"
sleep 2.5
check "confirmed: still open after the rollback time, h01 -> h02 ping works" nsping_ok h01 "$H2"
check "record: open, not pending" state_has sw1 "port p-h01 open bridge-block 13 0"

# ---- several ports at once, and a restart ----
ack=$(bhs_req sw1 port-set 14 isolated p-h02 p-h03)
is "$(field "$ack" status) $(field "$ack" ports)" "applied p-h02,p-h03" "port-set 14 isolated p-h02 p-h03: both echoed"
lab switch-agent stop --kill
swx bridge link set dev p-h02 state 3
swx bridge link set dev p-h03 state 3
check "with the agent dead and the ports forced open, h02 -> h03 ping works" nsping_ok h02 "$H3"
BHS_OFF=$(wc -l <"$BHS_OUT")
lab switch-agent start
hello=$(wait_hello sw1)
is "$(field "$hello" ports)" "p-h02,p-h03" "restarted agent says hello with the ports it holds isolated"
check "restarted agent re-isolated p-h02 from its record" test "$(brport_state p-h02)" != forwarding
check "after the restart: h02 -> h03 ping fails" nsping_fails h02 "$H3"
check "after the restart: h01 -> ctl ping works (p-h01 was opened and confirmed)" nsping_ok h01 "$CTL_V4"

# ---- hard isolation of the switch: every host-facing port ----
ack=$(bhs_req sw1 set-mode 20 isolated hard)
is "$(field "$ack" status) $(field "$ack" hard)" "applied 1" "set-mode 20 isolated --hard: applied, hard=1"
is "$(field "$ack" links)" "p-h01" "hard isolation held the one host port that was open (p-h01)"
check "hard: h01 -> h02 ping fails" nsping_fails h01 "$H2"
check "hard: the uplink p-ctl still forwards" test "$(brport_state p-ctl)" == forwarding
check "hard: record says 'hard 1' and 'held-port p-h01'" bash -c "grep -qx 'hard 1' '$(state_file sw1)' && grep -qx 'held-port p-h01' '$(state_file sw1)'"
ack=$(bhs_req sw1 port-set 21 open p-h01 confirm=2000)
is "$(field "$ack" status) $(field "$ack" result)" "refused 16" "port-set open on a port held by hard isolation: refused EBUSY"
ack=$(bhs_req sw1 set-mode 22 open confirm=2000)
is "$(field "$ack" status)" pending-confirm "release of the hard isolation: pending-confirm"
check "released: h01 -> ctl ping works" nsping_ok h01 "$CTL_V4"
check "released: p-h02 stays isolated (set by port-set, not by --hard)" test "$(brport_state p-h02)" != forwarding
rb=$(bhs_wait '^sw1 ack seq=0 status=rolled-back' 6)
is "$(field "$rb" mode) $(field "$rb" hard)" "isolated 1" "release not confirmed: rolled back to isolated --hard"
check "after the rollback: p-h01 isolated again" test "$(brport_state p-h01)" != forwarding
ack=$(bhs_req sw1 set-mode 23 open confirm=2000)
ack2=$(bhs_req sw1 confirm 23)
is "$(field "$ack2" status)" committed "release at epoch 23, confirmed"
sleep 2.5
check "confirmed release: h01 -> ctl ping works" nsping_ok h01 "$CTL_V4"
check "record: no hard lines any more" bash -c "! grep -q '^hard\|^held-' '$(state_file sw1)'"

# ---- link-down method ----
lab switch-agent stop
sed -i 's/^port_isolation:.*/port_isolation: link-down/' "$LABDIR/profiles/sw1/linux-switch.yaml"
BHS_OFF=$(wc -l <"$BHS_OUT")
lab switch-agent start
wait_hello sw1 >/dev/null
ack=$(bhs_req sw1 port-set 30 isolated p-h01)
is "$(field "$ack" status)" applied "link-down: port-set 30 isolated p-h01 applied"
is "$(ip -n "$BH_LAB_PREFIX-sw" -o link show p-h01 | grep -c 'state DOWN')" 1 "link-down: p-h01 is down"
check "link-down: h01 -> ctl ping fails" nsping_fails h01 "$CTL_V4"
ip -n "$BH_LAB_PREFIX-sw" link set p-h01 up
sleep 1
is "$(ip -n "$BH_LAB_PREFIX-sw" -o link show p-h01 | grep -c '[<,]UP[,>]')" 0 "link-down: set up by hand, the agent takes it down again"
ack=$(bhs_req sw1 port-set 31 open p-h01)
is "$(field "$ack" status)" applied "link-down: port-set 31 open (no confirm) applied"
check "link-down: opened, h01 -> ctl ping works" nsping_ok h01 "$CTL_V4" ||
	diag "p-h01: $(ip -n "$BH_LAB_PREFIX-sw" -o link show p-h01) bridge state $(brport_state p-h01)" \
		"h01: $(ip -n "$BH_LAB_PREFIX-h01" -o link show eth0)" "$(tail -n 5 "$SWLOG")"

tap_done
