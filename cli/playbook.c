/* bulkhead playbook: check and run --dry-run work offline on a checkout of
 * the policy repository; a real run, status, approve, abort and resume go
 * to the controller (cli_playbook_ctl.c). See bulkhead-playbook(5). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"
#include "cli.h"

#define EX_USAGE 64

static void playbook_usage(FILE *out)
{
	fprintf(out, "usage: bulkhead playbook COMMAND [ARGS...]\n\n"
		     "offline, on a checkout of the policy repository:\n"
		     "  check [--policy DIR] [--today YYYY-MM-DD] [--strict] FILE\n"
		     "      validate a playbook; every problem as file:line:col: message\n"
		     "  run --dry-run [--policy DIR] [--today YYYY-MM-DD] FILE\n"
		     "      print, stage by stage, the hosts, every set element they get, the\n"
		     "      checks and the gates; apply nothing\n"
		     "on the controller:\n"
		     "  run FILE           start a run\n"
		     "  status [--json]    where the run is\n"
		     "  approve [STAGE]    open the gate of the stage that waits\n"
		     "  abort              re-isolate the running stage and stop\n"
		     "  resume             go on after a halt\n\n"
		     "DIR is the policy directory; by default the one above the playbook's\n"
		     "(playbooks live in DIR/playbooks/). See bulkhead-playbook(5).\n");
}

struct pb_msgs {
	int errors, warnings;
};

static void pb_err_print(void *arg, const char *msg)
{
	struct pb_msgs *m = arg;

	fprintf(stderr, "%s\n", msg);
	m->errors++;
}

static void pb_warn_print(void *arg, const char *msg)
{
	struct pb_msgs *m = arg;

	fprintf(stderr, "%s\n", msg);
	m->warnings++;
}

/* DIR/playbooks/FILE -> DIR: the parent of the playbook's directory. */
static char *policy_dir_guess(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir, *up;

	if (slash == NULL)
		return strdup("..");
	if (slash == file)
		return strdup("/");
	dir = strndup(file, (size_t)(slash - file));
	if (dir == NULL || strcmp(dir, ".") == 0) {
		free(dir);
		return strdup("..");
	}
	up = strrchr(dir, '/');
	if (up == NULL) {
		free(dir);
		return strdup(".");
	}
	if (up == dir)
		up[1] = '\0';
	else
		*up = '\0';
	return dir;
}

struct pb_args {
	const char *file;
	char *dir;
	long today;
	int strict, dry_run;
};

/* Options of check and run --dry-run; 0, or an exit code. */
static int pb_args_parse(int argc, char **argv, int run, struct pb_args *a)
{
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, 'p'}, {"today", required_argument, NULL, 't'},
	    {"strict", no_argument, NULL, 's'},	      {"dry-run", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *cmd = run ? "run" : "check";
	int c;

	memset(a, 0, sizeof(*a));
	a->today = policy_date_today();
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			free(a->dir);
			a->dir = strdup(optarg);
			break;
		case 't':
			if (policy_date_parse(optarg, &a->today) == -1) {
				fprintf(stderr,
					"bulkhead playbook %s: --today: expected a date "
					"YYYY-MM-DD, got \"%s\"\n",
					cmd, optarg);
				return EX_USAGE;
			}
			break;
		case 's':
			if (run)
				goto usage;
			a->strict = 1;
			break;
		case 'n':
			if (!run)
				goto usage;
			a->dry_run = 1;
			break;
		case 'h': playbook_usage(stdout); return -1;
		default: goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	a->file = argv[optind];
	if (a->dir == NULL)
		a->dir = policy_dir_guess(a->file);
	if (a->dir == NULL) {
		fprintf(stderr, "bulkhead playbook: out of memory\n");
		return 1;
	}
	return 0;
usage:
	playbook_usage(stderr);
	return EX_USAGE;
}

/* The site, then the playbook against it; NULL once the errors are out. */
static struct playbook *pb_open(const struct pb_args *a, struct policy **p, struct pb_msgs *m)
{
	/* the site's warnings are `bulkhead check`'s business */
	*p = policy_load_at(a->dir, a->today, pb_err_print, NULL, m);
	if (*p == NULL) {
		fprintf(stderr, "bulkhead playbook: the policy in %s has errors\n", a->dir);
		return NULL;
	}
	return playbook_load_warn(a->file, *p, a->dir, pb_err_print, pb_warn_print, m);
}

static int pb_check_main(int argc, char **argv)
{
	struct pb_msgs m = {0, 0};
	struct playbook *pb;
	struct policy *p = NULL;
	struct pb_args a;
	int rc;

	if ((rc = pb_args_parse(argc, argv, 0, &a)) != 0)
		return rc == -1 ? 0 : rc;
	pb = pb_open(&a, &p, &m);
	if (pb == NULL) {
		policy_free(p);
		free(a.dir);
		return 1;
	}
	printf("playbook ok: %s, %zu stage%s, %zu of %zu hosts, %zu check%s", pb->name, pb->nstages,
	       pb->nstages == 1 ? "" : "s", pb->nstaged, pb->nhosts, pb->nchecks,
	       pb->nchecks == 1 ? "" : "s");
	if (m.warnings > 0)
		printf(", %d warning%s", m.warnings, m.warnings == 1 ? "" : "s");
	printf("\n");
	playbook_free(pb);
	policy_free(p);
	free(a.dir);
	return a.strict && m.warnings > 0 ? 1 : 0;
}

static int pb_dry_run_main(int argc, char **argv)
{
	struct pb_msgs m = {0, 0};
	struct playbook *pb;
	struct policy *p = NULL;
	struct pb_args a;
	int rc;

	if ((rc = pb_args_parse(argc, argv, 1, &a)) != 0)
		return rc == -1 ? 0 : rc;
	pb = pb_open(&a, &p, &m);
	if (pb == NULL) {
		policy_free(p);
		free(a.dir);
		return 1;
	}
	rc = playbook_dry_run_print(pb, p, a.dir, stdout) == 0 ? 0 : 1;
	if (fflush(stdout) != 0)
		rc = 1;
	playbook_free(pb);
	policy_free(p);
	free(a.dir);
	return rc;
}

/* `run` goes to the controller unless it is a dry run. */
static int pb_run_is_dry(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--dry-run") == 0)
			return 1;
	return 0;
}

int cmd_playbook_main(int argc, char **argv)
{
	if (argc < 2) {
		playbook_usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		playbook_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "check") == 0)
		return pb_check_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0 && pb_run_is_dry(argc - 1, argv + 1))
		return pb_dry_run_main(argc - 1, argv + 1);
	return playbook_ctl_main(argc, argv);
}
