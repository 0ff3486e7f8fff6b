/* `bulkhead playbook run --dry-run`: what each stage would do, in the order
 * it would do it, down to every set element its hosts get. The same bytes
 * for the same playbook and policy, so that a review can diff them. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "playbook_int.h"
#include "policy_int.h"

#define PRINT_WIDTH 100

/* Words after a lead, wrapped at PRINT_WIDTH, continued under indent. */
struct wrap {
	FILE *out;
	size_t col, indent;
};

static void wrap_start(struct wrap *w, FILE *out, const char *lead, size_t indent)
{
	w->out = out;
	w->indent = indent;
	w->col = strlen(lead);
	fputs(lead, out);
}

static void wrap_word(struct wrap *w, const char *word)
{
	size_t len = strlen(word);

	if (w->col > w->indent && w->col + 1 + len > PRINT_WIDTH) {
		fprintf(w->out, "\n%*s", (int)w->indent, "");
		w->col = w->indent;
	} else if (w->col > 0) {
		fputc(' ', w->out);
		w->col++;
	}
	fputs(word, w->out);
	w->col += len;
}

static void wrap_end(struct wrap *w)
{
	fputc('\n', w->out);
}

/* The eight sets, in the order render writes them. */
static const struct {
	const char *name;
	int out, family, ping;
} sets[] = {
    {"allow_in4", 0, AF_INET, 0},   {"allow_in6", 0, AF_INET6, 0}, {"allow_out4", 1, AF_INET, 0},
    {"allow_out6", 1, AF_INET6, 0}, {"ping_in4", 0, AF_INET, 1},   {"ping_in6", 0, AF_INET6, 1},
    {"ping_out4", 1, AF_INET, 1},   {"ping_out6", 1, AF_INET6, 1},
};

static void elems_print(const struct host_policy *hp, FILE *out)
{
	const struct policy_elem *e;
	char text[POLICY_ELEM_TEXT];
	size_t i, j, n, count = 0;
	int ping;

	for (i = 0; i < nitems(sets); i++) {
		e = sets[i].out ? hp->out : hp->in;
		n = sets[i].out ? hp->nout : hp->nin;
		for (j = 0; j < n; j++) {
			ping = e[j].proto == IPPROTO_ICMP || e[j].proto == IPPROTO_ICMPV6;
			if (e[j].family != sets[i].family || ping != sets[i].ping)
				continue;
			policy_elem_format(&e[j], text);
			fprintf(out, "      + %s %s\n", sets[i].name, text);
			count++;
		}
	}
	if (hp->deadman_s != 0)
		fprintf(out, "      on controller loss: isolates itself after %u s\n",
			hp->deadman_s);
	if (count == 0)
		fprintf(out, "      (no element: only the management channel)\n");
}

struct by_hash {
	const char *hash;
	size_t idx;
};

static int by_hash_cmp(const void *a, const void *b)
{
	const struct by_hash *x = a, *y = b;
	int c = strcmp(x->hash, y->hash);

	return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The stage's hosts, those with the same ruleset together, in the order of
 * the first of each. */
static int stage_sets_print(const struct playbook *pb, const struct policy *p, size_t si, FILE *out)
{
	const struct pb_stage *st = &pb->stages[si];
	const struct host_policy **hp;
	struct by_hash *sorted;
	size_t *run; /* by host: where its run of equal rulesets starts in sorted */
	struct wrap w;
	char lead[64];
	size_t i, j, ndistinct = 0;
	int h, rc = 0;

	hp = xcalloc(st->nhosts + 1, sizeof(*hp));
	sorted = xcalloc(st->nhosts + 1, sizeof(*sorted));
	run = xcalloc(st->nhosts + 1, sizeof(*run));
	for (i = 0; i < st->nhosts; i++) {
		h = conf_index_get(&p->host_ix, st->hosts[i], strlen(st->hosts[i]));
		hp[i] = pb_host_compiled(pb, p, h);
		if (hp[i] == NULL) {
			fprintf(stderr, "%s: stage \"%s\": cannot compile the policy of %s\n",
				pb->file, st->name, st->hosts[i]);
			rc = -1;
			goto out;
		}
		sorted[i].hash = hp[i]->hash;
		sorted[i].idx = i;
	}
	qsort(sorted, st->nhosts, sizeof(*sorted), by_hash_cmp);
	for (i = 0; i < st->nhosts; i = j) {
		for (j = i; j < st->nhosts && strcmp(sorted[j].hash, sorted[i].hash) == 0; j++)
			run[sorted[j].idx] = i;
		ndistinct++;
	}
	fprintf(out, "  sets, applied commit-confirmed (%zu distinct ruleset%s):\n", ndistinct,
		ndistinct == 1 ? "" : "s");
	for (i = 0; i < st->nhosts; i++) {
		if (sorted[run[i]].idx != i)
			continue; /* printed with the first host of its ruleset */
		wrap_start(&w, out, "   ", 4);
		for (j = run[i]; j < st->nhosts && strcmp(sorted[j].hash, hp[i]->hash) == 0; j++)
			wrap_word(&w, st->hosts[sorted[j].idx]);
		snprintf(lead, sizeof(lead), "[ruleset %.12s]", hp[i]->hash);
		wrap_word(&w, lead);
		wrap_end(&w);
		elems_print(hp[i], out);
	}
out:
	free(hp);
	free(sorted);
	free(run);
	return rc;
}

static void check_print(const struct playbook *pb, const struct policy *p, size_t si,
			const struct pb_check *c, FILE *out)
{
	char target[128], flow[16], timeout[16], why[512];
	enum pb_reach r;

	if (c->target_host == NULL)
		snprintf(target, sizeof(target), "%s", c->target);
	else if (strcmp(c->target_name, c->target_host) == 0)
		snprintf(target, sizeof(target), "%s (%s)", c->target_host, c->target);
	else
		snprintf(target, sizeof(target), "%s (%s)", c->target, c->target_host);
	if (c->proto == IPPROTO_TCP)
		snprintf(flow, sizeof(flow), "tcp/%u", c->port);
	else
		snprintf(flow, sizeof(flow), "ping");
	playbook_duration_format(c->timeout_ms, timeout);
	fprintf(out, "    %s -> %s %s: must be %s (timeout %s)\n", c->from, target, flow,
		c->expect_open ? "open" : "closed", timeout);
	r = playbook_check_predict(pb, p, si, c, why, sizeof(why));
	fprintf(out, "      %s%s\n",
		r == PB_REACH_UNKNOWN			 ? "unknown beyond the inventory: "
		: (r == PB_REACH_OPEN) != c->expect_open ? "the policy disagrees: "
							 : "",
		why);
}

static void stage_print(const struct playbook *pb, const struct policy *p, size_t si, FILE *out,
			int *rc)
{
	const struct pb_stage *st = &pb->stages[si];
	struct wrap w;
	char lead[64], soak[16];
	size_t i;

	fprintf(out, "\nstage %zu/%zu %s (line %d)\n", si + 1, pb->nstages, st->name, st->line);
	if (st->approval)
		fprintf(out, "  gate: waits for `bulkhead playbook approve %s`\n", st->name);
	else
		fprintf(out, "  gate: none, applies as soon as the previous stage is done\n");
	snprintf(lead, sizeof(lead), "  hosts (%zu):", st->nhosts);
	wrap_start(&w, out, lead, 4);
	for (i = 0; i < st->nhosts; i++)
		wrap_word(&w, st->hosts[i]);
	wrap_end(&w);
	if (st->restricted_file != NULL)
		fprintf(out, "  restore: restricted %s (%s)\n", st->restore, st->restricted_file);
	else
		fprintf(out, "  restore: segmented, the full policy\n");
	if (stage_sets_print(pb, p, si, out) == -1)
		*rc = -1;
	if (st->nchecks == 0)
		fprintf(out, "  checks: none\n");
	else
		fprintf(out, "  checks (%zu), from the agents once the stage has applied%s:\n",
			st->nchecks, st->soak_ms != 0 ? ", and again after the soak" : "");
	for (i = 0; i < st->nchecks; i++)
		check_print(pb, p, si, &st->checks[i], out);
	playbook_duration_format(st->soak_ms, soak);
	if (st->soak_ms != 0)
		fprintf(out, "  soak: %s, then every check again\n", soak);
	else
		fprintf(out, "  soak: none\n");
	if (st->on_failure_halt)
		fprintf(out, "  on failure: halt the run; the stage's hosts stay as they are until "
			     "an operator acts\n");
	else
		fprintf(out, "  on failure: re-isolate the stage's %zu host%s\n", st->nhosts,
			st->nhosts == 1 ? "" : "s");
}

static void mgmt_print(const struct policy *p, FILE *out)
{
	struct wrap w;
	char lead[96];
	int i;

	snprintf(lead, sizeof(lead), "management channel, open in every mode: tcp/%u to", p->port);
	wrap_start(&w, out, lead, 2);
	for (i = 0; i < p->ncontrollers; i++)
		wrap_word(&w, p->controllers[i].text);
	if (p->ncollectors > 0)
		wrap_word(&w, "and the collectors");
	for (i = 0; i < p->ncollectors; i++)
		wrap_word(&w, p->collectors[i].text);
	wrap_end(&w);
}

int playbook_dry_run_print(const struct playbook *pb, const struct policy *p,
			   const char *policy_dir, FILE *out)
{
	const char *d, *nl;
	struct wrap w;
	char lead[96];
	size_t si;
	int h, rc = 0;

	(void)policy_dir;
	fprintf(out, "playbook %s (%s), dry run: nothing is applied\n", pb->name, pb->file);
	for (d = pb->description; d != NULL && *d != '\0'; d = *nl != '\0' ? nl + 1 : nl) {
		nl = strchr(d, '\n');
		if (nl == NULL)
			nl = d + strlen(d);
		fprintf(out, "  %.*s\n", (int)(nl - d), d);
	}
	fprintf(out, "%zu stage%s, %zu of %zu hosts, %zu check%s; every host starts isolated\n",
		pb->nstages, pb->nstages == 1 ? "" : "s", pb->nstaged, pb->nhosts, pb->nchecks,
		pb->nchecks == 1 ? "" : "s");
	mgmt_print(p, out);
	for (si = 0; si < pb->nstages; si++)
		stage_print(pb, p, si, out, &rc);
	if (pb->nstaged < pb->nhosts) {
		snprintf(lead, sizeof(lead), "\nafter the last stage, %zu host%s stay%s isolated:",
			 pb->nhosts - pb->nstaged, pb->nhosts - pb->nstaged == 1 ? "" : "s",
			 pb->nhosts - pb->nstaged == 1 ? "s" : "");
		wrap_start(&w, out, lead, 2);
		for (h = 0; (size_t)h < pb->nhosts; h++)
			if (pb->stage_of[h] < 0)
				wrap_word(&w, p->inv.hosts[h].name);
		wrap_end(&w);
	} else {
		fprintf(out, "\nafter the last stage, every host is back\n");
	}
	return rc;
}
