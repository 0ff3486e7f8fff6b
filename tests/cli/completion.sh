#!/usr/bin/env bash
# The bash completion (dist/bash-completion/bulkhead), through
# bash-completion as an interactive shell loads it: what COMPREPLY holds for
# a few command lines, and the words of `bulkhead complete`. TAP.
#
# usage: completion.sh [BULKHEAD] [COMPLETION]
#   BULKHEAD    the CLI (default build/cli/bulkhead)
#   COMPLETION  the completion file (default dist/bash-completion/bulkhead)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cli=$(readlink -f "${1:-$top/build/cli/bulkhead}")
file=$(readlink -f "${2:-$top/dist/bash-completion/bulkhead}")
framework=/usr/share/bash-completion/bash_completion
if [[ ! -r $framework ]]; then
	echo "1..0 # SKIP bash-completion is not installed ($framework)"
	exit 0
fi
[[ -x $cli ]] || { echo "Bail out! no bulkhead CLI at $cli"; exit 1; }
[[ -r $file ]] || { echo "Bail out! no completion file $file"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/plans/sub"
ln -s "$cli" "$tmp/bin/bulkhead"
: >"$tmp/plans/chg.plan"
: >"$tmp/plans/notes.txt"
export PATH=$tmp/bin:$PATH
# No controller answers here: the words that need one are empty.
export BULKHEAD_SOCKET=$tmp/none.sock

# shellcheck source=/dev/null
. "$framework"
# shellcheck source=SCRIPTDIR/../../dist/bash-completion/bulkhead
. "$file"

n=0 fail=0
# comp LINE: the sorted COMPREPLY for LINE, completed at its end, on one line
comp() {
	local line=$1
	COMP_LINE=$line
	COMP_POINT=${#line}
	read -ra COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_bulkhead bulkhead "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>"$tmp/err"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
is() { # got expected description
	n=$((n + 1))
	if [[ $1 == "$2" ]]; then
		echo "ok $n - $3"
	else
		fail=$((fail + 1))
		echo "not ok $n - $3"
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
	fi
}

is "$(comp 'bulkhead ')" \
	"apply approve audit check confirm explain hosts isolate pki plan playbook release reload render status timeline" \
	"the commands, and not the unlisted 'complete'"
# The same commands as bulkhead --help lists: a new command without its
# completion fails here.
is "$(comp 'bulkhead ')" \
	"$(bulkhead --help | sed -n '/^commands:/,/^$/p' | awk 'NF > 1 {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')" \
	"the completion offers every command bulkhead --help lists"
is "$(comp 'bulkhead iso')" "isolate" "a command's prefix"
is "$(comp 'bulkhead --')" "--help --json --version" "the global options"
is "$(comp 'bulkhead isolate --')" "--all --hard --help --json --no-fallback --reason --timeout" \
	"isolate's options"
is "$(comp 'bulkhead release --c')" "--confirm-timeout" "release's options (no --hard)"
is "$(comp "bulkhead -s $tmp/none.sock isolate ")" "" \
	"isolate HOST with no controller: nothing"
is "$(cat "$tmp/err")" "" "  ... and nothing on stderr"
cd "$top/policies" || exit 1
is "$(comp 'bulkhead render v5-db')" "v5-db01 v5-db02" "render HOST: hosts of the policy in ."
cd "$tmp" || exit 1
is "$(comp "bulkhead explain $top/policies --from ctl")" "ctl01" \
	"explain DIR --from HOST: hosts of the policy in DIR"
is "$(comp "bulkhead explain $top/policies --from ctl01 --to bastion")" "bastion01 bastion02" \
	"explain --to HOST"
is "$(comp 'bulkhead explain --from x --to y t')" "tcp/" "explain PROTO/PORT"
is "$(comp 'bulkhead plan -o plans/')" "plans/chg.plan plans/sub" "plan -o: *.plan files and directories"
is "$(comp 'bulkhead apply plans/')" "plans/chg.plan plans/sub" "apply FILE: *.plan files and directories"
is "$(comp 'bulkhead apply --confirm ')" "auto manual" "apply --confirm manual|auto"
is "$(comp 'bulkhead timeline --format m')" "markdown" "timeline --format"
is "$(comp 'bulkhead playbook ')" "--help abort approve check resume run status" "playbook's commands"
is "$(comp 'bulkhead playbook run --d')" "--dry-run" "playbook run --dry-run"
is "$(comp 'bulkhead audit ')" "verify" "audit: its command verify"
is "$(comp 'bulkhead audit --')" "--help --host --json --since" "audit's options"
is "$(comp 'bulkhead audit verify --')" "--db --help" "audit verify's options"
is "$(comp 'bulkhead pki ')" "--help init issue revoke rotate" "pki's commands"
is "$(comp 'bulkhead pki issue --')" "--days --force --help --not-before" "pki issue's options"
is "$(comp 'bulkhead apply --r')" "--reason --reviewed" "apply --reviewed"

is "$(bulkhead complete stages "$top/policies/playbooks/restore-2023.yaml" | tr '\n' ' ')" \
	"wave0-infra wave0-backup wave1-v5-hr wave2-v34-mynumber wave3-company-edition " \
	"complete stages FILE: the playbook's stages, in order"
is "$(bulkhead complete hosts "$top/policies" | wc -l)" 51 "complete hosts DIR: every host and switch"
bulkhead complete hosts "$tmp/plans" >"$tmp/out" 2>/dev/null
is "$?:$(cat "$tmp/out")" "1:" "complete hosts DIR that is no policy: exit 1, no words"
bulkhead complete colours >/dev/null 2>&1
is "$?" 64 "complete with an unknown kind: usage error"

echo "1..$n"
((fail == 0))
