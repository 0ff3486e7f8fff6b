/* The daemons' sandboxes (agents/sandbox.c, controller/sandbox.c), each in
 * a forked child: the allow-list lets the calls the daemon makes through,
 * and a call outside it kills the child with SIGSYS; the capabilities and
 * the user are what /proc/self/status says. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <linux/netlink.h>

#include <cmocka.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "sandbox.h"
#include "../../controller/sandbox.h"

enum daemon { AGENT, CTL };

/* What the child does once its filter is in: returns its exit status. */
typedef int (*child_fn)(void);

static int filter_install(enum daemon d)
{
	return d == AGENT ? agent_filter_install() : ctl_filter_install();
}

/* Runs fn in a child under d's filter; returns its wait status. */
static int child_run(enum daemon d, child_fn fn)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (filter_install(d) < 0)
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exit_ok(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void assert_killed(int status)
{
	if (WIFEXITED(status))
		fail_msg("child exited with %d: the call was not refused", WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* What both daemons do at run time: files written and renamed (the
 * record), a pipe, time, TCP sockets. */
static int calls_common(void)
{
	char path[] = "/tmp/bh-sandbox-XXXXXX", to[64], buf[4];
	struct timespec ts;
	int fd = mkstemp(path), p[2], s;

	if (fd < 0 || write(fd, "ok", 2) != 2 || fsync(fd) < 0 || close(fd) < 0)
		return 1;
	snprintf(to, sizeof(to), "%s.new", path);
	if (rename(path, to) < 0 || unlink(to) < 0)
		return 2;
	if (pipe2(p, O_CLOEXEC) < 0 || write(p[1], "x", 1) != 1 || read(p[0], buf, 1) != 1)
		return 3;
	close(p[0]);
	close(p[1]);
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0 || getpid() <= 0)
		return 4;
	s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 5;
	close(s);
	return 0;
}

/* The agent's own: netlink (nftables, rtnetlink) and raw ICMP, and the
 * listing of state_dir that removes stale policy files. */
static int calls_agent(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int rc = calls_common(), s;
	DIR *d;

	if (rc)
		return rc;
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 10;
	close(s);
	if (!(d = opendir("/tmp")))
		return 11;
	while (readdir(d))
		;
	closedir(d);
	return 0;
}

static int call_execve(void)
{
	char *argv[] = {"true", NULL}, *envp[] = {NULL};

	execve("/bin/true", argv, envp);
	return 50; /* the filter let it fail instead of killing */
}

static int call_unshare(void)
{
	unshare(CLONE_NEWNET);
	return 50;
}

static int call_setns(void)
{
	syscall(SYS_setns, -1, 0);
	return 50;
}

static int call_mount(void)
{
	mount("none", "/", NULL, MS_REMOUNT, NULL);
	return 50;
}

static int call_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 50;
}

static int call_socket_packet(void)
{
	socket(AF_PACKET, SOCK_RAW, 0);
	return 50;
}

static int call_socket_netlink(void)
{
	socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	return 50;
}

static int call_bind_tcp(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int s = socket(AF_INET, SOCK_STREAM, 0);

	bind(s, (struct sockaddr *)&sa, sizeof(sa));
	return 50;
}

/* The sanitizers' runtime uses ptrace (LeakSanitizer), so their builds
 * allow it; everything else here kills in every build. */
static int sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(BULKHEAD_SANITIZE)
	return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
	return 1;
#endif
#endif
	return 0;
}

static void test_agent_allowed(void **state)
{
	assert_exit_ok(child_run(AGENT, calls_agent));
}

static void test_agent_forbidden(void **state)
{
	child_fn fns[] = {call_execve, call_unshare, call_setns, call_mount, call_socket_packet};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		assert_killed(child_run(AGENT, fns[i]));
	if (!sanitized())
		assert_killed(child_run(AGENT, call_ptrace));
}

static void test_ctl_allowed(void **state)
{
	assert_exit_ok(child_run(CTL, calls_common));
}

static void test_ctl_forbidden(void **state)
{
	child_fn fns[] = {call_execve, call_unshare,	    call_setns,
			  call_mount,  call_socket_netlink, call_bind_tcp};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		assert_killed(child_run(CTL, fns[i]));
	if (!sanitized())
		assert_killed(child_run(CTL, call_ptrace));
}

/* The value of a "Key:\t..." line of /proc/self/status, or "". */
static void status_field(const char *key, char *out, size_t len)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			snprintf(out, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	fclose(f);
}

/* Checks the status fields; returns the index of the first that differs
 * (from 1), or 0. keys and values alternate, NULL-terminated. */
static int status_expect(const char *const *kv)
{
	char got[128];

	for (int i = 0; kv[i]; i += 2) {
		status_field(kv[i], got, sizeof(got));
		if (strcmp(got, kv[i + 1]) != 0) {
			fprintf(stderr, "%s: got '%s', expected '%s'\n", kv[i], got, kv[i + 1]);
			return i / 2 + 1;
		}
	}
	return 0;
}

static int drop_agent(void)
{
	static const char *const kv[] = {
	    "CapEff", "0000000000003000", "CapPrm",	"0000000000003000",
	    "CapBnd", "0000000000003000", "CapInh",	"0000000000000000",
	    "CapAmb", "0000000000000000", "NoNewPrivs", "1",
	    "Uid",    "0\t0\t0\t0",	  NULL};

	struct agent_conf conf = {.state_dir = "/nonexistent/bulkhead-test"};

	if (agent_privileges_drop(&conf) < 0)
		return 99;
	return status_expect(kv);
}

static void test_agent_caps(void **state)
{
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(drop_agent());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_exit_ok(status);
}

static char user_expect[64];
static char agent_dir[64];

/* As user nobody, with the same capabilities, writing its state_dir. */
static int drop_agent_user(void)
{
	struct agent_conf conf = {.user = "nobody", .state_dir = agent_dir};
	const char *kv[] = {"CapEff", "0000000000003000", "CapPrm",	"0000000000003000",
			    "CapBnd", "0000000000003000", "NoNewPrivs", "1",
			    "Uid",    user_expect,	  NULL};
	char path[128];
	int fd, rc;

	if (agent_privileges_drop(&conf) < 0)
		return 99;
	if (setuid(0) == 0)
		return 98;
	rc = status_expect(kv);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/state.tmp", agent_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || close(fd) < 0)
		return 20;
	snprintf(path, sizeof(path), "%s/old", agent_dir);
	fd = open(path, O_RDWR);
	if (fd < 0 || close(fd) < 0)
		return 21; /* a file that was root's is the user's now */
	return 0;
}

static int drop_ctl_user(void)
{
	struct ctl_conf conf = {.user = "nobody", .state_dir = "/nonexistent/bulkhead-test"};
	const char *kv[] = {"CapEff", "0000000000000000", "CapPrm",	"0000000000000000",
			    "CapBnd", "0000000000000000", "NoNewPrivs", "1",
			    "Uid",    user_expect,	  "Gid",	user_expect + 32,
			    NULL};

	if (ctl_privileges_drop(&conf) < 0)
		return 99;
	/* There is no way back. */
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 98;
	return status_expect(kv);
}

static void test_ctl_user(void **state)
{
	struct passwd *pw;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	pw = getpwnam("nobody");
	if (!pw)
		skip();
	snprintf(user_expect, 32, "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	snprintf(user_expect + 32, 32, "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid, (unsigned)pw->pw_gid,
		 (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(drop_ctl_user());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_exit_ok(status);
}

static void test_agent_user(void **state)
{
	struct passwd *pw;
	char path[128];
	pid_t pid;
	int status, fd;

	if (geteuid() != 0)
		skip();
	pw = getpwnam("nobody");
	if (!pw)
		skip();
	snprintf(user_expect, 32, "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	snprintf(agent_dir, sizeof(agent_dir), "/tmp/bh-sandbox-agent-XXXXXX");
	assert_non_null(mkdtemp(agent_dir));
	snprintf(path, sizeof(path), "%s/old", agent_dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(drop_agent_user());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state.tmp", agent_dir);
	unlink(path);
	rmdir(agent_dir);
	assert_exit_ok(status);
}

static char fs_in[64], fs_out[64];

/* Under the agent's Landlock rules: its state_dir is writable, nothing
 * else; reading is not limited. Exit status 77: no Landlock here. */
static int fs_agent(void)
{
	struct agent_conf conf = {.state_dir = fs_in};
	char a[128], b[128];
	int fd, rc;

	if (agent_privileges_drop(&conf) < 0)
		return 99;
	rc = agent_fs_limit(&conf);
	if (rc == 0)
		return 77;
	if (rc < 0)
		return 98;
	snprintf(a, sizeof(a), "%s/state.tmp", fs_in);
	snprintf(b, sizeof(b), "%s/state", fs_in);
	fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) < 0 || rename(a, b) < 0)
		return 10; /* the record cannot be written */
	snprintf(a, sizeof(a), "%s/planted", fs_out);
	fd = open(a, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0 || errno != EACCES)
		return 11; /* a file was created outside state_dir */
	snprintf(a, sizeof(a), "%s/kept", fs_out);
	fd = open(a, O_WRONLY);
	if (fd >= 0 || errno != EACCES)
		return 12; /* an existing file outside was opened for writing */
	if (unlink(a) == 0 || errno != EACCES)
		return 13;
	fd = open(a, O_RDONLY);
	if (fd < 0)
		return 14; /* reading must still work */
	close(fd);
	return 0;
}

static void test_agent_fs(void **state)
{
	char path[128];
	pid_t pid;
	int status, fd;

	snprintf(fs_in, sizeof(fs_in), "/tmp/bh-sandbox-in-XXXXXX");
	snprintf(fs_out, sizeof(fs_out), "/tmp/bh-sandbox-out-XXXXXX");
	assert_non_null(mkdtemp(fs_in));
	assert_non_null(mkdtemp(fs_out));
	snprintf(path, sizeof(path), "%s/kept", fs_out);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fs_agent());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	snprintf(path, sizeof(path), "%s/planted", fs_out);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state", fs_in);
	unlink(path);
	rmdir(fs_in);
	rmdir(fs_out);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		skip();
	assert_exit_ok(status);
}

/* Bad input: an unknown user is an error, not a crash or a silent stay. */
static int drop_ctl_nouser(void)
{
	struct ctl_conf conf = {.user = "bh-no-such-user-x", .state_dir = "/nonexistent"};

	return ctl_privileges_drop(&conf) < 0 ? 0 : 1;
}

static void test_ctl_unknown_user(void **state)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(drop_ctl_nouser());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_exit_ok(status);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_allowed),    cmocka_unit_test(test_agent_forbidden),
	    cmocka_unit_test(test_ctl_allowed),	     cmocka_unit_test(test_ctl_forbidden),
	    cmocka_unit_test(test_agent_caps),	     cmocka_unit_test(test_agent_user),
	    cmocka_unit_test(test_agent_fs),	     cmocka_unit_test(test_ctl_user),
	    cmocka_unit_test(test_ctl_unknown_user),
	};

	log_init("test_sandbox", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
