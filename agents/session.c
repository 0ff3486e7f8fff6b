/* The agent's TLS session to the controller: connect with mutual
 * certificates, read frames, heartbeat both ways, reconnect with exponential
 * backoff and jitter. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "agent.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 4000
/* A controller address that drops SYNs must not stall us for the kernel's
 * two-minute connect timeout before the next address is tried. */
static const struct timeval connect_timeout = {5, 0};

static void session_schedule_reconnect(struct agent *a);

int session_send(struct agent *a, const void *frame, int len)
{
	if (!a->bev || !a->established || len < 0)
		return -1;
	return bufferevent_write(a->bev, frame, (size_t)len);
}

void session_send_ack(struct agent *a, uint32_t seq, const struct mode_result *res)
{
	static char buf[WIRE_MAX_FRAME];
	static const char *links[MODE_MAX_HOLDS];
	struct msg_ack k;

	mode_ack_fill(&a->m, res, &k);
	/* Hard isolation: said only when held, with what it holds down. */
	for (int i = 0; k.hard && i < a->m.nholds; i++)
		links[k.links.n++] = a->m.holds[i].name;
	k.links.v = links;
	if (session_send(a, buf, msg_ack_encode(buf, seq, &k)) < 0)
		agent_after_ack(a); /* no session to carry the ack: now */
}

void session_send_port_ack(struct agent *a, uint32_t seq, const struct port_ack *pa)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_ack k = {
	    .status = pa->status,
	    .result = pa->result,
	    .epoch = pa->epoch,
	    .mode = a->m.cur.mode,
	    .apply_us = pa->apply_us,
	    .persisted = a->m.persisted,
	    .error = pa->err,
	    .port = true,
	    .port_state = pa->state,
	    .ports = {.v = pa->names, .n = pa->n},
	};

	if (session_send(a, buf, msg_ack_encode(buf, seq, &k)) < 0)
		agent_after_ack(a);
}

static void session_send_hello(struct agent *a)
{
	static char buf[WIRE_MAX_FRAME];
	static const char *ports[AGENT_MAX_PORTS];
	struct msg_hello h = {
	    .name = a->name,
	    .software = "bulkhead-agent " BULKHEAD_VERSION,
	    .tampers = a->tampers,
	};

	mode_hello_fill(&a->m, &h);

	/* A switch names the ports it holds isolated. */
	for (int i = 0; i < a->nports; i++)
		if (a->ports[i].isolated)
			ports[h.ports.n++] = a->ports[i].name;
	h.ports.v = ports;
	session_send(a, buf, msg_hello_encode(buf, ++a->seq, &h));
}

void agent_alert(struct agent *a, enum alert_kind kind, const char *fmt, ...)
{
	int n = (int)(sizeof(a->alerts) / sizeof(a->alerts[0]));
	va_list ap;

	/* Full: the oldest goes; the tamper count still says how many there were. */
	if (a->nalerts == n) {
		memmove(&a->alerts[0], &a->alerts[1], sizeof(a->alerts[0]) * (size_t)(n - 1));
		a->nalerts--;
	}
	a->alerts[a->nalerts].kind = kind;
	va_start(ap, fmt);
	vsnprintf(a->alerts[a->nalerts].text, sizeof(a->alerts[0].text), fmt, ap);
	va_end(ap);
	log_warn("ALERT %s: %s", alert_kind_name(kind), a->alerts[a->nalerts].text);
	a->nalerts++;
	session_alerts_flush(a);
}

void session_alerts_flush(struct agent *a)
{
	static char buf[WIRE_MAX_FRAME];

	/* Only once admitted: a session the controller refuses would lose them. */
	if (!a->admitted)
		return;
	for (int i = 0; i < a->nalerts; i++) {
		struct msg_alert m = {a->alerts[i].kind, a->alerts[i].text, a->tampers};

		session_send(a, buf, msg_alert_encode(buf, ++a->seq, &m));
	}
	a->nalerts = 0;
}

/* The address of the controller this session went to. */
static const char *session_ctl_addr(const struct agent *a)
{
	int n = a->conf.ncontrollers;

	return a->conf.controllers[(a->next_ctl + n - 1) % n].text;
}

static void session_close(struct agent *a, const char *why)
{
	if (!a->bev)
		return;
	if (a->established) {
		log_warn("session to controller closed: %s", why);
		/* Say goodbye (close_notify), so the controller logs a clean close. */
		SSL_shutdown(bufferevent_openssl_get_ssl(a->bev));
	} else {
		log_debug("connection attempt failed: %s", why);
	}
	bufferevent_free(a->bev);
	a->bev = NULL;
	a->established = 0;
	a->admitted = 0;
	a->ctl_name[0] = '\0';
	agent_deadman_arm(a);
	session_schedule_reconnect(a);
}

/* The controller says its name in every heartbeat; the agent's say it back,
 * so that every controller sharing the store knows which one holds it. */
static void session_controller_named(struct agent *a, const char *name)
{
	if (!name || !name[0] || strcmp(name, a->ctl_name) == 0)
		return;
	snprintf(a->ctl_name, sizeof(a->ctl_name), "%s", name);
	log_info("on controller %s (%s)", a->ctl_name, session_ctl_addr(a));
}

/* One frame from the controller, decoded by its kind; a frame that does
 * not decode, or does not belong here, closes the session (DESIGN). */
static void session_frame(struct agent *a, const struct wire_frame *f)
{
	uint32_t seq = f->nlh->nlmsg_seq;
	struct mode_result res;
	const char *err;
	union msg m;
	char why[160];

	if (f->type == WIRE_POLICY) {
		agent_policy_part(a, f);
		return;
	}
	if (msg_decode(f, &m, &err) < 0) {
		snprintf(why, sizeof(why), "malformed frame from the controller: %s", err);
		session_close(a, why);
		return;
	}
	switch (f->type) {
	case WIRE_HEARTBEAT: session_controller_named(a, m.heartbeat.controller); return;
	case WIRE_SET_MODE: mode_set_msg(&a->m, &m.set_mode, &res); break;
	case WIRE_CONFIRM:
		/* Switch ports opened at this epoch are committed by the same word. */
		mode_confirm(&a->m, m.confirm.epoch, port_confirm(a, m.confirm.epoch) > 0, &res);
		break;
	case WIRE_PORT_SET: port_set(a, seq, &m.port_set); return;
	case WIRE_CHECK: check_start(a, &m.check); return;
	default:
		snprintf(why, sizeof(why), "unexpected %s frame from the controller",
			 wire_type_name(f->type));
		session_close(a, why);
		return;
	}
	agent_mode_done(a, &res);
	session_send_ack(a, seq, &res);
}

static int session_frame_cb(const void *frame, size_t len, const struct wire_frame *f, void *arg)
{
	struct agent *a = arg;

	a->last_rx_ms = clock_wall_ms();
	/* The controller admitted us: only now does the backoff start over. */
	a->backoff_ms = BACKOFF_MIN_MS;
	if (!a->admitted) {
		a->admitted = 1;
		agent_deadman_disarm(a);
		log_info("session to controller established (TLS 1.3, mutual certificates)");
		session_alerts_flush(a);
	}
	session_frame(a, f);
	return a->bev ? 0 : 1;
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	struct agent *a = arg;
	const char *err;

	if (wire_frames_read(bufferevent_get_input(bev), session_frame_cb, a, &err) < 0)
		session_close(a, err);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct agent *a = arg;

	/* The ack has been handed to the kernel: now the record may take its time. */
	agent_after_ack(a);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct agent *a = arg;
	char why[256];
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1, fd = bufferevent_getfd(bev);

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		a->established = 1;
		a->admitted = 0;
		bufferevent_set_timeouts(bev, NULL, NULL);
		a->last_rx_ms = clock_wall_ms();
		log_debug("TLS 1.3 handshake with controller %s done; waiting to be admitted",
			  session_ctl_addr(a));
		session_send_hello(a);
		return;
	}
	e = bufferevent_get_openssl_error(bev);
	tls_close_reason(e, what & BEV_EVENT_EOF, what & BEV_EVENT_TIMEOUT, EVUTIL_SOCKET_ERROR(),
			 "controller", why, sizeof(why));
	if (!a->established && e && ERR_GET_LIB(e) != 0 && !ERR_SYSTEM_ERROR(e)) {
		/* A controller we do not trust (certificate, name, protocol): said
		 * at the level it deserves, where a refused connect is only debug. */
		const char *v = tls_verify_reason(bufferevent_openssl_get_ssl(bev));

		if (v)
			log_warn("refused controller: %s (%s)", v, why);
		else
			log_warn("refused controller: TLS handshake failed: %s", why);
	}
	if (a->established && !a->admitted)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 " before admitting this host (the controller's log says why: is \"%s\" "
			 "in its inventory?)",
			 a->name);
	session_close(a, why);
}

static void session_connect(struct agent *a)
{
	const struct conf_addr *ca = &a->conf.controllers[a->next_ctl];
	struct sockaddr_storage ss = {0};
	socklen_t slen;
	SSL *ssl;

	a->next_ctl = (a->next_ctl + 1) % a->conf.ncontrollers;
	if (ca->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->conf.port);
		memcpy(&sin->sin_addr, ca->a.v4, 4);
		slen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->conf.port);
		memcpy(&sin6->sin6_addr, ca->a.v6, 16);
		slen = sizeof(*sin6);
	}
	ssl = SSL_new(a->ssl_ctx);
	if (!ssl)
		fatal("SSL_new failed");
	/* The controller must present one of the names the configuration
	 * expects (and chain to the site CA, as the context requires). */
	if (!SSL_set1_host(ssl, a->conf.controller_name))
		fatal("SSL_set1_host failed");
	for (int i = 0; i < a->conf.ncontroller_alt; i++)
		if (!SSL_add1_host(ssl, a->conf.controller_alt[i]))
			fatal("SSL_add1_host failed");
	a->bev = bufferevent_openssl_socket_new(a->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!a->bev)
		fatal("bufferevent_openssl_socket_new failed");
	bufferevent_setcb(a->bev, session_read_cb, session_write_cb, session_event_cb, a);
	bufferevent_set_timeouts(a->bev, &connect_timeout, &connect_timeout);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
	log_debug("connecting to %s port %u", ca->text, a->conf.port);
	if (bufferevent_socket_connect(a->bev, (struct sockaddr *)&ss, (int)slen) < 0)
		session_close(a, strerror(errno));
}

static void session_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	session_connect(arg);
}

static void session_schedule_reconnect(struct agent *a)
{
	uint32_t r;
	int delay;
	struct timeval tv;

	/* Full backoff with +-50% jitter, so a restarted controller is not hit by
	 * every agent in the same millisecond. */
	RAND_bytes((unsigned char *)&r, sizeof(r));
	delay = a->backoff_ms / 2 + (int)(r % (uint32_t)a->backoff_ms);
	a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(a->reconnect_ev, &tv);
}

static void session_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	struct agent *a = arg;
	struct msg_heartbeat hb;

	if (!a->bev || !a->established)
		return;
	if (clock_wall_ms() - a->last_rx_ms > (uint64_t)a->conf.dead_ms) {
		session_close(a, "controller silent past the heartbeat timeout");
		return;
	}
	/* What the kernel holds, as the agent last read it back. */
	hb.digest = a->digest;
	hb.controller = a->ctl_name[0] ? a->ctl_name : NULL;
	session_send(a, buf, msg_heartbeat_encode(buf, ++a->seq, &hb));
}

void session_start(struct agent *a)
{
	struct timeval hb = {a->conf.heartbeat_ms / 1000, (a->conf.heartbeat_ms % 1000) * 1000};

	a->backoff_ms = BACKOFF_MIN_MS;
	a->reconnect_ev = evtimer_new(a->base, session_reconnect_cb, a);
	a->heartbeat_ev = event_new(a->base, -1, EV_PERSIST, session_heartbeat_cb, a);
	if (!a->reconnect_ev || !a->heartbeat_ev)
		fatal("out of memory");
	event_add(a->heartbeat_ev, &hb);
	/* Until the controller answers, it is out of reach. */
	agent_deadman_arm(a);
	session_connect(a);
}

void session_stop(struct agent *a)
{
	if (a->bev)
		bufferevent_free(a->bev);
	a->bev = NULL;
	if (a->reconnect_ev)
		event_free(a->reconnect_ev);
	if (a->heartbeat_ev)
		event_free(a->heartbeat_ev);
}
