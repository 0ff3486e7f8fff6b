/* Reading a playbook against a loaded site: its stages, their hosts,
 * restricted policies and checks, every problem kept with its place and
 * reported in file order, then the restricted files' own. Nothing is half
 * accepted: one error and there is no playbook. See bulkhead-playbook(5). */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulkhead/log.h"
#include "bulkhead/playbook.h"
#include "playbook_int.h"
#include "policy_int.h"

/* A playbook that lists thousands of hosts by name is still small. */
#define PB_FILE_MAX (16 * 1024 * 1024)
#define PB_SOAK_MAX (24u * 3600 * 1000)
#define PB_TIMEOUT_MIN 100
#define PB_TIMEOUT_MAX 60000 /* what an agent accepts */
#define PB_TIMEOUT_DEFAULT 2000
/* hosts a message names before "and N more" */
#define PB_NAMES_MAX 5

struct pb_diag {
	int file; /* 0: the playbook; then the restricted files, in the order read */
	uint32_t line, col;
	size_t seq;
	int warning;
	char *text; /* the whole line */
};

/* The nodes of one stage and of its checks, as found: read in two passes,
 * since a check may name a host of any stage. */
struct pb_check_src {
	yaml_node_t *map, *from, *connect, *ping, *expect, *timeout;
};

struct pb_stage_src {
	yaml_node_t *map, *name, *hosts, *restore, *checks, *approval, *soak, *on_failure;
	struct pb_check_src *checks_src;
	size_t nchecks_src;
	int policy_ok; /* its restricted policy (if any) loaded */
};

struct pb_top_src {
	yaml_node_t *playbook, *description, *stages;
};

struct pb_loader {
	struct playbook *pb;
	const struct policy *p;
	const char *dir;
	struct conf_ctx ctx;
	struct pb_diag *diags;
	size_t ndiags, capdiags;
	int nerrors;
	int file; /* the restricted file being read, for its messages */
	int nfiles;
	int assigned_ok; /* every stage's hosts resolved: stage_of is complete */
	struct pb_stage_src *ss;
};

/* --- messages --- */

static void pb_diag_push(struct pb_loader *ld, int file, uint32_t line, uint32_t col, int warning,
			 char *text)
{
	struct pb_diag *d;

	if (ld->ndiags == ld->capdiags) {
		ld->capdiags = ld->capdiags != 0 ? 2 * ld->capdiags : 32;
		ld->diags = realloc(ld->diags, ld->capdiags * sizeof(*ld->diags));
		if (ld->diags == NULL)
			fatal("out of memory");
	}
	d = &ld->diags[ld->ndiags];
	d->file = file;
	d->line = line;
	d->col = col;
	d->seq = ld->ndiags++;
	d->warning = warning;
	d->text = text;
	if (!warning)
		ld->nerrors++;
}

static void pb_diag_add(struct pb_loader *ld, uint32_t line, uint32_t col, int warning,
			const char *msg)
{
	char *text;
	int r;

	if (line != 0)
		r = asprintf(&text, "%s:%u:%u: %s%s", ld->pb->file, line, col,
			     warning ? "warning: " : "", msg);
	else
		r = asprintf(&text, "%s: %s%s", ld->pb->file, warning ? "warning: " : "", msg);
	if (r == -1)
		fatal("out of memory");
	pb_diag_push(ld, 0, line, col, warning, text);
}

/* conf.c's reports (syntax, unknown and duplicate keys) and conf_report's. */
static void pb_conf_diag(void *arg, size_t line, size_t col, const char *msg)
{
	pb_diag_add(arg, (uint32_t)line, (uint32_t)col, 0, msg);
}

static void pb_warn(struct pb_loader *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pb_warn(struct pb_loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pb_diag_add(ld, (uint32_t)n->start_mark.line + 1, (uint32_t)n->start_mark.column + 1, 1,
		    msg);
}

/* A restricted file's messages come formatted, and in order already. */
static void pb_restricted_err(void *arg, const char *msg)
{
	struct pb_loader *ld = arg;

	pb_diag_push(ld, ld->file, 0, 0, 0, xstrdup(msg));
}

static void pb_restricted_warn(void *arg, const char *msg)
{
	struct pb_loader *ld = arg;

	pb_diag_push(ld, ld->file, 0, 0, 1, xstrdup(msg));
}

static int pb_diag_cmp(const void *a, const void *b)
{
	const struct pb_diag *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void pb_diags_emit(struct pb_loader *ld, conf_error_fn err, conf_error_fn warn, void *arg)
{
	conf_error_fn fn;
	size_t i;

	if (ld->ndiags > 1)
		qsort(ld->diags, ld->ndiags, sizeof(*ld->diags), pb_diag_cmp);
	for (i = 0; i < ld->ndiags; i++) {
		fn = ld->diags[i].warning ? warn : (err != NULL ? err : conf_error_stderr);
		if (fn != NULL)
			fn(arg, ld->diags[i].text);
		free(ld->diags[i].text);
	}
	free(ld->diags);
	ld->diags = NULL;
	ld->ndiags = ld->capdiags = 0;
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
static int pb_node_keep(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			void *base)
{
	(void)ctx;
	*(yaml_node_t **)((char *)base + key->off) = v;
	return 0;
}

#define PB_KEY(name, type, field, required, expect)                                                \
	{                                                                                          \
		name, CONF_FN, offsetof(type, field), 0, required, NULL, 0, pb_node_keep, expect   \
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

enum { CKEY_FROM, CKEY_CONNECT, CKEY_PING, CKEY_EXPECT, CKEY_TIMEOUT };
static const struct conf_key check_keys[] = {
    [CKEY_FROM] = PB_KEY("from", struct pb_check_src, from, 1, "a host or group name"),
    [CKEY_CONNECT] = PB_KEY("connect", struct pb_check_src, connect, 0, "\"TARGET tcp/PORT\""),
    [CKEY_PING] = PB_KEY("ping", struct pb_check_src, ping, 0, "a host name or an address"),
    [CKEY_EXPECT] = PB_KEY("expect", struct pb_check_src, expect, 0, "open or closed"),
    [CKEY_TIMEOUT] = PB_KEY("timeout", struct pb_check_src, timeout, 0,
			    "a duration of 100ms..60s, such as 2s or 500ms"),
};

/* The scalar of a key, or NULL once reported as not what the key takes. */
static const char *pb_scalar(struct pb_loader *ld, const struct conf_key *key, yaml_node_t *v)
{
	const char *s = conf_scalar(v);

	if (s == NULL || *s == '\0') {
		conf_value_bad(&ld->ctx, key, v);
		return NULL;
	}
	return s;
}

static const char *pb_name(struct pb_loader *ld, const struct conf_key *key, yaml_node_t *v)
{
	const char *s = pb_scalar(ld, key, v);

	if (s != NULL && !conf_name_valid(s)) {
		conf_value_bad(&ld->ctx, key, v);
		return NULL;
	}
	return s;
}

/* The items of a one-or-many value: a scalar stands for a list of one. */
static int pb_items(struct pb_loader *ld, yaml_node_t *v, yaml_node_item_t *one,
		    yaml_node_item_t **start, yaml_node_item_t **top)
{
	if (v->type == YAML_SCALAR_NODE) {
		*one = (yaml_node_item_t)(v - ld->ctx.doc.nodes.start + 1);
		*start = one;
		*top = one + 1;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return -1;
	*start = v->data.sequence.items.start;
	*top = v->data.sequence.items.top;
	return 0;
}

/* --- names --- */

struct pb_name {
	int group, host; /* -1 when it is not one */
};

/* A name of the site: a group or a host. Reports what it is not. */
static int pb_name_resolve(struct pb_loader *ld, yaml_node_t *n, const char *what, const char *s,
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

static int pb_name_holds(const struct policy *p, const struct pb_name *r, int h)
{
	return r->host >= 0 ? h == r->host : POLICY_BIT_TEST(p->groups[r->group].members, h);
}

/* " from 2 of its 3 hosts", when a check runs from several. */
static void pb_hosts_of(size_t n, size_t some, char *buf, size_t size)
{
	if (n > 1)
		snprintf(buf, size, " from %zu of its %zu hosts", some, n);
	else
		buf[0] = '\0';
}

/* --- pass 1: stages and their hosts --- */

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

	if (pb_items(ld, v, &one, &start, &top) == -1) {
		conf_value_bad(&ld->ctx, &stage_keys[SKEY_HOSTS], v);
		ld->assigned_ok = 0;
		return;
	}
	if (start == top) {
		conf_report(&ld->ctx, v, "\"hosts\": expected at least one group or host name");
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

/* "policies/restricted/NAME.yaml"; "restricted/NAME.yaml" when the policy
 * is the current directory, as policy_load names its files. */
static char *pb_restricted_path(const char *dir, const char *name)
{
	size_t len = strlen(dir);
	char *path;
	int r;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len == 0 || (len == 1 && dir[0] == '.'))
		r = asprintf(&path, "restricted/%s.yaml", name);
	else
		r = asprintf(&path, "%.*s%srestricted/%s.yaml", (int)len, dir,
			     dir[len - 1] == '/' ? "" : "/", name);
	if (r == -1)
		fatal("out of memory");
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
	ld->file = ++ld->nfiles;
	st->restricted = policy_load_rules(ld->dir, st->restricted_file, ld->p->today,
					   pb_restricted_err, pb_restricted_warn, ld);
	if (st->restricted == NULL) {
		conf_report(&ld->ctx, v, "restricted policy \"%s\": %s has errors", name,
			    st->restricted_file);
		ld->ss[si].policy_ok = 0;
	}
}

static void stage_checks_collect(struct pb_loader *ld, size_t si, yaml_node_t *v)
{
	struct pb_stage_src *ss = &ld->ss[si];
	struct conf_seen seen[nitems(check_keys)];
	yaml_node_item_t *it;
	yaml_node_t *item;
	char d[80];

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(&ld->ctx, &stage_keys[SKEY_CHECKS], v);
		return;
	}
	ss->checks_src =
	    xcalloc((size_t)(v->data.sequence.items.top - v->data.sequence.items.start) + 1,
		    sizeof(*ss->checks_src));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		item = conf_node(&ld->ctx, *it);
		if (item->type != YAML_MAPPING_NODE) {
			conf_report(&ld->ctx, item,
				    "\"checks\": expected a mapping for each check, got %s",
				    conf_node_describe(item, d, sizeof(d)));
			continue;
		}
		memset(seen, 0, sizeof(seen));
		ss->checks_src[ss->nchecks_src].map = item;
		conf_map_apply(&ld->ctx, item, check_keys, nitems(check_keys),
			       &ss->checks_src[ss->nchecks_src], seen);
		conf_required_check(&ld->ctx, item, check_keys, nitems(check_keys), seen);
		if (seen[CKEY_FROM].value != NULL)
			ss->nchecks_src++;
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
		stage_checks_collect(ld, si, ss->checks);
}

/* --- pass 2: checks --- */

/* A target as written: an address, or a host (its first IPv4 address,
 * else its first IPv6 one). */
static int check_target_resolve(struct pb_loader *ld, const char *key, yaml_node_t *v,
				const char *s, struct pb_check *c)
{
	const struct policy *p = ld->p;
	const struct inv_host *h;
	struct conf_addr a;
	int g, hi, i, j;

	if (conf_addr_parse(s, &a) == 0) {
		memcpy(c->target, a.text, sizeof(c->target));
		c->family = a.family;
		for (i = 0; i < p->inv.nhosts && c->target_host == NULL; i++)
			for (j = 0; j < p->inv.hosts[i].naddrs; j++)
				if (conf_addr_equal(&p->inv.hosts[i].addrs[j], &a))
					c->target_host = xstrdup(p->inv.hosts[i].name);
		return 0;
	}
	hi = conf_name_valid(s) ? conf_index_get(&p->host_ix, s, strlen(s)) : -1;
	if (hi < 0) {
		g = conf_name_valid(s) ? conf_index_get(&p->group_ix, s, strlen(s)) : -1;
		if (g >= 0)
			conf_report(&ld->ctx, v,
				    "\"%s\": \"%s\" is a group; a check targets one host or "
				    "address",
				    key, s);
		else
			conf_report(&ld->ctx, v,
				    "\"%s\": unknown host \"%s\" (expected a host name or an "
				    "address)",
				    key, s);
		return -1;
	}
	h = &p->inv.hosts[hi];
	for (i = 0; i < h->naddrs && h->addrs[i].family != AF_INET; i++)
		;
	if (i == h->naddrs)
		i = 0;
	memcpy(c->target, h->addrs[i].text, sizeof(c->target));
	c->family = h->addrs[i].family;
	c->target_host = xstrdup(h->name);
	return 0;
}

/* "TARGET tcp/PORT" */
static int check_connect_parse(struct pb_loader *ld, yaml_node_t *v, struct pb_check *c)
{
	const char *s = pb_scalar(ld, &check_keys[CKEY_CONNECT], v), *flow, *sp;
	char target[128], *end;
	long port;

	if (s == NULL)
		return -1;
	sp = strchr(s, ' ');
	flow = sp != NULL ? sp + strspn(sp, " ") : NULL;
	if (sp == NULL || sp == s || (size_t)(sp - s) >= sizeof(target) || *flow == '\0' ||
	    strchr(flow, ' ') != NULL) {
		conf_value_bad(&ld->ctx, &check_keys[CKEY_CONNECT], v);
		return -1;
	}
	if (strncmp(flow, "udp/", 4) == 0) {
		conf_report(&ld->ctx, v,
			    "\"connect\": only tcp can be checked (a UDP probe cannot tell a drop "
			    "from silence), got \"%s\"",
			    flow);
		return -1;
	}
	if (strcmp(flow, "icmp") == 0) {
		conf_report(&ld->ctx, v, "\"connect\": for icmp, use \"ping: TARGET\"");
		return -1;
	}
	if (strncmp(flow, "tcp/", 4) != 0 || flow[4] < '0' || flow[4] > '9') {
		conf_report(&ld->ctx, v,
			    "\"connect\": expected tcp/PORT after the target, got \"%s\"", flow);
		return -1;
	}
	errno = 0;
	port = strtol(flow + 4, &end, 10);
	if (*end != '\0') {
		conf_report(&ld->ctx, v,
			    "\"connect\": expected tcp/PORT after the target, got \"%s\"", flow);
		return -1;
	}
	if (errno != 0 || port < 1 || port > 65535) {
		conf_report(&ld->ctx, v,
			    "\"connect\": port out of range (expected 1..65535), got %s", flow + 4);
		return -1;
	}
	memcpy(target, s, (size_t)(sp - s));
	target[sp - s] = '\0';
	c->proto = IPPROTO_TCP;
	c->port = (uint16_t)port;
	c->target_name = xstrdup(target);
	return check_target_resolve(ld, "connect", v, target, c);
}

static int check_ping_parse(struct pb_loader *ld, yaml_node_t *v, struct pb_check *c)
{
	const char *s = pb_scalar(ld, &check_keys[CKEY_PING], v);

	if (s == NULL)
		return -1;
	if (strchr(s, ' ') != NULL) {
		conf_value_bad(&ld->ctx, &check_keys[CKEY_PING], v);
		return -1;
	}
	c->proto = IPPROTO_ICMP;
	c->target_name = xstrdup(s);
	return check_target_resolve(ld, "ping", v, s, c);
}

static void pb_check_clear(struct pb_check *c)
{
	free(c->from);
	free(c->target_name);
	free(c->from_name);
	free(c->target_host);
	memset(c, 0, sizeof(*c));
}

static void stage_check_add(struct pb_stage *st, const struct pb_check *tmpl, const char *from)
{
	struct pb_check *c;

	st->checks = realloc(st->checks, (st->nchecks + 1) * sizeof(*st->checks));
	if (st->checks == NULL)
		fatal("out of memory");
	c = &st->checks[st->nchecks++];
	*c = *tmpl;
	c->from = xstrdup(from);
	c->from_name = xstrdup(tmpl->from_name);
	c->target_name = xstrdup(tmpl->target_name);
	c->target_host = tmpl->target_host != NULL ? xstrdup(tmpl->target_host) : NULL;
}

/* Where the first of several hosts returns, for messages. */
static void pb_returns(const struct playbook *pb, int h, char *buf, size_t size)
{
	if (pb->stage_of[h] < 0)
		snprintf(buf, size, "no stage brings it back");
	else
		snprintf(buf, size, "it returns at stage \"%s\", line %d",
			 pb->stages[pb->stage_of[h]].name, pb->stages[pb->stage_of[h]].line);
}

/* What the policies make of the check from each of its hosts. */
static void check_predict(struct pb_loader *ld, size_t si, const struct pb_check_src *cs,
			  size_t first, size_t n)
{
	const struct playbook *pb = ld->pb;
	const struct pb_stage *st = &pb->stages[si];
	char why[512], bad_why[512] = "", weak_why[512] = "", hosts[64];
	size_t i, nbad = 0, nweak = 0;
	enum pb_reach r;
	int h;

	for (i = first; i < first + n; i++) {
		const struct pb_check *c = &st->checks[i];

		/* a host whose restricted policy did not load cannot be judged */
		h = conf_index_get(&ld->p->host_ix, c->from, strlen(c->from));
		if (!ld->ss[pb->stage_of[h]].policy_ok)
			return;
		if (c->target_host != NULL) {
			h = conf_index_get(&ld->p->host_ix, c->target_host, strlen(c->target_host));
			if (pb->stage_of[h] >= 0 && pb->stage_of[h] <= (int)si &&
			    !ld->ss[pb->stage_of[h]].policy_ok)
				return;
		}
		r = playbook_check_predict(pb, ld->p, si, c, why, sizeof(why));
		if (c->expect_open && r == PB_REACH_CLOSED && nbad++ == 0)
			snprintf(bad_why, sizeof(bad_why), "%s", why);
		if (!c->expect_open && r == PB_REACH_OPEN && nweak++ == 0)
			snprintf(weak_why, sizeof(weak_why), "%s", why);
	}
	pb_hosts_of(n, nbad, hosts, sizeof(hosts));
	if (nbad > 0)
		conf_report(&ld->ctx, cs->map, "check cannot pass%s: %s", hosts, bad_why);
	pb_hosts_of(n, nweak, hosts, sizeof(hosts));
	if (nweak > 0)
		pb_warn(ld, cs->map, "check proves nothing%s: %s; expect: closed passes only if %s",
			hosts, weak_why,
			st->checks[first].proto == IPPROTO_TCP ? "nothing listens"
							       : "the target ignores pings");
}

static void check_parse(struct pb_loader *ld, size_t si, const struct pb_check_src *cs)
{
	const struct policy *p = ld->p;
	struct playbook *pb = ld->pb;
	struct pb_stage *st = &pb->stages[si];
	struct pb_check c;
	struct pb_name from;
	const char *s;
	char where[128];
	size_t nisolated = 0, nfamily = 0, first = st->nchecks;
	int h, hiso = -1, hfam = -1, ok = 1;

	memset(&c, 0, sizeof(c));
	c.line = (int)cs->map->start_mark.line + 1;
	c.col = (int)cs->map->start_mark.column + 1;
	c.expect_open = 1;
	c.timeout_ms = PB_TIMEOUT_DEFAULT;

	s = pb_name(ld, &check_keys[CKEY_FROM], cs->from);
	if (s == NULL || pb_name_resolve(ld, cs->from, "\"from\": ", s, &from) == -1)
		ok = 0;
	else
		c.from_name = xstrdup(s);
	if (cs->connect != NULL && cs->ping != NULL) {
		conf_report(&ld->ctx,
			    cs->ping->start_mark.index > cs->connect->start_mark.index
				? cs->ping
				: cs->connect,
			    "a check either connects or pings, not both");
		ok = 0;
	} else if (cs->connect == NULL && cs->ping == NULL) {
		conf_report(&ld->ctx, cs->map,
			    "a check needs \"connect: TARGET tcp/PORT\" or "
			    "\"ping: TARGET\"");
		ok = 0;
	} else if (cs->connect != NULL) {
		ok &= check_connect_parse(ld, cs->connect, &c) == 0;
	} else {
		ok &= check_ping_parse(ld, cs->ping, &c) == 0;
	}
	if (cs->expect != NULL && (s = pb_scalar(ld, &check_keys[CKEY_EXPECT], cs->expect))) {
		if (strcmp(s, "closed") == 0) {
			c.expect_open = 0;
		} else if (strcmp(s, "open") != 0) {
			conf_value_bad(&ld->ctx, &check_keys[CKEY_EXPECT], cs->expect);
			ok = 0;
		}
	} else if (cs->expect != NULL) {
		ok = 0;
	}
	if (cs->timeout != NULL && (s = pb_scalar(ld, &check_keys[CKEY_TIMEOUT], cs->timeout))) {
		if (playbook_duration_parse(s, &c.timeout_ms) == -1 ||
		    c.timeout_ms < PB_TIMEOUT_MIN || c.timeout_ms > PB_TIMEOUT_MAX) {
			conf_value_bad(&ld->ctx, &check_keys[CKEY_TIMEOUT], cs->timeout);
			ok = 0;
		}
	} else if (cs->timeout != NULL) {
		ok = 0;
	}
	if (!ok) {
		pb_check_clear(&c);
		return;
	}

	for (h = 0; h < p->inv.nhosts; h++) {
		const struct inv_host *ih = &p->inv.hosts[h];
		int i;

		if (!pb_name_holds(p, &from, h))
			continue;
		/* an isolated agent reaches its controller and nothing else */
		if (ld->assigned_ok && (pb->stage_of[h] < 0 || pb->stage_of[h] > (int)si)) {
			if (nisolated++ == 0)
				hiso = h;
			continue;
		}
		for (i = 0; i < ih->naddrs && ih->addrs[i].family != c.family; i++)
			;
		if (i == ih->naddrs) {
			if (nfamily++ == 0)
				hfam = h;
			continue;
		}
		stage_check_add(st, &c, ih->name);
	}
	if (nisolated > 0) {
		pb_returns(pb, hiso, where, sizeof(where));
		if (from.host >= 0)
			conf_report(
			    &ld->ctx, cs->from,
			    "\"from\": %s is still isolated at stage \"%s\" (%s): its agent "
			    "reaches nothing but the controller; run the check from a host "
			    "of this stage or an earlier one",
			    p->inv.hosts[hiso].name, st->name, where);
		else if (nisolated == 1)
			conf_report(
			    &ld->ctx, cs->from,
			    "\"from\": group \"%s\" holds %s, still isolated at stage \"%s\" "
			    "(%s): its agent reaches nothing but the controller; run the "
			    "check from hosts of this stage or an earlier one",
			    c.from_name, p->inv.hosts[hiso].name, st->name, where);
		else
			conf_report(
			    &ld->ctx, cs->from,
			    "\"from\": group \"%s\" holds %zu hosts still isolated at stage "
			    "\"%s\", such as %s (%s): their agents reach nothing but the "
			    "controller; run the check from hosts of this stage or an earlier "
			    "one",
			    c.from_name, nisolated, st->name, p->inv.hosts[hiso].name, where);
	}
	if (nfamily == 1)
		conf_report(&ld->ctx, cs->connect != NULL ? cs->connect : cs->ping,
			    "%s has no %s address to reach %s from", p->inv.hosts[hfam].name,
			    c.family == AF_INET ? "IPv4" : "IPv6", c.target);
	else if (nfamily > 1)
		conf_report(&ld->ctx, cs->connect != NULL ? cs->connect : cs->ping,
			    "%zu hosts of group \"%s\" have no %s address to reach %s from, such "
			    "as %s",
			    nfamily, c.from_name, c.family == AF_INET ? "IPv4" : "IPv6", c.target,
			    p->inv.hosts[hfam].name);
	if (nisolated == 0 && nfamily == 0 && st->nchecks == first)
		conf_report(&ld->ctx, cs->from, "\"from\": group \"%s\" has no host", c.from_name);
	if (ld->assigned_ok && st->nchecks > first)
		check_predict(ld, si, cs, first, st->nchecks - first);
	pb_check_clear(&c);
}

/* --- the file --- */

static void stages_parse(struct pb_loader *ld, yaml_node_t *v)
{
	struct playbook *pb = ld->pb;
	yaml_node_item_t *it;
	yaml_node_t *item;
	size_t si, i, n = 0, shown = 0;
	char d[80], names[512];
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
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		item = conf_node(&ld->ctx, *it);
		if (item->type != YAML_MAPPING_NODE) {
			conf_report(&ld->ctx, item,
				    "\"stages\": expected a mapping for each stage, got %s",
				    conf_node_describe(item, d, sizeof(d)));
			ld->assigned_ok = 0;
			continue;
		}
		stage_parse(ld, pb->nstages++, item);
	}

	for (si = 0; si < pb->nstages; si++)
		for (i = 0; i < ld->ss[si].nchecks_src; i++)
			check_parse(ld, si, &ld->ss[si].checks_src[i]);

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

	conf_ctx_init(&ld.ctx, file, NULL, &ld);
	ld.ctx.diag = pb_conf_diag;
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
	pb_diags_emit(&ld, err, warn, arg);
	if (ld.nerrors != 0) {
		playbook_free(ld.pb);
		return NULL;
	}
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
