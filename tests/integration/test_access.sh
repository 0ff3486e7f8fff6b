#!/usr/bin/env bash
# The control socket's roles and the two-person rule, with real users: the
# CLI runs under setpriv as numbered users whose groups give them the read
# or the operate role (access: in bulkheadd.yaml). A reader may look but not
# isolate; an operator isolates at once; release --all waits for a second
# operator, whom the one who asked cannot stand in for; every refusal and
# approval is in the audit log with who it was.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=3
lab_begin $N
load_hosts
SOCK=$LABDIR/ctl.sock
CONF=$LABDIR/conf/bulkheadd.yaml
G_READ=4201 G_OP=4202 # group numbers; no entry in /etc/group is needed
U_READER=4301 U_OP_A=4302 U_OP_B=4303

# The socket stays root:root 0660; the users get group 0 to reach it, which
# gives them no role.
chmod 0711 "$LABDIR"
as_user() { # UID GID ARGS...: the CLI as that user, output in $T_TMP/as.out/.err, exit code printed
	local uid=$1 gid=$2 rc=0
	shift 2
	timeout 60 setpriv --reuid="$uid" --regid="$uid" --groups="0,$gid" -- \
		"$BULKHEAD" -s "$SOCK" "$@" >"$T_TMP/as.out" 2>"$T_TMP/as.err" || rc=$?
	echo "$rc"
}
modes() { status_json | jq -r '[.hosts[].mode] | unique | join(",")'; }
audit_rows() { # RESULT: the audit rows with that result, as "actor|action|detail"
	ctl audit --json | jq -r --arg r "$1" '.rows[] | select(.result == $r) |
		"\(.actor)|\(.action)|\(.detail)"' 2>/dev/null
}

# A group that does not exist is refused with where it is, and the
# controller keeps running on its old configuration until restarted.
cp "$CONF" "$T_TMP/bad.yaml"
sed -i 's|^inventory: inventory.yaml|inventory: '"$LABDIR"'/conf/inventory.yaml|' "$T_TMP/bad.yaml"
printf 'access:\n  read: [no-such-group-bh]\n' >>"$T_TMP/bad.yaml"
"$BULKHEADD" -n -f "$T_TMP/bad.yaml" >"$T_TMP/bad.out" 2>&1
is "$?" 1 "bulkheadd -n refuses an access list naming an unknown group"
check "the error names file:line:col and the group" \
	grep -Eq "bad.yaml:[0-9]+:[0-9]+: .*no group \"no-such-group-bh\"" "$T_TMP/bad.out"
diag_file "$T_TMP/bad.out" 3

cat >>"$CONF" <<EOF
access:
  read: [$G_READ]
  operate: [$G_OP]
  two_person: [release-all]
  two_person_ms: 60000
EOF
check "bulkheadd -n accepts the access configuration" quiet "$BULKHEADD" -n -f "$CONF"
check "bulkheadd restarts with roles" quiet lab ctl-stop
check "bulkheadd is back" quiet lab ctl-start
check "every host reconnects" quiet lab wait-connected 30

rc=$(as_user $U_READER $G_READ status --json)
is "$rc" 0 "a reader may run status"
check "a reader sees every host" \
	eval '[[ $(jq ".hosts | length" "$T_TMP/as.out") == '$N' ]]'

rc=$(as_user $U_READER $G_READ isolate --all --reason "reader tries")
is "$rc" 77 "a reader's isolate --all is refused with exit status 77"
check "the refusal says which role it needs and what to do" \
	grep -q "needs the operate role.*ask an operator" "$T_TMP/as.err"
diag_file "$T_TMP/as.err" 2
is "$(modes)" open "nothing was isolated by the refused request"
check "the refusal is audited with who tried" \
	eval 'audit_rows refused | grep -q "uid $U_READER.*|isolate|"'

rc=$(as_user 4399 4399 status)
is "$rc" 77 "a user with neither group may not even read"

rc=$(as_user $U_OP_A $G_OP isolate --all --reason "ransomware drill")
is "$rc" 0 "an operator's isolate --all runs at once, never waiting for a second person"
is "$(modes)" isolated "every host is isolated"

rc=$(as_user $U_OP_A $G_OP release --all --reason "all clear")
is "$rc" 3 "release --all by one operator is held (exit status 3)"
id=$(grep -o 'bulkhead approve [0-9]*' "$T_TMP/as.err" | awk '{print $3}')
check "the held request says how to approve it" eval '[[ -n $id ]]'
diag_file "$T_TMP/as.err" 2
is "$(modes)" isolated "nothing was released while the request is held"

rc=$(as_user $U_OP_A $G_OP approve "${id:-0}")
is "$rc" 77 "the operator who asked cannot approve their own request"
is "$(modes)" isolated "still nothing released"

rc=$(as_user $U_READER $G_READ approve "${id:-0}")
is "$rc" 77 "a reader cannot approve"

rc=$(as_user $U_OP_B $G_OP approve "${id:-0}")
is "$rc" 0 "a second operator approves it, and the release runs"
diag_file "$T_TMP/as.out" 2
is "$(modes)" open "every host is back"
check "the release is recorded in both names" \
	eval 'audit_rows done | grep -q "uid $U_OP_A.*approved by.*uid $U_OP_B"'
check "the approval itself is audited" eval 'audit_rows approved | grep -q "uid $U_OP_B"'

rc=$(as_user $U_OP_B $G_OP approve "${id:-0}")
is "$rc" 1 "a request runs once: approving it again finds nothing"

rc=$(as_user $U_OP_A $G_OP release h01 --reason "one host")
is "$rc" 0 "releasing some hosts (not all) needs no second operator"

tap_done
