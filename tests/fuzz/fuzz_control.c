/* The control socket as bulkheadd reads it: frames off a stream, one
 * request, and for apply and playbook run the body of plan frames (hosts,
 * stages, checks and WIRE_POLICY parts reassembled) up to APPLY_END. */
#include <stdint.h>

#include <event2/buffer.h>

#include "bulkhead/msg.h"
#include "bulkhead/policy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct stream {
	int frames;
	struct policy_wire_rx *rx;
};

static int request_kind(uint16_t type)
{
	switch (type) {
	case WIRE_CTL_ISOLATE:
	case WIRE_CTL_RELEASE:
	case WIRE_CTL_STATUS:
	case WIRE_CTL_APPLY:
	case WIRE_CTL_POLICIES:
	case WIRE_CTL_CONFIRM:
	case WIRE_CTL_AUDIT:
	case WIRE_CTL_AUDIT_VERIFY:
	case WIRE_CTL_PB_RUN:
	case WIRE_CTL_PB_STATUS:
	case WIRE_CTL_PB_APPROVE:
	case WIRE_CTL_PB_ABORT:
	case WIRE_CTL_PB_RESUME:
	case WIRE_CTL_RELOAD: return 1;
	default: return 0;
	}
}

/* Non-zero ends the connection, as the controller does. */
static int frame_cb(const void *frame, size_t len, const struct wire_frame *f, void *arg)
{
	struct stream *s = arg;
	const char *err = NULL;
	union msg m;
	int rc;

	if (frame != (const void *)f->nlh || len != f->nlh->nlmsg_len)
		__builtin_trap();
	fuzz_frame_check(f);
	if (s->frames++ == 0) {
		if (!request_kind(f->type) || msg_decode(f, &m, &err) < 0)
			return 1;
		/* One request per connection; a plan or a run goes on. */
		return f->type != WIRE_CTL_APPLY && f->type != WIRE_CTL_PB_RUN;
	}
	switch (f->type) {
	case WIRE_CTL_APPLY_END: return 1;
	case WIRE_POLICY:
		rc = policy_wire_rx_add(s->rx, f, &err);
		if (rc == 1)
			host_policy_free(policy_wire_rx_take(s->rx));
		return rc < 0;
	case WIRE_PLAN_HOST:
	case WIRE_PB_STAGE:
	case WIRE_PB_CHECK: return msg_decode(f, &m, &err) < 0;
	default: return 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = {.rx = policy_wire_rx_new()};
	struct evbuffer *in = evbuffer_new();
	const char *err = NULL;

	if (!in || evbuffer_add(in, data, size) < 0)
		__builtin_trap();
	if (wire_frames_read(in, frame_cb, &s, &err) < 0 && (!err || !*err))
		__builtin_trap();
	evbuffer_free(in);
	policy_wire_rx_free(s.rx);
	return 0;
}
