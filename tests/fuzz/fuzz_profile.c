/* A hardware profile, hw-profiles/NAME.yaml: parsed (lib/profile_conf.c)
 * and checked for its kind (agents/profile.c). The file is fuzz.yaml, so
 * the name that matches it is "fuzz"; the kind picks the ops. */
#include <stdbool.h>
#include <stdint.h>

#include "fuzz_util.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_dir();
	struct profile p;

	fuzz_file_write(dir, "fuzz.yaml", data, size);
	profile_load(&p, dir, true, "fuzz", fuzz_error_drop, NULL);
	profile_clear(&p);
	return 0;
}
