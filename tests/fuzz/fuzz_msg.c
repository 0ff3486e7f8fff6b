/* One frame as a peer sends it: the wire codec, then every typed decoder,
 * the round trip through the encoders, and a policy part into a receiver. */
#include <stdint.h>
#include <string.h>

#include "bulkhead/msg.h"
#include "bulkhead/policy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_wire_rx *rx;
	struct wire_frame f;
	const char *err = NULL;
	int rc;

	if (wire_frame_decode(data, size, &f, &err) < 0) {
		if (!err || !*err)
			__builtin_trap();
		return 0;
	}
	/* A stream reader must find the same frame in its length field. */
	if ((size_t)wire_frame_peek_len(data, size) != size)
		__builtin_trap();
	fuzz_frame_check(&f);
	if (f.type != WIRE_POLICY)
		return 0;
	rx = policy_wire_rx_new();
	rc = policy_wire_rx_add(rx, &f, &err);
	if (rc == 1) {
		struct host_policy *hp = policy_wire_rx_take(rx);

		if (!hp)
			__builtin_trap();
		host_policy_free(hp);
	}
	policy_wire_rx_free(rx);
	return 0;
}
