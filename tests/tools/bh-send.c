/* bh-send: a stand-in controller for tests. It listens as bulkheadd does
 * (TLS 1.3, mutual certificates), keeps a session with every agent that
 * connects, heartbeats them, sends the frames that stdin asks for, and
 * prints every frame an agent sends as one line. It lets the agent side of
 * a wire exchange be tested before the controller has a command for it.
 *
 * stdin, one command a line (NAME: the agent's certificate name):
 *   NAME set-mode EPOCH open|segmented|isolated [hard] [confirm=MS]
 *   NAME port-set EPOCH isolated|open PORT... [confirm=MS]
 *   NAME confirm EPOCH
 *   NAME raw HEX          the bytes as they are (HEX: two digits a byte)
 *   NAME garbage KIND     a frame that breaks the protocol: truncated,
 *                         oversized, unaligned, unknown-type, bad-version,
 *                         bad-attr or garbage (see tool_tls.h)
 * stdout, one line a frame:
 *   NAME sent seq=N TYPE
 *   NAME hello mode=M epoch=E hard=0|1 ports=P,P
 *   NAME ack seq=N status=S result=R epoch=E mode=M hard=0|1 apply_us=U
 *        [state=S] [ports=P,P] [links=L,L] [error="..."]
 *   NAME alert kind=K text="..."
 *   NAME up | NAME down
 *
 * With -A ADDR:PORT it plays an agent instead: it connects to a controller
 * as the certificate's host, says hello as -n NAME, sends one ack numbered
 * -r SEQ (a frame the controller never sent: a replay), waits a second for
 * the controller's answer and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "tool_tls.h"

#define MAX_PEERS 16
#define HEARTBEAT_MS 500

struct peer {
	int fd;
	SSL *ssl;
	char name[64];
	char rx[2 * WIRE_MAX_FRAME];
	size_t rxlen;
	uint32_t seq;
};

static struct peer peers[MAX_PEERS];

static void peer_close(struct peer *p)
{
	if (p->fd < 0)
		return;
	printf("%s down\n", p->name[0] ? p->name : "?");
	SSL_free(p->ssl);
	close(p->fd);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

static int peer_write(struct peer *p, const void *buf, int len)
{
	return tool_ssl_write(p->ssl, p->fd, buf, len);
}

struct strs_join {
	char *out;
	size_t len;
};

static int strs_join_cb(const char *s, void *arg)
{
	struct strs_join *j = arg;
	size_t used = strlen(j->out);

	snprintf(j->out + used, j->len - used, "%s%s", used ? "," : "", s);
	return 0;
}

/* All values of a repeated string attribute, comma-separated. */
static const char *strs_join(const struct msg_strs *l, char *out, size_t len)
{
	struct strs_join j = {out, len};

	out[0] = '\0';
	msg_strs_foreach(l, strs_join_cb, &j);
	return out;
}

/* One line a frame, from its decoded message; a frame that does not decode
 * is printed as an error, as the controller would close the session. */
static void frame_print(struct peer *p, const struct wire_frame *f)
{
	char ports[2048], links[2048];
	const char *err;
	union msg m;

	if (msg_decode(f, &m, &err) < 0) {
		printf("%s error=\"%s\"\n", p->name, err);
		fflush(stdout);
		return;
	}
	switch (f->type) {
	case WIRE_HELLO:
		snprintf(p->name, sizeof(p->name), "%s", m.hello.name);
		printf("%s hello mode=%s epoch=%" PRIu64 " hard=%u ports=%s\n", p->name,
		       mode_name(m.hello.mode), m.hello.epoch, m.hello.hard,
		       strs_join(&m.hello.ports, ports, sizeof(ports)));
		break;
	case WIRE_ACK:
		strs_join(&m.ack.ports, ports, sizeof(ports));
		strs_join(&m.ack.links, links, sizeof(links));
		printf("%s ack seq=%u status=%s result=%u epoch=%" PRIu64
		       " mode=%s hard=%u apply_us=%" PRIu64 "%s%s%s%s%s%s",
		       p->name, f->nlh->nlmsg_seq, ack_status_name(m.ack.status), m.ack.result,
		       m.ack.epoch, mode_name(m.ack.mode), m.ack.hard, m.ack.apply_us,
		       m.ack.port ? " state=" : "",
		       m.ack.port ? port_state_name(m.ack.port_state) : "",
		       ports[0] ? " ports=" : "", ports, links[0] ? " links=" : "", links);
		if (m.ack.error)
			printf(" error=\"%s\"", m.ack.error);
		printf("\n");
		break;
	case WIRE_ALERT:
		printf("%s alert kind=%s text=\"%s\"\n", p->name, alert_kind_name(m.alert.kind),
		       m.alert.text);
		break;
	case WIRE_HEARTBEAT: break;
	default: printf("%s frame type=%s\n", p->name, wire_type_name(f->type)); break;
	}
	fflush(stdout);
}

static void peer_read(struct peer *p)
{
	for (;;) {
		int n = SSL_read(p->ssl, p->rx + p->rxlen, (int)(sizeof(p->rx) - p->rxlen));

		if (n <= 0) {
			int e = SSL_get_error(p->ssl, n);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				break;
			peer_close(p);
			return;
		}
		p->rxlen += (size_t)n;
		for (;;) {
			struct wire_frame f;
			const char *err;
			int len = wire_frame_peek_len(p->rx, p->rxlen);

			if (len < 0) {
				printf("%s error=\"bad frame length\"\n", p->name);
				peer_close(p);
				return;
			}
			if (len == 0 || (size_t)len > p->rxlen)
				break;
			if (wire_frame_decode(p->rx, (size_t)len, &f, &err) < 0) {
				printf("%s error=\"%s\"\n", p->name, err);
				peer_close(p);
				return;
			}
			frame_print(p, &f);
			memmove(p->rx, p->rx + len, p->rxlen - (size_t)len);
			p->rxlen -= (size_t)len;
		}
	}
}

static void peer_accept(int lfd, SSL_CTX *ctx)
{
	struct timeval tv = {5, 0};
	struct peer *p = NULL;
	int fd = accept(lfd, NULL, NULL), one = 1;

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_PEERS && !p; i++)
		if (peers[i].fd < 0)
			p = &peers[i];
	if (!p) {
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->ssl = SSL_new(ctx);
	SSL_set_fd(p->ssl, fd);
	p->fd = fd;
	if (SSL_accept(p->ssl) != 1 || tls_peer_name(p->ssl, p->name, sizeof(p->name)) < 0) {
		fprintf(stderr, "bh-send: handshake failed\n");
		peer_close(p);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	printf("%s up\n", p->name);
	fflush(stdout);
}

static struct peer *peer_find(const char *name)
{
	for (int i = 0; i < MAX_PEERS; i++)
		if (peers[i].fd >= 0 && strcmp(peers[i].name, name) == 0)
			return &peers[i];
	return NULL;
}

/* "confirm=MS" */
static int confirm_arg(const char *t, uint32_t *ms)
{
	if (strncmp(t, "confirm=", 8) != 0)
		return 0;
	*ms = (uint32_t)atoi(t + 8);
	return 1;
}

/* Hex digits into bytes; -1 unless an even number of them fits in len. */
static int hex_decode(const char *hex, char *out, size_t len)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > len)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return -1;
		out[i] = (char)v;
	}
	return (int)(n / 2);
}

/* One command line; errors go to stdout too, so the test sees them in order. */
static void command(char *line)
{
	static char buf[WIRE_MAX_FRAME];
	static const char *names[64];
	char *tok[64], *save = NULL, *name, *cmd;
	struct peer *p;
	int n = 0, len = -1;

	for (char *t = strtok_r(line, " \t\n", &save); t && n < 64;
	     t = strtok_r(NULL, " \t\n", &save))
		tok[n++] = t;
	if (n < 3)
		return;
	name = tok[0];
	cmd = tok[1];
	p = peer_find(name);
	if (!p) {
		printf("%s error=\"not connected\"\n", name);
		fflush(stdout);
		return;
	}
	if (strcmp(cmd, "set-mode") == 0 && n >= 4) {
		struct msg_set_mode m = {.epoch = strtoull(tok[2], NULL, 10),
					 .mode = (enum bulkhead_mode)mode_parse(tok[3])};

		for (int i = 4; i < n; i++)
			if (strcmp(tok[i], "hard") == 0)
				m.hard = true;
			else
				confirm_arg(tok[i], &m.confirm_ms);
		len = msg_set_mode_encode(buf, ++p->seq, &m);
	} else if (strcmp(cmd, "port-set") == 0 && n >= 5) {
		struct msg_port_set m = {.epoch = strtoull(tok[2], NULL, 10),
					 .state = (enum port_state)port_state_parse(tok[3])};

		m.ports.v = names;
		for (int i = 4; i < n; i++)
			if (!confirm_arg(tok[i], &m.confirm_ms))
				names[m.ports.n++] = tok[i];
		len = msg_port_set_encode(buf, ++p->seq, &m);
	} else if (strcmp(cmd, "raw") == 0) {
		len = hex_decode(tok[2], buf, sizeof(buf));
		if (len < 0) {
			printf("%s error=\"raw takes an even number of hex digits\"\n", name);
			fflush(stdout);
			return;
		}
	} else if (strcmp(cmd, "garbage") == 0) {
		len = tool_bad_frame(tok[2], buf);
		if (len < 0) {
			printf("%s error=\"unknown garbage kind %s\"\n", name, tok[2]);
			fflush(stdout);
			return;
		}
	} else if (strcmp(cmd, "confirm") == 0) {
		struct msg_confirm m = {strtoull(tok[2], NULL, 10)};

		len = msg_confirm_encode(buf, ++p->seq, &m);
	} else {
		printf("%s error=\"unknown command %s\"\n", name, cmd);
		fflush(stdout);
		return;
	}
	if (len < 0 || peer_write(p, buf, len) < 0) {
		peer_close(p);
		return;
	}
	printf("%s sent seq=%u %s\n", name, p->seq, cmd);
	fflush(stdout);
}

static int listen_on(const char *addr, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
	int fd, one = 1;

	if (getaddrinfo(addr, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* -A: an agent that acks a frame the controller never sent. */
static int agent_replay(SSL_CTX *ctx, const char *target, const char *name, uint32_t seq)
{
	static char buf[WIRE_MAX_FRAME];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct msg_hello h = {.name = name, .software = "bh-send", .mode = MODE_OPEN};
	struct msg_ack k = {
	    .status = ACK_APPLIED, .epoch = 1, .mode = MODE_ISOLATED, .persisted = 1};
	struct peer p = {.fd = -1};
	struct timeval tv = {1, 0};
	char host[256], *colon;
	int len, rc = 1;

	snprintf(host, sizeof(host), "%s", target);
	colon = strrchr(host, ':');
	if (!colon)
		return 64;
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return 1;
	p.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p.fd < 0 || connect(p.fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "bh-send: connect %s: %s\n", target, strerror(errno));
		goto out;
	}
	setsockopt(p.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	p.ssl = SSL_new(ctx);
	SSL_set1_host(p.ssl, "bulkheadd");
	SSL_set_fd(p.ssl, p.fd);
	if (SSL_connect(p.ssl) != 1) {
		fprintf(stderr, "bh-send: handshake with %s failed\n", target);
		goto out;
	}
	len = msg_hello_encode(buf, 1, &h);
	if (len < 0 || peer_write(&p, buf, len) < 0)
		goto out;
	len = msg_ack_encode(buf, seq, &k);
	if (len < 0 || peer_write(&p, buf, len) < 0)
		goto out;
	printf("%s sent hello, ack seq=%u\n", name, seq);
	fflush(stdout);
	/* Whatever the controller answers within a second (heartbeats). */
	for (int i = 0; i < 4 && SSL_read(p.ssl, buf, sizeof(buf)) > 0; i++)
		;
	rc = 0;
out:
	if (p.ssl)
		SSL_free(p.ssl);
	if (p.fd >= 0)
		close(p.fd);
	freeaddrinfo(ai);
	return rc;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *port = "7444", *ca = NULL, *cert = NULL, *key = NULL;
	const char *agent_to = NULL, *agent_name = NULL;
	uint32_t replay_seq = 1000;
	uint64_t deadline, next_hb = 0;
	char line[4096];
	size_t linelen = 0;
	int lfd, c, secs = 300, in_open = 1;
	SSL_CTX *ctx;

	while ((c = getopt(argc, argv, "l:p:a:c:k:t:A:n:r:")) != -1) {
		switch (c) {
		case 'A': agent_to = optarg; break;
		case 'n': agent_name = optarg; break;
		case 'r': replay_seq = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'l': addr = optarg; break;
		case 'p': port = optarg; break;
		case 'a': ca = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 't': secs = atoi(optarg); break;
		default:
			fprintf(stderr,
				"usage: bh-send -l ADDR [-p PORT] -a CA -c CERT -k KEY "
				"[-t SECONDS]\n"
				"       bh-send -A ADDR:PORT -n NAME [-r SEQ] -a CA -c CERT -k "
				"KEY\n");
			return 64;
		}
	}
	if (agent_to && agent_name && ca && cert && key) {
		log_init("bh-send", 0);
		ctx = tls_ctx_new(0, ca, cert, key);
		if (!ctx)
			return 1;
		c = agent_replay(ctx, agent_to, agent_name, replay_seq);
		SSL_CTX_free(ctx);
		return c;
	}
	if (!addr || !ca || !cert || !key) {
		fprintf(stderr, "bh-send: -l, -a, -c and -k are required\n");
		return 64;
	}
	log_init("bh-send", 0);
	ctx = tls_ctx_new(1, ca, cert, key);
	if (!ctx)
		return 1;
	lfd = listen_on(addr, port);
	if (lfd < 0) {
		fprintf(stderr, "bh-send: cannot listen on %s port %s: %s\n", addr, port,
			strerror(errno));
		return 1;
	}
	for (int i = 0; i < MAX_PEERS; i++)
		peers[i].fd = -1;
	printf("listening %s %s\n", addr, port);
	fflush(stdout);
	/* Bounded: a test that forgets it must not leave it running. */
	deadline = clock_mono_ms() + (uint64_t)secs * 1000;
	while (clock_mono_ms() < deadline && in_open) {
		struct pollfd pfd[MAX_PEERS + 2];
		int np = 0;

		pfd[np++] = (struct pollfd){lfd, POLLIN, 0};
		pfd[np++] = (struct pollfd){0, POLLIN, 0};
		for (int i = 0; i < MAX_PEERS; i++)
			pfd[np++] = (struct pollfd){peers[i].fd, POLLIN, 0};
		poll(pfd, (nfds_t)np, 100);
		if (pfd[0].revents & POLLIN)
			peer_accept(lfd, ctx);
		for (int i = 0; i < MAX_PEERS; i++)
			if (peers[i].fd >= 0 && (pfd[2 + i].revents || SSL_pending(peers[i].ssl)))
				peer_read(&peers[i]);
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(0, line + linelen, sizeof(line) - 1 - linelen);
			char *nl;

			if (r <= 0)
				in_open = 0;
			else
				linelen += (size_t)r;
			line[linelen] = '\0';
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				command(line);
				memmove(line, nl + 1, linelen - (size_t)(nl + 1 - line) + 1);
				linelen -= (size_t)(nl + 1 - line);
			}
			if (linelen == sizeof(line) - 1)
				linelen = 0;
		}
		if (clock_mono_ms() >= next_hb) {
			static char hb[WIRE_MAX_FRAME];
			int hblen = msg_empty_encode(hb, 0, WIRE_HEARTBEAT);

			next_hb = clock_mono_ms() + HEARTBEAT_MS;
			for (int i = 0; i < MAX_PEERS; i++) {
				if (peers[i].fd < 0)
					continue;
				if (peer_write(&peers[i], hb, hblen) < 0)
					peer_close(&peers[i]);
			}
		}
	}
	for (int i = 0; i < MAX_PEERS; i++)
		peer_close(&peers[i]);
	close(lfd);
	SSL_CTX_free(ctx);
	return 0;
}
