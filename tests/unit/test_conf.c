/* lib/conf.c: good files parse with their defaults, broken ones report every
 * error as exactly "file:line:col: message". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "bulkhead/conf.h"

#define MAX_ERRS 16
#define MAX_FILES 64

struct errs {
	char *msg[MAX_ERRS];
	int n;
};

static char tmpdir[] = "/tmp/bulkhead-test-conf-XXXXXX";
static struct errs errs; /* global so a failed test's messages are still freed */
static char *files[MAX_FILES];
static int nfiles;

static void errs_collect(void *arg, const char *msg)
{
	struct errs *e = arg;

	if (e->n < MAX_ERRS)
		e->msg[e->n] = strdup(msg);
	e->n++;
}

static void errs_free(struct errs *e)
{
	int i;

	for (i = 0; i < e->n && i < MAX_ERRS; i++)
		free(e->msg[i]);
	e->n = 0;
}

/* Writes text to name inside the test directory; returns the path. */
static const char *file_write(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_true(nfiles < MAX_FILES);
	files[nfiles] = strdup(path);
	return files[nfiles++];
}

/* Expected messages are written relative to the test directory. */
static void errs_expect(const struct errs *e, int i, const char *rel)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s/%s", tmpdir, rel);
	assert_true(i < e->n);
	assert_string_equal(e->msg[i], want);
}

static int test_teardown(void **state)
{
	(void)state;
	errs_free(&errs);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < nfiles; i++) {
		unlink(files[i]);
		free(files[i]);
	}
	return rmdir(tmpdir);
}

/* Loads an agent file that must fail and checks its one error. */
static void agent_expect_error(const char *text, const char *want)
{
	const char *path = file_write("agent.yaml", text);
	struct agent_conf c;

	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 1);
	errs_expect(&errs, 0, want);
	assert_null(c.ca);
	assert_null(c.profile);
	errs_free(&errs);
}

static void inventory_expect_error(const char *text, const char *want)
{
	const char *path = file_write("inventory.yaml", text);

	assert_null(inventory_load(path, errs_collect, &errs));
	assert_int_equal(errs.n, 1);
	errs_expect(&errs, 0, want);
	errs_free(&errs);
}

static const char agent_good[] = "# agent\n"
				 "controllers: [198.18.0.1, \"2001:2:0::1\"]\n"
				 "ca: /etc/bulkhead/pki/ca.crt\n"
				 "cert: /etc/bulkhead/pki/h01.crt\n"
				 "key: /etc/bulkhead/pki/h01.key\n"
				 "state_dir: /var/lib/bulkhead-agent\n";

static void test_agent_good_defaults(void **state)
{
	const char *path = file_write("agent.yaml", agent_good);
	struct agent_conf c;

	(void)state;
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.ncontrollers, 2);
	assert_int_equal(c.controllers[0].family, AF_INET);
	assert_memory_equal(c.controllers[0].a.v4, "\xc6\x12\x00\x01", 4);
	assert_string_equal(c.controllers[0].text, "198.18.0.1");
	assert_int_equal(c.controllers[1].family, AF_INET6);
	assert_string_equal(c.controllers[1].text, "2001:2::1");
	assert_int_equal(c.port, 7443);
	assert_string_equal(c.controller_name, "bulkheadd");
	assert_null(c.name);
	assert_string_equal(c.ca, "/etc/bulkhead/pki/ca.crt");
	assert_string_equal(c.cert, "/etc/bulkhead/pki/h01.crt");
	assert_string_equal(c.key, "/etc/bulkhead/pki/h01.key");
	assert_string_equal(c.state_dir, "/var/lib/bulkhead-agent");
	assert_string_equal(c.profile, "linux-server");
	assert_null(c.mgmt_if);
	assert_int_equal(c.heartbeat_ms, 1000);
	assert_int_equal(c.dead_ms, 5000);
	agent_conf_clear(&c);
	assert_null(c.ca);
	agent_conf_clear(&c); /* twice is harmless */
}

static void test_agent_good_all_keys(void **state)
{
	const char *path = file_write("agent.yaml", "controllers: 2001:2::7\n"
						    "port: 8443\n"
						    "controller_name: ctl.example\n"
						    "name: h01\n"
						    "ca: ca.crt\n"
						    "cert: h01.crt\n"
						    "key: h01.key\n"
						    "state_dir: /var/lib/x\n"
						    "profile: kvm-hypervisor\n"
						    "mgmt_if: eth0\n"
						    "heartbeat_ms: 250\n"
						    "dead_ms: 1500\n");
	struct agent_conf c;

	(void)state;
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.ncontrollers, 1);
	assert_string_equal(c.controllers[0].text, "2001:2::7");
	assert_int_equal(c.port, 8443);
	assert_string_equal(c.controller_name, "ctl.example");
	assert_string_equal(c.name, "h01");
	assert_string_equal(c.profile, "kvm-hypervisor");
	assert_string_equal(c.mgmt_if, "eth0");
	assert_int_equal(c.heartbeat_ms, 250);
	assert_int_equal(c.dead_ms, 1500);
	agent_conf_clear(&c);
}

/* controller_name: one name as before, or a list of the names accepted. */
static void test_agent_controller_names(void **state)
{
	const char *path = file_write(
	    "agent-names.yaml", "controllers: 198.18.0.1\n"
				"controller_name: [ctl-a.example, ctl-b.example, ctl-c.example]\n"
				"ca: ca.crt\ncert: h01.crt\nkey: h01.key\nstate_dir: /x\n");
	struct agent_conf c;

	(void)state;
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), 0);
	assert_string_equal(c.controller_name, "ctl-a.example");
	assert_int_equal(c.ncontroller_alt, 2);
	assert_string_equal(c.controller_alt[0], "ctl-b.example");
	assert_string_equal(c.controller_alt[1], "ctl-c.example");
	agent_conf_clear(&c);
	assert_null(c.controller_name);
	assert_int_equal(c.ncontroller_alt, 0);

	path = file_write("agent-names-bad.yaml", "controllers: 198.18.0.1\n"
						  "controller_name: [ctl-a.example, {x: 1}]\n"
						  "ca: ca.crt\ncert: h01.crt\nkey: h01.key\n"
						  "state_dir: /x\n");
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "agent-names-bad.yaml:2:"));
	assert_non_null(strstr(errs.msg[0], "controller_name"));
	errs_free(&errs);
	path = file_write("agent-names-empty.yaml", "controllers: 198.18.0.1\n"
						    "controller_name: []\n"
						    "ca: ca.crt\ncert: h01.crt\nkey: h01.key\n"
						    "state_dir: /x\n");
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), -1);
	errs_expect(&errs, 0,
		    "agent-names-empty.yaml:2:18: \"controller_name\": expected at least one name");
}

/* revoked.yaml: hosts and serials (normalised), and every broken entry
 * reported where it is. */
static void test_revoked_list(void **state)
{
	const char *path = file_write("revoked.yaml", "revoked:\n"
						      "  - host: web01\n"
						      "    reason: stolen\n"
						      "  - serial: \"00:0a:Bc:12\"\n");
	const char *ctl = file_write("bulkheadd-rev.yaml", "ca: /pki/ca.crt\n"
							   "cert: /pki/bulkheadd.crt\n"
							   "key: /pki/bulkheadd.key\n"
							   "state_dir: /var/lib/bulkheadd\n"
							   "inventory: inventory.yaml\n"
							   "revoked: revoked.yaml\n");
	struct revoked_list l;
	struct ctl_conf cc;
	char want[512];

	(void)state;
	assert_int_equal(revoked_load(path, &l, errs_collect, &errs), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].host, "web01");
	assert_string_equal(l.v[0].reason, "stolen");
	assert_int_equal(l.v[0].line, 2);
	assert_string_equal(l.v[1].norm, "ABC12");
	assert_non_null(revoked_find(&l, "web01", NULL));
	assert_non_null(revoked_find(&l, "web02", "ABC12"));
	assert_null(revoked_find(&l, "web02", "ABC13"));
	assert_null(revoked_find(&l, NULL, NULL));
	revoked_clear(&l);
	assert_int_equal(l.n, 0);

	path = file_write("revoked-empty.yaml", "revoked: []\n");
	assert_int_equal(revoked_load(path, &l, errs_collect, &errs), 0);
	assert_int_equal(l.n, 0);
	revoked_clear(&l);

	path = file_write("revoked-bad.yaml", "revoked:\n"
					      "  - host: web01\n"
					      "    serial: AB\n"
					      "  - serial: xyz\n"
					      "  - hots: web02\n"
					      "  - just-a-string\n");
	assert_int_equal(revoked_load(path, &l, errs_collect, &errs), -1);
	assert_int_equal(l.n, 0);
	assert_int_equal(errs.n, 4);
	errs_expect(&errs, 0,
		    "revoked-bad.yaml:2:5: \"revoked\": expected exactly one of \"host\" and "
		    "\"serial\" in each entry");
	errs_expect(&errs, 1,
		    "revoked-bad.yaml:4:13: \"serial\": expected a certificate serial in hex "
		    "(colons allowed), got \"xyz\"");
	errs_expect(&errs, 2, "revoked-bad.yaml:5:5: unknown key \"hots\"");
	errs_free(&errs);

	path = file_write("revoked-syntax.yaml", "revoked:\n  - host: [web01\n");
	assert_int_equal(revoked_load(path, &l, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want), "%s/revoked-syntax.yaml:", tmpdir);
	assert_memory_equal(errs.msg[0], want, strlen(want));
	errs_free(&errs);

	/* The key in bulkheadd.yaml is relative to that file. */
	assert_int_equal(ctl_conf_load(ctl, &cc, errs_collect, &errs), 0);
	snprintf(want, sizeof(want), "%s/revoked.yaml", tmpdir);
	assert_string_equal(cc.revoked, want);
	ctl_conf_clear(&cc);
}

static void test_ctl_good(void **state)
{
	const char *path = file_write("bulkheadd.yaml", "listen: \"::\"\n"
							"ca: /pki/ca.crt\n"
							"cert: /pki/bulkheadd.crt\n"
							"key: /pki/bulkheadd.key\n"
							"state_dir: /var/lib/bulkheadd\n"
							"control_group: bulkhead\n"
							"inventory: inventory.yaml\n");
	struct ctl_conf c;
	char want[512];

	(void)state;
	assert_int_equal(ctl_conf_load(path, &c, errs_collect, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_string_equal(c.listen, "::");
	assert_int_equal(c.port, 7443);
	assert_string_equal(c.ca, "/pki/ca.crt");
	assert_string_equal(c.cert, "/pki/bulkheadd.crt");
	assert_string_equal(c.key, "/pki/bulkheadd.key");
	assert_string_equal(c.state_dir, "/var/lib/bulkheadd");
	assert_string_equal(c.control_socket, "/run/bulkhead/bulkheadd.sock");
	assert_string_equal(c.control_group, "bulkhead");
	snprintf(want, sizeof(want), "%s/inventory.yaml", tmpdir);
	assert_string_equal(c.inventory, want);
	assert_int_equal(c.heartbeat_ms, 1000);
	assert_int_equal(c.dead_ms, 5000);
	ctl_conf_clear(&c);
}

static void test_ctl_good_defaults(void **state)
{
	const char *path = file_write("bulkheadd.yaml", "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
							"inventory: /etc/bulkhead/inv.yaml\n"
							"port: 9000\nheartbeat_ms: 500\n");
	struct ctl_conf c;

	(void)state;
	assert_int_equal(ctl_conf_load(path, &c, errs_collect, &errs), 0);
	assert_string_equal(c.listen, "0.0.0.0");
	assert_int_equal(c.port, 9000);
	assert_null(c.control_group);
	assert_string_equal(c.inventory, "/etc/bulkhead/inv.yaml");
	assert_int_equal(c.heartbeat_ms, 500);
	assert_int_equal(c.dead_ms, 5000);
	assert_null(c.store);
	ctl_conf_clear(&c);
}

/* metrics_listen, events_exec, events_file, events_syslog: off by default,
 * normalised when set, and every bad value reported with its place. */
static void test_ctl_metrics_events(void **state)
{
	const char *good =
	    file_write("bulkheadd-ev.yaml", "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
					    "inventory: /i.yaml\n"
					    "metrics_listen: \"[::1]:9464\"\n"
					    "events_exec: /usr/local/bin/hook\n"
					    "events_file: /var/log/bulkhead/events.json\n"
					    "events_syslog: true\n");
	const char *bad =
	    file_write("bulkheadd-evbad.yaml", "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
					       "inventory: /i.yaml\n"
					       "metrics_listen: ::1:9464\n"
					       "events_exec: hook\n"
					       "events_file: [a]\n"
					       "events_syslog: yes please\n");
	const char *bad2 = file_write("bulkheadd-evbad2.yaml",
				      "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
				      "inventory: /i.yaml\nmetrics_listen: 127.0.0.1:70000\n");
	struct ctl_conf c;

	(void)state;
	assert_int_equal(ctl_conf_load(good, &c, errs_collect, &errs), 0);
	assert_string_equal(c.metrics_listen, "[::1]:9464");
	assert_string_equal(c.events_exec, "/usr/local/bin/hook");
	assert_string_equal(c.events_file, "/var/log/bulkhead/events.json");
	assert_int_equal(c.events_syslog, 1);
	ctl_conf_clear(&c);
	assert_int_equal(ctl_conf_load(bad, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 4);
	errs_expect(&errs, 0,
		    "bulkheadd-evbad.yaml:6:17: \"metrics_listen\": expected ADDRESS:PORT, e.g. "
		    "127.0.0.1:9464 or [::1]:9464, got \"::1:9464\"");
	errs_expect(&errs, 1,
		    "bulkheadd-evbad.yaml:7:14: \"events_exec\": expected an absolute path, got "
		    "\"hook\"");
	errs_expect(&errs, 2,
		    "bulkheadd-evbad.yaml:8:14: \"events_file\": expected an absolute path, got a "
		    "sequence");
	errs_expect(&errs, 3,
		    "bulkheadd-evbad.yaml:9:16: \"events_syslog\": expected true or false, got "
		    "\"yes please\"");
	assert_null(c.events_exec);
	errs_free(&errs);
	assert_int_equal(ctl_conf_load(bad2, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 1);
	errs_free(&errs);
}

static void test_ctl_metrics_off(void **state)
{
	const char *path = file_write("bulkheadd-off.yaml", "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
							    "inventory: /i.yaml\n"
							    "metrics_listen: 127.0.0.1:9464\n");
	struct ctl_conf c;

	(void)state;
	assert_int_equal(ctl_conf_load(path, &c, errs_collect, &errs), 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	assert_null(c.events_exec);
	assert_null(c.events_file);
	assert_int_equal(c.events_syslog, 0);
	ctl_conf_clear(&c);
}

/* The store is named with its backend; anything else is refused at its line. */
static void test_ctl_store(void **state)
{
	static const char *const bad[] = {"/var/lib/bulkhead.db",
					  "sqlite:", "postgresql:", "postgres:dbname=bulkhead"};
	const char *path =
	    file_write("bulkheadd.yaml", "ca: a\ncert: b\nkey: c\nstate_dir: d\ninventory: i\n"
					 "store: \"postgresql:host=/run/pg dbname=bulkhead\"\n");
	struct ctl_conf c;
	char text[256], want[256];

	(void)state;
	assert_int_equal(ctl_conf_load(path, &c, errs_collect, &errs), 0);
	assert_string_equal(c.store, "postgresql:host=/run/pg dbname=bulkhead");
	ctl_conf_clear(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "ca: a\ncert: b\nkey: c\nstate_dir: d\ninventory: i\nstore: \"%s\"\n",
			 bad[i]);
		path = file_write("bulkheadd.yaml", text);
		assert_int_equal(ctl_conf_load(path, &c, errs_collect, &errs), -1);
		assert_int_equal(errs.n, 1);
		snprintf(want, sizeof(want),
			 "bulkheadd.yaml:6:8: \"store\": expected sqlite:PATH or"
			 " postgresql:CONNINFO, got \"%s\"",
			 bad[i]);
		errs_expect(&errs, 0, want);
		errs_free(&errs);
	}
}

static void test_inventory_good(void **state)
{
	const char *path =
	    file_write("inventory.yaml", "hosts:\n"
					 "  - name: h01\n"
					 "    addresses: [198.18.0.11, \"2001:2::11\"]\n"
					 "    profile: linux-server\n"
					 "    labels:\n"
					 "      role: web\n"
					 "      rack: r1\n"
					 "  - name: sw-1.lab\n"
					 "    addresses:\n"
					 "      - 198.18.0.12\n"
					 "    profile: switch\n");
	const struct inv_host *h;
	struct inventory *inv;

	(void)state;
	inv = inventory_load(path, errs_collect, &errs);
	assert_non_null(inv);
	assert_int_equal(errs.n, 0);
	assert_int_equal(inv->nhosts, 2);
	h = inventory_host_find(inv, "h01");
	assert_ptr_equal(h, &inv->hosts[0]);
	assert_int_equal(h->line, 2);
	assert_int_equal(h->naddrs, 2);
	assert_string_equal(h->addrs[0].text, "198.18.0.11");
	assert_string_equal(h->addrs[1].text, "2001:2::11");
	assert_string_equal(h->profile, "linux-server");
	assert_int_equal(h->nlabels, 2);
	assert_string_equal(h->labels[0].key, "role");
	assert_string_equal(h->labels[0].value, "web");
	assert_string_equal(h->labels[1].key, "rack");
	assert_string_equal(h->labels[1].value, "r1");
	h = inventory_host_find(inv, "sw-1.lab");
	assert_non_null(h);
	assert_int_equal(h->line, 8);
	assert_int_equal(h->naddrs, 1);
	assert_int_equal(h->nlabels, 0);
	assert_null(h->labels);
	assert_null(inventory_host_find(inv, "h99"));
	inventory_free(inv);
	inventory_free(NULL);
}

static void test_addr_parse(void **state)
{
	struct conf_addr a;

	(void)state;
	assert_int_equal(conf_addr_parse("2001:0002:0000::0001", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_string_equal(a.text, "2001:2::1");
	assert_int_equal(conf_addr_parse("198.18.0.1", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(conf_addr_parse("198.18.0.256", &a), -1);
	assert_int_equal(conf_addr_parse("ctl.example", &a), -1);
	assert_int_equal(conf_addr_parse("", &a), -1);
}

static void test_err_syntax(void **state)
{
	(void)state;
	agent_expect_error("ca: x\n"
			   "cert: [a, b\n"
			   "key: k\n",
			   "agent.yaml:3:4: syntax error: did not find expected ',' or ']' "
			   "(while parsing a flow sequence at line 2)");
}

static void test_err_unknown_key(void **state)
{
	(void)state;
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca: a\ncert: b\nkey: c\n"
			   "contrller: 198.18.0.2\n"
			   "state_dir: d\n",
			   "agent.yaml:5:1: unknown key \"contrller\"");
}

static void test_err_bad_port(void **state)
{
	(void)state;
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca: a\n"
			   "port: abc\n"
			   "cert: b\nkey: c\nstate_dir: d\n",
			   "agent.yaml:3:7: \"port\": expected an integer 1..65535, got \"abc\"");
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca: a\n"
			   "port: 65536\n"
			   "cert: b\nkey: c\nstate_dir: d\n",
			   "agent.yaml:3:7: \"port\": expected an integer 1..65535, got \"65536\"");
}

static void test_err_bad_address(void **state)
{
	(void)state;
	agent_expect_error("controllers: [198.18.0.1, ctl.example]\n"
			   "ca: a\ncert: b\nkey: c\nstate_dir: d\n",
			   "agent.yaml:1:27: \"controllers\": expected an IPv4 or IPv6 address, "
			   "got \"ctl.example\"");
}

static void test_err_no_controllers(void **state)
{
	(void)state;
	agent_expect_error("controllers: []\n"
			   "ca: a\ncert: b\nkey: c\nstate_dir: d\n",
			   "agent.yaml:1:14: \"controllers\": expected at least one address");
}

static void test_err_missing_key(void **state)
{
	(void)state;
	agent_expect_error("# no CA\n"
			   "controllers: 198.18.0.1\n"
			   "cert: b\nkey: c\nstate_dir: d\n",
			   "agent.yaml:2:1: missing required key \"ca\"");
}

static void test_err_dead_ms(void **state)
{
	(void)state;
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
			   "heartbeat_ms: 2000\n"
			   "dead_ms: 2000\n",
			   "agent.yaml:7:10: \"dead_ms\": expected more than heartbeat_ms (2000), "
			   "got 2000");
	/* against the default heartbeat, pointed at the key that was set */
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
			   "dead_ms: 800\n",
			   "agent.yaml:6:10: \"dead_ms\": expected more than heartbeat_ms (1000), "
			   "got 800");
}

static void test_err_wrong_type(void **state)
{
	(void)state;
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca:\n"
			   "  path: /etc/ca.crt\n"
			   "cert: b\nkey: c\nstate_dir: d\n",
			   "agent.yaml:3:3: \"ca\": expected a string, got a mapping");
}

static void test_err_unreadable(void **state)
{
	struct agent_conf c;
	struct ctl_conf cc;
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 1);
	errs_expect(&errs, 0, "missing.yaml: No such file or directory");
	errs_free(&errs);

	assert_int_equal(ctl_conf_load(tmpdir, &cc, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0] + strlen(tmpdir), ": Is a directory");
	errs_free(&errs);
}

static void test_err_not_a_mapping(void **state)
{
	(void)state;
	agent_expect_error("- controllers\n- ca\n",
			   "agent.yaml:1:1: expected a mapping of keys, got a sequence");
	agent_expect_error("# nothing here\n",
			   "agent.yaml: empty file, expected a mapping of keys");
}

static void test_err_duplicate_key(void **state)
{
	(void)state;
	agent_expect_error("controllers: 198.18.0.1\n"
			   "ca: a\ncert: b\nkey: c\nstate_dir: d\n"
			   "ca: e\n",
			   "agent.yaml:6:1: duplicate key \"ca\" (first at line 2)");
}

static void test_err_two_errors(void **state)
{
	const char *path = file_write("agent.yaml", "controllers: 198.18.0.1\n"
						    "port: 0\n"
						    "ca: a\n"
						    "cert: b\n"
						    "kye: c\n"
						    "state_dir: d\n");
	struct agent_conf c;

	(void)state;
	assert_int_equal(agent_conf_load(path, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 3);
	errs_expect(&errs, 0, "agent.yaml:2:7: \"port\": expected an integer 1..65535, got \"0\"");
	errs_expect(&errs, 1, "agent.yaml:5:1: unknown key \"kye\"");
	errs_expect(&errs, 2, "agent.yaml:1:1: missing required key \"key\"");
	errs_free(&errs);
}

static void test_err_ctl(void **state)
{
	const char *path = file_write("bulkheadd.yaml", "listen: localhost\n"
							"ca: a\ncert: b\nkey: c\nstate_dir: d\n"
							"heartbeat_ms: -5\n");
	struct ctl_conf c;

	(void)state;
	assert_int_equal(ctl_conf_load(path, &c, errs_collect, &errs), -1);
	assert_int_equal(errs.n, 3);
	errs_expect(&errs, 0,
		    "bulkheadd.yaml:1:9: \"listen\": expected an IPv4 or IPv6 address, "
		    "got \"localhost\"");
	errs_expect(&errs, 1,
		    "bulkheadd.yaml:6:15: \"heartbeat_ms\": expected an integer 1..3600000, "
		    "got \"-5\"");
	errs_expect(&errs, 2, "bulkheadd.yaml:1:1: missing required key \"inventory\"");
	assert_null(c.listen);
	assert_null(c.control_socket);
	errs_free(&errs);
}

static void test_err_duplicate_host(void **state)
{
	(void)state;
	inventory_expect_error(
	    "hosts:\n"
	    "  - name: h01\n"
	    "    addresses: [198.18.0.11]\n"
	    "    profile: linux-server\n"
	    "  - name: h02\n"
	    "    addresses: [198.18.0.12]\n"
	    "    profile: linux-server\n"
	    "  - name: h01\n"
	    "    addresses: [198.18.0.13]\n"
	    "    profile: linux-server\n",
	    "inventory.yaml:8:5: duplicate host name \"h01\" (first defined at line 2)");
}

static void test_err_duplicate_address(void **state)
{
	(void)state;
	inventory_expect_error(
	    "hosts:\n"
	    "  - name: h01\n"
	    "    addresses: [198.18.0.11, \"2001:2::11\"]\n"
	    "    profile: linux-server\n"
	    "  - name: h02\n"
	    "    addresses:\n"
	    "      - 198.18.0.12\n"
	    "      - 2001:2:0:0::11\n"
	    "    profile: linux-server\n",
	    "inventory.yaml:8:9: address 2001:2::11 already belongs to host \"h01\"");
}

static void test_err_host_no_profile(void **state)
{
	(void)state;
	inventory_expect_error("hosts:\n"
			       "  - name: h01\n"
			       "    addresses: [198.18.0.11]\n"
			       "    profile: linux-server\n"
			       "  - name: h03\n"
			       "    addresses: [198.18.0.13]\n",
			       "inventory.yaml:5:5: host \"h03\" has no profile");
}

static void test_err_bad_host_name(void **state)
{
	(void)state;
	inventory_expect_error("hosts:\n"
			       "  - name: \"web 01\"\n"
			       "    addresses: [198.18.0.11]\n"
			       "    profile: linux-server\n",
			       "inventory.yaml:2:11: \"name\": expected 1..63 characters of "
			       "[A-Za-z0-9._-], got \"web 01\"");
}

static void test_err_bad_labels(void **state)
{
	(void)state;
	inventory_expect_error(
	    "hosts:\n"
	    "  - name: h01\n"
	    "    addresses: [198.18.0.11]\n"
	    "    profile: linux-server\n"
	    "    labels:\n"
	    "      role: [web, db]\n",
	    "inventory.yaml:6:13: label \"role\": expected a string, got a sequence");
}

static void test_err_inventory_many(void **state)
{
	const char *path =
	    file_write("inventory.yaml", "hosts:\n"
					 "  - name: h01\n"
					 "    addresses: [198.18.0.11]\n"
					 "    profile: linux-server\n"
					 "  - addresses: [198.18.0.11, 198.18.0.11]\n"
					 "    labels: rack\n"
					 "  - just-a-name\n"
					 "groups: []\n");

	(void)state;
	assert_null(inventory_load(path, errs_collect, &errs));
	assert_int_equal(errs.n, 6);
	errs_expect(&errs, 0,
		    "inventory.yaml:5:30: \"addresses\": address 198.18.0.11 listed twice");
	errs_expect(&errs, 1,
		    "inventory.yaml:6:13: \"labels\": expected a mapping of strings, got \"rack\"");
	errs_expect(&errs, 2, "inventory.yaml:5:5: host has no name");
	errs_expect(&errs, 3, "inventory.yaml:5:5: host has no profile");
	errs_expect(&errs, 4,
		    "inventory.yaml:7:5: \"hosts\": expected a mapping for each host, "
		    "got \"just-a-name\"");
	errs_expect(&errs, 5, "inventory.yaml:8:1: unknown key \"groups\"");
	errs_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_agent_good_defaults, test_teardown),
	    cmocka_unit_test_teardown(test_agent_controller_names, test_teardown),
	    cmocka_unit_test_teardown(test_revoked_list, test_teardown),
	    cmocka_unit_test_teardown(test_agent_good_all_keys, test_teardown),
	    cmocka_unit_test_teardown(test_ctl_good, test_teardown),
	    cmocka_unit_test_teardown(test_ctl_good_defaults, test_teardown),
	    cmocka_unit_test_teardown(test_ctl_store, test_teardown),
	    cmocka_unit_test_teardown(test_inventory_good, test_teardown),
	    cmocka_unit_test_teardown(test_addr_parse, test_teardown),
	    cmocka_unit_test_teardown(test_err_syntax, test_teardown),
	    cmocka_unit_test_teardown(test_err_unknown_key, test_teardown),
	    cmocka_unit_test_teardown(test_err_bad_port, test_teardown),
	    cmocka_unit_test_teardown(test_err_bad_address, test_teardown),
	    cmocka_unit_test_teardown(test_err_no_controllers, test_teardown),
	    cmocka_unit_test_teardown(test_err_missing_key, test_teardown),
	    cmocka_unit_test_teardown(test_err_dead_ms, test_teardown),
	    cmocka_unit_test_teardown(test_err_wrong_type, test_teardown),
	    cmocka_unit_test_teardown(test_err_unreadable, test_teardown),
	    cmocka_unit_test_teardown(test_err_not_a_mapping, test_teardown),
	    cmocka_unit_test_teardown(test_err_duplicate_key, test_teardown),
	    cmocka_unit_test_teardown(test_err_two_errors, test_teardown),
	    cmocka_unit_test_teardown(test_err_ctl, test_teardown),
	    cmocka_unit_test_teardown(test_err_duplicate_host, test_teardown),
	    cmocka_unit_test_teardown(test_err_duplicate_address, test_teardown),
	    cmocka_unit_test_teardown(test_err_host_no_profile, test_teardown),
	    cmocka_unit_test_teardown(test_err_bad_host_name, test_teardown),
	    cmocka_unit_test_teardown(test_err_bad_labels, test_teardown),
	    cmocka_unit_test_teardown(test_err_inventory_many, test_teardown),
	    cmocka_unit_test_teardown(test_ctl_metrics_events, test_teardown),
	    cmocka_unit_test_teardown(test_ctl_metrics_off, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
