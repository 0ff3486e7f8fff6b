/* Least privilege inside the daemons: capabilities, the user, where files
 * may be written (Landlock), and a seccomp allow-list. Each daemon names what it keeps
 * (agents/sandbox.c, controller/sandbox.c); this is how it is done. */
#ifndef BULKHEAD_SANDBOX_H
#define BULKHEAD_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

/* A daemon's part of a seccomp allow-list: system calls by name, and the
 * address families socket() may be called with. The calls every daemon
 * makes (the event loop, files, TLS, logging) are always allowed. */
struct sandbox_filter {
	const char *const *syscalls;
	size_t nsyscalls;
	const int *families;
	size_t nfamilies;
};

/* The user to run as, from sandbox_user_lookup. */
struct sandbox_user {
	char name[64];
	uid_t uid;
	gid_t gid;
};

/* Looks NAME up in the user database. -1 (logged) if there is no such user. */
int sandbox_user_lookup(const char *name, struct sandbox_user *u);

/* Gives PATH (a file or a directory) to the user, keeping its group and
 * mode; a missing path is not an error. -1 (logged) on failure. */
int sandbox_path_give(const char *path, const struct sandbox_user *u);

/* Gives directory dir and the regular files in it (not below) to the user;
 * symbolic links are refused. A missing dir is not an error. */
int sandbox_dir_give(const char *dir, const struct sandbox_user *u);

/* Sets no_new_privs, empties the bounding and ambient sets, switches to
 * user u if it is not NULL (groups, gid and uid, for good), and keeps
 * exactly caps[0..ncaps) permitted and effective, nothing inheritable.
 * Needs CAP_SETPCAP (and CAP_SETUID, CAP_SETGID for u): call it once,
 * while still privileged. Without privilege (not started as root) it only
 * sets no_new_privs and checks that no capability is held beyond caps.
 * -1 (logged) on failure. */
int sandbox_privileges_drop(const int *caps, size_t ncaps, const struct sandbox_user *u);

/* With Landlock: no file can be written, created, removed or renamed, nor
 * executed, except beneath dirs[0..ndirs); reading is not limited. Needs
 * no_new_privs (sandbox_privileges_drop first). Returns 1 when in force, 0
 * when the kernel has no Landlock (logged), -1 (logged) on failure. */
int sandbox_fs_limit(const char *const *dirs, size_t ndirs);

/* Installs the allow-list: the common calls, f's, and, when the build has
 * the sanitizers, what their runtime calls. Any other system call, or
 * socket() with another family, kills the process. Returns the number of
 * system calls allowed (names this architecture lacks are skipped), or -1
 * (logged). Irrevocable: it also holds for every child of the process. */
int sandbox_filter_install(const struct sandbox_filter *f);

#endif
