/* The agent's nftables table, installed and switched in a private network
 * namespace and checked through `nft list` and real traffic. Needs root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "bulkhead/conf.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "nft.h"

#define LIST_CMD "nft list table inet " NFT_TABLE_NAME " 2>&1"
#define CTL_PORT 7443
#define APPLY_RUNS 200

static int have_netns;
static struct agent_nft *nft;
static struct conf_addr ctls[2];
static struct nft_mgmt mgmt = {ctls, 2, CTL_PORT};
static char listing[16384];

static void addr_set(struct conf_addr *a, int family, const char *text)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	assert_int_equal(inet_pton(family, text, &a->a), 1);
	snprintf(a->text, sizeof(a->text), "%s", text);
}

static int lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return rc;
}

/* Everything after this runs in a namespace of our own: the host's
 * firewall is never touched. */
static int group_setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		return 0;
	if (lo_up() < 0 || system("nft --version >/dev/null 2>&1") != 0)
		return 0;
	nft = agent_nft_new(false);
	have_netns = nft != NULL;
	addr_set(&ctls[0], AF_INET, "198.18.0.1");
	addr_set(&ctls[1], AF_INET6, "2001:2::1");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	agent_nft_free(nft);
	return 0;
}

static void need_netns(void)
{
	if (!have_netns)
		skip();
}

static const char *list_table(void)
{
	FILE *p = popen(LIST_CMD, "r");
	size_t len;

	assert_non_null(p);
	len = fread(listing, 1, sizeof(listing) - 1, p);
	listing[len] = '\0';
	pclose(p);
	return listing;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void assert_jumps(int expected)
{
	const char *l = list_table();

	assert_int_equal(count(l, "jump isolate_in"), expected);
	assert_int_equal(count(l, "jump isolate_out"), expected);
	assert_int_equal(count(l, "jump isolate_fwd"), expected);
	assert_null(strstr(l, "unknown"));
}

static void test_install_readable(void **state)
{
	static const char *const want[] = {
	    "type filter hook input priority filter; policy accept;",
	    "type filter hook output priority filter; policy accept;",
	    "type filter hook forward priority filter; policy accept;",
	    "iif \"lo\" accept",
	    "ip saddr 198.18.0.1 tcp sport 7443 accept",
	    "ip6 saddr 2001:2::1 tcp sport 7443 accept",
	    "oif \"lo\" accept",
	    "ip daddr 198.18.0.1 tcp dport 7443 accept",
	    "ip6 daddr 2001:2::1 tcp dport 7443 accept",
	    "chain isolate_fwd {\n\t\tcounter packets 0 bytes 0 drop\n\t}",
	};
	const char *l;
	size_t i;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	l = list_table();
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(l, want[i]))
			fail_msg("missing \"%s\" in:\n%s", want[i], l);
	}
	/* isolate_in/out and policy_in/out each keep ND; all six chains end in drop. */
	assert_int_equal(count(l, "icmpv6 type nd-neighbor-solicit accept"), 4);
	assert_int_equal(count(l, "icmpv6 type nd-neighbor-advert accept"), 4);
	assert_int_equal(count(l, "counter packets 0 bytes 0 drop"), 6);
	assert_non_null(strstr(l, "ip saddr . meta l4proto . th dport @allow_in4 accept"));
	assert_non_null(strstr(l, "ip6 daddr @ping_out6 icmpv6 type echo-request accept"));
	assert_non_null(strstr(l, "ct state established,related accept"));
	assert_null(strstr(l, "unknown"));
	assert_null(strstr(l, "jump"));
}

static void test_mode_switch(void **state)
{
	uint64_t us = 0;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), 0);
	assert_true(us > 0);
	assert_jumps(1);
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, &us), 0);
	assert_jumps(0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), 0);
	assert_jumps(1);
	assert_int_equal(nft_mode_apply(nft, MODE_SEGMENTED, &us), 0);
	assert_jumps(0);
	assert_int_equal(nft_mode_apply(nft, 7, &us), -EINVAL);
}

static void test_reinstall_keeps_one_jump(void **state)
{
	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_jumps(1);
}

static void test_table_deleted(void **state)
{
	uint64_t us;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	assert_int_equal(system("nft delete table inet " NFT_TABLE_NAME), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), -ENOENT);
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, &us), -ENOENT);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_jumps(1);
}

/* One failing jump aborts the whole transaction: the flushes before it
 * do not take effect either. */
static void test_chain_deleted_is_atomic(void **state)
{
	uint64_t us;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), 0);
	assert_int_equal(system("nft flush chain inet " NFT_TABLE_NAME " forward && "
				"nft delete chain inet " NFT_TABLE_NAME " isolate_fwd"),
			 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), -ENOENT);
	list_table();
	assert_int_equal(count(listing, "jump isolate_in"), 1);
	assert_int_equal(count(listing, "jump isolate_fwd"), 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_jumps(1);
}

/* 0 if a TCP connection to 127.0.0.1 completes within a second. */
static int lo_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd = {.fd = cs, .events = POLLOUT};
	int err = -1;

	if (ls < 0 || cs < 0 || bind(ls, (struct sockaddr *)&sa, salen) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &salen) < 0)
		goto out;
	if (connect(cs, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS)
		goto out;
	if (poll(&pfd, 1, 1000) == 1) {
		salen = sizeof(err);
		getsockopt(cs, SOL_SOCKET, SO_ERROR, &err, &salen);
	}
out:
	if (ls >= 0)
		close(ls);
	if (cs >= 0)
		close(cs);
	return err;
}

/* errno of one UDP datagram to a neighbour on a veth, 0 if it left. */
static int udp_send_errno(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	assert_true(fd >= 0);
	inet_pton(AF_INET, "198.18.9.2", &sa.sin_addr);
	if (sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = errno;
	close(fd);
	return err;
}

static void test_real_filtering(void **state)
{
	uint64_t us;

	(void)state;
	need_netns();
	assert_int_equal(system("ip link add bhv0 type veth peer name bhv1 && "
				"ip addr add 198.18.9.1/24 dev bhv0 && "
				"ip link set bhv0 up && ip link set bhv1 up"),
			 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	assert_int_equal(udp_send_errno(), 0);
	assert_int_equal(lo_connect(), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), 0);
	/* A packet dropped at the output hook fails the send with EPERM. */
	assert_int_equal(udp_send_errno(), EPERM);
	assert_int_equal(lo_connect(), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, &us), 0);
	assert_int_equal(udp_send_errno(), 0);
	assert_int_equal(system("ip link del bhv0"), 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void test_apply_timing(void **state)
{
	static uint64_t us[APPLY_RUNS];
	int i;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN, NULL), 0);
	for (i = 0; i < APPLY_RUNS; i++)
		assert_int_equal(nft_mode_apply(nft, i % 2 ? MODE_OPEN : MODE_ISOLATED, &us[i]), 0);
	qsort(us, APPLY_RUNS, sizeof(us[0]), cmp_u64);
	print_message("nft_mode_apply over %d runs: median %llu us, min %llu us, max %llu us\n",
		      APPLY_RUNS, (unsigned long long)us[APPLY_RUNS / 2], (unsigned long long)us[0],
		      (unsigned long long)us[APPLY_RUNS - 1]);
}

/* The digest follows what the kernel holds: stable across a reinstall,
 * changed by someone else's rule, and ENOENT without the table. */
static void test_digest(void **state)
{
	char d1[65], d2[65], d3[65];

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_int_equal(nft_table_digest(nft, d1), 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED, NULL), 0);
	assert_int_equal(nft_table_digest(nft, d2), 0);
	assert_string_equal(d1, d2);
	/* An element slipped into an allow set is a change too. */
	assert_int_equal(system("nft add element inet bulkhead allow_in4 "
				"'{ 198.18.9.9 . tcp . 22 }'"),
			 0);
	assert_int_equal(nft_table_digest(nft, d3), 0);
	assert_string_not_equal(d1, d3);
	assert_int_equal(system("nft add rule inet bulkhead isolate_in accept"), 0);
	assert_int_equal(nft_table_digest(nft, d2), 0);
	assert_string_not_equal(d3, d2);
	memcpy(d3, d2, sizeof(d3));
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, NULL), 0);
	assert_int_equal(nft_table_digest(nft, d2), 0);
	assert_string_not_equal(d3, d2);
	assert_int_equal(system("nft delete table inet bulkhead"), 0);
	assert_int_equal(nft_table_digest(nft, d3), -ENOENT);
}

/* For every host of the example site, the table the agent builds lists
 * exactly like `bulkhead render` loaded with nft -f. */
static void test_policy_matches_render(void **state)
{
	const char *src = getenv("BH_SOURCE_ROOT");
	char dir[4096], cmd[8192], tmp[64];
	struct policy *p;
	size_t i, n;

	(void)state;
	need_netns();
	snprintf(dir, sizeof(dir), "%s/policies", src ? src : ".");
	p = policy_load(dir, conf_error_stderr, NULL, NULL);
	assert_non_null(p);
	n = policy_host_count(p);
	assert_true(n >= 40);
	for (i = 0; i < n; i++) {
		struct host_policy *hp = policy_host_compile(p, policy_host_name(p, i));
		struct nft_mgmt m = {hp->controllers, hp->ncontrollers, hp->port};
		FILE *f;

		snprintf(tmp, sizeof(tmp), "/tmp/bh-test-%d", (int)getpid());
		snprintf(cmd, sizeof(cmd), "%s.nft", tmp);
		f = fopen(cmd, "w");

		assert_non_null(f);
		host_policy_render(hp, f);
		fclose(f);
		assert_int_equal(nft_table_install(nft, &m, MODE_SEGMENTED, hp), 0);
		/* The rendered text, loaded by nft in a namespace of its own. */
		snprintf(
		    cmd, sizeof(cmd),
		    "nft list table inet bulkhead > %s.agent && "
		    "unshare -n sh -c 'nft -f %s.nft && nft list table inet bulkhead' > %s.render "
		    "&& cmp -s %s.agent %s.render",
		    tmp, tmp, tmp, tmp, tmp);
		if (system(cmd) != 0)
			fail_msg("host %s: the agent's table differs from bulkhead render "
				 "(diff %s.agent %s.render)",
				 hp->host, tmp, tmp);
		host_policy_free(hp);
	}
	print_message("%zu hosts: agent table == rendered table\n", n);
	policy_free(p);
	snprintf(cmd, sizeof(cmd), "rm -f %s.nft %s.agent %s.render", tmp, tmp, tmp);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_digest),
	    cmocka_unit_test(test_install_readable),
	    cmocka_unit_test(test_mode_switch),
	    cmocka_unit_test(test_reinstall_keeps_one_jump),
	    cmocka_unit_test(test_table_deleted),
	    cmocka_unit_test(test_chain_deleted_is_atomic),
	    cmocka_unit_test(test_real_filtering),
	    cmocka_unit_test(test_apply_timing),
	    cmocka_unit_test(test_policy_matches_render),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
