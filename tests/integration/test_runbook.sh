#!/usr/bin/env bash
# docs/runbook.md never goes stale: every ```sh runbook block of it runs, in
# order, on a lab of the drill's site (tests/drill/site.sh, 19 hosts), as an
# operator would type it (bulkhead on PATH, BULKHEAD_SOCKET set, POLICY and
# PLAYBOOK the drill's site and playbook). A block fails if any of its
# commands exits non-zero. The "sh runbook each-wave" block runs once for
# every wave with a gate, after the test has waited until that wave waits
# for approval. Then the outcome is checked: every host back, the run done,
# the timeline written.
export BH_LAB_PREFIX=bhRB$$
export BH_LAB_DIR=/run/bulkhead-lab/$BH_LAB_PREFIX
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
RUNBOOK=$BH_ROOT/docs/runbook.md

# blocks OUTDIR: each runbook block to OUTDIR/NN.KIND.sh (KIND: once or
# each-wave); prints how many
runbook_blocks() {
	awk -v d="$1" '
	/^```sh runbook( each-wave)?$/ { n++; kind = ($3 == "each-wave") ? "each-wave" : "once"
		f = sprintf("%s/%02d.%s.sh", d, n, kind); on = 1; printf "" > f; next }
	on && /^```$/ { on = 0; close(f); next }
	on { print >> f }
	END { print n + 0 }' "$RUNBOOK"
}

if [[ $(id -u) == 0 ]]; then
	command -v jq >/dev/null || bail "missing tool: jq"
fi
# The site lives beside the lab; lib.sh's cleanup (trapped by name) removes
# it too.
SITE_TMP=$(mktemp -d /tmp/bh-runbook-site.XXXXXX)
trap 'rm -rf -- "$SITE_TMP"' EXIT
eval "$(declare -f _t_cleanup | sed '1s/^_t_cleanup/_t_cleanup_lab/')"
_t_cleanup() {
	local rc=$?
	rm -rf -- "$SITE_TMP"
	(exit $rc)
	_t_cleanup_lab
}
"$BH_ROOT/tests/drill/site.sh" "$SITE_TMP/site" || bail "tests/drill/site.sh failed"
BH_LAB_WAIT=60 lab_begin_site "$SITE_TMP/site"

SOCK=$LABDIR/ctl.sock
cli() { timeout 20 "$BULKHEAD" -s "$SOCK" "$@"; }
BLOCKS=$T_TMP/blocks
mkdir -p "$BLOCKS"
n=$(runbook_blocks "$BLOCKS")
check "docs/runbook.md has runbook blocks ($n)" test "$n" -ge 5
each=("$BLOCKS"/*.each-wave.sh)
check "exactly one each-wave block" test "${#each[@]}" = 1 -a -f "${each[0]}"

# The operator's shell: the built CLI first on PATH, the lab's socket.
mkdir -p "$T_TMP/bin" "$T_TMP/work"
ln -sf "$BULKHEAD" "$T_TMP/bin/bulkhead"
export PATH=$T_TMP/bin:$PATH BULKHEAD_SOCKET=$SOCK
export POLICY=$SITE_TMP/site PLAYBOOK=$SITE_TMP/site/playbooks/restore-drill.yaml
ENVF=$T_TMP/env.sh
: >"$ENVF"

# run_block FILE LABEL: the block in a shell that stops at the first failing
# command; the variables it exports carry over to the next block
run_block() {
	local rc=0
	# shellcheck disable=SC2016 # expanded by the inner shell
	(cd "$T_TMP/work" && timeout 120 bash -e -o pipefail -c '. "$1"; . "$2"; export -p > "$1"' \
		_ "$ENVF" "$1") >"$T_TMP/block.out" 2>&1 || rc=$?
	if ((rc == 0)); then
		tap_ok "$2"
	else
		tap_not_ok "$2 (exit $rc)"
		diag "$(sed 's/^/  | /' "$1")" "output:"
		diag_file "$T_TMP/block.out" 30
	fi
	return $rc
}

run_state() { cli playbook status --json 2>/dev/null | jq -r '.state // empty'; }
waiting_stage() { cli playbook status --json 2>/dev/null | jq -r '[.stages[] | select(.state == "awaiting-approval") | .name][0] // empty'; }
stage_over() { [[ $(cli playbook status --json | jq -r --arg s "$1" '.stages[] | select(.name == $s) | .state') =~ ^(done|failed)$ ]]; }
# a wave waits for its gate, or the run is over
run_settled() { [[ -n $(waiting_stage) || $(run_state) != running ]]; }

for f in "$BLOCKS"/*.sh; do
	b=$(basename "$f" .sh)
	first=$(grep -m1 -v '^$' "$f")
	if [[ $b == *.once ]]; then
		run_block "$f" "runbook block ${b%%.*}: $first" || break
		continue
	fi
	for ((w = 1; w <= 10; w++)); do
		wait_for 60 run_settled || { tap_not_ok "the run did not reach a gate or its end within 60 s"; break; }
		s=$(waiting_stage)
		[[ -n $s ]] || break
		run_block "$f" "runbook block ${b%%.*} (each wave), for $s" || break
		wait_for 60 stage_over "$s"
	done
	is "$(run_state)" "done" "after the each-wave block: the run is done"
done

st=$(cli status --json)
is "$(jq '[.hosts[] | select(.mode == "segmented")] | length' <<<"$st")" "${#HOSTS[@]}" \
	"every host is back (segmented)"
is "$(cli playbook status --json | jq -r '[.stages[] | .state] | unique | join(" ")')" "done" \
	"every wave is done"
check "the timeline file was written and names the isolation" \
	grep -q 'isolate: .* hosts confirmed' "$T_TMP/work/incident-timeline.md"
check "the timeline has every wave" \
	test "$(grep -c 'playbook stage done' "$T_TMP/work/incident-timeline.md")" = 5
tap_done
