#!/usr/bin/env bash
# Golden test of the example playbooks (policies/playbooks/*.yaml): each
# passes `bulkhead playbook check --strict`, and its
# `bulkhead playbook run --dry-run` output is compared with
# tests/playbook/golden/NAME.out. TAP output.
#
# usage: dry-run.sh [--regen] [BULKHEAD]
#   BULKHEAD  the CLI to test (default: $BULKHEAD, else build/controller/bulkhead)
#   --regen   rewrite the golden files from the current output, then test
#             (review the diff: it is every flow each stage opens)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
golden="$here/golden"
# Expiry is judged on a fixed day, so that the files do not change with the date.
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
# meson passes it relative to the build directory; the playbooks are named
# relative to the top, as an operator in a checkout names them
bulkhead=$(readlink -f "$bulkhead")
cd "$top" || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

books=()
for f in policies/playbooks/*.yaml; do
	[ -f "$f" ] && books+=("$f")
done
if [ ${#books[@]} = 0 ]; then
	echo "Bail out! no playbook in policies/playbooks/"
	exit 1
fi
echo "1..$((2 * ${#books[@]} + 1))"
n=0
fail=0

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}

not_ok() {
	n=$((n + 1))
	fail=$((fail + 1))
	echo "not ok $n - $*"
}

for f in "${books[@]}"; do
	b=$(basename "$f" .yaml)
	if "$bulkhead" playbook check --strict --today "$today" "$f" >"$tmp/check" 2>&1; then
		ok "playbook check --strict $f"
	else
		not_ok "playbook check --strict $f"
		sed 's/^/# /' "$tmp/check"
	fi
	if ! "$bulkhead" playbook run --dry-run --today "$today" "$f" >"$tmp/$b.out" \
		2>"$tmp/err" || [ -s "$tmp/err" ]; then
		not_ok "run --dry-run $f (exit status or stderr)"
		sed 's/^/# /' "$tmp/err"
		continue
	fi
	[ $regen = 1 ] && cp "$tmp/$b.out" "$golden/$b.out"
	if diff -u "$golden/$b.out" "$tmp/$b.out" >"$tmp/diff" 2>&1; then
		ok "run --dry-run $f matches golden/$b.out"
	else
		not_ok "run --dry-run $f matches golden/$b.out"
		head -n 60 "$tmp/diff" | sed 's/^/# /'
	fi
done

# A golden file without a playbook is a playbook that was removed but not its file.
stale=""
for g in "$golden"/*.out; do
	[ -e "$g" ] || continue
	b=$(basename "$g" .out)
	[ -f "policies/playbooks/$b.yaml" ] || stale="$stale $b"
done
if [ -z "$stale" ]; then
	ok "no golden file without a playbook"
else
	not_ok "no golden file without a playbook:$stale"
fi

[ $fail = 0 ]
