/* The agent's state directory (agents/state.c): the input as the state
 * record, read through state_parse, and as a kept policy file, the
 * WIRE_POLICY frames read back by state_policy_load. */
#include <stdint.h>
#include <stdio.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "agent.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HASH "0000000000000000000000000000000000000000000000000000000000000000"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_dir();
	struct agent_record r;

	if (size) {
		FILE *f = fmemopen((void *)data, size, "r");
		if (!f)
			__builtin_trap();
		state_parse(f, &r);
		fclose(f);
	}
	fuzz_file_write(dir, "policy-" HASH, data, size);
	host_policy_free(state_policy_load(dir, HASH));
	return 0;
}
