/* The floor of an isolation of N hosts on one machine: one persistent
 * process that commits the agent's isolation transaction (agents/nft_*.c)
 * into each host's network namespace in turn, with no TLS, no controller
 * and no process start per host. Driven over stdin by bench/compare.sh. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/names.h"
#include "nft.h"

static void usage(void)
{
	fprintf(stderr, "usage: nft_floor -c CONTROLLER [-p PORT] NAMESPACE...\n"
			"  Stages table inet " NFT_TABLE_NAME " (mode open) in every namespace\n"
			"  (/run/netns/NAMESPACE), prints \"ready N\", then reads commands\n"
			"  on stdin, one a line: isolate | release | quit. For each, commits\n"
			"  the mode change into every namespace in turn and prints\n"
			"  \"isolate|release MS FAILED\": the time for all of them, in ms.\n");
	exit(64);
}

/* A socket stays in the namespace it was made in: enter, open, come back. */
static struct agent_nft *ns_nft_open(const char *name, int home)
{
	char path[256];
	struct agent_nft *n;
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		perror(path);
		return NULL;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		perror("setns");
		close(fd);
		return NULL;
	}
	close(fd);
	n = agent_nft_new(false);
	if (setns(home, CLONE_NEWNET) < 0)
		fatal("cannot return to the first namespace");
	return n;
}

int main(int argc, char **argv)
{
	struct conf_addr ctl;
	struct nft_mgmt m = {&ctl, 1, 7443};
	struct agent_nft **nft;
	const char *ctl_addr = NULL;
	char line[64];
	int c, nns, home;

	log_init("nft-floor", 0);
	while ((c = getopt(argc, argv, "c:p:")) != -1) {
		switch (c) {
		case 'c': ctl_addr = optarg; break;
		case 'p': m.port = (uint16_t)atoi(optarg); break;
		default: usage();
		}
	}
	if (!ctl_addr || optind >= argc)
		usage();
	if (conf_addr_parse(ctl_addr, &ctl) < 0) {
		fprintf(stderr, "nft_floor: bad controller address %s\n", ctl_addr);
		return 64;
	}
	nns = argc - optind;
	if ((home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
		perror("/proc/self/ns/net");
		return 1;
	}
	nft = xcalloc((size_t)nns, sizeof(*nft));
	/* Staged untimed, as every agent keeps its table staged. */
	for (int i = 0; i < nns; i++) {
		if (!(nft[i] = ns_nft_open(argv[optind + i], home)))
			return 1;
		if (nft_table_install(nft[i], &m, MODE_OPEN, NULL) < 0) {
			fprintf(stderr, "nft_floor: staging the table in %s failed\n",
				argv[optind + i]);
			return 1;
		}
	}
	printf("ready %d\n", nns);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		int mode, failed = 0;
		uint64_t t0, us;

		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "quit"))
			break;
		if (!strcmp(line, "isolate"))
			mode = MODE_ISOLATED;
		else if (!strcmp(line, "release"))
			mode = MODE_OPEN;
		else {
			printf("error unknown command\n");
			fflush(stdout);
			continue;
		}
		t0 = clock_mono_us();
		for (int i = 0; i < nns; i++)
			if (nft_mode_apply(nft[i], mode, &us) < 0)
				failed++;
		printf("%s %.3f %d\n", line, (double)(clock_mono_us() - t0) / 1000.0, failed);
		fflush(stdout);
	}
	for (int i = 0; i < nns; i++)
		agent_nft_free(nft[i]);
	free(nft);
	close(home);
	return 0;
}
