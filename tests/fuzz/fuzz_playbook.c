/* A playbook file (lib/playbook_parse.c and its checks), against the example
 * site in policies/ and the playbook tests' site, each loaded once. What
 * loads is printed as a dry run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bulkhead/playbook.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	const char *dir;
	struct policy *p;
} sites[] = {
    {FUZZ_SOURCE_ROOT "/policies", NULL},
    {FUZZ_SOURCE_ROOT "/tests/playbook/base", NULL},
};
#define NSITES (sizeof(sites) / sizeof(sites[0]))

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (size_t i = 0; i < NSITES; i++) {
		sites[i].p = policy_load_at(sites[i].dir, FUZZ_TODAY, conf_error_stderr,
					    fuzz_error_drop, NULL);
		if (!sites[i].p) {
			fprintf(stderr, "%s: the site does not load\n", sites[i].dir);
			abort();
		}
	}
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_dir();
	char file[512];

	snprintf(file, sizeof(file), "%s/playbook.yaml", dir);
	fuzz_file_write(dir, "playbook.yaml", data, size);
	for (size_t i = 0; i < NSITES; i++) {
		const struct policy *p = sites[i].p;
		struct playbook *pb = playbook_load_warn(file, p, sites[i].dir, fuzz_error_drop,
							 fuzz_error_drop, NULL);

		if (!pb)
			continue;
		for (size_t h = 0; h < policy_host_count(p); h++)
			playbook_host_stage(pb, p, policy_host_name(p, h));
		playbook_dry_run_print(pb, p, sites[i].dir, devnull);
		playbook_free(pb);
	}
	return 0;
}
