/* A host policy as nft -f input: the fixed skeleton of table inet bulkhead,
 * whose rules never change, and the eight sets that hold the policy. The
 * same bytes for the same policy, and formatted as `nft list` prints it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"
#include "policy_int.h"

/* Room for n more bytes; returns where they go. */
static char *text_reserve(struct policy_text *t, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		while (t->len + n + 1 > t->cap)
			t->cap = t->cap != 0 ? 2 * t->cap : 4096;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL)
			fatal("out of memory");
	}
	return t->buf + t->len;
}

static void text_put(struct policy_text *t, const char *s, size_t n)
{
	memcpy(text_reserve(t, n), s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_puts(struct policy_text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* Sets can hold tens of thousands of elements: they are written straight
 * into the buffer, without printf or inet_ntop. Each put_ returns the end. */
static char *put_str(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

static char *put_uint(char *o, unsigned v)
{
	unsigned w, n = 1;
	char *end;

	for (w = v; w >= 10; w /= 10)
		n++;
	end = o + n;
	o = end;
	do {
		*--o = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

static char *put_hex(char *o, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	int shift;

	for (shift = 12; shift > 0 && (v >> shift) == 0; shift -= 4)
		;
	for (; shift >= 0; shift -= 4)
		*o++ = hex[(v >> shift) & 0xf];
	return o;
}

/* As inet_ntop writes it (RFC 5952): the first longest run of two or more
 * zero groups as "::". The forms with an embedded IPv4 address are left to
 * inet_ntop itself. */
static char *put_addr6(char *o, const struct policy_addr *a)
{
	unsigned w[8];
	int i, run = -1, runlen = 0, len;

	for (i = 0; i < 4; i++) {
		w[i] = (unsigned)(a->hi >> (48 - 16 * i)) & 0xffff;
		w[i + 4] = (unsigned)(a->lo >> (48 - 16 * i)) & 0xffff;
	}
	if ((w[0] | w[1] | w[2] | w[3] | w[4]) == 0 &&
	    (w[5] == 0xffff || (w[5] == 0 && w[6] != 0))) {
		uint8_t bytes[16];

		policy_addr_store(AF_INET6, a, bytes);
		inet_ntop(AF_INET6, bytes, o, INET6_ADDRSTRLEN);
		return o + strlen(o);
	}
	for (i = 0; i<8; i += len> 0 ? len : 1) {
		for (len = 0; i + len < 8 && w[i + len] == 0; len++)
			;
		if (len > runlen) {
			run = i;
			runlen = len;
		}
	}
	if (runlen < 2)
		run = -1;
	for (i = 0; i < 8; i++) {
		if (i == run) {
			*o++ = ':';
			*o++ = ':';
			i += runlen - 1;
			continue;
		}
		if (i > 0 && i != run + runlen)
			*o++ = ':';
		o = put_hex(o, w[i]);
	}
	return o;
}

static const char octet_text[256][4] = {
    "0",   "1",	  "2",	 "3",	"4",   "5",   "6",   "7",   "8",   "9",	  "10",	 "11",	"12",
    "13",  "14",  "15",	 "16",	"17",  "18",  "19",  "20",  "21",  "22",  "23",	 "24",	"25",
    "26",  "27",  "28",	 "29",	"30",  "31",  "32",  "33",  "34",  "35",  "36",	 "37",	"38",
    "39",  "40",  "41",	 "42",	"43",  "44",  "45",  "46",  "47",  "48",  "49",	 "50",	"51",
    "52",  "53",  "54",	 "55",	"56",  "57",  "58",  "59",  "60",  "61",  "62",	 "63",	"64",
    "65",  "66",  "67",	 "68",	"69",  "70",  "71",  "72",  "73",  "74",  "75",	 "76",	"77",
    "78",  "79",  "80",	 "81",	"82",  "83",  "84",  "85",  "86",  "87",  "88",	 "89",	"90",
    "91",  "92",  "93",	 "94",	"95",  "96",  "97",  "98",  "99",  "100", "101", "102", "103",
    "104", "105", "106", "107", "108", "109", "110", "111", "112", "113", "114", "115", "116",
    "117", "118", "119", "120", "121", "122", "123", "124", "125", "126", "127", "128", "129",
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "140", "141", "142",
    "143", "144", "145", "146", "147", "148", "149", "150", "151", "152", "153", "154", "155",
    "156", "157", "158", "159", "160", "161", "162", "163", "164", "165", "166", "167", "168",
    "169", "170", "171", "172", "173", "174", "175", "176", "177", "178", "179", "180", "181",
    "182", "183", "184", "185", "186", "187", "188", "189", "190", "191", "192", "193", "194",
    "195", "196", "197", "198", "199", "200", "201", "202", "203", "204", "205", "206", "207",
    "208", "209", "210", "211", "212", "213", "214", "215", "216", "217", "218", "219", "220",
    "221", "222", "223", "224", "225", "226", "227", "228", "229", "230", "231", "232", "233",
    "234", "235", "236", "237", "238", "239", "240", "241", "242", "243", "244", "245", "246",
    "247", "248", "249", "250", "251", "252", "253", "254", "255",
};

/* Writes all four bytes of the entry; the buffer always has room past the
 * end, and what follows overwrites the spare ones. */
static char *put_octet(char *o, unsigned v)
{
	memcpy(o, octet_text[v], 4);
	return o + (v < 10 ? 1 : v < 100 ? 2 : 3);
}

static char *put_addr(char *o, int family, const struct policy_addr *a)
{
	if (family == AF_INET6)
		return put_addr6(o, a);
	o = put_octet(o, (unsigned)(a->lo >> 24) & 0xff);
	*o++ = '.';
	o = put_octet(o, (unsigned)(a->lo >> 16) & 0xff);
	*o++ = '.';
	o = put_octet(o, (unsigned)(a->lo >> 8) & 0xff);
	*o++ = '.';
	return put_octet(o, (unsigned)a->lo & 0xff);
}

/* Whether the range is a whole prefix: lo and hi differ in a run of low
 * bits, all clear in lo. */
static int range_is_prefix(const struct policy_range *r, int *len)
{
	uint64_t xhi = r->lo.hi ^ r->hi.hi, xlo = r->lo.lo ^ r->hi.lo;

	if ((r->lo.hi & xhi) != 0 || (r->lo.lo & xlo) != 0)
		return 0;
	if (xhi != 0 ? xlo != UINT64_MAX || (xhi & (xhi + 1)) != 0 : (xlo & (xlo + 1)) != 0)
		return 0;
	*len = __builtin_popcountll(xhi) + __builtin_popcountll(xlo);
	return 1;
}

/* As nft prints an interval: one address, a prefix where the range is one,
 * else lo-hi. */
static char *put_range(char *o, int family, const struct policy_range *r)
{
	int bits;

	o = put_addr(o, family, &r->lo);
	if (r->lo.hi == r->hi.hi && r->lo.lo == r->hi.lo)
		return o;
	if (range_is_prefix(r, &bits)) {
		*o++ = '/';
		return put_uint(o, (unsigned)(8 * policy_addr_len(family) - bits));
	}
	*o++ = '-';
	return put_addr(o, family, &r->hi);
}

static char *put_ports(char *o, uint16_t lo, uint16_t hi)
{
	o = put_uint(o, lo);
	if (hi == lo)
		return o;
	*o++ = '-';
	return put_uint(o, hi);
}

static void text_uint(struct policy_text *t, unsigned v)
{
	t->len = (size_t)(put_uint(text_reserve(t, 12), v) - t->buf);
	t->buf[t->len] = '\0';
}

static int proto_icmp(uint8_t proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/* What follows an allow_ element's addresses: " . tcp . 443"; the end. */
static char *put_service(char *o, uint8_t proto, uint16_t plo, uint16_t phi)
{
	o = put_str(o, proto == IPPROTO_TCP ? " . tcp . " : " . udp . ", 9);
	return put_ports(o, plo, phi);
}

void policy_ranges_print(int family, const struct policy_range *r, size_t n, char **text,
			 struct policy_range_text *t)
{
	/* two v6 addresses and a dash, and the spare bytes put_octet writes */
	char *buf = xcalloc(n * 84 + 16, 1), *o = buf;
	size_t i, start;

	for (i = 0; i < n; i++) {
		start = (size_t)(o - buf);
		o = put_range(o, family, &r[i]);
		t[i].len = (uint32_t)((size_t)(o - buf) - start);
	}
	/* and the spare block put_printed reads */
	memset(o, 0, 16);
	buf = realloc(buf, (size_t)(o - buf) + 16);
	if (buf == NULL)
		fatal("out of memory");
	for (i = 0, start = 0; i < n; start += t[i++].len)
		t[i].s = buf + start;
	*text = buf;
}

/* A printed range, in whole 16-byte blocks: set texts have room past the
 * end, and the printed ranges a block of spare bytes after the last. */
static char *put_printed(char *o, const struct policy_range_text *t)
{
	uint32_t i;

	for (i = 0; i < t->len; i += 16)
		memcpy(o + i, t->s + i, 16);
	return o + t->len;
}

static const char *const set_names[POLICY_NSETS] = {
    "allow_in4", "allow_in6", "allow_out4", "allow_out6",
    "ping_in4",	 "ping_in6",  "ping_out4",  "ping_out6",
};

/* Set i's head, up to its elements. */
static void set_open(struct policy_text *t, int i)
{
	text_puts(t, "\tset ");
	text_puts(t, set_names[i]);
	text_puts(t, i % 2 == 0 ? " {\n\t\ttype ipv4_addr" : " {\n\t\ttype ipv6_addr");
	if (i < 4)
		text_puts(t, " . inet_proto . inet_service");
	text_puts(t, "\n\t\tflags interval\n");
}

static void set_close(struct policy_text *t, int has_elems)
{
	if (has_elems)
		text_puts(t, " }\n");
	text_puts(t, "\t}\n\n");
}

/* Closes the allow_ set being written and opens the next ones, up to set i
 * (4: past the last). */
static void sets_advance(struct policy_sets *s, int i)
{
	while (s->open < i) {
		set_close(&s->text, s->text.len > s->body);
		if (++s->open < 4)
			set_open(&s->text, s->open);
		s->body = s->text.len;
	}
}

void policy_sets_start(struct policy_sets *s, const struct host_policy *hp, size_t hint)
{
	memset(s, 0, sizeof(*s));
	text_reserve(&s->text, 4096 + hint);
	if (hp->deadman_s) {
		/* Not an nft statement, but part of what the host enforces (and of
		 * the hash): a comment nft -f skips. */
		text_puts(&s->text, "# bulkhead: on controller loss, isolate after ");
		text_uint(&s->text, hp->deadman_s);
		text_puts(&s->text, " s\n");
	}
	text_puts(&s->text, "table inet bulkhead {\n");
	set_open(&s->text, 0);
	s->body = s->text.len;
}

void policy_sets_add(struct policy_sets *s, enum policy_dir dir, int family, uint8_t proto,
		     uint16_t plo, uint16_t phi, const struct policy_range *r,
		     const struct policy_range_text *t, size_t n)
{
	int ping = proto_icmp(proto), i = 4 * ping + 2 * (dir == POLICY_OUT) + (family == AF_INET6);
	struct policy_text *set = ping ? &s->ping[i - 4] : &s->text;
	size_t first = 0, k, slen = 0; /* first: where the set's elements start */
	char service[32];

	if (!ping) {
		if (i < s->open)
			fatal("elements of %s after its set was closed", set_names[i]);
		sets_advance(s, i);
		first = s->body;
		/* every element of the call has the same protocol and ports */
		slen = (size_t)(put_service(service, proto, plo, phi) - service);
	}
	for (k = 0; k < n; k++) {
		/* two v6 addresses, a protocol and two ports fit easily */
		char *o = text_reserve(set, 160);

		o = set->len == first ? put_str(o, "\t\telements = { ", 15) : put_str(o, ", ", 2);
		if (t != NULL && t[k].s != NULL)
			o = put_printed(o, &t[k]);
		else
			o = put_range(o, family, &r[k]);
		o = put_str(o, service, slen);
		set->len = (size_t)(o - set->buf);
	}
}

static void base_chain_write(struct policy_text *t, const char *name, const char *hook,
			     const char *to)
{
	text_puts(t, "\tchain ");
	text_puts(t, name);
	text_puts(t, " {\n\t\ttype filter hook ");
	text_puts(t, hook);
	text_puts(t, " priority filter; policy accept;\n\t\tjump ");
	text_puts(t, to);
	text_puts(t, "\n\t}\n\n");
}

/* What stays open whatever the mode: loopback, the controllers' session,
 * the collectors and IPv6 neighbour discovery. */
/* "ip saddr ADDR tcp sport PORT accept" for each address; l4 NULL: any
 * protocol. */
static void mgmt_addrs_write(struct policy_text *t, const struct conf_addr *a, int n,
			     const char *match, const char *l4, uint16_t port)
{
	for (int i = 0; i < n; i++) {
		text_puts(t, a[i].family == AF_INET ? "\t\tip " : "\t\tip6 ");
		text_puts(t, match);
		text_puts(t, a[i].text);
		if (l4 != NULL) {
			text_puts(t, l4);
			text_uint(t, port);
		}
		text_puts(t, " accept\n");
	}
}

static void mgmt_rules_write(struct policy_text *t, const struct host_policy *hp, int in)
{
	const char *peer = in ? "saddr " : "daddr ", *self = in ? "daddr " : "saddr ";

	text_puts(t, in ? "\t\tiif \"lo\" accept\n" : "\t\toif \"lo\" accept\n");
	mgmt_addrs_write(t, hp->controllers, hp->ncontrollers, peer,
			 in ? " tcp sport " : " tcp dport ", hp->port);
	/* The same session as the controller's own host sees it. */
	mgmt_addrs_write(t, hp->controllers, hp->ncontrollers, self,
			 in ? " tcp dport " : " tcp sport ", hp->port);
	mgmt_addrs_write(t, hp->collectors, hp->ncollectors, peer, NULL, 0);
	text_puts(t, "\t\ticmpv6 type nd-neighbor-solicit accept\n"
		     "\t\ticmpv6 type nd-neighbor-advert accept\n");
}

static void policy_chain_write(struct policy_text *t, const struct host_policy *hp, int in)
{
	const char *end = in ? "saddr" : "daddr", *dir = in ? "in" : "out";
	char line[512];

	text_puts(t, in ? "\tchain policy_in {\n" : "\tchain policy_out {\n");
	mgmt_rules_write(t, hp, in);
	text_puts(t, "\t\tct state established,related accept\n");
	snprintf(line, sizeof(line),
		 "\t\tip %s . meta l4proto . th dport @allow_%s4 accept\n"
		 "\t\tip6 %s . meta l4proto . th dport @allow_%s6 accept\n"
		 "\t\tip %s @ping_%s4 icmp type echo-request accept\n"
		 "\t\tip6 %s @ping_%s6 icmpv6 type echo-request accept\n",
		 end, dir, end, dir, end, dir, end, dir);
	text_puts(t, line);
	text_puts(t, "\t\tcounter drop\n\t}\n\n");
}

char *policy_sets_text(const struct host_policy *hp, struct policy_sets *s, size_t *len)
{
	struct policy_text *t = &s->text;
	char *buf;
	int i;

	sets_advance(s, 4);
	for (i = 0; i < 4; i++) {
		set_open(t, 4 + i);
		if (s->ping[i].len > 0)
			text_put(t, s->ping[i].buf, s->ping[i].len);
		set_close(t, s->ping[i].len > 0);
		free(s->ping[i].buf);
	}
	base_chain_write(t, "input", "input", "policy_in");
	base_chain_write(t, "output", "output", "policy_out");
	base_chain_write(t, "forward", "forward", "policy_fwd");
	text_puts(t, "\tchain isolate_in {\n");
	mgmt_rules_write(t, hp, 1);
	text_puts(t, "\t\tcounter drop\n\t}\n\n");
	text_puts(t, "\tchain isolate_out {\n");
	mgmt_rules_write(t, hp, 0);
	text_puts(t, "\t\tcounter drop\n\t}\n\n");
	text_puts(t, "\tchain isolate_fwd {\n\t\tcounter drop\n\t}\n\n");
	policy_chain_write(t, hp, 1);
	policy_chain_write(t, hp, 0);
	text_puts(t, "\tchain policy_fwd {\n\t\tcounter drop\n\t}\n}\n");
	*len = t->len;
	/* give back what the estimate of its length left over */
	buf = realloc(t->buf, t->len + 1);
	return buf != NULL ? buf : t->buf;
}

static void elem_range(const struct policy_elem *e, struct policy_range *r)
{
	r->lo = policy_addr_load(e->family, e->addr_lo);
	r->hi = policy_addr_load(e->family, e->addr_hi);
}

char *host_policy_text(const struct host_policy *hp, size_t *len)
{
	struct policy_sets s;
	struct policy_range r;
	size_t j;
	int i;

	if (hp->text != NULL) {
		char *buf = xcalloc(hp->textlen + 1, 1);

		memcpy(buf, hp->text, hp->textlen);
		*len = hp->textlen;
		return buf;
	}
	/* set by set, as the text lists them */
	policy_sets_start(&s, hp, (hp->nin + hp->nout) * 40);
	for (i = 0; i < POLICY_NSETS; i++) {
		enum policy_dir dir = i / 2 % 2 == 0 ? POLICY_IN : POLICY_OUT;
		const struct policy_elem *e = dir == POLICY_IN ? hp->in : hp->out;
		size_t n = dir == POLICY_IN ? hp->nin : hp->nout;
		int family = i % 2 == 0 ? AF_INET : AF_INET6;

		for (j = 0; j < n; j++) {
			if (e[j].family != family || proto_icmp(e[j].proto) != (i >= 4))
				continue;
			elem_range(&e[j], &r);
			policy_sets_add(&s, dir, family, e[j].proto, e[j].port_lo, e[j].port_hi, &r,
					NULL, 1);
		}
	}
	return policy_sets_text(hp, &s, len);
}

size_t host_policy_text_rules(const char *text)
{
	const char *line;
	size_t n = 0;
	int in_chain = 0;

	for (line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, "\tchain ", 7) == 0)
			in_chain = 1;
		else if (strncmp(line, "\t}", 2) == 0)
			in_chain = 0;
		else if (in_chain && strncmp(line, "\t\ttype ", 7) != 0)
			n++;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return n;
}

void host_policy_render(const struct host_policy *hp, FILE *out)
{
	size_t len;
	char *text;

	if (hp->text != NULL) {
		fwrite(hp->text, 1, hp->textlen, out);
		return;
	}
	text = host_policy_text(hp, &len);
	fwrite(text, 1, len, out);
	free(text);
}

void policy_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		fatal("cannot compute SHA-256");
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

/* One element as the set lists it: "198.18.1.0/24 . tcp . 443", or the
 * address alone for an echo-request element. */
void policy_elem_format(const struct policy_elem *e, char buf[POLICY_ELEM_TEXT])
{
	struct policy_range r;
	char *o;

	elem_range(e, &r);
	o = put_range(buf, e->family, &r);
	if (!proto_icmp(e->proto))
		o = put_service(o, e->proto, e->port_lo, e->port_hi);
	*o = '\0';
}
