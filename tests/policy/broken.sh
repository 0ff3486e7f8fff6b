#!/usr/bin/env bash
# Broken policies must be refused with exactly the expected messages, and
# valid ones with warnings accepted with exactly the expected text. TAP.
#
# Each case is a directory under broken/ (must exit 1) or warnings/ (must
# exit 0) holding the files it overlays onto broken/base/, an `expected`
# file with the exact output of `bulkhead check`, and optionally a `remove`
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

# Each case: the base's files, overlaid with the case's own.
case_copy() {
	local f
	cp "$here/broken/base/"*.yaml "$2/"
	for f in "$1"/*; do
		case "$(basename "$f")" in
		expected | remove) ;;
		*) cp "$f" "$2/" ;;
		esac
	done
}

broken_base_check "base is a valid policy" "$here/broken/base" \
	"$bulkhead" check --strict --today "$today" .
broken_cases_run case_copy "$bulkhead" check --today "$today" .
[ $fail = 0 ]
