/* bulkhead playbook run / status / approve / abort / resume: the playbook,
 * compiled here from the policy checkout, goes to the controller, which
 * runs it stage by stage and keeps its progress. */
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "cli.h"
#include "output.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69

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

static int run_stage_put(struct reqbuf *rb, const struct playbook *pb, const struct policy *p,
			 const char *dir, size_t si, char *buf)
{
	const struct pb_stage *s = &pb->stages[si];
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_PB_STAGE, 0);
	wire_put_u32(&b, WA_STAGE, (uint32_t)si);
	wire_put_str(&b, WA_NAME, s->name);
	wire_put_u8(&b, WA_APPROVAL, (uint8_t)s->approval);
	wire_put_u32(&b, WA_SOAK_MS, s->soak_ms);
	wire_put_str(&b, WA_ON_FAILURE, s->on_failure_halt ? "halt" : "reisolate");
	wire_put_str(&b, WA_RESTORE, s->restore);
	if (reqbuf_put(buf, wire_build_end(&b), rb) < 0)
		return -1;
	for (size_t i = 0; i < s->nchecks; i++) {
		const struct pb_check *k = &s->checks[i];

		wire_build_start(&b, buf, WIRE_PB_CHECK, 0);
		wire_put_str(&b, WA_HOST, k->from);
		wire_put_str(&b, WA_NAME, k->target_name);
		wire_put_str(&b, WA_TARGET, k->target);
		wire_put_u8(&b, WA_PROTO, k->proto);
		wire_put_u32(&b, WA_PORT, k->port);
		wire_put_u8(&b, WA_EXPECT, (uint8_t)k->expect_open);
		wire_put_u32(&b, WA_TIMEOUT_MS, k->timeout_ms);
		wire_put_u64(&b, WA_SEQ, (uint64_t)k->line);
		if (reqbuf_put(buf, wire_build_end(&b), rb) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->nhosts; i++) {
		struct host_policy *hp = playbook_host_policy(pb, p, dir, si, s->hosts[i]);
		int rc;

		if (!hp) {
			fprintf(stderr, "bulkhead playbook run: stage %s: no policy for %s\n",
				s->name, s->hosts[i]);
			return -1;
		}
		wire_build_start(&b, buf, WIRE_PLAN_HOST, 0);
		wire_put_str(&b, WA_NAME, s->hosts[i]);
		wire_put_u8(&b, WA_MODE, MODE_SEGMENTED);
		wire_put_str(&b, WA_HASH, hp->hash);
		rc = reqbuf_put(buf, wire_build_end(&b), rb);
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
	struct cmd_result r = {.action = "playbook run"};
	struct reqbuf rb = {0};
	struct policy *p = policy_load(dir, conf_error_stderr, NULL, NULL);
	struct playbook *pb = NULL;
	struct wire_builder b;
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
	wire_build_start(&b, buf, WIRE_CTL_PB_RUN, 1);
	wire_put_str(&b, WA_NAME, pb->name);
	if (reason)
		wire_put_str(&b, WA_REASON, reason);
	reqbuf_put(buf, wire_build_end(&b), &rb);
	for (size_t i = 0; i < pb->nstages; i++)
		if (run_stage_put(&rb, pb, p, dir, i, buf) < 0)
			goto out;
	wire_build_start(&b, buf, WIRE_CTL_APPLY_END, 1);
	reqbuf_put(buf, wire_build_end(&b), &rb);
	rc = ctl_exchange(rb.data, rb.len, &r, 60000, NULL, NULL);
	if (rc == -2) {
		rc = EX_UNAVAILABLE;
	} else if (rc < 0) {
		rc = 1;
	} else {
		printf("%s%s\n", r.result ? "bulkhead playbook run: " : "", r.error);
		rc = r.result ? 1 : 0;
	}
out:
	free(rb.data);
	free(r.hosts);
	playbook_free(pb);
	policy_free(p);
	return rc;
}

/* --- status --- */

struct pb_view {
	struct {
		char name[64], state[24], restore[64], approved_by[128], detail[320];
		int approval;
		char hosts[1024];
		int nhosts;
	} stages[64];
	int nstages;
	struct {
		int stage;
		char from[64], target[64], state[16];
		uint8_t proto;
		uint16_t port;
		int expect;
	} checks[256];
	int nchecks;
};

static int host_append(const char *h, void *arg)
{
	char *list = arg;
	size_t n = strlen(list);

	if (n + strlen(h) + 2 < 1024)
		snprintf(list + n, 1024 - n, "%s%s", n ? " " : "", h);
	return 0;
}

static int pb_view_frame(const struct wire_frame *f, void *arg)
{
	struct pb_view *v = arg;

	if (f->type == WIRE_PB_STAGE && v->nstages < 64) {
		typeof(v->stages[0]) *s = &v->stages[v->nstages++];

		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", wire_get_str(f, WA_NAME, ""));
		snprintf(s->state, sizeof(s->state), "%s", wire_get_str(f, WA_STATE, ""));
		snprintf(s->restore, sizeof(s->restore), "%s", wire_get_str(f, WA_RESTORE, ""));
		snprintf(s->approved_by, sizeof(s->approved_by), "%s",
			 wire_get_str(f, WA_ACTOR, ""));
		snprintf(s->detail, sizeof(s->detail), "%s", wire_get_str(f, WA_DETAIL, ""));
		s->approval = wire_get_u8(f, WA_APPROVAL, 0);
		wire_hosts_foreach(f, host_append, s->hosts);
		return 0;
	}
	if (f->type == WIRE_PB_CHECK && v->nchecks < 256) {
		typeof(v->checks[0]) *k = &v->checks[v->nchecks++];

		k->stage = (int)wire_get_u32(f, WA_STAGE, 0);
		snprintf(k->from, sizeof(k->from), "%s", wire_get_str(f, WA_HOST, ""));
		snprintf(k->target, sizeof(k->target), "%s", wire_get_str(f, WA_NAME, ""));
		snprintf(k->state, sizeof(k->state), "%s", wire_get_str(f, WA_STATE, "-"));
		k->proto = wire_get_u8(f, WA_PROTO, IPPROTO_TCP);
		k->port = (uint16_t)wire_get_u32(f, WA_PORT, 0);
		k->expect = wire_get_u8(f, WA_EXPECT, 1);
		return 0;
	}
	return f->type == WIRE_PB_STAGE || f->type == WIRE_PB_CHECK ? 0 : -1;
}

static int playbook_status(int json)
{
	static char buf[WIRE_MAX_FRAME];
	static struct pb_view v;
	struct cmd_result r = {.action = "playbook status"};
	struct wire_builder b;
	int rc;

	memset(&v, 0, sizeof(v));
	wire_build_start(&b, buf, WIRE_CTL_PB_STATUS, 1);
	rc = ctl_exchange(buf, (size_t)wire_build_end(&b), &r, 10000, pb_view_frame, &v);
	free(r.hosts);
	if (rc < 0)
		return rc == -2 ? EX_UNAVAILABLE : 1;
	if (r.result) {
		printf("%s\n", r.error);
		return 1;
	}
	if (json) {
		printf("{\"run\":%" PRIu64 ",\"name\":", r.run);
		output_json_str(r.name);
		printf(",\"state\":");
		output_json_str(r.state);
		printf(",\"stages\":[");
		for (int i = 0; i < v.nstages; i++) {
			printf("%s{\"name\":", i ? "," : "");
			output_json_str(v.stages[i].name);
			printf(",\"state\":");
			output_json_str(v.stages[i].state);
			printf(",\"restore\":");
			output_json_str(v.stages[i].restore);
			printf(",\"approval\":%s,\"approved_by\":",
			       v.stages[i].approval ? "true" : "false");
			output_json_str(v.stages[i].approved_by);
			printf(",\"detail\":");
			output_json_str(v.stages[i].detail);
			printf(",\"hosts\":");
			output_json_str(v.stages[i].hosts);
			printf(",\"checks\":[");
			for (int j = 0, first = 1; j < v.nchecks; j++) {
				if (v.checks[j].stage != i)
					continue;
				printf("%s{\"from\":", first ? "" : ",");
				first = 0;
				output_json_str(v.checks[j].from);
				printf(",\"to\":");
				output_json_str(v.checks[j].target);
				printf(",\"expect\":\"%s\",\"result\":",
				       v.checks[j].expect ? "open" : "closed");
				output_json_str(v.checks[j].state);
				printf("}");
			}
			printf("]}");
		}
		printf("]}\n");
		return 0;
	}
	printf("playbook %s (run %" PRIu64 "): %s\n", r.name, r.run, r.state);
	for (int i = 0; i < v.nstages; i++) {
		printf("stage %d %-20s %-18s -> %-12s %s%s%s\n", i + 1, v.stages[i].name,
		       v.stages[i].state, v.stages[i].restore, v.stages[i].detail,
		       v.stages[i].approved_by[0] ? "; approved by " : "", v.stages[i].approved_by);
		printf("        hosts: %s\n", v.stages[i].hosts);
		for (int j = 0; j < v.nchecks; j++) {
			char what[16] = "ping";

			if (v.checks[j].stage != i)
				continue;
			if (v.checks[j].proto == IPPROTO_TCP)
				snprintf(what, sizeof(what), "tcp/%u", v.checks[j].port);
			printf("        check %s -> %s %s expect %s: %s\n", v.checks[j].from,
			       v.checks[j].target, what, v.checks[j].expect ? "open" : "closed",
			       v.checks[j].state);
		}
	}
	return 0;
}

static int playbook_simple(uint16_t type, const char *stage, const char *what)
{
	static char buf[WIRE_MAX_FRAME];
	struct cmd_result r = {.action = what};
	struct wire_builder b;
	int rc;

	wire_build_start(&b, buf, type, 1);
	if (stage)
		wire_put_str(&b, WA_NAME, stage);
	rc = ctl_exchange(buf, (size_t)wire_build_end(&b), &r, 30000, NULL, NULL);
	free(r.hosts);
	if (rc < 0)
		return rc == -2 ? EX_UNAVAILABLE : 1;
	printf("%s%s\n", r.result ? "bulkhead playbook: " : "", r.error);
	return r.result ? 1 : 0;
}

static void playbook_ctl_usage(FILE *out)
{
	fprintf(out, "usage: bulkhead playbook run FILE [--policy DIR] [--reason TEXT]\n"
		     "       bulkhead playbook status [--json]\n"
		     "       bulkhead playbook approve [STAGE]\n"
		     "       bulkhead playbook abort\n"
		     "       bulkhead playbook resume\n");
}

int playbook_ctl_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"policy", required_argument, NULL, 'p'},
						 {"reason", required_argument, NULL, 'r'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	const char *cmd = argc > 1 ? argv[1] : "", *dir = NULL, *reason = NULL;
	char updir[4096];
	int opt;

	optind = 2;
	while ((opt = getopt_long(argc, argv, "p:r:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': dir = optarg; break;
		case 'r': reason = optarg; break;
		case 'j': cli.json = 1; break;
		case 'h': playbook_ctl_usage(stdout); return 0;
		default: playbook_ctl_usage(stderr); return EX_USAGE;
		}
	}
	if (strcmp(cmd, "run") == 0 && optind == argc - 1) {
		/* As check and --dry-run do: the policy is the directory above the
		 * playbook's (policies/playbooks/X.yaml -> policies). */
		if (!dir) {
			char *slash;

			snprintf(updir, sizeof(updir), "%s", argv[optind]);
			slash = strrchr(updir, '/');
			if (slash)
				*slash = '\0';
			else
				snprintf(updir, sizeof(updir), ".");
			snprintf(updir + strlen(updir), sizeof(updir) - strlen(updir), "/..");
			dir = updir;
		}
		return playbook_run(argv[optind], dir, reason);
	}
	if (strcmp(cmd, "status") == 0 && optind == argc)
		return playbook_status(cli.json);
	if (strcmp(cmd, "approve") == 0 && optind >= argc - 1)
		return playbook_simple(WIRE_CTL_PB_APPROVE, optind < argc ? argv[optind] : NULL,
				       "playbook approve");
	if (strcmp(cmd, "abort") == 0 && optind == argc)
		return playbook_simple(WIRE_CTL_PB_ABORT, NULL, "playbook abort");
	if (strcmp(cmd, "resume") == 0 && optind == argc)
		return playbook_simple(WIRE_CTL_PB_RESUME, NULL, "playbook resume");
	playbook_ctl_usage(stderr);
	return EX_USAGE;
}
