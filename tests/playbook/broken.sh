#!/usr/bin/env bash
# Broken playbooks must be refused with exactly the expected messages, and
# valid ones with warnings accepted with exactly the expected text. TAP.
#
# Each case is a directory under broken/ (must exit 1) or warnings/ (must
# exit 0) holding the files it overlays onto base/ (a small site with its
# restricted/ policies and a valid playbook.yaml), an `expected` file with
# the exact output of `bulkhead playbook check`, and optionally a `remove`
# file naming base files to delete.
#
# usage: broken.sh [--regen] [BULKHEAD]
#   BULKHEAD  the CLI to test (default: $BULKHEAD, else build/cli/bulkhead)
#   --regen   rewrite every `expected` from the current output (review the diff!)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/golden.sh
. "$here/../lib/golden.sh"
broken_init "$@"

# Each case: the base with its restricted/ policies, overlaid with the case.
case_copy() {
	cp -R "$here/base/." "$2/"
	cp -R "$1/." "$2/"
	rm -f "$2/expected" "$2/remove"
}

broken_base_check "base is a valid playbook" "$here/base" \
	"$bulkhead" playbook check --strict --today "$today" --policy . playbook.yaml
broken_cases_run case_copy "$bulkhead" playbook check --today "$today" --policy . playbook.yaml
[ $fail = 0 ]
