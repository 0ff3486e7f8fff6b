#!/usr/bin/env bash
# isolated --hard on a server: the data link eth1 goes down, the management
# link eth0 stays up and the agent keeps its session; tampering, a restart
# and an unconfirmed release all end with eth1 down again; a confirmed
# release brings it back. And hard isolation never takes down the link that
# carries the route to the controller. Driven by bh-send (SET_MODE with
# WA_HARD), since the controller has no --hard yet; real traffic over the
# data network (198.19.0.0/16) proves each step.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

lab_begin 2
bhs_start || bail "bh-send did not start"
lab data-link h01 h02 >"$T_TMP/data.log" 2>&1 || bail "lab data-link failed: $(cat "$T_TMP/data.log")"
D1=198.19.${H4[h01]#198.18.}
D2=198.19.${H4[h02]#198.18.}

# h01's agent talks to bh-send from now on
BHS_OFF=$(wc -l <"$BHS_OUT")
lab agent-conf h01 port="$BH_SEND_PORT"
lab agent-stop h01
lab agent-start h01
check "h01's agent reaches the stand-in controller" quiet wait_hello h01

check "before: h01 -> h02 over the data link ($D2)" nsping_ok h01 "$D2"
check "before: h02 -> h01 over the data link ($D1)" nsping_ok h02 "$D1"

ack=$(bhs_req h01 set-mode 5 isolated hard)
diag "ack: $ack"
is "$(field "$ack" status) $(field "$ack" mode) $(field "$ack" hard)" "applied isolated 1" \
	"set-mode 5 isolated --hard: applied, isolated, hard=1"
is "$(field "$ack" links)" eth1 "the ack names the link it took down: eth1"
is "$(link_state h01 eth1)" DOWN "hard: eth1 (data) is down"
is "$(link_state h01 eth0)" UP "hard: eth0 (mgmt_if) is up"
check "hard: h02 -> h01 over the data link fails" nsping_fails h02 "$D1"
ack=$(bhs_req h01 set-mode 5 isolated hard)
is "$(field "$ack" status)" applied "hard: the agent still answers over eth0 (same command again: applied)"
check "record: 'hard 1'" state_has h01 "hard 1"
check "record: 'held-link eth1'" state_has h01 "held-link eth1"
check "record: mode isolated" state_has h01 "mode isolated"

# ---- someone sets it up again ----
BHS_OFF=$(wc -l <"$BHS_OUT")
ip -n "$BH_LAB_PREFIX-h01" link set eth1 up
check "eth1 set up by hand: the agent alerts" quiet bhs_wait '^h01 alert kind=tamper .*eth1' 5
is "$(link_state h01 eth1)" DOWN "eth1 set up by hand: down again"

# ---- restart: the record takes it down again ----
lab agent-stop h01 --kill
ip -n "$BH_LAB_PREFIX-h01" link set eth1 up
is "$(link_state h01 eth1)" UP "agent dead: eth1 set up by hand"
BHS_OFF=$(wc -l <"$BHS_OUT")
lab agent-start h01
hello=$(wait_hello h01)
is "$(field "$hello" mode) $(field "$hello" hard)" "isolated 1" "restarted agent: hello says isolated, hard=1"
is "$(link_state h01 eth1)" DOWN "restarted agent took eth1 down again from its record"
is "$(link_state h01 eth0)" UP "restarted agent left eth0 up"

# ---- release, unconfirmed: rolls back ----
ack=$(bhs_req h01 set-mode 6 open confirm=2000)
is "$(field "$ack" status) $(field "$ack" hard)" "pending-confirm 0" "release at epoch 6: pending-confirm, hard=0"
is "$(link_state h01 eth1)" UP "release: eth1 is up again"
check "release: h02 -> h01 over the data link works" nsping_ok h02 "$D1"
check "record while pending: 'prev-hard 1' and still 'held-link eth1'" \
	bash -c "grep -qx 'prev-hard 1' '$(state_file h01)' && grep -qx 'held-link eth1' '$(state_file h01)'"
rb=$(bhs_wait '^h01 ack seq=0 status=rolled-back' 6)
is "$(field "$rb" mode) $(field "$rb" hard) $(field "$rb" links)" "isolated 1 eth1" \
	"not confirmed in 2 s: rolled back to isolated --hard, eth1 held"
is "$(link_state h01 eth1)" DOWN "after the rollback: eth1 down again"
check "after the rollback: h02 -> h01 over the data link fails" nsping_fails h02 "$D1"

# ---- release, confirmed ----
ack=$(bhs_req h01 set-mode 7 open confirm=2000)
is "$(field "$ack" status)" pending-confirm "release at epoch 7: pending-confirm"
ack=$(bhs_req h01 confirm 7)
is "$(field "$ack" status)" committed "confirm 7: committed"
sleep 2.5
is "$(link_state h01 eth1)" UP "confirmed release: eth1 up after the rollback time"
check "confirmed release: h01 -> h02 over the data link works" nsping_ok h01 "$D2"
check "record: no hard lines" bash -c "! grep -q '^hard\|^prev-hard\|^held-' '$(state_file h01)'"

# ---- a link that was down before is not brought up by the release ----
ip -n "$BH_LAB_PREFIX-h01" link set eth1 down
ack=$(bhs_req h01 set-mode 8 isolated hard)
is "$(field "$ack" links)" "" "eth1 already down: hard isolation holds nothing"
ack=$(bhs_req h01 set-mode 9 open)
is "$(link_state h01 eth1)" DOWN "release without confirmation: eth1, down before, stays down"
ip -n "$BH_LAB_PREFIX-h01" link set eth1 up

# ---- never the link of the route to the controller ----
# Without mgmt_if, eth0 is just a data link (eth*) that carries the route
# to the controller: hard isolation must keep it up, and say so.
lab agent-conf h01 mgmt_if=
sed -i '/^mgmt_if:/d' "$LABDIR/conf/h01.yaml"
BHS_OFF=$(wc -l <"$BHS_OUT")
lab agent-stop h01
lab agent-start h01
check "h01's agent restarted without mgmt_if" quiet wait_hello h01
ack=$(bhs_req h01 set-mode 10 isolated hard)
diag "ack: $ack"
is "$(field "$ack" status) $(field "$ack" links)" "applied eth1" "without mgmt_if: hard isolation takes eth1 only"
check "the ack says eth0 was kept: it carries the route to the controller" \
	grep -q 'eth0 (carries the route to the controller)' <<<"$ack"
is "$(link_state h01 eth0)" UP "eth0 (route to the controller) stays up"
ack=$(bhs_req h01 set-mode 10 isolated hard)
is "$(field "$ack" status)" applied "and the agent still answers"
ack=$(bhs_req h01 set-mode 11 open)
is "$(link_state h01 eth1)" UP "released: eth1 up"

tap_done
