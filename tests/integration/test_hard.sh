#!/usr/bin/env bash
# isolate --hard on a server, through the real CLI and bulkheadd: the data
# link eth1 goes down, the management link eth0 stays up and the agent keeps
# its session; tampering and a restart end with eth1 down again; a release
# (commit-confirmed, confirmed by bulkheadd) brings it back; a host that was
# not connected gets --hard when it comes back; a link that was down before
# stays down; and hard isolation never takes down the link that carries the
# route to the controller. Real traffic over the data network
# (198.19.0.0/16) proves each step.
# What the controller cannot express is left to bh-send, a stand-in
# controller: a release that is never confirmed must roll back to isolated
# --hard (bulkheadd always confirms).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

lab_begin_snap 2
lab data-link h01 h02 >"$T_TMP/data.log" 2>&1 || bail "lab data-link failed: $(cat "$T_TMP/data.log")"
D1=198.19.${H4[h01]#198.18.}
D2=198.19.${H4[h02]#198.18.}
H1LOG=$LABDIR/logs/h01.log
mode_is() { [[ $(host_field "$1" mode) == "$2" ]]; }
tampers() { host_field "$1" tamper_count; }

check "before: h01 -> h02 over the data link ($D2)" nsping_ok h01 "$D2"
check "before: h02 -> h01 over the data link ($D1)" nsping_ok h02 "$D1"

# ---- isolate --hard ----
off=$(log_size "$H1LOG")
rc=$(run_cli "$T_TMP/hard" isolate h01 --hard --json --reason "hard test")
is "$rc" 0 "bulkhead isolate h01 --hard exits 0"
is "$(jhost "$T_TMP/hard.out" h01 status) $(jhost "$T_TMP/hard.out" h01 mode)" "confirmed isolated" \
	"isolate --hard: h01 confirmed, isolated"
check "the agent took eth1 down (its log: 'hard isolation: eth1 down')" \
	quiet wait_log "$H1LOG" "$off" 'hard isolation: eth1 down' 2
is "$(link_state h01 eth1)" DOWN "hard: eth1 (data) is down"
is "$(link_state h01 eth0)" UP "hard: eth0 (mgmt_if) is up"
check "hard: h02 -> h01 over the data link fails" nsping_fails h02 "$D1"
rc=$(run_cli "$T_TMP/hard2" isolate h01 --hard --reason "hard test")
is "$rc" 0 "hard: the agent still answers over eth0 (isolate h01 --hard again: exit 0)"
check "hard: status says h01 isolated and connected" eval 'mode_is h01 isolated && host_connected h01'
check "record: 'hard 1'" state_has h01 "hard 1"
check "record: 'held-link eth1'" state_has h01 "held-link eth1"
check "record: mode isolated" state_has h01 "mode isolated"

# ---- someone sets it up again ----
t0=$(tampers h01)
ip -n "$BH_LAB_PREFIX-h01" link set eth1 up
tamper_more() { (($(tampers h01) > t0)); }
check "eth1 set up by hand: the agent alerts (status: tamper count above $t0)" wait_for 5 tamper_more
is "$(link_state h01 eth1)" DOWN "eth1 set up by hand: down again"

# ---- restart: the record takes it down again ----
lab agent-stop h01 --kill
ip -n "$BH_LAB_PREFIX-h01" link set eth1 up
is "$(link_state h01 eth1)" UP "agent dead: eth1 set up by hand"
lab agent-start h01
check "restarted agent reconnects" wait_for 20 host_connected h01
is "$(link_state h01 eth1)" DOWN "restarted agent took eth1 down again from its record"
is "$(link_state h01 eth0)" UP "restarted agent left eth0 up"
check "status: h01 still isolated" mode_is h01 isolated

# ---- release, confirmed by bulkheadd ----
off=$(log_size "$H1LOG")
rc=$(run_cli "$T_TMP/rel" release h01 --confirm-timeout 2 --reason "hard test")
is "$rc" 0 "bulkhead release h01 --confirm-timeout 2 exits 0"
is "$(link_state h01 eth1)" UP "release: eth1 is up again"
check "the agent confirmed the release ('epoch N: confirmed')" quiet wait_log "$H1LOG" "$off" 'epoch [0-9]+: confirmed' 3
sleep 2.5
is "$(link_state h01 eth1)" UP "confirmed release: eth1 still up after the confirmation time"
check "no rollback" eval "! log_since '$H1LOG' '$off' | grep -q 'rolled back\|not confirmed'"
check "confirmed release: h01 -> h02 over the data link works" nsping_ok h01 "$D2"
check "record: no hard lines" bash -c "! grep -q '^hard\|^prev-hard\|^held-' '$(state_file h01)'"

# ---- a host that was not connected gets --hard when it comes back ----
lab agent-stop h01
wait_for 10 host_disconnected h01
rc=$(run_cli "$T_TMP/hardnc" isolate h01 --hard --json --timeout 2 --reason "hard test: away")
is "$(jhost "$T_TMP/hardnc.out" h01 status)" not-connected "isolate h01 --hard with its agent stopped: not-connected"
is "$(link_state h01 eth1)" UP "... and eth1 still up meanwhile"
lab agent-start h01
check "the agent comes back" wait_for 20 host_connected h01
linkdown() { [[ $(link_state h01 eth1) == DOWN ]]; }
check "back: it gets isolated --hard, eth1 down" wait_for 5 linkdown
check "back: status isolated, record 'hard 1'" eval 'wait_for 5 mode_is h01 isolated && state_has h01 "hard 1"'
rc=$(run_cli "$T_TMP/rel2" release h01 --reason "hard test")
is "$rc" 0 "release h01 exits 0"
is "$(link_state h01 eth1)" UP "released: eth1 up"

# ---- a link that was down before is not brought up by the release ----
ip -n "$BH_LAB_PREFIX-h01" link set eth1 down
rc=$(run_cli "$T_TMP/hard3" isolate h01 --hard --reason "hard test: eth1 down before")
is "$rc" 0 "eth1 already down: isolate h01 --hard exits 0"
check "eth1 already down: hard isolation holds nothing (no held-link in the record)" \
	bash -c "grep -qx 'hard 1' '$(state_file h01)' && ! grep -q '^held-link' '$(state_file h01)'"
rc=$(run_cli "$T_TMP/rel3" release h01 --reason "hard test")
is "$rc $(link_state h01 eth1)" "0 DOWN" "release: eth1, down before, stays down"
ip -n "$BH_LAB_PREFIX-h01" link set eth1 up

# ---- never the link of the route to the controller ----
# Without mgmt_if, eth0 is just a data link (eth*) that carries the route
# to the controller: hard isolation must keep it up, and say so.
lab agent-conf h01 mgmt_if=
sed -i '/^mgmt_if:/d' "$LABDIR/conf/h01.yaml"
lab agent-stop h01
lab agent-start h01
check "h01's agent restarted without mgmt_if" wait_for 20 host_connected h01
off=$(log_size "$H1LOG")
rc=$(run_cli "$T_TMP/hard4" isolate h01 --hard --reason "hard test: no mgmt_if")
is "$rc" 0 "without mgmt_if: isolate h01 --hard exits 0"
is "$(link_state h01 eth1) $(link_state h01 eth0)" "DOWN UP" "without mgmt_if: eth1 down, eth0 (route to the controller) up"
check "the agent says eth0 was kept: it carries the route to the controller" \
	quiet wait_log "$H1LOG" "$off" 'hard isolation leaves up: eth0 \(carries the route to the controller\)' 2
rc=$(run_cli "$T_TMP/hard5" isolate h01 --hard --reason "hard test: no mgmt_if")
is "$rc" 0 "and the agent still answers (exit 0 again)"
rc=$(run_cli "$T_TMP/rel4" release h01 --reason "hard test")
is "$rc $(link_state h01 eth1)" "0 UP" "released: eth1 up"

# ---- bh-send: a release that is never confirmed rolls back ----
bhs_start || bail "bh-send did not start"
BHS_OFF=$(wc -l <"$BHS_OUT")
lab agent-conf h01 port="$BH_SEND_PORT"
lab agent-stop h01
lab agent-start h01
hello=$(wait_hello h01)
check "h01's agent reaches the stand-in controller" test -n "$hello"
E=$(field "$hello" epoch)
E=${E:-0}
ack=$(bhs_req h01 set-mode $((E + 1)) isolated hard)
is "$(field "$ack" status) $(field "$ack" links)" "applied eth1" "bh-send: set-mode $((E + 1)) isolated --hard: eth1 held"
BHS_OFF=$(wc -l <"$BHS_OUT") # bhs_req runs in a subshell: the rollback comes after this
ack=$(bhs_req h01 set-mode $((E + 2)) open confirm=2000)
is "$(field "$ack" status) $(field "$ack" hard)" "pending-confirm 0" "bh-send: release at epoch $((E + 2)): pending-confirm, hard=0"
is "$(link_state h01 eth1)" UP "release: eth1 is up again"
check "record while pending: 'prev-hard 1' and still 'held-link eth1'" \
	bash -c "grep -qx 'prev-hard 1' '$(state_file h01)' && grep -qx 'held-link eth1' '$(state_file h01)'"
rb=$(bhs_wait '^h01 ack seq=0 status=rolled-back' 6)
is "$(field "$rb" mode) $(field "$rb" hard) $(field "$rb" links)" "isolated 1 eth1" \
	"not confirmed in 2 s: rolled back to isolated --hard, eth1 held"
is "$(link_state h01 eth1)" DOWN "after the rollback: eth1 down again"
check "after the rollback: h02 -> h01 over the data link fails" nsping_fails h02 "$D1"

tap_done
