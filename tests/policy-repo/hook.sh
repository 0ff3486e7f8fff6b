#!/usr/bin/env bash
# The policy repository template (dist/policy-repo/): a repository made by
# its create script, on a temporary directory, with the pre-commit hook on:
# a good change commits; a broken policy and a broken playbook are refused
# with file:line:col and nothing is committed; the CI script passes on the
# good tree, fails on the broken one, and skips the plan when no controller
# can be reached (or fails, with BULKHEAD_REQUIRE_PLAN=1).
#   tests/policy-repo/hook.sh BULKHEAD
set -uo pipefail
cli=${1:?usage: hook.sh BULKHEAD}
cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")
root=$(cd "$(dirname "$0")/../.." && pwd)
n=0 fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
quiet() { "$@" >/dev/null 2>&1; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
command -v git >/dev/null || { echo "1..0 # SKIP git is not installed (scripts/install-deps installs it)"; exit 0; }
tmp=$(mktemp -d /tmp/bh-policy-repo.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
repo=$tmp/policy
export BULKHEAD=$cli GIT_AUTHOR_NAME=drill GIT_AUTHOR_EMAIL=drill@example.invalid \
	GIT_COMMITTER_NAME=drill GIT_COMMITTER_EMAIL=drill@example.invalid
export BULKHEAD_SOCKET=$tmp/no-controller.sock
commits() { git -C "$repo" rev-list --count HEAD 2>/dev/null || echo 0; }

check "create writes the repository" quiet "$root/dist/policy-repo/create" "$repo"
check "create refuses a directory that is not empty" \
	bash -c '! "$1" "$2" 2>/dev/null' _ "$root/dist/policy-repo/create" "$repo"
check "the hook is enabled (core.hooksPath)" test "$(git -C "$repo" config core.hooksPath)" = hooks
git -C "$repo" add -A
check "the example site commits (the hook passes)" git -C "$repo" commit -qm "example site" 2>"$tmp/err"
check "one commit" test "$(commits)" = 1

# a good change: a new rule (and no new warning)
cat >>"$repo/site/rules.yaml" <<'YAML'
  - from: operators
    to: monitoring
    services: [https]
    comment: the operators' dashboards
YAML
git -C "$repo" add -A
check "a good change commits" git -C "$repo" commit -qm "operators reach the dashboards" 2>"$tmp/err"
check "with no new warning" bash -c '! grep -q warning "$1"' _ "$tmp/err"

# a broken policy: a rule names a group that does not exist
sed -i '0,/to: controllers/s//to: controlers/' "$repo/site/rules.yaml"
line=$(grep -n 'to: controlers' "$repo/site/rules.yaml" | cut -d: -f1)
git -C "$repo" add -A
if git -C "$repo" commit -qm "typo" 2>"$tmp/err"; then not_ok "a broken policy is refused"; else ok "a broken policy is refused"; fi
check "the error is site/rules.yaml:$line:COL: ..." grep -qE "^site/rules.yaml:$line:[0-9]+: .*controlers" "$tmp/err"
grep -E '^site/' "$tmp/err" | sed 's/^/# /'
check "the hook says what to do next" grep -q 'fix them and commit again' "$tmp/err"
check "nothing was committed" test "$(commits)" = 2
check "the CI script fails on the broken tree" bash -c 'cd "$1" && ! sh ci/bulkhead-ci.sh >/dev/null 2>&1' _ "$repo"
git -C "$repo" reset -q --hard

# the staged version is what is checked, not the work tree
sed -i 's/^playbook: restore-2023/playbook: restore-2023\nbogus_key: 1/' "$repo/site/playbooks/restore-2023.yaml"
git -C "$repo" add -A
if git -C "$repo" commit -qm "broken playbook" 2>"$tmp/err"; then not_ok "a broken playbook is refused"; else ok "a broken playbook is refused"; fi
check "the error is site/playbooks/restore-2023.yaml:LINE:COL: ..." \
	grep -qE '^site/playbooks/restore-2023.yaml:[0-9]+:[0-9]+: ' "$tmp/err"
grep -E '^site/' "$tmp/err" | sed 's/^/# /'
git -C "$repo" reset -q --hard

(cd "$repo" && sh ci/bulkhead-ci.sh >"$tmp/ci.out" 2>&1)
check "the CI script passes on the good tree, and skips the plan without a controller" \
	grep -q 'no plan: the controller cannot be reached' "$tmp/ci.out"
check "with BULKHEAD_REQUIRE_PLAN=1 it fails without a controller" \
	bash -c 'cd "$1" && ! BULKHEAD_REQUIRE_PLAN=1 sh ci/bulkhead-ci.sh >/dev/null 2>&1' _ "$repo"
echo "1..$n"
((fails == 0))
