/* What the agent keeps once it has started: the capabilities nftables,
 * links and the checks need, writes in its state_dir only, and the system
 * calls its loop makes. */
#include <sys/socket.h>
#include <unistd.h>
#include <linux/capability.h>

#include "bulkhead/log.h"
#include "bulkhead/sandbox.h"
#include "sandbox.h"

/* CAP_NET_ADMIN: nftables transactions and events, links and bridge ports
 * over rtnetlink, for every kind (server, hypervisor, switch). CAP_NET_RAW:
 * the ping checks of playbook stages open raw ICMP sockets (check.c), and
 * any kind may be asked to run one. The agent never enters another
 * namespace (no setns), so it needs no CAP_SYS_ADMIN. As uid 0 (the
 * default) or as its own user (state_dir given to it), it reaches its
 * state_dir as the owner: no CAP_DAC_OVERRIDE. */
const int agent_sandbox_caps[] = {CAP_NET_ADMIN, CAP_NET_RAW};
const size_t agent_sandbox_ncaps = sizeof(agent_sandbox_caps) / sizeof(agent_sandbox_caps[0]);

/* Beyond the common ones: netlink sockets bound to their groups, the
 * session's and the checks' sockets, and the listing of state_dir that
 * removes policy files no record names (state_policy_gc). */
static const char *const agent_syscalls[] = {
    "bind",
    "recvmmsg",
    "sendmmsg",
    "getdents64",
};

/* netlink (nftables, rtnetlink), TCP and ICMP over both families; AF_UNIX
 * for glibc's if_nametoindex(), which asks the kernel through one. */
static const int agent_families[] = {AF_NETLINK, AF_INET, AF_INET6, AF_UNIX};

int agent_privileges_drop(const struct agent_conf *conf)
{
	struct sandbox_user u;

	if (!conf->user)
		return sandbox_privileges_drop(agent_sandbox_caps, agent_sandbox_ncaps, NULL);
	if (geteuid() != 0) {
		log_err("user: %s: the agent must be started as root to switch to it", conf->user);
		return -1;
	}
	/* The record is written (a new file renamed over the old) and the
	 * policies kept in state_dir after the switch. */
	if (sandbox_user_lookup(conf->user, &u) < 0 || sandbox_dir_give(conf->state_dir, &u) < 0)
		return -1;
	return sandbox_privileges_drop(agent_sandbox_caps, agent_sandbox_ncaps, &u);
}

/* The agent writes nothing but its record and policies after start-up. */
int agent_fs_limit(const struct agent_conf *conf)
{
	const char *const dirs[] = {conf->state_dir};

	return sandbox_fs_limit(dirs, 1);
}

int agent_filter_install(void)
{
	static const struct sandbox_filter f = {
	    agent_syscalls, sizeof(agent_syscalls) / sizeof(agent_syscalls[0]), agent_families,
	    sizeof(agent_families) / sizeof(agent_families[0])};

	return sandbox_filter_install(&f);
}

int agent_sandbox_enter(const struct agent_conf *conf)
{
	int n, fs;

	if (agent_privileges_drop(conf) < 0)
		return -1;
	fs = agent_fs_limit(conf);
	if (fs < 0)
		return -1;
	n = agent_filter_install();
	if (n < 0)
		return -1;
	log_info("sandbox: %s%s, capabilities net_admin and net_raw only, no_new_privs, "
		 "%s%s, seccomp allow-list of %d system calls",
		 conf->user ? "user " : "uid ", conf->user ? conf->user : "0 kept",
		 fs ? "file writes only beneath " : "file writes not limited",
		 fs ? conf->state_dir : "", n);
	return 0;
}
