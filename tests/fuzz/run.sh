#!/usr/bin/env bash
# Builds the fuzz targets (clang, libFuzzer, ASan and UBSan) and runs each
# for SECONDS (default 30) from its seed corpus, one after another. Prints
# per target the runs, the corpus it ended with and the result; exits 1 if
# any target crashed, leaked or hung. A crashing input is kept as
# BUILD/artifacts/TARGET-crash-...; reproduce with BUILD/tests/fuzz/TARGET FILE.
#
# usage: run.sh [SECONDS] [TARGET...]   (TARGET: msg, control, policy, ...)
#   FUZZ_BUILD  the build directory (default: build-fuzz in the source root)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-30}
shift $(($# > 0 ? 1 : 0))
build=${FUZZ_BUILD:-$root/build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(msg control policy playbook conf profile state)

case $secs in
'' | *[!0-9]*)
	echo "usage: run.sh [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac

# clang, and libFuzzer from its compiler-rt (libclang-rt-dev)
libfuzzer=libclang_rt.fuzzer-$(uname -m).a
if ! command -v clang >/dev/null || [ ! -f "$(clang -print-file-name="$libfuzzer" 2>/dev/null)" ]; then
	"$root/scripts/install-deps" || exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Dfuzz=enabled -Db_sanitize=none -Dtests=disabled \
		>"$build.setup.log" 2>&1 || {
		cat "$build.setup.log" >&2
		exit 1
	}
fi
ninja -C "$build" >"$build/fuzz-build.log" 2>&1 || {
	tail -40 "$build/fuzz-build.log" >&2
	exit 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts"
pass=0
fail=0
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz_$t
	work=$build/corpus/$t
	log=$build/fuzz_$t.log
	dict=$here/$t.dict
	# The control socket's frames are the same kinds as the agents'.
	[ "$t" = control ] && dict=$here/msg.dict
	opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		-close_fd_mask=3 -artifact_prefix="$build/artifacts/fuzz_$t-")
	[ -f "$dict" ] && opts+=(-dict="$dict")
	if [ ! -x "$bin" ]; then
		echo "fuzz_$t: no such target"
		fail=$((fail + 1))
		continue
	fi
	mkdir -p "$work"
	"$bin" "${opts[@]}" "$work" "$here/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | sed 's|corp: \(.*\)/|\1 units, |')
	if [ $rc = 0 ]; then
		result=ok
		pass=$((pass + 1))
	else
		result="FAILED (exit $rc): $(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log")"
		fail=$((fail + 1))
	fi
	printf 'fuzz_%s: %s runs in %ss, corpus %s, %s\n' "$t" "${runs:-?}" "$secs" \
		"${corp:-?}" "$result"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail = 0 ]
