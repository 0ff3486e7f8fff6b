/* lib/playbook*.c: the example playbook loads clean against the example
 * site and every host comes back exactly once; restricted stages compile
 * from their own rules; checks are judged by the firewalls of both ends,
 * isolation and the management channel included; errors come out all of
 * them, in file order; the dry run is the same bytes every time.
 * usage: test_playbook [POLICY_DIR] (default: policies) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"

#define MAX_MSGS 32

struct msgs {
	char *msg[MAX_MSGS];
	int n;
};

static const char *site_dir = "policies";
static char tmpdir[] = "/tmp/bulkhead-test-playbook-XXXXXX";
static struct msgs errs, warns; /* global so that a failed test's messages are still freed */
static long today;

static void msgs_collect(void *arg, const char *msg)
{
	struct msgs *m = arg;

	if (m->n < MAX_MSGS)
		m->msg[m->n] = strdup(msg);
	m->n++;
}

static void warn_collect(void *arg, const char *msg)
{
	(void)arg;
	msgs_collect(&warns, msg);
}

static void msgs_free(struct msgs *m)
{
	int i;

	for (i = 0; i < m->n && i < MAX_MSGS; i++)
		free(m->msg[i]);
	m->n = 0;
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

static void file_remove(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
}

/* A small site: a collector outside the inventory, a web, app and db tier,
 * a legacy host with IPv4 only, a backup server. */
static const char site_inventory[] =
    "hosts:\n"
    "  - {name: ctl01, addresses: [198.18.0.10, \"2001:2::10\"], profile: p,"
    " labels: {role: ctl}}\n"
    "  - {name: web01, addresses: [198.18.1.11, \"2001:2:0:1::11\"], profile: p,"
    " labels: {role: web}}\n"
    "  - {name: app01, addresses: [198.18.1.21, \"2001:2:0:1::21\"], profile: p,"
    " labels: {role: app}}\n"
    "  - {name: db01, addresses: [198.18.2.11], profile: p, labels: {role: db}}\n"
    "  - {name: old01, addresses: [198.18.3.11], profile: p, labels: {role: old}}\n"
    "  - {name: bak01, addresses: [198.18.4.11], profile: p, labels: {role: backup}}\n";
static const char site_groups[] = "groups:\n"
				  "  ctl: {match: {role: ctl}}\n"
				  "  web: {match: {role: web}}\n"
				  "  app: {match: {role: app}}\n"
				  "  db: {match: {role: db}}\n"
				  "  old: {match: {role: old}}\n"
				  "  backup: {match: {role: backup}}\n"
				  "  outside: {networks: [198.19.0.0/16]}\n";
static const char site_services[] = "services:\n"
				    "  api: [tcp/9000]\n"
				    "  pg: [tcp/5432]\n"
				    "  bk: [tcp/9102]\n"
				    "  https: [tcp/443]\n"
				    "  ping: [icmp]\n";
static const char site_rules[] = "rules:\n"
				 "  - {from: web, to: app, services: [api, ping], comment: a}\n"
				 "  - {from: app, to: db, services: [pg], comment: b}\n"
				 "  - {from: app, to: outside, services: [https], comment: c}\n"
				 "  - {from: backup, to: db, services: [bk], comment: d}\n"
				 "  - {from: web, to: old, services: [api], comment: e}\n";
static const char site_mgmt[] = "management:\n"
				"  controllers: [198.18.0.10, \"2001:2::10\"]\n"
				"  port: 7443\n"
				"  collectors: [198.18.0.40]\n";
static const char restricted_bk[] =
    "rules:\n"
    "  - {from: backup, to: db, services: [bk], comment: only backups}\n";

static struct policy *tmp_site_load(void)
{
	char path[512];

	file_write("inventory.yaml", site_inventory);
	file_write("groups.yaml", site_groups);
	file_write("services.yaml", site_services);
	file_write("rules.yaml", site_rules);
	file_write("management.yaml", site_mgmt);
	snprintf(path, sizeof(path), "%s/restricted", tmpdir);
	mkdir(path, 0700);
	file_write("restricted/bk.yaml", restricted_bk);
	return policy_load_at(tmpdir, today, msgs_collect, NULL, &errs);
}

static struct playbook *tmp_playbook_load(const struct policy *p, const char *text)
{
	char path[512];

	file_write("pb.yaml", text);
	snprintf(path, sizeof(path), "%s/pb.yaml", tmpdir);
	return playbook_load_warn(path, p, tmpdir, msgs_collect, warn_collect, &errs);
}

/* The message without the directory, for exact comparisons. */
static const char *msg_rel(const char *msg)
{
	size_t len = strlen(tmpdir);

	return strncmp(msg, tmpdir, len) == 0 && msg[len] == '/' ? msg + len + 1 : msg;
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
	static const char *const files[] = {"inventory.yaml",	 "groups.yaml",	    "services.yaml",
					    "rules.yaml",	 "management.yaml", "pb.yaml",
					    "restricted/bk.yaml"};
	char path[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		file_remove(files[i]);
	snprintf(path, sizeof(path), "%s/restricted", tmpdir);
	rmdir(path);
	return rmdir(tmpdir);
}

static int test_teardown(void **state)
{
	(void)state;
	msgs_free(&errs);
	msgs_free(&warns);
	return 0;
}

static const struct pb_check *check_find(const struct pb_stage *st, const char *from,
					 const char *target_name)
{
	size_t i;

	for (i = 0; i < st->nchecks; i++)
		if (strcmp(st->checks[i].from, from) == 0 &&
		    strcmp(st->checks[i].target_name, target_name) == 0)
			return &st->checks[i];
	return NULL;
}

/* The example: every host once, in inventory order within its stage;
 * every check from a host that is back; the policy agrees with every
 * expectation; the restricted stage compiles from its own rules. */
static void test_example_playbook(void **state)
{
	char file[512], why[512];
	const struct pb_stage *st;
	struct host_policy *hp, *full;
	struct policy *p;
	struct playbook *pb;
	size_t i, j, n = 0;
	int s;

	(void)state;
	p = policy_load_at(site_dir, today, msgs_collect, NULL, &errs);
	assert_non_null(p);
	snprintf(file, sizeof(file), "%s/playbooks/restore-2023.yaml", site_dir);
	pb = playbook_load_warn(file, p, site_dir, msgs_collect, warn_collect, &errs);
	if (pb == NULL || warns.n != 0)
		for (i = 0; i < (size_t)errs.n && i < MAX_MSGS; i++)
			print_message("%s\n", errs.msg[i]);
	assert_non_null(pb);
	assert_int_equal(errs.n, 0);
	assert_int_equal(warns.n, 0);
	assert_string_equal(pb->name, "restore-2023");
	assert_int_equal(pb->nstages, 5);
	assert_string_equal(pb->stages[2].name, "wave1-v5-hr");
	assert_string_equal(pb->stages[3].name, "wave2-v34-mynumber");
	assert_string_equal(pb->stages[4].name, "wave3-company-edition");
	assert_int_equal(pb->nstaged, policy_host_count(p));

	for (i = 0; i < pb->nstages; i++) {
		st = &pb->stages[i];
		n += st->nhosts;
		assert_true(st->nchecks > 0);
		assert_true(st->soak_ms <= 5000);
		for (j = 0; j < st->nhosts; j++)
			assert_int_equal(playbook_host_stage(pb, p, st->hosts[j]), (int)i);
		for (j = 0; j < st->nchecks; j++) {
			const struct pb_check *c = &st->checks[j];
			enum pb_reach r = playbook_check_predict(pb, p, i, c, why, sizeof(why));

			s = playbook_host_stage(pb, p, c->from);
			assert_true(s >= 0 && s <= (int)i);
			assert_true(c->timeout_ms >= 100 && c->timeout_ms <= 60000);
			if (c->expect_open)
				assert_int_equal(r, PB_REACH_OPEN);
			else
				assert_int_equal(r, PB_REACH_CLOSED);
		}
	}
	assert_int_equal(n, policy_host_count(p));

	/* each wave of the incident in its stage */
	assert_int_equal(playbook_host_stage(pb, p, "v5-db01"), 2);
	assert_int_equal(playbook_host_stage(pb, p, "hr-web01"), 2);
	assert_int_equal(playbook_host_stage(pb, p, "v34-app01"), 3);
	assert_int_equal(playbook_host_stage(pb, p, "mn-db01"), 3);
	assert_int_equal(playbook_host_stage(pb, p, "ce-db02"), 4);
	assert_int_equal(pb->stages[2].approval, 1);
	assert_int_equal(pb->stages[1].approval, 0);
	assert_int_equal(pb->stages[4].on_failure_halt, 1);
	assert_int_equal(pb->stages[2].on_failure_halt, 0);

	/* the backup servers: only the pull to the databases, nothing comes in */
	st = &pb->stages[1];
	assert_string_equal(st->restore, "backup-only");
	assert_non_null(st->restricted);
	hp = playbook_host_policy(pb, p, site_dir, 1, "backup01");
	assert_non_null(hp);
	assert_int_equal(hp->nin, 0);
	assert_true(hp->nout > 0);
	for (i = 0; i < hp->nout; i++) {
		assert_int_equal(hp->out[i].proto, IPPROTO_TCP);
		assert_int_equal(hp->out[i].port_lo, 9102);
		assert_int_equal(hp->out[i].port_hi, 9102);
	}
	assert_int_equal(hp->ncollectors, 2);
	full = policy_host_compile(p, "backup01");
	assert_string_not_equal(hp->hash, full->hash);
	host_policy_free(full);
	host_policy_free(hp);
	/* a host of another stage gets nothing from this one */
	assert_null(playbook_host_policy(pb, p, site_dir, 1, "v5-db01"));
	assert_null(playbook_host_policy(pb, p, site_dir, 9, "v5-db01"));
	/* a segmented stage gives the full policy */
	hp = playbook_host_policy(pb, p, site_dir, 2, "v5-db01");
	full = policy_host_compile(p, "v5-db01");
	assert_string_equal(hp->hash, full->hash);
	host_policy_free(full);
	host_policy_free(hp);

	/* groups expand into one check per host, in inventory order */
	assert_non_null(check_find(&pb->stages[2], "v5-app01", "v5-db01"));
	assert_non_null(check_find(&pb->stages[2], "v5-app03", "v5-db01"));
	assert_string_equal(check_find(&pb->stages[2], "v5-app02", "v5-db01")->from_name, "v5-app");
	assert_string_equal(check_find(&pb->stages[2], "v5-app02", "v5-db01")->target,
			    "198.18.20.11");
	playbook_free(pb);
	policy_free(p);
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint32_t ms;
	} good[] = {{"0", 0},	    {"0s", 0},	      {"500ms", 500}, {"2s", 2000},
		    {"5m", 300000}, {"4h", 14400000}, {"90s", 90000}};
	static const char *const bad[] = {
	    "", "5", "s", "1.5s", "2 s", "-1s", "1d", "99999999999ms", "5000000h", "2S"};
	char buf[16];
	uint32_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(playbook_duration_parse(good[i].s, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(playbook_duration_parse(bad[i], &ms), -1);
	playbook_duration_format(0, buf);
	assert_string_equal(buf, "0");
	playbook_duration_format(1500, buf);
	assert_string_equal(buf, "1500ms");
	playbook_duration_format(90000, buf);
	assert_string_equal(buf, "90s");
	playbook_duration_format(7200000, buf);
	assert_string_equal(buf, "2h");
}

static const char pb_head[] = "playbook: t\n"
			      "stages:\n"
			      "  - name: one\n"
			      "    hosts: [ctl, web]\n"
			      "    checks:\n";

/* What the firewalls of both ends make of checks from web01 at stage 0,
 * with app01 back in stage 0 or 1. */
static void test_predict(void **state)
{
	static const struct {
		const char *check;
		enum pb_reach want;
		const char *why;
	} cases[] = {
	    /* the management channel is open whatever the stage */
	    {"connect: ctl01 tcp/7443", PB_REACH_OPEN,
	     "the management channel lets every host open tcp/7443 to its controller"},
	    {"connect: 198.18.0.10 tcp/22", PB_REACH_CLOSED,
	     "the policy of web01 (segmented) does not let it open tcp/22 to ctl01 (198.18.0.10)"},
	    /* loopback */
	    {"ping: web01", PB_REACH_OPEN, "web01 reaches its own address over loopback"},
	    /* the target is still isolated */
	    {"connect: app01 tcp/9000", PB_REACH_CLOSED,
	     "app01 is still isolated (it returns at stage \"two\")"},
	    {"connect: old01 tcp/9000", PB_REACH_CLOSED, "old01 is in no stage and stays isolated"},
	    /* the source's own rules */
	    {"connect: db01 tcp/5432", PB_REACH_CLOSED,
	     "the policy of web01 (segmented) does not let it open tcp/5432 to db01 (198.18.2.11)"},
	    {"connect: 198.19.1.1 tcp/443", PB_REACH_CLOSED,
	     "the policy of web01 (segmented) does not let it open tcp/443 to 198.19.1.1"},
	    /* the collector is reachable from every host, whatever it answers */
	    {"ping: 198.18.0.40", PB_REACH_UNKNOWN,
	     "web01 may ping 198.18.0.40, outside the inventory"},
	};
	char text[1024], why[512];
	struct policy *p;
	struct playbook *pb;
	size_t i;

	(void)state;
	p = tmp_site_load();
	assert_non_null(p);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "%s      - {from: web01, %s, expect: %s}\n"
			 "  - name: two\n"
			 "    hosts: [app, db, backup]\n"
			 "    checks:\n"
			 "      - {from: app01, connect: db01 tcp/5432}\n",
			 pb_head, cases[i].check,
			 cases[i].want == PB_REACH_OPEN ? "open" : "closed");
		pb = tmp_playbook_load(p, text);
		if (pb == NULL)
			print_message("%s: %s\n", cases[i].check, errs.n > 0 ? errs.msg[0] : "");
		assert_non_null(pb);
		assert_int_equal(pb->stages[0].nchecks, 1);
		assert_int_equal(
		    playbook_check_predict(pb, p, 0, &pb->stages[0].checks[0], why, sizeof(why)),
		    cases[i].want);
		assert_string_equal(why, cases[i].why);
		playbook_free(pb);
		msgs_free(&warns);
	}

	/* both ends back: the rule that allows it on each side */
	pb = tmp_playbook_load(p,
			       "playbook: t\n"
			       "stages:\n"
			       "  - name: one\n"
			       "    hosts: [app, db, web]\n"
			       "    checks:\n"
			       "      - {from: app01, connect: db01 tcp/5432}\n"
			       "      - {from: web01, ping: \"2001:2:0:1::21\"}\n"
			       "      - {from: app01, connect: 198.19.1.1 tcp/443}\n"
			       "  - name: two\n"
			       "    hosts: [backup]\n"
			       "    restore: restricted bk\n"
			       "    checks:\n"
			       "      - {from: bak01, connect: db01 tcp/9102}\n"
			       "      - {from: app01, connect: bak01 tcp/9102, expect: closed}\n");
	assert_non_null(pb);
	assert_int_equal(errs.n, 0);
	assert_int_equal(
	    playbook_check_predict(pb, p, 0, &pb->stages[0].checks[0], why, sizeof(why)),
	    PB_REACH_OPEN);
	assert_string_equal(msg_rel(strstr(why, ", by ") + 5), "rules.yaml:3");
	assert_int_equal(
	    playbook_check_predict(pb, p, 0, &pb->stages[0].checks[1], why, sizeof(why)),
	    PB_REACH_OPEN);
	assert_int_equal(pb->stages[0].checks[1].family, AF_INET6);
	assert_int_equal(
	    playbook_check_predict(pb, p, 0, &pb->stages[0].checks[2], why, sizeof(why)),
	    PB_REACH_UNKNOWN);
	assert_int_equal(
	    playbook_check_predict(pb, p, 1, &pb->stages[1].checks[0], why, sizeof(why)),
	    PB_REACH_OPEN);
	assert_non_null(strstr(why, "restricted/bk.yaml:2 and "));
	assert_int_equal(
	    playbook_check_predict(pb, p, 1, &pb->stages[1].checks[1], why, sizeof(why)),
	    PB_REACH_CLOSED);
	assert_non_null(strstr(why, "the policy of app01 (segmented)"));
	assert_non_null(pb->stages[1].restricted);
	assert_null(pb->stages[0].restricted);
	playbook_free(pb);
	policy_free(p);
}

/* Every error, in file order, and the restricted file's after the
 * playbook's; nothing is returned. */
static void test_errors(void **state)
{
	char want[512];
	struct policy *p;
	struct playbook *pb;

	(void)state;
	p = tmp_site_load();
	assert_non_null(p);
	file_write("restricted/bad.yaml", "rules:\n  - {from: nogroup, to: db, services: [bk],"
					  " comment: x}\n");
	pb = tmp_playbook_load(p, "playbook: t\n"
				  "stages:\n"
				  "  - name: one\n"
				  "    hosts: [web, app]\n"
				  "    restore: restricted bad\n"
				  "    soak: 1x\n"
				  "    checks:\n"
				  "      - {from: db01, connect: app01 tcp/9000}\n"
				  "      - {from: web01, connect: app01 tcp/99999}\n"
				  "  - name: one\n"
				  "    hosts: [app, nosuch]\n"
				  "    checks:\n"
				  "      - {from: web01, ping: old01, connect: old01 tcp/1}\n");
	file_remove("restricted/bad.yaml");
	assert_null(pb);
	assert_int_equal(warns.n, 0);
	assert_int_equal(errs.n, 8);
	snprintf(want, sizeof(want),
		 "pb.yaml:5:14: restricted policy \"bad\": %s/restricted/bad.yaml has errors",
		 tmpdir);
	assert_string_equal(msg_rel(errs.msg[0]), want);
	assert_string_equal(
	    msg_rel(errs.msg[1]),
	    "pb.yaml:6:11: \"soak\": expected a duration of 0..24h, such as 30s, 10m "
	    "or 2h, got \"1x\"");
	/* db01 returns nowhere, but stage two's hosts are wrong: no guess about it */
	assert_string_equal(msg_rel(errs.msg[2]),
			    "pb.yaml:9:32: \"connect\": port out of range (expected 1..65535), got "
			    "99999");
	assert_string_equal(msg_rel(errs.msg[3]),
			    "pb.yaml:10:11: duplicate stage name \"one\" (first at line 3)");
	assert_string_equal(msg_rel(errs.msg[4]),
			    "pb.yaml:11:13: group \"app\": host \"app01\" is already in stage "
			    "\"one\" (line 3); a host returns in one stage only");
	assert_string_equal(msg_rel(errs.msg[5]),
			    "pb.yaml:11:18: \"hosts\": unknown group or host \"nosuch\"");
	assert_string_equal(msg_rel(errs.msg[6]),
			    "pb.yaml:13:45: a check either connects or pings, not both");
	/* the restricted file's own, after the playbook's */
	assert_string_equal(msg_rel(errs.msg[7]),
			    "restricted/bad.yaml:2:12: unknown group \"nogroup\"");
	policy_free(p);
}

/* A restricted policy shared by two stages is read once; the dry run is
 * the same bytes twice, and shows the restricted stage's elements. */
static void test_dry_run(void **state)
{
	char *out1 = NULL, *out2 = NULL;
	size_t len1 = 0, len2 = 0;
	struct policy *p;
	struct playbook *pb;
	FILE *f;

	(void)state;
	p = tmp_site_load();
	assert_non_null(p);
	pb =
	    tmp_playbook_load(p, "playbook: t\n"
				 "description: |-\n"
				 "  two lines\n"
				 "  of description\n"
				 "stages:\n"
				 "  - name: one\n"
				 "    hosts: [ctl, backup]\n"
				 "    restore: restricted bk\n"
				 "    approval: required\n"
				 "    checks:\n"
				 "      - {from: bak01, connect: db01 tcp/9102, expect: closed}\n"
				 "  - name: two\n"
				 "    hosts: db\n"
				 "    restore: restricted bk\n"
				 "    soak: 90s\n"
				 "    on_failure: halt\n"
				 "    checks:\n"
				 "      - {from: bak01, connect: db01 tcp/9102, timeout: 250ms}\n");
	assert_non_null(pb);
	assert_int_equal(errs.n, 0);
	/* old01, web01 and app01 stay isolated */
	assert_int_equal(warns.n, 1);
	assert_non_null(strstr(warns.msg[0], "3 hosts are in no stage and stay isolated: web01, "
					     "app01, old01"));
	assert_ptr_equal(pb->stages[0].restricted, pb->stages[1].restricted);
	assert_int_equal(pb->stages[1].soak_ms, 90000);
	assert_int_equal(pb->stages[1].checks[0].timeout_ms, 250);

	f = open_memstream(&out1, &len1);
	assert_int_equal(playbook_dry_run_print(pb, p, tmpdir, f), 0);
	fclose(f);
	f = open_memstream(&out2, &len2);
	assert_int_equal(playbook_dry_run_print(pb, p, tmpdir, f), 0);
	fclose(f);
	assert_int_equal(len1, len2);
	assert_memory_equal(out1, out2, len1);
	assert_non_null(strstr(out1, "\n  two lines\n  of description\n"));
	assert_non_null(strstr(out1, "\n    bak01 [ruleset "));
	assert_non_null(strstr(out1, "\n      + allow_out4 198.18.2.11 . tcp . 9102\n"));
	assert_non_null(strstr(out1, "\n      + allow_in4 198.18.4.11 . tcp . 9102\n"));
	/* ctl01 gets nothing from the restricted rules */
	assert_non_null(strstr(out1, "\n    ctl01 [ruleset "));
	assert_non_null(strstr(out1, "(no element: only the management channel)\n"));
	assert_non_null(strstr(out1, "gate: waits for `bulkhead playbook approve one`\n"));
	assert_non_null(strstr(out1, "must be open (timeout 250ms)\n"));
	assert_non_null(strstr(out1, "soak: 90s, then every check again\n"));
	assert_non_null(strstr(out1, "after the last stage, 3 hosts stay isolated: web01 app01 "
				     "old01\n"));
	free(out1);
	free(out2);
	playbook_free(pb);
	policy_free(p);
}

/* A restricted policy reports its own rules' warnings, not the site's. */
static void test_restricted_warnings(void **state)
{
	struct policy *p;
	struct playbook *pb;

	(void)state;
	p = tmp_site_load();
	assert_non_null(p);
	file_write("groups.yaml", "groups:\n"
				  "  ctl: {match: {role: ctl}}\n"
				  "  web: {match: {role: web}}\n"
				  "  app: {match: {role: app}}\n"
				  "  db: {match: {role: db}}\n"
				  "  old: {match: {role: old}}\n"
				  "  backup: {match: {role: backup}}\n"
				  "  outside: {networks: [198.19.0.0/16]}\n"
				  "  empty: {match: {role: none}}\n");
	file_write("restricted/bk.yaml",
		   "rules:\n"
		   "  - {from: backup, to: db, services: [bk], comment: one}\n"
		   "  - {from: backup, to: db, services: [bk], comment: two}\n");
	pb = tmp_playbook_load(p, "playbook: t\n"
				  "stages:\n"
				  "  - name: one\n"
				  "    hosts: [backup, ctl, web, app, db, old]\n"
				  "    restore: restricted bk\n"
				  "    checks:\n"
				  "      - {from: bak01, connect: db01 tcp/9102}\n");
	file_write("groups.yaml", site_groups);
	file_write("restricted/bk.yaml", restricted_bk);
	assert_non_null(pb);
	assert_int_equal(errs.n, 0);
	assert_int_equal(warns.n, 1);
	assert_non_null(strstr(warns.msg[0], "restricted/bk.yaml:3:5: warning: rule is shadowed"));
	playbook_free(pb);
	policy_free(p);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_example_playbook, test_teardown),
	    cmocka_unit_test_teardown(test_durations, test_teardown),
	    cmocka_unit_test_teardown(test_predict, test_teardown),
	    cmocka_unit_test_teardown(test_errors, test_teardown),
	    cmocka_unit_test_teardown(test_dry_run, test_teardown),
	    cmocka_unit_test_teardown(test_restricted_warnings, test_teardown),
	};

	if (argc > 1)
		site_dir = argv[1];
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
