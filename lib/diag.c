/* One list of parse problems for every parser of lib/ (the key tables,
 * policies and playbooks), and the one way they are printed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "bulkhead/diag.h"

void conf_error_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

void diag_list_init(struct diag_list *dl)
{
	memset(dl, 0, sizeof(*dl));
}

void diag_list_clear(struct diag_list *dl)
{
	size_t i;

	if (dl == NULL)
		return;
	for (i = 0; i < dl->n; i++)
		free(dl->d[i].msg);
	free(dl->d);
	for (int f = 0; f < dl->nfiles; f++)
		free(dl->files[f]);
	free(dl->files);
	memset(dl, 0, sizeof(*dl));
}

int diag_file_add(struct diag_list *dl, const char *path)
{
	char **files = realloc(dl->files, ((size_t)dl->nfiles + 1) * sizeof(*files));

	if (files == NULL)
		fatal("out of memory");
	dl->files = files;
	dl->files[dl->nfiles] = xstrdup(path);
	return dl->nfiles++;
}

/* Takes msg. */
static void diag_push(struct diag_list *dl, int file, unsigned line, unsigned col, int warning,
		      char *msg)
{
	struct diag *d;

	if (dl->n == dl->cap) {
		dl->cap = dl->cap != 0 ? 2 * dl->cap : 32;
		if ((d = realloc(dl->d, dl->cap * sizeof(*d))) == NULL)
			fatal("out of memory");
		dl->d = d;
	}
	d = &dl->d[dl->n];
	*d = (struct diag){file, line, col, warning, dl->n, msg};
	dl->n++;
	if (warning)
		dl->nwarnings++;
	else
		dl->nerrors++;
}

void diag_vadd(struct diag_list *dl, int file, unsigned line, unsigned col, int warning,
	       const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("out of memory");
	diag_push(dl, file, line, col, warning, msg);
}

void diag_add(struct diag_list *dl, int file, unsigned line, unsigned col, int warning,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(dl, file, line, col, warning, fmt, ap);
	va_end(ap);
}

static int diag_order(size_t a, size_t b)
{
	return (a > b) - (a < b);
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	int c = diag_order((size_t)x->file, (size_t)y->file);

	if (c == 0)
		c = diag_order(x->line, y->line);
	if (c == 0)
		c = diag_order(x->col, y->col);
	return c != 0 ? c : diag_order(x->seq, y->seq);
}

void diag_list_sort(struct diag_list *dl)
{
	if (dl->n > 1)
		qsort(dl->d, dl->n, sizeof(*dl->d), diag_cmp);
}

void diag_warnings_drop(struct diag_list *dl, int file)
{
	size_t i, n = 0;

	for (i = 0; i < dl->n; i++) {
		if (dl->d[i].warning && dl->d[i].file != file) {
			free(dl->d[i].msg);
			dl->nwarnings--;
			continue;
		}
		dl->d[n++] = dl->d[i];
	}
	dl->n = n;
}

void diag_list_move(struct diag_list *dst, struct diag_list *src)
{
	int base = dst->nfiles;
	size_t i;

	for (int f = 0; f < src->nfiles; f++)
		diag_file_add(dst, src->files[f]);
	for (i = 0; i < src->n; i++) {
		const struct diag *d = &src->d[i];

		diag_push(dst, base + d->file, d->line, d->col, d->warning, d->msg);
	}
	free(src->d);
	src->d = NULL;
	src->n = src->cap = 0;
}

void diag_list_emit(struct diag_list *dl, conf_error_fn err, conf_error_fn warn, void *arg)
{
	conf_error_fn fn;
	struct diag *d;
	char *line;
	size_t i;
	int r;

	for (i = 0; i < dl->n; i++) {
		d = &dl->d[i];
		fn = d->warning ? warn : (err != NULL ? err : conf_error_stderr);
		if (fn != NULL) {
			if (d->line != 0)
				r = asprintf(&line, "%s:%u:%u: %s%s", dl->files[d->file], d->line,
					     d->col, d->warning ? "warning: " : "", d->msg);
			else
				r = asprintf(&line, "%s: %s%s", dl->files[d->file],
					     d->warning ? "warning: " : "", d->msg);
			if (r == -1)
				fatal("out of memory");
			fn(arg, line);
			free(line);
		}
		free(d->msg);
	}
	free(dl->d);
	dl->d = NULL;
	dl->n = dl->cap = 0;
}
