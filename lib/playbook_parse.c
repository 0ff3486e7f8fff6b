/* Reading a playbook against a loaded site: its stages, their hosts,
 * restricted policies and checks (playbook_checks.c), every problem kept
 * with its place and reported in file order, then the restricted files'
 * own. Nothing is half accepted: one error and there is no playbook. See
 * bulkhead-playbook(5). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "playbook_int.h"
#include "playbook_load.h"
#include "policy_int.h"

/* A playbook that lists thousands of hosts by name is still small. */
#define PB_FILE_MAX (16 * 1024 * 1024)
#define PB_SOAK_MAX (24u * 3600 * 1000)
/* hosts a message names before "and N more" */
#define PB_NAMES_MAX 5

struct pb_top_src {
	yaml_node_t *playbook, *description, *stages;
};

/* --- messages --- */

void pb_warn(struct pb_loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(&ld->diags, ld->ctx.file, (unsigned)n->start_mark.line + 1,
		  (unsigned)n->start_mark.column + 1, 1, fmt, ap);
	va_end(ap);
}

/* --- durations --- */

int playbook_duration_parse(const char *s, uint32_t *ms)
{
	unsigned long long n = 0, mult;
	const char *u = s;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	for (; *u >= '0' && *u <= '9'; u++) {
		n = n * 10 + (unsigned)(*u - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	if (u == s)
		return -1;
	if (strcmp(u, "ms") == 0)
		mult = 1;
	else if (strcmp(u, "s") == 0)
		mult = 1000;
	else if (strcmp(u, "m") == 0)
		mult = 60000;
	else if (strcmp(u, "h") == 0)
		mult = 3600000;
	else
		return -1;
	if (n * mult > UINT32_MAX)
		return -1;
	*ms = (uint32_t)(n * mult);
	return 0;
}

void playbook_duration_format(uint32_t ms, char buf[16])
{
	if (ms == 0)
		snprintf(buf, 16, "0");
	else if (ms % 3600000 == 0)
		snprintf(buf, 16, "%uh", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, 16, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, 16, "%us", ms / 1000);
	else
		snprintf(buf, 16, "%ums", ms);
}

/* --- keys --- */

/* Every key keeps its node; the values are read once all are known. */
int pb_node_keep(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v, void *base)
{
	(void)ctx;
	*(yaml_node_t **)((char *)base + key->off) = v;
	return 0;
}

enum { TKEY_PLAYBOOK, TKEY_DESCRIPTION, TKEY_STAGES };
static const struct conf_key top_keys[] = {
    [TKEY_PLAYBOOK] = PB_KEY("playbook", struct pb_top_src, playbook, 1,
			     "a name of 1..63 characters of [A-Za-z0-9._-]"),
    [TKEY_DESCRIPTION] = PB_KEY("description", struct pb_top_src, description, 0, "a string"),
    [TKEY_STAGES] = PB_KEY("stages", struct pb_top_src, stages, 1, "a list of stages"),
};

enum {
	SKEY_NAME,
	SKEY_HOSTS,
	SKEY_RESTORE,
	SKEY_CHECKS,
	SKEY_APPROVAL,
	SKEY_SOAK,
	SKEY_ON_FAILURE
};
static const struct conf_key stage_keys[] = {
    [SKEY_NAME] = PB_KEY("name", struct pb_stage_src, name, 1,
			 "a name of 1..63 characters of [A-Za-z0-9._-]"),
    [SKEY_HOSTS] = PB_KEY("hosts", struct pb_stage_src, hosts, 1, "a list of groups and hosts"),
    [SKEY_RESTORE] =
	PB_KEY("restore", struct pb_stage_src, restore, 0, "segmented or \"restricted NAME\""),
    [SKEY_CHECKS] = PB_KEY("checks", struct pb_stage_src, checks, 0, "a list of checks"),
    [SKEY_APPROVAL] = PB_KEY("approval", struct pb_stage_src, approval, 0, "required or none"),
    [SKEY_SOAK] = PB_KEY("soak", struct pb_stage_src, soak, 0,
			 "a duration of 0..24h, such as 30s, 10m or 2h"),
    [SKEY_ON_FAILURE] =
	PB_KEY("on_failure", struct pb_stage_src, on_failure, 0, "reisolate or halt"),
};

/* The scalar of a key, or NULL once reported as not what the key takes. */
const char *pb_scalar(struct pb_loader *ld, const struct conf_key *key, yaml_node_t *v)
{
	const char *s = conf_scalar(v);

	if (s == NULL || *s == '\0') {
		conf_value_bad(&ld->ctx, key, v);
		return NULL;
	}
	return s;
}

const char *pb_name(struct pb_loader *ld, const struct conf_key *key, yaml_node_t *v)
{
	const char *s = pb_scalar(ld, key, v);

	if (s != NULL && !conf_name_valid(s)) {
		conf_value_bad(&ld->ctx, key, v);
		return NULL;
	}
	return s;
}

/* --- names --- */

/* A name of the site: a group or a host. Reports what it is not. */
int pb_name_resolve(struct pb_loader *ld, yaml_node_t *n, const char *what, const char *s,
		    struct pb_name *r)
{
	const struct policy *p = ld->p;

	r->group = conf_index_get(&p->group_ix, s, strlen(s));
	r->host = conf_index_get(&p->host_ix, s, strlen(s));
	if (r->group >= 0 && r->host >= 0) {
		conf_report(&ld->ctx, n,
			    "%s\"%s\" is both a group and a host; rename one of them in the policy",
			    what, s);
		return -1;
	}
	if (r->group < 0 && r->host < 0) {
		conf_report(&ld->ctx, n, "%sunknown group or host \"%s\"", what, s);
		return -1;
	}
	return 0;
}

int pb_name_holds(const struct policy *p, const struct pb_name *r, int h)
{
	return r->host >= 0 ? h == r->host : POLICY_BIT_TEST(p->groups[r->group].members, h);
}

/* --- stages and their hosts; their checks are read once all are known --- */

static void stage_hosts_parse(struct pb_loader *ld, size_t si, yaml_node_t *v)
{
	const struct policy *p = ld->p;
	struct playbook *pb = ld->pb;
	yaml_node_item_t one, *start, *top, *it;
	struct pb_name r;
	yaml_node_t *item;
	const char *s;
	char d[80];
	size_t nconf, count = 0;
	int h, first, ok = 1;

	if (conf_list_items(&ld->ctx, &stage_keys[SKEY_HOSTS], v, "group or host name", &one,
			    &start, &top) == -1) {
		ld->assigned_ok = 0;
		return;
	}
	for (it = start; it < top; it++) {
		item = conf_node(&ld->ctx, *it);
		s = conf_scalar(item);
		if (s == NULL || !conf_name_valid(s)) {
			conf_report(&ld->ctx, item,
				    "\"hosts\": expected a group or host name of 1..63 characters "
				    "of [A-Za-z0-9._-], got %s",
				    conf_node_describe(item, d, sizeof(d)));
			ok = 0;
			continue;
		}
		if (pb_name_resolve(ld, item, "\"hosts\": ", s, &r) == -1) {
			ok = 0;
			continue;
		}
		nconf = 0;
		first = -1;
		for (h = 0; h < p->inv.nhosts; h++) {
			if (!pb_name_holds(p, &r, h))
				continue;
			if (pb->stage_of[h] == -1) {
				pb->stage_of[h] = (int)si;
				count++;
			} else if (pb->stage_of[h] != (int)si) {
				if (nconf++ == 0)
					first = h;
			}
		}
		if (nconf == 0)
			continue;
		ok = 0;
		if (r.host >= 0)
			conf_report(&ld->ctx, item,
				    "host \"%s\" is already in stage \"%s\" (line %d); a host "
				    "returns in one stage only",
				    s, pb->stages[pb->stage_of[first]].name,
				    pb->stages[pb->stage_of[first]].line);
		else if (nconf == 1)
			conf_report(&ld->ctx, item,
				    "group \"%s\": host \"%s\" is already in stage \"%s\" (line "
				    "%d); a host returns in one stage only",
				    s, p->inv.hosts[first].name,
				    pb->stages[pb->stage_of[first]].name,
				    pb->stages[pb->stage_of[first]].line);
		else
			conf_report(
			    &ld->ctx, item,
			    "group \"%s\": %zu of its hosts are in an earlier stage already, "
			    "such as \"%s\" (stage \"%s\", line %d); a host returns in one "
			    "stage only",
			    s, nconf, p->inv.hosts[first].name,
			    pb->stages[pb->stage_of[first]].name,
			    pb->stages[pb->stage_of[first]].line);
	}
	if (ok && count == 0) {
		conf_report(&ld->ctx, v, "stage \"%s\" has no host: its groups match none",
			    pb->stages[si].name);
		ok = 0;
	}
	if (!ok)
		ld->assigned_ok = 0;
}

/* "policies/restricted/NAME.yaml", named the way policy_load names its files. */
static char *pb_restricted_path(const char *dir, const char *name)
{
	char *rel, *path;

	if (asprintf(&rel, "restricted/%s.yaml", name) == -1)
		fatal("out of memory");
	path = policy_path_join(dir, rel);
	free(rel);
	return path;
}

static void stage_restore_parse(struct pb_loader *ld, size_t si, yaml_node_t *v)
{
	struct pb_stage *st = &ld->pb->stages[si];
	const char *s = pb_scalar(ld, &stage_keys[SKEY_RESTORE], v), *name;
	struct stat sb;
	size_t i;

	if (s == NULL) {
		ld->ss[si].policy_ok = 0;
		return;
	}
	if (strcmp(s, "segmented") == 0)
		return;
	name = s + strlen("restricted ");
	if (strncmp(s, "restricted ", strlen("restricted ")) != 0 || !conf_name_valid(name)) {
		conf_value_bad(&ld->ctx, &stage_keys[SKEY_RESTORE], v);
		ld->ss[si].policy_ok = 0;
		return;
	}
	free(st->restore);
	st->restore = xstrdup(name);
	st->restricted_file = pb_restricted_path(ld->dir, name);
	/* read once, shared by every stage that names it */
	for (i = 0; i < si; i++) {
		if (ld->pb->stages[i].restricted_file != NULL &&
		    strcmp(ld->pb->stages[i].restore, name) == 0) {
			st->restricted = ld->pb->stages[i].restricted;
			/* a broken one was reported where first named */
			ld->ss[si].policy_ok = ld->ss[i].policy_ok;
			return;
		}
	}
	if (stat(st->restricted_file, &sb) == -1) {
		if (errno == ENOENT)
			conf_report(&ld->ctx, v, "unknown restricted policy \"%s\": there is no %s",
				    name, st->restricted_file);
		else
			conf_report(&ld->ctx, v, "restricted policy \"%s\": %s: %s", name,
				    st->restricted_file, strerror(errno));
		ld->ss[si].policy_ok = 0;
		return;
	}
	st->restricted = policy_load_rules(ld->dir, st->restricted_file, ld->p->today, &ld->diags);
	if (st->restricted == NULL) {
		conf_report(&ld->ctx, v, "restricted policy \"%s\": %s has errors", name,
			    st->restricted_file);
		ld->ss[si].policy_ok = 0;
	}
}

static void stage_parse(struct pb_loader *ld, size_t si, yaml_node_t *map)
{
	struct conf_seen seen[nitems(stage_keys)];
	struct pb_stage_src *ss = &ld->ss[si];
	struct pb_stage *st = &ld->pb->stages[si];
	const char *s;
	size_t i;

	ss->map = map;
	ss->policy_ok = 1;
	st->line = (int)map->start_mark.line + 1;
	st->restore = xstrdup("segmented");
	memset(seen, 0, sizeof(seen));
	conf_map_apply(&ld->ctx, map, stage_keys, nitems(stage_keys), ss, seen);
	conf_required_check(&ld->ctx, map, stage_keys, nitems(stage_keys), seen);

	/* a stage is known by its name in every other message */
	if (ss->name != NULL && (s = pb_name(ld, &stage_keys[SKEY_NAME], ss->name)) != NULL) {
		for (i = 0; i < si; i++) {
			if (ld->pb->stages[i].name != NULL &&
			    strcmp(ld->pb->stages[i].name, s) == 0) {
				conf_report(&ld->ctx, ss->name,
					    "duplicate stage name \"%s\" (first at line %d)", s,
					    ld->pb->stages[i].line);
				break;
			}
		}
	} else {
		s = NULL;
	}
	if (s != NULL)
		st->name = xstrdup(s);
	else if (asprintf(&st->name, "#%zu", si + 1) == -1)
		fatal("out of memory");

	if (ss->hosts != NULL)
		stage_hosts_parse(ld, si, ss->hosts);
	else
		ld->assigned_ok = 0;
	if (ss->restore != NULL)
		stage_restore_parse(ld, si, ss->restore);
	if (ss->approval != NULL && (s = pb_scalar(ld, &stage_keys[SKEY_APPROVAL], ss->approval))) {
		if (strcmp(s, "required") == 0)
			st->approval = 1;
		else if (strcmp(s, "none") != 0)
			conf_value_bad(&ld->ctx, &stage_keys[SKEY_APPROVAL], ss->approval);
	}
	if (ss->soak != NULL && (s = pb_scalar(ld, &stage_keys[SKEY_SOAK], ss->soak))) {
		if (playbook_duration_parse(s, &st->soak_ms) == -1 || st->soak_ms > PB_SOAK_MAX)
			conf_value_bad(&ld->ctx, &stage_keys[SKEY_SOAK], ss->soak);
	}
	if (ss->on_failure != NULL &&
	    (s = pb_scalar(ld, &stage_keys[SKEY_ON_FAILURE], ss->on_failure))) {
		if (strcmp(s, "halt") == 0)
			st->on_failure_halt = 1;
		else if (strcmp(s, "reisolate") != 0)
			conf_value_bad(&ld->ctx, &stage_keys[SKEY_ON_FAILURE], ss->on_failure);
	}
	if (ss->checks != NULL)
		pb_checks_collect(ld, si, &stage_keys[SKEY_CHECKS], ss->checks);
}

static void stage_item(struct conf_ctx *ctx, yaml_node_t *item, void *arg)
{
	struct pb_loader *ld = arg;

	(void)ctx;
	stage_parse(ld, ld->pb->nstages++, item);
}

/* --- the file --- */

static void stages_parse(struct pb_loader *ld, yaml_node_t *v)
{
	struct playbook *pb = ld->pb;
	size_t si, i, n = 0, shown = 0;
	char names[512];
	int h;

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(&ld->ctx, &top_keys[TKEY_STAGES], v);
		return;
	}
	if (v->data.sequence.items.start == v->data.sequence.items.top) {
		conf_report(&ld->ctx, v, "\"stages\": expected at least one stage");
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	pb->stages = xcalloc(n, sizeof(*pb->stages));
	ld->ss = xcalloc(n, sizeof(*ld->ss));
	/* a stage that is not a mapping holds hosts no one can tell */
	if (conf_seq_maps(&ld->ctx, v, "stages", "stage", stage_item, ld) > 0)
		ld->assigned_ok = 0;

	for (si = 0; si < pb->nstages; si++)
		for (i = 0; i < ld->ss[si].nchecks_src; i++)
			pb_check_parse(ld, si, &ld->ss[si].checks_src[i]);

	/* every stage's hosts, in inventory order */
	for (h = 0; h < ld->p->inv.nhosts; h++)
		if (pb->stage_of[h] >= 0)
			pb->stages[pb->stage_of[h]].nhosts++;
	for (si = 0; si < pb->nstages; si++) {
		pb->stages[si].hosts = xcalloc(pb->stages[si].nhosts + 1, sizeof(char *));
		pb->stages[si].nhosts = 0;
	}
	n = 0;
	names[0] = '\0';
	for (h = 0; h < ld->p->inv.nhosts; h++) {
		struct pb_stage *st;

		if (pb->stage_of[h] < 0) {
			if (shown < PB_NAMES_MAX) {
				size_t o = strlen(names);

				snprintf(names + o, sizeof(names) - o, "%s%s",
					 shown > 0 ? ", " : "", ld->p->inv.hosts[h].name);
				shown++;
			}
			n++;
			continue;
		}
		st = &pb->stages[pb->stage_of[h]];
		st->hosts[st->nhosts++] = xstrdup(ld->p->inv.hosts[h].name);
		pb->nstaged++;
	}
	for (si = 0; si < pb->nstages; si++) {
		pb->nchecks += pb->stages[si].nchecks;
		if (ld->ss[si].checks == NULL && ld->ss[si].hosts != NULL)
			pb_warn(ld, ld->ss[si].map,
				"stage \"%s\" has no checks: nothing proves that it works, or "
				"that isolation still holds elsewhere",
				pb->stages[si].name);
	}
	if (ld->assigned_ok && n > 0)
		pb_warn(ld, v, "%zu host%s in no stage and stay%s isolated: %s%s", n,
			n > 1 ? "s are" : " is", n > 1 ? "" : "s", names, n > shown ? ", ..." : "");
}

static void pb_top_parse(struct pb_loader *ld, yaml_node_t *root)
{
	struct conf_seen seen[nitems(top_keys)];
	struct pb_top_src top;
	const char *s;

	memset(&top, 0, sizeof(top));
	memset(seen, 0, sizeof(seen));
	conf_map_apply(&ld->ctx, root, top_keys, nitems(top_keys), &top, seen);
	conf_required_check(&ld->ctx, root, top_keys, nitems(top_keys), seen);
	if (top.playbook != NULL && (s = pb_name(ld, &top_keys[TKEY_PLAYBOOK], top.playbook)))
		ld->pb->name = xstrdup(s);
	if (top.description != NULL &&
	    (s = pb_scalar(ld, &top_keys[TKEY_DESCRIPTION], top.description)))
		ld->pb->description = xstrdup(s);
	if (top.stages != NULL)
		stages_parse(ld, top.stages);
}

struct playbook *playbook_load_warn(const char *file, const struct policy *p,
				    const char *policy_dir, conf_error_fn err, conf_error_fn warn,
				    void *arg)
{
	struct pb_loader ld;
	yaml_node_t *root;
	size_t si;
	int h;

	memset(&ld, 0, sizeof(ld));
	ld.p = p;
	ld.dir = policy_dir;
	ld.assigned_ok = 1;
	ld.pb = xcalloc(1, sizeof(*ld.pb));
	ld.pb->file = xstrdup(file);
	ld.pb->nhosts = (size_t)p->inv.nhosts;
	ld.pb->stage_of = xcalloc(ld.pb->nhosts + 1, sizeof(int));
	for (h = 0; h < p->inv.nhosts; h++)
		ld.pb->stage_of[h] = -1;
	ld.pb->cache = pb_cache_new(ld.pb->nhosts);

	diag_list_init(&ld.diags);
	conf_ctx_init(&ld.ctx, file, &ld.diags, diag_file_add(&ld.diags, file));
	ld.ctx.max_size = PB_FILE_MAX;
	root = conf_doc_load(&ld.ctx);
	if (root != NULL)
		pb_top_parse(&ld, root);
	conf_doc_close(&ld.ctx);

	if (ld.ss != NULL) {
		for (si = 0; si < ld.pb->nstages; si++)
			free(ld.ss[si].checks_src);
		free(ld.ss);
	}
	diag_list_sort(&ld.diags);
	diag_list_emit(&ld.diags, err, warn, arg);
	if (ld.diags.nerrors != 0) {
		playbook_free(ld.pb);
		ld.pb = NULL;
	}
	diag_list_clear(&ld.diags);
	return ld.pb;
}

struct playbook *playbook_load(const char *file, const struct policy *p, const char *policy_dir,
			       conf_error_fn err, void *arg)
{
	return playbook_load_warn(file, p, policy_dir, err, NULL, arg);
}

void playbook_free(struct playbook *pb)
{
	struct pb_stage *st;
	size_t i, j;

	if (pb == NULL)
		return;
	for (i = 0; i < pb->nstages; i++) {
		st = &pb->stages[i];
		free(st->name);
		for (j = 0; j < st->nhosts; j++)
			free(st->hosts[j]);
		free(st->hosts);
		free(st->restore);
		for (j = 0; j < st->nchecks; j++)
			pb_check_clear(&st->checks[j]);
		free(st->checks);
		free(st->restricted_file);
		/* shared with the earlier stages that name the same policy */
		for (j = 0; j < i && pb->stages[j].restricted != st->restricted; j++)
			;
		if (j == i)
			policy_free(st->restricted);
	}
	free(pb->stages);
	free(pb->stage_of);
	pb_cache_free(pb->cache);
	free(pb->file);
	free(pb->name);
	free(pb->description);
	free(pb);
}
