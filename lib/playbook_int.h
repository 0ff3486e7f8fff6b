/* What lib/playbook*.c share: the host policies a playbook compiles once
 * and asks many questions of. Private to lib/. */
#ifndef BULKHEAD_PLAYBOOK_INT_H
#define BULKHEAD_PLAYBOOK_INT_H

#include <stddef.h>

#include "bulkhead/playbook.h"
#include "bulkhead/policy.h"

/* By inventory index: what the host's stage gives it, compiled when first
 * needed. A host is in one stage only, so one policy per host. */
struct pb_cache {
	struct host_policy **hp;
	size_t n;
};

/* playbook_reach.c */
struct pb_cache *pb_cache_new(size_t nhosts);
void pb_cache_free(struct pb_cache *c);
/* Host i's policy in its stage; NULL if it is in no stage. */
const struct host_policy *pb_host_compiled(const struct playbook *pb, const struct policy *p,
					   int host);
/* The site a stage compiles its hosts from: p, or its restricted policy. */
const struct policy *pb_stage_policy(const struct playbook *pb, const struct policy *p,
				     size_t stage);

#endif
