/* controller/events.c: the JSON lines of each kind of event in events_file,
 * the same lines on events_exec's stdin, and the program's bounds (a
 * failing program, one that does not exist, more events than the queue
 * holds, programs still running at the stop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <event2/event.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "controller.h"
#include "events.h"

static char dir[] = "/tmp/bulkhead-test-events-XXXXXX";

static char *path_in(const char *name)
{
	char *p = calloc(1, 256);

	assert_non_null(p);
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static void script_write(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0700), 0);
}

/* The file's text; "" when it does not exist. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *t = calloc(1, 65536);
	size_t n = 0;

	assert_non_null(t);
	if (f) {
		n = fread(t, 1, 65535, f);
		fclose(f);
	}
	t[n] = '\0';
	return t;
}

static int lines(const char *t)
{
	int n = 0;

	for (; *t; t++)
		n += *t == '\n';
	return n;
}

/* Runs the loop until path has want lines, for at most secs. */
static int loop_until_lines(struct event_base *base, const char *path, int want, int secs)
{
	uint64_t end = clock_mono_us() + (uint64_t)secs * 1000000;
	struct timeval tick = {0, 20000};

	while (clock_mono_us() < end) {
		char *t = slurp(path);
		int n = lines(t);

		free(t);
		if (n >= want)
			return n;
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	return -1;
}

static void test_events_lines(void **state)
{
	struct ctl c = {0};
	char *file = path_in("events.jsonl"), *out = path_in("exec.jsonl"), *hook = path_in("hook");
	char body[400], *t, *x;
	int counts[HOST_STATUS_MAX + 1] = {0};

	(void)state;
	snprintf(body, sizeof(body), "cat >>\"%s\"", out);
	script_write(hook, body);
	c.base = event_base_new();
	c.conf.events_file = file;
	c.conf.events_exec = hook;
	assert_int_equal(events_start(&c), 0);
	assert_non_null(c.events);
	counts[HOST_CONFIRMED] = 3;
	counts[HOST_TIMEOUT] = 1;
	events_command(c.events, ACTION_ISOLATE, 12, 7, counts, 4, 4900);
	events_alert(c.events, "h01", ALERT_TAMPER, "table \"bulkhead\" \\ changed\n\tby nft");
	events_stage(c.events, "wave-1", 3, 0, "web", STAGE_DONE);
	assert_int_equal(loop_until_lines(c.base, out, 3, 10), 3);
	t = slurp(file);
	assert_int_equal(lines(t), 3);
	assert_non_null(strstr(t, "\",\"event\":\"command\",\"action\":\"isolate\",\"epoch\":12,"
				  "\"command_id\":7,\"hosts\":4,\"elapsed_ms\":4.900,"
				  "\"results\":{\"confirmed\":3,\"timeout\":1}}\n"));
	assert_non_null(strstr(t, "\",\"event\":\"alert\",\"host\":\"h01\",\"kind\":\"tamper\","
				  "\"text\":\"table \\\"bulkhead\\\" \\\\ changed\\u000a\\u0009by "
				  "nft\"}\n"));
	assert_non_null(strstr(t, "\",\"event\":\"stage\",\"playbook\":\"wave-1\",\"run\":3,"
				  "\"index\":1,\"stage\":\"web\",\"state\":\"done\"}\n"));
	assert_true(strncmp(t, "{\"time\":\"", 9) == 0);
	/* The program got the same lines, in some order (they run at once). */
	x = slurp(out);
	for (char *l = strtok(t, "\n"); l; l = strtok(NULL, "\n"))
		assert_non_null(strstr(x, l));
	free(x);
	free(t);
	events_stop(c.events);
	event_base_free(c.base);
	free(file);
	free(out);
	free(hook);
}

/* A program that fails, or is not there: logged, and the next event still
 * goes out. */
static void test_events_exec_fails(void **state)
{
	struct ctl c = {0};
	char *file = path_in("fail.jsonl"), *hook = path_in("nothere");
	char *t;

	(void)state;
	c.base = event_base_new();
	c.conf.events_file = file;
	c.conf.events_exec = hook;
	assert_int_equal(events_start(&c), 0);
	events_alert(c.events, "h02", ALERT_ROLLBACK, "x");
	events_alert(c.events, "h02", ALERT_DEADMAN, "y");
	assert_int_equal(loop_until_lines(c.base, file, 2, 5), 2);
	{
		struct timeval tv = {0, 300000};

		event_base_loopexit(c.base, &tv);
		event_base_dispatch(c.base);
	}
	t = slurp(file);
	assert_non_null(strstr(t, "\"kind\":\"deadman\""));
	free(t);
	events_stop(c.events);
	event_base_free(c.base);
	free(file);
	free(hook);
}

/* More events than can run or wait: the rest are dropped, nothing blocks,
 * and the stop kills what still runs and frees what waits. */
static void test_events_exec_bounded(void **state)
{
	struct ctl c = {0};
	char *hook = path_in("slow");
	uint64_t t0;

	(void)state;
	script_write(hook, "exec sleep 30");
	c.base = event_base_new();
	c.conf.events_exec = hook;
	assert_int_equal(events_start(&c), 0);
	t0 = clock_mono_us();
	for (int i = 0; i < 300; i++)
		events_stage(c.events, "p", 1, i, "s", STAGE_PENDING);
	assert_true(clock_mono_us() - t0 < 5000000);
	t0 = clock_mono_us();
	events_stop(c.events);
	assert_true(clock_mono_us() - t0 < 5000000);
	event_base_free(c.base);
	free(hook);
}

static void test_events_off(void **state)
{
	struct ctl c = {0};
	int counts[HOST_STATUS_MAX + 1] = {0};

	(void)state;
	assert_int_equal(events_start(&c), 0);
	assert_null(c.events);
	events_command(NULL, ACTION_ISOLATE, 1, 1, counts, 0, 0);
	events_alert(NULL, "h", ALERT_TAMPER, "t");
	events_stage(NULL, "p", 1, 0, "s", STAGE_DONE);
	events_stop(NULL);
	/* An events_file that cannot be opened is logged, and each event
	 * tries again. */
	c.base = event_base_new();
	c.conf.events_file = "/nonexistent/dir/events.jsonl";
	assert_int_equal(events_start(&c), 0);
	assert_non_null(c.events);
	events_alert(c.events, "h", ALERT_TAMPER, "t");
	events_stop(c.events);
	event_base_free(c.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_lines),
	    cmocka_unit_test(test_events_exec_fails),
	    cmocka_unit_test(test_events_exec_bounded),
	    cmocka_unit_test(test_events_off),
	};
	char cmd[128];
	int rc;

	if (!mkdtemp(dir))
		return 1;
	log_init("test_events", 0);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
