/* bulkhead: the operator's CLI. Parses argv, hands the subcommand to its
 * file, and prints usage from the command table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} subcommands[] = {
    {"isolate", cmd_isolate_main, "cut hosts off the network, except their management channel"},
    {"release", cmd_release_main,
     "bring hosts back: to their policy (segmented), or open if they have none"},
    {"status", cmd_status_main, "show every host's mode, epoch, session and ruleset hash"},
    {"check", cmd_check_main, "check a policy checkout; every error as file:line:col"},
    {"render", cmd_render_main, "print the exact nftables ruleset a host gets"},
    {"explain", cmd_explain_main, "say whether a flow is allowed, and by which rule"},
    {"hosts", cmd_hosts_main, "list the inventory of a policy checkout"},
    {"plan", cmd_plan_main, "compare a policy checkout with what every host has applied"},
    {"apply", cmd_apply_main, "push a reviewed plan, commit-confirmed"},
    {"confirm", cmd_confirm_main, "confirm the changes an apply left waiting"},
    {"playbook", cmd_playbook_main, "check, dry-run and run staged reconnection playbooks"},
    {"audit", cmd_audit_main, "the hash-chained audit log; audit verify checks it"},
    {"timeline", cmd_timeline_main, "the incident timeline from the audit log"},
    {"pki", cmd_pki_main, "create the site CA and issue certificates"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: bulkhead [-s SOCKET] [--json] COMMAND [ARGS...]\n\n"
		     "  -s SOCKET   controller's control socket (default $BULKHEAD_SOCKET or\n"
		     "              /run/bulkhead/bulkheadd.sock)\n"
		     "  --json      machine-readable output\n"
		     "  --version   print the version\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-9s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(out, "\n'bulkhead COMMAND --help' describes each command; see bulkhead(8).\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			cli.socket = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			cli.json = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("bulkhead %s\n", BULKHEAD_VERSION);
			return 0;
		} else {
			fprintf(stderr, "bulkhead: unknown option \"%s\"\n", argv[i]);
			usage(stderr);
			return 64;
		}
	}
	if (i == argc) {
		usage(stderr);
		return 64;
	}
	for (size_t j = 0; j < sizeof(subcommands) / sizeof(subcommands[0]); j++)
		if (strcmp(argv[i], subcommands[j].name) == 0)
			return subcommands[j].fn(argc - i, argv + i);
	fprintf(stderr, "bulkhead: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return 64;
}
