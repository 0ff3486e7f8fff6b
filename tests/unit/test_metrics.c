/* controller/metrics.c: the counting points and the Prometheus text of a
 * snapshot, line by line, without the listener. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "metrics.h"

/* The rendered text of s, NUL-terminated; the caller frees it. */
static char *render(const struct metrics_snap *s)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *text;

	assert_non_null(b);
	assert_int_equal(metrics_render(s, b), 0);
	n = evbuffer_get_length(b);
	text = calloc(1, n + 1);
	assert_non_null(text);
	evbuffer_remove(b, text, n);
	evbuffer_free(b);
	return text;
}

/* line must be a whole line of text. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p++;
	}
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void test_render_hosts(void **state)
{
	struct metrics_host hosts[3] = {
	    {"h01", MODE_ISOLATED, MODE_ISOLATED, 1, 1, 1700000000123, 0},
	    {"h02", MODE_ISOLATED, MODE_ISOLATED, 1, 0, 1700000001000, 2},
	    {"h03", MODE_OPEN, MODE_ISOLATED, 0, 1, 0, 0},
	};
	struct metrics_snap s = {.hosts = hosts, .nhosts = 3, .epoch = 42};
	char *t;

	(void)state;
	t = render(&s);
	has_line(t, "# HELP bulkhead_hosts Inventory hosts by the mode their agent last reported "
		    "and by session state.");
	has_line(t, "# TYPE bulkhead_hosts gauge");
	has_line(t, "bulkhead_hosts{mode=\"isolated\",state=\"connected\"} 2");
	has_line(t, "bulkhead_hosts{mode=\"open\",state=\"disconnected\"} 1");
	has_line(t, "bulkhead_hosts{mode=\"segmented\",state=\"connected\"} 0");
	has_line(t, "bulkhead_host_last_seen_timestamp_seconds{host=\"h01\"} 1700000000.123000");
	has_line(t, "bulkhead_host_last_seen_timestamp_seconds{host=\"h03\"} 0.000000");
	has_line(t,
		 "bulkhead_host_mode_current{host=\"h03\",mode=\"open\",commanded=\"isolated\"} 0");
	has_line(t, "bulkhead_host_mode_current{host=\"h01\",mode=\"isolated\","
		    "commanded=\"isolated\"} 1");
	has_line(t, "bulkhead_host_policy_current{host=\"h02\"} 0");
	has_line(t, "bulkhead_host_tamper_undone_total{host=\"h02\"} 2");
	has_line(t, "bulkhead_epoch 42");
	/* Every sample's family was introduced by HELP and TYPE. */
	for (char *l = strtok(t, "\n"); l; l = strtok(NULL, "\n")) {
		char fam[128];

		assert_true(strlen(l) > 0);
		if (l[0] == '#')
			continue;
		assert_int_equal(sscanf(l, "%127[a-z_]", fam), 1);
		assert_true(strncmp(fam, "bulkhead_", 9) == 0);
	}
	free(t);
}

/* The counting points through a struct metrics are not reachable without a
 * controller: the values go into the snapshot by hand here. */
static void test_render_counters(void **state)
{
	struct metrics_snap s = {0};
	char *t;

	(void)state;
	s.v.commands[ACTION_ISOLATE][0] = 3;
	s.v.commands[ACTION_ISOLATE][1] = 1;
	s.v.host_results[ACTION_ISOLATE][HOST_CONFIRMED] = 7;
	s.v.host_results[ACTION_ISOLATE][HOST_ISOLATED_AT_SWITCH] = 1;
	s.v.alerts[ALERT_TAMPER] = 5;
	s.v.rollbacks = 2;
	s.v.fallbacks = 1;
	s.v.tls_failures[MTLS_NO_CERT] = 4;
	s.v.last_isolate_us = 12345;
	s.v.last_isolate_ms = 1700000000500;
	s.v.ack_buckets[0] = 2; /* <= 5 ms */
	s.v.ack_buckets[2] = 1; /* <= 25 ms */
	s.v.ack_count = 4;	/* one past 5 s */
	s.v.ack_sum_us = 6020000;
	t = render(&s);
	has_line(t, "# TYPE bulkhead_commands_total counter");
	has_line(t, "bulkhead_commands_total{action=\"isolate\",result=\"confirmed\"} 3");
	has_line(t, "bulkhead_commands_total{action=\"isolate\",result=\"incomplete\"} 1");
	has_line(t, "bulkhead_commands_total{action=\"release\",result=\"confirmed\"} 0");
	has_line(t,
		 "bulkhead_command_host_results_total{action=\"isolate\",status=\"confirmed\"} 7");
	has_line(t, "bulkhead_command_host_results_total{action=\"isolate\","
		    "status=\"isolated-at-switch\"} 1");
	has_line(t, "bulkhead_alerts_total{kind=\"tamper\"} 5");
	has_line(t, "bulkhead_tamper_alerts_total 5");
	has_line(t, "bulkhead_rollbacks_total 2");
	has_line(t, "bulkhead_switch_fallbacks_total 1");
	has_line(t, "bulkhead_tls_handshake_failures_total{reason=\"no_certificate\"} 4");
	has_line(t, "bulkhead_tls_handshake_failures_total{reason=\"timeout\"} 0");
	has_line(t, "bulkhead_last_isolate_duration_seconds 0.012345");
	has_line(t, "bulkhead_last_isolate_timestamp_seconds 1700000000.500000");
	has_line(t, "# TYPE bulkhead_ack_latency_seconds histogram");
	has_line(t, "bulkhead_ack_latency_seconds_bucket{le=\"0.005000\"} 2");
	has_line(t, "bulkhead_ack_latency_seconds_bucket{le=\"0.010000\"} 2");
	has_line(t, "bulkhead_ack_latency_seconds_bucket{le=\"0.025000\"} 3");
	has_line(t, "bulkhead_ack_latency_seconds_bucket{le=\"5.000000\"} 3");
	has_line(t, "bulkhead_ack_latency_seconds_bucket{le=\"+Inf\"} 4");
	has_line(t, "bulkhead_ack_latency_seconds_sum 6.020000");
	has_line(t, "bulkhead_ack_latency_seconds_count 4");
	free(t);
}

static void test_render_stages(void **state)
{
	struct metrics_stage st[2] = {
	    {"wave \"1\"", 7, "web\\db", STAGE_AWAITING_APPROVAL},
	    {"wave \"1\"", 7, "mail", STAGE_PENDING},
	};
	struct metrics_snap s = {
	    .stages = st, .nstages = 2, .run_present = 1, .run_state = RUN_RUNNING};
	char *t;

	(void)state;
	t = render(&s);
	has_line(t, "bulkhead_playbook_run_state{playbook=\"wave \\\"1\\\"\",run=\"7\","
		    "state=\"running\"} 1");
	has_line(t, "bulkhead_playbook_stage_state{playbook=\"wave \\\"1\\\"\",run=\"7\","
		    "stage=\"web\\\\db\",state=\"awaiting-approval\"} 1");
	has_line(t, "bulkhead_playbook_stage_state{playbook=\"wave \\\"1\\\"\",run=\"7\","
		    "stage=\"mail\",state=\"pending\"} 1");
	has_line(t, "bulkhead_playbook_stage_state{playbook=\"wave \\\"1\\\"\",run=\"7\","
		    "stage=\"mail\",state=\"done\"} 0");
	free(t);
}

static void test_handshake_reasons(void **state)
{
	(void)state;
	assert_string_equal(metrics_tls_reason_name(MTLS_NO_CERT), "no_certificate");
	assert_string_equal(metrics_tls_reason_name(MTLS_UNKNOWN_NAME), "name_not_in_inventory");
	assert_string_equal(metrics_tls_reason_name(MTLS_MAX), "unknown");
	/* Metrics off: every counting point takes NULL. */
	metrics_handshake_failed(NULL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED),
				 0);
	metrics_alert(NULL, ALERT_TAMPER);
	metrics_ack_latency(NULL, 1);
	metrics_command_done(NULL, ACTION_ISOLATE, 1, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_hosts),
	    cmocka_unit_test(test_render_counters),
	    cmocka_unit_test(test_render_stages),
	    cmocka_unit_test(test_handshake_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
