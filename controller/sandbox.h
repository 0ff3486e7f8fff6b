/* bulkheadd's least privilege: no capability, optionally another user, and
 * the system calls it may make once it has started (controller/sandbox.c). */
#ifndef BULKHEAD_CTL_SANDBOX_H
#define BULKHEAD_CTL_SANDBOX_H

#include "bulkhead/conf.h"

/* Switches to conf->user (if set; state_dir and the database are given to
 * it first), drops every capability, sets no_new_privs. -1 (logged). */
int ctl_privileges_drop(const struct ctl_conf *conf);
/* Installs bulkheadd's seccomp allow-list; returns the number of system
 * calls allowed, or -1 (logged). */
int ctl_filter_install(void);
/* Both, once the listener, the store and the control socket are open. */
int ctl_sandbox_enter(const struct ctl_conf *conf);

#endif
