/* The problems a parser finds, kept with their file and place, sorted into
 * file order and printed as "file:line:col: message". */
#ifndef BULKHEAD_DIAG_H
#define BULKHEAD_DIAG_H

#include <stdarg.h>
#include <stddef.h>

#include "bulkhead/conf.h"

struct diag {
	int file;	    /* index into the list's files */
	unsigned line, col; /* 1-based; line 0: the file as a whole */
	int warning;
	size_t seq; /* order of arrival: the last sort key */
	char *msg;
};

struct diag_list {
	char **files; /* as messages name them, in the order they sort */
	int nfiles;
	struct diag *d;
	size_t n, cap;
	int nerrors, nwarnings; /* added so far; emitting does not reset them */
};

/* diag.c */
void diag_list_init(struct diag_list *dl);
/* Frees the messages and the files; dl may be NULL. */
void diag_list_clear(struct diag_list *dl);
/* Copies path; returns the file's index. */
int diag_file_add(struct diag_list *dl, const char *path);
void diag_add(struct diag_list *dl, int file, unsigned line, unsigned col, int warning,
	      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void diag_vadd(struct diag_list *dl, int file, unsigned line, unsigned col, int warning,
	       const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
/* By file, line and column, then in the order they came. */
void diag_list_sort(struct diag_list *dl);
/* Forgets the warnings about every file but file. */
void diag_warnings_drop(struct diag_list *dl, int file);
/* Moves src's messages to the end of dst, under new files of dst that sort
 * after its own, in src's order. src keeps its files and counts. */
void diag_list_move(struct diag_list *dst, struct diag_list *src);
/* Hands every message, in the list's order, to err (NULL: stderr) or warn
 * (NULL: warnings are dropped), then frees the messages. */
void diag_list_emit(struct diag_list *dl, conf_error_fn err, conf_error_fn warn, void *arg);

#endif
