/* Host policies on the wire: the controller sends a compiled policy to an
 * agent as WIRE_POLICY frames, and the agent keeps the same frames on disk.
 * The receiver checks the parts arrive in order and that the reassembled
 * policy renders to the hash the sender named. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "bulkhead/wire.h"
#include "policy_int.h"

/* family, proto, port_lo, port_hi (little-endian), addr_lo[16], addr_hi[16] */
static void elem_pack(const struct policy_elem *e, uint8_t *p)
{
	p[0] = e->family == AF_INET ? 4 : 6;
	p[1] = e->proto;
	p[2] = (uint8_t)(e->port_lo & 0xff);
	p[3] = (uint8_t)(e->port_lo >> 8);
	p[4] = (uint8_t)(e->port_hi & 0xff);
	p[5] = (uint8_t)(e->port_hi >> 8);
	memcpy(p + 6, e->addr_lo, 16);
	memcpy(p + 22, e->addr_hi, 16);
}

static int elem_unpack(const uint8_t *p, struct policy_elem *e)
{
	if (p[0] != 4 && p[0] != 6)
		return -1;
	e->family = p[0] == 4 ? AF_INET : AF_INET6;
	e->proto = p[1];
	e->port_lo = (uint16_t)(p[2] | p[3] << 8);
	e->port_hi = (uint16_t)(p[4] | p[5] << 8);
	memcpy(e->addr_lo, p + 6, 16);
	memcpy(e->addr_hi, p + 22, 16);
	if (e->port_lo > e->port_hi || memcmp(e->addr_lo, e->addr_hi, 16) > 0)
		return -1;
	return 0;
}

static void put_elems(struct wire_builder *b, uint16_t attr, const struct policy_elem *e, size_t n)
{
	struct nlattr *a;
	uint8_t *p;

	if (n == 0)
		return;
	if (MNL_ALIGN(b->nlh->nlmsg_len) + MNL_ATTR_HDRLEN + n * WIRE_ELEM_LEN > WIRE_MAX_FRAME) {
		b->overflow = 1;
		return;
	}
	/* Packed in place, as mnl_attr_put would copy them. */
	a = mnl_nlmsg_get_payload_tail(b->nlh);
	a->nla_type = attr;
	a->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + n * WIRE_ELEM_LEN);
	p = mnl_attr_get_payload(a);
	for (size_t i = 0; i < n; i++)
		elem_pack(&e[i], p + i * WIRE_ELEM_LEN);
	memset(p + n * WIRE_ELEM_LEN, 0, MNL_ALIGN(a->nla_len) - a->nla_len);
	b->nlh->nlmsg_len += MNL_ALIGN(a->nla_len);
}

int policy_wire_encode(const struct host_policy *hp, void *buf,
		       int (*emit)(const void *frame, int len, void *arg), void *arg)
{
	size_t per = WIRE_ELEMS_PER_PART;
	size_t nparts_in = (hp->nin + per - 1) / per, nparts_out = (hp->nout + per - 1) / per;
	size_t parts = nparts_in > nparts_out ? nparts_in : nparts_out;

	if (parts == 0)
		parts = 1;
	for (size_t part = 0; part < parts; part++) {
		size_t i0 = part * per;
		struct wire_builder b;
		int len;

		wire_build_start(&b, buf, WIRE_POLICY, (uint32_t)part);
		wire_put_str(&b, WA_NAME, hp->host ? hp->host : "");
		wire_put_str(&b, WA_HASH, hp->hash);
		wire_put_u32(&b, WA_PART, (uint32_t)part);
		wire_put_u32(&b, WA_PARTS, (uint32_t)parts);
		if (part == 0) {
			for (int i = 0; i < hp->ncontrollers; i++)
				wire_put_str(&b, WA_CTL_ADDR, hp->controllers[i].text);
			wire_put_u32(&b, WA_PORT, hp->port);
			if (hp->deadman_s)
				wire_put_u32(&b, WA_DEADMAN_S, hp->deadman_s);
			for (int i = 0; i < hp->ncollectors; i++)
				wire_put_str(&b, WA_COLLECTOR, hp->collectors[i].text);
		}
		if (i0 < hp->nin)
			put_elems(&b, WA_ELEMS_IN, hp->in + i0,
				  hp->nin - i0 < per ? hp->nin - i0 : per);
		if (i0 < hp->nout)
			put_elems(&b, WA_ELEMS_OUT, hp->out + i0,
				  hp->nout - i0 < per ? hp->nout - i0 : per);
		len = wire_build_end(&b);
		if (len < 0 || emit(buf, len, arg) < 0)
			return -1;
	}
	return 0;
}

struct policy_wire_rx {
	struct host_policy *hp;
	uint32_t next, parts;
	size_t cap_in, cap_out;
	int complete;
};

struct policy_wire_rx *policy_wire_rx_new(void)
{
	return xcalloc(1, sizeof(struct policy_wire_rx));
}

void policy_wire_rx_free(struct policy_wire_rx *rx)
{
	if (!rx)
		return;
	host_policy_free(rx->hp);
	free(rx);
}

struct addr_list {
	struct conf_addr a[CONF_MAX_ADDRS];
	int n;
};

static int addr_add(const char *s, void *arg)
{
	struct addr_list *l = arg;

	if (l->n >= CONF_MAX_ADDRS || conf_addr_parse(s, &l->a[l->n]) < 0)
		return -1;
	l->n++;
	return 0;
}

static int elems_add(const struct nlattr *attr, struct policy_elem **e, size_t *n, size_t *cap)
{
	size_t len = mnl_attr_get_payload_len(attr), count = len / WIRE_ELEM_LEN;
	const uint8_t *p = mnl_attr_get_payload(attr);

	if (len % WIRE_ELEM_LEN)
		return -1;
	if (*n + count > *cap) {
		*cap = *n + count + 256;
		*e = realloc(*e, *cap * sizeof(**e));
		if (!*e)
			fatal("out of memory");
	}
	for (size_t i = 0; i < count; i++)
		if (elem_unpack(p + i * WIRE_ELEM_LEN, &(*e)[(*n)++]) < 0)
			return -1;
	return 0;
}

static void rx_reset(struct policy_wire_rx *rx)
{
	host_policy_free(rx->hp);
	rx->hp = NULL;
	rx->next = rx->parts = 0;
	rx->cap_in = rx->cap_out = 0;
	rx->complete = 0;
}

int policy_wire_rx_add(struct policy_wire_rx *rx, const struct wire_frame *f, const char **err)
{
	uint32_t part = wire_get_u32(f, WA_PART, UINT32_MAX), parts = wire_get_u32(f, WA_PARTS, 0);
	const char *hash = wire_get_str(f, WA_HASH, "");
	char got[65];
	size_t len;
	char *text;

	if (f->type != WIRE_POLICY || parts == 0 || part >= parts || strlen(hash) != 64) {
		*err = "malformed policy frame";
		return -1;
	}
	if (part == 0) {
		struct addr_list ctl = {0}, col = {0};

		rx_reset(rx);
		rx->hp = xcalloc(1, sizeof(*rx->hp));
		rx->hp->host = xstrdup(wire_get_str(f, WA_NAME, ""));
		snprintf(rx->hp->hash, sizeof(rx->hp->hash), "%s", hash);
		rx->parts = parts;
		if (wire_strs_foreach(f, WA_CTL_ADDR, addr_add, &ctl) < 0 ||
		    wire_strs_foreach(f, WA_COLLECTOR, addr_add, &col) < 0) {
			*err = "bad address in policy frame";
			rx_reset(rx);
			return -1;
		}
		memcpy(rx->hp->controllers, ctl.a, sizeof(ctl.a));
		rx->hp->ncontrollers = ctl.n;
		memcpy(rx->hp->collectors, col.a, sizeof(col.a));
		rx->hp->ncollectors = col.n;
		rx->hp->port = (uint16_t)wire_get_u32(f, WA_PORT, 0);
		rx->hp->deadman_s = wire_get_u32(f, WA_DEADMAN_S, 0);
	} else if (!rx->hp || part != rx->next || parts != rx->parts ||
		   strcmp(hash, rx->hp->hash) != 0) {
		*err = "policy part out of order";
		rx_reset(rx);
		return -1;
	}
	if ((f->tb[WA_ELEMS_IN] &&
	     elems_add(f->tb[WA_ELEMS_IN], &rx->hp->in, &rx->hp->nin, &rx->cap_in) < 0) ||
	    (f->tb[WA_ELEMS_OUT] &&
	     elems_add(f->tb[WA_ELEMS_OUT], &rx->hp->out, &rx->hp->nout, &rx->cap_out) < 0)) {
		*err = "malformed policy elements";
		rx_reset(rx);
		return -1;
	}
	rx->next = part + 1;
	if (rx->next < rx->parts)
		return 0;
	/* Everything arrived: it must be exactly the policy that was reviewed. */
	text = host_policy_text(rx->hp, &len);
	policy_sha256_hex(text, len, got);
	free(text);
	if (strcmp(got, rx->hp->hash) != 0) {
		*err = "policy does not match its hash";
		rx_reset(rx);
		return -1;
	}
	rx->complete = 1;
	return 1;
}

struct host_policy *policy_wire_rx_take(struct policy_wire_rx *rx)
{
	struct host_policy *hp;

	if (!rx->complete)
		return NULL;
	hp = rx->hp;
	rx->hp = NULL;
	rx_reset(rx);
	return hp;
}
