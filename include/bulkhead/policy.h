/* The site policy (a directory of YAML files kept in git) and what it
 * compiles to: one host policy per host, a fixed rule skeleton whose
 * contents live in interval sets. See bulkhead-policy(5). */
#ifndef BULKHEAD_POLICY_H
#define BULKHEAD_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bulkhead/conf.h"

struct policy; /* a parsed, validated site: inventory, groups, services, rules, management */

/* One element of an allow set: an address range, a protocol and a port
 * range. Addresses are in network byte order (IPv4 in the first 4 bytes);
 * ports in host order. proto is IPPROTO_TCP, IPPROTO_UDP, or IPPROTO_ICMP /
 * IPPROTO_ICMPV6 (echo request; ports are 0 then). */
struct policy_elem {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t proto;
	uint16_t port_lo, port_hi;
	uint8_t addr_lo[16], addr_hi[16];
};

/* What one host gets. `in`: peers allowed to reach this host (peer address,
 * protocol, local port). `out`: what this host may reach (remote address,
 * protocol, remote port). Elements are merged into disjoint ones and sorted
 * (family; TCP, UDP, ICMP; port; address), so equal policies compare equal
 * element by element. */
struct host_policy {
	char *host;
	struct policy_elem *in, *out;
	size_t nin, nout;
	struct conf_addr controllers[CONF_MAX_ADDRS]; /* management channel */
	int ncontrollers;
	uint16_t port;
	struct conf_addr
	    collectors[CONF_MAX_ADDRS]; /* forensic collectors, reachable while isolated */
	int ncollectors;
	/* on_controller_loss: a host that has lost its controller this long
	 * isolates itself; 0 for never. The shortest of the host's groups. */
	uint32_t deadman_s;
	char hash[65]; /* hex SHA-256 of the rendered text */
	/* The rendered text, kept by policy_host_compile since it made it for the
	 * hash anyway; render prints it. NULL: render builds it from the fields.
	 * Code that changes the fields of a compiled policy frees and clears it. */
	char *text;
	size_t textlen;
};

/* Parse and validate a policy directory. Every error is reported through err
 * as "file:line:col: message" and parsing goes on; warnings go through warn.
 * Returns NULL if there was any error. */
struct policy *policy_load(const char *dir, conf_error_fn err, conf_error_fn warn, void *arg);
void policy_free(struct policy *p);

/* Number of hosts, and their names in inventory order. Switches run an agent
 * and get a policy too, so they count as hosts here. */
size_t policy_host_count(const struct policy *p);
const char *policy_host_name(const struct policy *p, size_t i);
/* The inventory entry of host i: addresses, profile, labels. NULL past the end. */
const struct inv_host *policy_host(const struct policy *p, size_t i);

/* Compile one host's policy; NULL if the host is unknown. */
struct host_policy *policy_host_compile(const struct policy *p, const char *host);
void host_policy_free(struct host_policy *hp);

/* The exact nft -f input for the host (table inet bulkhead). Deterministic. */
void host_policy_render(const struct host_policy *hp, FILE *out);

/* One set element as nft lists it; the buffer needs POLICY_ELEM_TEXT bytes. */
#define POLICY_ELEM_TEXT 160
void policy_elem_format(const struct policy_elem *e, char buf[POLICY_ELEM_TEXT]);

/* The same text in a malloc'd, NUL-terminated buffer; *len gets its length. */
char *host_policy_text(const struct host_policy *hp, size_t *len);
/* The rules in a rendered text: the lines of its chains, less the chain
 * headers (what must not grow with the policy). */
size_t host_policy_text_rules(const char *text);

enum policy_dir { POLICY_IN, POLICY_OUT };

/* Whether the host's `in` (or `out`) elements hold the peer address (network
 * byte order), protocol and port. IPPROTO_ICMP / IPPROTO_ICMPV6 ignore port. */
int host_policy_allows(const struct host_policy *hp, enum policy_dir dir, int family,
		       const uint8_t *addr, uint8_t proto, uint16_t port);

/* As policy_load, but judges rule expiry on `today` (days since 1970-01-01)
 * instead of the local date. */
struct policy *policy_load_at(const char *dir, long today, conf_error_fn err, conf_error_fn warn,
			      void *arg);

/* "YYYY-MM-DD", a real date, to days since 1970-01-01: 0, or -1. */
int policy_date_parse(const char *s, long *days);
/* Today's local date as days since 1970-01-01. */
long policy_date_today(void);
/* Days since 1970-01-01 as "YYYY-MM-DD". */
void policy_date_format(long days, char buf[32]);

struct policy_stats {
	size_t hosts, switches, groups, services, rules;
	size_t expired; /* rules past their date, not compiled */
};
void policy_stats_get(const struct policy *p, struct policy_stats *st);

/* What decides a flow from one host to another. */
struct policy_verdict {
	int allowed;
	const char *file;      /* rules.yaml, as messages name it */
	unsigned line;	       /* the first rule that allows the flow; 0 when denied */
	const char *comment;   /* that rule's */
	unsigned expired_line; /* when denied: an expired rule that would allow it, or 0 */
	long expired_on;       /* its date, days since 1970-01-01 */
};

/* Answers for a flow from `from` to `to` (host names, or address literals
 * outside the inventory) with proto (IPPROTO_TCP, IPPROTO_UDP, or
 * IPPROTO_ICMP for an echo request in either family; port is then ignored).
 * Returns 0 with *v filled in, or -1 if from or to is neither. Agrees with
 * what policy_host_compile gives both hosts. */
int policy_explain(const struct policy *p, const char *from, const char *to, uint8_t proto,
		   uint16_t port, struct policy_verdict *v);

#endif
