/* lib/policy*.c: what a host's policy compiles to. Ranges merge, ports
 * merge and split into disjoint elements, families stay apart, expired rules
 * drop out, and the render prints each element as nft does, whether from
 * the compiler or from the elements alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "bulkhead/policy.h"
#include "bulkhead/wire.h"

#define MAX_MSGS 32

struct msgs {
	char *msg[MAX_MSGS];
	int n;
};

static char tmpdir[] = "/tmp/bulkhead-test-policy-XXXXXX";
static struct msgs errs, warns; /* global so that a failed test's messages are still freed */
static long today;

static const char *const site_files[] = {"inventory.yaml", "groups.yaml", "services.yaml",
					 "rules.yaml", "management.yaml"};

static void msgs_collect(void *arg, const char *msg)
{
	struct msgs *m = arg;

	if (m->n < MAX_MSGS)
		m->msg[m->n] = strdup(msg);
	m->n++;
}

static void msgs_free(struct msgs *m)
{
	int i;

	for (i = 0; i < m->n && i < MAX_MSGS; i++)
		free(m->msg[i]);
	m->n = 0;
}

static void warn_collect(void *arg, const char *msg)
{
	(void)arg;
	msgs_collect(&warns, msg);
}

static void file_write(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static const char mgmt_default[] = "management:\n"
				   "  controllers: [198.18.0.10, \"2001:2::10\"]\n"
				   "  port: 7443\n"
				   "  collectors: [198.18.0.40]\n";

/* Writes a whole site and loads it; NULL texts get an empty but valid file. */
static struct policy *site_load(const char *inventory, const char *groups, const char *services,
				const char *rules)
{
	file_write("inventory.yaml", inventory);
	file_write("groups.yaml", groups != NULL ? groups : "groups: {}\n");
	file_write("services.yaml", services != NULL ? services : "services: {}\n");
	file_write("rules.yaml", rules != NULL ? rules : "rules: []\n");
	file_write("management.yaml", mgmt_default);
	return policy_load_at(tmpdir, today, msgs_collect, warn_collect, &errs);
}

static int group_setup(void **state)
{
	(void)state;
	if (policy_date_parse("2025-01-01", &today) == -1)
		return -1;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	char path[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(site_files) / sizeof(site_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, site_files[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

static int test_teardown(void **state)
{
	(void)state;
	msgs_free(&errs);
	msgs_free(&warns);
	return 0;
}

/* One element as render prints it, for compact assertions. */
static void elem_text(const struct policy_elem *e, char *buf, size_t size)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
	const char *proto = e->proto == IPPROTO_TCP    ? "tcp"
			    : e->proto == IPPROTO_UDP  ? "udp"
			    : e->proto == IPPROTO_ICMP ? "icmp"
						       : "icmpv6";

	inet_ntop(e->family, e->addr_lo, lo, sizeof(lo));
	inet_ntop(e->family, e->addr_hi, hi, sizeof(hi));
	snprintf(buf, size, "%s-%s %s %u-%u", lo, hi, proto, e->port_lo, e->port_hi);
}

static void elems_expect(const struct policy_elem *e, size_t n, const char *const *want,
			 size_t nwant)
{
	char got[128];
	size_t i;

	for (i = 0; i < n && i < nwant; i++) {
		elem_text(&e[i], got, sizeof(got));
		assert_string_equal(got, want[i]);
	}
	assert_int_equal(n, nwant);
}

/* A host "t" that the hosts named in clients reach on the services given. */
static const char inv_merge[] =
    "hosts:\n"
    "  - {name: t, addresses: [198.18.9.1], profile: p}\n"
    "  - {name: a1, addresses: [198.18.1.1], profile: p, labels: {c: y}}\n"
    "  - {name: a2, addresses: [198.18.1.2], profile: p, labels: {c: y}}\n"
    "  - {name: a3, addresses: [198.18.1.3], profile: p, labels: {c: y}}\n"
    "  - {name: a5, addresses: [198.18.1.5], profile: p, labels: {c: y}}\n"
    "  - {name: b0, addresses: [198.18.2.0], profile: p, labels: {c: y}}\n"
    "  - {name: b1, addresses: [198.18.2.1], profile: p, labels: {c: y}}\n"
    "  - {name: b2, addresses: [198.18.2.2], profile: p, labels: {c: y}}\n"
    "  - {name: b3, addresses: [198.18.2.3], profile: p, labels: {c: y}}\n";
static const char groups_ct[] = "groups:\n"
				"  clients: {match: {c: y}}\n"
				"  target: {hosts: [t]}\n";

/* Keeps the length of the one frame a small policy encodes to. */
static int frame_keep(const void *frame, int len, void *arg)
{
	(void)frame;
	*(int *)arg = len;
	return 0;
}

static void test_merge_address_ranges(void **state)
{
	static const char *const want_in[] = {
	    "198.18.1.1-198.18.1.3 tcp 443-443",
	    "198.18.1.5-198.18.1.5 tcp 443-443",
	    "198.18.2.0-198.18.2.3 tcp 443-443",
	};
	struct host_policy *hp;
	struct policy *p;
	char *text;
	size_t len;

	(void)state;
	p = site_load(inv_merge, groups_ct, "services: {https: [tcp/443]}\n",
		      "rules:\n"
		      "  - {from: clients, to: target, services: [https], comment: c}\n");
	assert_non_null(p);
	assert_int_equal(errs.n, 0);
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	elems_expect(hp->in, hp->nin, want_in, 3);
	assert_int_equal(hp->nout, 0);
	/* single address, a-b, and the range that is a prefix */
	text = host_policy_text(hp, &len);
	assert_non_null(strstr(text, "elements = { 198.18.1.1-198.18.1.3 . tcp . 443, "
				     "198.18.1.5 . tcp . 443, 198.18.2.0/30 . tcp . 443 }\n"));
	free(text);
	host_policy_free(hp);

	/* the other side: each client may reach t */
	hp = policy_host_compile(p, "a2");
	assert_non_null(hp);
	assert_int_equal(hp->nin, 0);
	assert_int_equal(hp->nout, 1);
	host_policy_free(hp);
	assert_null(policy_host_compile(p, "nobody"));
	policy_free(p);
}

static void test_merge_ports(void **state)
{
	static const char *const want_in[] = {
	    "198.18.1.1-198.18.1.3 tcp 80-100", "198.18.1.5-198.18.1.5 tcp 80-100",
	    "198.18.2.0-198.18.2.3 tcp 80-100", "198.18.1.1-198.18.1.3 udp 53-54",
	    "198.18.1.5-198.18.1.5 udp 53-54",	"198.18.2.0-198.18.2.3 udp 53-54",
	};
	struct host_policy *hp;
	struct policy *p;

	(void)state;
	/* overlapping and touching ranges from two services and two rules */
	p = site_load(inv_merge, groups_ct,
		      "services:\n"
		      "  web: [tcp/80, tcp/81-90, udp/53]\n"
		      "  more: [tcp/85-100, udp/54]\n",
		      "rules:\n"
		      "  - {from: clients, to: target, services: [web], comment: c}\n"
		      "  - {from: clients, to: target, services: [more], comment: c}\n");
	assert_non_null(p);
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	elems_expect(hp->in, hp->nin, want_in, 6);
	host_policy_free(hp);
	policy_free(p);
}

/* Elements must not overlap: the kernel refuses some overlapping intervals. */
static void elems_disjoint(const struct policy_elem *e, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			assert_false(e[i].family == e[j].family && e[i].proto == e[j].proto &&
				     memcmp(e[i].addr_lo, e[j].addr_hi, 16) <= 0 &&
				     memcmp(e[j].addr_lo, e[i].addr_hi, 16) <= 0 &&
				     e[i].port_lo <= e[j].port_hi && e[j].port_lo <= e[i].port_hi);
}

static void test_overlapping_ports_split(void **state)
{
	static const char *const want_in[] = {
	    "198.18.1.1-198.18.1.1 tcp 80-84",
	    "198.18.1.1-198.18.1.2 tcp 85-85",
	    "198.18.1.1-198.18.1.1 tcp 86-90",
	};
	struct host_policy *hp;
	struct policy *p;

	(void)state;
	p = site_load(inv_merge,
		      "groups:\n"
		      "  one: {hosts: [a1]}\n"
		      "  two: {hosts: [a2]}\n"
		      "  target: {hosts: [t]}\n",
		      "services: {wide: [tcp/80-90], narrow: [tcp/85]}\n",
		      "rules:\n"
		      "  - {from: one, to: target, services: [wide], comment: c}\n"
		      "  - {from: two, to: target, services: [narrow], comment: c}\n");
	assert_non_null(p);
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	elems_expect(hp->in, hp->nin, want_in, 3);
	elems_disjoint(hp->in, hp->nin);
	host_policy_free(hp);
	policy_free(p);
}

static void test_families(void **state)
{
	static const char *const want_in[] = {
	    "198.18.1.1-198.18.1.1 tcp 22-22",
	    "198.18.1.1-198.18.1.1 icmp 0-0",
	    "2001:2:0:1::1-2001:2:0:1::2 tcp 22-22",
	    "2001:2:0:1::1-2001:2:0:1::2 icmpv6 0-0",
	};
	static const char *const want_v4only[] = {
	    "198.18.1.1-198.18.1.1 tcp 22-22",
	    "198.18.1.1-198.18.1.1 icmp 0-0",
	};
	struct host_policy *hp;
	struct policy *p;
	char *text;
	size_t len;

	(void)state;
	p = site_load("hosts:\n"
		      "  - {name: t, addresses: [198.18.9.1, \"2001:2:0:9::1\"], profile: p}\n"
		      "  - {name: t4, addresses: [198.18.9.2], profile: p}\n"
		      "  - {name: a, addresses: [198.18.1.1, \"2001:2:0:1::1\"], profile: p,\n"
		      "     labels: {c: y}}\n"
		      "  - {name: b, addresses: [\"2001:2:0:1::2\"], profile: p, labels: {c: y}}\n",
		      "groups:\n"
		      "  clients: {match: {c: y}}\n"
		      "  targets: {hosts: [t, t4]}\n",
		      "services: {ssh: [tcp/22], ping: [icmp]}\n",
		      "rules:\n"
		      "  - {from: clients, to: targets, services: [ssh, ping], comment: c}\n");
	assert_non_null(p);
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	elems_expect(hp->in, hp->nin, want_in, 4);
	text = host_policy_text(hp, &len);
	assert_non_null(strstr(text, "\tset ping_in6 {\n"
				     "\t\ttype ipv6_addr\n"
				     "\t\tflags interval\n"
				     "\t\telements = { 2001:2:0:1::1-2001:2:0:1::2 }\n"
				     "\t}\n"));
	assert_non_null(strstr(text, "\tset ping_out4 {\n"
				     "\t\ttype ipv4_addr\n"
				     "\t\tflags interval\n"
				     "\t}\n"));
	free(text);
	host_policy_free(hp);
	/* a host without IPv6 gets no IPv6 elements */
	hp = policy_host_compile(p, "t4");
	assert_non_null(hp);
	elems_expect(hp->in, hp->nin, want_v4only, 2);
	host_policy_free(hp);
	/* b, IPv6 only, may reach both addresses of t but only t4's IPv4 one: none */
	hp = policy_host_compile(p, "b");
	assert_non_null(hp);
	assert_int_equal(hp->nout, 2);
	assert_int_equal(hp->out[0].family, AF_INET6);
	host_policy_free(hp);
	policy_free(p);
}

static void test_expiry(void **state)
{
	static const char rules[] =
	    "rules:\n"
	    "  - {from: clients, to: target, services: [https], comment: c,\n"
	    "     expires: 2025-01-01}\n"
	    "  - {from: clients, to: target, services: [ssh], comment: old,\n"
	    "     expires: 2024-12-31}\n";
	struct host_policy *hp;
	struct policy *p;

	(void)state;
	p = site_load(inv_merge, groups_ct, "services: {https: [tcp/443], ssh: [tcp/22]}\n", rules);
	assert_non_null(p);
	assert_int_equal(errs.n, 0);
	assert_int_equal(warns.n, 2);
	assert_non_null(strstr(warns.msg[0], "rules.yaml:3:15: warning: rule expires today"));
	assert_non_null(
	    strstr(warns.msg[1], "rules.yaml:5:15: warning: rule expired on 2024-12-31"));
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	assert_int_equal(hp->nin, 3); /* https only, on three ranges */
	assert_int_equal(hp->in[0].port_lo, 443);
	host_policy_free(hp);
	policy_free(p);
	msgs_free(&warns);

	/* on the day after, nothing is left */
	p = policy_load_at(tmpdir, today + 1, msgs_collect, NULL, &errs);
	assert_non_null(p);
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	assert_int_equal(hp->nin, 0);
	host_policy_free(hp);
	policy_free(p);
}

static void test_networks(void **state)
{
	static const char *const want_out[] = {
	    "198.19.0.0-198.19.127.255 tcp 443-443",
	    "198.19.128.1-198.19.128.1 tcp 443-443",
	};
	struct policy_verdict v;
	struct host_policy *hp;
	struct policy *p;
	char *text;
	size_t len;

	(void)state;
	p = site_load(inv_merge,
		      "groups:\n"
		      "  target: {hosts: [t]}\n"
		      "  internet: {networks: [198.19.0.0/17, 198.19.128.1]}\n",
		      "services: {https: [tcp/443]}\n",
		      "rules:\n"
		      "  - {from: target, to: internet, services: [https], comment: out}\n");
	assert_non_null(p);
	hp = policy_host_compile(p, "t");
	assert_non_null(hp);
	elems_expect(hp->out, hp->nout, want_out, 2);
	text = host_policy_text(hp, &len);
	assert_non_null(strstr(text, "198.19.0.0/17 . tcp . 443, 198.19.128.1 . tcp . 443 }"));
	free(text);
	host_policy_free(hp);
	assert_int_equal(policy_explain(p, "t", "198.19.3.4", IPPROTO_TCP, 443, &v), 0);
	assert_true(v.allowed);
	assert_int_equal(v.line, 2);
	assert_string_equal(v.comment, "out");
	assert_int_equal(policy_explain(p, "t", "198.19.200.1", IPPROTO_TCP, 443, &v), 0);
	assert_false(v.allowed);
	assert_int_equal(policy_explain(p, "t", "not-a-host", IPPROTO_TCP, 443, &v), -1);
	policy_free(p);
}

/* The text a host's elements render to on their own, as an agent renders
 * a policy it received, is the one policy_host_compile wrote as it folded
 * them, with each group's ranges printed once and the ranges that a merge
 * makes printed where it makes them. */
static void text_matches_elements(const struct host_policy *hp)
{
	struct host_policy copy = *hp;
	size_t len;
	char *text;

	copy.text = NULL;
	text = host_policy_text(&copy, &len);
	assert_int_equal(len, hp->textlen);
	assert_memory_equal(text, hp->text, len);
	free(text);
}

static void test_text_from_elements(void **state)
{
	static const char *const hosts[] = {"t", "a1", "a2", "a3"};
	struct host_policy *hp;
	struct policy *p;
	size_t i;

	(void)state;
	p = site_load("hosts:\n"
		      "  - {name: t, addresses: [198.18.9.1, \"2001:2:0:9::1\"], profile: p}\n"
		      "  - {name: a1, addresses: [198.18.1.1, \"2001:2:0:1::1\"], profile: p}\n"
		      "  - {name: a2, addresses: [198.18.1.2], profile: p}\n"
		      "  - {name: a3, addresses: [198.18.1.3], profile: p}\n",
		      "groups:\n"
		      "  one: {hosts: [a1, a3]}\n"
		      "  two: {hosts: [a2]}\n"
		      "  target: {hosts: [t]}\n"
		      "  lan: {networks: [198.19.0.0/25, \"2001:3::/64\"]}\n"
		      "  lan2: {networks: [198.19.0.128/25, \"2001:3:0:1::/64\"]}\n",
		      "services: {wide: [tcp/80-90], narrow: [tcp/85], https: [tcp/443],\n"
		      "           ping: [icmp]}\n",
		      "rules:\n"
		      "  - {from: one, to: target, services: [wide, ping], comment: c}\n"
		      "  - {from: two, to: target, services: [narrow, ping], comment: c}\n"
		      "  - {from: target, to: lan, services: [https], comment: c}\n"
		      "  - {from: target, to: lan2, services: [https], comment: c}\n");
	assert_non_null(p);
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		hp = policy_host_compile(p, hosts[i]);
		assert_non_null(hp);
		text_matches_elements(hp);
		if (i > 0) {
			host_policy_free(hp);
			continue;
		}
		/* a1 and a3 as the group prints them; a2 joins them on port 85 */
		assert_non_null(strstr(hp->text,
				       "elements = { 198.18.1.1 . tcp . 80-84, "
				       "198.18.1.3 . tcp . 80-84, "
				       "198.18.1.1-198.18.1.3 . tcp . 85, "
				       "198.18.1.1 . tcp . 86-90, 198.18.1.3 . tcp . 86-90 }\n"));
		assert_non_null(strstr(hp->text, "elements = { 198.18.1.1-198.18.1.3 }\n"));
		/* two groups' networks, merged into one prefix of each family */
		assert_non_null(strstr(hp->text, "elements = { 198.19.0.0/24 . tcp . 443 }\n"));
		assert_non_null(strstr(hp->text, "elements = { 2001:3::/63 . tcp . 443 }\n"));
		host_policy_free(hp);
	}
	policy_free(p);
}

/* Rule order and repetition do not change what a host gets. */
static void test_deterministic(void **state)
{
	struct host_policy *a, *b;
	struct policy *p;
	char hash[65];

	(void)state;
	p = site_load(inv_merge, groups_ct, "services: {https: [tcp/443], ssh: [tcp/22]}\n",
		      "rules:\n"
		      "  - {from: clients, to: target, services: [https], comment: c}\n"
		      "  - {from: clients, to: target, services: [ssh], comment: c}\n");
	assert_non_null(p);
	a = policy_host_compile(p, "t");
	assert_non_null(a);
	snprintf(hash, sizeof(hash), "%s", a->hash);
	policy_free(p);
	p = site_load(inv_merge, groups_ct, "services: {https: [tcp/443], ssh: [tcp/22]}\n",
		      "rules:\n"
		      "  - {from: clients, to: target, services: [ssh, https], comment: c}\n"
		      "  - {from: clients, to: target, services: [https], comment: again}\n");
	assert_non_null(p);
	b = policy_host_compile(p, "t");
	assert_non_null(b);
	assert_int_equal(a->nin, b->nin);
	assert_memory_equal(a->in, b->in, a->nin * sizeof(*a->in));
	assert_string_equal(hash, b->hash);
	assert_int_equal(strlen(b->hash), 64);
	host_policy_free(a);
	host_policy_free(b);
	policy_free(p);
}

static void test_explain_matches_sets(void **state)
{
	static const uint16_t ports[] = {22, 79, 80, 81, 85, 90, 91, 443, 5432};
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
	static const char *const hosts[] = {"t", "a1", "a2", "a3", "a5", "b0"};
	static const char *const addrs[] = {"198.18.9.1", "198.18.1.1", "198.18.1.2",
					    "198.18.1.3", "198.18.1.5", "198.18.2.0"};
	struct host_policy *hp[6];
	struct policy_verdict v;
	struct policy *p;
	uint8_t a[16], b[16];
	size_t i, j, k, l;
	int in, out;

	(void)state;
	p = site_load(inv_merge,
		      "groups:\n"
		      "  one: {hosts: [a1, a3]}\n"
		      "  two: {hosts: [a2, a3, b0]}\n"
		      "  both: {groups: [one, two]}\n"
		      "  target: {hosts: [t]}\n",
		      "services: {wide: [tcp/80-90], narrow: [tcp/85, udp/85], ping: [icmp]}\n",
		      "rules:\n"
		      "  - {from: one, to: target, services: [wide], comment: c}\n"
		      "  - {from: two, to: one, services: [narrow, ping], comment: c}\n"
		      "  - {from: target, to: both, services: [wide], comment: c}\n"
		      "  - {from: both, to: two, services: [ping], comment: c}\n");
	assert_non_null(p);
	for (i = 0; i < 6; i++) {
		hp[i] = policy_host_compile(p, hosts[i]);
		assert_non_null(hp[i]);
	}
	/* every pair, protocol and port: explain, i's out set and j's in set agree */
	for (i = 0; i < 6; i++) {
		assert_int_equal(inet_pton(AF_INET, addrs[i], a), 1);
		for (j = 0; j < 6; j++) {
			assert_int_equal(inet_pton(AF_INET, addrs[j], b), 1);
			for (k = 0; k < sizeof(protos); k++) {
				for (l = 0; l < sizeof(ports) / sizeof(ports[0]); l++) {
					assert_int_equal(policy_explain(p, hosts[i], hosts[j],
									protos[k], ports[l], &v),
							 0);
					in = host_policy_allows(hp[j], POLICY_IN, AF_INET, a,
								protos[k], ports[l]);
					out = host_policy_allows(hp[i], POLICY_OUT, AF_INET, b,
								 protos[k], ports[l]);
					assert_int_equal(v.allowed, in);
					assert_int_equal(v.allowed, out);
				}
			}
		}
	}
	for (i = 0; i < 6; i++) {
		elems_disjoint(hp[i]->in, hp[i]->nin);
		elems_disjoint(hp[i]->out, hp[i]->nout);
		host_policy_free(hp[i]);
	}
	policy_free(p);
}

/* Errors come sorted by file, line and column, whatever found them. */
static void test_errors_in_file_order(void **state)
{
	struct policy *p;
	char want[640];

	(void)state;
	p = site_load("hosts:\n"
		      "  - {name: t, addresses: [198.18.9.1]}\n",
		      "groups:\n"
		      "  g: {hosts: [t, u]}\n",
		      "services: {x: [tcp/0]}\n",
		      "rules:\n"
		      "  - {from: g, to: h, services: [x], comment: c}\n");
	assert_null(p);
	assert_int_equal(errs.n, 4);
	snprintf(want, sizeof(want), "%s/inventory.yaml:2:5: host \"t\" has no profile", tmpdir);
	assert_string_equal(errs.msg[0], want);
	snprintf(want, sizeof(want), "%s/groups.yaml:2:18: unknown host \"u\"", tmpdir);
	assert_string_equal(errs.msg[1], want);
	snprintf(want, sizeof(want),
		 "%s/services.yaml:1:16: service \"x\": \"tcp/0\": port out of range "
		 "(expected 1..65535)",
		 tmpdir);
	assert_string_equal(errs.msg[2], want);
	snprintf(want, sizeof(want), "%s/rules.yaml:2:19: unknown group \"h\"", tmpdir);
	assert_string_equal(errs.msg[3], want);
}

static void test_dates(void **state)
{
	char buf[32];
	long d;

	(void)state;
	assert_int_equal(policy_date_parse("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(policy_date_parse("2024-02-29", &d), 0);
	policy_date_format(d, buf);
	assert_string_equal(buf, "2024-02-29");
	assert_int_equal(policy_date_parse("2023-02-29", &d), -1);
	assert_int_equal(policy_date_parse("2100-02-29", &d), -1);
	assert_int_equal(policy_date_parse("2000-02-29", &d), 0);
	assert_int_equal(policy_date_parse("2025-13-01", &d), -1);
	assert_int_equal(policy_date_parse("2025-1-01", &d), -1);
	assert_int_equal(policy_date_parse("2025-01-01x", &d), -1);
	assert_int_equal(policy_date_parse("", &d), -1);
}

/* on_controller_loss: a host takes the shortest time of its groups, the
 * render carries it (so the hash does), and the wire brings it to the agent. */
static void test_deadman(void **state)
{
	static char buf[WIRE_MAX_FRAME];
	struct host_policy *t, *a1, *got;
	struct policy_wire_rx *rx;
	struct wire_frame f;
	struct policy *p;
	const char *err;
	int len;

	(void)state;
	p = site_load(inv_merge,
		      "groups:\n"
		      "  clients: {match: {c: y}, on_controller_loss: isolate-after 15m}\n"
		      "  some: {hosts: [a1, t], on_controller_loss: isolate-after 90s}\n"
		      "  target: {hosts: [t]}\n",
		      NULL, NULL);
	assert_non_null(p);
	assert_int_equal(errs.n, 0);
	t = policy_host_compile(p, "t");
	a1 = policy_host_compile(p, "a1");
	assert_int_equal(t->deadman_s, 90);
	assert_int_equal(a1->deadman_s, 90);
	host_policy_free(a1);
	a1 = policy_host_compile(p, "a2");
	assert_int_equal(a1->deadman_s, 900);
	assert_non_null(strstr(a1->text, "# bulkhead: on controller loss, isolate after 900 s\n"));
	/* The wire keeps it, and the hash check covers it. */
	rx = policy_wire_rx_new();
	len = 0;
	assert_int_equal(policy_wire_encode(a1, buf, frame_keep, &len), 0);
	assert_int_equal(wire_frame_decode(buf, (size_t)len, &f, &err), 0);
	assert_int_equal(policy_wire_rx_add(rx, &f, &err), 1);
	got = policy_wire_rx_take(rx);
	assert_int_equal(got->deadman_s, 900);
	assert_string_equal(got->hash, a1->hash);
	host_policy_free(got);
	policy_wire_rx_free(rx);
	host_policy_free(a1);
	host_policy_free(t);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_merge_address_ranges, test_teardown),
	    cmocka_unit_test_teardown(test_deadman, test_teardown),
	    cmocka_unit_test_teardown(test_merge_ports, test_teardown),
	    cmocka_unit_test_teardown(test_overlapping_ports_split, test_teardown),
	    cmocka_unit_test_teardown(test_families, test_teardown),
	    cmocka_unit_test_teardown(test_expiry, test_teardown),
	    cmocka_unit_test_teardown(test_networks, test_teardown),
	    cmocka_unit_test_teardown(test_text_from_elements, test_teardown),
	    cmocka_unit_test_teardown(test_deterministic, test_teardown),
	    cmocka_unit_test_teardown(test_explain_matches_sets, test_teardown),
	    cmocka_unit_test_teardown(test_errors_in_file_order, test_teardown),
	    cmocka_unit_test_teardown(test_dates, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
