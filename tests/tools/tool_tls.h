/* What the test tools (bh-send, bh-hostile) share: blocking writes on a
 * non-blocking TLS session, a TCP connection to an address literal, and
 * frames that break the protocol. */
#ifndef BULKHEAD_TOOL_TLS_H
#define BULKHEAD_TOOL_TLS_H

#include <openssl/ssl.h>

/* All of buf, waiting (poll) while the socket is full; -1 on error. */
int tool_ssl_write(SSL *ssl, int fd, const void *buf, int len);
/* A TCP connection to ADDR PORT (literals), non-blocking once connected
 * (or, with nowait, while it connects); -1 with errno. */
int tool_tcp_connect(const char *addr, const char *port, int nowait);

/* A frame (or not) of one hostile kind in buf (WIRE_MAX_FRAME bytes):
 * truncated (half a frame), oversized, unaligned (length not a multiple
 * of 4), unknown-type, bad-version, bad-attr, garbage (no frame at all).
 * Its length, or -1 for an unknown kind. */
int tool_bad_frame(const char *kind, char *buf);

#endif
