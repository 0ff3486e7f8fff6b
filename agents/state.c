/* The agent's durable record of its mode and epoch. It is renamed into place
 * before a change is applied, and fsynced only after the ack has left, so the
 * disk never delays an isolation. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "agent.h"

#define STATE_MAGIC "bulkhead-agent-state 1"

static void state_path(char *buf, size_t len, const char *dir, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
}

/* Returns 0 when a record was loaded, 1 when there is none, -1 when it is unreadable. */
int state_load(const char *dir, int *mode, uint64_t *epoch)
{
	char path[4096], mname[32];
	char magic[64];
	FILE *f;
	int m, rc = -1;

	state_path(path, sizeof(path), dir, "state");
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 1;
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!fgets(magic, sizeof(magic), f) || strncmp(magic, STATE_MAGIC "\n", sizeof(magic)) != 0) {
		log_err("%s: not an agent state record", path);
		goto out;
	}
	if (fscanf(f, "mode %31s\nepoch %" SCNu64 "\n", mname, epoch) != 2 ||
	    (m = mode_parse(mname)) < 0) {
		log_err("%s: malformed state record", path);
		goto out;
	}
	*mode = m;
	rc = 0;
out:
	fclose(f);
	return rc;
}

int state_record(const char *dir, int mode, uint64_t epoch)
{
	char tmp[4096], path[4096], text[128];
	int fd, n;

	state_path(tmp, sizeof(tmp), dir, "state.tmp");
	state_path(path, sizeof(path), dir, "state");
	n = snprintf(text, sizeof(text), STATE_MAGIC "\nmode %s\nepoch %" PRIu64 "\n", mode_name(mode),
		     epoch);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_err("%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, text, (size_t)n) != n) {
		log_err("%s: write: %s", tmp, strerror(errno ? errno : ENOSPC));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		log_err("%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int state_fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int state_sync(const char *dir)
{
	char path[4096];

	state_path(path, sizeof(path), dir, "state");
	if (state_fsync_path(path, O_RDONLY) < 0 || state_fsync_path(dir, O_RDONLY | O_DIRECTORY) < 0) {
		log_err("%s: fsync: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
