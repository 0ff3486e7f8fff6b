/* Helpers the fuzz targets share (see fuzz_util.h). */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/msg.h"
#include "fuzz_util.h"

static char dir_path[256];

static int dir_remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void dir_remove(void)
{
	nftw(dir_path, dir_remove_cb, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void)
{
	const char *base = getenv("TMPDIR");

	if (dir_path[0])
		return dir_path;
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir_path, sizeof(dir_path), "%s/bulkhead-fuzz-XXXXXX", base);
	if (!mkdtemp(dir_path)) {
		perror(dir_path);
		abort();
	}
	atexit(dir_remove);
	return dir_path;
}

void fuzz_file_write(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!data) {
		unlink(path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0) {
		perror(path);
		abort();
	}
}

size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, size_t max)
{
	size_t seplen = strlen(FUZZ_SEP), n = 0, start = 0, pos = 0;

	if (max == 0)
		return 0;
	while (pos < size && n + 1 < max) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - data) : size;

		if (end - pos == seplen && memcmp(data + pos, FUZZ_SEP, seplen) == 0) {
			parts[n].data = data + start;
			parts[n++].len = pos - start;
			start = nl ? end + 1 : size;
		}
		pos = nl ? end + 1 : size;
	}
	parts[n].data = data + start;
	parts[n++].len = size - start;
	return n;
}

void fuzz_error_drop(void *arg, const char *msg)
{
	if (!msg || !*msg)
		abort();
}

/* --- frames --- */

typedef int (*typed_decode_fn)(const struct wire_frame *f, union msg *m, const char **err);

#define TYPED(kind)                                                                                \
	static int typed_##kind(const struct wire_frame *f, union msg *m, const char **err)        \
	{                                                                                          \
		return msg_##kind##_decode(f, &m->kind, err);                                      \
	}
TYPED(hello)
TYPED(heartbeat)
TYPED(set_mode)
TYPED(ack)
TYPED(alert)
TYPED(confirm)
TYPED(check)
TYPED(check_result)
TYPED(port_set)
TYPED(policy_part)
TYPED(ctl_mode)
TYPED(ctl_apply)
TYPED(ctl_confirm)
TYPED(ctl_audit)
TYPED(ctl_pb_run)
TYPED(ctl_pb_approve)
TYPED(plan_host)
TYPED(ctl_progress)
TYPED(ctl_host)
TYPED(ctl_end)
TYPED(audit_row)
TYPED(pb_stage)
TYPED(pb_check)
#undef TYPED

static const struct {
	uint16_t type;
	typed_decode_fn decode;
} typed[] = {
    {WIRE_HELLO, typed_hello},
    {WIRE_HEARTBEAT, typed_heartbeat},
    {WIRE_SET_MODE, typed_set_mode},
    {WIRE_ACK, typed_ack},
    {WIRE_ALERT, typed_alert},
    {WIRE_CONFIRM, typed_confirm},
    {WIRE_CHECK, typed_check},
    {WIRE_CHECK_RESULT, typed_check_result},
    {WIRE_PORT_SET, typed_port_set},
    {WIRE_POLICY, typed_policy_part},
    {WIRE_CTL_ISOLATE, typed_ctl_mode},
    {WIRE_CTL_RELEASE, typed_ctl_mode},
    {WIRE_CTL_APPLY, typed_ctl_apply},
    {WIRE_CTL_CONFIRM, typed_ctl_confirm},
    {WIRE_CTL_AUDIT, typed_ctl_audit},
    {WIRE_CTL_PB_RUN, typed_ctl_pb_run},
    {WIRE_CTL_PB_APPROVE, typed_ctl_pb_approve},
    {WIRE_PLAN_HOST, typed_plan_host},
    {WIRE_CTL_PROGRESS, typed_ctl_progress},
    {WIRE_CTL_HOST, typed_ctl_host},
    {WIRE_CTL_END, typed_ctl_end},
    {WIRE_CTL_AUDIT_ROW, typed_audit_row},
    {WIRE_PB_STAGE, typed_pb_stage},
    {WIRE_PB_CHECK, typed_pb_check},
};
#define NTYPED (sizeof(typed) / sizeof(typed[0]))

/* Encodes m as a frame of type; the frame must decode, and encode to the
 * same bytes again. */
static void frame_roundtrip(uint16_t type, uint32_t seq, const union msg *m)
{
	static _Alignas(8) uint8_t a[WIRE_MAX_FRAME], b[WIRE_MAX_FRAME];
	struct wire_frame fa;
	const char *err = NULL;
	union msg ma;
	int la, lb;

	/* Defaults the sender left out are sent: that may not fit. */
	la = msg_encode(a, seq, type, m);
	if (la < 0)
		return;
	if (wire_frame_decode(a, (size_t)la, &fa, &err) < 0 || msg_decode(&fa, &ma, &err) < 0) {
		fprintf(stderr, "re-encoded %s frame does not decode: %s\n", wire_type_name(type),
			err);
		abort();
	}
	lb = msg_encode(b, seq, type, &ma);
	if (lb != la || memcmp(a, b, (size_t)la) != 0) {
		fprintf(stderr, "%s frame does not encode the same twice\n", wire_type_name(type));
		abort();
	}
}

void fuzz_frame_check(const struct wire_frame *f)
{
	const char *err = NULL, *terr = NULL;
	struct msg_kept *k;
	union msg m, t;
	int rc = msg_decode(f, &m, &err);

	if (rc < 0 && (!err || !*err))
		abort();
	for (size_t i = 0; i < NTYPED; i++) {
		int trc = typed[i].decode(f, &t, &terr);
		int same = typed[i].type == f->type ||
			   (typed[i].decode == typed_ctl_mode &&
			    (f->type == WIRE_CTL_ISOLATE || f->type == WIRE_CTL_RELEASE));

		if (same ? (trc < 0) != (rc < 0) : trc == 0) {
			fprintf(stderr, "typed decoder %zu disagrees on a %s frame\n", i,
				wire_type_name(f->type));
			abort();
		}
	}
	if (rc < 0)
		return;
	frame_roundtrip(f->type, f->nlh->nlmsg_seq, &m);
	k = msg_keep(f, &err);
	if (!k || k->type != f->type) {
		fprintf(stderr, "a %s frame that decodes is not kept: %s\n", wire_type_name(f->type),
			k ? "another type" : err);
		abort();
	}
	free(k);
}
