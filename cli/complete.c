/* bulkhead complete: the words the shell's completion offers
 * (dist/bash-completion/bulkhead), one a line. Not in the usage: it is for
 * scripts, and prints nothing but the words (errors go to stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"
#include "cli.h"

static void complete_usage(FILE *out)
{
	fprintf(out, "usage: bulkhead complete hosts [DIR]\n"
		     "       bulkhead complete stages [FILE]\n"
		     "hosts: the inventory's host names, from the controller, or from the\n"
		     "policy in DIR. stages: the stage names of the playbook FILE, or of the\n"
		     "controller's run.\n");
}

/* The errors of a policy or playbook say nothing useful while completing. */
static void quiet_error(void *arg, const char *msg)
{
}

static int hosts_controller(void)
{
	static char buf[WIRE_MAX_FRAME];
	struct reply r = {.what = "status"};
	int rc;

	rc = conn_exchange(buf, msg_empty_encode(buf, 1, WIRE_CTL_STATUS), 2000, &r, NULL, NULL);
	if (rc == 0)
		for (size_t i = 0; i < r.hosts.n; i++)
			printf("%s\n", MSG_AT(&r.hosts, i, ctl_host)->name);
	reply_free(&r);
	return rc;
}

static int hosts_policy(const char *dir)
{
	struct policy *p = policy_load(dir, quiet_error, NULL, NULL);

	if (!p)
		return 1;
	for (size_t i = 0; i < policy_host_count(p); i++)
		printf("%s\n", policy_host_name(p, i));
	policy_free(p);
	return 0;
}

/* Prints the name of each stage frame of `playbook status`; the checks are
 * of no use here. */
static int stage_print(const struct wire_frame *f, const union msg *m, void *arg)
{
	if (f->type == WIRE_PB_STAGE && m->pb_stage.name)
		printf("%s\n", m->pb_stage.name);
	return 0;
}

static int stages_controller(void)
{
	static char buf[WIRE_MAX_FRAME];
	struct reply r = {.what = "playbook status"};
	int rc;

	rc = conn_exchange(buf, msg_empty_encode(buf, 1, WIRE_CTL_PB_STATUS), 2000, &r, stage_print,
			   NULL);
	reply_free(&r);
	return rc;
}

static int stages_playbook(const char *file)
{
	char *dir = pb_policy_dir(file);
	struct policy *p = dir ? policy_load(dir, quiet_error, NULL, NULL) : NULL;
	struct playbook *pb = p ? playbook_load(file, p, dir, quiet_error, NULL) : NULL;
	int rc = pb ? 0 : 1;

	for (size_t i = 0; pb && i < pb->nstages; i++)
		printf("%s\n", pb->stages[i].name);
	playbook_free(pb);
	policy_free(p);
	free(dir);
	return rc;
}

int cmd_complete_main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : NULL;

	if (strcmp(what, "-h") == 0 || strcmp(what, "--help") == 0) {
		complete_usage(stdout);
		return EX_OK;
	}
	if (argc > 3 || (strcmp(what, "hosts") != 0 && strcmp(what, "stages") != 0)) {
		complete_usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(what, "hosts") == 0)
		return arg ? hosts_policy(arg) : hosts_controller();
	return arg ? stages_playbook(arg) : stages_controller();
}
