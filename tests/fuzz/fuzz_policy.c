/* A policy directory (lib/policy_parse.c and what checks and compiles it):
 * the input is its five files, one after another, split on lines that are
 * exactly "%%". A file the input runs out before is missing. What loads is
 * compiled for every host, and each host's policy rendered. */
#include <stdint.h>
#include <stdlib.h>

#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {"inventory.yaml", "groups.yaml", "services.yaml", "rules.yaml",
				    "management.yaml"};
#define NFILES (sizeof(files) / sizeof(files[0]))

/* Each WIRE_POLICY frame of a compiled policy, into a receiver. */
static int frame_emit(const void *frame, int len, void *arg)
{
	struct policy_wire_rx *rx = arg;
	struct wire_frame f;
	const char *err = NULL;

	if (wire_frame_decode(frame, (size_t)len, &f, &err) < 0 ||
	    policy_wire_rx_add(rx, &f, &err) < 0)
		__builtin_trap();
	return 0;
}

/* What the controller sends, the agent takes back whole, to the hash. */
static void policy_send(const struct host_policy *hp)
{
	static _Alignas(8) uint8_t buf[WIRE_MAX_FRAME];
	struct policy_wire_rx *rx = policy_wire_rx_new();
	struct host_policy *got;

	if (policy_wire_encode(hp, buf, frame_emit, rx) < 0 || !(got = policy_wire_rx_take(rx)))
		__builtin_trap();
	host_policy_free(got);
	policy_wire_rx_free(rx);
}

static void policy_exercise(const struct policy *p)
{
	struct policy_stats st;
	struct policy_verdict v;
	size_t n = policy_host_count(p);

	policy_stats_get(p, &st);
	for (size_t i = 0; i < n; i++) {
		struct host_policy *hp = policy_host_compile(p, policy_host_name(p, i));
		size_t len;

		if (!hp)
			__builtin_trap();
		free(host_policy_text(hp, &len));
		policy_send(hp);
		host_policy_free(hp);
	}
	if (n >= 2)
		policy_explain(p, policy_host_name(p, 0), policy_host_name(p, n - 1), 6, 443, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[NFILES];
	const char *dir = fuzz_dir();
	size_t n = fuzz_split(data, size, parts, NFILES);
	struct policy *p;

	for (size_t i = 0; i < NFILES; i++)
		fuzz_file_write(dir, files[i], i < n ? parts[i].data : NULL,
				i < n ? parts[i].len : 0);
	p = policy_load_at(dir, FUZZ_TODAY, fuzz_error_drop, fuzz_error_drop, NULL);
	if (p)
		policy_exercise(p);
	policy_free(p);
	return 0;
}
