/* Logging: one line per event on stderr, prefixed with the program name;
 * under systemd, one entry per event in the journal, through its native
 * protocol (a datagram of FIELD=value lines), with PRIORITY and fields. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"

#define LOG_MSG_MAX 4096
#define LOG_FIELDS_MAX 8

static const char *log_progname = "bulkhead";
static int log_verbose;
static int log_journal_fd = -1;

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd connected stderr to:
 * stderr is the journal only if it is still that stream (not redirected). */
static int log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_journal_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (log_journal_fd >= 0)
		close(log_journal_fd);
	log_journal_fd = -1;
	if (!path)
		return 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	log_journal_fd = fd;
	return 0;
}

void log_init(const char *progname, int verbose)
{
	log_progname = progname;
	log_verbose = verbose;
	if (log_stderr_is_journal())
		log_journal_connect(LOG_JOURNAL_SOCKET);
}

/* One journal entry: MESSAGE in the protocol's binary form (name, newline,
 * 64-bit little-endian length, data, newline), which takes any bytes; the
 * other fields as KEY=value lines. -1 when the journal did not take it. */
static int log_journal_send(enum log_level lvl, const struct log_field *f, int nf, const char *msg)
{
	/* syslog priorities: err, warning, info, debug */
	static const char prio[][12] = {"PRIORITY=3\n", "PRIORITY=4\n", "PRIORITY=6\n",
					"PRIORITY=7\n"};
	struct iovec iov[8 + 4 * LOG_FIELDS_MAX];
	char ident[128], fields[LOG_FIELDS_MAX][256];
	size_t mlen = strlen(msg);
	uint8_t len[8];
	int n = 0;

	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)mlen >> (8 * i));
	snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s\n", log_progname);
	iov[n++] = (struct iovec){(void *)prio[lvl], strlen(prio[lvl])};
	iov[n++] = (struct iovec){ident, strlen(ident)};
	iov[n++] = (struct iovec){"MESSAGE\n", 8};
	iov[n++] = (struct iovec){len, sizeof(len)};
	iov[n++] = (struct iovec){(void *)msg, mlen};
	iov[n++] = (struct iovec){"\n", 1};
	for (int i = 0, k = 0; i < nf && k < LOG_FIELDS_MAX; i++) {
		/* A value with a newline would end its line early: left out. */
		if (!f[i].value || strchr(f[i].value, '\n'))
			continue;
		snprintf(fields[k], sizeof(fields[k]), "%s=%s\n", f[i].key, f[i].value);
		iov[n++] = (struct iovec){fields[k], strlen(fields[k])};
		k++;
	}
	return writev(log_journal_fd, iov, n) < 0 ? -1 : 0;
}

static void log_vemit(enum log_level lvl, const struct log_field *f, int nf, const char *fmt,
		      va_list ap)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	uint64_t ms;
	time_t s;
	struct tm tm;
	char stamp[32], msg[LOG_MSG_MAX];

	if (lvl == LOG_LVL_DEBUG && !log_verbose)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal_fd >= 0 && log_journal_send(lvl, f, nf, msg) == 0)
		return;
	ms = clock_wall_ms();
	s = (time_t)(ms / 1000);
	gmtime_r(&s, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03u %s: %s: %s\n", stamp, (unsigned)(ms % 1000), log_progname,
		names[lvl], msg);
}

#define LOG_FN(fn, lvl)                                                                            \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vemit(lvl, NULL, 0, fmt, ap);                                                  \
		va_end(ap);                                                                        \
	}

LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void log_fields(enum log_level lvl, const struct log_field *f, int nf, const char *fmt, ...)
{
	va_list ap;

	if ((unsigned)lvl > LOG_LVL_DEBUG)
		lvl = LOG_LVL_ERR;
	va_start(ap, fmt);
	log_vemit(lvl, f, nf, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERR, NULL, 0, fmt, ap);
	va_end(ap);
	exit(2);
}

int errbuf_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -1;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fatal("out of memory");
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		fatal("out of memory");
	return p;
}
