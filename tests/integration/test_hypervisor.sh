#!/usr/bin/env bash
# Host profiles through the real controller (bulkhead isolate / release):
# a hypervisor namespace with two VM namespaces on a bridge inside it: when
# the hypervisor is isolated, VM-to-VM and VM-to-outside traffic stops, ARP
# included; and the linux-server profile's netdev option: ARP from an
# isolated host no longer reaches its neighbours, while a host without it
# still answers ARP. Then hard isolation of the hypervisor (isolate --hard)
# takes the VMs' links down and leaves the bridge and its uplink up; release
# brings them back.
# The ARP checks need the kernel's own neighbour resolution between hosts and
# controller, not the lab's permanent entries.
export BH_LAB_NEIGH=learned
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=lib_agent.sh
. "$(dirname "$0")/lib_agent.sh"

lab_begin_snap 3
if lab hypervisor h01 2 >"$T_TMP/hv.log" 2>&1 && lab wait-connected 20 >>"$T_TMP/hv.log" 2>&1; then
	tap_ok "h01 is a hypervisor (vbr0, VMs h01-vm1 and h01-vm2), its agent (profile hypervisor) connected"
else
	tap_not_ok "h01 is a hypervisor (vbr0, VMs h01-vm1 and h01-vm2), its agent (profile hypervisor) connected"
	diag_file "$T_TMP/hv.log"
	diag_file "$LABDIR/logs/h01.log"
	tap_done
fi
VM1=$(awk '$1 == "h01-vm1" {print $2}' "$T_TMP/hv.log")
VM2=$(awk '$1 == "h01-vm2" {print $2}' "$T_TMP/hv.log")
H2=$(addr h02 4)
diag "VMs: $VM1 $VM2"

check "before: vm1 -> vm2 ping" nsping_ok h01-vm1 "$VM2"
check "before: vm1 -> h02 ping (through the bridged uplink)" nsping_ok h01-vm1 "$H2"
check "before: h02 -> vm2 ping" nsping_ok h02 "$VM2"
check "the agent logged its profile" grep -q "hardware profile hypervisor (kind hypervisor" "$LABDIR/logs/h01.log"

rc=$(run_cli "$T_TMP/iso" isolate h01 --reason hypervisor-test)
is "$rc" 0 "bulkhead isolate h01 exits 0"
check "isolated: vm1 -> vm2 ping fails" nsping_fails h01-vm1 "$VM2"
check "isolated: vm2 -> vm1 ping fails" nsping_fails h01-vm2 "$VM1"
check "isolated: vm1 -> h02 ping fails" nsping_fails h01-vm1 "$H2"
check "isolated: h02 -> vm2 ping fails" nsping_fails h02 "$VM2"
ip netns exec "$BH_LAB_PREFIX-h01-vm1" ip neigh flush dev eth0
nsping h01-vm1 "$VM2"
check "isolated: vm1 cannot even resolve vm2 (ARP stops at the bridge)" \
	bash -c "! ip netns exec '$BH_LAB_PREFIX-h01-vm1' ip neigh show '$VM2' | grep -q lladdr"
check "isolated: table bridge bulkhead drops (counter > 0)" \
	bash -c "ip netns exec '$BH_LAB_PREFIX-h01' nft list chain bridge bulkhead isolate_fwd | grep -q 'counter packets [1-9]'"
check "isolated: the hypervisor's agent stays connected" host_connected h01
check "other hosts: h02 -> h03 ping works" nsping_ok h02 "$(addr h03 4)"

rc=$(run_cli "$T_TMP/rel" release h01 --reason hypervisor-test)
is "$rc" 0 "bulkhead release h01 exits 0"
check "released: vm1 -> vm2 ping" nsping_ok h01-vm1 "$VM2"
check "released: vm1 -> h02 ping" nsping_ok h01-vm1 "$H2"

# ---- linux-server with netdev_ingress: ARP ----
if lab host-profile h02 linux-server netdev_ingress=true >"$T_TMP/nd.log" 2>&1 && lab wait-connected 20 >>"$T_TMP/nd.log" 2>&1; then
	tap_ok "h02 runs linux-server with netdev_ingress: true"
else
	tap_not_ok "h02 runs linux-server with netdev_ingress: true"
	diag_file "$T_TMP/nd.log"
fi
H3=$(addr h03 4)
rc=$(run_cli "$T_TMP/iso2" isolate h02 h03 --reason arp-test)
is "$rc" 0 "bulkhead isolate h02 h03 exits 0"
# The neighbour is a VM on h01 (not isolated, same L2): the controller's
# own ARP would pass, by design.
nsx() { ip netns exec "$BH_LAB_PREFIX-$1" "${@:2}"; }
nsx h01-vm1 ip neigh flush dev eth0
nsx h01-vm1 ping -n -q -c1 -W1 "$H2" >/dev/null 2>&1
nsx h01-vm1 ping -n -q -c1 -W1 "$H3" >/dev/null 2>&1
check "netdev_ingress: an isolated h02 no longer answers ARP (its neighbour cannot resolve it)" \
	bash -c "! ip netns exec '$BH_LAB_PREFIX-h01-vm1' ip neigh show '$H2' | grep -q lladdr"
check "without it: an isolated h03 still answers ARP (the neighbour resolves it)" \
	bash -c "ip netns exec '$BH_LAB_PREFIX-h01-vm1' ip neigh show '$H3' | grep -q lladdr"
nsx h03 ip neigh flush dev eth0
timeout 3 ip netns exec "$BH_LAB_PREFIX-h02" sh -c "ping -c2 -W1 $H3 >/dev/null 2>&1; true"
check "table netdev bulkhead on h02 drops (counter > 0)" \
	bash -c "ip netns exec '$BH_LAB_PREFIX-h02' nft list chain netdev bulkhead isolate_ingress | grep -q 'counter packets [1-9]'"
check "netdev_ingress: the isolated h02 keeps its session (ARP with the controller passes)" host_connected h02
sleep 6
check "netdev_ingress: ... and still has it after the neighbour entries expire" host_connected h02
rc=$(run_cli "$T_TMP/rel2" release h02 h03 --reason arp-test)
is "$rc" 0 "bulkhead release h02 h03 exits 0"
nsx h01-vm1 ip neigh flush dev eth0
nsx h01-vm1 ping -n -q -c1 -W1 "$H2" >/dev/null 2>&1
check "released: the neighbour resolves h02 again" \
	bash -c "ip netns exec '$BH_LAB_PREFIX-h01-vm1' ip neigh show '$H2' | grep -q lladdr"

# ---- hard isolation of the hypervisor ----
rc=$(run_cli "$T_TMP/hard" isolate h01 --hard --json --reason hypervisor-hard)
is "$rc $(jhost "$T_TMP/hard.out" h01 status)" "0 confirmed" "bulkhead isolate h01 --hard: exit 0, confirmed"
is "$(link_state h01 vnet0) $(link_state h01 vnet1)" "DOWN DOWN" "hard: the VMs' links vnet0, vnet1 go down"
is "$(link_state h01 vbr0) $(link_state h01 eth0)" "UP UP" "hard: vbr0 (mgmt_if) and eth0 (its uplink) stay up"
check "hard: record holds vnet0 and vnet1" \
	bash -c "grep -qx 'held-link vnet0' '$(state_file h01)' && grep -qx 'held-link vnet1' '$(state_file h01)'"
check "hard: vm1 -> vm2 ping fails" nsping_fails h01-vm1 "$VM2"
check "hard: the hypervisor's agent stays connected" host_connected h01
rc=$(run_cli "$T_TMP/hardrel" release h01 --confirm-timeout 2 --reason hypervisor-hard)
is "$rc" 0 "bulkhead release h01 (hard) exits 0"
is "$(link_state h01 vnet0) $(link_state h01 vnet1)" "UP UP" "released: vnet0, vnet1 up again"
sleep 2.5
is "$(link_state h01 vnet0) $(link_state h01 vnet1)" "UP UP" "released and confirmed: still up after the confirmation time"
check "released: vm1 -> vm2 ping" nsping_ok h01-vm1 "$VM2"

tap_done
