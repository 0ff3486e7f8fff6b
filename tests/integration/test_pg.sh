#!/usr/bin/env bash
# The PostgreSQL store (store: postgresql:...) in a lab with its own server
# (lab up N --store postgresql): the store's unit tests on that server;
# isolate --all and release --all; the server restarted while idle and
# while a command waits for a host; the server down while an isolation goes
# out (its audit rows wait in memory until the server is back). Every time
# the audit log must verify, and hold each command's rows exactly once.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=3
SLOW=h03
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [[ -z ${BH_LAB_PG_BIN:-} ]]; then
	echo "1..0 # SKIP no PostgreSQL server programs (apt-get install postgresql)"
	exit 0
fi
if ! grep -q HAVE_LIBPQ "$BH_BUILD/build.ninja" 2>/dev/null; then
	echo "1..0 # SKIP bulkheadd built without libpq"
	exit 0
fi
_lab_start "lab up $N --store postgresql: its own server, controller and $N agents connected" \
	runuser -- up $N --store postgresql

psql_q() { lab psql -Atc "$1" 2>>"$T_TMP/psql.err"; }
CONNINFO="host=$LABDIR/pg port=5432 dbname=bulkhead user=postgres"

# The audit log as a whole: verified by the controller and read offline, its
# rows numbered 1..count with no gap or repeat, the head at the last row.
audit_whole() { # label
	local rc n max distinct head
	rc=$(run_cli "$T_TMP/verify" audit verify)
	is "$rc" 0 "$1: bulkhead audit verify (through the controller) passes"
	[[ $rc == 0 ]] || { diag_file "$T_TMP/verify.out"; diag_file "$T_TMP/verify.err"; }
	rc=0
	timeout 30 "$BULKHEAD" audit verify --db "postgresql:$CONNINFO" >"$T_TMP/verify-db.out" 2>&1 || rc=$?
	is "$rc" 0 "$1: bulkhead audit verify --db postgresql:... passes"
	[[ $rc == 0 ]] || diag_file "$T_TMP/verify-db.out"
	read -r n max distinct head < <(psql_q "SELECT count(*), coalesce(max(seq), 0),
		count(DISTINCT hash), (SELECT count FROM audit_head) FROM audit" | tr '|' ' ')
	check "$1: audit rows 1..$max, no gap or repeat, head at $head" \
		eval '[[ -n $n && $n == "$max" && $n == "$distinct" && $n == "$head" ]]'
}

# command_rows ID: the audit rows of command ID (started, one per host, done)
command_rows() {
	psql_q "SELECT count(*) FROM audit WHERE detail LIKE 'command $1, epoch %'"
}

# ---- the store's unit tests, on this server ----
psql_q "CREATE DATABASE bh_unit" >/dev/null
rc=0
BH_TEST_PG="host=$LABDIR/pg port=5432 dbname=bh_unit user=postgres options=-cclient_min_messages=warning" \
	ASAN_OPTIONS=detect_leaks=1 timeout 120 "$BH_BUILD/tests/test_store" >"$T_TMP/unit.out" 2>&1 || rc=$?
is "$rc" 0 "test_store passes on SQLite and on the lab's PostgreSQL"
check "test_store ran the PostgreSQL group" grep -q "PASSED  \] 9 test" "$T_TMP/unit.out"
[[ $rc == 0 ]] || diag_file "$T_TMP/unit.out" 40

check "bulkheadd logs its store as postgresql" grep -q "store: postgresql" "$LABDIR/logs/ctl.log"
is "$(psql_q 'SELECT max(version) FROM schema_version')" 3 "the schema is at version 3"
is "$(psql_q 'SELECT term FROM bh_leader')" 1 "the one controller leads, term 1"

# ---- isolate and release ----
rc=$(run_cli "$T_TMP/iso" isolate --all --reason pg-drill --json)
is "$rc" 0 "isolate --all exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso.out" 2>/dev/null)" "$N $N" "isolate: targeted == confirmed == $N"
ISO_EPOCH=$(jq -r '.epoch' "$T_TMP/iso.out" 2>/dev/null)
ISO_ID=$(jq -r '.command_id' "$T_TMP/iso.out" 2>/dev/null)
is "$(psql_q 'SELECT last_value FROM bh_epoch')" "$ISO_EPOCH" "the isolate epoch came from the sequence bh_epoch"
wait_for 10 eval '[[ $(command_rows "$ISO_ID") -ge $((N + 2)) ]]'
is "$(command_rows "$ISO_ID")" $((N + 2)) "isolate: $((N + 2)) audit rows for command $ISO_ID"
is "$(psql_q "SELECT count(*) FROM command_results WHERE command_id = $ISO_ID AND status = 'confirmed'")" \
	"$N" "isolate: $N confirmed results stored"
audit_whole "after isolate"

# ---- the server restarted while the controller is idle ----
check "lab pg-stop (fast shutdown)" lab pg-stop
check "lab pg-start" lab pg-start
rc=$(run_cli "$T_TMP/rel" release --all --json)
is "$rc" 0 "release --all after the server restarted exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/rel.out"; diag_file "$T_TMP/rel.err"; diag_file "$LABDIR/logs/ctl.log"; }
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/rel.out" 2>/dev/null)" "$N $N" "release: targeted == confirmed == $N"
REL_ID=$(jq -r '.command_id' "$T_TMP/rel.out" 2>/dev/null)
REL_EPOCH=$(jq -r '.epoch' "$T_TMP/rel.out" 2>/dev/null)
check "release epoch $REL_EPOCH > isolate epoch $ISO_EPOCH" eval '[[ $REL_EPOCH -gt $ISO_EPOCH ]]'
wait_for 10 eval '[[ $(command_rows "$REL_ID") -ge $((N + 2)) ]]'
is "$(command_rows "$REL_ID")" $((N + 2)) "release: $((N + 2)) audit rows for command $REL_ID, none lost or doubled"
check "bulkheadd reconnected to the server" grep -q "postgresql: .*: reconnected" "$LABDIR/logs/ctl.log"
audit_whole "after a restart while idle"

# ---- the server restarted while a command is in flight ----
# h03 is cut off from the controller, so the isolation waits for it until
# its timeout; meanwhile the server crashes (immediate stop) and comes back.
lab partition $SLOW
T0=$(date +%s%N)
timeout 60 "$LAB" ctl -- isolate --all --reason pg-midflight --timeout 4 --no-fallback --json \
	>"$T_TMP/mid.out" 2>"$T_TMP/mid.err" &
MID_PID=$!
sleep 1
check "lab pg-stop --immediate while the command waits for $SLOW" lab pg-stop --immediate
sleep 0.5
check "lab pg-start" lab pg-start
rc=0
wait $MID_PID || rc=$?
diag "the command took $(ms_since "$T0") ms"
is "$rc" 1 "isolate --all exits 1 ($SLOW did not confirm)"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/mid.out" 2>/dev/null)" "$N $((N - 1))" \
	"isolate: $((N - 1)) of $N confirmed"
MID_ID=$(jq -r '.command_id' "$T_TMP/mid.out" 2>/dev/null)
# The results are recorded once the answer has left: a moment after the
# CLI's exit, not before it.
wait_for 10 eval '[[ $(command_rows "$MID_ID") -ge $((N + 2)) ]]'
is "$(command_rows "$MID_ID")" $((N + 2)) "the command's $((N + 2)) audit rows landed after the restart, once"
lab heal $SLOW
# The controller may still drop the session it lost for dead_ms: past that,
# every host is connected again.
sleep 2
check "$SLOW reconnects once healed" lab wait-connected 30
audit_whole "after a restart during a command"

# ---- the server down while an isolation goes out ----
check "lab pg-stop" lab pg-stop
size=$(log_size "$LABDIR/logs/ctl.log")
rc=$(run_cli "$T_TMP/down" isolate --all --reason pg-down --json)
is "$rc" 0 "isolate --all with the server down still exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/down.out" 2>/dev/null)" "$N $N" \
	"isolate with the server down: every host confirmed"
DOWN_EPOCH=$(jq -r '.epoch' "$T_TMP/down.out" 2>/dev/null)
check "the record that could not be written is reported in bulkheadd's log" \
	eval 'log_since "$LABDIR/logs/ctl.log" $size | grep -q "rows wait in memory until the database answers"'
check "lab pg-start" lab pg-start
rc=$(run_cli "$T_TMP/rel2" release --all --json)
is "$rc" 0 "release --all with the server back exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/rel2.out" 2>/dev/null)" "$N $N" "release: every host confirmed"
REL2_EPOCH=$(jq -r '.epoch' "$T_TMP/rel2.out" 2>/dev/null)
check "release epoch $REL2_EPOCH > the epoch $DOWN_EPOCH taken while the server was down" \
	eval '[[ $REL2_EPOCH -gt $DOWN_EPOCH ]]'
is "$(psql_q "SELECT count(*) FROM audit WHERE detail LIKE 'command %, epoch $DOWN_EPOCH%'")" $((N + 2)) \
	"the isolation's $((N + 2)) audit rows, kept while the server was down, landed once"
check "the sequence moved past the epoch taken while the server was down" \
	eval '[[ $(psql_q "SELECT last_value FROM bh_epoch") -ge $REL2_EPOCH ]]'
audit_whole "at the end"

# ---- the controller restarted on the same database ----
lab ctl-stop
check "bulkheadd restarts on the same database" lab ctl-start
check "every agent reconnects" lab wait-connected 30
is "$(host_field h01 mode)" open "h01's state (open) read back from the database"
audit_whole "after a controller restart"

tap_done
