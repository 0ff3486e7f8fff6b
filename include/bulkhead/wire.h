/* The wire codec: netlink-style frames (struct nlmsghdr, a version header,
 * then attributes) built and validated with libmnl. The same codec carries
 * the agent protocol (over TLS) and the control protocol (unix socket). */
#ifndef BULKHEAD_WIRE_H
#define BULKHEAD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>

#include "bulkhead/names.h"

#define WIRE_VERSION 1
#define WIRE_MAX_FRAME 65536

/* Follows struct nlmsghdr in every frame. */
struct wire_hdr {
	uint8_t version;
	uint8_t reserved[3];
};

#define WIRE_HDRLEN (MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct wire_hdr)))

enum wire_type {
	/* agent <-> controller */
	WIRE_HELLO = NLMSG_MIN_TYPE, /* agent: NAME MODE EPOCH HASH SOFTWARE TAMPERS */
	WIRE_HEARTBEAT,		     /* both ways, no attributes needed */
	WIRE_SET_MODE,		     /* controller: EPOCH MODE [HASH] [CONFIRM_MS] */
	/* agent: EPOCH MODE RESULT APPLY_US HASH PERSISTED STATUS [ERROR]; STATUS is
	 * applied, pending-confirm, committed, rolled-back or refused */
	WIRE_ACK,
	/* CLI <-> controller (control socket) */
	WIRE_CTL_ISOLATE,  /* CLI: ALL | HOST..., REASON, TIMEOUT_MS */
	WIRE_CTL_RELEASE,  /* CLI: ALL | HOST..., REASON, TIMEOUT_MS */
	WIRE_CTL_STATUS,   /* CLI: no attributes */
	WIRE_CTL_PROGRESS, /* controller: CONFIRMED TOTAL [HOST LATENCY_US] (slowest so far) */
	WIRE_CTL_HOST,	   /* controller: one host row, see wire_attr */
	WIRE_CTL_END,	   /* controller: RESULT [ERROR] [EPOCH] [COMMAND] */
	WIRE_ALERT,	   /* agent: STATUS (kind) ERROR (what happened) TAMPERS */
	/* a host policy, in parts: NAME HASH PART PARTS, part 0 also CTL_ADDR...
	 * PORT COLLECTOR...; every part ELEMS_IN and/or ELEMS_OUT */
	WIRE_POLICY,
	WIRE_CONFIRM,	    /* controller: EPOCH; commits a change that opened traffic */
	WIRE_CTL_APPLY,	    /* CLI: REASON TIMEOUT_MS CONFIRM_MS [MANUAL], then plan frames */
	WIRE_PLAN_HOST,	    /* plan: NAME MODE HASH (new) BASE_HASH, then its WIRE_POLICY frames */
	WIRE_CTL_APPLY_END, /* CLI: end of the plan */
	WIRE_CTL_POLICIES,  /* CLI: send every host's applied policy (HOST rows + WIRE_POLICY) */
	WIRE_CTL_CONFIRM,   /* CLI: confirm every change waiting for confirmation */
	WIRE_CTL_AUDIT,	    /* CLI: [TIME_MS since] [HOST]; answered by AUDIT_ROWs */
	WIRE_CTL_AUDIT_ROW, /* controller: SEQ TIME_MS ACTOR ACTION HOST REASON RESULT_TEXT DETAIL
			     */
	WIRE_CTL_AUDIT_VERIFY, /* CLI: verify the hash chain; END carries the verdict */
	WIRE_CHECK,	       /* controller: CHECK_ID TARGET PROTO PORT EXPECT TIMEOUT_MS */
	WIRE_CHECK_RESULT,     /* agent: CHECK_ID RESULT (0 reached) LATENCY_US ERROR */
	WIRE_CTL_PB_RUN, /* CLI: NAME REASON [DRY] then PB_STAGE/PB_CHECK/plan frames, APPLY_END */
	WIRE_PB_STAGE,	 /* stage: STAGE NAME APPROVAL SOAK_MS ON_FAILURE RESTORE HOST... */
	WIRE_PB_CHECK,	 /* check of the last stage: HOST (runs it) TARGET PROTO PORT EXPECT */
	WIRE_CTL_PB_STATUS,  /* CLI; answered by PB_STAGE rows and HOST rows */
	WIRE_CTL_PB_APPROVE, /* CLI: [STAGE] */
	WIRE_CTL_PB_ABORT,
	WIRE_CTL_PB_RESUME,
	/* controller -> switch agent: EPOCH PORT_STATE PORT_NAME... [CONFIRM_MS];
	 * acked by WIRE_ACK: STATUS EPOCH (the ports') PORT_STATE PORT_NAME...
	 * RESULT APPLY_US [ERROR]. Only a linux-switch agent takes it. */
	WIRE_PORT_SET,
	WIRE_CTL_APPROVE, /* CLI: COMMAND (a request held for a second operator) */
	/* CLI: read the TLS files and the revocation list again; END says how it went */
	WIRE_CTL_RELOAD,
	WIRE_TYPE_MAX
};

enum wire_attr {
	WA_UNSPEC,
	WA_NAME,	/* string */
	WA_MODE,	/* u8, enum bulkhead_mode */
	WA_EPOCH,	/* u64 */
	WA_HASH,	/* string, hex SHA-256 of the applied ruleset */
	WA_RESULT,	/* u32: 0 or a positive errno */
	WA_APPLY_US,	/* u64 */
	WA_ERROR,	/* string */
	WA_ALL,		/* u8 flag */
	WA_HOST,	/* string, may repeat */
	WA_REASON,	/* string */
	WA_TIMEOUT_MS,	/* u32 */
	WA_CONFIRMED,	/* u32 */
	WA_TOTAL,	/* u32 */
	WA_CONNECTED,	/* u8 */
	WA_LAST_SEEN,	/* u64, unix time in ms, 0 = never */
	WA_LATENCY_US,	/* u64 */
	WA_STATUS,	/* string: confirmed, failed, timeout, not-connected, ... */
	WA_PERSISTED,	/* u8 */
	WA_SOFTWARE,	/* string */
	WA_COMMAND,	/* u64, command id in the controller's log */
	WA_ADDR,	/* string, peer address */
	WA_TAMPERS,	/* u32, tampering events the agent has undone since it started */
	WA_PART,	/* u32 */
	WA_PARTS,	/* u32 */
	WA_ELEMS_IN,	/* binary, WIRE_ELEM_LEN bytes per element */
	WA_ELEMS_OUT,	/* binary */
	WA_CTL_ADDR,	/* string, may repeat */
	WA_PORT,	/* u32 */
	WA_COLLECTOR,	/* string, may repeat */
	WA_CONFIRM_MS,	/* u32, rollback timer; 0: the change needs no confirmation */
	WA_MANUAL,	/* u8 flag */
	WA_BASE_HASH,	/* string */
	WA_DEADMAN_S,	/* u32, on_controller_loss isolate-after, seconds */
	WA_SEQ,		/* u64 */
	WA_TIME_MS,	/* u64, unix time in ms */
	WA_ACTOR,	/* string */
	WA_ACTION,	/* string */
	WA_RESULT_TEXT, /* string */
	WA_DETAIL,	/* string */
	WA_CHECK_ID,	/* u32 */
	WA_TARGET,	/* string, an address literal */
	WA_PROTO,	/* u8: IPPROTO_TCP, IPPROTO_ICMP */
	WA_EXPECT,	/* u8: 1 must be reached, 0 must not */
	WA_STAGE,	/* u32, index in the playbook */
	WA_APPROVAL,	/* u8: the stage waits for bulkhead playbook approve */
	WA_SOAK_MS,	/* u32 */
	WA_ON_FAILURE,	/* string: reisolate or halt */
	WA_RESTORE,	/* string: segmented, or the name of a restricted policy */
	WA_RUN,		/* u64, playbook run id */
	WA_DRY,		/* u8 flag */
	WA_STATE,	/* string */
	WA_HARD,	/* u8: SET_MODE isolated --hard; in ACK and HELLO: the host holds it */
	WA_PORT_NAME,	/* string, may repeat: a switch port */
	WA_PORT_STATE,	/* string: isolated or open */
	WA_LINK_NAME,	/* string, may repeat: a link or port hard isolation holds */
	WA_NO_FALLBACK, /* u8 flag: isolate without the switch-port fallback */
	WA_CONTROLLER,	/* string: the controller holding a host's session */
	__WA_MAX
};
#define WA_MAX (__WA_MAX - 1)

/* A frame being built in a caller-provided buffer of WIRE_MAX_FRAME bytes.
 * Put helpers record overflow instead of writing past the end. */
struct wire_builder {
	struct nlmsghdr *nlh;
	int overflow;
};

void wire_build_start(struct wire_builder *b, void *buf, uint16_t type, uint32_t seq);
void wire_put_str(struct wire_builder *b, uint16_t attr, const char *s);
void wire_put_u8(struct wire_builder *b, uint16_t attr, uint8_t v);
void wire_put_u32(struct wire_builder *b, uint16_t attr, uint32_t v);
void wire_put_u64(struct wire_builder *b, uint16_t attr, uint64_t v);
void wire_put_bytes(struct wire_builder *b, uint16_t attr, const void *data, size_t len);
/* Length of the finished frame, or -1 if it overflowed. */
int wire_build_end(struct wire_builder *b);

/* A validated frame; attribute pointers point into the caller's buffer. */
struct wire_frame {
	const struct nlmsghdr *nlh;
	uint16_t type;
	const struct nlattr *tb[WA_MAX + 1];
};

/* Given the first bytes of a stream, the full length of the next frame:
 * 0 if fewer than 4 bytes are available, -1 if the length is impossible
 * (shorter than the headers, over WIRE_MAX_FRAME, not a multiple of 4). */
int wire_frame_peek_len(const void *buf, size_t avail);

/* Validate one complete frame of exactly len bytes. Returns 0, or -1 with a
 * reason in err (truncated, oversized, wrong version, unknown type, bad
 * attribute). */
int wire_frame_decode(const void *buf, size_t len, struct wire_frame *f, const char **err);

const char *wire_get_str(const struct wire_frame *f, uint16_t attr, const char *dflt);
uint8_t wire_get_u8(const struct wire_frame *f, uint16_t attr, uint8_t dflt);
uint32_t wire_get_u32(const struct wire_frame *f, uint16_t attr, uint32_t dflt);
uint64_t wire_get_u64(const struct wire_frame *f, uint16_t attr, uint64_t dflt);

/* Call fn for every WA_HOST attribute, in order. Stops and returns -1 if fn does. */
int wire_hosts_foreach(const struct wire_frame *f, int (*fn)(const char *host, void *arg),
		       void *arg);
/* The same for any repeated string attribute. */
int wire_strs_foreach(const struct wire_frame *f, uint16_t attr,
		      int (*fn)(const char *s, void *arg), void *arg);

/* Host policies on the wire: see policy_wire.c. */
struct host_policy;
#define WIRE_ELEM_LEN 38
#define WIRE_ELEMS_PER_PART 800 /* in and out both fit one frame */

/* Calls emit for each WIRE_POLICY frame of hp (built in buf, WIRE_MAX_FRAME bytes). */
int policy_wire_encode(const struct host_policy *hp, void *buf,
		       int (*emit)(const void *frame, int len, void *arg), void *arg);
/* Receiving side: frames of one policy, in order. */
struct policy_wire_rx;
struct policy_wire_rx *policy_wire_rx_new(void);
void policy_wire_rx_free(struct policy_wire_rx *rx);
/* Adds a WIRE_POLICY frame. Returns 1 when the policy is complete and its
 * hash checks, 0 when more parts are due, -1 with *err on a bad frame. */
int policy_wire_rx_add(struct policy_wire_rx *rx, const struct wire_frame *f, const char **err);
/* Takes the completed policy (the caller frees it); NULL if incomplete. */
struct host_policy *policy_wire_rx_take(struct policy_wire_rx *rx);

const char *wire_type_name(uint16_t type);
/* "epoch", "port-name": for messages about a frame. */
const char *wire_attr_name(uint16_t attr);

/* wire_event.c: takes the next whole frame off a libevent input buffer into
 * frame (WIRE_MAX_FRAME bytes). 1 with f decoded, 0 when more bytes are
 * needed, -1 with *err when the stream is broken. */
struct evbuffer;
int wire_frame_take(struct evbuffer *in, void *frame, struct wire_frame *f, const char **err);
/* Takes every whole frame off in, one call of fn each (frame is the raw
 * frame of len bytes, f its decoding); fn returns non-zero to stop, when it
 * closed the session say. 0 when no whole frame is left, 1 when fn
 * stopped, -1 with *err when the stream is broken. */
typedef int (*wire_frame_fn)(const void *frame, size_t len, const struct wire_frame *f, void *arg);
int wire_frames_read(struct evbuffer *in, wire_frame_fn fn, void *arg, const char **err);

#endif
