/* The agent's durable record: its mode, epoch and policy, and while a change
 * waits for confirmation, the state to roll back to. The record is renamed
 * into place before a change is applied, and fsynced only after the ack has
 * left, so the disk never delays an isolation. Policies are kept as the
 * WIRE_POLICY frames they arrived in, in files named by their hash. */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "agent.h"

#define STATE_MAGIC "bulkhead-agent-state 2"
#define POLICY_PREFIX "policy-"

static void state_path(char *buf, size_t len, const char *dir, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
}

static int hash_field(const char *s, char out[65])
{
	if (strcmp(s, "-") == 0) {
		out[0] = '\0';
		return 0;
	}
	if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
		return -1;
	memcpy(out, s, 65);
	return 0;
}

static int state_hold_add(struct mode_record *r, const char *name, enum hold_kind kind)
{
	if (r->nholds == MODE_MAX_HOLDS || strlen(name) >= LINK_NAME_MAX)
		return -1;
	snprintf(r->holds[r->nholds].name, LINK_NAME_MAX, "%s", name);
	r->holds[r->nholds++].kind = kind;
	return 0;
}

/* "port NAME isolated|open link-down|bridge-block EPOCH PENDING" */
static int state_port_parse(struct agent_record *r, const char *line)
{
	char name[32], state[16], method[16];
	struct agent_port *p;
	uint64_t epoch;
	int pending, st, kind;

	if (r->nports == AGENT_MAX_PORTS ||
	    sscanf(line, "port %31s %15s %15s %" SCNu64 " %d", name, state, method, &epoch,
		   &pending) != 5 ||
	    strlen(name) >= LINK_NAME_MAX || (pending != 0 && pending != 1) ||
	    (st = port_state_parse(state)) < 0 || (kind = profile_method_parse(method)) < 0)
		return -1;
	p = &r->ports[r->nports++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->isolated = st == PORT_ISOLATED;
	p->method = (enum hold_kind)kind;
	p->epoch = epoch;
	p->pending = pending;
	return 0;
}

enum state_kind { SK_MODE, SK_EPOCH, SK_HASH, SK_FLAG, SK_HOLD };

/* The "KEY VALUE" lines of the record; `have` marks the ones it needs. */
static const struct state_key {
	const char *key;
	enum state_kind kind;
	size_t off;
	int have;
	enum hold_kind hold;
} state_keys[] = {
    {"mode", SK_MODE, offsetof(struct mode_record, mode), 1, 0},
    {"epoch", SK_EPOCH, offsetof(struct mode_record, epoch), 2, 0},
    {"policy", SK_HASH, offsetof(struct mode_record, policy), 4, 0},
    {"pending", SK_FLAG, offsetof(struct mode_record, pending), 0, 0},
    {"prev-mode", SK_MODE, offsetof(struct mode_record, prev_mode), 0, 0},
    {"prev-epoch", SK_EPOCH, offsetof(struct mode_record, prev_epoch), 0, 0},
    {"prev-policy", SK_HASH, offsetof(struct mode_record, prev_policy), 0, 0},
    /* Hard isolation and switch ports: only present when in use. */
    {"hard", SK_FLAG, offsetof(struct mode_record, hard), 0, 0},
    {"prev-hard", SK_FLAG, offsetof(struct mode_record, prev_hard), 0, 0},
    {"held-link", SK_HOLD, 0, 0, HOLD_LINK_DOWN},
    {"held-port", SK_HOLD, 0, 0, HOLD_PORT_BLOCK},
};

/* One line into r; returns the bits of `have` it sets, or -1. */
static int state_line_parse(struct mode_record *r, const char *key, const char *val)
{
	for (size_t i = 0; i < sizeof(state_keys) / sizeof(state_keys[0]); i++) {
		const struct state_key *k = &state_keys[i];
		char *field = (char *)r + k->off;
		int v;

		if (strcmp(key, k->key) != 0)
			continue;
		switch (k->kind) {
		case SK_MODE:
			if ((v = mode_parse(val)) < 0)
				return -1;
			memcpy(field, &v, sizeof(v));
			break;
		case SK_EPOCH:
			if (sscanf(val, "%" SCNu64, (uint64_t *)(void *)field) != 1)
				return -1;
			break;
		case SK_HASH:
			if (hash_field(val, field) < 0)
				return -1;
			break;
		case SK_FLAG:
			if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
				return -1;
			*(bool *)(void *)field = val[0] == '1';
			break;
		case SK_HOLD:
			if (state_hold_add(r, val, k->hold) < 0)
				return -1;
			break;
		}
		return k->have;
	}
	return -1;
}

int state_parse(FILE *f, struct agent_record *r)
{
	char line[256], key[32], val[96];
	int have = 0, bits;

	memset(r, 0, sizeof(*r));
	if (!fgets(line, sizeof(line), f) || strcmp(line, STATE_MAGIC "\n") != 0)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "port ", 5) == 0) {
			if (state_port_parse(r, line) < 0)
				return -1;
			continue;
		}
		if (sscanf(line, "%31s %95s", key, val) != 2 ||
		    (bits = state_line_parse(&r->m, key, val)) < 0)
			return -1;
		have |= bits;
	}
	return have == 7 ? 0 : -1;
}

/* Returns 0 when a record was loaded, 1 when there is none, -1 when it is unreadable. */
int state_load(const char *dir, struct agent_record *r)
{
	char path[4096];
	FILE *f;
	int rc;

	memset(r, 0, sizeof(*r));
	state_path(path, sizeof(path), dir, "state");
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 1;
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	rc = state_parse(f, r);
	fclose(f);
	if (rc == -2)
		log_err("%s: not an agent state record", path);
	else if (rc < 0)
		log_err("%s: malformed state record", path);
	return rc < 0 ? -1 : 0;
}

int state_record(const char *dir, const struct agent_record *r)
{
	char tmp[4096], path[4096], *text = NULL;
	size_t len = 0;
	FILE *m;
	int fd;

	state_path(tmp, sizeof(tmp), dir, "state.tmp");
	state_path(path, sizeof(path), dir, "state");
	m = open_memstream(&text, &len);
	if (!m)
		fatal("out of memory");
	fprintf(m,
		STATE_MAGIC "\nmode %s\nepoch %" PRIu64 "\npolicy %s\npending %d\n"
			    "prev-mode %s\nprev-epoch %" PRIu64 "\nprev-policy %s\n",
		mode_name(r->m.mode), r->m.epoch, r->m.policy[0] ? r->m.policy : "-", r->m.pending,
		mode_name(r->m.prev_mode), r->m.prev_epoch,
		r->m.prev_policy[0] ? r->m.prev_policy : "-");
	/* Optional lines, written only when they say something: a record of a
	 * host that never used them reads as before. */
	if (r->m.hard)
		fprintf(m, "hard 1\n");
	if (r->m.prev_hard)
		fprintf(m, "prev-hard 1\n");
	for (int i = 0; i < r->m.nholds; i++)
		fprintf(m, "%s %s\n",
			r->m.holds[i].kind == HOLD_PORT_BLOCK ? "held-port" : "held-link",
			r->m.holds[i].name);
	for (int i = 0; i < r->nports; i++)
		fprintf(m, "port %s %s %s %" PRIu64 " %d\n", r->ports[i].name,
			port_state_name(r->ports[i].isolated ? PORT_ISOLATED : PORT_OPEN),
			profile_method_name(r->ports[i].method), r->ports[i].epoch,
			r->ports[i].pending);
	if (fclose(m) != 0)
		fatal("out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_err("%s: %s", tmp, strerror(errno));
		free(text);
		return -1;
	}
	if (write(fd, text, len) != (ssize_t)len) {
		log_err("%s: write: %s", tmp, strerror(errno ? errno : ENOSPC));
		close(fd);
		unlink(tmp);
		free(text);
		return -1;
	}
	free(text);
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
	if (state_fsync_path(path, O_RDONLY) < 0 ||
	    state_fsync_path(dir, O_RDONLY | O_DIRECTORY) < 0) {
		log_err("%s: fsync: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int state_policy_write_frame(const void *frame, int len, void *arg)
{
	return fwrite(frame, 1, (size_t)len, arg) == (size_t)len ? 0 : -1;
}

/* Written once per policy, durably, before any record names it. */
int state_policy_save(const char *dir, const struct host_policy *hp)
{
	static char buf[WIRE_MAX_FRAME];
	char path[4096], tmp[4100];
	struct stat st;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/" POLICY_PREFIX "%s", dir, hp->hash);
	if (stat(path, &st) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		log_err("%s: %s", tmp, strerror(errno));
		return -1;
	}
	rc = policy_wire_encode(hp, buf, state_policy_write_frame, f);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		log_err("%s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp);
	}
	return rc;
}

struct host_policy *state_policy_load(const char *dir, const char *hash)
{
	static char frame[WIRE_MAX_FRAME];
	struct policy_wire_rx *rx = policy_wire_rx_new();
	struct host_policy *hp = NULL;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/" POLICY_PREFIX "%s", dir, hash);
	f = fopen(path, "re");
	if (!f) {
		log_err("%s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		struct wire_frame wf;
		const char *err = "truncated file";
		uint32_t len;
		int rc;

		if (fread(&len, 1, 4, f) != 4 || len < WIRE_HDRLEN || len > WIRE_MAX_FRAME)
			break;
		memcpy(frame, &len, 4);
		if (fread(frame + 4, 1, len - 4, f) != len - 4 ||
		    wire_frame_decode(frame, len, &wf, &err) < 0 ||
		    (rc = policy_wire_rx_add(rx, &wf, &err)) < 0) {
			log_err("%s: %s", path, err);
			break;
		}
		if (rc == 1) {
			hp = policy_wire_rx_take(rx);
			break;
		}
	}
	fclose(f);
	if (hp && strcmp(hp->hash, hash) != 0) {
		log_err("%s: holds policy %.12s, not %.12s", path, hp->hash, hash);
		host_policy_free(hp);
		hp = NULL;
	}
out:
	policy_wire_rx_free(rx);
	return hp;
}

/* Removes policy files that no record names any more. */
void state_policy_gc(const char *dir, const char *keep1, const char *keep2)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *hash = de->d_name + strlen(POLICY_PREFIX);
		char path[4096];

		if (strncmp(de->d_name, POLICY_PREFIX, strlen(POLICY_PREFIX)) != 0 ||
		    strcmp(hash, keep1) == 0 || strcmp(hash, keep2) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}
