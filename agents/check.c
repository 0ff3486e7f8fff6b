/* Checks the controller asks for during a playbook stage: a TCP connect or
 * a ping from this host, each bounded by its timeout. They run in the
 * host's own network, through its own rules: a check proves what this host
 * can reach right now. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "agent.h"

struct check_run {
	struct agent *a;
	uint32_t id;
	int fd;
	uint8_t proto;
	struct sockaddr_storage to;
	uint16_t echo_id;
	uint64_t start_us;
	struct event *ev;
};

static void check_report(struct agent *a, uint32_t id, int result, uint64_t latency_us,
			 const char *err)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_check_result m = {id, (uint32_t)result, latency_us, err};

	session_send(a, buf, msg_check_result_encode(buf, ++a->seq, &m));
}

static void check_done(struct check_run *cr, int result, const char *err)
{
	check_report(cr->a, cr->id, result, clock_mono_us() - cr->start_us, err);
	event_free(cr->ev);
	close(cr->fd);
	free(cr);
}

static void check_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check_run *cr = arg;
	int err = ETIMEDOUT;
	socklen_t len = sizeof(err);

	if ((what & EV_WRITE) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	/* A refusal is the target's own answer: the network let us through,
	 * which is what a check proves. Silence, or our own rules, is not. */
	if (err == ECONNREFUSED)
		check_done(cr, 0, "connection refused: the host answered");
	else
		check_done(cr, err, err ? strerror(err) : NULL);
}

/* An echo reply from the target, with our identifier? */
static int check_is_reply(const struct check_run *cr, const uint8_t *p, ssize_t n,
			  const struct sockaddr_storage *from)
{
	if (cr->to.ss_family == AF_INET) {
		const struct ip *ip = (const struct ip *)p;
		struct icmphdr ic;
		size_t hl;

		if (n < (ssize_t)sizeof(*ip))
			return 0;
		hl = (size_t)ip->ip_hl * 4;
		if ((size_t)n < hl + sizeof(ic))
			return 0;
		memcpy(&ic, p + hl, sizeof(ic));
		return ic.type == ICMP_ECHOREPLY && ntohs(ic.un.echo.id) == cr->echo_id &&
		       ((const struct sockaddr_in *)from)->sin_addr.s_addr ==
			   ((const struct sockaddr_in *)&cr->to)->sin_addr.s_addr;
	} else {
		const struct icmp6_hdr *ic = (const struct icmp6_hdr *)p;

		return n >= 8 && ic->icmp6_type == ICMP6_ECHO_REPLY &&
		       ntohs(ic->icmp6_id) == cr->echo_id &&
		       memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr,
			      &((const struct sockaddr_in6 *)&cr->to)->sin6_addr, 16) == 0;
	}
}

static void check_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check_run *cr = arg;
	uint8_t buf[1500];

	if (!(what & EV_READ)) {
		check_done(cr, ETIMEDOUT, "no echo reply");
		return;
	}
	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

		if (n < 0)
			return; /* nothing more now; the event stays armed until the timeout */
		if (check_is_reply(cr, buf, n, &from)) {
			check_done(cr, 0, NULL);
			return;
		}
	}
}

static int check_ping_send(struct check_run *cr)
{
	uint8_t pkt[16] = {0};
	socklen_t tolen;

	if (cr->to.ss_family == AF_INET) {
		struct icmphdr ic = {.type = ICMP_ECHO};
		uint32_t sum = 0;

		ic.un.echo.id = htons(cr->echo_id);
		ic.un.echo.sequence = htons(1);
		memcpy(pkt, &ic, sizeof(ic));
		for (size_t i = 0; i < sizeof(pkt); i += 2)
			sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		ic.checksum = htons((uint16_t)~sum);
		memcpy(pkt, &ic, sizeof(ic));
		tolen = sizeof(struct sockaddr_in);
	} else {
		struct icmp6_hdr *ic = (struct icmp6_hdr *)pkt;

		/* The kernel fills in the ICMPv6 checksum on raw ICMPv6 sockets. */
		ic->icmp6_type = ICMP6_ECHO_REQUEST;
		ic->icmp6_id = htons(cr->echo_id);
		ic->icmp6_seq = htons(1);
		tolen = sizeof(struct sockaddr_in6);
	}
	return sendto(cr->fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&cr->to, tolen) < 0 ? -errno
											  : 0;
}

void check_start(struct agent *a, const struct msg_check *k)
{
	uint32_t id = k->id, timeout_ms = k->timeout_ms;
	uint8_t proto = k->proto;
	uint16_t port = k->port;
	struct timeval tv = clock_tv_ms(timeout_ms);
	struct conf_addr target;
	struct check_run *cr;
	int rc;

	if (conf_addr_parse(k->target, &target) < 0 ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_ICMP) || timeout_ms > 60000) {
		check_report(a, id, EINVAL, 0, "malformed check");
		return;
	}
	cr = xcalloc(1, sizeof(*cr));
	cr->a = a;
	cr->id = id;
	cr->proto = proto;
	cr->start_us = clock_mono_us();
	cr->to.ss_family = (sa_family_t)target.family;
	if (target.family == AF_INET) {
		((struct sockaddr_in *)&cr->to)->sin_port = htons(port);
		memcpy(&((struct sockaddr_in *)&cr->to)->sin_addr, target.a.v4, 4);
	} else {
		((struct sockaddr_in6 *)&cr->to)->sin6_port = htons(port);
		memcpy(&((struct sockaddr_in6 *)&cr->to)->sin6_addr, target.a.v6, 16);
	}
	if (proto == IPPROTO_TCP) {
		cr->fd = socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		rc = cr->fd < 0 ? -errno
				: connect(cr->fd, (struct sockaddr *)&cr->to,
					  target.family == AF_INET ? sizeof(struct sockaddr_in)
								   : sizeof(struct sockaddr_in6));
		if (rc < 0 && errno != EINPROGRESS)
			rc = -errno;
		else
			rc = 0;
		cr->ev = event_new(a->base, cr->fd, EV_WRITE, check_connect_cb, cr);
	} else {
		cr->fd = socket(target.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
				target.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		cr->echo_id = (uint16_t)(id ^ (uint32_t)getpid());
		rc = cr->fd < 0 ? -errno : check_ping_send(cr);
		cr->ev = event_new(a->base, cr->fd, EV_READ | EV_PERSIST, check_ping_cb, cr);
	}
	if (!cr->ev)
		fatal("out of memory");
	if (rc < 0) {
		/* Blocked by our own rules shows here as EPERM: that is an answer too. */
		check_done(cr, -rc, strerror(-rc));
		return;
	}
	event_add(cr->ev, &tv);
}
