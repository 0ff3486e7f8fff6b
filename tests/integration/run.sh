#!/usr/bin/env bash
# Run the integration tests (default: every test_*.sh here), one after the
# other, each bounded by BH_TEST_TIMEOUT seconds (default 600). Prints each
# test's TAP, then one line per test and a closing "N passed, N failed" line
# (counting test files). Exit status 0 only if every test passed.
#
#   sudo tests/integration/run.sh [test_isolate.sh ...]
# Environment: BH_BUILD (default: build/ in the repo), BH_TEST_TIMEOUT.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=${BH_TEST_TIMEOUT:-600}
if (($# == 0)); then
	set -- "$here"/test_*.sh
fi

passed=0 failed=0
summary=()
for t in "$@"; do
	[[ -f $t ]] || t=$here/$t
	name=$(basename "$t" .sh)
	out=$(mktemp "/tmp/bh-run-$name.XXXXXX")
	echo "# ---- $name"
	start=$SECONDS
	timeout -k 20 "$limit" bash "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	oks=$(grep -c '^ok ' "$out")
	nots=$(grep -c '^not ok ' "$out")
	plan=$(sed -n 's/^1\.\.\([0-9]\+\).*/\1/p' "$out" | tail -n 1)
	verdict=PASS
	if ((rc != 0 || nots > 0)) || [[ -z $plan ]] || ((plan != oks + nots)); then
		verdict=FAIL
	fi
	((rc == 124)) && verdict="FAIL (timed out after ${limit}s)"
	if [[ $verdict == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	summary+=("$(printf '%-24s %s  %d ok, %d not ok, %ds' "$name" "$verdict" "$oks" "$nots" $((SECONDS - start)))")
	rm -f "$out"
done

echo "# ---- summary"
printf '# %s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
