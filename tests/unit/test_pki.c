/* `bulkhead pki` creates a CA and host certificates that the TLS layer
 * accepts, and nothing from another site's CA gets through. */
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bulkhead/tls.h"
#include "cli.h"

/* Two sites: a holds CA a with hosts h01 and h02, b holds CA b with its own
 * h01, so a name alone never proves anything. */
struct fixture {
	char a[64];
	char b[64];
};

static char fx_path_buf[4][4096];

/* dir/file in one of a few rotating buffers, enough for one expression. */
static const char *fx_path(const char *dir, const char *file)
{
	static int next;
	char *p = fx_path_buf[next++ % 4];

	snprintf(p, sizeof(fx_path_buf[0]), "%s/%s", dir, file);
	return p;
}

/* cmd_pki_main over "pki" and the NULL-terminated args. */
static int pki_run_argv(const char *const *args)
{
	static char pki[] = "pki";
	char *argv[16];
	int argc = 0;

	argv[argc++] = pki;
	while (*args != NULL && argc < 15)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	return cmd_pki_main(argc, argv);
}

#define pki_run(...) pki_run_argv((const char *const[]){__VA_ARGS__, NULL})

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void tmpdir_make(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/bulkhead-pki-XXXXXX");
	if (mkdtemp(buf) == NULL)
		fail_msg("mkdtemp failed");
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;
	char *slash;

	if (fx == NULL)
		return 0;
	slash = strrchr(fx->a, '/');
	*slash = '\0';
	rm_tree(fx->a);
	rm_tree(fx->b);
	free(fx);
	return 0;
}

static int group_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	tmpdir_make(fx->a, sizeof(fx->a));
	tmpdir_make(fx->b, sizeof(fx->b));
	/* init creates the CA directory itself. */
	strncat(fx->a, "/pki", sizeof(fx->a) - strlen(fx->a) - 1);
	*state = fx;
	if (pki_run("init", fx->a) != 0 || pki_run("issue", fx->a, "h01", "h02") != 0 ||
	    pki_run("init", fx->b) != 0 || pki_run("issue", fx->b, "h01") != 0) {
		group_teardown(state);
		*state = NULL;
		return -1;
	}
	return 0;
}

static X509 *cert_load(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* X509_verify_cert of cert_path against ca_path only; returns the verify
 * error (X509_V_OK when it chains). */
static int cert_verify(const char *ca_path, const char *cert_path, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *ca = cert_load(ca_path);
	X509 *cert = cert_load(cert_path);
	int ok, err;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx);
	err = X509_STORE_CTX_get_error(ctx);
	assert_true(ok == 1 ? err == X509_V_OK : err != X509_V_OK);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(cert);
	ERR_clear_error();
	return err;
}

static long cert_days(X509 *x)
{
	int days = 0, secs = 0;

	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	return days;
}

static void file_mode_check(const char *path, mode_t mode)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
}

static void test_files(void **state)
{
	struct fixture *fx = *state;
	struct dirent *de;
	DIR *d;

	file_mode_check(fx->a, 0700);
	file_mode_check(fx_path(fx->a, "ca.key"), 0600);
	file_mode_check(fx_path(fx->a, "ca.crt"), 0644);
	file_mode_check(fx_path(fx->a, "h01.key"), 0600);
	file_mode_check(fx_path(fx->a, "h01.crt"), 0644);
	/* No temporary file is left behind. */
	d = opendir(fx->a);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, ".tmp"));
	closedir(d);
}

static void test_ca_cert(void **state)
{
	struct fixture *fx = *state;
	X509 *ca = cert_load(fx_path(fx->a, "ca.crt"));
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	char name[64], group[64];
	size_t glen;

	assert_int_equal(tls_cert_file_name(fx_path(fx->a, "ca.crt"), name, sizeof(name)), 0);
	assert_string_equal(name, "bulkhead site CA");
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_get_extension_flags(ca) & EXFLAG_SS, EXFLAG_SS);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(ca));
	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	assert_true(cert_days(ca) >= 3652);
	assert_true(cert_days(ca) <= 3653);
	/* A self-signed CA verifies against itself. */
	assert_int_equal(
	    cert_verify(fx_path(fx->a, "ca.crt"), fx_path(fx->a, "ca.crt"), X509_PURPOSE_ANY),
	    X509_V_OK);
	X509_free(ca);
}

static void test_host_cert(void **state)
{
	struct fixture *fx = *state;
	X509 *h01 = cert_load(fx_path(fx->a, "h01.crt"));
	X509 *h02 = cert_load(fx_path(fx->a, "h02.crt"));
	char ca[4096], name[64];

	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->a);
	assert_int_equal(cert_verify(ca, fx_path(fx->a, "h01.crt"), X509_PURPOSE_SSL_SERVER),
			 X509_V_OK);
	assert_int_equal(cert_verify(ca, fx_path(fx->a, "h01.crt"), X509_PURPOSE_SSL_CLIENT),
			 X509_V_OK);
	assert_int_equal(cert_verify(ca, fx_path(fx->a, "h02.crt"), X509_PURPOSE_SSL_CLIENT),
			 X509_V_OK);
	assert_int_equal(tls_cert_file_name(fx_path(fx->a, "h01.crt"), name, sizeof(name)), 0);
	assert_string_equal(name, "h01");
	assert_int_equal(tls_cert_file_name(fx_path(fx->a, "h02.crt"), name, sizeof(name)), 0);
	assert_string_equal(name, "h02");
	/* Too small a buffer is refused, not truncated. */
	assert_int_equal(tls_cert_file_name(fx_path(fx->a, "h01.crt"), name, 3), -1);

	assert_int_equal(X509_check_host(h01, "h01", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(h01, "h02", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ca(h01), 0);
	assert_int_equal(X509_get_key_usage(h01), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(h01), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_non_null(X509_get0_authority_key_id(h01));
	assert_int_equal(X509_get_signature_nid(h01), NID_ecdsa_with_SHA256);
	assert_true(cert_days(h01) >= 825);
	assert_true(cert_days(h01) <= 826);
	assert_int_not_equal(
	    ASN1_INTEGER_cmp(X509_get0_serialNumber(h01), X509_get0_serialNumber(h02)), 0);
	X509_free(h01);
	X509_free(h02);
}

static void test_other_ca(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(cert_verify(fx_path(fx->a, "ca.crt"), fx_path(fx->b, "h01.crt"),
				     X509_PURPOSE_SSL_CLIENT),
			 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(cert_verify(fx_path(fx->b, "ca.crt"), fx_path(fx->a, "h01.crt"),
				     X509_PURPOSE_SSL_SERVER),
			 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

static size_t file_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

static void test_no_clobber(void **state)
{
	char dir[64], before[4096], after[4096];
	size_t nb, na;

	(void)state;
	tmpdir_make(dir, sizeof(dir));
	assert_int_equal(pki_run("init", dir), 0);
	nb = file_read(fx_path(dir, "ca.crt"), before, sizeof(before));

	assert_int_equal(pki_run("init", dir), 1);
	na = file_read(fx_path(dir, "ca.crt"), after, sizeof(after));
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, nb);

	assert_int_equal(pki_run("init", "--force", dir), 0);
	na = file_read(fx_path(dir, "ca.crt"), after, sizeof(after));
	assert_false(na == nb && memcmp(after, before, nb) == 0);

	assert_int_equal(pki_run("issue", dir, "h01"), 0);
	assert_int_equal(pki_run("issue", dir, "h01"), 1);
	assert_int_equal(pki_run("issue", dir, "h01", "-f"), 0);
	/* The CA's own files are not a host. */
	assert_int_equal(pki_run("issue", "--force", dir, "ca"), 1);
	assert_int_equal(
	    cert_verify(fx_path(dir, "ca.crt"), fx_path(dir, "h01.crt"), X509_PURPOSE_SSL_CLIENT),
	    X509_V_OK);
	/* issue needs a CA. */
	assert_int_equal(pki_run("issue", fx_path(dir, "nonexistent"), "h01"), 1);
	rm_tree(dir);
}

/* --not-before and --days give the validity asked for, and the site CA's
 * verification refuses it outside that window. */
static void test_validity(void **state)
{
	char dir[64];
	X509 *x;

	(void)state;
	tmpdir_make(dir, sizeof(dir));
	assert_int_equal(pki_run("init", dir), 0);
	assert_int_equal(
	    pki_run("issue", "--not-before", "20200101000000Z", "--days", "2", dir, "old"), 0);
	x = cert_load(fx_path(dir, "old.crt"));
	assert_non_null(x);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), 1577836800), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), 1577836800 + 2 * 86400), 0);
	X509_free(x);
	assert_int_equal(
	    cert_verify(fx_path(dir, "ca.crt"), fx_path(dir, "old.crt"), X509_PURPOSE_SSL_CLIENT),
	    X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(pki_run("issue", "--not-before", "20990101000000Z", dir, "future"), 0);
	assert_int_equal(cert_verify(fx_path(dir, "ca.crt"), fx_path(dir, "future.crt"),
				     X509_PURPOSE_SSL_CLIENT),
			 X509_V_ERR_CERT_NOT_YET_VALID);
	/* Bad values are usage errors, and nothing is written. */
	assert_int_equal(pki_run("issue", "--days", "0", dir, "x"), 64);
	assert_int_equal(pki_run("issue", "--days", "ten", dir, "x"), 64);
	assert_int_equal(pki_run("issue", "--not-before", "2020-01-01", dir, "x"), 64);
	assert_int_equal(pki_run("init", "--days", "3", dir), 64);
	assert_int_equal(access(fx_path(dir, "x.crt"), F_OK), -1);
	rm_tree(dir);
}

/* rotate: a new key and serial in the same files; only for a host issued. */
static void test_rotate_revoke(void **state)
{
	char dir[64], s1[128], s2[128], text[4096];
	size_t n;

	(void)state;
	tmpdir_make(dir, sizeof(dir));
	assert_int_equal(pki_run("init", dir), 0);
	assert_int_equal(pki_run("issue", dir, "h01"), 0);
	assert_int_equal(tls_cert_file_serial(fx_path(dir, "h01.crt"), s1, sizeof(s1)), 0);
	assert_int_equal(pki_run("rotate", dir, "h01"), 0);
	assert_int_equal(tls_cert_file_serial(fx_path(dir, "h01.crt"), s2, sizeof(s2)), 0);
	assert_string_not_equal(s1, s2);
	assert_int_equal(
	    cert_verify(fx_path(dir, "ca.crt"), fx_path(dir, "h01.crt"), X509_PURPOSE_SSL_CLIENT),
	    X509_V_OK);
	assert_int_equal(pki_run("rotate", dir, "h02"), 1);
	assert_int_equal(access(fx_path(dir, "h02.crt"), F_OK), -1);

	/* revoke: a new list, then one more entry; a serial is normalised. */
	assert_int_equal(
	    pki_run("revoke", "--reason", "drill", fx_path(dir, "revoked.yaml"), "h01"), 0);
	assert_int_equal(pki_run("revoke", fx_path(dir, "revoked.yaml"), s1), 0);
	assert_int_equal(pki_run("revoke", fx_path(dir, "revoked.yaml"), "h01"), 0);
	n = file_read(fx_path(dir, "revoked.yaml"), text, sizeof(text) - 1);
	text[n] = '\0';
	assert_non_null(strstr(text, "  - host: h01\n    reason: \"drill\"\n"));
	assert_non_null(strstr(text, s1));
	assert_null(strstr(strstr(text, "host: h01") + 1, "host: h01"));
	assert_int_equal(pki_run("revoke", fx_path(dir, "revoked.yaml"), "bad/name"), 64);
	/* A broken list is not rewritten. */
	{
		FILE *f = fopen(fx_path(dir, "broken.yaml"), "w");

		assert_non_null(f);
		fputs("revoked: {\n", f);
		fclose(f);
	}
	assert_int_equal(pki_run("revoke", fx_path(dir, "broken.yaml"), "h01"), 1);
	n = file_read(fx_path(dir, "broken.yaml"), text, sizeof(text) - 1);
	assert_int_equal(n, strlen("revoked: {\n"));
	rm_tree(dir);
}

static void test_bad_names(void **state)
{
	struct fixture *fx = *state;
	char long_name[65];

	assert_int_equal(pki_run("issue", fx->a, "../x"), 1);
	assert_int_equal(pki_run("issue", fx->a, ""), 1);
	assert_int_equal(pki_run("issue", fx->a, "--", "-x"), 1);
	assert_int_equal(pki_run("issue", fx->a, ".x"), 1);
	assert_int_equal(pki_run("issue", fx->a, "a/b"), 1);
	assert_int_equal(pki_run("issue", fx->a, "a b"), 1);
	assert_int_equal(pki_run("issue", fx->a, "a,IP:198.18.0.1"), 1);
	assert_int_equal(pki_run("issue", fx->a, "h03", "h03"), 1);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(pki_run("issue", fx->a, long_name), 1);
	/* One bad name and nothing is written. */
	assert_int_equal(pki_run("issue", fx->a, "h04", "../x"), 1);
	assert_int_equal(access(fx_path(fx->a, "h04.crt"), F_OK), -1);
	assert_int_equal(access(fx_path(fx->a, "h04.key"), F_OK), -1);

	long_name[63] = '\0';
	assert_int_equal(pki_run("issue", fx->a, long_name, "x_1.y-2"), 0);
	assert_int_equal(access(fx_path(fx->a, "x_1.y-2.crt"), F_OK), 0);
}

static void test_usage(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(pki_run(NULL), 64);
	assert_int_equal(pki_run("--help"), 0);
	assert_int_equal(pki_run("-h"), 0);
	assert_int_equal(pki_run("bogus"), 64);
	assert_int_equal(pki_run("init", "--help"), 0);
	assert_int_equal(pki_run("issue", "-h"), 0);
	assert_int_equal(pki_run("init"), 64);
	assert_int_equal(pki_run("init", fx->a, fx->b), 64);
	assert_int_equal(pki_run("init", "--bogus", fx->a), 64);
	assert_int_equal(pki_run("issue", fx->a), 64);
	assert_int_equal(pki_run("issue", "-x", fx->a, "h01"), 64);
}

static void test_ctx(void **state)
{
	struct fixture *fx = *state;
	char ca[4096];
	SSL_CTX *ctx;

	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->a);
	ctx = tls_ctx_new(1, ca, fx_path(fx->a, "h01.crt"), fx_path(fx->a, "h01.key"));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx),
			 SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	SSL_CTX_free(ctx);
	ctx = tls_ctx_new(0, fx_path(fx->a, "ca.crt"), fx_path(fx->a, "h02.crt"),
			  fx_path(fx->a, "h02.key"));
	assert_non_null(ctx);
	SSL_CTX_free(ctx);

	assert_null(tls_ctx_new(1, fx_path(fx->a, "ca.crt"), fx_path(fx->a, "h01.crt"),
				fx_path(fx->a, "h02.key")));
	assert_null(tls_ctx_new(0, fx_path(fx->a, "ca.crt"), fx_path(fx->a, "h01.crt"),
				fx_path(fx->b, "h01.key")));
	assert_null(tls_ctx_new(0, fx_path(fx->a, "ca.crt"), fx_path(fx->a, "none.crt"),
				fx_path(fx->a, "h01.key")));
	assert_null(tls_ctx_new(0, fx_path(fx->a, "none.crt"), fx_path(fx->a, "h01.crt"),
				fx_path(fx->a, "h01.key")));
	assert_int_equal(ERR_peek_error(), 0);
}

struct hs_end {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	int rc; /* SSL_accept or SSL_connect */
	int io; /* SSL_read on the server, SSL_write then SSL_read on a refused client */
	char peer[64];
	int peer_rc;
	char msg[8];
};

static void hs_end_open(struct hs_end *e, int server, const char *ca, const char *cert,
			const char *key, int fd)
{
	struct timeval tv = {.tv_sec = 5};

	e->ctx = tls_ctx_new(server, ca, cert, key);
	assert_non_null(e->ctx);
	e->ssl = SSL_new(e->ctx);
	assert_non_null(e->ssl);
	/* A broken handshake must fail the test, not hang it. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(SSL_set_fd(e->ssl, fd), 1);
	e->fd = fd;
	e->peer_rc = -2;
}

static void hs_end_close(struct hs_end *e)
{
	SSL_free(e->ssl);
	SSL_CTX_free(e->ctx);
	close(e->fd);
}

static void *hs_server(void *arg)
{
	struct hs_end *s = arg;

	s->rc = SSL_accept(s->ssl);
	s->peer_rc = tls_peer_name(s->ssl, s->peer, sizeof(s->peer));
	if (s->rc == 1)
		s->io = SSL_read(s->ssl, s->msg, sizeof(s->msg) - 1);
	ERR_clear_error();
	return NULL;
}

/* Handshake between server (cert sdir/sname, trusting sca) and client
 * (cert cdir/cname, trusting cca); the client runs here, the server on a
 * thread. */
static void handshake(struct hs_end *srv, struct hs_end *client_ctx, const char *sca,
		      const char *sdir, const char *sname, const char *cca, const char *cdir,
		      const char *cname)
{
	char crt[4096], key[4096];
	pthread_t t;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(crt, sizeof(crt), "%s/%s.crt", sdir, sname);
	snprintf(key, sizeof(key), "%s/%s.key", sdir, sname);
	hs_end_open(srv, 1, sca, crt, key, sv[0]);
	snprintf(crt, sizeof(crt), "%s/%s.crt", cdir, cname);
	snprintf(key, sizeof(key), "%s/%s.key", cdir, cname);
	hs_end_open(client_ctx, 0, cca, crt, key, sv[1]);
	assert_int_equal(tls_peer_name(client_ctx->ssl, client_ctx->peer, sizeof(client_ctx->peer)),
			 -1);

	assert_int_equal(pthread_create(&t, NULL, hs_server, srv), 0);
	client_ctx->rc = SSL_connect(client_ctx->ssl);
	client_ctx->peer_rc =
	    tls_peer_name(client_ctx->ssl, client_ctx->peer, sizeof(client_ctx->peer));
	if (client_ctx->rc == 1)
		client_ctx->io = SSL_write(client_ctx->ssl, "ping", 4);
	else
		/* Unblock a server still waiting for the rest of the handshake. */
		shutdown(client_ctx->fd, SHUT_RDWR);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* A TLS 1.3 client is done before the server has checked its
	 * certificate: a refusal arrives as an alert on the next read. */
	if (client_ctx->rc == 1 && srv->rc != 1) {
		char c;

		client_ctx->io = SSL_read(client_ctx->ssl, &c, 1);
	}
	ERR_clear_error();
}

static void test_handshake(void **state)
{
	struct fixture *fx = *state;
	struct hs_end srv = {0}, client_ctx = {0};
	char ca[4096];

	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->a);
	handshake(&srv, &client_ctx, ca, fx->a, "h01", ca, fx->a, "h02");
	assert_int_equal(client_ctx.rc, 1);
	assert_int_equal(srv.rc, 1);
	assert_int_equal(SSL_version(client_ctx.ssl), TLS1_3_VERSION);
	assert_int_equal(SSL_version(srv.ssl), TLS1_3_VERSION);
	assert_int_equal(srv.peer_rc, 0);
	assert_string_equal(srv.peer, "h02");
	assert_int_equal(client_ctx.peer_rc, 0);
	assert_string_equal(client_ctx.peer, "h01");
	assert_int_equal(srv.io, 4);
	assert_string_equal(srv.msg, "ping");
	/* Too small a buffer is refused, not truncated. */
	assert_int_equal(tls_peer_name(srv.ssl, srv.peer, 3), -1);
	hs_end_close(&srv);
	hs_end_close(&client_ctx);
}

static void test_handshake_foreign_client(void **state)
{
	struct fixture *fx = *state;
	struct hs_end srv = {0}, client_ctx = {0};
	char ca[4096];

	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->a);
	/* Site b's h01 trusts site a's CA, but site a does not trust it. */
	handshake(&srv, &client_ctx, ca, fx->a, "h01", ca, fx->b, "h01");
	assert_int_not_equal(srv.rc, 1);
	assert_int_equal(srv.peer_rc, -1);
	assert_int_not_equal(SSL_get_verify_result(srv.ssl), X509_V_OK);
	/* The client learns it was refused. */
	assert_true(client_ctx.rc != 1 || client_ctx.io <= 0);
	hs_end_close(&srv);
	hs_end_close(&client_ctx);
}

static void test_handshake_foreign_server(void **state)
{
	struct fixture *fx = *state;
	struct hs_end srv = {0}, client_ctx = {0};
	char ca[4096];

	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->a);
	handshake(&srv, &client_ctx, ca, fx->b, "h01", ca, fx->a, "h02");
	assert_int_not_equal(client_ctx.rc, 1);
	assert_int_equal(client_ctx.peer_rc, -1);
	assert_int_equal(SSL_get_verify_result(client_ctx.ssl),
			 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_not_equal(srv.rc, 1);
	hs_end_close(&srv);
	hs_end_close(&client_ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_ca_cert),
	    cmocka_unit_test(test_host_cert),
	    cmocka_unit_test(test_other_ca),
	    cmocka_unit_test(test_no_clobber),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_validity),
	    cmocka_unit_test(test_rotate_revoke),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_ctx),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_handshake_foreign_client),
	    cmocka_unit_test(test_handshake_foreign_server),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
