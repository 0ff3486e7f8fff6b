#!/usr/bin/env bash
# bulkheadd's metrics (metrics_listen):
#  - GET /metrics answers in Prometheus text format, other paths 404, other
#    methods 405;
#  - hosts by mode and state match `status --json`, every host has a last
#    seen time;
#  - after isolate --all: the commands counter, the last isolation's duration
#    and the ack latency histogram's count;
#  - TLS handshakes refused for no certificate, another CA's certificate and
#    a name not in the inventory each raise their reason's counter;
#  - the alert rules and the dashboard in dist/ parse.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=4
lab_begin $N
PKI=$LABDIR/pki
CONF=$LABDIR/conf/bulkheadd.yaml
command -v curl >/dev/null || bail "missing tool: curl (scripts/install-deps)"
command -v openssl >/dev/null || bail "missing tool: openssl (scripts/install-deps)"

# ---- metrics on ------------------------------------------------------------

ctl_conf_set metrics_listen "127.0.0.1:$MPORT"
check "bulkheadd -n accepts metrics_listen" quiet "$BULKHEADD" -n -f "$CONF"

# The port taken by another program: the controller starts all the same.
bg_ns squatter ctl timeout 60 socat "TCP4-LISTEN:$MPORT,bind=127.0.0.1,reuseaddr,fork" -
check "another program listens on the metrics port" wait_for 5 port_listening ctl $MPORT
clog=$LABDIR/logs/ctl.log
coff=$(log_size "$clog")
lab ctl-stop >/dev/null 2>&1
check "bulkheadd starts although the metrics port is taken" quiet lab ctl-start
check "... and says metrics are off" quiet wait_log "$clog" "$coff" "metrics_listen 127\.0\.0\.1:$MPORT: cannot listen: .*; metrics are off" 5
check "... and isolates: every host reconnects" quiet lab wait-connected 20
bg_stop squatter
lab ctl-stop >/dev/null 2>&1
check "bulkheadd restarts with metrics_listen" quiet lab ctl-start
check "every host reconnects" quiet lab wait-connected 20
check "the metrics listener is up" wait_for 5 port_listening ctl $MPORT

body=$(scrape)
is "$(cat "$T_TMP/code")" 200 "GET /metrics: 200"
check "Content-Type: text/plain; version=0.0.4" \
	grep -qi '^Content-Type: text/plain; version=0\.0\.4' "$T_TMP/headers"
check "every family has HELP and TYPE lines, every sample a family" awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { type[$3] = $4; next }
	/^#/ || NF == 0 { next }
	{ n = $1; sub(/\{.*/, "", n); f = n; sub(/_(bucket|sum|count)$/, "", f)
	  if (!(n in type) && !(f in type)) { print "no TYPE for " n; bad = 1 }
	  if (!(n in help) && !(f in help)) { print "no HELP for " n; bad = 1 }
	  if ($NF !~ /^[-+0-9.eEInfa]+$/) { print "bad value: " $0; bad = 1 } }
	END { exit bad }' <<<"$body"
scrape /other >/dev/null
is "$(cat "$T_TMP/code")" 404 "GET /other: 404"
scrape /metrics -X POST >/dev/null
is "$(cat "$T_TMP/code")" 405 "POST /metrics: 405"
check "a request with 20 KB of headers is refused, the listener lives on" eval \
	'scrape /metrics -H "X-Big: $(head -c 20000 /dev/zero | tr "\0" a)" >/dev/null; [[ $(cat "$T_TMP/code") != 200 ]] && scrape >/dev/null && [[ $(cat "$T_TMP/code") == 200 ]]'

# hosts by mode and state, against status --json (the snapshot may be up to
# a second old: retried for a few seconds)
hosts_match() {
	local js body m st want got
	js=$(status_json) || return 1
	body=$(scrape)
	for m in open segmented isolated; do
		for st in connected disconnected; do
			want=$(jq --arg m $m --arg s $st '[.hosts[] | select(.mode == $m and
				((.connected and $s == "connected") or (.connected | not) and $s == "disconnected"))] | length' <<<"$js")
			got=$(metric "$body" "bulkhead_hosts{mode=\"$m\",state=\"$st\"}") || return 1
			[[ $want == "$got" ]] || { diag "mode $m $st: status $want, metrics $got"; return 1; }
		done
	done
}
check "bulkhead_hosts by mode and state matches status --json" wait_for 5 hosts_match
last_seen_all() {
	local body h v
	body=$(scrape)
	for h in "${HOSTS[@]}"; do
		v=$(metric "$body" "bulkhead_host_last_seen_timestamp_seconds{host=\"$h\"}") || return 1
		awk -v v="$v" -v now="$(date +%s)" 'BEGIN { exit !(v > now - 60 && v < now + 60) }' || return 1
	done
}
check "every host has a recent bulkhead_host_last_seen_timestamp_seconds" wait_for 5 last_seen_all

# ---- an isolation ------------------------------------------------------------

iso0=$(metric_now 'bulkhead_commands_total{action="isolate",result="confirmed"}')
acks0=$(metric_now 'bulkhead_ack_latency_seconds_count')
is "$(run_cli "$T_TMP/iso" isolate --all --reason "metrics test")" 0 "isolate --all confirms"
check "bulkhead_commands_total{isolate,confirmed} went up by one" \
	wait_for 5 metric_is 'bulkhead_commands_total{action="isolate",result="confirmed"}' $((iso0 + 1))
check "the ack latency histogram counted one ack per host" \
	wait_for 5 metric_is 'bulkhead_ack_latency_seconds_count' $((acks0 + N))
body=$(scrape)
dur=$(metric "$body" bulkhead_last_isolate_duration_seconds)
check "bulkhead_last_isolate_duration_seconds is above 0 and below 5 s ($dur)" \
	awk -v d="$dur" 'BEGIN { exit !(d > 0 && d < 5) }'
check "bulkhead_ack_latency_seconds +Inf bucket equals the count" eval \
	'[[ $(metric "$body" "bulkhead_ack_latency_seconds_bucket{le=\"+Inf\"}") == $(metric "$body" bulkhead_ack_latency_seconds_count) ]]'
check "bulkhead_command_host_results_total{isolate,confirmed} is $N or more" awk -v v="$(metric "$body" \
	'bulkhead_command_host_results_total{action="isolate",status="confirmed"}')" -v n=$N 'BEGIN { exit !(v >= n) }'
check "every host in its commanded mode" eval \
	'[[ $(grep -c "^bulkhead_host_mode_current{.*} 1$" <<<"$body") == $N ]]'
check "bulkhead_hosts: all $N isolated and connected" wait_for 5 metric_is \
	'bulkhead_hosts{mode="isolated",state="connected"}' $N

# ---- refused handshakes --------------------------------------------------------

check "pki issue a certificate for 'intruder' from the lab CA" \
	quiet "$BULKHEAD" pki issue "$PKI" intruder
check "pki init a second CA" quiet "$BULKHEAD" pki init "$LABDIR/rogue-pki"
check "pki issue 'h01' from the second CA" quiet "$BULKHEAD" pki issue "$LABDIR/rogue-pki" h01
# handshake REASON DESCRIPTION [S_CLIENT-ARGS...]: one s_client session from
# the controller's namespace raises reason REASON's counter by one
handshake() {
	local reason=$1 d=$2 before
	shift 2
	before=$(metric_now "bulkhead_tls_handshake_failures_total{reason=\"$reason\"}")
	timeout 10 "$LAB" exec ctl -- openssl s_client -connect 127.0.0.1:7443 -tls1_3 \
		-CAfile "$PKI/ca.crt" "$@" </dev/null >"$T_TMP/s_client.out" 2>&1
	check "$d: reason=\"$reason\" counted" wait_for 5 metric_is \
		"bulkhead_tls_handshake_failures_total{reason=\"$reason\"}" $((before + 1))
}
handshake no_certificate "s_client without a certificate"
handshake verify_failed "s_client with another CA's certificate" \
	-cert "$LABDIR/rogue-pki/h01.crt" -key "$LABDIR/rogue-pki/h01.key"
handshake name_not_in_inventory "s_client with a lab certificate for a name not in the inventory" \
	-cert "$PKI/intruder.crt" -key "$PKI/intruder.key"
check "every host is still connected" quiet lab wait-connected 10

# ---- dist/ ----------------------------------------------------------------------

RULES=$BH_ROOT/dist/prometheus/bulkhead-alerts.yml
DASH=$BH_ROOT/dist/grafana/bulkhead.json
if command -v promtool >/dev/null; then
	check "promtool check rules dist/prometheus/bulkhead-alerts.yml" quiet promtool check rules "$RULES"
else
	check "dist/prometheus/bulkhead-alerts.yml: groups of rules, each alert with expr, for and a summary" \
		python3 - "$RULES" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
rules = [r for g in doc["groups"] for r in g["rules"]]
assert rules and all(g["name"] for g in doc["groups"])
for r in rules:
    assert r["alert"] and r["expr"].strip() and "summary" in r["annotations"], r
    assert r.get("labels", {}).get("severity") in ("warning", "critical"), r
PY
fi
# Every metric the rules and the dashboard name is one bulkheadd serves.
names=$(grep -ohE 'bulkhead_[a-z_]+' "$RULES" "$DASH" | sed -E 's/_(bucket|sum|count)$//' | sort -u)
body=$(scrape)
missing=$(for n in $names; do grep -qE "^# TYPE $n " <<<"$body" || echo "$n"; done)
check "the alert rules and the dashboard name metrics" test -n "$names"
is "$missing" "" "every metric in the alert rules and the dashboard is served"
check "dist/grafana/bulkhead.json is a dashboard with panels" \
	quiet jq -e '.title and (.panels | length > 0) and all(.panels[]; .targets == null or (.targets | length > 0))' "$DASH"

tap_done
