/* The agent's least privilege: the capabilities it keeps and the system
 * calls it may make once it has started (agents/sandbox.c). */
#ifndef BULKHEAD_AGENT_SANDBOX_H
#define BULKHEAD_AGENT_SANDBOX_H

#include <stddef.h>

/* CAP_NET_ADMIN and CAP_NET_RAW, the same for every profile kind. */
extern const int agent_sandbox_caps[];
extern const size_t agent_sandbox_ncaps;

/* Drops every capability but agent_sandbox_caps (bounding and ambient sets
 * too), sets no_new_privs; the agent stays uid 0. -1 (logged) on failure. */
int agent_privileges_drop(void);
/* Installs the agent's seccomp allow-list; returns the number of system
 * calls allowed, or -1 (logged). */
int agent_filter_install(void);
/* Both, once start-up is done; logs what was kept. */
int agent_sandbox_enter(void);

#endif
