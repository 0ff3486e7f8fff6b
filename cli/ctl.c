/* bulkhead isolate / release / status: one request on the control socket,
 * then the hosts' rows until END. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "output.h"

#define CONFIRM_S_DEFAULT 30

static void mode_usage(FILE *out, const char *cmd)
{
	enum action action = action_parse(cmd);
	bool isolate = action == ACTION_ISOLATE;

	fprintf(
	    out,
	    "usage: bulkhead %s --all | HOST... [--reason TEXT] [--timeout SECONDS] %s[--json]\n"
	    "  --all             every host in the inventory\n"
	    "  --reason TEXT     why, recorded with the command\n"
	    "  --timeout SECONDS how long to wait for the hosts to confirm (default 10)\n",
	    action_name(action),
	    isolate ? "[--hard] [--no-fallback] " : "[--confirm-timeout SECONDS] ");
	if (isolate)
		fprintf(
		    out,
		    "  --hard            also take the data links down (servers) and block the\n"
		    "                    host-facing ports (switches); never the management link\n"
		    "  --no-fallback     do not isolate a silent host at its switch port\n");
	else
		fprintf(
		    out,
		    "  --confirm-timeout SECONDS\n"
		    "                    a host that does not get the controller's confirmation\n"
		    "                    within this time returns to isolation by itself (30)\n");
	fprintf(out, "  --json            print the result as one JSON document\n"
		     "Exit status: 0 if every targeted host confirmed, 1 if any did not,\n"
		     "69 if the controller cannot be reached, 64 on bad usage.\n");
}

static int mode_main(int argc, char **argv, enum action action)
{
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
						 {"reason", required_argument, NULL, 'r'},
						 {"timeout", required_argument, NULL, 't'},
						 {"json", no_argument, NULL, 'j'},
						 {"confirm-timeout", required_argument, NULL, 'c'},
						 {"hard", no_argument, NULL, 'H'},
						 {"no-fallback", no_argument, NULL, 'F'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	static char buf[WIRE_MAX_FRAME];
	const char *cmd = action_name(action);
	struct msg_ctl_mode m = {.release = action == ACTION_RELEASE};
	double timeout_s = 10, confirm_s = CONFIRM_S_DEFAULT;
	int opt, rc, len;

	optind = 1;
	while ((opt = cli_getopt(argc, argv, "ar:t:c:HFjh", longopts, mode_usage, &rc)) >= 0) {
		switch (opt) {
		case 'a': m.all = true; break;
		case 'r': m.reason = optarg; break;
		case 't':
			if (cli_seconds_parse(cmd, "--timeout", optarg, &timeout_s) < 0)
				return EX_USAGE;
			break;
		case 'c':
			if (cli_seconds_parse(cmd, "--confirm-timeout", optarg, &confirm_s) < 0)
				return EX_USAGE;
			break;
		case 'H': m.hard = true; break;
		case 'F': m.no_fallback = true; break;
		case 'j': cli.json = true; break;
		}
	}
	if (opt == CLI_OPT_USAGE)
		return rc;
	if ((m.hard || m.no_fallback) && m.release) {
		fprintf(stderr, "bulkhead %s: --hard and --no-fallback go with isolate\n", cmd);
		return EX_USAGE;
	}
	if (m.all == (optind < argc)) {
		fprintf(stderr, "bulkhead %s: name hosts or give --all, not both or neither\n",
			cmd);
		mode_usage(stderr, cmd);
		return EX_USAGE;
	}
	m.hosts.v = (const char *const *)argv + optind;
	m.hosts.n = argc - optind;
	m.timeout_ms = (uint32_t)(timeout_s * 1000);
	/* Only a release arms the hosts' rollback timers. */
	m.confirm_ms = (uint32_t)((m.release ? confirm_s : CONFIRM_S_DEFAULT) * 1000);
	len = msg_ctl_mode_encode(buf, 1, &m);
	if (len < 0) {
		fprintf(stderr, "bulkhead %s: request too large; name fewer hosts\n", cmd);
		return EX_USAGE;
	}
	/* The switch-port fallback may add a few seconds after the deadline. */
	return conn_command(action, m.reason, buf, len, (int)m.timeout_ms + 10000);
}

int cmd_isolate_main(int argc, char **argv)
{
	return mode_main(argc, argv, ACTION_ISOLATE);
}

int cmd_release_main(int argc, char **argv)
{
	return mode_main(argc, argv, ACTION_RELEASE);
}

int cmd_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
	static char buf[WIRE_MAX_FRAME];
	struct reply r = {.what = "status"};
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': cli.json = true; break;
		case 'h':
			printf("usage: bulkhead status [--json]\n"
			       "Every inventory host: mode, epoch, connected, last seen, and the "
			       "hash\n"
			       "of the ruleset its agent applied.\n");
			return EX_OK;
		default: fprintf(stderr, "usage: bulkhead status [--json]\n"); return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: bulkhead status [--json]\n");
		return EX_USAGE;
	}
	rc = conn_exchange(buf, msg_empty_encode(buf, 1, WIRE_CTL_STATUS), 10000, &r, NULL, NULL);
	if (rc == 0)
		output_status(&r, cli.json);
	reply_free(&r);
	return rc;
}

/* reload: bulkheadd reads its TLS files and revocation list again. */
int cmd_reload_main(int argc, char **argv)
{
	static const char usage[] = "usage: bulkhead reload\n";
	static char buf[WIRE_MAX_FRAME];

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf(
		    "%s"
		    "bulkheadd reads its certificate, key, CA and revocation list again (as on\n"
		    "SIGHUP) and closes the sessions of revoked hosts. If anything is unusable,\n"
		    "nothing changes and the first problem is printed.\n"
		    "Exit status: 0 reloaded, 1 refused, 69 if the controller cannot be reached.\n",
		    usage);
		return EX_OK;
	}
	if (argc != 1) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	return conn_verdict("reload refused: ", buf, msg_empty_encode(buf, 1, WIRE_CTL_RELOAD),
			    30000);
}
