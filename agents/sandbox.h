/* The agent's least privilege: the capabilities it keeps and the system
 * calls it may make once it has started (agents/sandbox.c). */
#ifndef BULKHEAD_AGENT_SANDBOX_H
#define BULKHEAD_AGENT_SANDBOX_H

#include <stddef.h>

#include "bulkhead/conf.h"

/* CAP_NET_ADMIN and CAP_NET_RAW, the same for every profile kind. */
extern const int agent_sandbox_caps[];
extern const size_t agent_sandbox_ncaps;

/* Drops every capability but agent_sandbox_caps (bounding and ambient sets
 * too), sets no_new_privs; switches to conf->user if it is set (state_dir
 * given to it first), else stays uid 0. -1 (logged) on failure. */
int agent_privileges_drop(const struct agent_conf *conf);
/* Limits file writes to conf->state_dir (Landlock); 1 in force, 0 when the
 * kernel lacks Landlock, -1 (logged). After agent_privileges_drop. */
int agent_fs_limit(const struct agent_conf *conf);
/* Installs the agent's seccomp allow-list; returns the number of system
 * calls allowed, or -1 (logged). */
int agent_filter_install(void);
/* Both, once start-up is done; logs what was kept. */
int agent_sandbox_enter(const struct agent_conf *conf);

#endif
