/* What the test tools share: see tool_tls.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "bulkhead/msg.h"
#include "bulkhead/wire.h"
#include "tool_tls.h"

int tool_ssl_write(SSL *ssl, int fd, const void *buf, int len)
{
	int off = 0;

	while (off < len) {
		int n = SSL_write(ssl, (const char *)buf + off, len - off);
		int e;

		if (n > 0) {
			off += n;
			continue;
		}
		e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			struct pollfd pf = {fd, POLLOUT | POLLIN, 0};

			poll(&pf, 1, 100);
			continue;
		}
		return -1;
	}
	return 0;
}

int tool_tcp_connect(const char *addr, const char *port, int nowait)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	int fd, one = 1, e;

	if (getaddrinfo(addr, port, &hints, &ai) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | (nowait ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && !(nowait && errno == EINPROGRESS)) {
		e = errno;
		close(fd);
		freeaddrinfo(ai);
		errno = e;
		return -1;
	}
	freeaddrinfo(ai);
	if (!nowait)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

int tool_bad_frame(const char *kind, char *buf)
{
	struct wire_hdr *wh = (struct wire_hdr *)(buf + MNL_NLMSG_HDRLEN);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	int len = msg_empty_encode(buf, 2, WIRE_HEARTBEAT);

	if (strcmp(kind, "truncated") == 0)
		return len / 2 + 2;
	if (strcmp(kind, "oversized") == 0) {
		nlh->nlmsg_len = 4 * WIRE_MAX_FRAME;
		return len;
	}
	if (strcmp(kind, "unaligned") == 0) {
		nlh->nlmsg_len = (uint32_t)len + 2;
		memset(buf + len, 0, 2);
		return len + 2;
	}
	if (strcmp(kind, "unknown-type") == 0) {
		nlh->nlmsg_type = WIRE_TYPE_MAX + 7;
		return len;
	}
	if (strcmp(kind, "bad-version") == 0) {
		wh->version = WIRE_VERSION + 8;
		return len;
	}
	if (strcmp(kind, "bad-attr") == 0) {
		/* an epoch (u64) of two bytes */
		struct wire_builder b;
		uint16_t two = 7;

		wire_build_start(&b, buf, WIRE_HEARTBEAT, 2);
		wire_put_bytes(&b, WA_EPOCH, &two, sizeof(two));
		return wire_build_end(&b);
	}
	if (strcmp(kind, "garbage") == 0)
		return snprintf(buf, 256, "GET / HTTP/1.1\r\nHost: bulkhead\r\n\r\n");
	return -1;
}
