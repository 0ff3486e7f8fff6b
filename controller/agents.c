/* Agent sessions: the TLS listener, certificate-name checks against the
 * inventory, hello/ack handling and heartbeats. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "audit.h"
#include "controller.h"

static const struct timeval handshake_timeout = {10, 0};

struct agent_conn {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct host *host; /* set once the certificate name matched */
	int hello;
	char peer[64];
	uint64_t last_rx_ms;
	uint32_t seq;
	struct event *hb_ev;
};

/* What a host reported or did on its own, in the audit log. */
static void agent_audit(struct agent_conn *ac, const char *action, const char *result,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void agent_audit(struct agent_conn *ac, const char *action, const char *result,
			const char *fmt, ...)
{
	char actor[128], detail[512];
	va_list ap;

	snprintf(actor, sizeof(actor), "agent %s (%s)", ac->host->name, ac->peer);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	audit_append(ac->ctl->db, clock_wall_ms(), actor, action, ac->host->name, NULL, result, "%s",
		     detail);
}

static void agent_conn_free(struct agent_conn *ac, const char *why)
{
	struct host *h = ac->host;

	if (h && h->conn == ac) {
		log_warn("%s (%s): session closed: %s", h->name, ac->peer, why);
		agent_audit(ac, "session lost", mode_name(h->mode), "%s", why);
		h->conn = NULL;
		/* Its commands stay pending: back before their deadline, it gets
		 * them on hello and can still confirm. */
	} else if (!h) {
		log_warn("agent %s: %s", ac->peer, why);
	}
	if (ac->hb_ev)
		event_free(ac->hb_ev);
	if (h)
		SSL_shutdown(bufferevent_openssl_get_ssl(ac->bev)); /* close_notify */
	bufferevent_free(ac->bev);
	free(ac);
}

static int agent_conn_send(struct agent_conn *ac, const void *frame, int len)
{
	if (len < 0)
		return -1;
	return bufferevent_write(ac->bev, frame, (size_t)len);
}

uint32_t agent_conn_last_seq(const struct agent_conn *ac)
{
	return ac->seq;
}

int agent_conn_send_ports(struct agent_conn *ac, uint64_t epoch, const char *state,
			  const char *const *ports, int nports, uint32_t confirm_ms)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_PORT_SET, ++ac->seq);
	wire_put_u64(&b, WA_EPOCH, epoch);
	wire_put_str(&b, WA_PORT_STATE, state);
	for (int i = 0; i < nports; i++)
		wire_put_str(&b, WA_PORT_NAME, ports[i]);
	if (confirm_ms)
		wire_put_u32(&b, WA_CONFIRM_MS, confirm_ms);
	return agent_conn_send(ac, buf, wire_build_end(&b));
}

/* The policy's frames as stored, sent as they are. */
static int agent_conn_send_policy(struct agent_conn *ac, const char *hash)
{
	size_t len = 0;
	char *frames = store_policy_get(ac->ctl, ac->host->name, hash, &len);
	int rc;

	if (!frames) {
		log_err("%s: policy %.12s is not in the store", ac->host->name, hash);
		return -1;
	}
	rc = bufferevent_write(ac->bev, frames, len);
	free(frames);
	return rc;
}

int agent_conn_send_mode(struct agent_conn *ac, uint64_t epoch, int mode, const char *hash,
			 uint32_t confirm_ms)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	if (hash && *hash && strcmp(hash, ac->host->hash) != 0 &&
	    agent_conn_send_policy(ac, hash) < 0)
		return -1;
	wire_build_start(&b, buf, WIRE_SET_MODE, ++ac->seq);
	wire_put_u64(&b, WA_EPOCH, epoch);
	wire_put_u8(&b, WA_MODE, (uint8_t)mode);
	if (mode == MODE_ISOLATED && ac->host->want_hard)
		wire_put_u8(&b, WA_HARD, 1);
	if (hash && *hash)
		wire_put_str(&b, WA_HASH, hash);
	if (mode != MODE_ISOLATED)
		wire_put_u32(&b, WA_CONFIRM_MS, confirm_ms);
	return agent_conn_send(ac, buf, wire_build_end(&b));
}

int agent_conn_send_confirm(struct agent_conn *ac, uint64_t epoch)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_CONFIRM, ++ac->seq);
	wire_put_u64(&b, WA_EPOCH, epoch);
	return agent_conn_send(ac, buf, wire_build_end(&b));
}

int agent_conn_send_check(struct agent_conn *ac, uint32_t id, const char *target, uint8_t proto,
			  uint16_t port, uint32_t timeout_ms)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_CHECK, ++ac->seq);
	wire_put_u32(&b, WA_CHECK_ID, id);
	wire_put_str(&b, WA_TARGET, target);
	wire_put_u8(&b, WA_PROTO, proto);
	wire_put_u32(&b, WA_PORT, port);
	wire_put_u32(&b, WA_TIMEOUT_MS, timeout_ms);
	return agent_conn_send(ac, buf, wire_build_end(&b));
}

/* Adopts what the agent reports as what is wanted of it. */
static void agent_adopt(struct ctl *c, struct host *h)
{
	h->want_mode = h->mode;
	h->want_epoch = h->epoch;
	snprintf(h->want_hash, sizeof(h->want_hash), "%s", h->hash);
	h->hold_confirm = 0;
	store_hosts_want(c, &h, 1);
}

static void agent_hello(struct agent_conn *ac, const struct wire_frame *f)
{
	struct host *h = ac->host;
	uint64_t epoch = wire_get_u64(f, WA_EPOCH, 0);
	int mode = wire_get_u8(f, WA_MODE, MODE_OPEN);

	ac->hello = 1;
	h->mode = mode;
	h->epoch = epoch;
	h->hard = wire_get_u8(f, WA_HARD, 0);
	/* A change the session dropped before it was confirmed still waits. */
	h->pending_confirm = strcmp(wire_get_str(f, WA_STATUS, ""), "pending-confirm") == 0;
	snprintf(h->hash, sizeof(h->hash), "%s", wire_get_str(f, WA_HASH, ""));
	h->last_seen_ms = clock_wall_ms();
	store_epoch_raise(ac->ctl, epoch);
	log_info("%s (%s): connected, %s, mode %s, epoch %" PRIu64 "%s%.12s", h->name, ac->peer,
		 wire_get_str(f, WA_SOFTWARE, "unknown software"), mode_name(mode), epoch,
		 h->hash[0] ? ", policy " : "", h->hash);
	agent_audit(ac, "connected", mode_name(mode), "epoch %" PRIu64 ", policy %.12s, %s", epoch,
		    h->hash[0] ? h->hash : "none", wire_get_str(f, WA_SOFTWARE, ""));
	if (h->want_epoch > epoch) {
		/* Commanded while it was away: it gets the command now. */
		log_info("%s: sending pending %s (epoch %" PRIu64 ")", h->name,
			 mode_name(h->want_mode), h->want_epoch);
		agent_conn_send_mode(ac, h->want_epoch, h->want_mode, h->want_hash,
				     CTL_CONFIRM_MS_DEFAULT);
	} else if (mode != h->want_mode && h->want_mode == MODE_ISOLATED) {
		/* The agent holds a newer epoch (a restored database, say) but we
		 * want it isolated: isolation wins, under an epoch it will accept. */
		h->want_epoch = store_epoch_next(ac->ctl);
		log_warn("%s: agent is %s at epoch %" PRIu64 " but is commanded isolated; "
			 "re-isolating at epoch %" PRIu64,
			 h->name, mode_name(mode), epoch, h->want_epoch);
		store_hosts_want(ac->ctl, &h, 1);
		agent_conn_send_mode(ac, h->want_epoch, MODE_ISOLATED, NULL, 0);
	} else if (h->pending_confirm && epoch == h->want_epoch) {
		if (!h->hold_confirm)
			agent_conn_send_confirm(ac, epoch);
	} else if (epoch > h->want_epoch || mode != h->want_mode ||
		   strcmp(h->hash, h->want_hash) != 0) {
		/* The agent holds a newer state than ours, or rolled a change back
		 * while away: take its word rather than undo it. */
		agent_adopt(ac->ctl, h);
	}
	store_host_confirmed(ac->ctl, h);
}

/* The switch committed the ports it opened at epoch: the hosts behind them
 * are no longer held there. */
static void agent_ports_released(struct agent_conn *ac, uint64_t epoch)
{
	struct ctl *c = ac->ctl;

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];

		if (strcmp(h->port_sw, ac->host->name) != 0 || h->port_open_epoch != epoch)
			continue;
		log_info("%s: port %s on %s is open again", h->name, h->port_name, ac->host->name);
		h->port_sw[0] = h->port_name[0] = '\0';
		h->port_open_epoch = 0;
		store_hosts_want(c, &h, 1);
	}
}

/* An ack about the switch's host-facing ports, not about its own mode. */
static void agent_port_ack(struct agent_conn *ac, const struct wire_frame *f)
{
	uint32_t result = wire_get_u32(f, WA_RESULT, EPROTO);
	const char *status = wire_get_str(f, WA_STATUS, result ? "refused" : "applied");
	uint64_t epoch = wire_get_u64(f, WA_EPOCH, 0);

	agent_audit(ac, "port", status, "%s %s%s%s", wire_get_str(f, WA_PORT_STATE, "?"),
		    wire_get_str(f, WA_PORT_NAME, "?"), result ? ": " : "",
		    result ? wire_get_str(f, WA_ERROR, strerror((int)result)) : "");
	if (strcmp(status, "pending-confirm") == 0) {
		/* Its answer is a plain ack: the sequence number says it is this one. */
		agent_conn_send_confirm(ac, epoch);
		ac->host->port_confirm_seq = agent_conn_last_seq(ac);
		ac->host->port_confirm_epoch = epoch;
	} else if (strcmp(status, "rolled-back") == 0)
		log_warn("%s: ports isolated again, their opening was not confirmed: %s",
			 ac->host->name, wire_get_str(f, WA_ERROR, ""));
	command_port_acked(ac->ctl, ac->host, f->nlh->nlmsg_seq, result,
			   wire_get_str(f, WA_ERROR, NULL));
}

static void agent_ack(struct agent_conn *ac, const struct wire_frame *f)
{
	struct host *h = ac->host;
	uint32_t result = wire_get_u32(f, WA_RESULT, EPROTO);
	uint64_t epoch = wire_get_u64(f, WA_EPOCH, 0);
	int mode = wire_get_u8(f, WA_MODE, MODE_OPEN);
	const char *status = wire_get_str(f, WA_STATUS, result ? "refused" : "applied");

	if (f->tb[WA_PORT_STATE]) {
		agent_port_ack(ac, f);
		return;
	}
	if (h->port_confirm_seq && f->nlh->nlmsg_seq == h->port_confirm_seq) {
		h->port_confirm_seq = 0;
		agent_audit(ac, "port", status, "ports opened at epoch %" PRIu64 " committed",
			    h->port_confirm_epoch);
		if (strcmp(status, "committed") == 0)
			agent_ports_released(ac, h->port_confirm_epoch);
		return;
	}
	h->mode = mode;
	h->epoch = epoch;
	h->hard = wire_get_u8(f, WA_HARD, 0);
	snprintf(h->hash, sizeof(h->hash), "%s", wire_get_str(f, WA_HASH, ""));
	h->pending_confirm = strcmp(status, "pending-confirm") == 0;
	if (!wire_get_u8(f, WA_PERSISTED, 1))
		log_warn("%s: epoch %" PRIu64 " applied but not persisted on the host", h->name,
			 epoch);
	if (strcmp(status, "rolled-back") == 0) {
		log_warn("%s: epoch %" PRIu64 " rolled back to %s: %s", h->name, epoch,
			 mode_name(mode), wire_get_str(f, WA_ERROR, ""));
		agent_audit(ac, "rolled back", mode_name(mode), "epoch %" PRIu64 ": %s", epoch,
			    wire_get_str(f, WA_ERROR, ""));
		agent_adopt(ac->ctl, h);
	}
	store_host_confirmed(ac->ctl, h);
	/* The change arrived and the path still works: confirm it, unless an
	 * operator asked to confirm by hand. */
	if (h->pending_confirm && epoch == h->want_epoch && !h->hold_confirm)
		agent_conn_send_confirm(ac, epoch);
	command_host_acked(ac->ctl, h, f->nlh->nlmsg_seq, epoch, mode, status, result,
			   wire_get_u64(f, WA_APPLY_US, 0), wire_get_u8(f, WA_PERSISTED, 1),
			   wire_get_str(f, WA_ERROR, result ? strerror((int)result) : NULL));
}

/* Tampering undone, a rollback, a dead-man isolation: logged and audited. */
static void agent_alert(struct agent_conn *ac, const struct wire_frame *f)
{
	const char *kind = wire_get_str(f, WA_STATUS, "?"), *text = wire_get_str(f, WA_ERROR, "");
	char action[48];

	if (strcmp(kind, "tamper") == 0)
		ac->host->tampers++;
	log_warn("%s: ALERT %s: %s", ac->host->name, kind, text);
	snprintf(action, sizeof(action), "alert: %s", kind);
	agent_audit(ac, action, mode_name(ac->host->mode), "%s", text);
}

/* Returns -1 when the session must close. */
static int agent_frame(struct agent_conn *ac, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_HELLO: agent_hello(ac, f); return 0;
	case WIRE_HEARTBEAT:
		snprintf(ac->host->digest, sizeof(ac->host->digest), "%s",
			 wire_get_str(f, WA_HASH, ""));
		return 0;
	case WIRE_ALERT:
		if (!ac->hello)
			return -1;
		agent_alert(ac, f);
		return 0;
	case WIRE_CHECK_RESULT:
		if (!ac->hello)
			return -1;
		playbook_check_result(ac->ctl, ac->host, wire_get_u32(f, WA_CHECK_ID, 0),
				      wire_get_u32(f, WA_RESULT, EPROTO),
				      wire_get_str(f, WA_ERROR, NULL));
		return 0;
	case WIRE_ACK:
		if (!ac->hello)
			return -1;
		agent_ack(ac, f);
		return 0;
	default: return -1;
	}
}

static void agent_read_cb(struct bufferevent *bev, void *arg)
{
	static char frame[WIRE_MAX_FRAME];
	struct agent_conn *ac = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct wire_frame f;
		const char *err;
		int rc = wire_frame_take(in, frame, &f, &err);

		if (rc == 0)
			return;
		if (rc < 0) {
			agent_conn_free(ac, err);
			return;
		}
		ac->last_rx_ms = clock_wall_ms();
		ac->host->last_seen_ms = ac->last_rx_ms;
		if (agent_frame(ac, &f) < 0) {
			agent_conn_free(ac, "unexpected frame");
			return;
		}
	}
}

static void agent_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	struct agent_conn *ac = arg;
	struct wire_builder b;

	if (clock_wall_ms() - ac->last_rx_ms > (uint64_t)ac->ctl->conf.dead_ms) {
		agent_conn_free(ac, "agent silent past the heartbeat timeout");
		return;
	}
	wire_build_start(&b, buf, WIRE_HEARTBEAT, ++ac->seq);
	agent_conn_send(ac, buf, wire_build_end(&b));
}

/* The handshake verified the chain; the certificate's name must be an inventory host. */
static int agent_admit(struct agent_conn *ac)
{
	SSL *ssl = bufferevent_openssl_get_ssl(ac->bev);
	struct timeval hb = {ac->ctl->conf.heartbeat_ms / 1000,
			     (ac->ctl->conf.heartbeat_ms % 1000) * 1000};
	char name[256];
	struct host *h;
	int one = 1;

	if (tls_peer_name(ssl, name, sizeof(name)) < 0) {
		log_warn("refused agent %s: no verified certificate name", ac->peer);
		return -1;
	}
	h = ctl_host_find(ac->ctl, name);
	if (!h) {
		log_warn("refused agent %s: certificate name \"%s\" is not in the inventory",
			 ac->peer, name);
		return -1;
	}
	if (h->conn) {
		log_warn("%s: a new session from %s replaces the one from %s", h->name, ac->peer,
			 h->conn->peer);
		agent_conn_free(h->conn, "replaced by a new session");
	}
	bufferevent_set_timeouts(ac->bev, NULL, NULL);
	ac->host = h;
	h->conn = ac;
	ac->last_rx_ms = clock_wall_ms();
	setsockopt(bufferevent_getfd(ac->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ac->hb_ev = event_new(ac->ctl->base, -1, EV_PERSIST, agent_heartbeat_cb, ac);
	if (!ac->hb_ev)
		fatal("out of memory");
	event_add(ac->hb_ev, &hb);
	return 0;
}

static void agent_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct agent_conn *ac = arg;
	char why[256];
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED) {
		if (agent_admit(ac) < 0)
			agent_conn_free(ac, "refused");
		return;
	}
	e = bufferevent_get_openssl_error(bev);
	tls_close_reason(e, what & BEV_EVENT_EOF, what & BEV_EVENT_TIMEOUT, EVUTIL_SOCKET_ERROR(),
			 "agent", why, sizeof(why));
	if (e && !ac->host)
		log_warn("refused agent %s: TLS handshake failed: %s", ac->peer, why);
	agent_conn_free(ac, why);
}

static void agent_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	struct ctl *c = arg;
	struct agent_conn *ac = xcalloc(1, sizeof(*ac));
	SSL *ssl = SSL_new(c->ssl_ctx);
	char addr[INET6_ADDRSTRLEN] = "?";

	if (!ssl)
		fatal("SSL_new failed");
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
	snprintf(ac->peer, sizeof(ac->peer), "%s", addr);
	ac->ctl = c;
	ac->bev = bufferevent_openssl_socket_new(c->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						 BEV_OPT_CLOSE_ON_FREE);
	if (!ac->bev)
		fatal("bufferevent_openssl_socket_new failed");
	bufferevent_setcb(ac->bev, agent_read_cb, NULL, agent_event_cb, ac);
	/* A peer that never finishes its handshake does not hold a slot for long. */
	bufferevent_set_timeouts(ac->bev, &handshake_timeout, NULL);
	bufferevent_enable(ac->bev, EV_READ | EV_WRITE);
}

int agents_listen(struct ctl *c)
{
	struct sockaddr_storage ss = {0};
	struct conf_addr la;
	socklen_t slen;
	int fd, one = 1, zero = 0;

	if (conf_addr_parse(c->conf.listen, &la) < 0) {
		log_err("listen address \"%s\" is not an IP address", c->conf.listen);
		return -1;
	}
	if (la.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(c->conf.port);
		memcpy(&sin->sin_addr, la.a.v4, 4);
		slen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(c->conf.port);
		memcpy(&sin6->sin6_addr, la.a.v6, 16);
		slen = sizeof(*sin6);
	}
	fd = socket(la.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    /* An IPv6 listener takes IPv4 agents too, whatever net.ipv6.bindv6only says. */
	    (la.family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 1024) < 0) {
		log_err("listen on %s port %u: %s", c->conf.listen, c->conf.port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	c->agent_listener =
	    evconnlistener_new(c->base, agent_accept_cb, c, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!c->agent_listener)
		fatal("evconnlistener_new failed");
	log_info("listening for agents on %s port %u", c->conf.listen, c->conf.port);
	return 0;
}

void agents_close(struct ctl *c)
{
	for (int i = 0; i < c->nhosts; i++)
		if (c->hosts[i].conn)
			agent_conn_free(c->hosts[i].conn, "controller shutting down");
	if (c->agent_listener)
		evconnlistener_free(c->agent_listener);
}
