#!/usr/bin/env bash
# Policy as code on a lab of the whole example site (policies/, 51 hosts):
#  1. plan names every host, apply segments them all, a second plan is empty;
#  2. a matrix of allowed and denied flows (TCP, UDP, ICMP; IPv4 and IPv6):
#     'bulkhead explain' is the oracle and real traffic must agree with it;
#  3. the table each agent loaded equals what 'bulkhead render' prints;
#  4. a changed policy plans exactly the changed elements on exactly the
#     hosts of the two groups involved;
#  5. a plan made before another apply is refused as stale, nothing changes;
#  6. apply --confirm manual without confirm rolls back by itself (agent and
#     controller say so, traffic is denied again); with confirm it stays;
#  7. isolate --all cuts allowed flows, release --all brings back segmented.
# A lab prefix of its own, whatever the environment says.
export BH_LAB_PREFIX=bhP$$
export BH_LAB_DIR=/run/bulkhead-lab/$BH_LAB_PREFIX
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SITE=$BH_ROOT/policies
phase_init "lab up-site"

lab_begin_site "$SITE"
N=${#HOSTS[@]}
diag "site lab: $N hosts"

# plan_hosts FILE: the hosts a plan output lists with '~', sorted, one line
plan_hosts() { awk '$1 == "~" { h = $2; sub(/:$/, "", h); print h }' "$1" | sort | tr '\n' ' ' | sed 's/ $//'; }
# plan_elems FILE SIGN: "HOST SET ELEMENT" for every +/- line of a plan output
plan_elems() {
	awk -v s="$2" '$1 == "~" { h = $2; sub(/:$/, "", h); next }
		$1 == s { $1 = ""; sub(/^ +/, ""); print h, $0 }' "$1" | sort
}
# render_elems HOST DIR: "HOST SET ELEMENT" for every set element render prints
render_elems() {
	"$BULKHEAD" render "$1" "$2" | awk -v h="$1" '
		/^\tset / { s = $2 }
		/elements = \{/ { l = $0; sub(/.*elements = \{ */, "", l); sub(/ *\}$/, "", l)
			n = split(l, a, ", "); for (i = 1; i <= n; i++) print h, s, a[i] }' | sort
}
# hashes: "HOST HASH" for every host in status --json
hashes() { status_json | jq -r '.hosts[] | "\(.name) \(.policy_hash)"' | sort; }
# hashes_of FILE HOST...: the lines of FILE for those hosts
hashes_of() {
	local f=$1
	shift
	printf '%s\n' "$@" | awk 'NR == FNR { w[$1] = 1; next } ($1 in w)' - "$f"
}
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ==== 1. plan, apply, plan again ===========================================
phase "1. plan and apply the example site"
rc=$(run_cli "$T_TMP/plan0" plan "$SITE" -o "$T_TMP/plan0")
is "$rc" 2 "plan policies -o plan0 exits 2 (changes pending)"
[[ $rc == 2 ]] || diag_file "$T_TMP/plan0.err"
is "$(plan_hosts "$T_TMP/plan0.out")" "$(printf '%s\n' "${HOSTS[@]}" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"plan lists every one of the $N lab hosts with '~'"
is "$(grep -c '^~ .*: open -> segmented, policy (none) -> ' "$T_TMP/plan0.out")" "$N" \
	"plan: every host goes open -> segmented, policy (none) -> HASH"
check "plan0 file was written" test -s "$T_TMP/plan0"

rc=$(run_cli "$T_TMP/apply0" apply "$T_TMP/plan0" --reason "test_policy: segment the site")
is "$rc" 0 "apply plan0 exits 0 (every host confirmed)"
[[ $rc == 0 ]] || { diag_file "$T_TMP/apply0.out"; diag_file "$T_TMP/apply0.err"; }
diag "$(head -n 2 "$T_TMP/apply0.out")"
status_json >"$T_TMP/st0.json"
is "$(jq -r '"\(.hosts | length): " + ([.hosts[] | select(.mode != "segmented" or (.policy_hash | type) != "string" or (.policy_hash | test("^[0-9a-f]{64}$") | not)) | .name] | join(" "))' "$T_TMP/st0.json" 2>&1)" \
	"$N: " "status --json: all $N hosts segmented with a policy_hash"
# the hash each host reports is the one the plan announced
want=$(awk '$1 == "~" { h = $2; sub(/:$/, "", h); print h, $NF }' "$T_TMP/plan0.out" | sort)
got=$(jq -r '.hosts[] | "\(.name) \(.policy_hash // "null" | .[0:12])"' "$T_TMP/st0.json" | sort)
is "$got" "$want" "status --json: every host's policy_hash is the one plan0 announced"
rc=$(run_cli "$T_TMP/plan1" plan "$SITE")
is "$rc" 0 "a second plan policies exits 0 (nothing left to change)"
[[ $rc == 0 ]] || { diag_file "$T_TMP/plan1.out"; diag_file "$T_TMP/plan1.err"; }
hashes >"$T_TMP/h0"

# ==== 2. flow matrix ==========================================================
# PROTO FROM TO FAMILY PORT EXPECTED  why (from rules.yaml / services.yaml)
FLOWS=(
	"tcp v5-web01 v5-app01 4 9000 allowed    v5 web -> app (app-api)"
	"tcp v5-web02 v5-app02 6 9000 allowed    v5 web -> app (app-api)"
	"tcp v5-app01 v5-db01 4 5432 allowed     v5 app -> db (postgres)"
	"tcp v5-app03 v5-db02 6 5432 allowed     v5 app -> db (postgres)"
	"tcp v5-db01 v5-db02 6 5432 allowed      v5 db replication"
	"tcp v5-app02 v5-batch01 4 8105 allowed  v5 app -> batch (batch-jobs 8100-8109)"
	"tcp lb01 ce-web01 6 8443 allowed        lbs -> web-tier (web-backend)"
	"tcp lb02 v34-web02 4 8443 allowed       lbs -> web-tier (web-backend)"
	"tcp v34-web01 v34-app02 4 9000 allowed  v3.4 web -> app"
	"tcp v34-app01 mn-api01 4 8200 allowed   filers -> vault-api"
	"tcp mn-api02 mn-db02 4 5432 allowed     vault-api -> vault-db"
	"tcp mn-api01 mn-kms01 4 5696 allowed    vault-api -> vault-kms (kmip)"
	"tcp mn-backup01 mn-db01 4 9102 allowed  vault-backup -> vault-db"
	"tcp backup01 v5-db01 6 9102 allowed     backup -> databases (backup-agent)"
	"tcp backup02 ce-db02 4 9102 allowed     backup -> databases (backup-agent)"
	"tcp bastion01 hr-app01 4 22 allowed     bastions -> general (ssh)"
	"tcp bastion01 backup02 6 22 allowed     bastions -> general (ssh)"
	"tcp bastion02 mn-db01 4 22 allowed      vault-bastions -> vault (ssh)"
	"tcp ce-app01 mail01 6 25 allowed        app-tier -> mail (smtp)"
	"tcp mn-db01 logs01 4 6514 allowed       everyone -> logs (syslog-tls)"
	"tcp hr-db01 ns02 4 53 allowed           everyone -> dns (tcp/53)"
	"tcp mon01 hr-db02 6 9100 allowed        monitoring -> everyone (metrics)"
	"udp hr-app02 ns01 4 53 allowed          everyone -> dns (udp/53)"
	"udp v5-batch01 ns02 6 123 allowed       everyone -> dns (ntp)"
	"udp mn-kms01 ns01 4 53 allowed          the vault resolves names too"
	"udp mon01 sw-r01 4 161 allowed          monitoring -> switches (snmp)"
	"udp mon01 sw-r02 6 161 allowed          monitoring -> switches (snmp)"
	"icmp mon01 mn-kms01 4 - allowed         monitoring -> everyone (ping)"
	"icmp mon01 v5-web03 6 - allowed         monitoring -> everyone (ping)"
	"tcp v5-web01 v5-db01 4 5432 denied      web tier skips the app tier"
	"tcp hr-app01 mn-api01 4 8200 denied     HR is not a filer: no My Number vault"
	"tcp ce-web01 mn-api02 4 8200 denied     a web tier never reaches the vault API"
	"tcp v5-app01 mn-db01 4 5432 denied      only the vault API reaches the vault DB"
	"tcp backup01 mn-db01 4 9102 denied      shared backup never pulls the vault"
	"tcp v5-db01 backup01 6 9102 denied      nothing opens connections to backups"
	"tcp bastion01 mn-api01 4 22 denied      the general bastion cannot enter the vault"
	"tcp v5-app01 hr-db01 6 5432 denied      cross-product database access"
	"tcp ce-web01 ce-db01 6 5432 denied      ce web skips the app tier"
	"tcp v34-web01 v5-app01 4 9000 denied    cross-product app-api"
	"tcp v5-batch01 v5-app01 6 9000 denied   batch does not call the app tier"
	"tcp lb02 v5-app03 4 9000 denied         lbs reach only the web tier"
	"tcp mon01 v5-app01 4 22 denied          monitoring has no ssh"
	"tcp mn-db01 mn-kms01 4 5696 denied      the vault DB never holds keys"
	"tcp v5-app01 v5-batch01 4 8110 denied   one past the batch-jobs range"
	"tcp hr-web01 hr-db01 6 7070 denied      (the port the policy change opens)"
	"tcp hr-web02 hr-db02 4 7070 denied      (the port the policy change opens)"
	"udp v5-app01 sw-r01 4 161 denied        only monitoring polls switches"
	"udp v5-web01 logs01 6 514 denied        syslog only over TLS"
	"udp v5-web01 ns01 6 5353 denied         dns ports only"
	"udp v34-app01 ns02 4 124 denied         one past ntp"
	"icmp v5-app01 mon01 4 - denied          only monitoring pings"
	"icmp hr-web02 hr-web01 6 - denied       only monitoring pings"
)
NF=${#FLOWS[@]}
phase "2. flow matrix ($NF flows)"

flow_words() { # index -> proto from to fam port expected
	local w
	read -ra w <<<"${FLOWS[$1]}"
	echo "${w[@]:0:6}"
}
flow_why() {
	local w
	read -ra w <<<"${FLOWS[$1]}"
	echo "${w[@]:6}"
}
flow_text() { # proto from to fam port
	local a
	a=$(addr "$3" "$4")
	[[ $a == *:* ]] && a="[$a]"
	if [[ $1 == icmp ]]; then
		echo "icmp IPv$4 $2 -> $3 $a"
	else
		echo "$1/$5 IPv$4 $2 -> $3 $a"
	fi
}
# flow_run proto from to fam port: 0 if the traffic got through
flow_run() {
	local proto=$1 from=$2 to=$3 fam=$4 port=$5 a
	a=$(addr "$to" "$fam")
	[[ -n $a && $a != - ]] || return 2
	case $proto in
	tcp) tcp_ok "$from" "$a" "$port" ;;
	udp) udp_ok "$from" "$a" "$port" "$to" ;;
	icmp) ping_ok "$from" "$a" ;;
	*) return 2 ;;
	esac
}
# flows_run DIR INDEX...: run those flows in parallel (each bounded),
# DIR/INDEX gets 0 (through), 1 (not through) or 2 (bad spec)
flows_run() {
	local d=$1 i pids=()
	shift
	mkdir -p "$d"
	for i in "$@"; do
		(
			# shellcheck disable=SC2046
			flow_run $(flow_words "$i" | cut -d' ' -f1-5)
			echo $? >"$d/$i"
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
}
verdict() { if [[ $1 == 0 ]]; then echo allowed; elif [[ $1 == 1 ]]; then echo denied; else echo "error($1)"; fi; }

# listeners on every destination (TCP echo or UDP receiver)
declare -A LST
for i in "${!FLOWS[@]}"; do
	read -r proto from to fam port exp <<<"$(flow_words "$i")"
	[[ $proto == icmp ]] && continue
	LST["$proto $to $port"]=1
done
lfail=""
for k in "${!LST[@]}"; do
	read -r proto to port <<<"$k"
	if [[ $proto == tcp ]]; then
		bg_ns "echo-$to-$port" "$to" timeout "$T_MAX" \
			socat "TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork" PIPE
	else
		bg_ns "udp-$to-$port" "$to" timeout "$T_MAX" \
			socat -u "UDP6-RECV:$port,ipv6only=0,reuseaddr" STDOUT
	fi
done
for k in "${!LST[@]}"; do
	read -r proto to port <<<"$k"
	if [[ $proto == tcp ]]; then
		wait_for 5 port_listening "$to" "$port" || lfail+="$to:tcp/$port "
	else
		wait_for 5 udp_port_listening "$to" "$port" || lfail+="$to:udp/$port "
	fi
done
is "$lfail" "" "${#LST[@]} listeners (socat TCP echo / UDP receiver) up on the flows' destinations"

# the oracle: bulkhead explain
declare -A EXPL EXPL_WHY
n_allow=0 n_deny=0 n_udp_a=0 n_udp_d=0 n_v6=0 n_icmp=0 explain_bad=""
for i in "${!FLOWS[@]}"; do
	read -r proto from to fam port exp <<<"$(flow_words "$i")"
	svc=$proto/$port
	[[ $proto == icmp ]] && svc=icmp
	EXPL_WHY[$i]=$("$BULKHEAD" explain "$SITE" --from "$from" --to "$to" "$svc" 2>&1)
	EXPL[$i]=$(verdict $?)
	[[ ${EXPL[$i]} == "$exp" ]] || explain_bad+="$i "
	[[ $exp == allowed ]] && n_allow=$((n_allow + 1)) || n_deny=$((n_deny + 1))
	[[ $proto == udp && $exp == allowed ]] && n_udp_a=$((n_udp_a + 1))
	[[ $proto == udp && $exp == denied ]] && n_udp_d=$((n_udp_d + 1))
	[[ $fam == 6 ]] && n_v6=$((n_v6 + 1))
	[[ $proto == icmp ]] && n_icmp=$((n_icmp + 1))
done
check "matrix: $NF flows, $n_allow allowed and $n_deny denied (>= 10 each), udp $n_udp_a/$n_udp_d, $n_v6 IPv6, $n_icmp icmp" \
	eval '((NF >= 30 && n_allow >= 10 && n_deny >= 10 && n_udp_a >= 2 && n_udp_d >= 2 && n_v6 >= 5 && n_icmp >= 2))'

flows_run "$T_TMP/m1" "${!FLOWS[@]}"
M_ALLOWED=() M_DENIED=()
for i in "${!FLOWS[@]}"; do
	read -r proto from to fam port exp <<<"$(flow_words "$i")"
	tr=$(verdict "$(cat "$T_TMP/m1/$i" 2>/dev/null || echo 9)")
	txt="flow $((i + 1)): $(flow_text "$proto" "$from" "$to" "$fam" "$port"): explain ${EXPL[$i]}, traffic $tr"
	if [[ $tr == "${EXPL[$i]}" && ${EXPL[$i]} == "$exp" ]]; then
		tap_ok "$txt ($(flow_why "$i"))"
		if [[ $tr == allowed ]]; then M_ALLOWED+=("$i"); else M_DENIED+=("$i"); fi
	else
		tap_not_ok "$txt (expected $exp: $(flow_why "$i"))"
		diag "explain: ${EXPL_WHY[$i]}"
	fi
done
[[ -z $explain_bad ]] || diag "explain disagrees with the rules as read for flows (0-based): $explain_bad"
dead=""
for k in "${!LST[@]}"; do
	read -r proto to port <<<"$k"
	if [[ $proto == tcp ]]; then bg_alive "echo-$to-$port" || dead+="$to:$port "; else bg_alive "udp-$to-$port" || dead+="$to:udp/$port "; fi
done
is "$dead" "" "every listener is still running (denied results are not vacuous)"
# every denied TCP/UDP flow goes to a listener that answers on loopback
# (management and loopback are always open in segmented mode)
lo_bad=""
for i in "${M_DENIED[@]}"; do
	read -r proto from to fam port exp <<<"$(flow_words "$i")"
	case $proto in
	tcp) tcp_ok "$to" 127.0.0.1 "$port" || lo_bad+="$to:tcp/$port " ;;
	udp) udp_ok "$to" 127.0.0.1 "$port" "$to" || lo_bad+="$to:udp/$port " ;;
	esac
done
is "$lo_bad" "" "every denied flow's listener answers on its own host's loopback (the firewall, not the listener, denied it)"
diag "matrix: ${#M_ALLOWED[@]} allowed and ${#M_DENIED[@]} denied flows agree with explain"
fi_by() { # PROTO FROM TO FAM PORT -> matrix index
	local i
	for i in "${!FLOWS[@]}"; do
		[[ "$(flow_words "$i" | cut -d' ' -f1-5)" == "$*" ]] && { echo "$i"; return 0; }
	done
	return 1
}

# ==== 3. the agents' tables equal render ======================================
phase "3. nft list table inet bulkhead == render"
cmp_table() { # HOST DIR
	local h=$1 dir=$2 f=$T_TMP/nft-$1
	"$BULKHEAD" render "$h" "$dir" >"$f.render" 2>"$f.render.err" || return 1
	unshare -n sh -c 'nft -f "$1" && nft list table inet bulkhead' sh "$f.render" 2>&1 | nft_normalize >"$f.want"
	lab exec "$h" -- nft list table inet bulkhead >"$f.raw" 2>&1
	nft_normalize <"$f.raw" >"$f.got"
	[[ -s $f.want ]] && grep -q '^table inet bulkhead {' "$f.want" && diff -u "$f.want" "$f.got" >"$f.diff"
}
for h in v5-app01 mn-db01 mon01 backup01 sw-r03; do
	if cmp_table "$h" "$SITE"; then
		tap_ok "$h: nft list table inet bulkhead == render $h policies loaded with nft -f ($(wc -l <"$T_TMP/nft-$h.got") lines, counters cleared)"
	else
		tap_not_ok "$h: nft list table inet bulkhead == render $h policies loaded with nft -f"
		diag_file "$T_TMP/nft-$h.diff" 30
	fi
done
check "the agent's table carries 'flags owner' (the only header difference to nft -f input)" \
	grep -qx $'\tflags owner' "$T_TMP/nft-v5-app01.raw"

# ==== 4. a changed policy: exactly the changed elements on the right hosts ====
phase "4. plan of a changed policy"
# change 1: a new service tcp/7070, allowed from hr-web to hr-db
# change 2: a new service tcp/7072, allowed from hr-app to hr-db
P1=$T_TMP/p1 P2=$T_TMP/p2 P12=$T_TMP/p12
change1() {
	printf '  hr-report: [tcp/7070]      # test_policy change 1\n' >>"$1/services.yaml"
	printf '  - from: hr-web\n    to: hr-db\n    services: [hr-report]\n    comment: test_policy change 1\n' >>"$1/rules.yaml"
}
change2() {
	printf '  hr-export: [tcp/7072]      # test_policy change 2\n' >>"$1/services.yaml"
	printf '  - from: hr-app\n    to: hr-db\n    services: [hr-export]\n    comment: test_policy change 2\n' >>"$1/rules.yaml"
}
cp -r "$SITE" "$P1" && change1 "$P1"
cp -r "$SITE" "$P2" && change2 "$P2"
cp -r "$SITE" "$P12" && change1 "$P12" && change2 "$P12"
for d in "$P1" "$P2" "$P12"; do
	check "bulkhead check $(basename "$d") (the changed copy is a valid policy)" quiet "$BULKHEAD" check "$d"
done
check "explain on the copy: hr-web01 -> hr-db01 tcp/7070 is now allowed" quiet "$BULKHEAD" explain "$P1" --from hr-web01 --to hr-db01 tcp/7070

# the hosts of hr-web and hr-db, from the inventory (bulkhead hosts)
EXP1=$("$BULKHEAD" hosts "$P1" | awk '$1 ~ /^hr-(web|db)[0-9]+$/ { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')
# the element diff per host, from render of the old and the new policy
render_diff() { # OLD NEW SIGN(+|-): "HOST SET ELEMENT" lines
	local h
	for h in "${HOSTS[@]}"; do
		if [[ $3 == + ]]; then
			comm -13 <(render_elems "$h" "$1") <(render_elems "$h" "$2")
		else
			comm -23 <(render_elems "$h" "$1") <(render_elems "$h" "$2")
		fi
	done | sort
}
render_diff "$SITE" "$P1" + >"$T_TMP/exp1.plus"
render_diff "$SITE" "$P1" - >"$T_TMP/exp1.minus"
rc=$(run_cli "$T_TMP/plan-p1" plan "$P1")
is "$rc" 2 "plan of the changed copy exits 2"
sed 's/^/#   /' "$T_TMP/plan-p1.out"
is "$(plan_hosts "$T_TMP/plan-p1.out")" "$EXP1" "plan: the '~' hosts are exactly hr-web + hr-db ($EXP1)"
is "$(awk '{print $1}' "$T_TMP/exp1.plus" | sort -u | tr '\n' ' ' | sed 's/ $//')" "$EXP1" \
	"render: exactly the hosts of hr-web + hr-db get different set elements"
is "$(grep -c '^~ .*: segmented -> segmented, policy ' "$T_TMP/plan-p1.out")" 4 "plan: the 4 hosts stay segmented, only their policy changes"
is "$(plan_elems "$T_TMP/plan-p1.out" +)" "$(cat "$T_TMP/exp1.plus")" \
	"plan: the '+' lines are exactly the elements render adds ($(wc -l <"$T_TMP/exp1.plus"))"
is "$(plan_elems "$T_TMP/plan-p1.out" -)" "$(cat "$T_TMP/exp1.minus")" "plan: no '-' lines (render removes nothing)"
is "$(plan_elems "$T_TMP/plan-p1.out" + | grep -vc ' \. tcp \. 7070$')" 0 "plan: every '+' line is for tcp/7070"
check "plan: the '+' lines name hr-db's addresses on hr-web and hr-web's on hr-db" eval \
	'grep -q "^hr-web01 allow_out4 198.18.20.31" <(plan_elems "$T_TMP/plan-p1.out" +) &&
	 grep -q "^hr-db02 allow_in6 2001:2:0:12::11" <(plan_elems "$T_TMP/plan-p1.out" +)'
check "plan: '4 of $N hosts would change.'" grep -qx "4 of $N hosts would change." "$T_TMP/plan-p1.out"

# ==== 5. a stale plan is refused =================================================
phase "5. stale plan"
rc=$(run_cli "$T_TMP/planA" plan "$P1" -o "$T_TMP/planA")
is "$rc" 2 "plan A (change 1: hr-web -> hr-db tcp/7070) exits 2"
rc=$(run_cli "$T_TMP/planB" plan "$P2" -o "$T_TMP/planB")
is "$rc" 2 "plan B (change 2: hr-app -> hr-db tcp/7072) exits 2"
is "$(plan_hosts "$T_TMP/planB.out")" "hr-app01 hr-app02 hr-db01 hr-db02" "plan B changes hr-app + hr-db (hr-db is in plan A too)"
rc=$(run_cli "$T_TMP/applyB" apply "$T_TMP/planB" --reason "test_policy: plan B")
is "$rc" 0 "apply B exits 0"
hashes >"$T_TMP/hB"
is "$(diff "$T_TMP/h0" "$T_TMP/hB" | grep -c '^>')" 4 "after apply B: exactly 4 hosts have a new policy_hash"
rc=$(run_cli "$T_TMP/applyA" apply "$T_TMP/planA" --reason "test_policy: stale plan A")
is "$rc" 1 "apply A (made before apply B) exits 1"
check "apply A says the plan is stale" grep -q stale "$T_TMP/applyA.err" "$T_TMP/applyA.out"
diag "$(cat "$T_TMP/applyA.err" "$T_TMP/applyA.out")"
hashes >"$T_TMP/hA"
is "$(diff "$T_TMP/hB" "$T_TMP/hA")" "" "after the refused apply A: every policy_hash unchanged"
check "after the refused apply A: hr-web01 -> hr-db01 tcp/7070 (IPv6) still denied" eval '! tcp_ok hr-web01 "$(addr hr-db01 6)" 7070'

# ==== 6. commit-confirmed: rollback without confirm, kept with confirm ==========
phase "6. commit-confirmed apply"
CHG="hr-db01 hr-db02 hr-web01 hr-web02"
# shellcheck disable=SC2086
hashes_of "$T_TMP/hB" $CHG >"$T_TMP/h6.before"
rc=$(run_cli "$T_TMP/planR" plan "$P12" -o "$T_TMP/planR")
is "$rc" 2 "plan R (change 1 on top of change 2) exits 2"
is "$(plan_hosts "$T_TMP/planR.out")" "$CHG" "plan R changes hr-web + hr-db"
ctl_log=$LABDIR/logs/ctl.log
declare -A OFF
for h in $CHG; do OFF[$h]=$(log_size "$LABDIR/logs/$h.log"); done
OFF[ctl]=$(log_size "$ctl_log")
t_apply=$(now)
rc=$(run_cli "$T_TMP/applyR" apply "$T_TMP/planR" --confirm manual --confirm-timeout 3 --reason "test_policy: not confirmed")
t_ack=$(elapsed "$t_apply")
st_now=$(status_json)
if tcp_ok hr-web01 "$(addr hr-db01 6)" 7070; then fl=allowed; else fl=denied; fi
t_flow=$(elapsed "$t_apply")
diag "apply --confirm manual exited $rc after $t_ack s: $(head -n 1 "$T_TMP/applyR.out")"
is "$(jq -r --arg c "$CHG" '[.hosts[] | select(.name as $n | $c | split(" ") | index($n)) | select(.pending == "awaiting-confirmation") | .name] | sort | join(" ")' <<<"$st_now")" \
	"$CHG" "right after the apply: status shows the 4 hosts awaiting-confirmation"
is "$(jq -r --arg c "$CHG" '.hosts[] | select(.name as $n | $c | split(" ") | index($n)) | "\(.name) \(.policy_hash)"' <<<"$st_now" | sort | awk '{print $1, substr($2, 1, 12)}')" \
	"$(awk '$1 == "~" { h = $2; sub(/:$/, "", h); print h, $NF }' "$T_TMP/planR.out" | sort)" \
	"right after the apply: the 4 hosts report plan R's new policy_hash"
is "$fl" allowed "while unconfirmed: hr-web01 -> hr-db01 tcp/7070 (IPv6) is allowed (checked ${t_flow} s after apply)"
hashes_now() { # the changed hosts' "HOST HASH"
	# shellcheck disable=SC2086
	hashes >"$T_TMP/h6.now" && hashes_of "$T_TMP/h6.now" $CHG
}
back_to_before() { [[ $(hashes_now) == "$(cat "$T_TMP/h6.before")" ]]; }
if wait_for 13 back_to_before; then rb=ok; else rb=no; fi
t_rb=$(elapsed "$t_apply")
is "$rb" ok "not confirmed: all 4 hosts are back on their previous policy_hash (${t_rb} s after apply)"
check "  ... not before the 3 s timer ran out (${t_rb} s)" awk -v t="$t_rb" 'BEGIN { exit !(t >= 2.9 && t <= 13.5) }'
settled() { # the changed hosts segmented, none awaiting confirmation
	[[ $(status_json | jq -r --arg c "$CHG" '[.hosts[] | select(.name as $n | $c | split(" ") | index($n))
		| select(.mode == "segmented" and (.pending // null) == null)] | length') == 4 ]]
}
check "  ... and none is awaiting confirmation any more, all segmented" settled
check "after the rollback: hr-web01 -> hr-db01 tcp/7070 (IPv6) is denied again" eval '! tcp_ok hr-web01 "$(addr hr-db01 6)" 7070'
check "after the rollback: hr-web02 -> hr-db02 tcp/7070 (IPv4) is denied" eval '! tcp_ok hr-web02 "$(addr hr-db02 4)" 7070'
bad_agent="" bad_ctl=""
for h in $CHG; do
	log_since "$LABDIR/logs/$h.log" "${OFF[$h]}" | grep -q 'ALERT rollback' || bad_agent+="$h "
	log_since "$ctl_log" "${OFF[ctl]}" | grep -q "$h: .*rolled back" || bad_ctl+="$h "
done
is "$bad_agent" "" "every changed host's agent log says 'ALERT rollback'"
is "$bad_ctl" "" "the controller log says 'HOST: ... rolled back' for every changed host"
diag "agent hr-web01: $(log_since "$LABDIR/logs/hr-web01.log" "${OFF[hr-web01]}" | grep 'ALERT rollback' | head -n 1)"
diag "controller: $(log_since "$ctl_log" "${OFF[ctl]}" | grep 'hr-web01: .*rolled back' | head -n 1)"

# the same, confirmed in time
rc=$(run_cli "$T_TMP/planR2" plan "$P12" -o "$T_TMP/planR2")
is "$rc" 2 "plan R2 (same change, after the rollback) exits 2"
for h in $CHG; do OFF[$h]=$(log_size "$LABDIR/logs/$h.log"); done
OFF[ctl]=$(log_size "$ctl_log")
t_apply=$(now)
rc=$(run_cli "$T_TMP/applyR2" apply "$T_TMP/planR2" --confirm manual --confirm-timeout 3 --reason "test_policy: confirmed")
rc2=$(run_cli "$T_TMP/confirm" confirm)
t_conf=$(elapsed "$t_apply")
is "$rc2" 0 "bulkhead confirm exits 0 (${t_conf} s after apply)"
[[ $rc2 == 0 ]] || { diag_file "$T_TMP/confirm.out"; diag_file "$T_TMP/confirm.err"; }
diag "confirm: $(head -n 1 "$T_TMP/confirm.out")"
# shellcheck disable=SC2086
want6=$(awk '$1 == "~" { h = $2; sub(/:$/, "", h); print h, $NF }' "$T_TMP/planR2.out" | sort)
# wait until the 3 s timer is well over (a fixed wait: this proves something does NOT happen)
sleep "$(awk -v a="$t_apply" -v b="$(now)" 'BEGIN { x = a + 4.5 - b; printf "%.2f", (x > 0 ? x : 0) }')"
is "$(hashes_now | awk '{print $1, substr($2, 1, 12)}')" "$want6" "confirmed: $(elapsed "$t_apply") s after apply the 4 hosts keep plan R2's policy_hash"
check "confirmed: hr-web01 -> hr-db01 tcp/7070 (IPv6) stays allowed" tcp_ok hr-web01 "$(addr hr-db01 6)" 7070
bad=""
for h in $CHG; do log_since "$LABDIR/logs/$h.log" "${OFF[$h]}" | grep -q 'ALERT rollback' && bad+="$h "; done
log_since "$ctl_log" "${OFF[ctl]}" | grep -q 'rolled back' && bad+="ctl "
is "$bad" "" "confirmed: no rollback in any agent's or the controller's log"
rc=$(run_cli "$T_TMP/plan-p12" plan "$P12")
is "$rc" 0 "plan of the changed copy now exits 0"
if cmp_table hr-db01 "$P12"; then
	tap_ok "hr-db01: nft list table inet bulkhead == render hr-db01 of the changed copy"
else
	tap_not_ok "hr-db01: nft list table inet bulkhead == render hr-db01 of the changed copy"
	diag_file "$T_TMP/nft-hr-db01.diff" 30
fi

# ==== 7. isolate --all while segmented, release --all ==========================
phase "7. isolate --all / release --all"
SEL_A=()
for f in "tcp v5-web01 v5-app01 4 9000" "tcp v5-web02 v5-app02 6 9000" "udp hr-app02 ns01 4 53" \
	"icmp mon01 v5-web03 6 -" "tcp backup01 v5-db01 6 9102"; do
	i=$(fi_by "$f") && SEL_A+=("$i")
done
SEL_D=()
for f in "tcp v5-web01 v5-db01 4 5432" "tcp hr-app01 mn-api01 4 8200" "udp v5-app01 sw-r01 4 161"; do
	i=$(fi_by "$f") && SEL_D+=("$i")
done
is "${#SEL_A[@]} ${#SEL_D[@]}" "5 3" "7.: 5 allowed and 3 denied flows of the matrix picked"
hashes >"$T_TMP/h7.before"
rc=$(run_cli "$T_TMP/iso" isolate --all --reason "test_policy: drill while segmented")
is "$rc" 0 "isolate --all exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/iso.out"; diag_file "$T_TMP/iso.err"; }
is "$(status_json | jq -r '"\(.hosts | length): " + ([.hosts[] | select(.mode != "isolated") | .name] | join(" "))')" "$N: " \
	"status: all $N hosts isolated"
flows_run "$T_TMP/m7a" "${SEL_A[@]}"
for i in "${SEL_A[@]}"; do
	# a flow that went through in the matrix (segmented) and now does not
	# shellcheck disable=SC2046
	is "$(verdict "$(cat "$T_TMP/m1/$i")") -> $(verdict "$(cat "$T_TMP/m7a/$i")")" "allowed -> denied" \
		"isolated: flow $((i + 1)) $(flow_text $(flow_words "$i" | cut -d' ' -f1-5)) went through when segmented, now cut"
done
rc=$(run_cli "$T_TMP/rel" release --all --reason "test_policy: drill over")
is "$rc" 0 "release --all exits 0"
[[ $rc == 0 ]] || { diag_file "$T_TMP/rel.out"; diag_file "$T_TMP/rel.err"; }
is "$(status_json | jq -r '"\(.hosts | length): " + ([.hosts[] | select(.mode != "segmented") | .name] | join(" "))')" "$N: " \
	"status after release: all $N hosts segmented again"
hashes >"$T_TMP/h7.after"
is "$(diff "$T_TMP/h7.before" "$T_TMP/h7.after")" "" "status after release: every policy_hash as before the isolation"
flows_run "$T_TMP/m7b" "${SEL_A[@]}" "${SEL_D[@]}"
for i in "${SEL_A[@]}" "${SEL_D[@]}"; do
	read -r proto from to fam port exp <<<"$(flow_words "$i")"
	is "$(verdict "$(cat "$T_TMP/m7b/$i")")" "${EXPL[$i]}" "released: flow $((i + 1)) $(flow_text "$proto" "$from" "$to" "$fam" "$port") ${EXPL[$i]} again"
done
rc=$(run_cli "$T_TMP/plan-end" plan "$P12")
is "$rc" 0 "after release: plan of the changed copy still exits 0"

phase "done"
diag "total $(elapsed "$T_START") s"
tap_done
