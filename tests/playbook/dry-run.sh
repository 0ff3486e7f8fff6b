#!/usr/bin/env bash
# Golden test of the example playbooks (policies/playbooks/*.yaml): each
# passes `bulkhead playbook check --strict`, and its
# `bulkhead playbook run --dry-run` output is compared with
# tests/playbook/golden/NAME.out. TAP output.
#
# usage: dry-run.sh [--regen] [BULKHEAD]
#   BULKHEAD  the CLI to test (default: $BULKHEAD, else build/cli/bulkhead)
#   --regen   rewrite the golden files from the current output, then test
#             (review the diff: it is every flow each stage opens)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/golden.sh
. "$here/../lib/golden.sh"
golden="$here/golden"

golden_init "$@"
# the playbooks are named relative to the top, as an operator in a
# checkout names them
cd "$top" || exit 1

books=()
for f in policies/playbooks/*.yaml; do
	[ -f "$f" ] && books+=("$f")
done
if [ ${#books[@]} = 0 ]; then
	echo "Bail out! no playbook in policies/playbooks/"
	exit 1
fi
echo "1..$((2 * ${#books[@]} + 1))"

for f in "${books[@]}"; do
	b=$(basename "$f" .yaml)
	golden_run "playbook check --strict $f" "$bulkhead" playbook check --strict --today "$today" "$f"
	if ! "$bulkhead" playbook run --dry-run --today "$today" "$f" >"$tmp/$b.out" \
		2>"$tmp/err" || [ -s "$tmp/err" ]; then
		not_ok "run --dry-run $f (exit status or stderr)"
		sed 's/^/# /' "$tmp/err"
		continue
	fi
	golden_compare "run --dry-run $f matches golden/$b.out" "$golden/$b.out" "$tmp/$b.out" 60
done

# A golden file without a playbook is a playbook that was removed but not its file.
book_known() { [ -f "policies/playbooks/$1.yaml" ]; }
golden_stale_check "no golden file without a playbook" "$golden" out book_known

[ $fail = 0 ]
