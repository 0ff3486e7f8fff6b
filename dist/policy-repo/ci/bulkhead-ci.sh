#!/bin/sh
# The policy repository's CI job, for any CI system: check the policy and
# every playbook (every problem as file:line:col), then, where the job can
# reach the controller, write the plan, print it for review, and print its
# SHA-256: the reviewer approves that hash, and `bulkhead apply FILE
# --reviewed HASH` applies that file and refuses any other.
#
# Environment: BULKHEAD (the CLI, default bulkhead), BULKHEAD_SITE (default
# site), BULKHEAD_OUT (where plan.bin and plan.txt go, default bulkhead-out),
# BULKHEAD_SOCKET (the controller's control socket), BULKHEAD_REQUIRE_PLAN=1
# (fail when the controller cannot be reached, instead of skipping the plan).
# Exit status: 0 checks passed (and the plan, if made, was written), 1 the
# policy or a playbook has errors, or the plan could not be made.
set -u
BULKHEAD=${BULKHEAD:-bulkhead}
site=${BULKHEAD_SITE:-site}
out=${BULKHEAD_OUT:-bulkhead-out}
command -v "$BULKHEAD" >/dev/null 2>&1 || { echo "ci: $BULKHEAD not found: install bulkhead on the runner, or set BULKHEAD" >&2; exit 1; }
echo "== bulkhead check $site"
"$BULKHEAD" check "$site" || { echo "ci: the policy has errors (above); fix them in this branch" >&2; exit 1; }
for pb in "$site"/playbooks/*.yaml; do
	[ -f "$pb" ] || continue
	echo "== bulkhead playbook check $pb"
	"$BULKHEAD" playbook check --policy "$site" "$pb" || { echo "ci: $pb has errors (above)" >&2; exit 1; }
done
if ! "$BULKHEAD" status >/dev/null 2>&1; then
	if [ "${BULKHEAD_REQUIRE_PLAN:-0}" = 1 ]; then
		echo "ci: the controller cannot be reached (BULKHEAD_SOCKET=${BULKHEAD_SOCKET:-unset}); run this job on a runner that can reach it" >&2
		exit 1
	fi
	echo "== no plan: the controller cannot be reached from this runner (set BULKHEAD_SOCKET, or BULKHEAD_REQUIRE_PLAN=1 to fail here)"
	exit 0
fi
mkdir -p "$out"
echo "== bulkhead plan $site -o $out/plan.bin"
"$BULKHEAD" plan "$site" -o "$out/plan.bin" >"$out/plan.txt" 2>&1
rc=$?
cat "$out/plan.txt"
case $rc in
0 | 2) ;;
*) echo "ci: bulkhead plan failed (exit $rc, above)" >&2; exit 1 ;;
esac
sha256sum "$out/plan.bin" | awk '{print $1}' >"$out/plan.sha256"
echo "== plan for review: $out/plan.bin, sha256 $(cat "$out/plan.sha256")"
exit 0
