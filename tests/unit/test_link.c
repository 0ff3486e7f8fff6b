/* Links, bridge ports and the profile tables (netdev, bridge), checked in a
 * private network namespace with real traffic between child namespaces.
 * Also times changing 48 bridge ports. Needs root, iproute2, ping, nsenter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "link.h"
#include "nft.h"
#include "profile.h"

#define NPORTS 48

static int have_netns;
static struct agent_link *lk;
static pid_t kids[8];
static int nkids;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A namespace held by a child that dies with us: nothing is left behind,
 * whatever happens to the test. */
static pid_t ns_child(void)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	kids[nkids++] = pid;
	sh("nsenter -t %d -n ip link set lo up", (int)pid);
	return pid;
}

/* One echo request, one second: does addr answer from namespace pid (0: ours)? */
static bool ping_from(pid_t pid, const char *src, const char *addr)
{
	char ns[64] = "";

	if (pid)
		snprintf(ns, sizeof(ns), "nsenter -t %d -n ", (int)pid);
	return sh("%sping -n -q -c1 -W1 %s%s %s >/dev/null 2>&1", ns, src ? "-I " : "",
		  src ? src : "", addr) == 0;
}

/* Traffic that was just allowed may need a moment (carrier, ARP): a few tries. */
static bool ping_ok(pid_t pid, const char *src, const char *addr)
{
	for (int i = 0; i < 3; i++)
		if (ping_from(pid, src, addr))
			return true;
	return false;
}

/* Does namespace pid hold a resolved neighbour entry for addr? */
static bool neigh_known(pid_t pid, const char *addr)
{
	return sh("nsenter -t %d -n ip neigh show %s | grep -q lladdr", (int)pid, addr) == 0;
}

static int group_setup(void **state)
{
	(void)state;
	log_init("test_link", 0);
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		return 0;
	if (sh("ip link set lo up && command -v nsenter >/dev/null && command -v ping >/dev/null "
	       "&& nft --version >/dev/null 2>&1") != 0)
		return 0;
	/* Bridged IP must not reach the inet hooks here (br_netfilter): the
	 * bridge family alone is under test. */
	sh("for f in iptables ip6tables arptables; do echo 0 > "
	   "/proc/sys/net/bridge/bridge-nf-call-$f; done 2>/dev/null");
	lk = agent_link_new();
	have_netns = lk != NULL;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	agent_link_free(lk);
	for (int i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return 0;
}

static void need_netns(void)
{
	if (!have_netns)
		skip();
}

static const struct link_info *find(struct link_info *li, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(li[i].name, name) == 0)
			return &li[i];
	return NULL;
}

static void test_link_down_up(void **state)
{
	struct link_info *li;
	pid_t a;
	int n;

	need_netns();
	a = ns_child();
	assert_true(a > 0);
	assert_int_equal(sh("ip link add a0 type veth peer name b0 netns %d && "
			    "ip addr add 198.18.250.1/24 dev a0 && ip link set a0 up && "
			    "nsenter -t %d -n sh -c 'ip addr add 198.18.250.2/24 dev b0 && "
			    "ip link set b0 up'",
			    (int)a, (int)a),
			 0);
	assert_true(ping_ok(0, NULL, "198.18.250.2"));

	assert_int_equal(link_updown_set(lk, "a0", false), 0);
	n = link_list(lk, &li);
	assert_true(n > 0);
	assert_non_null(find(li, n, "a0"));
	assert_false(find(li, n, "a0")->up);
	assert_string_equal(find(li, n, "a0")->kind, "veth");
	assert_true(find(li, n, "lo")->loopback);
	free(li);
	assert_false(ping_from(0, NULL, "198.18.250.2"));

	assert_int_equal(link_updown_set(lk, "a0", true), 0);
	assert_true(ping_ok(0, NULL, "198.18.250.2"));
	assert_int_equal(link_updown_set(lk, "no-such-link", false), -ENODEV);
}

static void test_link_route(void **state)
{
	struct conf_addr dst, gw;
	int ifindex;

	need_netns();
	/* test_link_down_up left a0 with 198.18.250.1/24 */
	assert_int_equal(conf_addr_parse("198.18.250.2", &dst), 0);
	assert_int_equal(link_route_get(lk, &dst, &ifindex, &gw), 0);
	assert_int_equal(ifindex, (int)if_nametoindex("a0"));
	assert_int_equal(gw.family, 0);
	assert_int_equal(sh("ip route add 198.19.7.0/24 via 198.18.250.2"), 0);
	assert_int_equal(conf_addr_parse("198.19.7.9", &dst), 0);
	assert_int_equal(link_route_get(lk, &dst, &ifindex, &gw), 0);
	assert_int_equal(ifindex, (int)if_nametoindex("a0"));
	assert_int_equal(gw.family, AF_INET);
	assert_string_equal(gw.text, "198.18.250.2");
}

/* A bridge with a port to each of two namespaces: blocking one port stops
 * the traffic between them, forwarding brings it back. */
static void test_brport_block(void **state)
{
	struct link_info *li;
	pid_t a, b;
	int n;

	need_netns();
	a = ns_child();
	b = ns_child();
	assert_true(a > 0 && b > 0);
	assert_int_equal(
	    sh("ip link add br0 type bridge stp_state 0 forward_delay 0 && ip link set br0 up && "
	       "ip link add p1 type veth peer name e1 netns %d && "
	       "ip link add p2 type veth peer name e2 netns %d && "
	       "ip link set p1 master br0 up && ip link set p2 master br0 up && "
	       "nsenter -t %d -n sh -c 'ip addr add 198.18.251.1/24 dev e1 && ip link set e1 up' "
	       "&& nsenter -t %d -n sh -c 'ip addr add 198.18.251.2/24 dev e2 && ip link set e2 "
	       "up'",
	       (int)a, (int)b, (int)a, (int)b),
	    0);
	assert_true(ping_ok(a, NULL, "198.18.251.2"));

	/* Without STP the kernel turns blocking into forwarding at once... */
	assert_int_equal(link_brport_state_set(lk, "p1", LINK_BR_BLOCKING), 0);
	assert_int_equal(link_brport_state_get(lk, "p1"), LINK_BR_FORWARDING);
	assert_true(ping_ok(a, NULL, "198.18.251.2"));
	/* ...so blocking a port falls back to disabled, which holds */
	assert_int_equal(link_brport_block(lk, "p1", 0), 0);
	n = link_list(lk, &li);
	assert_int_equal(find(li, n, "p1")->brport, LINK_BR_DISABLED);
	assert_int_equal(find(li, n, "p2")->brport, LINK_BR_FORWARDING);
	assert_int_equal(find(li, n, "br0")->brport, -1);
	assert_int_equal(find(li, n, "p1")->master, (int)if_nametoindex("br0"));
	free(li);
	assert_false(ping_from(a, NULL, "198.18.251.2"));
	assert_false(ping_from(b, NULL, "198.18.251.1"));

	assert_int_equal(link_brport_state_set(lk, "p1", LINK_BR_FORWARDING), 0);
	assert_true(ping_ok(a, NULL, "198.18.251.2"));
	/* not a bridge port: the kernel says so */
	assert_true(link_brport_state_set(lk, "lo", LINK_BR_BLOCKING) < 0);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* What a switch agent does for one WIRE_PORT_SET of 48 ports: a snapshot
 * of the links, then one request per port. */
static uint64_t ports_apply(const struct profile *p, enum hold_kind kind, bool isolate)
{
	struct profile_env env = {0};
	struct profile_ctx c;
	uint64_t t0 = now_us();

	assert_int_equal(profile_ctx_init(&c, p, lk, &env), 0);
	for (int i = 0; i < NPORTS; i++) {
		struct agent_hold h = {.kind = kind};

		snprintf(h.name, sizeof(h.name), "swp%d", i + 1);
		if (isolate)
			assert_int_equal(profile_hold_apply(&c, &h), 0);
		else
			assert_int_equal(p->ops->release(&c, &h), 0);
	}
	profile_ctx_done(&c);
	return now_us() - t0;
}

static void test_48_ports(void **state)
{
	struct profile p;
	struct link_info *li;
	FILE *b = fopen("/tmp/bh-test-link-48.batch", "w");
	uint64_t block, fwd, down, up;
	int n, blocked = 0, downed = 0;

	need_netns();
	assert_non_null(b);
	fprintf(b, "link add sw48 type bridge stp_state 0 forward_delay 0\nlink set sw48 up\n");
	for (int i = 1; i <= NPORTS; i++)
		fprintf(b,
			"link add swp%d type veth peer name host%d\nlink set swp%d master sw48 up\n"
			"link set host%d up\n",
			i, i, i, i);
	fclose(b);
	assert_int_equal(sh("ip -batch /tmp/bh-test-link-48.batch"), 0);
	unlink("/tmp/bh-test-link-48.batch");
	assert_int_equal(profile_load(&p, "/nonexistent", false, "linux-switch", NULL, NULL), 0);

	block = ports_apply(&p, HOLD_PORT_BLOCK, true);
	n = link_list(lk, &li);
	for (int i = 0; i < n; i++)
		blocked += strncmp(li[i].name, "swp", 3) == 0 && li[i].brport != LINK_BR_FORWARDING;
	free(li);
	fwd = ports_apply(&p, HOLD_PORT_BLOCK, false);
	down = ports_apply(&p, HOLD_LINK_DOWN, true);
	n = link_list(lk, &li);
	for (int i = 0; i < n; i++)
		downed += strncmp(li[i].name, "swp", 3) == 0 && !li[i].up;
	free(li);
	up = ports_apply(&p, HOLD_LINK_DOWN, false);
	profile_clear(&p);
	assert_int_equal(blocked, NPORTS);
	assert_int_equal(downed, NPORTS);
	printf("# 48 ports, bridge-block: %.2f ms to block, %.2f ms to forward again\n",
	       block / 1000.0, fwd / 1000.0);
	printf("# 48 ports, link-down:    %.2f ms to take down, %.2f ms to bring up\n",
	       down / 1000.0, up / 1000.0);
	fflush(stdout);
	/* a switch must cut a rack off in well under a second */
	assert_true(block < 1000000 && down < 1000000);
}

/* A raw ARP request from our link ifname, "who-has target tell sender":
 * what any process could send, past the inet table. */
static int arp_send(const char *ifname, const char *sender, const char *target)
{
	unsigned char frame[42] = {0};
	struct ether_header *eh = (struct ether_header *)frame;
	struct ether_arp *arp = (struct ether_arp *)(frame + sizeof(*eh));
	struct sockaddr_ll sll = {0};
	struct ifreq ifr = {0};
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP)), rc = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		goto out;
	memset(eh->ether_dhost, 0xff, 6);
	memcpy(eh->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
	eh->ether_type = htons(ETHERTYPE_ARP);
	arp->arp_hrd = htons(ARPHRD_ETHER);
	arp->arp_pro = htons(ETHERTYPE_IP);
	arp->arp_hln = 6;
	arp->arp_pln = 4;
	arp->arp_op = htons(ARPOP_REQUEST);
	memcpy(arp->arp_sha, ifr.ifr_hwaddr.sa_data, 6);
	inet_pton(AF_INET, sender, arp->arp_spa);
	inet_pton(AF_INET, target, arp->arp_tpa);
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_halen = 6;
	memset(sll.sll_addr, 0xff, 6);
	/* An egress drop fails the send itself (ENOBUFS): what counts is
	 * whether the neighbour hears it. */
	for (int i = 0; i < 3; i++)
		sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll));
	usleep(200000);
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The linux-server netdev option: while isolated, ARP between the host
 * and a neighbour stops both ways; ARP with the controller still works. */
static void test_netdev_arp(void **state)
{
	struct conf_addr ctl;
	struct nft_mgmt mgmt = {&ctl, 1, 7443};
	struct nft_hooks h = {0};
	struct agent_nft *nft;
	pid_t nb;

	need_netns();
	nb = ns_child();
	assert_true(nb > 0);
	/* the neighbour holds .3, and the controller's address .2 */
	assert_int_equal(sh("ip link add h0 type veth peer name n0 netns %d && "
			    "ip addr add 198.18.252.1/24 dev h0 && ip link set h0 up && "
			    "nsenter -t %d -n sh -c 'ip addr add 198.18.252.3/24 dev n0 && "
			    "ip addr add 198.18.252.2/24 dev n0 && ip link set n0 up'",
			    (int)nb, (int)nb),
			 0);
	assert_int_equal(conf_addr_parse("198.18.252.2", &ctl), 0);
	nft = agent_nft_new(false);
	assert_non_null(nft);
	h.netdev = true;
	h.ndevs = 1;
	snprintf(h.devs[0], sizeof(h.devs[0]), "h0");
	h.arp_peers[0] = ctl;
	h.narp_peers = 1;
	nft_hooks_set(nft, &h);

	/* open: the neighbour resolves us, and learns us from our own ARP */
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	sh("nsenter -t %d -n ip neigh flush dev n0", (int)nb);
	ping_from(nb, "198.18.252.3", "198.18.252.1");
	assert_true(neigh_known(nb, "198.18.252.1"));
	sh("nsenter -t %d -n ip neigh flush dev n0", (int)nb);
	assert_int_equal(arp_send("h0", "198.18.252.1", "198.18.252.3"), 0);
	assert_true(neigh_known(nb, "198.18.252.1"));

	/* isolated: neither its request reaches us, nor ours reaches it */
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, NULL), 0);
	sh("nsenter -t %d -n ip neigh flush dev n0", (int)nb);
	ping_from(nb, "198.18.252.3", "198.18.252.1");
	assert_false(neigh_known(nb, "198.18.252.1"));
	sh("nsenter -t %d -n ip neigh flush dev n0", (int)nb);
	assert_int_equal(arp_send("h0", "198.18.252.1", "198.18.252.3"), 0);
	assert_false(neigh_known(nb, "198.18.252.1"));
	/* ...but the controller's address still resolves us: its ARP passes */
	ping_from(nb, "198.18.252.2", "198.18.252.1");
	assert_true(neigh_known(nb, "198.18.252.1"));
	assert_int_equal(sh("nft list table netdev bulkhead | grep -q 'counter packets [1-9]'"), 0);

	/* and back */
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, NULL), 0);
	sh("nsenter -t %d -n ip neigh flush dev n0", (int)nb);
	ping_from(nb, "198.18.252.3", "198.18.252.1");
	assert_true(neigh_known(nb, "198.18.252.1"));

	/* without the option the table goes, in the same transaction */
	memset(&h, 0, sizeof(h));
	nft_hooks_set(nft, &h);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_int_not_equal(sh("nft list table netdev bulkhead >/dev/null 2>&1"), 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	agent_nft_free(nft);
}

/* The hypervisor's bridge table: while isolated, two VMs on one bridge no
 * longer reach each other, ARP included. */
static void test_bridge_family(void **state)
{
	struct conf_addr ctl;
	struct nft_mgmt mgmt = {&ctl, 1, 7443};
	struct nft_hooks h = {.bridge = true};
	struct agent_nft *nft;
	char digest[65], digest2[65];
	pid_t vm1, vm2;

	need_netns();
	vm1 = ns_child();
	vm2 = ns_child();
	assert_true(vm1 > 0 && vm2 > 0);
	assert_int_equal(
	    sh("ip link add vbr0 type bridge stp_state 0 forward_delay 0 && ip link set vbr0 up "
	       "&& ip link add vnet0 type veth peer name eth0 netns %d && "
	       "ip link add vnet1 type veth peer name eth0 netns %d && "
	       "ip link set vnet0 master vbr0 up && ip link set vnet1 master vbr0 up && "
	       "nsenter -t %d -n sh -c 'ip addr add 198.18.254.1/24 dev eth0 && ip link set "
	       "eth0 up' && nsenter -t %d -n sh -c 'ip addr add 198.18.254.2/24 dev eth0 && ip "
	       "link set eth0 up'",
	       (int)vm1, (int)vm2, (int)vm1, (int)vm2),
	    0);
	assert_int_equal(conf_addr_parse("198.18.0.1", &ctl), 0);
	nft = agent_nft_new(false);
	assert_non_null(nft);
	nft_hooks_set(nft, &h);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	assert_true(ping_ok(vm1, NULL, "198.18.254.2"));

	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, NULL), 0);
	sh("nsenter -t %d -n ip neigh flush dev eth0", (int)vm1);
	assert_false(ping_from(vm1, NULL, "198.18.254.2"));
	assert_false(ping_from(vm2, NULL, "198.18.254.1"));
	assert_false(neigh_known(vm1, "198.18.254.2"));
	/* the guard's digest covers the bridge table */
	assert_int_equal(nft_table_digest(nft, digest), 0);
	assert_int_equal(sh("nft flush chain bridge bulkhead isolate_fwd"), 0);
	assert_int_equal(nft_table_digest(nft, digest2), 0);
	assert_string_not_equal(digest, digest2);
	assert_true(ping_ok(vm1, NULL, "198.18.254.2"));

	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_false(ping_from(vm1, NULL, "198.18.254.2"));
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, NULL), 0);
	assert_true(ping_ok(vm1, NULL, "198.18.254.2"));
	/* the switch profile: forward stays empty when isolated */
	memset(&h, 0, sizeof(h));
	h.no_forward = true;
	nft_hooks_set(nft, &h);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_int_equal(sh("nft list chain inet bulkhead input | grep -q 'jump isolate_in'"), 0);
	assert_int_not_equal(
	    sh("nft list chain inet bulkhead forward | grep -q 'jump isolate_fwd'"), 0);
	assert_int_not_equal(sh("nft list table bridge bulkhead >/dev/null 2>&1"), 0);
	agent_nft_free(nft);
}

/* --- profiles: the shipped files, and what a broken one says --- */

struct errs {
	char text[8][256];
	int n;
};

static void errs_collect(void *arg, const char *msg)
{
	struct errs *e = arg;

	if (e->n < 8)
		snprintf(e->text[e->n++], sizeof(e->text[0]), "%s", msg);
}

static void test_profiles_shipped(void **state)
{
	const char *root = getenv("BH_SOURCE_ROOT");
	char dir[4096];
	struct profile p;

	if (!root)
		skip();
	snprintf(dir, sizeof(dir), "%s/hw-profiles", root);
	assert_int_equal(profile_load(&p, dir, true, "linux-server", NULL, NULL), 0);
	assert_string_equal(p.ops->name, "linux-server");
	assert_false(p.netdev_ingress);
	assert_true(link_match("eth1", &p.data) && link_match("mgmt0", &p.management));
	assert_null(p.ops->port_check);
	profile_clear(&p);
	assert_int_equal(profile_load(&p, dir, true, "hypervisor", NULL, NULL), 0);
	assert_true(p.bridge);
	assert_true(link_match("vnet3", &p.data) && !link_match("eth0", &p.data));
	profile_clear(&p);
	assert_int_equal(profile_load(&p, dir, true, "linux-switch", NULL, NULL), 0);
	assert_int_equal(p.port_method, HOLD_LINK_DOWN);
	assert_true(link_match("swp3", &p.host_facing) && link_match("swp49", &p.uplinks));
	assert_non_null(p.ops->port_check);
	profile_clear(&p);
}

static void test_profile_errors(void **state)
{
	char dir[] = "/tmp/bh-test-profile.XXXXXX", path[256], want[320];
	struct errs e = {0};
	struct profile p;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/linux-server.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("name: linux-server\nbridge: true\ninterfaces:\n  data: [\"eth*\", \"\"]\n"
	      "netdev_ingress: maybe\nport_isolation: link-down\n",
	      f);
	fclose(f);
	assert_int_equal(profile_load(&p, dir, true, "linux-server", errs_collect, &e), -1);
	assert_int_equal(e.n, 4);
	snprintf(want, sizeof(want), "%s:4:18: \"data\": expected an interface name or pattern",
		 path);
	assert_non_null(strstr(e.text[0], want));
	snprintf(want, sizeof(want), "%s:5:17: \"netdev_ingress\": expected true or false", path);
	assert_non_null(strstr(e.text[1], want));
	snprintf(want, sizeof(want), "%s:2:9: \"bridge\" is not an option of kind linux-server",
		 path);
	assert_string_equal(e.text[2], want);
	snprintf(want, sizeof(want),
		 "%s:6:17: \"port_isolation\" is not an option of kind linux-server", path);
	assert_string_equal(e.text[3], want);

	/* an unknown kind, a name that is not the file's */
	f = fopen(path, "w");
	fputs("name: server\nkind: mainframe\n", f);
	fclose(f);
	memset(&e, 0, sizeof(e));
	assert_int_equal(profile_load(&p, dir, true, "linux-server", errs_collect, &e), -1);
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.text[0], ":2:7: unknown profile kind \"mainframe\""));
	/* a custom profile of a known kind loads; missing files: built-in only
	 * where profile_dir was not set */
	snprintf(path, sizeof(path), "%s/rack7.yaml", dir);
	f = fopen(path, "w");
	fputs("name: rack7\nkind: linux-switch\nport_isolation: bridge-block\n"
	      "interfaces: {host_facing: [\"swp*\"]}\n",
	      f);
	fclose(f);
	assert_int_equal(profile_load(&p, dir, true, "rack7", NULL, NULL), 0);
	assert_string_equal(p.ops->name, "linux-switch");
	assert_int_equal(p.port_method, HOLD_PORT_BLOCK);
	profile_clear(&p);
	unlink(path);
	memset(&e, 0, sizeof(e));
	assert_int_equal(profile_load(&p, dir, true, "hypervisor", errs_collect, &e), -1);
	assert_non_null(strstr(e.text[0], "hypervisor.yaml: No such file or directory"));
	assert_int_equal(profile_load(&p, dir, false, "hypervisor", NULL, NULL), 0);
	assert_string_equal(p.source, "built-in");
	profile_clear(&p);
	memset(&e, 0, sizeof(e));
	assert_int_equal(profile_load(&p, dir, false, "nosuch", errs_collect, &e), -1);
	assert_non_null(strstr(e.text[0], "not a built-in kind either"));
	snprintf(path, sizeof(path), "%s/linux-server.yaml", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_link_down_up),     cmocka_unit_test(test_link_route),
	    cmocka_unit_test(test_brport_block),     cmocka_unit_test(test_48_ports),
	    cmocka_unit_test(test_netdev_arp),	     cmocka_unit_test(test_bridge_family),
	    cmocka_unit_test(test_profiles_shipped), cmocka_unit_test(test_profile_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
