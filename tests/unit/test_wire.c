/* Wire codec: round trips, and hostile frames refused without a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bulkhead/wire.h"

static char buf[WIRE_MAX_FRAME];

static int build_ack(void)
{
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_ACK, 7);
	wire_put_u64(&b, WA_EPOCH, 42);
	wire_put_u8(&b, WA_MODE, MODE_ISOLATED);
	wire_put_u32(&b, WA_RESULT, 0);
	wire_put_u64(&b, WA_APPLY_US, 45);
	wire_put_str(&b, WA_HASH, "abcdef");
	return wire_build_end(&b);
}

static void test_roundtrip(void **state)
{
	struct wire_frame f;
	const char *err = NULL;
	int len = build_ack();

	(void)state;
	assert_true(len > 0);
	assert_int_equal(wire_frame_peek_len(buf, (size_t)len), len);
	assert_int_equal(wire_frame_decode(buf, (size_t)len, &f, &err), 0);
	assert_int_equal(f.type, WIRE_ACK);
	assert_int_equal(f.nlh->nlmsg_seq, 7);
	assert_int_equal(wire_get_u64(&f, WA_EPOCH, 0), 42);
	assert_int_equal(wire_get_u8(&f, WA_MODE, 9), MODE_ISOLATED);
	assert_int_equal(wire_get_u64(&f, WA_APPLY_US, 0), 45);
	assert_string_equal(wire_get_str(&f, WA_HASH, ""), "abcdef");
	assert_string_equal(wire_get_str(&f, WA_ERROR, "none"), "none");
}

static int collect(const char *host, void *arg)
{
	char *out = arg;

	strcat(out, host);
	strcat(out, ",");
	return 0;
}

static void test_repeated_hosts(void **state)
{
	struct wire_builder b;
	struct wire_frame f;
	const char *err;
	char seen[64] = "";
	int len;

	(void)state;
	wire_build_start(&b, buf, WIRE_CTL_ISOLATE, 1);
	wire_put_str(&b, WA_HOST, "h01");
	wire_put_str(&b, WA_REASON, "drill");
	wire_put_str(&b, WA_HOST, "h02");
	len = wire_build_end(&b);
	assert_int_equal(wire_frame_decode(buf, (size_t)len, &f, &err), 0);
	assert_int_equal(wire_hosts_foreach(&f, collect, seen), 0);
	assert_string_equal(seen, "h01,h02,");
}

static void expect_refused(size_t len, const char *why)
{
	struct wire_frame f;
	const char *err = NULL;

	assert_int_equal(wire_frame_decode(buf, len, &f, &err), -1);
	assert_non_null(err);
	assert_string_equal(err, why);
}

static void test_truncated(void **state)
{
	int len = build_ack();

	(void)state;
	for (int cut = 0; cut < len; cut++) {
		struct wire_frame f;
		const char *err = NULL;

		assert_int_equal(wire_frame_decode(buf, (size_t)cut, &f, &err), -1);
		assert_non_null(err);
	}
	expect_refused(3, "truncated frame");
	expect_refused((size_t)len - 1, "truncated frame");
}

static void test_truncated_attribute(void **state)
{
	int len = build_ack();
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

	(void)state;
	/* Shorten the frame so the last attribute runs past its end. */
	nlh->nlmsg_len = (uint32_t)len - 4;
	expect_refused((size_t)len - 4, "truncated attribute");
}

static void test_unaligned_length(void **state)
{
	int len = build_ack();
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

	(void)state;
	/* One byte past a whole frame: the attribute walk must not run on to
	 * the next multiple of 4. */
	nlh->nlmsg_len = (uint32_t)len + 1;
	expect_refused((size_t)len + 1, "misaligned frame length");
	nlh->nlmsg_len = (uint32_t)len - 1;
	expect_refused((size_t)len - 1, "misaligned frame length");
}

static void test_oversized(void **state)
{
	struct wire_builder b;
	static char big[WIRE_MAX_FRAME];
	uint32_t huge = WIRE_MAX_FRAME + 1;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wire_build_start(&b, buf, WIRE_ACK, 1);
	wire_put_str(&b, WA_ERROR, big);
	assert_int_equal(wire_build_end(&b), -1);

	memcpy(buf, &huge, sizeof(huge));
	assert_int_equal(wire_frame_peek_len(buf, 4), -1);
	expect_refused(WIRE_MAX_FRAME + 1, "oversized frame");
	assert_int_equal(wire_frame_peek_len(buf, 3), 0);
}

/* A length that is not a multiple of 4 is refused by the stream reader too. */
static void test_unaligned(void **state)
{
	int len = build_ack();
	uint32_t odd = (uint32_t)len + 2;

	(void)state;
	memcpy(buf, &odd, sizeof(odd));
	assert_int_equal(wire_frame_peek_len(buf, 4), -1);
	expect_refused((size_t)len + 2, "misaligned frame length");
}

static void test_wrong_version(void **state)
{
	int len = build_ack();
	struct wire_hdr *wh = (struct wire_hdr *)(buf + MNL_NLMSG_HDRLEN);

	(void)state;
	wh->version = WIRE_VERSION + 1;
	expect_refused((size_t)len, "unsupported protocol version");
}

static void test_unknown_type(void **state)
{
	int len = build_ack();
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

	(void)state;
	nlh->nlmsg_type = WIRE_TYPE_MAX;
	expect_refused((size_t)len, "unknown frame type");
	nlh->nlmsg_type = NLMSG_ERROR;
	expect_refused((size_t)len, "unknown frame type");
}

static void test_bad_attributes(void **state)
{
	struct wire_builder b;
	int len;

	(void)state;
	/* A u64 attribute carrying 4 bytes. */
	wire_build_start(&b, buf, WIRE_ACK, 1);
	wire_put_u32(&b, WA_EPOCH, 1);
	len = wire_build_end(&b);
	expect_refused((size_t)len, "malformed attribute");

	/* An attribute number the protocol does not have. */
	wire_build_start(&b, buf, WIRE_ACK, 1);
	wire_put_u32(&b, WA_MAX + 1, 1);
	len = wire_build_end(&b);
	expect_refused((size_t)len, "unknown attribute");

	/* A string without its terminating NUL. */
	wire_build_start(&b, buf, WIRE_HELLO, 1);
	mnl_attr_put(b.nlh, WA_NAME, 3, "h01");
	len = wire_build_end(&b);
	expect_refused((size_t)len, "malformed attribute");
}

/* Random bytes must never crash the decoder. */
static void test_garbage(void **state)
{
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		struct wire_frame f;
		const char *err;
		size_t len = 16 + (size_t)(round % 200);

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (char)(seed >> 16);
		}
		if (round % 2) {
			uint32_t l = (uint32_t)len;
			struct wire_hdr *wh = (struct wire_hdr *)(buf + MNL_NLMSG_HDRLEN);

			memcpy(buf, &l, sizeof(l));
			wh->version = WIRE_VERSION;
		}
		(void)wire_frame_decode(buf, len, &f, &err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),	     cmocka_unit_test(test_repeated_hosts),
	    cmocka_unit_test(test_truncated),	     cmocka_unit_test(test_truncated_attribute),
	    cmocka_unit_test(test_unaligned_length), cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_wrong_version),    cmocka_unit_test(test_unknown_type),
	    cmocka_unit_test(test_bad_attributes),   cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_unaligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
