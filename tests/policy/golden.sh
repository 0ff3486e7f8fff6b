#!/usr/bin/env bash
# Golden test of the example site (policies/): every host's `bulkhead render`
# is compared with tests/policy/golden/HOST.nft, and every golden file must
# pass `nft -c -f` inside a throwaway network namespace. TAP output.
#
# usage: golden.sh [--regen] [BULKHEAD]
#   BULKHEAD  the CLI to test (default: $BULKHEAD, else build/cli/bulkhead)
#   --regen   rewrite the golden files from the current renders, then test
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/golden.sh
. "$here/../lib/golden.sh"
site="$top/policies"
golden="$here/golden"

golden_init "$@"

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

# The site itself is clean: no errors, no warnings.
golden_run "bulkhead check --strict policies/" "$bulkhead" check --strict --today "$today" "$site"

[ $regen = 1 ] && rm -f "$golden"/*.nft
for h in $hosts; do
	if ! "$bulkhead" render --today "$today" "$h" "$site" >"$tmp/$h.nft" 2>"$tmp/err"; then
		not_ok "render $h"
		sed 's/^/# /' "$tmp/err"
		continue
	fi
	golden_compare "render $h matches golden/$h.nft" "$golden/$h.nft" "$tmp/$h.nft" 40
done

# A golden file without a host is a host that was removed but not its file.
host_known() { printf '%s\n' "$hosts" | grep -qxF "$1"; }
golden_stale_check "no golden file without a host" "$golden" nft host_known

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
