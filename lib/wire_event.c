/* Frames off a libevent input buffer: the reading half that bulkheadd's
 * agent sessions, its control socket and the agent's session share. */
#include <event2/buffer.h>

#include "bulkhead/wire.h"

int wire_frame_take(struct evbuffer *in, void *frame, struct wire_frame *f, const char **err)
{
	size_t avail = evbuffer_get_length(in);
	int len;

	if (avail < 4)
		return 0;
	len = wire_frame_peek_len(evbuffer_pullup(in, 4), avail);
	if (len < 0) {
		*err = "malformed frame length";
		return -1;
	}
	if ((size_t)len > avail)
		return 0;
	evbuffer_remove(in, frame, (size_t)len);
	return wire_frame_decode(frame, (size_t)len, f, err) < 0 ? -1 : 1;
}

int wire_frames_read(struct evbuffer *in, wire_frame_fn fn, void *arg, const char **err)
{
	static char frame[WIRE_MAX_FRAME];

	for (;;) {
		struct wire_frame f;
		int rc = wire_frame_take(in, frame, &f, err);

		if (rc <= 0)
			return rc;
		if (fn(frame, f.nlh->nlmsg_len, &f, arg) != 0)
			return 1;
	}
}
