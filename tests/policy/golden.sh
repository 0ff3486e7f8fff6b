#!/usr/bin/env bash
# Golden test of the example site (policies/): every host's `bulkhead render`
# is compared with tests/policy/golden/HOST.nft, and every golden file must
# pass `nft -c -f` inside a throwaway network namespace. TAP output.
#
# usage: golden.sh [--regen] [BULKHEAD]
#   BULKHEAD  the CLI to test (default: $BULKHEAD, else build/controller/bulkhead)
#   --regen   rewrite the golden files from the current renders, then test
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
site="$top/policies"
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
# meson passes it relative to the build directory; cases run elsewhere
bulkhead=$(readlink -f "$bulkhead")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! hosts=$("$bulkhead" render --list --today "$today" "$site" 2>"$tmp/err"); then
	echo "Bail out! the example site does not load: $(head -n 3 "$tmp/err")"
	exit 1
fi
nhosts=$(printf '%s\n' "$hosts" | wc -l)

# nft -c builds the whole transaction in the kernel and aborts it: it needs
# root and a namespace of its own, never the host's ruleset.
nft_ok=0
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null && command -v unshare >/dev/null &&
	unshare -n true 2>/dev/null; then
	nft_ok=1
fi

echo "1..$((2 * nhosts + 2))"
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

# The site itself is clean: no errors, no warnings.
if "$bulkhead" check --strict --today "$today" "$site" >"$tmp/check" 2>&1; then
	ok "bulkhead check --strict policies/"
else
	not_ok "bulkhead check --strict policies/"
	sed 's/^/# /' "$tmp/check"
fi

[ $regen = 1 ] && rm -f "$golden"/*.nft
for h in $hosts; do
	if ! "$bulkhead" render --today "$today" "$h" "$site" >"$tmp/$h.nft" 2>"$tmp/err"; then
		not_ok "render $h"
		sed 's/^/# /' "$tmp/err"
		continue
	fi
	[ $regen = 1 ] && cp "$tmp/$h.nft" "$golden/$h.nft"
	if diff -u "$golden/$h.nft" "$tmp/$h.nft" >"$tmp/diff" 2>&1; then
		ok "render $h matches golden/$h.nft"
	else
		not_ok "render $h matches golden/$h.nft"
		head -n 40 "$tmp/diff" | sed 's/^/# /'
	fi
done

# A golden file without a host is a host that was removed but not its file.
stale=""
for f in "$golden"/*.nft; do
	[ -e "$f" ] || continue
	b=$(basename "$f" .nft)
	printf '%s\n' "$hosts" | grep -qxF "$b" || stale="$stale $b"
done
if [ -z "$stale" ]; then
	ok "no golden file without a host"
else
	not_ok "no golden file without a host:$stale"
fi

for h in $hosts; do
	if [ $nft_ok = 0 ]; then
		ok "nft -c -f golden/$h.nft # SKIP needs root, nft and unshare"
		continue
	fi
	if unshare -n -- nft -c -f "$golden/$h.nft" >"$tmp/nft" 2>&1; then
		ok "nft -c -f golden/$h.nft"
	else
		not_ok "nft -c -f golden/$h.nft"
		head -n 20 "$tmp/nft" | sed 's/^/# /'
	fi
done

[ $fail = 0 ]
