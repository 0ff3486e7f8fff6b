/* The half-open limits of bulkheadd (controller/admit.c): per source,
 * global with the busiest source giving way, deadlines, release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include <event2/event.h>

#include "admit.h"

/* An owner: a session as admit sees it. */
struct owner {
	struct admit_slot *slot;
	int expired;
	char why[96];
};

static void owner_expire(void *arg, const char *why)
{
	struct owner *o = arg;

	o->expired++;
	snprintf(o->why, sizeof(o->why), "%s", why);
	admit_release(o->slot); /* what peer_free does */
	o->slot = NULL;
}

static struct sockaddr_in src4(int host)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char a[32];

	snprintf(a, sizeof(a), "198.18.1.%d", host);
	inet_pton(AF_INET, a, &sin.sin_addr);
	return sin;
}

static struct admit_slot *take(struct admit *a, int host, struct owner *o)
{
	struct sockaddr_in sin = src4(host);

	o->slot = admit_take(a, (struct sockaddr *)&sin, o);
	return o->slot;
}

static void test_per_source(void **state)
{
	struct event_base *base = event_base_new();
	struct admit *a = admit_new(base, 100, 3, 10000, owner_expire);
	struct owner o[6] = {0};

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_non_null(take(a, 1, &o[i]));
	assert_null(take(a, 1, &o[3])); /* the fourth from the same address */
	assert_non_null(take(a, 2, &o[4])); /* another address is not held back */
	assert_int_equal(admit_count(a), 4);
	admit_release(o[0].slot); /* a handshake finished */
	o[0].slot = NULL;
	assert_non_null(take(a, 1, &o[5]));
	for (int i = 0; i < 6; i++)
		assert_int_equal(o[i].expired, 0);
	admit_free(a); /* the rest end with it */
	assert_int_equal(o[1].expired + o[2].expired + o[4].expired + o[5].expired, 4);
	event_base_free(base);
}

/* At the global limit, a source with none takes the busiest's oldest
 * place; with no source holding two, the newcomer is refused. */
static void test_global(void **state)
{
	struct event_base *base = event_base_new();
	struct admit *a = admit_new(base, 4, 16, 10000, owner_expire);
	struct owner o[8] = {0};

	(void)state;
	assert_non_null(take(a, 1, &o[0]));
	assert_non_null(take(a, 1, &o[1]));
	assert_non_null(take(a, 2, &o[2]));
	assert_non_null(take(a, 3, &o[3]));
	assert_non_null(take(a, 4, &o[4])); /* source 1 gives up its oldest */
	assert_int_equal(o[0].expired, 1);
	assert_non_null(strstr(o[0].why, "handshake_max"));
	assert_int_equal(o[1].expired, 0);
	assert_int_equal(admit_count(a), 4);
	assert_null(take(a, 5, &o[5])); /* one each now: refused */
	assert_null(take(a, 2, &o[6])); /* a source that holds one does not evict */
	assert_int_equal(admit_count(a), 4);
	admit_free(a);
	event_base_free(base);
}

/* A handshake ends at its deadline, however it trickles. */
static void test_deadline(void **state)
{
	struct event_base *base = event_base_new();
	struct admit *a = admit_new(base, 10, 10, 50, owner_expire);
	struct owner o[2] = {0};

	(void)state;
	assert_non_null(take(a, 1, &o[0]));
	assert_non_null(take(a, 1, &o[1]));
	admit_release(o[1].slot);
	o[1].slot = NULL;
	for (int i = 0; i < 100 && !o[0].expired; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(o[0].expired, 1);
	assert_non_null(strstr(o[0].why, "not finished"));
	assert_int_equal(o[1].expired, 0);
	assert_int_equal(admit_count(a), 0);
	assert_int_equal(admit_log_ok(a), 1);
	admit_free(a);
	event_base_free(base);
}

static void test_log_budget(void **state)
{
	struct event_base *base = event_base_new();
	struct admit *a = admit_new(base, 10, 10, 10000, owner_expire);
	int ok = 0;

	(void)state;
	for (int i = 0; i < 1000; i++)
		ok += admit_log_ok(a);
	assert_true(ok > 0 && ok <= 20);
	admit_free(a);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_source),
	    cmocka_unit_test(test_global),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_log_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
