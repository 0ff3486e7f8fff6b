# The helpers of the golden tests (tests/policy/*.sh, tests/playbook/*.sh):
# the CLI under test, a scratch directory, TAP lines and golden comparison.
# Source it, then call golden_init "$@" (or broken_init "$@").
# shellcheck shell=bash disable=SC2034,SC2154 # shares variables with its tests

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Expiry is judged on a fixed day, so that the outputs do not change with the date.
today=2025-01-01

# golden_init [--regen] [BULKHEAD]: sets regen, bulkhead (absolute), tmp and
# the TAP counters n and fail.
golden_init() {
	regen=0
	if [ "${1:-}" = "--regen" ]; then
		regen=1
		shift
	fi
	bulkhead=${1:-${BULKHEAD:-$top/build/cli/bulkhead}}
	if [ ! -x "$bulkhead" ]; then
		echo "Bail out! no bulkhead CLI at $bulkhead"
		exit 1
	fi
	# meson passes it relative to the build directory; cases run elsewhere
	bulkhead=$(readlink -f "$bulkhead")
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	n=0
	fail=0
}

# tap_result STATUS DESCRIPTION...: the next TAP line, "ok" for status 0
tap_result() {
	local status=$1
	shift
	n=$((n + 1))
	if [ "$status" = 0 ]; then
		echo "ok $n - $*"
	else
		fail=$((fail + 1))
		echo "not ok $n - $*"
	fi
}
ok() { tap_result 0 "$@"; }
not_ok() { tap_result 1 "$@"; }

# golden_run DESCRIPTION CMD...: ok if CMD succeeds, else its output as
# TAP comments
golden_run() {
	if ! "${@:2}" >"$tmp/out" 2>&1; then
		not_ok "$1"
		sed 's/^/# /' "$tmp/out"
		return 1
	fi
	ok "$1"
}

# golden_compare DESCRIPTION EXPECTED ACTUAL LINES: ACTUAL must equal the
# golden file EXPECTED (which --regen rewrites first); a difference shows
# its first LINES lines
golden_compare() {
	[ "$regen" = 1 ] && cp "$3" "$2"
	if diff -u "$2" "$3" >"$tmp/diff" 2>&1; then
		ok "$1"
	else
		not_ok "$1"
		head -n "$4" "$tmp/diff" | sed 's/^/# /'
	fi
}

# golden_stale_check DESCRIPTION DIR EXT KNOWN: every DIR/*.EXT must be
# named for something the function KNOWN NAME accepts
golden_stale_check() {
	local f b stale=""
	for f in "$2"/*."$3"; do
		[ -e "$f" ] || continue
		b=$(basename "$f" ".$3")
		"$4" "$b" || stale="$stale $b"
	done
	if [ -z "$stale" ]; then
		ok "$1"
	else
		not_ok "$1:$stale"
	fi
}

# broken_init [--regen] [BULKHEAD]: golden_init, then the cases (the
# directories under broken/ and warnings/ of $here but base/; those without
# `expected` only with --regen) and the plan: the base, then each case
broken_init() {
	local d
	golden_init "$@"
	cases=()
	for d in "$here"/broken/*/ "$here"/warnings/*/; do
		if [ ! -d "$d" ] || [ "$(basename "$d")" = base ]; then
			continue
		fi
		[ -f "$d/expected" ] || [ "$regen" = 1 ] || continue
		cases+=("${d%/}")
	done
	echo "1..$((${#cases[@]} + 1))"
}

# broken_base_check DESCRIPTION DIR CMD...: CMD must pass in DIR, or every
# case tests the wrong thing
broken_base_check() {
	local out
	if out=$(cd "$2" && "${@:3}" 2>&1); then
		ok "$1"
	else
		not_ok "$1"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
}

# broken_cases_run COPY CMD...: each case is laid out in a directory of its
# own by COPY CASE DIR, less the files its `remove` names, and CMD is run
# there. It must exit 1 under broken/ and 0 under warnings/, and print
# exactly `expected` (which --regen rewrites).
broken_cases_run() {
	local copy=$1 c f kind name want work out rc
	shift
	for c in "${cases[@]}"; do
		kind=$(basename "$(dirname "$c")")
		name="$kind/$(basename "$c")"
		want=1
		[ "$kind" = warnings ] && want=0
		work="$tmp/$((n + 1))"
		mkdir "$work"
		"$copy" "$c" "$work"
		if [ -f "$c/remove" ]; then
			while read -r f; do rm -f "${work:?}/$f"; done <"$c/remove"
		fi
		out=$(cd "$work" && "$@" 2>&1)
		rc=$?
		[ "$regen" = 1 ] && printf '%s\n' "$out" >"$c/expected"
		if [ $rc = $want ] && [ "$out" = "$(cat "$c/expected")" ]; then
			ok "$name"
		else
			not_ok "$name (exit $rc, want $want)"
			diff -u "$c/expected" <(printf '%s\n' "$out") | sed 's/^/# /'
		fi
	done
}
