/* Opening the store a configuration names; the calls themselves go to the
 * backend's ops (store.h). */
#include <string.h>

#include "bulkhead/log.h"
#include "store.h"

struct store *store_open(const char *spec, int read_only)
{
	static const char sqlite_prefix[] = "sqlite:", pg_prefix[] = "postgresql:";

	if (strncmp(spec, sqlite_prefix, strlen(sqlite_prefix)) == 0)
		return store_sqlite_open(spec + strlen(sqlite_prefix), read_only);
	if (strncmp(spec, pg_prefix, strlen(pg_prefix)) == 0) {
#ifdef HAVE_LIBPQ
		return store_pg_open(spec + strlen(pg_prefix), read_only);
#else
		log_err("store \"%s\": this build has no PostgreSQL support"
			" (built without libpq)",
			spec);
		return NULL;
#endif
	}
	if (strchr(spec, ':') && spec[0] != '/' && spec[0] != '.') {
		log_err("store \"%s\": unknown backend (known: sqlite:PATH,"
			" postgresql:CONNINFO)",
			spec);
		return NULL;
	}
	return store_sqlite_open(spec, read_only);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}
