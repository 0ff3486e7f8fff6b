/* Logging: one line per event on stderr, prefixed with the program name. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"

static const char *log_progname = "bulkhead";
static int log_verbose;

void log_init(const char *progname, int verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

static void log_vemit(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	uint64_t ms = clock_wall_ms();
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char stamp[32];

	if (lvl == LOG_LVL_DEBUG && !log_verbose)
		return;
	gmtime_r(&s, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03u %s: %s: ", stamp, (unsigned)(ms % 1000), log_progname, names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define LOG_FN(fn, lvl)                                                                            \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vemit(lvl, fmt, ap);                                                           \
		va_end(ap);                                                                        \
	}

LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERR, fmt, ap);
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
