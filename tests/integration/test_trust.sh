#!/usr/bin/env bash
# Trust between bulkheadd and its agents (issue 11):
#  - TLS 1.3 only, both ways; expired and not-yet-valid certificates refused,
#    with the reason in the log;
#  - a session is replaced only by one that has authenticated, and that is
#    audited; a certificate for one host cannot speak for another;
#  - the revocation list, enforced by 'bulkhead reload' and SIGHUP without a
#    restart; a broken list changes nothing;
#  - 'pki rotate' + SIGHUP to the agent: the session stays up, the next
#    handshake presents the new certificate;
#  - the agent trusts only a controller whose name is in controller_name;
#  - frames played again change nothing (epochs on the agent, sequence
#    numbers on the controller).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

N=3
lab_begin_snap $N
command -v openssl >/dev/null || bail "missing tool: openssl (scripts/install-deps installs it)"
CTL_LOG=$LABDIR/logs/ctl.log
PKI=$LABDIR/pki
XPKI=$LABDIR/xpki # certificates for the extra agents and controllers, from the lab CA
REVOKED=$LABDIR/conf/revoked.yaml
XNODE=h03 # the namespace the extra agents run in (its own agent stopped)

serial_of() { # CERT: its serial as bulkheadd logs it (hex, no leading zeros)
	local s
	s=$(openssl x509 -noout -serial -in "$1" 2>/dev/null) || return 1
	s=${s#serial=}
	sed 's/^0*//' <<<"$s"
}
audit_json() { ctl --json audit 2>/dev/null; }
# audit_has ACTION HOST REGEX: an audit row of ACTION for HOST whose detail
# or result matches REGEX
audit_has() {
	audit_json | jq -e --arg a "$1" --arg h "$2" --arg re "$3" \
		'[.rows[] | select(.action == $a and .host == $h and
		  (((.detail // "") + " " + (.result // "")) | test($re)))] | length > 0' >/dev/null
}
ctl_pid() { daemon_pid ctl; }

# xagent TAG NAME CERTBASE PORT [CONTROLLER_NAME_YAML]: an extra agent in
# $XNODE's namespace, presenting CERTBASE.crt/.key, with its own state
xagent() {
	local tag=$1 name=$2 cb=$3 port=$4 cn=${5:-bulkheadd}
	rm -rf "$LABDIR/state/x-$tag"
	mkdir -p "$LABDIR/state/x-$tag"
	cat >"$LABDIR/conf/x-$tag.yaml" <<EOF
controllers: [$CTL_V4]
port: $port
controller_name: $cn
name: $name
ca: "$PKI/ca.crt"
cert: "$cb.crt"
key: "$cb.key"
state_dir: "$LABDIR/state/x-$tag"
profile: linux-server
profile_dir: "$BH_ROOT/hw-profiles"
mgmt_if: eth0
heartbeat_ms: 500
dead_ms: 3000
EOF
	bg_ns "x-$tag" $XNODE timeout 60 "$AGENT" -f "$LABDIR/conf/x-$tag.yaml"
}
xlog() { echo "$T_TMP/x-$1.out"; }

mkdir -p "$XPKI"
cp "$PKI/ca.crt" "$PKI/ca.key" "$XPKI/"

# ---- TLS 1.3 only ----
phase_init "TLS 1.3 only"
off=$(log_size "$CTL_LOG")
out=$(timeout 8 "$LAB" exec h01 -- openssl s_client -tls1_2 -connect "$CTL_V4:7443" \
	-cert "$PKI/h01.crt" -key "$PKI/h01.key" -CAfile "$PKI/ca.crt" </dev/null 2>&1)
check "a TLS 1.2 client is refused by bulkheadd (alert protocol version)" \
	eval '! grep -q "^New, TLSv1.2" <<<"$out" && grep -qi "alert protocol version" <<<"$out"'
check "bulkheadd logs the refusal (protocol version)" \
	quiet wait_log "$CTL_LOG" "$off" 'refused agent .*(unsupported protocol|protocol version)' 5
check "h01's own session is untouched" host_connected h01

# ---- session replacement ----
phase "session replacement"
off=$(log_size "$CTL_LOG")
# A connection that never completes its handshake: bounded by the
# controller's handshake timeout and by ours.
bg_ns stall h02 timeout 4 socat -u "TCP4:$CTL_V4:7443" -
sleep 2
check "a handshake in progress leaves h01's session alone (still connected)" host_connected h01
check "... and nothing was replaced" eval '! log_since "$CTL_LOG" "$off" | grep -q "replaces"'
bg_stop stall
# h01's certificate from h02's namespace: authenticated, so it replaces h01's session.
timeout 8 "$LAB" exec h02 -- openssl s_client -connect "$CTL_V4:7443" -verify_return_error \
	-cert "$PKI/h01.crt" -key "$PKI/h01.key" -CAfile "$PKI/ca.crt" </dev/null >"$T_TMP/s_client.out" 2>&1
line=$(wait_log "$CTL_LOG" "$off" 'h01: a new session from .* replaces the one from' 5)
check "an authenticated session with h01's certificate replaces the first ($line)" test -n "$line"
check "the replacement is audited (h01: session lost, replaced by a new authenticated session)" \
	audit_has "session lost" h01 "replaced by a new authenticated session"
check "the real h01 agent comes back" wait_for 15 host_connected h01

# ---- revocation and reload ----
phase "revocation"
echo "revoked: []" >"$REVOKED"
echo "revoked: revoked.yaml" >>"$LABDIR/conf/bulkheadd.yaml"
rc=$(run_cli "$T_TMP/rl0" reload)
is "$rc" 0 "reload with an empty revocation list exits 0"
check "reload says what it loaded" grep -q "0 revocation entries" "$T_TMP/rl0.out"
printf 'revoked:\n  - host: h01\n    reason: [broken\n' >"$REVOKED"
rc=$(run_cli "$T_TMP/rl1" reload)
is "$rc" 1 "reload with a broken revocation list exits 1"
check "the error is file:line:col ($(head -c 160 "$T_TMP/rl1.out"))" \
	grep -qE 'revoked\.yaml:[0-9]+:[0-9]+: ' "$T_TMP/rl1.out"
check "the refused reload is audited" eval 'audit_json | jq -e "[.rows[] | select(.action == \"reload\" and .result == \"refused\")] | length > 0" >/dev/null'
sleep 1
check "nothing changed: h01 is still connected" host_connected h01
echo "revoked: []" >"$REVOKED"
check "pki revoke adds h01 to the list" quiet "$BULKHEAD" pki revoke --reason "trust drill" "$REVOKED" h01
off=$(log_size "$CTL_LOG")
t0=$(date +%s%N)
rc=$(run_cli "$T_TMP/rl2" reload)
is "$rc" 0 "reload with h01 revoked exits 0"
check "h01's session is closed at once (within 2 s)" wait_for 2 host_disconnected h01
diag "h01 dropped $(ms_since "$t0") ms after the reload began"
check "audit: h01 revoked, session closed" audit_has revoked h01 "revoked"
check "h01's new handshakes are refused (log: revoked)" \
	quiet wait_log "$CTL_LOG" "$off" "refused agent .*: h01 .*is revoked" 10
check "audit: h01 refused as revoked" audit_has refused h01 "revoked by host h01"
check "h02 and h03 stay connected" eval 'host_connected h02 && host_connected h03'
# SIGHUP reloads too: h01 comes back once the list no longer names it.
echo "revoked: []" >"$REVOKED"
kill -HUP "$(ctl_pid)"
check "SIGHUP: bulkheadd reloads, h01 is admitted again" wait_for 15 host_connected h01
check "bulkheadd is still the same process" test -n "$(ctl_pid)"

# A revoked serial, through SIGHUP.
S2=$(serial_of "$PKI/h02.crt")
check "pki revoke h02's serial $S2" quiet "$BULKHEAD" pki revoke "$REVOKED" "$S2"
kill -HUP "$(ctl_pid)"
check "SIGHUP: h02, its serial revoked, is dropped" wait_for 3 host_disconnected h02
check "audit: h02 revoked by serial" audit_has revoked h02 "$S2"

# A broken bulkheadd.yaml is refused by reload, and by -n.
cp "$LABDIR/conf/bulkheadd.yaml" "$T_TMP/bulkheadd.yaml.good"
echo "bogus_key: 1" >>"$LABDIR/conf/bulkheadd.yaml"
rc=$(run_cli "$T_TMP/rl-conf" reload)
is "$rc" 1 "reload with an unknown key in bulkheadd.yaml exits 1"
check "... saying where ($(head -c 160 "$T_TMP/rl-conf.out"))" \
	grep -qE 'bulkheadd\.yaml:[0-9]+:1: unknown key "bogus_key"' "$T_TMP/rl-conf.out"
cp "$T_TMP/bulkheadd.yaml.good" "$LABDIR/conf/bulkheadd.yaml"
printf 'revoked:\n  - serial: nothex\n' >"$T_TMP/revoked-bad.yaml"
sed "s|^revoked: .*|revoked: $T_TMP/revoked-bad.yaml|" "$LABDIR/conf/bulkheadd.yaml" >"$LABDIR/conf/bulkheadd-bad.yaml"
"$BULKHEADD" -n -f "$LABDIR/conf/bulkheadd-bad.yaml" >"$T_TMP/n.out" 2>&1
is "$?" 1 "bulkheadd -n with a broken revocation list exits 1"
check "... with file:line:col ($(head -c 160 "$T_TMP/n.out"))" \
	grep -qE 'revoked-bad\.yaml:2:13: "serial": expected a certificate serial' "$T_TMP/n.out"
check "h01, h02 and h03 are still as they were (h02 revoked, the others connected)" \
	eval 'host_connected h01 && host_disconnected h02 && host_connected h03'

# The controller's own certificate, rotated and reloaded: sessions stay, new
# handshakes get the new one.
SC=$(serial_of "$PKI/bulkheadd.crt")
check "pki rotate bulkheadd" quiet "$BULKHEAD" pki rotate "$PKI" bulkheadd
SCnew=$(serial_of "$PKI/bulkheadd.crt")
off=$(log_size "$CTL_LOG")
rc=$(run_cli "$T_TMP/rl-ctl" reload)
is "$rc" 0 "reload after rotating the controller's certificate exits 0"
check "reload reports the controller's new serial ($SC -> $SCnew)" grep -q "certificate serial $SCnew" "$T_TMP/rl-ctl.out"
sleep 2
check "no session closed by it" eval '! log_since "$CTL_LOG" "$off" | grep -q "session closed"'
lab agent-stop h03
lab agent-start h03
check "a new handshake (h03 restarted) accepts the new controller certificate" wait_for 20 host_connected h03

# ---- rotation: the session stays up, the next handshake shows the new serial ----
phase "rotation"
check "pki rotate h02" quiet "$BULKHEAD" pki rotate "$PKI" h02
S2new=$(serial_of "$PKI/h02.crt")
check "h02 has a new serial ($S2 -> $S2new)" test "$S2" != "$S2new"
kill -HUP "$(agent_pid h02)"
check "h02, on its new certificate after SIGHUP, is admitted" wait_for 15 host_connected h02
check "bulkheadd logged h02's new serial" quiet wait_log "$CTL_LOG" "$off" "h02 .*connected.*certificate serial $S2new" 5
# h01: rotate while connected, SIGHUP its agent: no gap.
S1=$(serial_of "$PKI/h01.crt")
off=$(log_size "$CTL_LOG")
aoff=$(log_size "$LABDIR/logs/h01.log")
check "pki rotate h01" quiet "$BULKHEAD" pki rotate "$PKI" h01
S1new=$(serial_of "$PKI/h01.crt")
kill -HUP "$(agent_pid h01)"
check "h01's agent reloaded its certificate (serial $S1new)" \
	quiet wait_log "$LABDIR/logs/h01.log" "$aoff" "reload: certificate .*serial $S1new.*stays up" 5
sleep 3
check "h01's session never dropped (no 'session closed' for h01)" \
	eval '! log_since "$CTL_LOG" "$off" | grep -qE "h01 .*(session closed|connected)"'
check "h01 is connected" host_connected h01
# Forced reconnect: revoking the old serial closes the old session; the new
# certificate is admitted.
check "pki revoke h01's old serial" quiet "$BULKHEAD" pki revoke "$REVOKED" "$S1"
rc=$(run_cli "$T_TMP/rl3" reload)
is "$rc" 0 "reload with h01's old serial revoked exits 0"
check "h01 reconnects on its new certificate" \
	quiet wait_log "$CTL_LOG" "$off" "h01 .*connected.*certificate serial $S1new" 15
check "h01 stays connected on the new certificate" wait_for 5 host_connected h01

# ---- extra agents in h03's namespace ----
phase "expiry, names"
lab agent-stop $XNODE
"$BULKHEAD" pki issue --not-before 20200101000000Z --days 1 "$XPKI" h03 >/dev/null
mv "$XPKI/h03.crt" "$XPKI/h03-expired.crt"
mv "$XPKI/h03.key" "$XPKI/h03-expired.key"
"$BULKHEAD" pki issue --not-before 20990101000000Z --days 30 "$XPKI" h03 >/dev/null
mv "$XPKI/h03.crt" "$XPKI/h03-future.crt"
mv "$XPKI/h03.key" "$XPKI/h03-future.key"
off=$(log_size "$CTL_LOG")
xagent expired h03 "$XPKI/h03-expired" 7443
check "an agent with an expired certificate is refused (log: certificate has expired)" \
	quiet wait_log "$CTL_LOG" "$off" "refused agent (::ffff:)?${H4[h03]//./\\.}: .*certificate has expired" 10
bg_stop x-expired
off=$(log_size "$CTL_LOG")
xagent future h03 "$XPKI/h03-future" 7443
check "an agent with a not-yet-valid certificate is refused (log: certificate is not yet valid)" \
	quiet wait_log "$CTL_LOG" "$off" "refused agent (::ffff:)?${H4[h03]//./\\.}: .*certificate is not yet valid" 10
bg_stop x-future
check "neither was admitted: h03 not connected" host_disconnected h03

# h03's certificate, but a hello naming h02: refused, h02 untouched.
off=$(log_size "$CTL_LOG")
xagent liar h02 "$PKI/h03" 7443
check "h03's certificate with a hello naming h02 is refused" \
	quiet wait_log "$CTL_LOG" "$off" 'h03 .*refused: its hello names host "h02"' 10
check "audit: refused, name mismatch" audit_has refused h03 "hello names host"
check "h02's session is untouched" host_connected h02
bg_stop x-liar

# ---- the controller's identity, against bh-send ----
phase "controller identity"
"$BULKHEAD" pki issue "$XPKI" impostor >/dev/null
"$BULKHEAD" pki issue --not-before 20200101000000Z --days 1 "$XPKI" bulkheadd >/dev/null
bhs_start "$XPKI/impostor"
xagent ident h03 "$PKI/h03" $BH_SEND_PORT
check "a controller with a lab-CA certificate named 'impostor' is refused (hostname mismatch)" \
	quiet wait_log "$(xlog ident)" 0 "refused controller: .*hostname mismatch" 10
check "... and the agent never said hello to it" eval '! grep -q "^h03 hello" "$BHS_OUT"'
bg_stop x-ident
xagent ident2 h03 "$PKI/h03" $BH_SEND_PORT "[bulkheadd, impostor]"
check "with controller_name: [bulkheadd, impostor] the same controller is accepted" quiet wait_hello h03 0
bg_stop x-ident2
bhs_stop
bhs_start "$XPKI/bulkheadd"
xagent ctlexp h03 "$PKI/h03" $BH_SEND_PORT
check "a controller with an expired certificate is refused (certificate has expired)" \
	quiet wait_log "$(xlog ctlexp)" 0 "refused controller: .*certificate has expired" 10
bg_stop x-ctlexp
bhs_stop
# A TLS 1.2 controller.
bg_ns s12 ctl timeout 20 openssl s_server -quiet -tls1_2 -accept "$CTL_V4:$BH_SEND_PORT" \
	-cert "$PKI/bulkheadd.crt" -key "$PKI/bulkheadd.key" -CAfile "$PKI/ca.crt" -Verify 1
wait_for 5 port_listening ctl $BH_SEND_PORT
xagent tls12 h03 "$PKI/h03" $BH_SEND_PORT
check "the agent refuses a TLS 1.2 controller" \
	quiet wait_log "$(xlog tls12)" 0 "(unsupported protocol|protocol version|wrong version)" 10
bg_stop x-tls12
bg_stop s12

# ---- replay ----
phase "replay"
bhs_start
xagent replay h03 "$PKI/h03" $BH_SEND_PORT
check "the agent says hello to bh-send" quiet wait_hello h03 0
ack=$(bhs_req h03 set-mode 5 isolated)
is "$(field "$ack" status) $(field "$ack" epoch) $(field "$ack" mode)" "applied 5 isolated" "set-mode epoch 5 isolated: applied"
ack=$(bhs_req h03 set-mode 6 open)
is "$(field "$ack" epoch) $(field "$ack" mode)" "6 open" "set-mode epoch 6 open: open at epoch 6"
ack=$(bhs_req h03 set-mode 5 isolated)
is "$(field "$ack" status) $(field "$ack" epoch) $(field "$ack" mode)" "refused 6 open" \
	"epoch 5 isolated played again: refused, the agent stays open at epoch 6"
check "the kernel agrees: table inet bulkhead is open" eval '[[ $(bh_table_mode "$(bh_table h03)") == open ]]'
bhs_stop
bg_stop x-replay
# On the controller: an ack of a frame number the session never sent.
lab agent-start $XNODE
check "the real h03 agent reconnects" wait_for 20 host_connected h03
off=$(log_size "$CTL_LOG")
timeout 20 "$LAB" exec h02 -- "$BH_SEND" -A "$CTL_V4:7443" -a "$PKI/ca.crt" \
	-c "$PKI/h03.crt" -k "$PKI/h03.key" -n h03 -r 4000 >"$T_TMP/replay-ack.out" 2>&1
diag_file "$T_TMP/replay-ack.out" 4
check "bulkheadd closed that session for the ack of a frame it never sent (log)" \
	quiet wait_log "$CTL_LOG" "$off" "h03 .*session closed: ack for a frame that was never sent" 5
check "audit: protocol violation, the ack never sent" \
	audit_has "protocol violation" h03 "ack for a frame that was never sent"
check "the real h03 agent reconnects after that" wait_for 20 host_connected h03

tap_done
