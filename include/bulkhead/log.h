/* Logging shared by the daemons and the CLI: one line per event, to stderr,
 * or, when stderr is the systemd journal (JOURNAL_STREAM names it), to the
 * journal's native socket with a priority and structured fields. */
#ifndef BULKHEAD_LOG_H
#define BULKHEAD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, int verbose);
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A structured field for the journal (HOST, EPOCH, COMMAND_ID, ...): key in
 * capitals, digits and '_'; on stderr only the message is printed. */
struct log_field {
	const char *key;
	const char *value; /* NULL: the field is left out */
};
void log_fields(enum log_level lvl, const struct log_field *f, int nf, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends to the journal socket at path from now on (NULL: back to stderr);
 * log_init calls it when stderr is the journal. 0, or -1 with stderr kept. */
int log_journal_connect(const char *path);
#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Broken invariant or out of memory: log and exit(2). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Formats a message into buf for the caller to report later; returns -1,
 * so that `return errbuf_set(...)` reads as a failure. */
int errbuf_set(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

#endif
