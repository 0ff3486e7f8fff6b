/* Typed messages: each frame kind is a table of fields (attribute, type,
 * place in its struct, whether it is required, its default), and one
 * encoder and one decoder walk the tables. A kind's rules live in its
 * table, so every kind is checked the same way. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "bulkhead/msg.h"

enum field_kind {
	FK_STR,	    /* const char *; NULL is left out */
	FK_BOOL,    /* bool as u8; false is left out */
	FK_U8,	    /* uint8_t */
	FK_U16,	    /* uint16_t, as u32 on the wire */
	FK_U32,	    /* uint32_t */
	FK_U64,	    /* uint64_t */
	FK_MODE,    /* enum bulkhead_mode, as u8 */
	FK_NAME,    /* an enum of bulkhead/names.h, as its name */
	FK_TRI,	    /* int -1/0/1 as u8; -1 is left out */
	FK_PENDING, /* bool, as STATUS "pending-confirm" */
	FK_STRS,    /* struct msg_strs */
	FK_ELEMS,   /* const void * of WIRE_ELEM_LEN-byte elements, count at aux */
};

#define F_REQUIRED 0x1 /* the decoder refuses a frame without it */
#define F_OMIT0                                                                                    \
	0x2	   /* the encoder leaves out a zero (numbers, enums); only for                     \
		    * fields whose default is zero, so that a frame decodes to                     \
		    * what was encoded */
#define F_KEEP 0x4 /* FK_BOOL: false is sent too (its default is true) */

struct field {
	uint16_t attr;
	uint8_t kind;
	uint8_t flags;
	uint16_t off;
	uint16_t aux;	/* FK_NAME: the table; FK_ELEMS: where the count is */
	uint16_t guard; /* 1 + offset of a bool: encoded only when it is set,
			 * and set on decoding when the field is there */
	uint64_t dflt;	/* decoded when absent: a number, or FK_STR's string */
	const char *sdflt;
};

#define FLD(st, fld, a, k, fl, ...)                                                                \
	{                                                                                          \
		.attr = (a), .kind = (k), .flags = (fl), .off = offsetof(struct st, fld),          \
		__VA_ARGS__                                                                        \
	}
#define GUARD(st, fld) .guard = 1 + offsetof(struct st, fld)

struct kind {
	const struct field *fields;
	int nfields;
};

#define KIND(tbl)                                                                                  \
	{                                                                                          \
		tbl, (int)(sizeof(tbl) / sizeof(tbl[0]))                                           \
	}

static const struct field hello_fields[] = {
    FLD(msg_hello, name, WA_NAME, FK_STR, F_REQUIRED),
    FLD(msg_hello, mode, WA_MODE, FK_MODE, F_REQUIRED),
    FLD(msg_hello, epoch, WA_EPOCH, FK_U64, F_REQUIRED),
    FLD(msg_hello, hash, WA_HASH, FK_STR, 0, .sdflt = ""),
    FLD(msg_hello, persisted, WA_PERSISTED, FK_BOOL, F_KEEP, .dflt = 1),
    FLD(msg_hello, software, WA_SOFTWARE, FK_STR, 0),
    FLD(msg_hello, tampers, WA_TAMPERS, FK_U32, 0),
    FLD(msg_hello, pending, WA_STATUS, FK_PENDING, 0),
    FLD(msg_hello, hard, WA_HARD, FK_BOOL, 0),
    FLD(msg_hello, ports, WA_PORT_NAME, FK_STRS, 0),
};

static const struct field heartbeat_fields[] = {
    FLD(msg_heartbeat, digest, WA_HASH, FK_STR, 0),
    FLD(msg_heartbeat, controller, WA_CONTROLLER, FK_STR, 0),
};

static const struct field set_mode_fields[] = {
    FLD(msg_set_mode, epoch, WA_EPOCH, FK_U64, F_REQUIRED),
    FLD(msg_set_mode, mode, WA_MODE, FK_MODE, F_REQUIRED),
    FLD(msg_set_mode, hard, WA_HARD, FK_BOOL, 0),
    FLD(msg_set_mode, hash, WA_HASH, FK_STR, 0),
    FLD(msg_set_mode, confirm_ms, WA_CONFIRM_MS, FK_U32, F_OMIT0),
};

static const struct field ack_fields[] = {
    FLD(msg_ack, epoch, WA_EPOCH, FK_U64, F_REQUIRED),
    FLD(msg_ack, mode, WA_MODE, FK_MODE, F_REQUIRED),
    FLD(msg_ack, result, WA_RESULT, FK_U32, F_REQUIRED),
    FLD(msg_ack, apply_us, WA_APPLY_US, FK_U64, 0),
    FLD(msg_ack, hash, WA_HASH, FK_STR, 0),
    FLD(msg_ack, persisted, WA_PERSISTED, FK_BOOL, F_KEEP, .dflt = 1),
    FLD(msg_ack, status, WA_STATUS, FK_NAME, F_REQUIRED, .aux = NAMES_ACK_STATUS),
    FLD(msg_ack, port_state, WA_PORT_STATE, FK_NAME, 0, .aux = NAMES_PORT_STATE,
	GUARD(msg_ack, port)),
    FLD(msg_ack, ports, WA_PORT_NAME, FK_STRS, 0),
    FLD(msg_ack, error, WA_ERROR, FK_STR, 0),
    FLD(msg_ack, hard, WA_HARD, FK_BOOL, 0),
    FLD(msg_ack, links, WA_LINK_NAME, FK_STRS, 0),
};

static const struct field alert_fields[] = {
    FLD(msg_alert, kind, WA_STATUS, FK_NAME, F_REQUIRED, .aux = NAMES_ALERT_KIND),
    FLD(msg_alert, text, WA_ERROR, FK_STR, 0, .sdflt = ""),
    FLD(msg_alert, tampers, WA_TAMPERS, FK_U32, 0),
};

static const struct field confirm_fields[] = {
    FLD(msg_confirm, epoch, WA_EPOCH, FK_U64, F_REQUIRED),
};

static const struct field check_fields[] = {
    FLD(msg_check, id, WA_CHECK_ID, FK_U32, F_REQUIRED),
    FLD(msg_check, target, WA_TARGET, FK_STR, F_REQUIRED),
    FLD(msg_check, proto, WA_PROTO, FK_U8, 0, .dflt = IPPROTO_TCP),
    FLD(msg_check, port, WA_PORT, FK_U16, 0),
    FLD(msg_check, timeout_ms, WA_TIMEOUT_MS, FK_U32, 0, .dflt = 2000),
};

static const struct field check_result_fields[] = {
    FLD(msg_check_result, id, WA_CHECK_ID, FK_U32, F_REQUIRED),
    FLD(msg_check_result, result, WA_RESULT, FK_U32, F_REQUIRED),
    FLD(msg_check_result, latency_us, WA_LATENCY_US, FK_U64, 0),
    FLD(msg_check_result, error, WA_ERROR, FK_STR, 0),
};

static const struct field port_set_fields[] = {
    FLD(msg_port_set, epoch, WA_EPOCH, FK_U64, F_REQUIRED),
    FLD(msg_port_set, state, WA_PORT_STATE, FK_NAME, F_REQUIRED, .aux = NAMES_PORT_STATE),
    FLD(msg_port_set, ports, WA_PORT_NAME, FK_STRS, 0),
    FLD(msg_port_set, confirm_ms, WA_CONFIRM_MS, FK_U32, F_OMIT0),
};

static const struct field policy_part_fields[] = {
    FLD(msg_policy_part, name, WA_NAME, FK_STR, 0, .sdflt = ""),
    FLD(msg_policy_part, hash, WA_HASH, FK_STR, F_REQUIRED),
    FLD(msg_policy_part, part, WA_PART, FK_U32, F_REQUIRED),
    FLD(msg_policy_part, parts, WA_PARTS, FK_U32, F_REQUIRED),
    FLD(msg_policy_part, ctl_addrs, WA_CTL_ADDR, FK_STRS, 0),
    FLD(msg_policy_part, port, WA_PORT, FK_U32, F_OMIT0),
    FLD(msg_policy_part, deadman_s, WA_DEADMAN_S, FK_U32, F_OMIT0),
    FLD(msg_policy_part, collectors, WA_COLLECTOR, FK_STRS, 0),
    FLD(msg_policy_part, elems_in, WA_ELEMS_IN, FK_ELEMS, 0,
	.aux = offsetof(struct msg_policy_part, nin)),
    FLD(msg_policy_part, elems_out, WA_ELEMS_OUT, FK_ELEMS, 0,
	.aux = offsetof(struct msg_policy_part, nout)),
};

static const struct field ctl_mode_fields[] = {
    FLD(msg_ctl_mode, all, WA_ALL, FK_BOOL, 0),
    FLD(msg_ctl_mode, hosts, WA_HOST, FK_STRS, 0),
    FLD(msg_ctl_mode, reason, WA_REASON, FK_STR, 0),
    FLD(msg_ctl_mode, timeout_ms, WA_TIMEOUT_MS, FK_U32, 0, .dflt = 10000),
    FLD(msg_ctl_mode, confirm_ms, WA_CONFIRM_MS, FK_U32, 0, .dflt = 30000),
    FLD(msg_ctl_mode, hard, WA_HARD, FK_BOOL, 0),
    FLD(msg_ctl_mode, no_fallback, WA_NO_FALLBACK, FK_BOOL, 0),
};

static const struct field ctl_apply_fields[] = {
    FLD(msg_ctl_apply, reason, WA_REASON, FK_STR, 0),
    FLD(msg_ctl_apply, timeout_ms, WA_TIMEOUT_MS, FK_U32, 0, .dflt = 10000),
    FLD(msg_ctl_apply, confirm_ms, WA_CONFIRM_MS, FK_U32, 0, .dflt = 30000),
    FLD(msg_ctl_apply, manual, WA_MANUAL, FK_BOOL, 0),
};

static const struct field ctl_confirm_fields[] = {
    FLD(msg_ctl_confirm, timeout_ms, WA_TIMEOUT_MS, FK_U32, 0, .dflt = 10000),
};

static const struct field ctl_audit_fields[] = {
    FLD(msg_ctl_audit, since_ms, WA_TIME_MS, FK_U64, 0),
    FLD(msg_ctl_audit, host, WA_HOST, FK_STR, 0),
};

static const struct field ctl_pb_run_fields[] = {
    FLD(msg_ctl_pb_run, name, WA_NAME, FK_STR, 0, .sdflt = "playbook"),
    FLD(msg_ctl_pb_run, reason, WA_REASON, FK_STR, 0, .sdflt = ""),
};

static const struct field ctl_approve_fields[] = {
    FLD(msg_ctl_approve, id, WA_COMMAND, FK_U64, F_REQUIRED),
};

static const struct field ctl_pb_approve_fields[] = {
    FLD(msg_ctl_pb_approve, stage, WA_NAME, FK_STR, 0),
};

static const struct field plan_host_fields[] = {
    FLD(msg_plan_host, name, WA_NAME, FK_STR, F_REQUIRED),
    FLD(msg_plan_host, mode, WA_MODE, FK_MODE, 0, .dflt = MODE_SEGMENTED),
    FLD(msg_plan_host, hash, WA_HASH, FK_STR, 0, .sdflt = ""),
    FLD(msg_plan_host, base_hash, WA_BASE_HASH, FK_STR, 0, .sdflt = ""),
};

static const struct field ctl_progress_fields[] = {
    FLD(msg_ctl_progress, confirmed, WA_CONFIRMED, FK_U32, 0),
    FLD(msg_ctl_progress, total, WA_TOTAL, FK_U32, 0),
    FLD(msg_ctl_progress, slowest, WA_HOST, FK_STR, 0),
    FLD(msg_ctl_progress, slowest_us, WA_LATENCY_US, FK_U64, F_OMIT0),
};

static const struct field ctl_host_fields[] = {
    FLD(msg_ctl_host, name, WA_NAME, FK_STR, F_REQUIRED),
    FLD(msg_ctl_host, status, WA_STATUS, FK_NAME, F_OMIT0, .aux = NAMES_HOST_STATUS),
    FLD(msg_ctl_host, mode, WA_MODE, FK_MODE, 0),
    FLD(msg_ctl_host, epoch, WA_EPOCH, FK_U64, 0),
    FLD(msg_ctl_host, hash, WA_HASH, FK_STR, 0, .sdflt = ""),
    FLD(msg_ctl_host, digest, WA_BASE_HASH, FK_STR, 0, .sdflt = ""),
    FLD(msg_ctl_host, connected, WA_CONNECTED, FK_BOOL, 0),
    FLD(msg_ctl_host, apply_us, WA_APPLY_US, FK_U64, F_OMIT0),
    FLD(msg_ctl_host, latency_us, WA_LATENCY_US, FK_U64, F_OMIT0),
    FLD(msg_ctl_host, last_seen_ms, WA_LAST_SEEN, FK_U64, F_OMIT0),
    FLD(msg_ctl_host, persisted, WA_PERSISTED, FK_TRI, 0),
    FLD(msg_ctl_host, error, WA_ERROR, FK_STR, 0),
    FLD(msg_ctl_host, tampers, WA_TAMPERS, FK_U32, F_OMIT0),
    FLD(msg_ctl_host, hard, WA_HARD, FK_BOOL, 0),
    FLD(msg_ctl_host, controller, WA_CONTROLLER, FK_STR, 0),
};

static const struct field ctl_end_fields[] = {
    FLD(msg_ctl_end, result, WA_RESULT, FK_U32, F_REQUIRED),
    FLD(msg_ctl_end, error, WA_ERROR, FK_STR, 0),
    FLD(msg_ctl_end, epoch, WA_EPOCH, FK_U64, F_OMIT0),
    FLD(msg_ctl_end, command, WA_COMMAND, FK_U64, F_OMIT0),
    FLD(msg_ctl_end, confirmed, WA_CONFIRMED, FK_U32, F_OMIT0),
    FLD(msg_ctl_end, total, WA_TOTAL, FK_U32, F_OMIT0),
    FLD(msg_ctl_end, elapsed_us, WA_LATENCY_US, FK_U64, F_OMIT0),
    FLD(msg_ctl_end, confirm_ms, WA_CONFIRM_MS, FK_U32, F_OMIT0),
    FLD(msg_ctl_end, run, WA_RUN, FK_U64, 0, GUARD(msg_ctl_end, is_run)),
    FLD(msg_ctl_end, run_name, WA_NAME, FK_STR, 0, GUARD(msg_ctl_end, is_run), .sdflt = ""),
    FLD(msg_ctl_end, run_state, WA_STATE, FK_NAME, 0, .aux = NAMES_RUN_STATE,
	GUARD(msg_ctl_end, is_run)),
    FLD(msg_ctl_end, stage, WA_STAGE, FK_U32, 0, GUARD(msg_ctl_end, is_run)),
};

static const struct field audit_row_fields[] = {
    FLD(msg_audit_row, seq, WA_SEQ, FK_U64, F_REQUIRED),
    FLD(msg_audit_row, time_ms, WA_TIME_MS, FK_U64, F_REQUIRED),
    FLD(msg_audit_row, actor, WA_ACTOR, FK_STR, 0, .sdflt = ""),
    FLD(msg_audit_row, action, WA_ACTION, FK_STR, 0, .sdflt = ""),
    FLD(msg_audit_row, host, WA_HOST, FK_STR, 0, .sdflt = ""),
    FLD(msg_audit_row, reason, WA_REASON, FK_STR, 0, .sdflt = ""),
    FLD(msg_audit_row, result, WA_RESULT_TEXT, FK_STR, 0, .sdflt = ""),
    FLD(msg_audit_row, detail, WA_DETAIL, FK_STR, 0, .sdflt = ""),
};

static const struct field pb_stage_fields[] = {
    FLD(msg_pb_stage, index, WA_STAGE, FK_U32, 0),
    FLD(msg_pb_stage, name, WA_NAME, FK_STR, F_REQUIRED),
    FLD(msg_pb_stage, state, WA_STATE, FK_NAME, 0, .aux = NAMES_STAGE_STATE,
	GUARD(msg_pb_stage, with_state)),
    FLD(msg_pb_stage, restore, WA_RESTORE, FK_STR, 0, .sdflt = "segmented"),
    FLD(msg_pb_stage, approval, WA_APPROVAL, FK_BOOL, 0),
    FLD(msg_pb_stage, approved_by, WA_ACTOR, FK_STR, 0, GUARD(msg_pb_stage, with_state),
	.sdflt = ""),
    FLD(msg_pb_stage, soak_ms, WA_SOAK_MS, FK_U32, 0),
    FLD(msg_pb_stage, on_failure, WA_ON_FAILURE, FK_NAME, 0, .aux = NAMES_ON_FAILURE),
    FLD(msg_pb_stage, detail, WA_DETAIL, FK_STR, 0, GUARD(msg_pb_stage, with_state), .sdflt = ""),
    FLD(msg_pb_stage, hosts, WA_HOST, FK_STRS, 0),
};

static const struct field pb_check_fields[] = {
    FLD(msg_pb_check, stage, WA_STAGE, FK_U32, 0, GUARD(msg_pb_check, with_state)),
    FLD(msg_pb_check, from, WA_HOST, FK_STR, F_REQUIRED),
    FLD(msg_pb_check, target_name, WA_NAME, FK_STR, 0),
    FLD(msg_pb_check, target, WA_TARGET, FK_STR, F_REQUIRED),
    FLD(msg_pb_check, proto, WA_PROTO, FK_U8, 0, .dflt = IPPROTO_TCP),
    FLD(msg_pb_check, port, WA_PORT, FK_U16, 0),
    FLD(msg_pb_check, expect_open, WA_EXPECT, FK_BOOL, F_KEEP, .dflt = 1),
    FLD(msg_pb_check, timeout_ms, WA_TIMEOUT_MS, FK_U32, 0, .dflt = 2000),
    FLD(msg_pb_check, line, WA_SEQ, FK_U64, F_OMIT0),
    FLD(msg_pb_check, state, WA_STATE, FK_NAME, 0, .aux = NAMES_CHECK_STATE,
	GUARD(msg_pb_check, with_state)),
};

/* By frame type; the kinds without attributes have no fields. */
static const struct kind kinds[WIRE_TYPE_MAX - NLMSG_MIN_TYPE] = {
#define K(t) [(t)-NLMSG_MIN_TYPE]
    K(WIRE_HELLO) = KIND(hello_fields),
    K(WIRE_HEARTBEAT) = KIND(heartbeat_fields),
    K(WIRE_SET_MODE) = KIND(set_mode_fields),
    K(WIRE_ACK) = KIND(ack_fields),
    K(WIRE_ALERT) = KIND(alert_fields),
    K(WIRE_CONFIRM) = KIND(confirm_fields),
    K(WIRE_CHECK) = KIND(check_fields),
    K(WIRE_CHECK_RESULT) = KIND(check_result_fields),
    K(WIRE_PORT_SET) = KIND(port_set_fields),
    K(WIRE_POLICY) = KIND(policy_part_fields),
    K(WIRE_CTL_ISOLATE) = KIND(ctl_mode_fields),
    K(WIRE_CTL_RELEASE) = KIND(ctl_mode_fields),
    K(WIRE_CTL_APPLY) = KIND(ctl_apply_fields),
    K(WIRE_CTL_CONFIRM) = KIND(ctl_confirm_fields),
    K(WIRE_CTL_AUDIT) = KIND(ctl_audit_fields),
    K(WIRE_CTL_PB_RUN) = KIND(ctl_pb_run_fields),
    K(WIRE_CTL_PB_APPROVE) = KIND(ctl_pb_approve_fields),
    K(WIRE_CTL_APPROVE) = KIND(ctl_approve_fields),
    K(WIRE_PLAN_HOST) = KIND(plan_host_fields),
    K(WIRE_CTL_PROGRESS) = KIND(ctl_progress_fields),
    K(WIRE_CTL_HOST) = KIND(ctl_host_fields),
    K(WIRE_CTL_END) = KIND(ctl_end_fields),
    K(WIRE_CTL_AUDIT_ROW) = KIND(audit_row_fields),
    K(WIRE_PB_STAGE) = KIND(pb_stage_fields),
    K(WIRE_PB_CHECK) = KIND(pb_check_fields),
#undef K
};

static const struct kind *kind_of(uint16_t type)
{
	if (type < NLMSG_MIN_TYPE || type >= WIRE_TYPE_MAX)
		return NULL;
	return &kinds[type - NLMSG_MIN_TYPE];
}

/* --- repeated strings --- */

int msg_strs_foreach(const struct msg_strs *l, int (*fn)(const char *s, void *arg), void *arg)
{
	const struct nlattr *a;

	if (l->v) {
		for (int i = 0; i < l->n; i++)
			if (fn(l->v[i], arg) < 0)
				return -1;
		return 0;
	}
	if (!l->nlh)
		return 0;
	mnl_attr_for_each(a, l->nlh, sizeof(struct wire_hdr))
	{
		if (mnl_attr_get_type(a) == l->attr && fn(mnl_attr_get_str(a), arg) < 0)
			return -1;
	}
	return 0;
}

static int strs_first_cb(const char *s, void *arg)
{
	*(const char **)arg = s;
	return -1;
}

const char *msg_strs_first(const struct msg_strs *l, const char *dflt)
{
	const char *s = dflt;

	msg_strs_foreach(l, strs_first_cb, &s);
	return s;
}

struct strs_put {
	struct wire_builder *b;
	uint16_t attr;
};

static int strs_put_cb(const char *s, void *arg)
{
	struct strs_put *p = arg;

	wire_put_str(p->b, p->attr, s);
	return p->b->overflow ? -1 : 0;
}

/* --- encoding --- */

#define AT(m, fd, type) ((type *)((char *)(m) + (fd)->off))
#define CAT(m, fd, type) ((const type *)((const char *)(m) + (fd)->off))

static int int_field(const void *m, const struct field *fd)
{
	int v;

	memcpy(&v, (const char *)m + fd->off, sizeof(v));
	return v;
}

static void field_put(struct wire_builder *b, const struct field *fd, const void *m)
{
	uint64_t n;

	if (fd->guard && !*(const bool *)((const char *)m + fd->guard - 1))
		return;
	switch (fd->kind) {
	case FK_STR:
		if (*CAT(m, fd, const char *))
			wire_put_str(b, fd->attr, *CAT(m, fd, const char *));
		return;
	case FK_BOOL:
		if (*CAT(m, fd, bool) || (fd->flags & F_KEEP))
			wire_put_u8(b, fd->attr, *CAT(m, fd, bool));
		return;
	case FK_PENDING:
		if (*CAT(m, fd, bool))
			wire_put_str(b, fd->attr, ack_status_name(ACK_PENDING_CONFIRM));
		return;
	case FK_TRI:
		if (int_field(m, fd) >= 0)
			wire_put_u8(b, fd->attr, (uint8_t)int_field(m, fd));
		return;
	case FK_NAME:
		if (!(fd->flags & F_OMIT0) || int_field(m, fd))
			wire_put_str(b, fd->attr, name_lookup(fd->aux, int_field(m, fd)));
		return;
	case FK_STRS: {
		struct strs_put p = {b, fd->attr};

		msg_strs_foreach(CAT(m, fd, struct msg_strs), strs_put_cb, &p);
		return;
	}
	case FK_ELEMS: {
		uint32_t count;

		memcpy(&count, (const char *)m + fd->aux, sizeof(count));
		if (count)
			wire_put_bytes(b, fd->attr, *CAT(m, fd, const void *),
				       (size_t)count * WIRE_ELEM_LEN);
		return;
	}
	case FK_U8: n = *CAT(m, fd, uint8_t); break;
	case FK_U16: n = *CAT(m, fd, uint16_t); break;
	case FK_U32: n = *CAT(m, fd, uint32_t); break;
	case FK_MODE: n = (uint64_t)int_field(m, fd); break;
	default: n = *CAT(m, fd, uint64_t); break;
	}
	if ((fd->flags & F_OMIT0) && n == 0)
		return;
	if (fd->kind == FK_U8 || fd->kind == FK_MODE)
		wire_put_u8(b, fd->attr, (uint8_t)n);
	else if (fd->kind == FK_U64)
		wire_put_u64(b, fd->attr, n);
	else
		wire_put_u32(b, fd->attr, (uint32_t)n);
}

static int kind_encode(void *buf, uint16_t type, uint32_t seq, const void *m)
{
	const struct kind *k = kind_of(type);
	struct wire_builder b;

	if (!k)
		return -1;
	wire_build_start(&b, buf, type, seq);
	for (int i = 0; m && i < k->nfields; i++)
		field_put(&b, &k->fields[i], m);
	return wire_build_end(&b);
}

int msg_empty_encode(void *buf, uint32_t seq, uint16_t type)
{
	return kind_encode(buf, type, seq, NULL);
}

/* --- decoding --- */

/* Room for one message naming the frame kind and the field. */
static char decode_err[128];

static int field_fail(uint16_t type, const char *what, uint16_t attr, const char **err)
{
	snprintf(decode_err, sizeof(decode_err), "%s frame: %s %s", wire_type_name(type), what,
		 wire_attr_name(attr));
	*err = decode_err;
	return -1;
}

static int field_get(const struct wire_frame *f, const struct field *fd, void *m, const char **err)
{
	const struct nlattr *a = f->tb[fd->attr];
	int v;

	if (a && fd->guard)
		*((bool *)((char *)m + fd->guard - 1)) = true;
	if (!a && (fd->flags & F_REQUIRED))
		return field_fail(f->type, "no", fd->attr, err);
	switch (fd->kind) {
	case FK_STR: *AT(m, fd, const char *) = a ? mnl_attr_get_str(a) : fd->sdflt; break;
	case FK_BOOL: *AT(m, fd, bool) = a ? mnl_attr_get_u8(a) != 0 : fd->dflt != 0; break;
	case FK_U8: *AT(m, fd, uint8_t) = a ? mnl_attr_get_u8(a) : (uint8_t)fd->dflt; break;
	case FK_U16:
		if (a && mnl_attr_get_u32(a) > UINT16_MAX)
			return field_fail(f->type, "out-of-range", fd->attr, err);
		*AT(m, fd, uint16_t) = a ? (uint16_t)mnl_attr_get_u32(a) : (uint16_t)fd->dflt;
		break;
	case FK_U32: *AT(m, fd, uint32_t) = a ? mnl_attr_get_u32(a) : (uint32_t)fd->dflt; break;
	case FK_U64: *AT(m, fd, uint64_t) = a ? mnl_attr_get_u64(a) : fd->dflt; break;
	case FK_TRI: v = a ? mnl_attr_get_u8(a) != 0 : -1; goto store_int;
	case FK_MODE:
		v = a ? mnl_attr_get_u8(a) : (int)fd->dflt;
		if (v > MODE_MAX)
			return field_fail(f->type, "unknown", fd->attr, err);
		goto store_int;
	case FK_NAME:
	case FK_PENDING:
		v = a ? name_parse(fd->kind == FK_NAME ? fd->aux : NAMES_ACK_STATUS,
				   mnl_attr_get_str(a))
		      : (int)fd->dflt;
		if (v < 0)
			return field_fail(f->type, "unknown", fd->attr, err);
		if (fd->kind == FK_PENDING) {
			*AT(m, fd, bool) = a && v == ACK_PENDING_CONFIRM;
			break;
		}
		goto store_int;
	case FK_STRS: {
		struct msg_strs *l = AT(m, fd, struct msg_strs);
		const struct nlattr *it;

		l->v = NULL;
		l->n = 0;
		l->nlh = f->nlh;
		l->attr = fd->attr;
		mnl_attr_for_each(it, f->nlh, sizeof(struct wire_hdr))
		{
			l->n += mnl_attr_get_type(it) == fd->attr;
		}
		break;
	}
	case FK_ELEMS: {
		uint32_t count = 0;

		*AT(m, fd, const void *) = NULL;
		if (a) {
			size_t len = mnl_attr_get_payload_len(a);

			if (len % WIRE_ELEM_LEN)
				return field_fail(f->type, "misaligned", fd->attr, err);
			*AT(m, fd, const void *) = mnl_attr_get_payload(a);
			count = (uint32_t)(len / WIRE_ELEM_LEN);
		}
		memcpy((char *)m + fd->aux, &count, sizeof(count));
		break;
	}
	}
	return 0;
store_int:
	memcpy((char *)m + fd->off, &v, sizeof(v));
	return 0;
}

/* Every field of f's kind into m (of size bytes). */
static int fields_decode(const struct wire_frame *f, void *m, size_t size, const char **err)
{
	const struct kind *k = kind_of(f->type);

	if (!k) {
		*err = "unknown frame type";
		return -1;
	}
	memset(m, 0, size);
	for (int i = 0; i < k->nfields; i++)
		if (field_get(f, &k->fields[i], m, err) < 0)
			return -1;
	return 0;
}

static int type_fail(const struct wire_frame *f, const char *want, const char **err)
{
	snprintf(decode_err, sizeof(decode_err), "a %s frame where %s was expected",
		 wire_type_name(f->type), want);
	*err = decode_err;
	return -1;
}

static int kind_decode(const struct wire_frame *f, uint16_t want, void *m, size_t size,
		       const char **err)
{
	if (f->type != want)
		return type_fail(f, wire_type_name(want), err);
	return fields_decode(f, m, size, err);
}

/* The enums the tables write as ints must be int-sized. */
_Static_assert(sizeof(enum ack_status) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(enum bulkhead_mode) == sizeof(int), "enums are int-sized");

#define CODEC(kind, type)                                                                          \
	int msg_##kind##_encode(void *buf, uint32_t seq, const struct msg_##kind *m)               \
	{                                                                                          \
		return kind_encode(buf, type, seq, m);                                             \
	}                                                                                          \
	int msg_##kind##_decode(const struct wire_frame *f, struct msg_##kind *m,                  \
				const char **err)                                                  \
	{                                                                                          \
		return kind_decode(f, type, m, sizeof(*m), err);                                   \
	}

CODEC(hello, WIRE_HELLO)
CODEC(heartbeat, WIRE_HEARTBEAT)
CODEC(set_mode, WIRE_SET_MODE)
CODEC(ack, WIRE_ACK)
CODEC(alert, WIRE_ALERT)
CODEC(confirm, WIRE_CONFIRM)
CODEC(check, WIRE_CHECK)
CODEC(check_result, WIRE_CHECK_RESULT)
CODEC(port_set, WIRE_PORT_SET)
CODEC(policy_part, WIRE_POLICY)
CODEC(ctl_apply, WIRE_CTL_APPLY)
CODEC(ctl_confirm, WIRE_CTL_CONFIRM)
CODEC(ctl_audit, WIRE_CTL_AUDIT)
CODEC(ctl_pb_run, WIRE_CTL_PB_RUN)
CODEC(ctl_pb_approve, WIRE_CTL_PB_APPROVE)
CODEC(ctl_approve, WIRE_CTL_APPROVE)
CODEC(plan_host, WIRE_PLAN_HOST)
CODEC(ctl_progress, WIRE_CTL_PROGRESS)
CODEC(ctl_host, WIRE_CTL_HOST)
CODEC(ctl_end, WIRE_CTL_END)
CODEC(audit_row, WIRE_CTL_AUDIT_ROW)
CODEC(pb_stage, WIRE_PB_STAGE)
CODEC(pb_check, WIRE_PB_CHECK)

int msg_ctl_mode_encode(void *buf, uint32_t seq, const struct msg_ctl_mode *m)
{
	return kind_encode(buf, m->release ? WIRE_CTL_RELEASE : WIRE_CTL_ISOLATE, seq, m);
}

int msg_ctl_mode_decode(const struct wire_frame *f, struct msg_ctl_mode *m, const char **err)
{
	if (f->type != WIRE_CTL_ISOLATE && f->type != WIRE_CTL_RELEASE)
		return type_fail(f, "isolate or release", err);
	if (fields_decode(f, m, sizeof(*m), err) < 0)
		return -1;
	m->release = f->type == WIRE_CTL_RELEASE;
	return 0;
}

int msg_decode(const struct wire_frame *f, union msg *m, const char **err)
{
	if (f->type == WIRE_CTL_ISOLATE || f->type == WIRE_CTL_RELEASE)
		return msg_ctl_mode_decode(f, &m->ctl_mode, err);
	return fields_decode(f, m, sizeof(*m), err);
}

struct msg_kept *msg_keep(const struct wire_frame *f, const char **err)
{
	size_t len = f->nlh->nlmsg_len;
	struct msg_kept *k = malloc(sizeof(*k) + len);
	struct wire_frame copy;

	if (!k) {
		*err = "out of memory";
		return NULL;
	}
	memcpy(k->frame, f->nlh, len);
	k->type = f->type;
	if (wire_frame_decode(k->frame, len, &copy, err) < 0 || msg_decode(&copy, &k->m, err) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

int msg_encode(void *buf, uint32_t seq, uint16_t type, const union msg *m)
{
	if (type == WIRE_CTL_ISOLATE || type == WIRE_CTL_RELEASE) {
		struct msg_ctl_mode c = m->ctl_mode;

		c.release = type == WIRE_CTL_RELEASE;
		return msg_ctl_mode_encode(buf, seq, &c);
	}
	return kind_encode(buf, type, seq, m);
}
