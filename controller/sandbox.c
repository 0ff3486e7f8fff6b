/* What bulkheadd keeps once its listener, store and control socket are
 * open: no capability, its own user if the configuration names one, and
 * the system calls its loop makes. */
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/sandbox.h"
#include "sandbox.h"

/* Beyond the common ones: agents and CLI clients accepted. */
static const char *const ctl_syscalls[] = {
    "accept",
    "accept4",
};

/* AF_UNIX: the user database (getpwuid_r for the audit's actor names) may
 * ask nscd or systemd-userdbd over one. No socket of another kind is
 * opened after start-up, but the unit allows both IP families too, and so
 * does this, so that the two say the same. */
static const int ctl_families[] = {AF_UNIX, AF_INET, AF_INET6};

int ctl_privileges_drop(const struct ctl_conf *conf)
{
	struct sandbox_user u;

	if (!conf->user)
		return sandbox_privileges_drop(NULL, 0, NULL);
	if (geteuid() != 0) {
		log_err("user: %s: bulkheadd must be started as root to switch to it", conf->user);
		return -1;
	}
	/* The store writes in state_dir after the switch: SQLite's WAL and
	 * journal files come and go beside the database. */
	if (sandbox_user_lookup(conf->user, &u) < 0 || sandbox_dir_give(conf->state_dir, &u) < 0)
		return -1;
	return sandbox_privileges_drop(NULL, 0, &u);
}

int ctl_filter_install(void)
{
	static const struct sandbox_filter f = {
	    ctl_syscalls, sizeof(ctl_syscalls) / sizeof(ctl_syscalls[0]), ctl_families,
	    sizeof(ctl_families) / sizeof(ctl_families[0])};

	return sandbox_filter_install(&f);
}

int ctl_sandbox_enter(const struct ctl_conf *conf)
{
	int n;

	if (ctl_privileges_drop(conf) < 0)
		return -1;
	/* A program started for events_exec would inherit the filter, and
	 * be killed by the first system call bulkheadd does not make. */
	if (conf->events_exec) {
		log_warn("sandbox: %s%s, no capabilities, no_new_privs; no seccomp filter, because "
			 "events_exec runs %s",
			 conf->user ? "user " : "uid ", conf->user ? conf->user : "0 kept",
			 conf->events_exec);
		return 0;
	}
	n = ctl_filter_install();
	if (n < 0)
		return -1;
	log_info("sandbox: %s%s, no capabilities, no_new_privs, seccomp allow-list of %d system "
		 "calls",
		 conf->user ? "user " : "uid ", conf->user ? conf->user : "0 kept", n);
	return 0;
}
