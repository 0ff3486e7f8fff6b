/* bh-hostile: a hostile agent for tests. With a valid agent certificate it
 * opens one session per attack, says hello as the agent would, then breaks
 * the protocol, and reports whether (and how soon) bulkheadd closed that
 * session. Or it floods bulkheadd with TCP connections that never finish
 * their TLS handshake. Everything it does is bounded in count and time.
 *
 * usage: bh-hostile -c ADDR [-p PORT] -a CA -C CERT -k KEY [-w SECS] ATTACK...
 *        bh-hostile -c ADDR [-p PORT] flood N SECS [trickle]
 * attacks (each on a session of its own, in order):
 *   truncated-close  half a frame, then close
 *   truncated-stall  half a frame, then nothing
 *   oversized        a frame length over the maximum
 *   unaligned        a frame length that is not a multiple of 4
 *   unknown-type     a frame type no side knows
 *   bad-version      a frame of another protocol version
 *   bad-attr         an attribute of the wrong size
 *   garbage          bytes that are no frame at all
 *   heartbeat-flood  heartbeats as fast as the session takes them
 *   ack-epoch        an ack for an epoch never issued
 *   ack-seq          an ack for a frame never sent
 * Each prints "ATTACK closed MS" or "ATTACK open MS" (still open after -w
 * seconds, default 15); the exit status is 1 if any stayed open.
 * flood: N connections, each reopened (at most once a second) when closed,
 * for SECS seconds; with trickle, each sends a byte a second of what could
 * be a ClientHello. Prints "flood opened=A closed=B held=C" at the end. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "tool_tls.h"

#define FLOOD_MAX 4096
#define HB_FLOOD_FRAMES 200000 /* at most, in at most HB_FLOOD_MS */
#define HB_FLOOD_MS 5000

static const char *ctl_addr, *ctl_port = "7443";
static char name[256];
static int wait_s = 15;

struct sess {
	int fd;
	SSL *ssl;
};

static void sess_close(struct sess *s)
{
	if (s->ssl)
		SSL_free(s->ssl);
	if (s->fd >= 0)
		close(s->fd);
	s->ssl = NULL;
	s->fd = -1;
}

/* A session as an agent opens one: TCP, TLS with its certificate, hello. */
static int sess_open(SSL_CTX *ctx, struct sess *s)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_hello h = {
	    .name = name, .mode = MODE_OPEN, .hash = "", .software = "bh-hostile"};
	uint64_t deadline = clock_mono_ms() + 5000;
	int rc, len;

	s->ssl = NULL;
	s->fd = tool_tcp_connect(ctl_addr, ctl_port, 0);
	if (s->fd < 0)
		return -1;
	s->ssl = SSL_new(ctx);
	SSL_set_fd(s->ssl, s->fd);
	while ((rc = SSL_connect(s->ssl)) != 1) {
		int e = SSL_get_error(s->ssl, rc);
		struct pollfd pf = {s->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    clock_mono_ms() > deadline) {
			sess_close(s);
			return -1;
		}
		poll(&pf, 1, 100);
	}
	len = msg_hello_encode(buf, 1, &h);
	return tool_ssl_write(s->ssl, s->fd, buf, len);
}

/* Reads (and drops) what the controller sends until it closes the session
 * or ms pass; 1 if it closed it. */
static int sess_wait_closed(struct sess *s, int ms)
{
	static char buf[16384];
	uint64_t deadline = clock_mono_ms() + (uint64_t)ms;

	while (clock_mono_ms() < deadline) {
		struct pollfd pf = {s->fd, POLLIN, 0};
		int n;

		poll(&pf, 1, 50);
		n = SSL_read(s->ssl, buf, sizeof(buf));
		if (n > 0)
			continue;
		n = SSL_get_error(s->ssl, n);
		if (n != SSL_ERROR_WANT_READ && n != SSL_ERROR_WANT_WRITE)
			return 1;
	}
	return 0;
}

/* A valid frame of type with no attributes, in buf. */
static int frame_empty(char *buf, uint16_t type)
{
	return msg_empty_encode(buf, 2, type);
}

/* The attack's bytes into buf: a frame tool_bad_frame knows, or an ack
 * that answers nothing; -1 for an unknown kind. */
static int attack_bytes(const char *kind, char *buf)
{
	if (strcmp(kind, "truncated-close") == 0 || strcmp(kind, "truncated-stall") == 0)
		return tool_bad_frame("truncated", buf);
	if (strcmp(kind, "ack-epoch") == 0 || strcmp(kind, "ack-seq") == 0) {
		int seq_bad = strcmp(kind, "ack-seq") == 0;
		struct msg_ack k = {.status = ACK_APPLIED,
				    .epoch = seq_bad ? 0 : UINT64_C(1) << 40,
				    .mode = MODE_ISOLATED,
				    .hash = "",
				    .persisted = true};

		return msg_ack_encode(buf, seq_bad ? 4000000000u : 0, &k);
	}
	return tool_bad_frame(kind, buf);
}

/* Heartbeats, a full record's worth a write, until the session closes or
 * the bounds are reached; 1 if it was closed. */
static int heartbeat_flood(struct sess *s)
{
	static char hb[WIRE_MAX_FRAME], batch[16000];
	uint64_t deadline = clock_mono_ms() + HB_FLOOD_MS;
	int len = frame_empty(hb, WIRE_HEARTBEAT), per = (int)sizeof(batch) / len, sent = 0;

	for (int i = 0; i < per; i++)
		memcpy(batch + i * len, hb, (size_t)len);
	while (sent < HB_FLOOD_FRAMES && clock_mono_ms() < deadline) {
		if (tool_ssl_write(s->ssl, s->fd, batch, per * len) < 0)
			return 1;
		sent += per;
	}
	return 0;
}

static int attack(SSL_CTX *ctx, const char *kind)
{
	static char buf[WIRE_MAX_FRAME];
	struct sess s;
	uint64_t t0;
	int closed, len = -1;

	if (strcmp(kind, "heartbeat-flood") != 0 && (len = attack_bytes(kind, buf)) < 0) {
		fprintf(stderr, "bh-hostile: unknown attack %s\n", kind);
		return -1;
	}
	if (sess_open(ctx, &s) < 0) {
		printf("%s no-session\n", kind);
		fflush(stdout);
		return -1;
	}
	/* Let the controller take the hello first: the attack is what follows it. */
	sess_wait_closed(&s, 300);
	t0 = clock_mono_ms();
	if (strcmp(kind, "heartbeat-flood") == 0)
		closed = heartbeat_flood(&s);
	else
		closed = tool_ssl_write(s.ssl, s.fd, buf, len) < 0;
	if (strcmp(kind, "truncated-close") == 0) {
		SSL_shutdown(s.ssl); /* a clean close, in the middle of a frame */
		shutdown(s.fd, SHUT_WR);
	}
	if (!closed)
		closed = sess_wait_closed(&s, wait_s * 1000);
	printf("%s %s %" PRIu64 "\n", kind, closed ? "closed" : "open", clock_mono_ms() - t0);
	fflush(stdout);
	sess_close(&s);
	return closed ? 0 : -1;
}

/* The start of a TLS record holding a ClientHello, then anything: a peer
 * that seems to be starting a handshake, a byte at a time. */
static const unsigned char trickle_bytes[] = {0x16, 0x03, 0x01, 0x3f, 0xff, 0x01, 0x00, 0x3f, 0xfb};

struct flood_conn {
	int fd;
	uint64_t reopen_ms; /* when closed: when it may be opened again */
	unsigned sent;
	uint64_t next_byte_ms;
};

static int flood(int n, int secs, int trickle)
{
	static struct flood_conn fc[FLOOD_MAX];
	static struct pollfd pf[FLOOD_MAX];
	uint64_t end = clock_mono_ms() + (uint64_t)secs * 1000;
	unsigned long opened = 0, closed = 0, cap = (unsigned long)n * (unsigned long)(secs + 1);
	int held = 0;

	if (n < 1 || n > FLOOD_MAX || secs < 1 || secs > 600) {
		fprintf(stderr, "bh-hostile: flood takes 1..%d connections and 1..600 seconds\n",
			FLOOD_MAX);
		return 64;
	}
	for (int i = 0; i < n; i++)
		fc[i].fd = -1;
	while (clock_mono_ms() < end) {
		uint64_t now = clock_mono_ms();

		for (int i = 0; i < n; i++) {
			if (fc[i].fd < 0 && now >= fc[i].reopen_ms && opened < cap) {
				fc[i].fd = tool_tcp_connect(ctl_addr, ctl_port, 1);
				fc[i].sent = 0;
				fc[i].next_byte_ms = now + 1000;
				fc[i].reopen_ms = now + 1000;
				if (fc[i].fd >= 0)
					opened++;
			}
			if (trickle && fc[i].fd >= 0 && now >= fc[i].next_byte_ms) {
				unsigned char b = trickle_bytes[fc[i].sent < sizeof(trickle_bytes)
								    ? fc[i].sent
								    : sizeof(trickle_bytes) - 1];

				if (write(fc[i].fd, &b, 1) == 1)
					fc[i].sent++;
				fc[i].next_byte_ms = now + 1000;
			}
			pf[i] = (struct pollfd){fc[i].fd, POLLIN, 0};
		}
		poll(pf, (nfds_t)n, 100);
		for (int i = 0; i < n; i++) {
			char junk[512];

			if (fc[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (read(fc[i].fd, junk, sizeof(junk)) > 0)
				continue;
			close(fc[i].fd);
			fc[i].fd = -1;
			closed++;
		}
	}
	for (int i = 0; i < n; i++)
		if (fc[i].fd >= 0) {
			held++;
			close(fc[i].fd);
		}
	printf("flood opened=%lu closed=%lu held=%d\n", opened, closed, held);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bh-hostile -c ADDR [-p PORT] -a CA -C CERT -k KEY [-w SECS] "
			"ATTACK...\n"
			"       bh-hostile -c ADDR [-p PORT] flood N SECS [trickle]\n");
}

int main(int argc, char **argv)
{
	const char *ca = NULL, *cert = NULL, *key = NULL;
	SSL_CTX *ctx;
	int c, bad = 0;

	while ((c = getopt(argc, argv, "c:p:a:C:k:w:")) != -1) {
		switch (c) {
		case 'c': ctl_addr = optarg; break;
		case 'p': ctl_port = optarg; break;
		case 'a': ca = optarg; break;
		case 'C': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'w': wait_s = atoi(optarg); break;
		default: usage(); return 64;
		}
	}
	if (!ctl_addr || optind >= argc || wait_s < 1 || wait_s > 300) {
		usage();
		return 64;
	}
	if (strcmp(argv[optind], "flood") == 0) {
		if (argc - optind < 3) {
			usage();
			return 64;
		}
		return flood(atoi(argv[optind + 1]), atoi(argv[optind + 2]),
			     argc - optind > 3 && strcmp(argv[optind + 3], "trickle") == 0);
	}
	if (!ca || !cert || !key) {
		usage();
		return 64;
	}
	log_init("bh-hostile", 0);
	if (tls_cert_file_name(cert, name, sizeof(name)) < 0) {
		fprintf(stderr, "bh-hostile: no name in %s\n", cert);
		return 1;
	}
	ctx = tls_ctx_new(0, ca, cert, key);
	if (!ctx)
		return 1;
	for (int i = optind; i < argc; i++)
		if (attack(ctx, argv[i]) < 0)
			bad = 1;
	SSL_CTX_free(ctx);
	return bad;
}
