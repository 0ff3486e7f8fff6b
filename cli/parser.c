/* The command tables: finding a command by name, and printing a table's
 * usage from it, the same way for the top level and for every group. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"

const struct cli_cmd *cli_cmd_find(const struct cli_table *t, const char *name)
{
	for (size_t i = 0; name && i < t->ncmds; i++)
		if (strcmp(name, t->cmds[i].name) == 0)
			return &t->cmds[i];
	return NULL;
}

/* "usage: PROG NAME ARGS", a line for each of args' lines. */
static void usage_lines(FILE *out, const char *prog, const char *name, const char *args, int *first)
{
	while (args) {
		const char *nl = strchr(args, '\n');
		int len = nl ? (int)(nl - args) : (int)strlen(args);

		fprintf(out, "%s %s%s%s%s%.*s\n", *first ? "usage:" : "      ", prog,
			name ? " " : "", name ? name : "", len ? " " : "", len, args);
		*first = 0;
		args = nl && nl[1] ? nl + 1 : NULL;
	}
}

void cli_usage(FILE *out, const struct cli_table *t, const char *name)
{
	const struct cli_cmd *only = cli_cmd_find(t, name);
	int first = 1, width = 0;

	if (only) {
		usage_lines(out, t->prog, only->name, only->args, &first);
		fprintf(out, "\n%s.\n", only->help);
		if (only->opts)
			fprintf(out, "\n%s", only->opts);
		return;
	}
	usage_lines(out, t->prog, NULL, t->args, &first);
	for (size_t i = 0; i < t->ncmds; i++) {
		if (!t->cmds[i].help)
			continue;
		usage_lines(out, t->prog, t->cmds[i].name, t->cmds[i].args, &first);
		if ((int)strlen(t->cmds[i].name) > width)
			width = (int)strlen(t->cmds[i].name);
	}
	fprintf(out, "\n%s", t->head ? t->head : "");
	for (size_t i = 0; i < t->ncmds; i++)
		if (t->cmds[i].help)
			fprintf(out, "  %-*s %s\n", width + 1, t->cmds[i].name, t->cmds[i].help);
	fputs(t->foot ? t->foot : "", out);
}

int cli_table_main(const struct cli_table *t, int argc, char **argv)
{
	const struct cli_cmd *c = argc > 1 ? cli_cmd_find(t, argv[1]) : NULL;

	if (c)
		return c->fn(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cli_usage(stdout, t, NULL);
		return EX_OK;
	}
	if (t->fallback)
		return t->fallback(argc, argv);
	if (argc > 1)
		fprintf(stderr, "%s: unknown command \"%s\"\n", t->prog, argv[1]);
	cli_usage(stderr, t, NULL);
	return EX_USAGE;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
	       void (*usage)(FILE *out, const char *cmd), int *status)
{
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (c == 'h' || c == '?') {
		usage(c == 'h' ? stdout : stderr, argv[0]);
		*status = c == 'h' ? EX_OK : EX_USAGE;
		return CLI_OPT_USAGE;
	}
	return c;
}

int cli_policy_dir_ok(const char *cmd, const char *dir)
{
	static const char *const next =
	    "give the directory of a policy checkout (its inventory.yaml, groups.yaml, "
	    "services.yaml, rules.yaml and management.yaml; see bulkhead-policy(5))";
	char path[4096];
	struct stat st;
	int has_inventory, has_rules;

	if (stat(dir, &st) < 0) {
		fprintf(stderr, "bulkhead %s: %s: %s; %s\n", cmd, dir, strerror(errno), next);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "bulkhead %s: %s is not a directory; %s\n", cmd, dir, next);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/inventory.yaml", dir);
	has_inventory = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "%s/rules.yaml", dir);
	has_rules = access(path, F_OK) == 0;
	if (!has_inventory && !has_rules) {
		fprintf(stderr,
			"bulkhead %s: %s holds no policy (no inventory.yaml, no rules.yaml); %s\n",
			cmd, dir, next);
		return -1;
	}
	return 0;
}

int cli_dir_operand(int argc, char **argv, const char **dir,
		    void (*usage)(FILE *out, const char *cmd), int *status)
{
	*dir = optind < argc ? argv[optind++] : ".";
	if (optind == argc) {
		if (cli_policy_dir_ok(argv[0], *dir) == 0)
			return 0;
		*status = 1;
		return -1;
	}
	usage(stderr, argv[0]);
	*status = EX_USAGE;
	return -1;
}

int cli_seconds_parse(const char *cmd, const char *opt, const char *arg, double *out)
{
	char *end;

	*out = strtod(arg, &end);
	if (*end || end == arg || *out <= 0 || *out > 3600) {
		fprintf(stderr, "bulkhead %s: %s: expected seconds in (0, 3600], got \"%s\"\n", cmd,
			opt, arg);
		return -1;
	}
	return 0;
}
