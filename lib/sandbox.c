/* Least privilege for the daemons: capabilities, user, Landlock, seccomp. What
 * each daemon keeps is its own file's business; this is the mechanism. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/securebits.h>

#include <seccomp.h>

#include "bulkhead/log.h"
#include "bulkhead/sandbox.h"

/* The sanitizer runtimes call more than the program does: LeakSanitizer
 * stops the process with a ptrace()ing clone at exit, and every report
 * reads /proc/self/maps. gcc says so for ASan only; meson says so for any
 * -Db_sanitize. */
#if defined(__SANITIZE_ADDRESS__) || defined(BULKHEAD_SANITIZE)
#define SANDBOX_SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZERS 1
#endif
#endif

/* The event loop (libevent over epoll), files and the durable record,
 * TLS (OpenSSL), logging, and what glibc does inside them (abort(),
 * futexes, time). */
static const char *const sandbox_base_syscalls[] = {
    "read",	    "write",	      "readv",	      "writev",
    "pread64",	    "pwrite64",	      "close",	      "openat",
    "open",	    "fstat",	      "newfstatat",   "stat",
    "lstat",	    "statx",	      "lseek",	      "fcntl",
    "dup",	    "ioctl",	      "mmap",	      "munmap",
    "mremap",	    "mprotect",	      "madvise",      "brk",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
    "epoll_wait",   "epoll_pwait",    "epoll_ctl",    "epoll_create1",
    "poll",	    "ppoll",	      "pipe2",	      "eventfd2",
    "socketpair",   "connect",	      "getsockopt",   "setsockopt",
    "getsockname",  "getpeername",    "sendto",	      "recvfrom",
    "sendmsg",	    "recvmsg",	      "shutdown",     "clock_gettime",
    "clock_getres", "gettimeofday",   "nanosleep",    "clock_nanosleep",
    "getpid",	    "gettid",	      "getuid",	      "geteuid",
    "getgid",	    "getegid",	      "getrandom",    "futex",
    "exit",	    "exit_group",     "tgkill",	      "rename",
    "renameat",	    "renameat2",      "unlink",	      "unlinkat",
    "fsync",	    "fdatasync",      "mkdir",	      "mkdirat",
    "ftruncate",    "fallocate",      "access",	      "faccessat",
    "faccessat2",   "getcwd",	      "readlink",     "readlinkat",
    "fchmod",	    "fchown",	      "uname",	      "sysinfo",
};

#ifdef SANDBOX_SANITIZERS
static const char *const sandbox_sanitizer_syscalls[] = {
    "sigaltstack", "sched_yield", "clone",	     "clone3",	"ptrace",
    "wait4",	   "waitid",	  "prctl",	     "getppid", "kill",
    "getdents",	   "getdents64",  "set_robust_list", "rseq",	"sched_getaffinity",
    "prlimit64",   "getrlimit",	  "setrlimit",	     "pipe",	"dup2",
    "dup3",	   "msync",	  "mincore",
};
#endif

int sandbox_user_lookup(const char *name, struct sandbox_user *u)
{
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);

	if (rc != 0 || pwp == NULL) {
		log_err("user \"%s\": %s", name, rc ? strerror(rc) : "no such user");
		return -1;
	}
	if (pw.pw_uid == 0) {
		log_err("user \"%s\" has uid 0: name an unprivileged user", name);
		return -1;
	}
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	return 0;
}

int sandbox_path_give(const char *path, const struct sandbox_user *u)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		log_err("%s: a symbolic link; not given to user %s", path, u->name);
		return -1;
	}
	if (st.st_uid != u->uid && lchown(path, u->uid, (gid_t)-1) < 0) {
		log_err("%s: cannot give it to user %s: %s", path, u->name, strerror(errno));
		return -1;
	}
	return 0;
}

int sandbox_dir_give(const char *dir, const struct sandbox_user *u)
{
	char path[4096];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (sandbox_path_give(dir, u) < 0)
		return -1;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		log_err("%s: %s", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path)) {
			log_err("%s: path too long", dir);
			rc = -1;
		} else if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = sandbox_path_give(path, u);
	}
	closedir(d);
	return rc;
}

/* The capability sets, as the kernel's two 32-bit words. */
struct sandbox_caps {
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
};

static int sandbox_caps_get(struct sandbox_caps *c)
{
	memset(c, 0, sizeof(*c));
	c->hdr.version = _LINUX_CAPABILITY_VERSION_3;
	return (int)syscall(SYS_capget, &c->hdr, c->d);
}

static bool sandbox_cap_has(const struct sandbox_caps *c, int cap, int effective)
{
	uint32_t w = effective ? c->d[cap / 32].effective : c->d[cap / 32].permitted;

	return (w >> (cap % 32)) & 1;
}

static bool sandbox_cap_kept(int cap, const int *caps, size_t ncaps)
{
	for (size_t i = 0; i < ncaps; i++)
		if (caps[i] == cap)
			return true;
	return false;
}

/* Permitted and effective become exactly keep (within what is held). */
static int sandbox_caps_set(const int *caps, size_t ncaps, const struct sandbox_caps *held)
{
	struct sandbox_caps c;

	memset(&c, 0, sizeof(c));
	c.hdr.version = _LINUX_CAPABILITY_VERSION_3;
	for (size_t i = 0; i < ncaps; i++) {
		int cap = caps[i];

		if (held && !sandbox_cap_has(held, cap, 0))
			continue;
		c.d[cap / 32].permitted |= 1u << (cap % 32);
		c.d[cap / 32].effective |= 1u << (cap % 32);
	}
	return (int)syscall(SYS_capset, &c.hdr, c.d);
}

/* The highest capability this kernel knows. */
static int sandbox_cap_last(void)
{
	int cap = CAP_LAST_CAP;

	while (prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
		cap++;
	while (cap > 0 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
		cap--;
	return cap;
}

/* Reads back what the kernel holds: exactly the kept capabilities (those
 * that were held), none beyond. */
static int sandbox_caps_verify(const int *caps, size_t ncaps, int last)
{
	struct sandbox_caps c;

	if (sandbox_caps_get(&c) < 0) {
		log_err("capget: %s", strerror(errno));
		return -1;
	}
	for (int cap = 0; cap <= last && cap < 32 * _LINUX_CAPABILITY_U32S_3; cap++) {
		if (sandbox_cap_kept(cap, caps, ncaps))
			continue;
		if (sandbox_cap_has(&c, cap, 0) || sandbox_cap_has(&c, cap, 1)) {
			log_err("capability %d is still held after dropping it", cap);
			return -1;
		}
	}
	return 0;
}

static int sandbox_user_switch(const struct sandbox_user *u)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0) {
		log_err("switching to user %s (uid %u, gid %u): %s", u->name, (unsigned)u->uid,
			(unsigned)u->gid, strerror(errno));
		return -1;
	}
	/* For good: there must be no way back to uid 0. */
	if (getresuid(&r, &e, &s) < 0 || r != u->uid || e != u->uid || s != u->uid ||
	    setuid(0) == 0) {
		log_err("switching to user %s: uid 0 is still reachable", u->name);
		return -1;
	}
	return 0;
}

int sandbox_privileges_drop(const int *caps, size_t ncaps, const struct sandbox_user *u)
{
	int last = sandbox_cap_last();
	struct sandbox_caps held;
	unsigned secbits;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (sandbox_caps_get(&held) < 0) {
		log_err("capget: %s", strerror(errno));
		return -1;
	}
	/* Not started with privilege (a test, a debugging run): keep what is
	 * held of caps, and fail on nothing else. */
	if (!sandbox_cap_has(&held, CAP_SETPCAP, 1)) {
		if (u) {
			log_err("cannot switch to user %s: that needs CAP_SETPCAP, CAP_SETUID and "
				"CAP_SETGID (a bounding set without them, as in a systemd unit "
				"that limits it, cannot switch: use User= there instead)",
				u->name);
			return -1;
		}
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		if (sandbox_caps_set(caps, ncaps, &held) < 0) {
			log_err("capset: %s", strerror(errno));
			return -1;
		}
		return sandbox_caps_verify(caps, ncaps, last);
	}
	for (int cap = 0; cap <= last; cap++)
		if (!sandbox_cap_kept(cap, caps, ncaps) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			log_err("dropping capability %d from the bounding set: %s", cap,
				strerror(errno));
			return -1;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		log_err("clearing the ambient capabilities: %s", strerror(errno));
		return -1;
	}
	/* uid 0 confers nothing any more, and that is locked; capabilities
	 * survive the change of user only if some are to be kept. */
	secbits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
		  SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (u && ncaps)
		secbits |= SECBIT_KEEP_CAPS;
	if (prctl(PR_SET_SECUREBITS, secbits, 0, 0, 0) < 0) {
		log_err("PR_SET_SECUREBITS: %s", strerror(errno));
		return -1;
	}
	if (u && sandbox_user_switch(u) < 0)
		return -1;
	if (sandbox_caps_set(caps, ncaps, &held) < 0) {
		log_err("capset: %s", strerror(errno));
		return -1;
	}
	if (u && ncaps)
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	for (int cap = 0; cap <= last; cap++)
		if (!sandbox_cap_kept(cap, caps, ncaps) &&
		    prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0) {
			log_err("capability %d is still in the bounding set", cap);
			return -1;
		}
	return sandbox_caps_verify(caps, ncaps, last);
}

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* Landlock ABI 3, newer than these headers */
#endif

/* Every way of changing the file system that Landlock ABI abi can refuse. */
static uint64_t sandbox_fs_writes(int abi)
{
	uint64_t w = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
		     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
		     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
		     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
		     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;

	if (abi >= 2)
		w |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		w |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return w;
}

int sandbox_fs_limit(const char *const *dirs, size_t ndirs)
{
	struct landlock_ruleset_attr attr;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	uint64_t writes;
	int fd, rc = -1;

	if (abi < 1) {
		log_info("landlock: not available (%s); file writes are not limited",
			 strerror(errno));
		return 0;
	}
	writes = sandbox_fs_writes((int)abi);
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = writes | LANDLOCK_ACCESS_FS_EXECUTE;
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0) {
		log_err("landlock: creating the ruleset: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < ndirs; i++) {
		struct landlock_path_beneath_attr pb = {.allowed_access = writes};

		pb.parent_fd = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (pb.parent_fd < 0) {
			log_err("landlock: %s: %s", dirs[i], strerror(errno));
			goto out;
		}
		if (syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
			log_err("landlock: allowing writes beneath %s: %s", dirs[i],
				strerror(errno));
			close(pb.parent_fd);
			goto out;
		}
		close(pb.parent_fd);
	}
	/* no_new_privs is set already (sandbox_privileges_drop). */
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		log_err("landlock: restricting the process: %s", strerror(errno));
		goto out;
	}
	rc = 1;
out:
	close(fd);
	return rc;
}

/* Adds each name; a name this architecture lacks is skipped. Returns how
 * many were added, or -1. */
static int sandbox_rules_add(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	int added = 0;

	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int rc;

		if (nr == __NR_SCMP_ERROR || nr < 0) {
			log_debug("seccomp: no system call %s here; skipped", names[i]);
			continue;
		}
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && rc != -EEXIST) {
			log_err("seccomp: allowing %s: %s", names[i], strerror(-rc));
			return -1;
		}
		added++;
	}
	return added;
}

int sandbox_filter_install(const struct sandbox_filter *f)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int n, m, rc = -1;

	if (!ctx) {
		log_err("seccomp_init failed");
		return -1;
	}
	/* A system call of another ABI (i386, x32) kills, too. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		log_err("seccomp: cannot make other ABIs' system calls kill");
		goto out;
	}
	n = sandbox_rules_add(ctx, sandbox_base_syscalls,
			      sizeof(sandbox_base_syscalls) / sizeof(sandbox_base_syscalls[0]));
	m = sandbox_rules_add(ctx, f->syscalls, f->nsyscalls);
	if (n < 0 || m < 0)
		goto out;
	n += m;
#ifdef SANDBOX_SANITIZERS
	m = sandbox_rules_add(ctx, sandbox_sanitizer_syscalls,
			      sizeof(sandbox_sanitizer_syscalls) /
				  sizeof(sandbox_sanitizer_syscalls[0]));
	if (m < 0)
		goto out;
	n += m;
#endif
	for (size_t i = 0; i < f->nfamilies; i++) {
		int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f->families[i]));

		if (e < 0) {
			log_err("seccomp: allowing socket(%d): %s", f->families[i], strerror(-e));
			goto out;
		}
	}
	if (f->nfamilies)
		n++;
	rc = seccomp_load(ctx);
	if (rc < 0) {
		log_err("seccomp: loading the filter: %s", strerror(-rc));
		rc = -1;
		goto out;
	}
	rc = n;
out:
	seccomp_release(ctx);
	return rc;
}
