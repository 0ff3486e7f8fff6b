/* Logging shared by the daemons and the CLI: one line per event, to stderr. */
#ifndef BULKHEAD_LOG_H
#define BULKHEAD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, int verbose);
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Broken invariant or out of memory: log and exit(2). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

#endif
