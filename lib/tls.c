/* TLS 1.3 contexts with mutual certificates from the site CA, and the
 * certificate names that identify hosts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bulkhead/log.h"
#include "bulkhead/tls.h"

/* Site CA, intermediate (if a site ever adds one), host: anything deeper is
 * not ours. */
#define TLS_VERIFY_DEPTH 3

/* Log what failed on path with the oldest queued OpenSSL reason, then drop
 * the rest of the queue so it cannot be blamed on a later call. */
static void tls_err_log(const char *what, const char *path)
{
	char reason[256];
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "unknown error");
	ERR_clear_error();
	log_err("tls: %s: %s: %s", path, what, reason);
}

SSL_CTX *tls_ctx_new(int server, const char *ca_path, const char *cert_path, const char *key_path)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_method());
	if (ctx == NULL) {
		tls_err_log("new context", cert_path);
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		tls_err_log("TLS 1.3 only", cert_path);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		tls_err_log("certificate", cert_path);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
		tls_err_log("private key", key_path);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err_log("private key does not match certificate", key_path);
		goto fail;
	}
	/* The site CA is the only trust anchor: the system's default paths
	 * are never loaded. */
	if (SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1) {
		tls_err_log("CA", ca_path);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	if (server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_path);

		if (names == NULL) {
			tls_err_log("CA names", ca_path);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* No resumption: every session proves its certificate afresh,
		 * so a host whose certificate was replaced cannot ride an old
		 * ticket. */
		if (!SSL_CTX_set_num_tickets(ctx, 0)) {
			tls_err_log("session tickets", cert_path);
			goto fail;
		}
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	/* An idle session holds no record buffers: 34 KiB each, which with
	 * thousands of agents is most of the controller's memory. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Copy the single commonName of name into buf. A name with no CN, more than
 * one CN, an empty CN or one with an embedded NUL is refused: each would let
 * two different certificates read as the same host. */
static int tls_name_cn_copy(const X509_NAME *name, char *buf, size_t len)
{
	const X509_NAME_ENTRY *entry;
	unsigned char *utf8 = NULL;
	int i, n, ret = -1;

	if (name == NULL || len == 0)
		return -1;
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return -1;
	entry = X509_NAME_get_entry(name, i);
	if (entry == NULL)
		return -1;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
	if (n <= 0)
		goto out;
	if (memchr(utf8, '\0', (size_t)n) != NULL || (size_t)n >= len)
		goto out;
	memcpy(buf, utf8, (size_t)n);
	buf[n] = '\0';
	ret = 0;
out:
	OPENSSL_free(utf8);
	return ret;
}

int tls_peer_name(SSL *ssl, char *buf, size_t len)
{
	X509 *peer;

	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	/* Before the handshake the verify result reads X509_V_OK too; the
	 * missing peer certificate is what refuses that case. */
	peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL)
		return -1;
	return tls_name_cn_copy(X509_get_subject_name(peer), buf, len);
}

int tls_serial_normalize(const char *in, char *out, size_t len)
{
	size_t n = 0;

	/* Leading zeros and colons are how tools differ in printing one serial. */
	for (; *in == '0' || *in == ':'; in++)
		;
	for (; *in; in++) {
		char c = *in;

		if (c == ':')
			continue;
		if (c >= 'a' && c <= 'f')
			c = (char)(c - 'a' + 'A');
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')) || n + 1 >= len)
			return -1;
		out[n++] = c;
	}
	if (n == 0) {
		if (len < 2)
			return -1;
		out[n++] = '0';
	}
	out[n] = '\0';
	return 0;
}

/* The serial of cert in upper-case hex, no leading zeros. */
static int tls_cert_serial(X509 *cert, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	int ret = -1;

	if (hex != NULL)
		ret = tls_serial_normalize(hex, buf, len);
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return ret;
}

int tls_peer_serial(SSL *ssl, char *buf, size_t len)
{
	X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

	return peer ? tls_cert_serial(peer, buf, len) : -1;
}

const char *tls_verify_reason(SSL *ssl)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	return v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}

int tls_cert_file_name(const char *cert_path, char *buf, size_t len)
{
	FILE *f;
	X509 *cert = NULL;
	int ret = -1;

	f = fopen(cert_path, "r");
	if (f == NULL) {
		log_err("tls: %s: certificate: %s", cert_path, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (cert == NULL) {
		tls_err_log("certificate", cert_path);
		goto out;
	}
	if (tls_name_cn_copy(X509_get_subject_name(cert), buf, len) < 0) {
		log_err("tls: %s: certificate: common name missing, repeated or too long",
			cert_path);
		goto out;
	}
	ret = 0;
out:
	X509_free(cert);
	fclose(f);
	return ret;
}

int tls_cert_file_serial(const char *cert_path, char *buf, size_t len)
{
	FILE *f = fopen(cert_path, "r");
	X509 *cert;
	int ret;

	if (f == NULL)
		return -1;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ret = cert ? tls_cert_serial(cert, buf, len) : -1;
	X509_free(cert);
	ERR_clear_error();
	return ret;
}

/* Why a TLS session ended, in words an operator can act on. OpenSSL reports
 * a peer that simply closed the connection as a bare system error with no
 * library, which reads as "error:00000005:lib(0)::reason(5)". */
void tls_close_reason(unsigned long ssl_err, int eof, int timeout, int sock_err, const char *peer,
		      char *buf, size_t len)
{
	if (timeout)
		snprintf(buf, len, "timed out");
	else if (ssl_err && ERR_GET_LIB(ssl_err) != 0 && !ERR_SYSTEM_ERROR(ssl_err))
		ERR_error_string_n(ssl_err, buf, len);
	else if (sock_err && !eof)
		snprintf(buf, len, "%s", strerror(sock_err));
	else
		snprintf(buf, len, "connection closed by the %s", peer);
}
