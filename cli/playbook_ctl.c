/* bulkhead playbook run / status / approve / abort / resume: the playbook,
 * compiled here from the policy checkout, goes to the controller, which
 * runs it stage by stage and keeps its progress. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"
#include "cli.h"
#include "output.h"

/* A growing request: the frames of one run. */
struct reqbuf {
	char *data;
	size_t len, cap;
};

static int reqbuf_put(const void *frame, int len, void *arg)
{
	struct reqbuf *rb = arg;

	if (len < 0)
		return -1;
	if (rb->len + (size_t)len > rb->cap) {
		rb->cap = 2 * rb->cap + (size_t)len + 65536;
		rb->data = realloc(rb->data, rb->cap);
		if (!rb->data)
			fatal("out of memory");
	}
	memcpy(rb->data + rb->len, frame, (size_t)len);
	rb->len += (size_t)len;
	return 0;
}

static int run_checks_put(struct reqbuf *rb, const struct pb_stage *s, char *buf)
{
	for (size_t i = 0; i < s->nchecks; i++) {
		const struct pb_check *k = &s->checks[i];
		struct msg_pb_check m = {.from = k->from,
					 .target_name = k->target_name,
					 .target = k->target,
					 .proto = k->proto,
					 .port = k->port,
					 .expect_open = k->expect_open,
					 .timeout_ms = k->timeout_ms,
					 .line = (uint64_t)k->line};

		if (reqbuf_put(buf, msg_pb_check_encode(buf, 0, &m), rb) < 0)
			return -1;
	}
	return 0;
}

static int run_stage_put(struct reqbuf *rb, const struct playbook *pb, const struct policy *p,
			 const char *dir, size_t si, char *buf)
{
	const struct pb_stage *s = &pb->stages[si];
	struct msg_pb_stage m = {.index = (uint32_t)si,
				 .name = s->name,
				 .restore = s->restore,
				 .approval = s->approval,
				 .soak_ms = s->soak_ms,
				 .on_failure =
				     s->on_failure_halt ? ON_FAILURE_HALT : ON_FAILURE_REISOLATE};

	if (reqbuf_put(buf, msg_pb_stage_encode(buf, 0, &m), rb) < 0 ||
	    run_checks_put(rb, s, buf) < 0)
		return -1;
	for (size_t i = 0; i < s->nhosts; i++) {
		struct host_policy *hp = playbook_host_policy(pb, p, dir, si, s->hosts[i]);
		struct msg_plan_host ph = {.name = s->hosts[i], .mode = MODE_SEGMENTED};
		int rc;

		if (!hp) {
			fprintf(stderr, "bulkhead playbook run: stage %s: no policy for %s\n",
				s->name, s->hosts[i]);
			return -1;
		}
		ph.hash = hp->hash;
		rc = reqbuf_put(buf, msg_plan_host_encode(buf, 0, &ph), rb);
		if (rc == 0)
			rc = policy_wire_encode(hp, buf, reqbuf_put, rb);
		host_policy_free(hp);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int playbook_run(const char *file, const char *dir, const char *reason)
{
	static char buf[WIRE_MAX_FRAME];
	struct reqbuf rb = {0};
	struct policy *p = policy_load(dir, conf_error_stderr, NULL, NULL);
	struct playbook *pb = NULL;
	int rc = 1;

	if (!p) {
		fprintf(stderr, "bulkhead playbook run: %s: the policy has errors\n", dir);
		return 1;
	}
	pb = playbook_load(file, p, dir, conf_error_stderr, NULL);
	if (!pb) {
		fprintf(stderr, "bulkhead playbook run: %s: refused; nothing was started\n", file);
		goto out;
	}
	reqbuf_put(buf, msg_ctl_pb_run_encode(buf, 1, &(struct msg_ctl_pb_run){pb->name, reason}),
		   &rb);
	for (size_t i = 0; i < pb->nstages; i++)
		if (run_stage_put(&rb, pb, p, dir, i, buf) < 0)
			goto out;
	reqbuf_put(buf, msg_empty_encode(buf, 1, WIRE_CTL_APPLY_END), &rb);
	rc = conn_verdict("bulkhead playbook run: ", rb.data, (int)rb.len, 60000);
out:
	free(rb.data);
	playbook_free(pb);
	policy_free(p);
	return rc;
}

struct pb_ctl_args {
	const char *dir, *reason;
};

/* The options every command for the controller takes, then between min
 * and max operands; the index of the first, or -1 with the exit status in
 * *status once usage has been printed. */
static int pb_ctl_args(int argc, char **argv, struct pb_ctl_args *a, int min, int max, int *status)
{
	static const struct option longopts[] = {{"policy", required_argument, NULL, 'p'},
						 {"reason", required_argument, NULL, 'r'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	int opt;

	memset(a, 0, sizeof(*a));
	*status = EX_USAGE;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:r:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': a->dir = optarg; break;
		case 'r': a->reason = optarg; break;
		case 'j': cli.json = true; break;
		case 'h': *status = EX_OK; goto usage;
		default: goto usage;
		}
	}
	if (argc - optind >= min && argc - optind <= max)
		return optind;
usage:
	cli_usage(*status == EX_OK ? stdout : stderr, &playbook_table, argv[0]);
	return -1;
}

int pb_start_main(int argc, char **argv)
{
	struct pb_ctl_args a;
	char *guess;
	int i, rc;

	if ((i = pb_ctl_args(argc, argv, &a, 1, 1, &rc)) < 0)
		return rc;
	if (a.dir)
		return playbook_run(argv[i], a.dir, a.reason);
	/* As check and --dry-run do: the policy is the directory above the
	 * playbook's (policies/playbooks/X.yaml -> policies). */
	if (!(guess = pb_policy_dir(argv[i])))
		fatal("out of memory");
	rc = playbook_run(argv[i], guess, a.reason);
	free(guess);
	return rc;
}

static int pb_view_keep(const struct wire_frame *f, const union msg *m, void *arg)
{
	struct pb_view *v = arg;

	return msg_list_keep(f, m, f->type == WIRE_PB_STAGE ? &v->stages : &v->checks);
}

int pb_status_main(int argc, char **argv)
{
	static char buf[WIRE_MAX_FRAME];
	struct pb_view v = {.r = {.what = "playbook status"},
			    .stages = {.type = WIRE_PB_STAGE},
			    .checks = {.type = WIRE_PB_CHECK}};
	struct pb_ctl_args a;
	int rc;

	if (pb_ctl_args(argc, argv, &a, 0, 0, &rc) < 0)
		return rc;
	rc = conn_exchange(buf, msg_empty_encode(buf, 1, WIRE_CTL_PB_STATUS), 10000, &v.r,
			   pb_view_keep, &v);
	if (rc == 0 && reply_end(&v.r)->result) {
		output_verdict("", reply_end(&v.r));
		rc = 1;
	} else if (rc == 0) {
		output_playbook(&v, cli.json);
	}
	reply_free(&v.r);
	msg_list_free(&v.stages);
	msg_list_free(&v.checks);
	return rc;
}

/* approve, abort, resume: the request, and the controller's word on it. */
static int pb_gate_main(int argc, char **argv, uint16_t type, int max)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_ctl_pb_approve m = {0};
	struct pb_ctl_args a;
	int i, rc, len;

	if ((i = pb_ctl_args(argc, argv, &a, 0, max, &rc)) < 0)
		return rc;
	m.stage = i < argc ? argv[i] : NULL;
	len = type == WIRE_CTL_PB_APPROVE ? msg_ctl_pb_approve_encode(buf, 1, &m)
					  : msg_empty_encode(buf, 1, type);
	return conn_verdict("bulkhead playbook: ", buf, len, 30000);
}

int pb_approve_main(int argc, char **argv)
{
	return pb_gate_main(argc, argv, WIRE_CTL_PB_APPROVE, 1);
}

int pb_abort_main(int argc, char **argv)
{
	return pb_gate_main(argc, argv, WIRE_CTL_PB_ABORT, 0);
}

int pb_resume_main(int argc, char **argv)
{
	return pb_gate_main(argc, argv, WIRE_CTL_PB_RESUME, 0);
}
