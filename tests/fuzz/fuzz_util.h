/* What the fuzz targets share: a private scratch directory for the loaders
 * that read files, quiet error callbacks, splitting one input into several
 * files, and the checks every decoded frame goes through. */
#ifndef BULKHEAD_FUZZ_UTIL_H
#define BULKHEAD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead/wire.h"

/* The line that separates the files of one input (policy directories). */
#define FUZZ_SEP "%%"

/* Every loader is judged on this day, so that a crash reproduces. */
#define FUZZ_TODAY 20089 /* 2025-01-01, as the golden tests */

struct fuzz_part {
	const uint8_t *data;
	size_t len;
};

/* A directory of this process, made on first use and removed at exit. */
const char *fuzz_dir(void);
/* Writes dir/name with data; a NULL data removes the file instead. */
void fuzz_file_write(const char *dir, const char *name, const uint8_t *data, size_t len);
/* Splits data on lines that are exactly FUZZ_SEP into at most max parts;
 * the last part takes the rest. Returns the count. */
size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, size_t max);
/* A conf_error_fn that checks the message has text and drops it. */
void fuzz_error_drop(void *arg, const char *msg);

/* The typed decoder of f's kind must agree with msg_decode, a decoder of
 * another kind must refuse it, and what decodes must encode to a frame
 * that decodes to the same message. Aborts when one of these fails. */
void fuzz_frame_check(const struct wire_frame *f);

#endif
