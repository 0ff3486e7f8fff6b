/* lib/log.c: entries sent to a stand-in journal socket in the native
 * protocol (PRIORITY, SYSLOG_IDENTIFIER, MESSAGE in binary form, the
 * fields), and stderr when no journal takes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "bulkhead/log.h"

static char dir[] = "/tmp/bulkhead-test-log-XXXXXX";
static char sock_path[96];

static int journal_listen(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	unlink(sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The datagram's fields: KEY=value lines, and MESSAGE in binary form. */
static void entry_expect(const char *d, size_t n, const char *prio, const char *msg,
			 const char *field)
{
	char want[256];
	const char *m;
	uint64_t len = 0;

	snprintf(want, sizeof(want), "PRIORITY=%s\n", prio);
	assert_non_null(memmem(d, n, want, strlen(want)));
	assert_non_null(memmem(d, n, "SYSLOG_IDENTIFIER=test_log\n", 27));
	m = memmem(d, n, "MESSAGE\n", 8);
	assert_non_null(m);
	m += 8;
	assert_true((size_t)(m - d) + 8 <= n);
	for (int i = 0; i < 8; i++)
		len |= (uint64_t)(uint8_t)m[i] << (8 * i);
	assert_int_equal(len, strlen(msg));
	assert_true((size_t)(m + 8 - d) + len + 1 <= n);
	assert_memory_equal(m + 8, msg, len);
	assert_int_equal(m[8 + len], '\n');
	if (field)
		assert_non_null(memmem(d, n, field, strlen(field)));
}

static void test_journal_entries(void **state)
{
	int fd = journal_listen();
	char d[8192];
	ssize_t n;
	struct log_field f[3] = {{"HOST", "h01"}, {"EPOCH", "42"}, {"COMMAND_ID", NULL}};

	(void)state;
	assert_int_equal(log_journal_connect(sock_path), 0);
	log_fields(LOG_LVL_WARN, f, 3, "h01: ALERT %s", "tamper");
	n = recv(fd, d, sizeof(d), MSG_DONTWAIT);
	assert_true(n > 0);
	entry_expect(d, (size_t)n, "4", "h01: ALERT tamper", "\nHOST=h01\n");
	assert_non_null(memmem(d, (size_t)n, "\nEPOCH=42\n", 10));
	assert_null(memmem(d, (size_t)n, "COMMAND_ID", 10)); /* NULL: left out */
	/* A message with a newline stays one entry: the binary form carries it. */
	log_err("two\nlines");
	n = recv(fd, d, sizeof(d), MSG_DONTWAIT);
	assert_true(n > 0);
	entry_expect(d, (size_t)n, "3", "two\nlines", NULL);
	log_info("info");
	n = recv(fd, d, sizeof(d), MSG_DONTWAIT);
	entry_expect(d, (size_t)n, "6", "info", NULL);
	/* Debug stays out unless verbose. */
	log_debug("quiet");
	assert_true(recv(fd, d, sizeof(d), MSG_DONTWAIT) < 0);
	/* A value with a newline would forge a field: left out. */
	log_fields(LOG_LVL_INFO, &(struct log_field){"HOST", "h01\nPRIORITY=0"}, 1, "x");
	n = recv(fd, d, sizeof(d), MSG_DONTWAIT);
	assert_true(n > 0);
	assert_null(memmem(d, (size_t)n, "PRIORITY=0", 10));
	close(fd);
	assert_int_equal(log_journal_connect(NULL), 0);
}

/* With the journal gone, entries go to stderr as before. */
static void test_journal_gone(void **state)
{
	int fd = journal_listen(), saved, out;
	char path[160], buf[512] = {0};
	FILE *f;

	(void)state;
	assert_int_equal(log_journal_connect(sock_path), 0);
	close(fd);
	unlink(sock_path);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(out, 2);
	log_warn("after the journal: %d", 7);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(out);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	unlink(path);
	assert_non_null(strstr(buf, " test_log: warning: after the journal: 7\n"));
	assert_int_equal(log_journal_connect(NULL), 0);
	assert_int_equal(log_journal_connect("/nonexistent/journal/socket"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_journal_entries),
	    cmocka_unit_test(test_journal_gone),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	snprintf(sock_path, sizeof(sock_path), "%s/journal.sock", dir);
	log_init("test_log", 0);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(sock_path);
	rmdir(dir);
	return rc;
}
