#!/usr/bin/env bash
# Parsers under abuse: a nesting 100,000 levels deep, "billion laughs"
# aliases, a huge number, invalid UTF-8 and a name of 1,000,000 bytes, each
# in a policy, a playbook, both daemons' configs and a hardware profile, are
# refused with FILE:LINE:COL and a message that names the problem, within a
# time limit (timeout) and a memory limit (prlimit --as, or with the
# sanitizers, which reserve address space, the peak resident size). The
# abusive files are made here, in a temporary directory. TAP.
#
# usage: abuse.sh [BULKHEAD]   (bulkheadd and bulkhead-agent are found
# beside it, in the build tree)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bulkhead=$(readlink -f -- "${1:-${BULKHEAD:-$top/build/cli/bulkhead}}")
build=$(cd "$(dirname "$bulkhead")/.." && pwd)
bulkheadd=$build/controller/bulkheadd
agent=$build/agents/bulkhead-agent
TIME_S=20
MEM_MB=512 # address space, without the sanitizers
RSS_MB=200 # peak resident size, with them
today=2026-01-01

tmp=$(mktemp -d /tmp/bh-abuse.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }

for b in "$bulkhead" "$bulkheadd" "$agent"; do
	[[ -x $b ]] || { echo "Bail out! not built: $b"; exit 1; }
done
# A sanitizer build cannot start with its address space limited.
sanitized=0
(prlimit --as=$((MEM_MB * 1024 * 1024)) -- "$bulkhead" --version) >/dev/null 2>&1 || sanitized=1
[[ -x /usr/bin/time ]] || { echo "Bail out! /usr/bin/time is needed (apt-get install time)"; exit 1; }

# ---- the abusive values, each usable where a YAML value goes ----
abuse_value() { # KIND -> the value on stdout
	case $1 in
	deep) awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]" }' ;;
	laughs)
		# ten levels of ten aliases each: 10^10 nodes to whoever expands them
		awk 'BEGIN {
			printf "[&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"
			for (i = 1; i < 10; i++) {
				printf ", &l%d [", i
				for (j = 0; j < 10; j++) printf "%s*l%d", j ? ", " : "", i - 1
				printf "]"
			}
			printf "]" }' ;;
	number) printf '%s' 999999999999999999999999999999999999999999999999999999999999 ;;
	utf8) printf 'db\xff\xfe\xc3\x28x' ;;
	name) awk 'BEGIN { for (i = 0; i < 100000; i++) printf "aaaaaaaaaa" }' ;;
	esac
}

# put SRC REGEX PREFIX SUFFIX VALUEFILE: SRC with the line matching REGEX
# replaced by PREFIX VALUE SUFFIX (the value read from a file: a megabyte
# does not pass through the environment); with REGEX not found, appended
put() {
	awk -v re="$2" -v pre="$3" -v suf="$4" -v vf="$5" '
		BEGIN { getline v <vf }
		$0 ~ re && !done { print pre v suf; done = 1; next }
		{ print }
		END { if (!done) print pre v suf }' "$1"
}

# The message each abuse must get (a grep -E pattern), after FILE:LINE:COL:
declare -A WANT=(
	[deep]='nested more than 64 levels deep'
	[laughs]='YAML aliases are not accepted'
	[utf8]='UTF-8'
	[name]='a value of 1000000 bytes, longer than the 65536 accepted'
)

# ---- each file kind: make the abused file in $1, set FILE (the name its
# errors carry) and CMD ----
policy_make() { # DIR KIND
	local d=$1/policy v
	mkdir -p "$d"
	cp "$here/broken/base/"*.yaml "$d/"
	abuse_value "$2" >"$1/value"
	case $2 in
	number) put "$here/broken/base/services.yaml" '^  https:' '  https: [tcp/' ']' "$1/value" \
		>"$d/services.yaml"
		FILE=services.yaml ;;
	*) put "$here/broken/base/groups.yaml" '^    hosts: \[db01\]' '    hosts: [' ']' "$1/value" \
		>"$d/groups.yaml"
		FILE=groups.yaml ;;
	esac
	CMD=(env -C "$d" "$bulkhead" check --today "$today" .)
}

playbook_make() {
	local d=$1/playbook v
	mkdir -p "$d"
	cp -r "$top/tests/playbook/base/"* "$d/"
	abuse_value "$2" >"$1/value"
	case $2 in
	number) put "$top/tests/playbook/base/playbook.yaml" '^    soak: 1s' '    soak: ' s \
		"$1/value" >"$d/playbook.yaml" ;;
	*) put "$top/tests/playbook/base/playbook.yaml" '^    hosts: \[mgmt, switches\]' \
		'    hosts: [' ']' "$1/value" >"$d/playbook.yaml" ;;
	esac
	FILE=playbook.yaml
	CMD=(env -C "$d" "$bulkhead" playbook check --today "$today" --policy . playbook.yaml)
}

ctl_make() {
	local d=$1/ctl v port=7443 group=bulkhead inv=inventory.yaml
	mkdir -p "$d"
	abuse_value "$2" >"$1/value"
	v=$(cat "$1/value")
	case $2 in
	number) port=$v ;;
	deep | laughs) inv=$v ;;
	*) group=$v ;;
	esac
	{
		printf 'listen: "::"\nport: %s\nca: ca.crt\ncert: c.crt\nkey: c.key\n' "$port"
		printf 'state_dir: /nonexistent\ncontrol_group: %s\ninventory: %s\n' "$group" "$inv"
	} >"$d/bulkheadd.yaml"
	FILE=bulkheadd.yaml
	CMD=(env -C "$d" "$bulkheadd" -n -f bulkheadd.yaml)
}

agent_make() {
	local d=$1/agent v hb=1000 name=h01
	mkdir -p "$d"
	abuse_value "$2" >"$1/value"
	v=$(cat "$1/value")
	case $2 in
	number) hb=$v ;;
	*) name=$v ;;
	esac
	{
		printf 'controllers: [198.18.0.1]\nname: %s\nca: ca.crt\ncert: c.crt\nkey: c.key\n' "$name"
		printf 'state_dir: /nonexistent\nheartbeat_ms: %s\nprofile_dir: %s\n' "$hb" "$top/hw-profiles"
	} >"$d/agent.yaml"
	FILE=agent.yaml
	CMD=(env -C "$d" "$agent" -n -f agent.yaml)
}

profile_make() {
	local d=$1/profile v
	mkdir -p "$d/hw"
	abuse_value "$2" >"$1/value"
	case $2 in
	number) put "$top/hw-profiles/linux-server.yaml" '^netdev_ingress:' 'netdev_ingress: ' '' \
		"$1/value" >"$d/hw/linux-server.yaml" ;;
	*) put "$top/hw-profiles/linux-server.yaml" '^  management:' '  management: [' ']' \
		"$1/value" >"$d/hw/linux-server.yaml" ;;
	esac
	printf 'controllers: [198.18.0.1]\nname: h01\nca: ca.crt\ncert: c.crt\nkey: c.key\nstate_dir: /nonexistent\nprofile_dir: hw\n' >"$d/agent.yaml"
	FILE=linux-server.yaml
	CMD=(env -C "$d" "$agent" -n -f agent.yaml)
}

# The message a huge number gets, by file kind
declare -A WANT_NUM=(
	[policy]='port out of range'
	[playbook]='"soak": expected'
	[ctl]='"port": expected an integer 1..65535'
	[agent]='"heartbeat_ms": expected an integer 1..3600000'
	[profile]='"netdev_ingress": expected'
)

# run OUT CMD...: under the time limit (and the memory limit); the exit
# status, and the peak resident size (KiB) in OUT.rss
run() {
	local out=$1
	shift
	if ((sanitized)); then
		/usr/bin/time -q -f %M -o "$out.rss" timeout "$TIME_S" "$@" >"$out" 2>&1
	else
		/usr/bin/time -q -f %M -o "$out.rss" timeout "$TIME_S" \
			prlimit --as=$((MEM_MB * 1024 * 1024)) -- "$@" >"$out" 2>&1
	fi
}

if ((sanitized)); then
	echo "# sanitizer build: peak resident size must stay under $RSS_MB MiB; time limit $TIME_S s"
else
	echo "# address space limited to $MEM_MB MiB (prlimit --as); time limit $TIME_S s"
fi
for kind in policy playbook ctl agent profile; do
	for abuse in deep laughs number utf8 name; do
		d=$tmp/$kind-$abuse
		mkdir -p "$d"
		"${kind}_make" "$d" "$abuse"
		t0=$(date +%s%N)
		run "$d/out" "${CMD[@]}"
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		rss=$(tail -n 1 "$d/out.rss" 2>/dev/null)
		want=${WANT[$abuse]:-${WANT_NUM[$kind]}}
		line=$(grep -m1 -E "(^|/)$FILE:[0-9]+:[0-9]+: .*$want" "$d/out")
		if [[ $rc == 1 && -n $line ]] && ((${rss:-0} > 0 && (sanitized == 0 || rss < RSS_MB * 1024))); then
			ok "$kind, $abuse: refused in $ms ms, $((rss / 1024)) MiB: ${line:0:150}"
		else
			not_ok "$kind, $abuse: exit $rc (want 1), $ms ms, peak ${rss:-?} KiB"
			head -c 600 "$d/out" | head -n 5 | sed 's/^/#   /'
		fi
	done
done
echo "1..$n"
[ $fail = 0 ]
