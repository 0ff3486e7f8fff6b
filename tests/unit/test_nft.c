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
	    "type filter hook input priority -200; policy accept;",
	    "type filter hook output priority -200; policy accept;",
	    "type filter hook forward priority -200; policy accept;",
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
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN), 0);
	l = list_table();
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(l, want[i]))
			fail_msg("missing \"%s\" in:\n%s", want[i], l);
	}
	assert_int_equal(count(l, "icmpv6 type nd-neighbor-solicit accept"), 2);
	assert_int_equal(count(l, "icmpv6 type nd-neighbor-advert accept"), 2);
	assert_int_equal(count(l, "counter packets 0 bytes 0 drop"), 3);
	assert_null(strstr(l, "unknown"));
	assert_null(strstr(l, "jump"));
}

static void test_mode_switch(void **state)
{
	uint64_t us = 0;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN), 0);
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
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED), 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED), 0);
	assert_jumps(1);
}

static void test_table_deleted(void **state)
{
	uint64_t us;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN), 0);
	assert_int_equal(system("nft delete table inet " NFT_TABLE_NAME), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), -ENOENT);
	assert_int_equal(nft_mode_apply(nft, MODE_OPEN, &us), -ENOENT);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED), 0);
	assert_jumps(1);
}

/* One failing jump aborts the whole transaction: the flushes before it
 * do not take effect either. */
static void test_chain_deleted_is_atomic(void **state)
{
	uint64_t us;

	(void)state;
	need_netns();
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN), 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), 0);
	assert_int_equal(system("nft flush chain inet " NFT_TABLE_NAME " forward && "
				"nft delete chain inet " NFT_TABLE_NAME " isolate_fwd"),
			 0);
	assert_int_equal(nft_mode_apply(nft, MODE_ISOLATED, &us), -ENOENT);
	list_table();
	assert_int_equal(count(listing, "jump isolate_in"), 1);
	assert_int_equal(count(listing, "jump isolate_fwd"), 0);
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_ISOLATED), 0);
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
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN), 0);
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
	assert_int_equal(nft_table_install(nft, &mgmt, MODE_OPEN), 0);
	for (i = 0; i < APPLY_RUNS; i++)
		assert_int_equal(nft_mode_apply(nft, i % 2 ? MODE_OPEN : MODE_ISOLATED, &us[i]), 0);
	qsort(us, APPLY_RUNS, sizeof(us[0]), cmp_u64);
	print_message("nft_mode_apply over %d runs: median %llu us, min %llu us, max %llu us\n",
		      APPLY_RUNS, (unsigned long long)us[APPLY_RUNS / 2], (unsigned long long)us[0],
		      (unsigned long long)us[APPLY_RUNS - 1]);
}

static void test_hash(void **state)
{
	struct conf_addr a[2];
	struct nft_mgmt m = {a, 2, CTL_PORT}, none = {NULL, 0, CTL_PORT};
	char h[65];

	(void)state;
	addr_set(&a[0], AF_INET, "198.18.0.1");
	addr_set(&a[1], AF_INET6, "2001:2::1");
	/* printf 'mode=2\nport=7443\nctl=198.18.0.1\nctl=2001:2::1\n' | sha256sum */
	nft_ruleset_hash(&m, MODE_ISOLATED, h);
	assert_string_equal(h, "1d056ceea84a233abdc4577dd2eed963a9ce17c8b5fd10e9ddfb4ffa03d68206");
	/* printf 'mode=0\nport=7443\n' | sha256sum */
	nft_ruleset_hash(&none, MODE_OPEN, h);
	assert_string_equal(h, "d486541530bd713aa417af08b2731de8e2c41a1942d4daf1ea7620eb50caa2d6");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash),	   cmocka_unit_test(test_install_readable),
	    cmocka_unit_test(test_mode_switch),	   cmocka_unit_test(test_reinstall_keeps_one_jump),
	    cmocka_unit_test(test_table_deleted),  cmocka_unit_test(test_chain_deleted_is_atomic),
	    cmocka_unit_test(test_real_filtering), cmocka_unit_test(test_apply_timing),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
