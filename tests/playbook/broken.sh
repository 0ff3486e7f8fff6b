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
#   BULKHEAD  the CLI to test (default: $BULKHEAD, else build/controller/bulkhead)
#   --regen   rewrite every `expected` from the current output (review the diff!)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
today=2025-01-01

regen=0
if [ "${1:-}" = "--regen" ]; then
	regen=1
	shift
fi
bulkhead=${1:-${BULKHEAD:-$top/build/controller/bulkhead}}
if [ ! -x "$bulkhead" ]; then
	echo "Bail out! no bulkhead CLI at $bulkhead"
	exit 1
fi
# meson passes it relative to the build directory; cases run elsewhere
bulkhead=$(readlink -f "$bulkhead")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cases=()
for d in "$here"/broken/*/ "$here"/warnings/*/; do
	[ -d "$d" ] || continue
	[ -f "$d/expected" ] || [ $regen = 1 ] || continue
	cases+=("${d%/}")
done
echo "1..$((${#cases[@]} + 1))"
n=0
fail=0

# The base itself must be clean, or every case tests the wrong thing.
n=$((n + 1))
if out=$(cd "$here/base" && "$bulkhead" playbook check --strict --today "$today" --policy . \
	playbook.yaml 2>&1); then
	echo "ok $n - base is a valid playbook"
else
	fail=$((fail + 1))
	echo "not ok $n - base is a valid playbook"
	printf '%s\n' "$out" | sed 's/^/# /'
fi

for c in "${cases[@]}"; do
	n=$((n + 1))
	kind=$(basename "$(dirname "$c")")
	name="$kind/$(basename "$c")"
	want=1
	[ "$kind" = warnings ] && want=0
	work="$tmp/$n"
	mkdir "$work"
	cp -R "$here/base/." "$work/"
	cp -R "$c/." "$work/"
	rm -f "$work/expected" "$work/remove"
	if [ -f "$c/remove" ]; then
		while read -r f; do rm -f "${work:?}/$f"; done <"$c/remove"
	fi
	out=$(cd "$work" && "$bulkhead" playbook check --today "$today" --policy . playbook.yaml 2>&1)
	rc=$?
	[ $regen = 1 ] && printf '%s\n' "$out" >"$c/expected"
	if [ $rc = $want ] && [ "$out" = "$(cat "$c/expected")" ]; then
		echo "ok $n - $name"
	else
		fail=$((fail + 1))
		echo "not ok $n - $name (exit $rc, want $want)"
		diff -u "$c/expected" <(printf '%s\n' "$out") | sed 's/^/# /'
	fi
done
[ $fail = 0 ]
