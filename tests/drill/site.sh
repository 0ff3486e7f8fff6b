#!/usr/bin/env bash
# Writes the drill's site to DIR: a copy of the example site (policies/)
# whose inventory keeps only the hosts listed in tests/drill/hosts (one from
# each tier, small enough for a lab on one machine), without the switches,
# and the drill's restore playbook as DIR/playbooks/restore-drill.yaml.
#
#   tests/drill/site.sh DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:?usage: tests/drill/site.sh DIR}
[[ ! -e $dir || -d $dir ]] || { echo "site.sh: $dir exists and is not a directory" >&2; exit 1; }
mkdir -p "$dir"
cp -r "$root/policies/." "$dir/"
rm -f "$dir"/playbooks/*.yaml
cp "$here/restore-drill.yaml" "$dir/playbooks/"
keep=$(grep -v '^#' "$here/hosts" | awk 'NF {print $1}' | paste -sd' ')
awk -v keep="$keep" '
BEGIN { n = split(keep, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
/^hosts:/ { section = "hosts"; print; next }
/^switches:/ { section = "switches"; next }
section == "" { print; next }
section == "hosts" && /^  - name: / { name = $3; on = (name in want); seen[name] = on }
section == "hosts" && on && (/^  - name: / || /^    /) { print }
END {
	for (h in want) if (!(h in seen)) { print "site.sh: " h " is not in the inventory" > "/dev/stderr"; bad = 1 }
	exit bad
}' "$root/policies/inventory.yaml" >"$dir/inventory.yaml"
