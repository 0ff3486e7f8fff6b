/* Opening the store a configuration names; the calls themselves go to the
 * backend's ops (store.h). */
#include <string.h>

#include "bulkhead/log.h"
#include "store.h"

struct store *store_open(const char *spec, int read_only)
{
	static const char sqlite_prefix[] = "sqlite:";

	if (strncmp(spec, sqlite_prefix, strlen(sqlite_prefix)) == 0)
		return store_sqlite_open(spec + strlen(sqlite_prefix), read_only);
	if (strchr(spec, ':') && spec[0] != '/' && spec[0] != '.') {
		log_err("store \"%s\": unknown backend (known: sqlite:PATH)", spec);
		return NULL;
	}
	return store_sqlite_open(spec, read_only);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}
