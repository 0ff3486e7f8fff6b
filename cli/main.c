/* bulkhead: the operator's CLI. Parses the global options, then hands the
 * command to its file through the command table. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

struct cli_global cli = {.socket = NULL, .json = false};

/* Each group's own usage is its --help: a table of its own (pki, playbook,
 * audit), or the command's. */
static const struct cli_cmd commands[] = {
    {"isolate", cmd_isolate_main, "cut hosts off the network, except their management channel",
     NULL, NULL},
    {"release", cmd_release_main,
     "bring hosts back: to their policy (segmented), or open if they have none", NULL, NULL},
    {"status", cmd_status_main, "show every host's mode, epoch, session and ruleset hash", NULL,
     NULL},
    {"check", cmd_check_main, "check a policy checkout; every error as file:line:col", NULL, NULL},
    {"render", cmd_render_main, "print the exact nftables ruleset a host gets", NULL, NULL},
    {"explain", cmd_explain_main, "say whether a flow is allowed, and by which rule", NULL, NULL},
    {"hosts", cmd_hosts_main, "list the inventory of a policy checkout", NULL, NULL},
    {"plan", cmd_plan_main, "compare a policy checkout with what every host has applied", NULL,
     NULL},
    {"apply", cmd_apply_main, "push a reviewed plan, commit-confirmed", NULL, NULL},
    {"confirm", cmd_confirm_main, "confirm the changes an apply left waiting", NULL, NULL},
    {"approve", cmd_approve_main, "approve, as the second operator, a request held for one", NULL,
     NULL},
    {"playbook", cmd_playbook_main, "check, dry-run and run staged reconnection playbooks", NULL,
     NULL},
    {"audit", cmd_audit_main, "the hash-chained audit log; audit verify checks it", NULL, NULL},
    {"timeline", cmd_timeline_main, "the incident timeline from the audit log", NULL, NULL},
    {"reload", cmd_reload_main, "make bulkheadd read its certificates and revocation list again",
     NULL, NULL},
    {"pki", cmd_pki_main, "create the site CA, issue, rotate and revoke certificates", NULL, NULL},
    /* for dist/bash-completion: not listed */
    {"complete", cmd_complete_main, NULL, NULL, NULL},
};

static const struct cli_table top = {
    CLI_TABLE("bulkhead", commands),
    .args = "[-s SOCKET] [--json] COMMAND [ARGS...]",
    .head = "  -s SOCKET   controller's control socket (default $BULKHEAD_SOCKET or\n"
	    "              /run/bulkhead/bulkheadd.sock)\n"
	    "  --json      machine-readable output\n"
	    "  --version   print the version\n\n"
	    "commands:\n",
    .foot = "\n'bulkhead COMMAND --help' describes each command; see bulkhead(8).\n",
};

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			cli.socket = argv[++i];
		else if (strcmp(argv[i], "-s") == 0) {
			fprintf(stderr, "bulkhead: -s needs the path of the controller's control "
					"socket: bulkhead -s SOCKET COMMAND\n");
			return EX_USAGE;
		} else if (strcmp(argv[i], "--json") == 0)
			cli.json = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			cli_usage(stdout, &top, NULL);
			return EX_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("bulkhead %s\n", BULKHEAD_VERSION);
			return EX_OK;
		} else {
			fprintf(stderr, "bulkhead: unknown option \"%s\" (the options are below)\n",
				argv[i]);
			cli_usage(stderr, &top, NULL);
			return EX_USAGE;
		}
	}
	/* argv[i - 1] stands for the table's own name: the command is argv[i]. */
	return cli_table_main(&top, argc - i + 1, argv + i - 1);
}
