#!/usr/bin/env bash
# The operator's terminal when something is wrong: each error exits with
# its documented code (bulkhead(8), EXIT STATUS) and says what to do next.
# On a lab of 2 hosts: a wrong socket path, the controller not running, an
# unknown host, a bad policy directory, an unknown option, a missing
# argument; apply --reviewed with another file's hash; and --json on the
# commands that read.
export BH_LAB_PREFIX=bhCE$$
export BH_LAB_DIR=/run/bulkhead-lab/$BH_LAB_PREFIX
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

lab_begin 2
SOCK=$LABDIR/ctl.sock
# bh OUT ARGS...: the CLI (against the lab unless ARGS give -s), stdout to
# OUT.out, stderr to OUT.err; prints the exit status
bh() {
	local out=$T_TMP/$1 rc=0
	shift
	if [[ ${1:-} == -s ]]; then
		timeout 60 "$BULKHEAD" "$@" >"$out.out" 2>"$out.err" || rc=$?
	else
		timeout 60 "$BULKHEAD" -s "$SOCK" "$@" >"$out.out" 2>"$out.err" || rc=$?
	fi
	echo "$rc"
}
# says OUT REGEX DESCRIPTION: stderr of OUT matches REGEX (grep -E)
says() {
	if grep -qE -- "$2" "$T_TMP/$1.err"; then
		tap_ok "$3"
	else
		tap_not_ok "$3"
		diag "stderr of $1 does not match /$2/:"
		diag_file "$T_TMP/$1.err" 10
	fi
}

# A policy checkout of the lab's two hosts (the controller's own inventory).
SITE=$T_TMP/site
mkdir -p "$SITE"
cp "$LABDIR/conf/inventory.yaml" "$SITE/"
cat >"$SITE/groups.yaml" <<'EOF'
groups:
  lab:
    match: {role: lab}
EOF
cat >"$SITE/services.yaml" <<'EOF'
services:
  ssh: [tcp/22]
EOF
cat >"$SITE/rules.yaml" <<'EOF'
rules:
  - from: lab
    to: lab
    services: [ssh]
    comment: the lab's hosts reach each other's ssh
EOF
cat >"$SITE/management.yaml" <<'EOF'
management:
  controllers: [198.18.0.1, "2001:2::1"]
  port: 7443
EOF
check "the lab's policy checks" quiet "$BULKHEAD" check "$SITE"

# ---- the controller cannot be reached: 69 ----
is "$(bh sock -s /nonexistent/bulkheadd.sock status)" 69 "a wrong socket path: exit 69"
says sock '/nonexistent/bulkheadd.sock' "it names the path"
says sock 'is bulkheadd running\?.*-s SOCKET or BULKHEAD_SOCKET' "and the next step (-s SOCKET or BULKHEAD_SOCKET)"
rc=0
BULKHEAD_SOCKET=/nonexistent/other.sock timeout 10 "$BULKHEAD" status >/dev/null 2>"$T_TMP/env.err" || rc=$?
is "$rc" 69 "a wrong BULKHEAD_SOCKET: exit 69"
says env '/nonexistent/other.sock' "it names the path from BULKHEAD_SOCKET"

lab ctl-stop >/dev/null 2>&1
is "$(bh down status)" 69 "the controller not running: status exits 69"
says down 'cannot reach the controller at .*ctl.sock' "it says the controller cannot be reached, and where"
says down 'is bulkheadd running' "and what to check next"
is "$(bh down2 isolate --all --reason test)" 69 "the controller not running: isolate exits 69"
check "the controller starts again" quiet lab ctl-start
check "every host reconnects" quiet lab wait-connected 30

# ---- an unknown host: 1 ----
is "$(bh unk isolate nosuch-host --reason test)" 1 "isolate an unknown host: exit 1"
says unk 'host "nosuch-host" is not in the inventory.*bulkhead status' "it names the host and where the inventory's hosts are listed"
is "$(host_field h01 mode)" open "nothing was isolated"
is "$(bh unk2 render nosuch-host "$SITE")" 1 "render an unknown host: exit 1"
says unk2 'no host "nosuch-host".*render --list' "it names the host and how to list them"
is "$(bh unk3 explain "$SITE" --from nosuch-host --to h01 tcp/22)" 2 "explain from an unknown host: exit 2 (cannot tell)"
says unk3 '"nosuch-host" is neither a host.*bulkhead hosts' "it names the host and how to list them"

# ---- a bad policy directory: 1 ----
mkdir -p "$T_TMP/empty"
is "$(bh dir1 check /nonexistent/policy)" 1 "check a directory that does not exist: exit 1"
says dir1 '/nonexistent/policy: No such file or directory; give the directory of a policy checkout' \
	"it says so, and what to give instead"
is "$(bh dir2 check "$T_TMP/empty")" 1 "check a directory without a policy: exit 1"
says dir2 'holds no policy.*give the directory of a policy checkout' "it says so, and what to give instead"
is "$(bh dir3 plan /nonexistent/policy)" 1 "plan a directory that does not exist: exit 1"
says dir3 'give the directory of a policy checkout' "plan says what to give instead"
cp -r "$SITE" "$T_TMP/broken"
sed -i 's/to: lab/to: labb/' "$T_TMP/broken/rules.yaml"
is "$(bh dir4 check "$T_TMP/broken")" 1 "check a broken policy: exit 1"
says dir4 'broken/rules.yaml:[0-9]+:[0-9]+: unknown group "labb"' "the error is file:line:col: message"

# ---- an unknown option, a missing argument: 64 ----
is "$(bh opt1 status --bogus)" 64 "an unknown option of a command: exit 64"
says opt1 'usage: bulkhead status' "the command's usage follows"
is "$(bh opt2 --bogus status)" 64 "an unknown global option: exit 64"
says opt2 'unknown option "--bogus".*below' "it names the option"
says opt2 'usage: bulkhead' "and the usage follows"
is "$(bh opt3 nosuch-command)" 64 "an unknown command: exit 64"
says opt3 'unknown command "nosuch-command"' "it names the command, the usage follows"
is "$(bh arg1 apply)" 64 "apply without its FILE: exit 64"
says arg1 'usage: bulkhead apply FILE' "the usage names the missing FILE"
is "$(bh arg2 isolate)" 64 "isolate without hosts: exit 64"
says arg2 'name hosts or give --all' "it says to name hosts or give --all"
is "$(bh arg3 audit --since)" 64 "--since without its TIME: exit 64"
is "$(bh arg4 -s)" 64 "-s without its SOCKET: exit 64"
says arg4 '-s needs the path of the controller.s control socket' "it says what -s needs"
is "$(bh arg5 audit --since yesterday)" 64 "--since with a time it cannot read: exit 64"
says arg5 'give a UTC date or time' "it says which forms it reads"

# ---- the reviewed plan, and no other ----
is "$(bh plan plan "$SITE" -o "$T_TMP/plan.bin")" 2 "plan: changes to review, exit 2"
rc=$(bh plan-json plan "$SITE" --json)
check "plan --json: both hosts would change, each with its set elements (exit $rc)" \
	quiet jq -e '.changed == 2 and .file == null and all(.hosts[]; .new_mode == "segmented" and (.changes | length) > 0)' \
	"$T_TMP/plan-json.out"
digest=$(sed -n 's/.*--reviewed \([0-9a-f]\{64\}\)$/\1/p' "$T_TMP/plan.out")
is "$digest" "$(sha256sum "$T_TMP/plan.bin" | cut -d' ' -f1)" "plan prints the plan file's SHA-256"
cp "$T_TMP/plan.bin" "$T_TMP/other.bin"
printf 'x' >>"$T_TMP/other.bin"
is "$(bh rev1 apply "$T_TMP/other.bin" --reviewed "$digest")" 1 "apply --reviewed with another file: exit 1"
says rev1 'is not the reviewed plan.*nothing was sent' "it says the file is not the reviewed one"
says rev1 'Apply the plan file that was reviewed' "and what to do next"
is "$(host_field h01 mode)" open "nothing was applied"
is "$(bh rev2 apply "$T_TMP/plan.bin" --reviewed 1234)" 64 "apply --reviewed with something that is no SHA-256: exit 64"
is "$(bh rev3 apply "$T_TMP/plan.bin" --reviewed "$digest" --reason "reviewed")" 0 "apply --reviewed with the reviewed file: exit 0"
is "$(host_field h01 mode)" segmented "the reviewed plan was applied"

# ---- --json on the commands that read ----
json_ok() { # OUT: stdout of OUT is one JSON document
	jq -e . "$T_TMP/$1.out" >/dev/null 2>&1
}
for c in "status" "audit" "timeline" "hosts $SITE" "check $SITE" "plan $SITE"; do
	name=json-${c%% *}
	# shellcheck disable=SC2086 # words of the command
	rc=$(bh "$name" $c --json)
	check "$c --json: JSON on stdout (exit $rc)" json_ok "$name"
done
check "check --json: ok, and the counts" quiet jq -e '.ok == true and .hosts == 2' "$T_TMP/json-check.out"
check "plan --json: nothing changes after the apply" quiet jq -e '.changed == 0 and .total == 2' "$T_TMP/json-plan.out"
check "hosts --json: both hosts with their addresses" \
	quiet jq -e '[.hosts[].name] == ["h01", "h02"] and .hosts[0].addresses[0] == "198.18.1.1"' "$T_TMP/json-hosts.out"
check "timeline --json: the apply is in it" quiet jq -e 'any(.entries[]; .what | startswith("apply"))' "$T_TMP/json-timeline.out"
rc=$(bh json-broken check "$T_TMP/broken" --json)
is "$rc" 1 "check --json of a broken policy: exit 1"
check "check --json: the error as file, line, col, message" \
	quiet jq -e '.ok == false and any(.problems[]; .severity == "error" and (.file | endswith("rules.yaml")) and .line > 0 and .col > 0)' \
	"$T_TMP/json-broken.out"
tap_done
