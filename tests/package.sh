#!/usr/bin/env bash
# The Debian packages: built from a copy of the source tree
# (dpkg-buildpackage -us -uc -b), checked by lintian (an error fails the
# test, warnings are printed), installed with dpkg -i in a chroot over an
# overlay of / (in a private mount namespace: the machine's own root and
# package database are never changed), their files checked where Debian
# expects them, then the installed bulkheadd, bulkhead-agent and bulkhead
# run a small lab: isolate --all and release --all. TAP. Needs root.
#
#   sudo tests/package.sh
# Environment: BH_TEST_KEEP=1 keeps the lab and the scratch directory.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (overlay mount, chroot, network namespaces)"
	exit 0
fi
for t in dpkg-buildpackage dh dh_installsysusers lintian fakeroot unshare chroot tar; do
	command -v "$t" >/dev/null ||
		{ echo "Bail out! missing $t (scripts/install-deps installs it)"; exit 1; }
done

P=$(mktemp -d /tmp/bh-package.XXXXXX)
# The lab runs the installed programs through a build-like directory.
export BH_BUILD=$P/bin
export BH_LAB_PREFIX=${BH_LAB_PREFIX:-bhP$$}
UP=$P/root/upper # what dpkg -i added to the overlay of /: the installed files
export BH_LAB_PROFILE_DIR=$UP/etc/bulkhead/hw-profiles
# shellcheck source=SCRIPTDIR/integration/lib.sh
. "$here/integration/lib.sh"

# The lab's cleanup (lib.sh: lab down, T_TMP, the exit status), after the
# lab is down and the scratch directory removed; whichever trap runs it.
eval "_lab_cleanup() $(declare -f _t_cleanup | tail -n +2)"
_t_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $T_TMP && ${BH_TEST_KEEP:-0} != 1 ]] && "$LAB" down >/dev/null 2>&1
	# The overlay lives in a mount namespace that ended with its shell;
	# this is for one left behind by a kill.
	mountpoint -q "$P/root/merged" 2>/dev/null && umount -l "$P/root/merged"
	if [[ ${BH_TEST_KEEP:-0} == 1 ]]; then
		diag "BH_TEST_KEEP=1: $P kept"
	else
		rm -rf -- "$P"
	fi
	(exit "$rc")
	_lab_cleanup
}
trap _t_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
# ---- build, from a copy of the tree without build directories ----
mkdir -p "$P/src/bulkhead" "$P/root"/{upper,work,merged} "$P/bin"/{cli,controller,agents}
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) |
		tar -xf - -C "$P/src/bulkhead"
else
	tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$P/src/bulkhead"
fi
if (cd "$P/src/bulkhead" && timeout 900 dpkg-buildpackage -us -uc -b) >"$P/build.log" 2>&1; then
	tap_ok "dpkg-buildpackage -us -uc -b ($((SECONDS - t0)) s)"
else
	tap_not_ok "dpkg-buildpackage -us -uc -b"
	diag_file "$P/build.log" 40
	tap_done
fi
CTL_DEB=$(ls "$P"/src/bulkhead-controller_*.deb 2>/dev/null)
AGENT_DEB=$(ls "$P"/src/bulkhead-agent_*.deb 2>/dev/null)
check "two binary packages: bulkhead-controller and bulkhead-agent" \
	test -f "$CTL_DEB" -a -f "$AGENT_DEB" || tap_done

# ---- lintian ----
lintian --tag-display-limit 0 "$P"/src/bulkhead_*.changes >"$P/lintian.log" 2>&1
lrc=$?
errors=$(grep -c '^E: ' "$P/lintian.log")
warnings=$(grep -c '^W: ' "$P/lintian.log")
is "$lrc:$errors" "0:0" "lintian: no errors ($warnings warnings)"
grep -E '^(E|W): ' "$P/lintian.log" | sed 's/^/# lintian: /'

# ---- install into an overlay of / ----
cp "$CTL_DEB" "$AGENT_DEB" "$P/"
cat >"$P/install.sh" <<'EOF'
# Runs in a private mount namespace: everything mounted here goes with it.
set -u
P=$1 M=$1/root/merged
mount -t overlay overlay -o "lowerdir=/,upperdir=$P/root/upper,workdir=$P/root/work" "$M" || exit 1
mount --rbind /dev "$M/dev" && mount -t proc proc "$M/proc" || exit 1
# The man-db trigger would rebuild the whole manual index.
rm -f "$M/var/lib/man-db/auto-update"
mkdir -p "$M/tmp/bh-debs"
cp "$P"/*.deb "$M/tmp/bh-debs/"
chroot "$M" sh -c 'dpkg -i /tmp/bh-debs/bulkhead-controller_*.deb /tmp/bh-debs/bulkhead-agent_*.deb' \
	>"$P/dpkg.log" 2>&1
echo "dpkg $?"
echo "status $(chroot "$M" dpkg-query -W -f='${db:Status-Abbrev}' bulkhead-controller bulkhead-agent)"
echo "user $(chroot "$M" getent passwd _bulkhead | cut -d: -f1,6,7)"
echo "statedir $(chroot "$M" stat -c '%U %a' /var/lib/bulkheadd)"
echo "rundir $(chroot "$M" stat -c '%U %a' /run/bulkhead)"
echo "agent-enabled $(chroot "$M" readlink /etc/systemd/system/sysinit.target.wants/bulkhead-agent.service)"
echo "ctl-enabled $(chroot "$M" readlink /etc/systemd/system/multi-user.target.wants/bulkheadd.service)"
echo "conffiles $(chroot "$M" dpkg-query -W -f='${Conffiles}' bulkhead-agent | awk '{print $1}' | sort | tr '\n' ' ')"
echo "cli $(chroot "$M" /usr/bin/bulkhead --version)"
chroot "$M" /usr/sbin/bulkheadd -h >/dev/null 2>&1; echo "bulkheadd-h $?"
chroot "$M" /usr/sbin/bulkhead-agent -h >/dev/null 2>&1; echo "agent-h $?"
EOF
unshare --mount --propagation private bash "$P/install.sh" "$P" >"$P/install.out" 2>"$P/install.err"
res() { sed -n "s/^$1 //p" "$P/install.out"; }
is "$(res dpkg)" 0 "dpkg -i of both packages in the chroot"
[[ $(res dpkg) == 0 ]] || { diag_file "$P/dpkg.log" 30; diag_file "$P/install.err"; }
is "$(res status)" "ii ii " "both packages installed and configured"
is "$(res user)" "_bulkhead:/var/lib/bulkheadd:/usr/sbin/nologin" "sysusers created _bulkhead"
is "$(res statedir)" "_bulkhead 700" "tmpfiles: /var/lib/bulkheadd 0700 _bulkhead"
is "$(res rundir)" "_bulkhead 755" "tmpfiles: /run/bulkhead 0755 _bulkhead"
is "$(res agent-enabled)" "/lib/systemd/system/bulkhead-agent.service" \
	"bulkhead-agent.service enabled (sysinit.target)"
is "$(res ctl-enabled)" "/lib/systemd/system/bulkheadd.service" \
	"bulkheadd.service enabled (multi-user.target)"
is "$(res conffiles)" "/etc/bulkhead/hw-profiles/hypervisor.yaml /etc/bulkhead/hw-profiles/linux-server.yaml /etc/bulkhead/hw-profiles/linux-switch.yaml " \
	"the hardware profiles are the agent's conffiles"
is "$(res cli)" "bulkhead $(sed -n "s/^  version : '\(.*\)',$/\1/p" "$src/meson.build")" \
	"the installed CLI runs in the chroot"
is "$(res bulkheadd-h):$(res agent-h)" "0:0" "the installed bulkheadd and bulkhead-agent run in the chroot"

# ---- the files, where Debian expects them ----
# upath FILE: where FILE of the packages is in the overlay's upper layer (on
# a merged-/usr system /lib is /usr/lib)
upath() {
	local f=$1
	[[ $f == lib/* && -L /lib ]] && f=usr/$f
	echo "$UP/$f"
}
missing=""
for f in usr/bin/bulkhead usr/sbin/bulkheadd usr/sbin/bulkhead-agent \
	lib/systemd/system/bulkheadd.service lib/systemd/system/bulkhead-agent.service \
	usr/lib/sysusers.d/bulkhead.conf usr/lib/tmpfiles.d/bulkhead.conf \
	usr/share/bash-completion/completions/bulkhead \
	etc/bulkhead/hw-profiles/linux-server.yaml etc/bulkhead/hw-profiles/hypervisor.yaml \
	etc/bulkhead/hw-profiles/linux-switch.yaml \
	usr/share/man/man8/bulkhead.8.gz usr/share/man/man8/bulkheadd.8.gz \
	usr/share/man/man8/bulkhead-agent.8.gz usr/share/man/man5/bulkhead-policy.5.gz \
	usr/share/man/man5/bulkhead-playbook.5.gz usr/share/man/man5/bulkhead-profile.5.gz \
	usr/share/doc/bulkhead-controller/examples/bulkheadd.yaml.example \
	usr/share/doc/bulkhead-controller/examples/policies/inventory.yaml \
	usr/share/doc/bulkhead-agent/examples/agent.yaml.example \
	usr/share/doc/bulkhead-controller/copyright usr/share/doc/bulkhead-agent/copyright; do
	[[ -e $(upath "$f") ]] || missing+="$f "
done
is "$missing" "" "every installed file is in place"
in_deb() { dpkg-deb -c "$1" | awk '{print $6}' | grep -qx "./$2"; }
check "the agent's unit and profiles are in bulkhead-agent" \
	eval 'in_deb "$AGENT_DEB" lib/systemd/system/bulkhead-agent.service &&
		in_deb "$AGENT_DEB" etc/bulkhead/hw-profiles/linux-server.yaml &&
		! in_deb "$AGENT_DEB" usr/sbin/bulkheadd'
check "the controller, the CLI and the completion are in bulkhead-controller" \
	eval 'in_deb "$CTL_DEB" usr/sbin/bulkheadd && in_deb "$CTL_DEB" usr/bin/bulkhead &&
		in_deb "$CTL_DEB" usr/share/bash-completion/completions/bulkhead &&
		! in_deb "$CTL_DEB" usr/sbin/bulkhead-agent'
unit=$(upath lib/systemd/system)
check "bulkheadd.service: User=_bulkhead, only CAP_CHOWN" \
	eval 'grep -qx "User=_bulkhead" "$unit/bulkheadd.service" &&
		grep -qx "AmbientCapabilities=CAP_CHOWN" "$unit/bulkheadd.service" &&
		grep -qx "CapabilityBoundingSet=CAP_CHOWN" "$unit/bulkheadd.service"'
check "bulkhead-agent.service waits for /etc/bulkhead/agent.yaml" \
	grep -qx "ConditionPathExists=/etc/bulkhead/agent.yaml" "$unit/bulkhead-agent.service"
check "the agent's postinst does not start it" \
	eval '! dpkg-deb -I "$AGENT_DEB" postinst | grep -q "deb-systemd-invoke.*start"'
if command -v systemd-analyze >/dev/null; then
	# Only the unit's own syntax: the binaries are not in / (man: is not checked).
	systemd-analyze verify --man=no "$unit/bulkheadd.service" "$unit/bulkhead-agent.service" \
		>"$P/verify.log" 2>&1
	is "$(grep -v 'is not executable\|No such file' "$P/verify.log")" "" \
		"systemd-analyze verify: the units parse"
fi
diag "build, lintian, install and checks: $((SECONDS - t0)) s"

# ---- the installed programs in a lab ----
ln -s "$UP/usr/bin/bulkhead" "$P/bin/cli/bulkhead"
ln -s "$UP/usr/sbin/bulkheadd" "$P/bin/controller/bulkheadd"
ln -s "$UP/usr/sbin/bulkhead-agent" "$P/bin/agents/bulkhead-agent"
PORT=9000
lab_begin 3
check "the agents read the installed profiles ($BH_LAB_PROFILE_DIR)" \
	grep -qx "profile_dir: \"$BH_LAB_PROFILE_DIR\"" "$LABDIR/conf/h01.yaml"
for node in h01 h02; do listen_echo "$node" $PORT || diag "listener on $node:$PORT did not come up"; done
SPECS=("tcp h01 h02 4 $PORT" "tcp h02 h01 6 $PORT")
traffic open "before isolation" "${SPECS[@]}"
rc=$(run_cli "$T_TMP/iso" isolate --all --reason "package test" --json)
is "$rc" 0 "installed bulkhead isolate --all exits 0"
is "$(jq -r '"\(.targeted) \(.confirmed)"' "$T_TMP/iso.out" 2>/dev/null)" "3 3" \
	"isolate --all: every host confirmed"
traffic blocked "isolated" "${SPECS[@]}"
rc=$(run_cli "$T_TMP/rel" release --all --reason "package test")
is "$rc" 0 "installed bulkhead release --all exits 0"
traffic open "after release" "${SPECS[@]}"

# The installed completion, with the controller's host names.
comp_hosts=$(BULKHEAD_SOCKET=$LABDIR/ctl.sock PATH=$P/bin/cli:$PATH bash -c '
	. /usr/share/bash-completion/bash_completion && . "$1" || exit 1
	COMP_LINE="bulkhead isolate h0" COMP_POINT=19 COMP_WORDS=(bulkhead isolate h0) COMP_CWORD=2
	_bulkhead bulkhead h0 isolate && printf "%s " "${COMPREPLY[@]}"' sh \
	"$UP/usr/share/bash-completion/completions/bulkhead" 2>&1)
is "$comp_hosts" "h01 h02 h03 " "the installed completion offers the controller's hosts"
# ---- bulkheadd as bulkheadd.service runs it: user _bulkhead, CAP_CHOWN ----
# The user is the one sysusers made in the chroot; the lab's files are
# opened to it as README.md tells operators to (the pki directory and the
# controller's key to its group), and the control socket goes to a group
# it is not in, which takes CAP_CHOWN.
uid=$(awk -F: '$1 == "_bulkhead" {print $3}' "$UP/etc/passwd")
gid=$(awk -F: '$1 == "_bulkhead" {print $4}' "$UP/etc/passwd")
check "_bulkhead has a uid ($uid) and gid ($gid)" eval '[[ $uid =~ ^[1-9][0-9]*$ && $gid =~ ^[1-9][0-9]*$ ]]'
lab ctl-stop >/dev/null 2>&1
rm -f "$P/bin/controller/bulkheadd"
cat >"$P/bin/controller/bulkheadd" <<EOF
#!/bin/sh
exec setpriv --reuid=$uid --regid=$gid --clear-groups --inh-caps=-all,+chown \\
	--ambient-caps=+chown --bounding-set=-all,+chown -- "$UP/usr/sbin/bulkheadd" "\$@"
EOF
chmod 0755 "$P/bin/controller/bulkheadd"
chgrp "$gid" "$LABDIR" "$LABDIR/pki" "$LABDIR/pki/bulkheadd.key"
chmod 0770 "$LABDIR"
chmod 0750 "$LABDIR/pki"
chmod 0640 "$LABDIR/pki/bulkheadd.key"
chown -R "$uid:$gid" "$LABDIR/state/ctl"
echo "control_group: nogroup" >>"$LABDIR/conf/bulkheadd.yaml"
if lab ctl-start >"$T_TMP/ctl-start.log" 2>&1 && lab wait-connected 20 >>"$T_TMP/ctl-start.log" 2>&1; then
	tap_ok "bulkheadd started as _bulkhead with only CAP_CHOWN, every host reconnects"
else
	tap_not_ok "bulkheadd started as _bulkhead with only CAP_CHOWN, every host reconnects"
	diag_file "$T_TMP/ctl-start.log" 30
	diag_file "$LABDIR/logs/ctl.log" 20
fi
ctl_pid=$(daemon_pid ctl)
is "$(stat -c %u "/proc/${ctl_pid:-0}" 2>/dev/null):$(sed -n 's/^CapEff:\t//p' "/proc/${ctl_pid:-0}/status" 2>/dev/null)" \
	"$uid:0000000000000000" \
	"bulkheadd's uid is _bulkhead's; once the socket is given to its group it keeps no capability"
is "$(stat -c '%u %G %a' "$LABDIR/ctl.sock" 2>/dev/null)" "$uid nogroup 660" \
	"the control socket: _bulkhead's, given to control_group, 0660"
rc=$(run_cli "$T_TMP/iso2" isolate --all --reason "package test, as _bulkhead" --json)
is "$rc:$(jq -r '.confirmed' "$T_TMP/iso2.out" 2>/dev/null)" "0:3" "isolate --all as _bulkhead: 3 hosts confirmed"
traffic blocked "isolated by bulkheadd as _bulkhead" "${SPECS[@]}"
rc=$(run_cli "$T_TMP/rel2" release --all --reason "package test, as _bulkhead")
is "$rc" 0 "release --all as _bulkhead exits 0"
traffic open "released by bulkheadd as _bulkhead" "${SPECS[@]}"

diag "tests/package.sh took $((SECONDS - t0)) s"
tap_done
