/* The controller's side of the agents' sessions: the TLS listener,
 * certificate names checked against the inventory, each agent's frames
 * (hello, acks, alerts, check results) and heartbeats. */
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
#include "admit.h"
#include "audit.h"
#include "controller.h"
#include "events.h"
#include "metrics.h"

/* A handshake that makes no progress for 10 s ends; one that trickles
 * ends after 30 s however slowly its bytes come. The second is long, for
 * a controller busy with a herd of reconnecting agents is slow to finish
 * handshakes that are on their way. */
static const struct timeval handshake_timeout = {10, 0};
#define PEER_HANDSHAKE_MS 30000

/* A session may send this many frames in a second, and no more: an agent
 * sends one heartbeat a second, and acks, alerts and check results as it
 * is asked. A peer over the budget floods the loop that every other
 * session shares, and is closed as a protocol violation. */
#define PEER_FRAMES_PER_S 1000
#define PEER_STR_(x) #x
#define PEER_STR(x) PEER_STR_(x)

struct peer {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct host *host; /* set once the certificate name matched */
	int hello;
	char peer[64];
	/* Of its certificate, as tls_peer_serial writes it: RFC 5280 serials
	 * are at most 20 octets; a longer one reads "?" (and can be revoked
	 * only by host). Kept small: there is one per agent. */
	char serial[48];
	uint64_t last_rx_ms;
	uint32_t seq;
	struct event *hb_ev;
	struct admit_slot *slot;  /* while the TLS handshake is under way */
	uint64_t budget_start_ms; /* the second the frame budget counts in */
	int budget_frames;
	int violation; /* closed for breaking the protocol: audited as that */
	/* The newest epoch this session carried, either way: the agent's at
	 * hello, or one bulkheadd sent it. Its acks name no newer one. */
	uint64_t epoch_max;
};

/* What a host reported or did on its own, in the audit log. */
static void peer_audit(struct peer *ac, const char *action, const char *result, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static void peer_audit(struct peer *ac, const char *action, const char *result, const char *fmt,
		       ...)
{
	char actor[128], detail[512];
	va_list ap;

	snprintf(actor, sizeof(actor), "agent %s (%s)", ac->host->name, ac->peer);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	audit_log(ac->ctl->store, clock_wall_ms(), actor, action, ac->host->name, NULL, result,
		  "%s", detail);
}

static void peer_free(struct peer *ac, const char *why)
{
	struct host *h = ac->host;

	if (h && h->peer == ac) {
		log_warn("%s (%s): session closed: %s", h->name, ac->peer, why);
		if (!ac->violation)
			peer_audit(ac, "session lost", mode_name(h->mode), "%s", why);
		h->peer = NULL;
		h->via[0] = '\0';
		ac->ctl->held_changed = 1;
		/* Its commands stay pending: back before their deadline, it gets
		 * them on hello and can still confirm. */
	} else if (!h && admit_log_ok(ac->ctl->admit)) {
		log_warn("agent %s: %s", ac->peer, why);
	}
	admit_release(ac->slot);
	if (ac->hb_ev)
		event_free(ac->hb_ev);
	if (h)
		SSL_shutdown(bufferevent_openssl_get_ssl(ac->bev)); /* close_notify */
	bufferevent_free(ac->bev);
	free(ac);
}

/* The agent broke the protocol: that session alone closes, and the audit
 * log says why. Commands in flight for other hosts go on. */
static void peer_violation(struct peer *ac, const char *why)
{
	if (ac->host && ac->host->peer == ac) {
		ac->violation = 1;
		peer_audit(ac, "protocol violation", mode_name(ac->host->mode),
			   "session closed: %s", why);
	}
	peer_free(ac, why);
}

static int peer_send(struct peer *ac, const void *frame, int len)
{
	if (len < 0)
		return -1;
	return bufferevent_write(ac->bev, frame, (size_t)len);
}

uint32_t peer_last_seq(const struct peer *ac)
{
	return ac->seq;
}

int peer_send_ports(struct peer *ac, uint64_t epoch, enum port_state state,
		    const char *const *ports, int nports, uint32_t confirm_ms)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_port_set m = {epoch, state, {.v = ports, .n = nports}, confirm_ms};

	if (epoch > ac->epoch_max)
		ac->epoch_max = epoch;

	return peer_send(ac, buf, msg_port_set_encode(buf, ++ac->seq, &m));
}

/* The policy's frames as stored, each numbered in this session's sequence
 * (an agent that refuses one acks that number). */
static int peer_send_policy(struct peer *ac, const char *hash)
{
	size_t len = 0, off;
	char *frames = store_policy_get(ac->ctl->store, ac->host->name, hash, &len);
	int rc;

	if (!frames) {
		log_err("%s: policy %.12s is not in the store", ac->host->name, hash);
		return -1;
	}
	for (off = 0; off + sizeof(struct nlmsghdr) <= len;) {
		struct nlmsghdr nlh;

		memcpy(&nlh, frames + off, sizeof(nlh));
		if (nlh.nlmsg_len < sizeof(nlh) || nlh.nlmsg_len > len - off)
			break;
		nlh.nlmsg_seq = ++ac->seq;
		memcpy(frames + off, &nlh, sizeof(nlh));
		off += MNL_ALIGN(nlh.nlmsg_len);
	}
	rc = bufferevent_write(ac->bev, frames, len);
	free(frames);
	return rc;
}

int peer_send_mode(struct peer *ac, uint64_t epoch, enum bulkhead_mode mode, const char *hash,
		   uint32_t confirm_ms)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_set_mode m = {
	    .epoch = epoch,
	    .mode = mode,
	    .hash = hash && *hash ? hash : NULL,
	    .confirm_ms = mode != MODE_ISOLATED ? confirm_ms : 0,
	    .hard = mode == MODE_ISOLATED && ac->host->want_hard,
	};

	if (epoch > ac->epoch_max)
		ac->epoch_max = epoch;
	if (m.hash && strcmp(hash, ac->host->hash) != 0 && peer_send_policy(ac, hash) < 0)
		return -1;
	return peer_send(ac, buf, msg_set_mode_encode(buf, ++ac->seq, &m));
}

int peer_send_confirm(struct peer *ac, uint64_t epoch)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_confirm m = {epoch};

	if (epoch > ac->epoch_max)
		ac->epoch_max = epoch;

	return peer_send(ac, buf, msg_confirm_encode(buf, ++ac->seq, &m));
}

int peer_send_check(struct peer *ac, const struct msg_check *k)
{
	static char buf[WIRE_MAX_FRAME];

	return peer_send(ac, buf, msg_check_encode(buf, ++ac->seq, k));
}

/* Adopts what the agent reports as what is wanted of it. */
static void peer_adopt(struct ctl *c, struct host *h)
{
	h->want_mode = h->mode;
	h->want_epoch = h->epoch;
	snprintf(h->want_hash, sizeof(h->want_hash), "%s", h->hash);
	h->hold_confirm = 0;
	store_hosts_want(c->store, &h, 1);
}

/* -1 (with *why) when the hello names another host than the certificate:
 * the certificate's name is the one that counts, and an agent that claims
 * another is misconfigured or worse. */
static int peer_hello(struct peer *ac, const struct msg_hello *m, const char **why)
{
	struct host *h = ac->host;

	if (m->name && strcmp(m->name, h->name) != 0) {
		log_warn("%s (%s): refused: its hello names host \"%s\", its certificate \"%s\"",
			 h->name, ac->peer, m->name, h->name);
		peer_audit(ac, "refused", "name mismatch",
			   "hello names host \"%s\", certificate serial %s names \"%s\"", m->name,
			   ac->serial, h->name);
		*why = "the hello names another host than the certificate";
		return -1;
	}
	/* Another controller may have commanded it since: the store knows. */
	if (ac->ctl->store->ops->shared)
		store_hosts_load(ac->ctl->store, h, 1);
	ac->hello = 1;
	if (m->epoch > ac->epoch_max)
		ac->epoch_max = m->epoch;
	h->mode = m->mode;
	h->epoch = m->epoch;
	h->hard = m->hard;
	/* A change the session dropped before it was confirmed still waits. */
	h->pending_confirm = m->pending;
	snprintf(h->hash, sizeof(h->hash), "%s", m->hash);
	h->last_seen_ms = clock_wall_ms();
	store_epoch_raise(ac->ctl->store, m->epoch);
	log_info("%s (%s): connected, %s, mode %s, epoch %" PRIu64 "%s%.12s, certificate serial %s",
		 h->name, ac->peer, m->software ? m->software : "unknown software",
		 mode_name(m->mode), m->epoch, h->hash[0] ? ", policy " : "", h->hash, ac->serial);
	/* With controllers sharing a store, the row says which one it is on. */
	peer_audit(ac, "connected", mode_name(m->mode),
		   "epoch %" PRIu64 ", policy %.12s, %s, certificate serial %s%s%s", m->epoch,
		   h->hash[0] ? h->hash : "none", m->software ? m->software : "", ac->serial,
		   ac->ctl->store->ops->shared ? ", on " : "",
		   ac->ctl->store->ops->shared ? ac->ctl->name : "");
	if (h->want_epoch > m->epoch) {
		/* Commanded while it was away: it gets the command now. */
		log_info("%s: sending pending %s (epoch %" PRIu64 ")", h->name,
			 mode_name(h->want_mode), h->want_epoch);
		peer_send_mode(ac, h->want_epoch, h->want_mode, h->want_hash,
			       CTL_CONFIRM_MS_DEFAULT);
	} else if (m->mode != h->want_mode && h->want_mode == MODE_ISOLATED) {
		/* The agent holds a newer epoch (a restored database, say) but we
		 * want it isolated: isolation wins, under an epoch it will accept. */
		h->want_epoch = store_epoch_next(ac->ctl->store);
		log_warn("%s: agent is %s at epoch %" PRIu64 " but is commanded isolated; "
			 "re-isolating at epoch %" PRIu64,
			 h->name, mode_name(m->mode), m->epoch, h->want_epoch);
		store_hosts_want(ac->ctl->store, &h, 1);
		peer_send_mode(ac, h->want_epoch, MODE_ISOLATED, NULL, 0);
	} else if (h->pending_confirm && m->epoch == h->want_epoch) {
		if (!h->hold_confirm)
			peer_send_confirm(ac, m->epoch);
	} else if (m->epoch > h->want_epoch || m->mode != h->want_mode ||
		   strcmp(h->hash, h->want_hash) != 0) {
		/* The agent holds a newer state than ours, or rolled a change back
		 * while away: take its word rather than undo it. */
		peer_adopt(ac->ctl, h);
	}
	ctl_host_seen(ac->ctl, h);
	return 0;
}

/* The switch committed the ports it opened at epoch: the hosts behind them
 * are no longer held there. */
static void peer_ports_released(struct peer *ac, uint64_t epoch)
{
	struct ctl *c = ac->ctl;

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];

		if (strcmp(h->port_sw, ac->host->name) != 0 || h->port_open_epoch != epoch)
			continue;
		log_info("%s: port %s on %s is open again", h->name, h->port_name, ac->host->name);
		h->port_sw[0] = h->port_name[0] = '\0';
		h->port_open_epoch = 0;
		store_hosts_want(c->store, &h, 1);
	}
}

/* An ack about the switch's host-facing ports, not about its own mode. */
static void peer_port_ack(struct peer *ac, uint32_t seq, const struct msg_ack *k)
{
	const char *err = k->error ? k->error : strerror((int)k->result);

	peer_audit(ac, "port", ack_status_name(k->status), "%s %s%s%s",
		   port_state_name(k->port_state), msg_strs_first(&k->ports, "?"),
		   k->result ? ": " : "", k->result ? err : "");
	if (k->status == ACK_PENDING_CONFIRM) {
		/* Its answer is a plain ack: the sequence number says it is this one. */
		peer_send_confirm(ac, k->epoch);
		ac->host->port_confirm_seq = peer_last_seq(ac);
		ac->host->port_confirm_epoch = k->epoch;
	} else if (k->status == ACK_ROLLED_BACK)
		log_warn("%s: ports isolated again, their opening was not confirmed: %s",
			 ac->host->name, k->error ? k->error : "");
	command_port_acked(ac->ctl, ac->host, seq, k->result, k->error);
}

static void peer_ack(struct peer *ac, uint32_t seq, const struct msg_ack *k)
{
	struct host *h = ac->host;

	if (k->port) {
		peer_port_ack(ac, seq, k);
		return;
	}
	if (h->port_confirm_seq && seq == h->port_confirm_seq) {
		h->port_confirm_seq = 0;
		peer_audit(ac, "port", ack_status_name(k->status),
			   "ports opened at epoch %" PRIu64 " committed", h->port_confirm_epoch);
		if (k->status == ACK_COMMITTED)
			peer_ports_released(ac, h->port_confirm_epoch);
		return;
	}
	h->mode = k->mode;
	h->epoch = k->epoch;
	h->hard = k->hard;
	snprintf(h->hash, sizeof(h->hash), "%s", k->hash ? k->hash : "");
	h->pending_confirm = k->status == ACK_PENDING_CONFIRM;
	if (!k->persisted)
		log_warn("%s: epoch %" PRIu64 " applied but not persisted on the host", h->name,
			 k->epoch);
	if (k->status == ACK_ROLLED_BACK) {
		log_warn("%s: epoch %" PRIu64 " rolled back to %s: %s", h->name, k->epoch,
			 mode_name(k->mode), k->error ? k->error : "");
		peer_audit(ac, "rolled back", mode_name(k->mode), "epoch %" PRIu64 ": %s", k->epoch,
			   k->error ? k->error : "");
		metrics_rollback(ac->ctl->metrics);
		peer_adopt(ac->ctl, h);
	}
	ctl_host_seen(ac->ctl, h);
	/* The change arrived and the path still works: confirm it, unless an
	 * operator asked to confirm by hand. */
	if (h->pending_confirm && k->epoch == h->want_epoch && !h->hold_confirm)
		peer_send_confirm(ac, k->epoch);
	command_host_acked(ac->ctl, h, seq, k);
}

/* Tampering undone, a rollback, a dead-man isolation: logged and audited. */
static void peer_alert(struct peer *ac, const struct msg_alert *m)
{
	char action[48];

	if (m->kind == ALERT_TAMPER)
		ac->host->tampers++;
	log_fields(LOG_LVL_WARN, &(struct log_field){"HOST", ac->host->name}, 1, "%s: ALERT %s: %s",
		   ac->host->name, alert_kind_name(m->kind), m->text);
	snprintf(action, sizeof(action), "alert: %s", alert_kind_name(m->kind));
	metrics_alert(ac->ctl->metrics, m->kind);
	events_alert(ac->ctl->events, ac->host->name, m->kind, m->text);
	peer_audit(ac, action, mode_name(ac->host->mode), "%s", m->text);
}

/* An ack answers a frame of this session, under an epoch the session
 * carried (the agent's own at hello, or one sent to it): anything else is
 * made up. Checked without the store: there is an ack per host. */
static int peer_ack_check(struct peer *ac, uint32_t seq, const struct msg_ack *k, const char **why)
{
	if (seq > ac->seq) {
		*why = "ack for a frame that was never sent";
		return -1;
	}
	if (k->epoch > ac->epoch_max) {
		*why = "ack for an epoch that was never issued";
		return -1;
	}
	return 0;
}

/* Frames this second, within PEER_FRAMES_PER_S; -1 once over. */
static int peer_budget_spend(struct peer *ac)
{
	uint64_t now = clock_mono_ms();

	if (now - ac->budget_start_ms >= 1000) {
		ac->budget_start_ms = now;
		ac->budget_frames = 0;
	}
	return ++ac->budget_frames > PEER_FRAMES_PER_S ? -1 : 0;
}

/* One frame, decoded by its kind; -1 when the session must close (with
 * *why): a frame that does not decode, or does not belong. */
static int peer_frame(struct peer *ac, const struct wire_frame *f, const char **why)
{
	union msg m;

	if (peer_budget_spend(ac) < 0) {
		*why = "frame flood: more than " PEER_STR(PEER_FRAMES_PER_S) " frames in a second";
		return -1;
	}
	if (msg_decode(f, &m, why) < 0)
		return -1;
	*why = "unexpected frame";
	if (f->type != WIRE_HELLO && f->type != WIRE_HEARTBEAT && !ac->hello)
		return -1;
	switch (f->type) {
	case WIRE_HELLO: return peer_hello(ac, &m.hello, why);
	case WIRE_HEARTBEAT:
		snprintf(ac->host->digest, sizeof(ac->host->digest), "%s",
			 m.heartbeat.digest ? m.heartbeat.digest : "");
		if (m.heartbeat.controller)
			snprintf(ac->host->via, sizeof(ac->host->via), "%s", m.heartbeat.controller);
		return 0;
	case WIRE_ALERT: peer_alert(ac, &m.alert); return 0;
	case WIRE_CHECK_RESULT: playbook_check_result(ac->ctl, ac->host, &m.check_result); return 0;
	case WIRE_ACK:
		if (peer_ack_check(ac, f->nlh->nlmsg_seq, &m.ack, why) < 0)
			return -1;
		peer_ack(ac, f->nlh->nlmsg_seq, &m.ack);
		return 0;
	default: return -1;
	}
}

static int peer_frame_cb(const void *frame, size_t len, const struct wire_frame *f, void *arg)
{
	struct peer *ac = arg;
	const char *err;

	ac->last_rx_ms = clock_wall_ms();
	ac->host->last_seen_ms = ac->last_rx_ms;
	if (peer_frame(ac, f, &err) < 0) {
		peer_violation(ac, err);
		return 1;
	}
	return 0;
}

static void peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer *ac = arg;
	const char *err;

	if (wire_frames_read(bufferevent_get_input(bev), peer_frame_cb, ac, &err) < 0)
		peer_violation(ac, err);
}

static void peer_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	struct peer *ac = arg;

	if (clock_wall_ms() - ac->last_rx_ms > (uint64_t)ac->ctl->conf.dead_ms) {
		/* Part of a frame and then nothing: a stall, not a lost host. */
		if (evbuffer_get_length(bufferevent_get_input(ac->bev)) > 0)
			peer_violation(ac, "stalled in the middle of a frame");
		else
			peer_free(ac, "agent silent past the heartbeat timeout");
		return;
	}
	peer_send(ac, buf,
		  msg_heartbeat_encode(buf, ++ac->seq,
				       &(struct msg_heartbeat){.controller = ac->ctl->name}));
}

/* A half-open session's time is up, or its place is needed. */
static void peer_expire(void *owner, const char *why)
{
	peer_free(owner, why);
}

/* A revoked host or certificate: refused and audited (1), or 0. */
static int peer_revoked_refuse(struct peer *ac, struct host *h)
{
	const struct revoked_entry *e = revoked_find(&ac->ctl->revoked, h->name, ac->serial);

	if (!e)
		return 0;
	log_warn("refused agent %s: %s (certificate serial %s) is revoked (%s line %d%s%s)",
		 ac->peer, h->name, ac->serial, ac->ctl->conf.revoked, e->line,
		 e->reason ? ": " : "", e->reason ? e->reason : "");
	audit_log(ac->ctl->store, clock_wall_ms(), "controller", "refused", h->name, e->reason,
		  "revoked", "agent %s, certificate serial %s, revoked by %s %s", ac->peer,
		  ac->serial, e->host ? "host" : "serial", e->host ? e->host : e->serial);
	return 1;
}

void peers_revoked_drop(struct ctl *c)
{
	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];
		const struct revoked_entry *e;
		char why[512];

		if (!h->peer || !(e = revoked_find(&c->revoked, h->name, h->peer->serial)))
			continue;
		snprintf(why, sizeof(why), "certificate serial %s revoked (by %s %s)%s%s",
			 h->peer->serial, e->host ? "host" : "serial",
			 e->host ? e->host : e->serial, e->reason ? ": " : "",
			 e->reason ? e->reason : "");
		audit_log(c->store, clock_wall_ms(), "controller", "revoked", h->name, e->reason,
			  "session closed", "agent %s, %s", h->peer->peer, why);
		peer_free(h->peer, why);
	}
}

/* The handshake verified the chain; the certificate's name must be an inventory host. */
static int peer_admit(struct peer *ac)
{
	SSL *ssl = bufferevent_openssl_get_ssl(ac->bev);
	char name[256];
	struct host *h;
	int one = 1;

	if (tls_peer_name(ssl, name, sizeof(name)) < 0) {
		log_warn("refused agent %s: no verified certificate name", ac->peer);
		metrics_tls_refused(ac->ctl->metrics, MTLS_NO_CERT);
		return -1;
	}
	h = ctl_host_find(ac->ctl, name);
	if (!h) {
		log_warn("refused agent %s: certificate name \"%s\" is not in the inventory",
			 ac->peer, name);
		metrics_tls_refused(ac->ctl->metrics, MTLS_UNKNOWN_NAME);
		return -1;
	}
	if (tls_peer_serial(ssl, ac->serial, sizeof(ac->serial)) < 0)
		snprintf(ac->serial, sizeof(ac->serial), "?");
	if (peer_revoked_refuse(ac, h))
		return -1;
	/* Only now, authenticated: a handshake in progress or refused never
	 * touches the session it would replace. */
	if (h->peer) {
		char why[320];

		log_warn(
		    "%s: a new session from %s (certificate serial %s) replaces the one from %s",
		    h->name, ac->peer, ac->serial, h->peer->peer);
		snprintf(why, sizeof(why),
			 "replaced by a new authenticated session from %s (certificate serial %s)",
			 ac->peer, ac->serial);
		peer_free(h->peer, why);
	}
	bufferevent_set_timeouts(ac->bev, NULL, NULL);
	ac->host = h;
	h->peer = ac;
	h->on[0] = '\0';
	h->claim = 1;
	ac->ctl->held_changed = 1;
	ac->last_rx_ms = clock_wall_ms();
	setsockopt(bufferevent_getfd(ac->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ac->hb_ev = event_new(ac->ctl->base, -1, EV_PERSIST, peer_heartbeat_cb, ac);
	if (!ac->hb_ev)
		fatal("out of memory");
	event_add(ac->hb_ev, ac->ctl->hb_tv);
	return 0;
}

static void peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer *ac = arg;
	char why[256];
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED) {
		admit_release(ac->slot);
		ac->slot = NULL;
		if (peer_admit(ac) < 0)
			peer_free(ac, "refused");
		return;
	}
	e = bufferevent_get_openssl_error(bev);
	tls_close_reason(e, what & BEV_EVENT_EOF, what & BEV_EVENT_TIMEOUT, EVUTIL_SOCKET_ERROR(),
			 "agent", why, sizeof(why));
	if (e && !ac->host && admit_log_ok(ac->ctl->admit)) {
		const char *v = tls_verify_reason(bufferevent_openssl_get_ssl(bev));

		/* The verify result says why a certificate was not good enough
		 * (expired, not yet valid, unknown CA); the error only that it was not. */
		log_warn("refused agent %s: TLS handshake failed: %s%s%s", ac->peer, why,
			 v ? ": " : "", v ? v : "");
	}
	if (ac->host && (what & BEV_EVENT_EOF) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		snprintf(why, sizeof(why), "closed in the middle of a frame (%zu bytes of it sent)",
			 evbuffer_get_length(bufferevent_get_input(bev)));
		peer_violation(ac, why);
		return;
	}
	if (!ac->host)
		metrics_handshake_failed(ac->ctl->metrics, e, what);
	peer_free(ac, why);
}

static void peer_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			   int salen, void *arg)
{
	struct ctl *c = arg;
	struct peer *ac = xcalloc(1, sizeof(*ac));
	char addr[INET6_ADDRSTRLEN] = "?";
	SSL *ssl;

	/* Over a half-open limit: closed before any TLS state exists. */
	ac->slot = admit_take(c->admit, sa, ac);
	if (!ac->slot) {
		evutil_closesocket(fd);
		free(ac);
		return;
	}
	ssl = SSL_new(c->ssl_ctx);
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
	bufferevent_setcb(ac->bev, peer_read_cb, NULL, peer_event_cb, ac);
	/* A peer that never finishes its handshake does not hold a slot for long. */
	bufferevent_set_timeouts(ac->bev, &handshake_timeout, NULL);
	bufferevent_enable(ac->bev, EV_READ | EV_WRITE);
}

int peers_listen(struct ctl *c)
{
	struct sockaddr_storage ss = {0};
	struct conf_addr la;
	socklen_t slen;
	int fd, one = 1, zero = 0;
	struct timeval hb = clock_tv_ms((uint64_t)c->conf.heartbeat_ms);

	/* Every session's heartbeat has the same interval: one queue for all,
	 * O(1) to re-arm, where a heap of 30,000 timers is O(log n). */
	c->hb_tv = event_base_init_common_timeout(c->base, &hb);
	c->admit = admit_new(c->base, c->conf.handshake_max, c->conf.handshake_per_source,
			     PEER_HANDSHAKE_MS, peer_expire);
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
	c->peer_listener =
	    evconnlistener_new(c->base, peer_accept_cb, c, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!c->peer_listener)
		fatal("evconnlistener_new failed");
	log_info("listening for agents on %s port %u", c->conf.listen, c->conf.port);
	return 0;
}

void peers_close(struct ctl *c)
{
	for (int i = 0; i < c->nhosts; i++)
		if (c->hosts[i].peer)
			peer_free(c->hosts[i].peer, "controller shutting down");
	if (c->peer_listener)
		evconnlistener_free(c->peer_listener);
	admit_free(c->admit); /* the sessions still in their handshake */
	c->admit = NULL;
}
