/* TLS 1.3 with mutual certificates from the site CA (OpenSSL 3). */
#ifndef BULKHEAD_TLS_H
#define BULKHEAD_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* A context that requires TLS 1.3 and a peer certificate chaining to ca_path,
 * and presents cert_path/key_path. On failure returns NULL after printing the
 * OpenSSL reason with log_err. */
SSL_CTX *tls_ctx_new(int server, const char *ca_path, const char *cert_path, const char *key_path);

/* Copy the peer certificate's common name into buf. 0 on success, -1 when the
 * peer has no verified certificate. */
int tls_peer_name(SSL *ssl, char *buf, size_t len);

/* Why a session ended (the OpenSSL error of the bufferevent, EOF, timeout,
 * errno), for the log; peer is "controller" or "agent". */
void tls_close_reason(unsigned long ssl_err, int eof, int timeout, int sock_err, const char *peer,
		      char *buf, size_t len);

/* Common name of a local certificate file (the agent's own name). */
int tls_cert_file_name(const char *cert_path, char *buf, size_t len);

/* The serial of the first certificate in a PEM file, as tls_peer_serial. */
int tls_cert_file_serial(const char *cert_path, char *buf, size_t len);

/* The peer certificate's serial in upper-case hex without leading zeros
 * (as tls_serial_normalize writes it); -1 without a peer certificate. */
int tls_peer_serial(SSL *ssl, char *buf, size_t len);

/* A serial as written by hand or by a tool ("0a:1B:...", "A1B...") in the
 * one form serials are compared in: upper-case hex, no colons, no leading
 * zeros. -1 when in is not hex or does not fit. */
int tls_serial_normalize(const char *in, char *out, size_t len);

/* Why the peer's certificate failed verification ("certificate has
 * expired", ...), or NULL when it did not. */
const char *tls_verify_reason(SSL *ssl);

#endif
