/* The state of one playbook being read, shared by playbook_parse.c (the
 * file and its stages) and playbook_checks.c (their checks). Private to lib/. */
#ifndef BULKHEAD_PLAYBOOK_LOAD_H
#define BULKHEAD_PLAYBOOK_LOAD_H

#include <stddef.h>

#include <yaml.h>

#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"
#include "bulkhead/diag.h"
#include "yamlutil.h"

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

struct pb_loader {
	struct playbook *pb;
	const struct policy *p;
	const char *dir;
	struct conf_ctx ctx;
	struct diag_list diags; /* file 0 is the playbook, then the restricted files */
	int assigned_ok;	/* every stage's hosts resolved: stage_of is complete */
	struct pb_stage_src *ss;
};

/* A name of the site as resolved: a group or a host. */
struct pb_name {
	int group, host; /* -1 when it is not one */
};

/* A key whose node pb_node_keep keeps at field of type, for reading once
 * every key is known. */
#define PB_KEY(name, type, field, required, expect)                                                \
	{                                                                                          \
		name, CONF_FN, offsetof(type, field), 0, required, NULL, 0, pb_node_keep, expect   \
	}

/* playbook_parse.c */
int pb_node_keep(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v, void *base);
void pb_warn(struct pb_loader *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The scalar of a key, or NULL once reported as not what the key takes. */
const char *pb_scalar(struct pb_loader *ld, const struct conf_key *key, yaml_node_t *v);
/* As pb_scalar, for a key that takes a name. */
const char *pb_name(struct pb_loader *ld, const struct conf_key *key, yaml_node_t *v);
/* A name of the site: a group or a host. Reports what it is not, after what. */
int pb_name_resolve(struct pb_loader *ld, yaml_node_t *n, const char *what, const char *s,
		    struct pb_name *r);
int pb_name_holds(const struct policy *p, const struct pb_name *r, int h);

/* playbook_checks.c */
/* The nodes of stage si's checks, the value v of key, for pb_check_parse. */
void pb_checks_collect(struct pb_loader *ld, size_t si, const struct conf_key *key, yaml_node_t *v);
/* One check of stage si, once every stage's hosts are known: one pb_check
 * per host it runs from. */
void pb_check_parse(struct pb_loader *ld, size_t si, const struct pb_check_src *cs);
void pb_check_clear(struct pb_check *c);

#endif
