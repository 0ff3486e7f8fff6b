/* The wire codec: frames are a struct nlmsghdr, a struct wire_hdr carrying
 * the protocol version, then netlink attributes, built and checked with libmnl.
 * Frames are little-endian, as netlink is on every host bulkhead runs on. */
#include <errno.h>
#include <string.h>

#include "bulkhead/wire.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire format is little-endian; a big-endian build needs byte swapping here"
#endif

static const char *const type_names[] = {
    [WIRE_HELLO - NLMSG_MIN_TYPE] = "hello",
    [WIRE_HEARTBEAT - NLMSG_MIN_TYPE] = "heartbeat",
    [WIRE_SET_MODE - NLMSG_MIN_TYPE] = "set-mode",
    [WIRE_ACK - NLMSG_MIN_TYPE] = "ack",
    [WIRE_CTL_ISOLATE - NLMSG_MIN_TYPE] = "isolate",
    [WIRE_CTL_RELEASE - NLMSG_MIN_TYPE] = "release",
    [WIRE_CTL_STATUS - NLMSG_MIN_TYPE] = "status",
    [WIRE_CTL_PROGRESS - NLMSG_MIN_TYPE] = "progress",
    [WIRE_CTL_HOST - NLMSG_MIN_TYPE] = "host",
    [WIRE_CTL_END - NLMSG_MIN_TYPE] = "end",
    [WIRE_ALERT - NLMSG_MIN_TYPE] = "alert",
    [WIRE_POLICY - NLMSG_MIN_TYPE] = "policy",
    [WIRE_CONFIRM - NLMSG_MIN_TYPE] = "confirm",
    [WIRE_CTL_APPLY - NLMSG_MIN_TYPE] = "apply",
    [WIRE_PLAN_HOST - NLMSG_MIN_TYPE] = "plan-host",
    [WIRE_CTL_APPLY_END - NLMSG_MIN_TYPE] = "apply-end",
    [WIRE_CTL_POLICIES - NLMSG_MIN_TYPE] = "policies",
    [WIRE_CTL_CONFIRM - NLMSG_MIN_TYPE] = "confirm-request",
    [WIRE_PORT_SET - NLMSG_MIN_TYPE] = "port-set",
    [WIRE_CTL_AUDIT - NLMSG_MIN_TYPE] = "audit",
    [WIRE_CTL_AUDIT_ROW - NLMSG_MIN_TYPE] = "audit-row",
    [WIRE_CTL_AUDIT_VERIFY - NLMSG_MIN_TYPE] = "audit-verify",
    [WIRE_CHECK - NLMSG_MIN_TYPE] = "check",
    [WIRE_CHECK_RESULT - NLMSG_MIN_TYPE] = "check-result",
    [WIRE_CTL_PB_RUN - NLMSG_MIN_TYPE] = "playbook-run",
    [WIRE_PB_STAGE - NLMSG_MIN_TYPE] = "playbook-stage",
    [WIRE_PB_CHECK - NLMSG_MIN_TYPE] = "playbook-check",
    [WIRE_CTL_PB_STATUS - NLMSG_MIN_TYPE] = "playbook-status",
    [WIRE_CTL_PB_APPROVE - NLMSG_MIN_TYPE] = "playbook-approve",
    [WIRE_CTL_PB_ABORT - NLMSG_MIN_TYPE] = "playbook-abort",
    [WIRE_CTL_PB_RESUME - NLMSG_MIN_TYPE] = "playbook-resume",
    [WIRE_CTL_APPROVE - NLMSG_MIN_TYPE] = "approve",
    [WIRE_CTL_RELOAD - NLMSG_MIN_TYPE] = "reload",
};

const char *wire_type_name(uint16_t type)
{
	if (type < NLMSG_MIN_TYPE || type >= WIRE_TYPE_MAX)
		return "unknown";
	return type_names[type - NLMSG_MIN_TYPE] ? type_names[type - NLMSG_MIN_TYPE] : "unknown";
}

static const char *const attr_names[WA_MAX + 1] = {
    [WA_NAME] = "name",
    [WA_MODE] = "mode",
    [WA_EPOCH] = "epoch",
    [WA_HASH] = "hash",
    [WA_RESULT] = "result",
    [WA_APPLY_US] = "apply-us",
    [WA_ERROR] = "error",
    [WA_ALL] = "all",
    [WA_HOST] = "host",
    [WA_REASON] = "reason",
    [WA_TIMEOUT_MS] = "timeout-ms",
    [WA_CONFIRMED] = "confirmed",
    [WA_TOTAL] = "total",
    [WA_CONNECTED] = "connected",
    [WA_LAST_SEEN] = "last-seen",
    [WA_LATENCY_US] = "latency-us",
    [WA_STATUS] = "status",
    [WA_PERSISTED] = "persisted",
    [WA_SOFTWARE] = "software",
    [WA_COMMAND] = "command",
    [WA_ADDR] = "addr",
    [WA_TAMPERS] = "tampers",
    [WA_PART] = "part",
    [WA_PARTS] = "parts",
    [WA_ELEMS_IN] = "elems-in",
    [WA_ELEMS_OUT] = "elems-out",
    [WA_CTL_ADDR] = "ctl-addr",
    [WA_PORT] = "port",
    [WA_COLLECTOR] = "collector",
    [WA_CONFIRM_MS] = "confirm-ms",
    [WA_MANUAL] = "manual",
    [WA_BASE_HASH] = "base-hash",
    [WA_DEADMAN_S] = "deadman-s",
    [WA_SEQ] = "seq",
    [WA_TIME_MS] = "time-ms",
    [WA_ACTOR] = "actor",
    [WA_ACTION] = "action",
    [WA_RESULT_TEXT] = "result-text",
    [WA_DETAIL] = "detail",
    [WA_CHECK_ID] = "check-id",
    [WA_TARGET] = "target",
    [WA_PROTO] = "proto",
    [WA_EXPECT] = "expect",
    [WA_STAGE] = "stage",
    [WA_APPROVAL] = "approval",
    [WA_SOAK_MS] = "soak-ms",
    [WA_ON_FAILURE] = "on-failure",
    [WA_RESTORE] = "restore",
    [WA_RUN] = "run",
    [WA_DRY] = "dry",
    [WA_STATE] = "state",
    [WA_HARD] = "hard",
    [WA_PORT_NAME] = "port-name",
    [WA_PORT_STATE] = "port-state",
    [WA_LINK_NAME] = "link-name",
    [WA_NO_FALLBACK] = "no-fallback",
    [WA_CONTROLLER] = "controller",
};

const char *wire_attr_name(uint16_t attr)
{
	return attr <= WA_MAX && attr_names[attr] ? attr_names[attr] : "unknown attribute";
}

/* The type each attribute must have; the decoder refuses anything else. */
static const enum mnl_attr_data_type attr_types[WA_MAX + 1] = {
    [WA_NAME] = MNL_TYPE_NUL_STRING,
    [WA_MODE] = MNL_TYPE_U8,
    [WA_EPOCH] = MNL_TYPE_U64,
    [WA_HASH] = MNL_TYPE_NUL_STRING,
    [WA_RESULT] = MNL_TYPE_U32,
    [WA_APPLY_US] = MNL_TYPE_U64,
    [WA_ERROR] = MNL_TYPE_NUL_STRING,
    [WA_ALL] = MNL_TYPE_U8,
    [WA_HOST] = MNL_TYPE_NUL_STRING,
    [WA_REASON] = MNL_TYPE_NUL_STRING,
    [WA_TIMEOUT_MS] = MNL_TYPE_U32,
    [WA_CONFIRMED] = MNL_TYPE_U32,
    [WA_TOTAL] = MNL_TYPE_U32,
    [WA_CONNECTED] = MNL_TYPE_U8,
    [WA_LAST_SEEN] = MNL_TYPE_U64,
    [WA_LATENCY_US] = MNL_TYPE_U64,
    [WA_STATUS] = MNL_TYPE_NUL_STRING,
    [WA_PERSISTED] = MNL_TYPE_U8,
    [WA_SOFTWARE] = MNL_TYPE_NUL_STRING,
    [WA_COMMAND] = MNL_TYPE_U64,
    [WA_ADDR] = MNL_TYPE_NUL_STRING,
    [WA_TAMPERS] = MNL_TYPE_U32,
    [WA_PART] = MNL_TYPE_U32,
    [WA_PARTS] = MNL_TYPE_U32,
    [WA_ELEMS_IN] = MNL_TYPE_BINARY,
    [WA_ELEMS_OUT] = MNL_TYPE_BINARY,
    [WA_CTL_ADDR] = MNL_TYPE_NUL_STRING,
    [WA_PORT] = MNL_TYPE_U32,
    [WA_COLLECTOR] = MNL_TYPE_NUL_STRING,
    [WA_CONFIRM_MS] = MNL_TYPE_U32,
    [WA_MANUAL] = MNL_TYPE_U8,
    [WA_BASE_HASH] = MNL_TYPE_NUL_STRING,
    [WA_DEADMAN_S] = MNL_TYPE_U32,
    [WA_HARD] = MNL_TYPE_U8,
    [WA_PORT_NAME] = MNL_TYPE_NUL_STRING,
    [WA_PORT_STATE] = MNL_TYPE_NUL_STRING,
    [WA_LINK_NAME] = MNL_TYPE_NUL_STRING,
    [WA_SEQ] = MNL_TYPE_U64,
    [WA_TIME_MS] = MNL_TYPE_U64,
    [WA_ACTOR] = MNL_TYPE_NUL_STRING,
    [WA_ACTION] = MNL_TYPE_NUL_STRING,
    [WA_RESULT_TEXT] = MNL_TYPE_NUL_STRING,
    [WA_DETAIL] = MNL_TYPE_NUL_STRING,
    [WA_CHECK_ID] = MNL_TYPE_U32,
    [WA_TARGET] = MNL_TYPE_NUL_STRING,
    [WA_PROTO] = MNL_TYPE_U8,
    [WA_EXPECT] = MNL_TYPE_U8,
    [WA_STAGE] = MNL_TYPE_U32,
    [WA_APPROVAL] = MNL_TYPE_U8,
    [WA_SOAK_MS] = MNL_TYPE_U32,
    [WA_ON_FAILURE] = MNL_TYPE_NUL_STRING,
    [WA_RESTORE] = MNL_TYPE_NUL_STRING,
    [WA_RUN] = MNL_TYPE_U64,
    [WA_DRY] = MNL_TYPE_U8,
    [WA_STATE] = MNL_TYPE_NUL_STRING,
    [WA_NO_FALLBACK] = MNL_TYPE_U8,
    [WA_CONTROLLER] = MNL_TYPE_NUL_STRING,
};

void wire_build_start(struct wire_builder *b, void *buf, uint16_t type, uint32_t seq)
{
	struct wire_hdr *wh;

	b->overflow = 0;
	b->nlh = mnl_nlmsg_put_header(buf);
	b->nlh->nlmsg_type = type;
	b->nlh->nlmsg_seq = seq;
	wh = mnl_nlmsg_put_extra_header(b->nlh, sizeof(*wh));
	wh->version = WIRE_VERSION;
}

/* Every attribute goes through here. The buffer is reused frame after
 * frame, and libmnl does not clear an attribute's padding: cleared here,
 * so that no byte of an earlier frame leaves in a later one. */
void wire_put_bytes(struct wire_builder *b, uint16_t attr, const void *data, size_t len)
{
	size_t room = MNL_ATTR_HDRLEN + MNL_ALIGN(len);

	if (len > UINT16_MAX - MNL_ATTR_HDRLEN ||
	    MNL_ALIGN(b->nlh->nlmsg_len) + room > WIRE_MAX_FRAME) {
		b->overflow = 1;
		return;
	}
	memset(mnl_nlmsg_get_payload_tail(b->nlh), 0, room);
	mnl_attr_put(b->nlh, attr, len, data);
}

void wire_put_str(struct wire_builder *b, uint16_t attr, const char *s)
{
	wire_put_bytes(b, attr, s, strlen(s) + 1);
}

void wire_put_u8(struct wire_builder *b, uint16_t attr, uint8_t v)
{
	wire_put_bytes(b, attr, &v, sizeof(v));
}

void wire_put_u32(struct wire_builder *b, uint16_t attr, uint32_t v)
{
	wire_put_bytes(b, attr, &v, sizeof(v));
}

void wire_put_u64(struct wire_builder *b, uint16_t attr, uint64_t v)
{
	wire_put_bytes(b, attr, &v, sizeof(v));
}

int wire_build_end(struct wire_builder *b)
{
	return b->overflow ? -1 : (int)b->nlh->nlmsg_len;
}

int wire_frame_peek_len(const void *buf, size_t avail)
{
	uint32_t len;

	if (avail < sizeof(len))
		return 0;
	memcpy(&len, buf, sizeof(len));
	/* Every frame is built of 4-byte aligned parts: any other length is not ours. */
	if (len < WIRE_HDRLEN || len > WIRE_MAX_FRAME || len % MNL_ALIGNTO != 0)
		return -1;
	return (int)len;
}

struct wire_parse {
	struct wire_frame *f;
	const char *err;
};

static int wire_attr_cb(const struct nlattr *attr, void *data)
{
	struct wire_parse *p = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type == WA_UNSPEC || type > WA_MAX) {
		p->err = "unknown attribute";
		return MNL_CB_ERROR;
	}
	if (mnl_attr_validate(attr, attr_types[type]) < 0) {
		p->err = "malformed attribute";
		return MNL_CB_ERROR;
	}
	p->f->tb[type] = attr;
	return MNL_CB_OK;
}

static int wire_attrs_complete(const struct nlmsghdr *nlh)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct wire_hdr));
	return (const void *)attr == mnl_nlmsg_get_payload_tail(nlh);
}

int wire_frame_decode(const void *buf, size_t len, struct wire_frame *f, const char **err)
{
	const struct nlmsghdr *nlh = buf;
	const struct wire_hdr *wh;
	struct wire_parse p = {.f = f, .err = NULL};

	memset(f, 0, sizeof(*f));
	if (len < WIRE_HDRLEN) {
		*err = "truncated frame";
		return -1;
	}
	if (len > WIRE_MAX_FRAME) {
		*err = "oversized frame";
		return -1;
	}
	if (nlh->nlmsg_len != len) {
		*err = nlh->nlmsg_len > len ? "truncated frame" : "frame length mismatch";
		return -1;
	}
	/* Attributes are walked to the aligned end of the message: a length
	 * that is not a multiple of 4 would have that walk read past it. */
	if (len % MNL_ALIGNTO != 0) {
		*err = "misaligned frame length";
		return -1;
	}
	wh = mnl_nlmsg_get_payload(nlh);
	if (wh->version != WIRE_VERSION) {
		*err = "unsupported protocol version";
		return -1;
	}
	if (nlh->nlmsg_type < NLMSG_MIN_TYPE || nlh->nlmsg_type >= WIRE_TYPE_MAX) {
		*err = "unknown frame type";
		return -1;
	}
	if (mnl_attr_parse(nlh, sizeof(*wh), wire_attr_cb, &p) != MNL_CB_OK) {
		*err = p.err ? p.err : "malformed attributes";
		return -1;
	}
	/* mnl_attr_parse stops quietly at a truncated attribute: refuse the frame. */
	if (!wire_attrs_complete(nlh)) {
		*err = "truncated attribute";
		return -1;
	}
	f->nlh = nlh;
	f->type = nlh->nlmsg_type;
	return 0;
}

const char *wire_get_str(const struct wire_frame *f, uint16_t attr, const char *dflt)
{
	return f->tb[attr] ? mnl_attr_get_str(f->tb[attr]) : dflt;
}

uint8_t wire_get_u8(const struct wire_frame *f, uint16_t attr, uint8_t dflt)
{
	return f->tb[attr] ? mnl_attr_get_u8(f->tb[attr]) : dflt;
}

uint32_t wire_get_u32(const struct wire_frame *f, uint16_t attr, uint32_t dflt)
{
	return f->tb[attr] ? mnl_attr_get_u32(f->tb[attr]) : dflt;
}

uint64_t wire_get_u64(const struct wire_frame *f, uint16_t attr, uint64_t dflt)
{
	return f->tb[attr] ? mnl_attr_get_u64(f->tb[attr]) : dflt;
}

int wire_strs_foreach(const struct wire_frame *f, uint16_t type,
		      int (*fn)(const char *s, void *arg), void *arg)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, f->nlh, sizeof(struct wire_hdr))
	{
		if (mnl_attr_get_type(attr) == type && fn(mnl_attr_get_str(attr), arg) < 0)
			return -1;
	}
	return 0;
}

int wire_hosts_foreach(const struct wire_frame *f, int (*fn)(const char *host, void *arg),
		       void *arg)
{
	return wire_strs_foreach(f, WA_HOST, fn, arg);
}
