#!/usr/bin/env bash
# The daemons' least privilege, seen from outside: every agent keeps only
# CAP_NET_ADMIN and CAP_NET_RAW (effective, permitted and bounding sets),
# no_new_privs is set, a seccomp filter is in force, file writes are
# limited to its state_dir, and it still isolates and releases; bulkheadd keeps no capability, runs as the user
# "user:" names (its state_dir given to it), and still serves the CLI,
# control_group members included; an unknown user stops it with an error;
# an agent with "user:" runs as that user with the same capabilities and
# still isolates and records; --no-sandbox leaves an agent unfiltered.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=2
lab_begin $N

AGENT_CAPS=0000000000003000 # CAP_NET_ADMIN (12), CAP_NET_RAW (13)
NONE=0000000000000000

pid_of() { awk '{print $1}' "$LABDIR/pids/$1.pid" 2>/dev/null; }
# field PID KEY: a field of /proc/PID/status
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status" 2>/dev/null; }

# sandboxed WHO PID CAPS: the checks every sandboxed daemon passes
sandboxed() {
	local who=$1 pid=$2 caps=$3 k
	for k in CapEff CapPrm CapBnd; do
		is "$(field "$pid" $k)" "$caps" "$who: $k is $caps"
	done
	for k in CapInh CapAmb; do
		is "$(field "$pid" $k)" "$NONE" "$who: $k is empty"
	done
	is "$(field "$pid" NoNewPrivs)" 1 "$who: NoNewPrivs is 1"
	is "$(field "$pid" Seccomp)" 2 "$who: Seccomp is 2 (filter mode)"
}

for h in "${HOSTS[@]}"; do
	sandboxed "agent $h" "$(pid_of "$h")" $AGENT_CAPS
	is "$(field "$(pid_of "$h")" Uid)" "0 0 0 0" "agent $h: stays uid 0"
	check "agent $h: logs what it kept" grep -q "sandbox: uid 0 kept, capabilities net_admin and net_raw only" \
		"$LABDIR/logs/$h.log"
	check "agent $h: file writes limited to its state_dir (Landlock)" \
		grep -q "file writes only beneath $LABDIR/state/$h," "$LABDIR/logs/$h.log"
done
sandboxed bulkheadd "$(pid_of ctl)" $NONE

# Sandboxed, the agents still do their job: the table changes both ways.
rc=$(run_cli "$T_TMP/iso" isolate --all --reason sandbox --json)
is "$rc" 0 "isolate --all exits 0 with sandboxed agents"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso.out" 2>/dev/null)" "$N $N" "isolate: every host confirmed"
check "h01's table is in isolated mode" quiet lab exec h01 -- nft list chain inet bulkhead input
rc=$(run_cli "$T_TMP/rel" release --all --reason sandbox --json)
is "$rc" 0 "release --all exits 0 with sandboxed agents"
for h in "${HOSTS[@]}"; do
	check "agent $h: still running after isolate and release" test -d "/proc/$(pid_of "$h")"
done

# ---- bulkheadd as another user ----
RUN_USER=nobody
RUN_GROUP=$(id -gn "$RUN_USER" 2>/dev/null)
RUN_UID=$(id -u "$RUN_USER" 2>/dev/null)
CONF=$LABDIR/conf/bulkheadd.yaml
cp "$CONF" "$T_TMP/bulkheadd.yaml.orig"
if [[ -z $RUN_UID || -z $RUN_GROUP ]]; then
	tap_not_ok "user $RUN_USER exists (needed for the user: checks)"
else
	lab ctl-stop >/dev/null 2>&1
	printf 'user: %s\ncontrol_group: %s\n' "$RUN_USER" "$RUN_GROUP" >>"$CONF"
	check "bulkheadd starts with user: $RUN_USER" quiet lab ctl-start
	CPID=$(pid_of ctl)
	is "$(field "$CPID" Uid)" "$RUN_UID $RUN_UID $RUN_UID $RUN_UID" "bulkheadd: runs as $RUN_USER (every uid)"
	sandboxed "bulkheadd as $RUN_USER" "$CPID" $NONE
	is "$(stat -c %U "$LABDIR/state/ctl")" "$RUN_USER" "state_dir is given to $RUN_USER"
	is "$(stat -c %U "$LABDIR/state/ctl/bulkhead.db")" "$RUN_USER" "the database is given to $RUN_USER"
	is "$(stat -c '%G %a' "$LABDIR/ctl.sock")" "$RUN_GROUP 660" "control socket: group $RUN_GROUP, mode 0660"
	check "bulkheadd logs the user" grep -q "sandbox: user $RUN_USER, no capabilities" "$LABDIR/logs/ctl.log"
	wait_for 20 host_connected h01 && wait_for 20 host_connected h02
	rc=$(run_cli "$T_TMP/iso2" isolate --all --reason as-user --json)
	is "$rc" 0 "isolate --all through bulkheadd running as $RUN_USER (the store is written)"
	is "$(jq -r .confirmed "$T_TMP/iso2.out" 2>/dev/null)" $N "isolate as $RUN_USER: every host confirmed"
	# A member of control_group (not root) reaches the socket.
	out=$(timeout 20 setpriv --reuid "$RUN_USER" --regid "$RUN_GROUP" --clear-groups \
		"$BULKHEAD" -s "$LABDIR/ctl.sock" status --json 2>"$T_TMP/st.err")
	is "$(jq -r '[.hosts[] | select(.mode == "isolated")] | length' <<<"$out" 2>/dev/null)" $N \
		"a member of control_group (uid $RUN_UID) runs bulkhead status"
	diag_file "$T_TMP/st.err" 5
	rc=$(run_cli "$T_TMP/rel2" release --all --reason as-user --json)
	is "$rc" 0 "release --all through bulkheadd running as $RUN_USER"

	# Bad input: a user that does not exist is a clear error at start.
	lab ctl-stop >/dev/null 2>&1
	cp "$T_TMP/bulkheadd.yaml.orig" "$CONF"
	echo "user: bh-no-such-user" >>"$CONF"
	rc=0
	timeout 30 "$BULKHEADD" -n -f "$CONF" >"$T_TMP/nouser-n.out" 2>&1 || rc=$?
	is "$rc" 1 "bulkheadd -n with an unknown user exits 1"
	check "... and says why" grep -q 'user "bh-no-such-user": no such user' "$T_TMP/nouser-n.out"
	rc=0
	timeout 30 ip netns exec "$(ns_name ctl)" "$BULKHEADD" -f "$CONF" >"$T_TMP/nouser.out" 2>&1 || rc=$?
	is "$rc" 1 "bulkheadd with an unknown user exits 1"
	check "... and says why" grep -q 'user "bh-no-such-user": no such user' "$T_TMP/nouser.out"
	diag_file "$T_TMP/nouser.out" 5
	cp "$T_TMP/bulkheadd.yaml.orig" "$CONF"
	check "bulkheadd starts again without user:" quiet lab ctl-start
fi

# ---- an agent as another user ----
if [[ -n $RUN_UID ]]; then
	lab agent-stop h01 >/dev/null 2>&1
	echo "user: $RUN_USER" >>"$LABDIR/conf/h01.yaml"
	lab agent-start h01 >/dev/null 2>&1
	wait_for 20 host_connected h01
	APID=$(pid_of h01)
	is "$(field "$APID" Uid)" "$RUN_UID $RUN_UID $RUN_UID $RUN_UID" "agent h01 with user: runs as $RUN_USER"
	sandboxed "agent h01 as $RUN_USER" "$APID" $AGENT_CAPS
	is "$(stat -c %U "$LABDIR/state/h01")" "$RUN_USER" "agent h01: state_dir is given to $RUN_USER"
	rc=$(run_cli "$T_TMP/iso3" isolate h01 --reason as-user --json)
	is "$rc" 0 "isolate h01 with its agent running as $RUN_USER"
	is "$(host_field h01 mode)" isolated "h01 is isolated"
	is "$(stat -c %U "$LABDIR/state/h01/state" 2>/dev/null)" "$RUN_USER" \
		"agent h01 as $RUN_USER wrote its record"
	rc=$(run_cli "$T_TMP/rel3" release h01 --reason as-user --json)
	is "$rc" 0 "release h01 with its agent running as $RUN_USER"
	check "agent h01 as $RUN_USER: still running" test -d "/proc/$APID"
fi

# ---- --no-sandbox ----
lab agent-stop h02 >/dev/null 2>&1
lab agent-start h02 -- --no-sandbox >/dev/null 2>&1
wait_for 20 host_connected h02
is "$(field "$(pid_of h02)" Seccomp)" 0 "agent --no-sandbox: no seccomp filter"
check "agent --no-sandbox: says so in its log" grep -q -- "--no-sandbox: running with every capability" \
	"$LABDIR/logs/h02.log"

tap_done
