/* The example site (policies/): it loads without a warning, keeps to the
 * benchmarking address ranges, renders the same rule skeleton for every
 * host, keeps the My Number vault closed, `explain` agrees with the
 * compiled sets for every pair of hosts on every service port, and every
 * host's elements render to the text that was compiled and hashed.
 * usage: test_policy_site [POLICY_DIR] (default: policies) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "bulkhead/policy.h"

static const char *site_dir = "policies";
static struct policy *site;
static struct host_policy **compiled;
static size_t nhosts;
static int nwarnings;

static void warn_count(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
	nwarnings++;
}

static int group_setup(void **state)
{
	long today;
	size_t i;

	(void)state;
	if (policy_date_parse("2025-01-01", &today) == -1)
		return -1;
	site = policy_load_at(site_dir, today, conf_error_stderr, warn_count, NULL);
	if (site == NULL)
		return -1;
	nhosts = policy_host_count(site);
	compiled = calloc(nhosts, sizeof(*compiled));
	if (compiled == NULL)
		return -1;
	for (i = 0; i < nhosts; i++)
		if ((compiled[i] = policy_host_compile(site, policy_host_name(site, i))) == NULL)
			return -1;
	return 0;
}

static int group_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < nhosts; i++)
		host_policy_free(compiled[i]);
	free(compiled);
	policy_free(site);
	return 0;
}

static void test_site_clean(void **state)
{
	struct policy_stats st;

	(void)state;
	assert_int_equal(nwarnings, 0);
	policy_stats_get(site, &st);
	assert_true(st.hosts >= 40);
	assert_int_equal(st.expired, 0);
}

/* 198.18.0.0/15 and 2001:2::/48, and nothing else. */
static int addr_allowed(int family, const uint8_t *a)
{
	static const uint8_t v6[6] = {0x20, 0x01, 0x00, 0x02, 0x00, 0x00};

	if (family == AF_INET)
		return a[0] == 198 && (a[1] & 0xfe) == 18;
	return memcmp(a, v6, sizeof(v6)) == 0;
}

static void elems_in_ranges(const struct policy_elem *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		assert_true(addr_allowed(e[i].family, e[i].addr_lo));
		assert_true(addr_allowed(e[i].family, e[i].addr_hi));
	}
}

static void test_site_addresses(void **state)
{
	const struct inv_host *h;
	size_t i;
	int j;

	(void)state;
	for (i = 0; i < nhosts; i++) {
		h = policy_host(site, i);
		assert_non_null(h);
		for (j = 0; j < h->naddrs; j++)
			assert_true(addr_allowed(h->addrs[j].family, h->addrs[j].a.v6));
		elems_in_ranges(compiled[i]->in, compiled[i]->nin);
		elems_in_ranges(compiled[i]->out, compiled[i]->nout);
		for (j = 0; j < compiled[i]->ncontrollers; j++)
			assert_true(addr_allowed(compiled[i]->controllers[j].family,
						 compiled[i]->controllers[j].a.v6));
		for (j = 0; j < compiled[i]->ncollectors; j++)
			assert_true(addr_allowed(compiled[i]->collectors[j].family,
						 compiled[i]->collectors[j].a.v6));
	}
}

static void test_site_rules_constant(void **state)
{
	size_t i, len, first = 0;
	char *text;

	(void)state;
	for (i = 0; i < nhosts; i++) {
		text = host_policy_text(compiled[i], &len);
		assert_int_equal(strlen(text), len);
		if (i == 0)
			first = host_policy_text_rules(text);
		assert_int_equal(host_policy_text_rules(text), first);
		free(text);
	}
	/* with 2 controllers and 2 collectors: 3 jumps; isolate_in and _out 10
	 * each (loopback; 4 for the management session, each controller seen
	 * from the host and from the controller's own host; 2 collectors; 2 ND;
	 * drop); isolate_fwd 1; policy_in and _out 15 each (those 9, ct state,
	 * 4 set lookups, drop); policy_fwd 1 */
	assert_int_equal(first, 55);
}

/* What an agent renders from the elements it received is what the
 * controller compiled and hashed. */
static void test_site_text_from_elements(void **state)
{
	struct host_policy copy;
	size_t i, len;
	char *text;

	(void)state;
	for (i = 0; i < nhosts; i++) {
		copy = *compiled[i];
		copy.text = NULL;
		text = host_policy_text(&copy, &len);
		assert_int_equal(len, compiled[i]->textlen);
		assert_memory_equal(text, compiled[i]->text, len);
		free(text);
	}
}

static int verdict(const char *from, const char *to, uint8_t proto, uint16_t port)
{
	struct policy_verdict v;

	assert_int_equal(policy_explain(site, from, to, proto, port, &v), 0);
	return v.allowed;
}

static void test_site_vault(void **state)
{
	(void)state;
	assert_true(verdict("v5-app01", "mn-api01", IPPROTO_TCP, 8200));
	assert_true(verdict("ce-app02", "mn-api02", IPPROTO_TCP, 8200));
	assert_false(verdict("hr-app01", "mn-api01", IPPROTO_TCP, 8200));
	assert_false(verdict("v5-web01", "mn-api01", IPPROTO_TCP, 8200));
	assert_true(verdict("mn-api01", "mn-db01", IPPROTO_TCP, 5432));
	assert_false(verdict("v5-app01", "mn-db01", IPPROTO_TCP, 5432));
	assert_false(verdict("bastion01", "mn-db01", IPPROTO_TCP, 22));
	assert_true(verdict("bastion02", "mn-db01", IPPROTO_TCP, 22));
	assert_false(verdict("backup01", "mn-db01", IPPROTO_TCP, 9102));
	assert_true(verdict("mn-backup01", "mn-db01", IPPROTO_TCP, 9102));
	assert_false(verdict("198.19.1.1", "mn-api01", IPPROTO_TCP, 8200));
	assert_true(verdict("198.19.1.1", "lb01", IPPROTO_TCP, 443));
	/* nothing opens a connection to the backup hosts */
	assert_false(verdict("v5-db01", "backup01", IPPROTO_TCP, 9102));
	assert_false(verdict("bastion01", "backup01", IPPROTO_TCP, 9102));
}

static const struct probe {
	uint8_t proto;
	uint16_t port;
} probes[] = {
    {IPPROTO_TCP, 22},	 {IPPROTO_TCP, 25},   {IPPROTO_TCP, 53},   {IPPROTO_UDP, 53},
    {IPPROTO_UDP, 123},	 {IPPROTO_UDP, 161},  {IPPROTO_TCP, 443},  {IPPROTO_TCP, 3389},
    {IPPROTO_TCP, 5432}, {IPPROTO_TCP, 5696}, {IPPROTO_TCP, 6514}, {IPPROTO_TCP, 7443},
    {IPPROTO_TCP, 8099}, {IPPROTO_TCP, 8100}, {IPPROTO_TCP, 8105}, {IPPROTO_TCP, 8109},
    {IPPROTO_TCP, 8110}, {IPPROTO_TCP, 8200}, {IPPROTO_TCP, 8443}, {IPPROTO_TCP, 9000},
    {IPPROTO_TCP, 9100}, {IPPROTO_TCP, 9102}, {IPPROTO_UDP, 9102}, {IPPROTO_ICMP, 0},
};

/* For every pair and probe: explain says the same as the destination's in
 * set and the source's out set, for every address pair of a shared family. */
static void test_site_explain_agrees(void **state)
{
	const struct inv_host *src, *dst;
	struct policy_verdict v;
	size_t i, j, k, checked = 0, allowed = 0;
	int a, b, in, out;
	uint8_t proto;

	(void)state;
	for (i = 0; i < nhosts; i++) {
		src = policy_host(site, i);
		for (j = 0; j < nhosts; j++) {
			dst = policy_host(site, j);
			for (k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
				assert_int_equal(policy_explain(site, src->name, dst->name,
								probes[k].proto, probes[k].port,
								&v),
						 0);
				allowed += (size_t)v.allowed;
				for (a = 0; a < src->naddrs; a++) {
					for (b = 0; b < dst->naddrs; b++) {
						int fam = src->addrs[a].family;

						if (fam != dst->addrs[b].family)
							continue;
						proto = probes[k].proto;
						if (proto == IPPROTO_ICMP && fam == AF_INET6)
							proto = IPPROTO_ICMPV6;
						in = host_policy_allows(compiled[j], POLICY_IN, fam,
									src->addrs[a].a.v6, proto,
									probes[k].port);
						out = host_policy_allows(compiled[i], POLICY_OUT,
									 fam, dst->addrs[b].a.v6,
									 proto, probes[k].port);
						if (in != v.allowed || out != v.allowed)
							fail_msg(
							    "%s -> %s proto %u port %u: explain "
							    "%d, in %d, out %d",
							    src->name, dst->name, proto,
							    probes[k].port, v.allowed, in, out);
						checked++;
					}
				}
			}
		}
	}
	/* the probes must exercise both answers */
	assert_true(allowed > 100);
	assert_true(checked > 50000);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_site_clean),
	    cmocka_unit_test(test_site_addresses),
	    cmocka_unit_test(test_site_rules_constant),
	    cmocka_unit_test(test_site_vault),
	    cmocka_unit_test(test_site_explain_agrees),
	    cmocka_unit_test(test_site_text_from_elements),
	};

	if (argc > 1)
		site_dir = argv[1];
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
