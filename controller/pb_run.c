/* The playbook run model (playbook.h): built the same way from the CLI's
 * frames and from the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "playbook.h"

void pb_run_free(struct pb_run *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nstages; i++) {
		free(r->stages[i].hosts);
		free(r->stages[i].hashes);
		free(r->stages[i].checks);
	}
	free(r->stages);
	free(r);
}

struct pb_stage_rt *pb_stage_add(struct pb_run *r)
{
	r->stages = realloc(r->stages, sizeof(*r->stages) * (size_t)(r->nstages + 1));
	if (!r->stages)
		fatal("out of memory");
	memset(&r->stages[r->nstages], 0, sizeof(r->stages[0]));
	return &r->stages[r->nstages++];
}

struct pb_check_rt *pb_check_add(struct pb_stage_rt *s)
{
	s->checks = realloc(s->checks, sizeof(*s->checks) * (size_t)(s->nchecks + 1));
	if (!s->checks)
		fatal("out of memory");
	memset(&s->checks[s->nchecks], 0, sizeof(s->checks[0]));
	s->checks[s->nchecks].result = -1;
	return &s->checks[s->nchecks++];
}

void pb_stage_host_add(struct pb_stage_rt *s, struct host *h, const char *hash)
{
	s->hosts = realloc(s->hosts, sizeof(*s->hosts) * (size_t)(s->nhosts + 1));
	s->hashes = realloc(s->hashes, sizeof(*s->hashes) * (size_t)(s->nhosts + 1));
	if (!s->hosts || !s->hashes)
		fatal("out of memory");
	s->hosts[s->nhosts] = h;
	snprintf(s->hashes[s->nhosts++], 65, "%s", hash);
}
