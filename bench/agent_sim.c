/* agent-sim: many agents in one process, to measure one bulkheadd at the
 * scale of a data center. Every session is a real mutual-TLS session with
 * its own certificate from the site CA (PKI/NAME.crt and NAME.key, as
 * `bulkhead pki issue` writes them) and its own source address. Each runs
 * the agent's own mode machine (agents/mode.c) over a backend that changes
 * nothing, and speaks the agent's protocol: hello, heartbeats both ways,
 * policies, SET_MODE and CONFIRM, each answered with the ack a real agent
 * would send, and a rollback when a change is not confirmed in time.
 *
 * usage: agent-sim -c ADDR -p PKI -s SOURCE [-P PORT] [-N NAME] [-H MS]
 *                  [-i N] NAMES-FILE
 * NAMES-FILE holds one host name a line (the first word of each line). The
 * n-th session binds SOURCE + n (IPv4 or IPv6): give the simulator's
 * namespace a local route for the whole range. It runs until SIGINT or
 * SIGTERM and prints a line each time every session is up again. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "mode.h"

/* The agent's reconnection backoff (agents/session.c). */
#define SIM_BACKOFF_MIN_MS 250
#define SIM_BACKOFF_MAX_MS 4000

struct sim;

struct sess {
	struct sim *sim;
	char *name;
	X509 *cert;
	EVP_PKEY *key;
	struct sockaddr_storage src;
	struct bufferevent *bev;
	bool connecting; /* counted in sim->inflight */
	bool up;	 /* admitted: a frame came from the controller */
	uint32_t seq;
	int backoff_ms;
	uint64_t last_rx_ms;
	struct mode_machine m;
	struct policy_wire_rx *rx;
	struct event *hb_ev, *retry_ev, *rollback_ev;
};

struct sim {
	struct event_base *base;
	SSL_CTX *ctx;
	const char *ctl_name;
	struct sockaddr_storage ctl;
	socklen_t ctl_len;
	const struct timeval *hb_tv; /* a common timeout: O(1) for every session */
	uint64_t dead_ms;
	struct sess *s;
	int n, up;
	int inflight, max_inflight;
	int *queue, qhead, qlen; /* sessions waiting for a handshake slot */
	uint64_t since_ms;	 /* first session lost since all were up, or start */
	uint64_t acks, frames;
};

/* ---- the backend: the machine's world is only what it is told ---- */

static int be_mode_apply(void *arg, enum bulkhead_mode mode, uint64_t *apply_us)
{
	*apply_us = 0;
	return 0;
}

static int be_table_install(void *arg, enum bulkhead_mode mode, const struct host_policy *hp)
{
	return 0;
}

static int be_hard_plan(void *arg, struct agent_hold *out, int max, char *kept, size_t kept_len)
{
	return 0;
}

static void be_holds(void *arg, const struct agent_hold *h, int n)
{
}

static int be_record(void *arg)
{
	return 0;
}

static int be_policy_save(void *arg, const struct host_policy *hp)
{
	return 0;
}

static struct host_policy *be_policy_load(void *arg, const char *hash)
{
	return NULL;
}

static void be_policy_gc(void *arg, const char *keep)
{
}

static void be_rollback_arm(void *arg, uint32_t ms)
{
	struct sess *s = arg;
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(s->rollback_ev, &tv);
}

static void be_rollback_disarm(void *arg)
{
	struct sess *s = arg;

	evtimer_del(s->rollback_ev);
}

static void be_alert(void *arg, enum alert_kind kind, const char *text)
{
}

static const struct mode_backend sim_backend = {
    .mode_apply = be_mode_apply,
    .table_install = be_table_install,
    .hard_plan = be_hard_plan,
    .hard_apply = be_holds,
    .hard_release = be_holds,
    .record = be_record,
    .policy_save = be_policy_save,
    .policy_load = be_policy_load,
    .policy_gc = be_policy_gc,
    .rollback_arm = be_rollback_arm,
    .rollback_disarm = be_rollback_disarm,
    .alert = be_alert,
};

/* ---- sessions ---- */

static void sess_connect(struct sess *s);

static void sess_send(struct sess *s, const void *frame, int len)
{
	if (s->bev && len > 0)
		bufferevent_write(s->bev, frame, (size_t)len);
}

static void sess_ack(struct sess *s, uint32_t seq, const struct mode_result *res)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_ack k;

	mode_ack_fill(&s->m, res, &k);
	sess_send(s, buf, msg_ack_encode(buf, seq, &k));
	s->sim->acks++;
}

static void sim_all_up(struct sim *sim)
{
	printf("up %d/%d in %" PRIu64 " ms\n", sim->up, sim->n, clock_mono_ms() - sim->since_ms);
	fflush(stdout);
}

/* A handshake slot is free: the next session waiting gets it. */
static void sim_slot_free(struct sim *sim)
{
	while (sim->qlen && sim->inflight < sim->max_inflight) {
		struct sess *s = &sim->s[sim->queue[sim->qhead]];

		sim->qhead = (sim->qhead + 1) % sim->n;
		sim->qlen--;
		sess_connect(s);
	}
}

static void sim_enqueue(struct sess *s)
{
	struct sim *sim = s->sim;

	sim->queue[(sim->qhead + sim->qlen) % sim->n] = (int)(s - sim->s);
	sim->qlen++;
	sim_slot_free(sim);
}

static void sess_close(struct sess *s)
{
	struct sim *sim = s->sim;
	uint32_t r;
	struct timeval tv;

	if (s->bev)
		bufferevent_free(s->bev);
	s->bev = NULL;
	evtimer_del(s->hb_ev);
	if (s->connecting) {
		s->connecting = false;
		sim->inflight--;
	}
	if (s->up) {
		if (sim->up == sim->n)
			sim->since_ms = clock_mono_ms();
		s->up = false;
		sim->up--;
	}
	/* Back off with jitter in [b/2, 3b/2), doubling up to the cap. */
	RAND_bytes((unsigned char *)&r, sizeof(r));
	tv = clock_tv_ms((uint64_t)(s->backoff_ms / 2) + r % (uint32_t)s->backoff_ms);
	if (s->backoff_ms < SIM_BACKOFF_MAX_MS)
		s->backoff_ms *= 2;
	evtimer_add(s->retry_ev, &tv);
	sim_slot_free(sim);
}

static void sess_frame(struct sess *s, const struct wire_frame *f)
{
	struct mode_result res;
	union msg m;
	const char *err;
	uint32_t seq = f->nlh->nlmsg_seq;

	if (f->type == WIRE_POLICY) {
		int rc = policy_wire_rx_add(s->rx, f, &err);

		if (rc < 0) {
			res = (struct mode_result){.status = ACK_REFUSED, .error = EBADMSG};
			snprintf(res.message, sizeof(res.message), "%s", err);
			sess_ack(s, seq, &res);
		} else if (rc == 1) {
			mode_stage(&s->m, policy_wire_rx_take(s->rx));
		}
		return;
	}
	if (msg_decode(f, &m, &err) < 0) {
		log_warn("%s: malformed frame from the controller: %s", s->name, err);
		sess_close(s);
		return;
	}
	switch (f->type) {
	case WIRE_HEARTBEAT: return;
	case WIRE_SET_MODE: mode_set_msg(&s->m, &m.set_mode, &res); break;
	case WIRE_CONFIRM: mode_confirm(&s->m, m.confirm.epoch, false, &res); break;
	default:
		log_warn("%s: %s frames are not simulated", s->name, wire_type_name(f->type));
		return;
	}
	sess_ack(s, seq, &res);
}

static int sess_frame_cb(const void *frame, size_t len, const struct wire_frame *f, void *arg)
{
	struct sess *s = arg;
	struct sim *sim = s->sim;

	s->last_rx_ms = clock_mono_ms();
	sim->frames++;
	if (!s->up) {
		s->up = true;
		s->backoff_ms = SIM_BACKOFF_MIN_MS;
		if (++sim->up == sim->n)
			sim_all_up(sim);
	}
	sess_frame(s, f);
	return s->bev ? 0 : 1;
}

static void sess_read_cb(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	const char *err;

	if (wire_frames_read(bufferevent_get_input(bev), sess_frame_cb, s, &err) < 0) {
		log_warn("%s: %s", s->name, err);
		sess_close(s);
	}
}

static void sess_hello(struct sess *s)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_hello h = {.name = s->name, .software = "bulkhead-agent-sim " BULKHEAD_VERSION};

	mode_hello_fill(&s->m, &h);
	sess_send(s, buf, msg_hello_encode(buf, ++s->seq, &h));
}

static void sess_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;
	struct sim *sim = s->sim;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->connecting = false;
		sim->inflight--;
		bufferevent_set_timeouts(bev, NULL, NULL);
		s->last_rx_ms = clock_mono_ms();
		sess_hello(s);
		evtimer_add(s->hb_ev, sim->hb_tv);
		sim_slot_free(sim);
		return;
	}
	sess_close(s);
}

static void sess_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	struct sess *s = arg;
	struct msg_heartbeat hb = {NULL};

	if (clock_mono_ms() - s->last_rx_ms > s->sim->dead_ms) {
		log_warn("%s: controller silent past the heartbeat timeout", s->name);
		sess_close(s);
		return;
	}
	sess_send(s, buf, msg_heartbeat_encode(buf, ++s->seq, &hb));
	evtimer_add(s->hb_ev, s->sim->hb_tv);
}

static void sess_rollback_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	struct mode_result res;

	mode_rollback(&s->m, "not confirmed in time", &res);
	sess_ack(s, 0, &res);
}

static void sess_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	sim_enqueue(arg);
}

static void sess_connect(struct sess *s)
{
	static const struct timeval handshake_timeout = {10, 0};
	struct sim *sim = s->sim;
	int fd = socket(s->src.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t slen = s->src.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						     : sizeof(struct sockaddr_in6);
	SSL *ssl;

	s->connecting = true;
	sim->inflight++;
	if (fd < 0 || bind(fd, (struct sockaddr *)&s->src, slen) < 0) {
		log_warn("%s: binding its source address: %s", s->name, strerror(errno));
		if (fd >= 0)
			close(fd);
		sess_close(s);
		return;
	}
	ssl = SSL_new(sim->ctx);
	if (!ssl || SSL_use_certificate(ssl, s->cert) != 1 || SSL_use_PrivateKey(ssl, s->key) != 1)
		fatal("%s: SSL setup failed", s->name);
	SSL_set1_host(ssl, sim->ctl_name);
	s->bev = bufferevent_openssl_socket_new(sim->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev)
		fatal("out of memory");
	bufferevent_setcb(s->bev, sess_read_cb, NULL, sess_event_cb, s);
	bufferevent_set_timeouts(s->bev, &handshake_timeout, &handshake_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&sim->ctl, (int)sim->ctl_len) < 0)
		sess_close(s);
}

/* ---- setup ---- */

/* addr + n, in place: the n-th session's source. */
static void addr_add(struct sockaddr_storage *ss, uint32_t n)
{
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_addr.s_addr = htonl(ntohl(sin->sin_addr.s_addr) + n);
	} else {
		uint8_t *b = ((struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		uint32_t carry = n;

		for (int i = 15; i >= 0 && carry; i--) {
			carry += b[i];
			b[i] = (uint8_t)carry;
			carry >>= 8;
		}
	}
}

static int addr_parse(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

static void sess_init(struct sim *sim, struct sess *s, char *name, const char *pki,
		      const struct sockaddr_storage *src, uint32_t n)
{
	char path[4096];
	FILE *f;

	s->sim = sim;
	s->name = name;
	snprintf(path, sizeof(path), "%s/%s.crt", pki, name);
	f = fopen(path, "r");
	s->cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	snprintf(path + strlen(path) - 4, 5, ".key");
	f = fopen(path, "r");
	s->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!s->cert || !s->key)
		fatal("%s: cannot read its certificate and key from %s", name, pki);
	s->src = *src;
	addr_add(&s->src, n);
	s->backoff_ms = SIM_BACKOFF_MIN_MS;
	s->rx = policy_wire_rx_new();
	mode_init(&s->m, &sim_backend, s);
	s->hb_ev = evtimer_new(sim->base, sess_heartbeat_cb, s);
	s->retry_ev = evtimer_new(sim->base, sess_retry_cb, s);
	s->rollback_ev = evtimer_new(sim->base, sess_rollback_cb, s);
	if (!s->rx || !s->hb_ev || !s->retry_ev || !s->rollback_ev)
		fatal("out of memory");
}

static char **names_read(const char *path, int *n)
{
	FILE *f = fopen(path, "r");
	char line[512], word[256], **v = NULL;
	int cap = 0;

	if (!f)
		fatal("%s: %s", path, strerror(errno));
	*n = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s", word) == 1 && word[0] != '#') {
			if (*n == cap) {
				cap = cap ? 2 * cap : 1024;
				v = realloc(v, (size_t)cap * sizeof(*v));
				if (!v)
					fatal("out of memory");
			}
			v[(*n)++] = strdup(word);
		}
	fclose(f);
	return v;
}

static void sim_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct sim *sim = arg;

	fprintf(stderr, "agent-sim: %d/%d up, %" PRIu64 " frames in, %" PRIu64 " acks out\n",
		sim->up, sim->n, sim->frames, sim->acks);
	if (sig != SIGUSR1)
		event_base_loopbreak(sim->base);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: agent-sim -c ADDR -p PKI -s SOURCE [-P PORT] [-N NAME] [-H MS] "
		     "[-i INFLIGHT] NAMES-FILE\n"
		     "  -c ADDR     the controller's address\n"
		     "  -P PORT     its agent port (7443)\n"
		     "  -N NAME     the name its certificate must carry (bulkheadd)\n"
		     "  -p PKI      directory with ca.crt and NAME.crt, NAME.key for every name\n"
		     "  -s SOURCE   the first session's source address; the n-th uses SOURCE+n\n"
		     "  -H MS       heartbeat interval (1000); silent 5 intervals: reconnect\n"
		     "  -i N        handshakes in flight at most (256)\n");
}

int main(int argc, char **argv)
{
	struct sim sim = {.ctl_name = "bulkheadd", .max_inflight = 256};
	const char *ctl = NULL, *pki = NULL, *source = NULL;
	struct sockaddr_storage src;
	socklen_t srclen;
	struct timeval hb = {1, 0};
	struct event *sigs[3];
	char ca[4096], **names;
	uint16_t port = 7443;
	int c;

	log_init("agent-sim", 0);
	while ((c = getopt(argc, argv, "c:P:N:p:s:H:i:h")) != -1) {
		switch (c) {
		case 'c': ctl = optarg; break;
		case 'P': port = (uint16_t)atoi(optarg); break;
		case 'N': sim.ctl_name = optarg; break;
		case 'p': pki = optarg; break;
		case 's': source = optarg; break;
		case 'H': hb = clock_tv_ms((uint64_t)atoi(optarg)); break;
		case 'i': sim.max_inflight = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!ctl || !pki || !source || optind != argc - 1 || sim.max_inflight < 1) {
		usage(stderr);
		return 2;
	}
	if (addr_parse(ctl, port, &sim.ctl, &sim.ctl_len) < 0 ||
	    addr_parse(source, 0, &src, &srclen) < 0 || src.ss_family != sim.ctl.ss_family)
		fatal("-c and -s take addresses of one family");
	names = names_read(argv[optind], &sim.n);
	if (sim.n == 0)
		fatal("%s: no names", argv[optind]);
	signal(SIGPIPE, SIG_IGN);
	sim.base = event_base_new();
	if (!sim.base)
		fatal("event_base_new failed");
	sim.hb_tv = event_base_init_common_timeout(sim.base, &hb);
	sim.dead_ms = 5 * (uint64_t)(hb.tv_sec * 1000 + hb.tv_usec / 1000);
	/* The context holds the CA and TLS 1.3; each session brings its own
	 * certificate, so the context is made from the first. */
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	{
		char crt[4096], key[4096];

		snprintf(crt, sizeof(crt), "%s/%s.crt", pki, names[0]);
		snprintf(key, sizeof(key), "%s/%s.key", pki, names[0]);
		sim.ctx = tls_ctx_new(0, ca, crt, key);
	}
	if (!sim.ctx)
		return 1;
	sim.s = calloc((size_t)sim.n, sizeof(*sim.s));
	sim.queue = calloc((size_t)sim.n, sizeof(*sim.queue));
	if (!sim.s || !sim.queue)
		fatal("out of memory");
	for (int i = 0; i < sim.n; i++)
		sess_init(&sim, &sim.s[i], names[i], pki, &src, (uint32_t)i);
	sigs[0] = evsignal_new(sim.base, SIGINT, sim_signal_cb, &sim);
	sigs[1] = evsignal_new(sim.base, SIGTERM, sim_signal_cb, &sim);
	sigs[2] = evsignal_new(sim.base, SIGUSR1, sim_signal_cb, &sim);
	for (int i = 0; i < 3; i++)
		event_add(sigs[i], NULL);
	sim.since_ms = clock_mono_ms();
	for (int i = 0; i < sim.n; i++)
		sim_enqueue(&sim.s[i]);
	event_base_dispatch(sim.base);
	for (int i = 0; i < sim.n; i++) {
		struct sess *s = &sim.s[i];

		if (s->bev)
			bufferevent_free(s->bev);
		event_free(s->hb_ev);
		event_free(s->retry_ev);
		event_free(s->rollback_ev);
		policy_wire_rx_free(s->rx);
		mode_clear(&s->m);
		X509_free(s->cert);
		EVP_PKEY_free(s->key);
		free(s->name);
	}
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	free(sim.s);
	free(sim.queue);
	free(names);
	SSL_CTX_free(sim.ctx);
	event_base_free(sim.base);
	return 0;
}
