/* bulkhead playbook: check and run --dry-run work offline on a checkout of
 * the policy repository; a real run, status, approve, abort and resume go
 * to the controller (playbook_ctl.c). See bulkhead-playbook(5). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"
#include "cli.h"

static int pb_check_main(int argc, char **argv);
static int pb_run_main(int argc, char **argv);

static const struct cli_cmd pb_cmds[] = {
    {"check", pb_check_main,
     "validate a playbook, offline; every problem as file:line:col: message",
     "[--policy DIR] [--today YYYY-MM-DD] [--strict] FILE",
     "  --policy DIR         the site the playbook is for\n"
     "  --today YYYY-MM-DD   judge expiry as on that date\n"
     "  --strict             exit 1 on warnings too\n"},
    {"run", pb_run_main,
     "start a run on the controller; --dry-run prints, offline, what each stage would do",
     "--dry-run [--policy DIR] [--today YYYY-MM-DD] FILE\n"
     "FILE [--policy DIR] [--reason TEXT]",
     "  --dry-run            apply nothing: print what each stage would do\n"
     "  --policy DIR         the site the playbook is for\n"
     "  --today YYYY-MM-DD   (--dry-run) judge expiry as on that date\n"
     "  --reason TEXT        why, recorded with the run\n"},
    {"status", pb_status_main, "where the run is", "[--json]", NULL},
    {"approve", pb_approve_main, "open the gate of the stage that waits", "[STAGE]", NULL},
    {"abort", pb_abort_main, "re-isolate the running stage and stop", "", NULL},
    {"resume", pb_resume_main, "go on after a halt", "", NULL},
};

const struct cli_table playbook_table = {
    CLI_TABLE("bulkhead playbook", pb_cmds),
    .foot = "\nDIR is the policy directory; by default the one above the playbook's\n"
	    "(playbooks live in DIR/playbooks/). See bulkhead-playbook(5).\n",
};

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

char *pb_policy_dir(const char *file)
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
		case 'h': cli_usage(stdout, &playbook_table, argv[0]); return -1;
		default: goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	a->file = argv[optind];
	if (a->dir == NULL)
		a->dir = pb_policy_dir(a->file);
	if (a->dir == NULL) {
		fprintf(stderr, "bulkhead playbook: out of memory\n");
		return 1;
	}
	return 0;
usage:
	cli_usage(stderr, &playbook_table, argv[0]);
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

static int pb_check_print(const struct playbook *pb, const struct pb_args *a,
			  const struct pb_msgs *m)
{
	printf("playbook ok: %s, %zu stage%s, %zu of %zu hosts, %zu check%s", pb->name, pb->nstages,
	       pb->nstages == 1 ? "" : "s", pb->nstaged, pb->nhosts, pb->nchecks,
	       pb->nchecks == 1 ? "" : "s");
	if (m->warnings > 0)
		printf(", %d warning%s", m->warnings, m->warnings == 1 ? "" : "s");
	printf("\n");
	return a->strict && m->warnings > 0 ? 1 : 0;
}

static int pb_dry_run_print(const struct playbook *pb, const struct policy *p,
			    const struct pb_args *a)
{
	int rc = playbook_dry_run_print(pb, p, a->dir, stdout) == 0 ? 0 : 1;

	return fflush(stdout) != 0 ? 1 : rc;
}

/* check, and run --dry-run: the site, the playbook, then what each says. */
static int pb_offline_main(int argc, char **argv, int run)
{
	struct pb_msgs m = {0, 0};
	struct playbook *pb;
	struct policy *p = NULL;
	struct pb_args a;
	int rc;

	if ((rc = pb_args_parse(argc, argv, run, &a)) != 0)
		return rc == -1 ? 0 : rc;
	pb = pb_open(&a, &p, &m);
	if (pb == NULL)
		rc = 1;
	else
		rc = run ? pb_dry_run_print(pb, p, &a) : pb_check_print(pb, &a, &m);
	playbook_free(pb);
	policy_free(p);
	free(a.dir);
	return rc;
}

static int pb_check_main(int argc, char **argv)
{
	return pb_offline_main(argc, argv, 0);
}

/* `run --dry-run`, before any "--". */
static int pb_run_is_dry(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--dry-run") == 0)
			return 1;
	return 0;
}

/* `run` goes to the controller unless it is a dry run. */
static int pb_run_main(int argc, char **argv)
{
	return pb_run_is_dry(argc, argv) ? pb_offline_main(argc, argv, 1)
					 : pb_start_main(argc, argv);
}

int cmd_playbook_main(int argc, char **argv)
{
	return cli_table_main(&playbook_table, argc, argv);
}
