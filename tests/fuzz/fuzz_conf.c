/* The daemons' configuration files (lib/daemon_conf.c): the input as
 * agent.yaml, as bulkheadd.yaml and as the revocation list (lib/revoked.c). */
#include <stdint.h>
#include <stdio.h>

#include "bulkhead/conf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_dir();
	struct agent_conf ac;
	struct ctl_conf cc;
	struct revoked_list rl;
	char file[512];

	snprintf(file, sizeof(file), "%s/conf.yaml", dir);
	fuzz_file_write(dir, "conf.yaml", data, size);
	if (agent_conf_load(file, &ac, fuzz_error_drop, NULL) == 0)
		agent_conf_clear(&ac);
	if (ctl_conf_load(file, &cc, fuzz_error_drop, NULL) == 0)
		ctl_conf_clear(&cc);
	if (revoked_load(file, &rl, fuzz_error_drop, NULL) == 0)
		revoked_clear(&rl);
	return 0;
}
