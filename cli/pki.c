/* `bulkhead pki`: create the site CA and issue host certificates, so a new
 * site needs no PKI tooling besides bulkhead itself. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bulkhead/conf.h"
#include "bulkhead/tls.h"
#include "cli.h"

#define PKI_CA_CN "bulkhead site CA"
#define PKI_CA_DAYS 3652 /* ten years, leap days included */
#define PKI_HOST_DAYS 825
#define PKI_NAME_MAX 63
#define PKI_NAME_RULE "1 to 63 of A-Z a-z 0-9 . _ -, not starting with '-' or '.'"
#define PKI_SERIAL_BITS 128
/* A host whose clock lags the one that issued a certificate still accepts
 * it at once. */
#define PKI_BACKDATE_SECS 3600
#define PKI_TMP_SUFFIX ".tmpXXXXXX"

struct pki_ext {
	int nid;
	const char *value;
};

/* One output file, written under a temporary name and renamed into place. */
struct pki_out {
	char path[PATH_MAX];
	char tmp[PATH_MAX];
	int pending; /* tmp exists and has not been renamed */
};

/* What the options of a pki command set. */
struct pki_opts {
	int force;
	long days;		/* 0: the command's default */
	const char *not_before; /* NULL: now, backdated a little */
	const char *reason;	/* revoke */
};

static int pki_init_main(int argc, char **argv);
static int pki_issue_main(int argc, char **argv);
static int pki_rotate_main(int argc, char **argv);
static int pki_revoke_main(int argc, char **argv);

#define PKI_OPTS(force_help)                                                                       \
	"  -f, --force  " force_help "\n"                                                          \
	"  -h, --help   show this help\n"
#define PKI_VALIDITY_OPTS                                                                          \
	"  --days DAYS  valid for DAYS days (default 825)\n"                                       \
	"  --not-before YYYYMMDDHHMMSSZ\n"                                                         \
	"               valid from this UTC time (default: now, less an hour)\n"

static const struct cli_cmd pki_cmds[] = {
    {"init", pki_init_main, "create the site CA: DIR/ca.key and DIR/ca.crt", "[--force] DIR",
     PKI_OPTS("replace an existing CA (every certificate it issued stops working)")},
    {"issue", pki_issue_main,
     "issue DIR/NAME.key and DIR/NAME.crt for each host NAME, signed by the CA in DIR",
     "[--force] [--days DAYS] [--not-before TIME] DIR NAME...",
     PKI_OPTS("replace existing host certificates") PKI_VALIDITY_OPTS},
    {"rotate", pki_rotate_main,
     "replace DIR/NAME.key and DIR/NAME.crt of each issued host NAME with a new key and "
     "certificate",
     "[--days DAYS] [--not-before TIME] DIR NAME...",
     "  -h, --help   show this help\n" PKI_VALIDITY_OPTS},
    {"revoke", pki_revoke_main,
     "add HOST, or the certificate serial SERIAL, to the revocation list FILE (revoked.yaml)",
     "[--reason TEXT] FILE HOST|SERIAL...",
     "  --reason TEXT  why, recorded in the list\n"
     "  -h, --help     show this help\n"
     "A word of hex digits with a digit in it (or with colons) is a serial; any other a host.\n"
     "Then `bulkhead reload` (or SIGHUP) makes bulkheadd enforce it.\n"},
};

static const struct cli_table pki_table = {
    CLI_TABLE("bulkhead pki", pki_cmds),
    .foot = "\nNAME: " PKI_NAME_RULE "\n",
};

static const struct pki_ext pki_ca_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
};

static const struct pki_ext pki_host_exts[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    /* ECDSA keys sign; they never encipher. */
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth,clientAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
};

static void pki_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void pki_err(const char *fmt, ...)
{
	va_list ap;

	fputs("bulkhead pki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The oldest queued OpenSSL reason, in buf; the queue is emptied. */
static const char *pki_ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, len);
	return buf;
}

/* "YYYYMMDDHHMMSSZ", the form X.509 itself writes. */
static int pki_time_valid(const char *t)
{
	ASN1_TIME *a = ASN1_TIME_new();
	int ok = a != NULL && strlen(t) == 15 && ASN1_TIME_set_string_X509(a, t) == 1;

	ASN1_TIME_free(a);
	ERR_clear_error();
	return ok;
}

/* Parse the options of a pki command. Returns the index of the first
 * operand, or -1 with the exit status in *status once usage has been
 * printed. */
static int pki_opts_parse(int argc, char **argv, struct pki_opts *po, int *status)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},	      {"help", no_argument, NULL, 'h'},
	    {"days", required_argument, NULL, 'd'},   {"not-before", required_argument, NULL, 'b'},
	    {"reason", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	memset(po, 0, sizeof(*po));
	/* 0, not 1: glibc then also resets its internal state, which matters
	 * when the CLI entry point runs more than once in a process. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': po->force = 1; break;
		case 'd':
			errno = 0;
			po->days = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || po->days < 1 || po->days > 36525) {
				pki_err(
				    "%s: --days: expected a whole number of days from 1 to 36525, "
				    "got '%s'",
				    argv[0], optarg);
				*status = EX_USAGE;
				return -1;
			}
			break;
		case 'b':
			if (!pki_time_valid(optarg)) {
				pki_err(
				    "%s: --not-before: expected a UTC time YYYYMMDDHHMMSSZ, got "
				    "'%s'",
				    argv[0], optarg);
				*status = EX_USAGE;
				return -1;
			}
			po->not_before = optarg;
			break;
		case 'r': po->reason = optarg; break;
		case 'h':
			cli_usage(stdout, &pki_table, argv[0]);
			*status = EX_OK;
			return -1;
		default:
			if (optopt != 0)
				pki_err("%s: unknown option '-%c'", argv[0], optopt);
			else
				pki_err("%s: unknown option '%s'", argv[0], argv[optind - 1]);
			cli_usage(stderr, &pki_table, argv[0]);
			*status = EX_USAGE;
			return -1;
		}
	}
	return optind;
}

/* Host names become file names and certificate names, so they are kept to
 * a set that is safe as both. */
static int pki_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > PKI_NAME_MAX || name[0] == '-' || name[0] == '.')
		return 0;
	/* NAME.key would be the CA's own key. */
	if (strcmp(name, "ca") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int pki_path(char *out, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n + sizeof(PKI_TMP_SUFFIX) > PATH_MAX) {
		pki_err("%s/%s%s: path too long", dir, name, suffix);
		return -1;
	}
	return 0;
}

static int pki_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Write key or cert to a temporary file beside o->path; it is durable once
 * this returns 0. */
static int pki_out_write(struct pki_out *o, EVP_PKEY *key, X509 *cert)
{
	char reason[256];
	FILE *f = NULL;
	int fd = -1, ret = -1;

	/* pki_path left room for the suffix. */
	if (snprintf(o->tmp, sizeof(o->tmp), "%s%s", o->path, PKI_TMP_SUFFIX) >=
	    (int)sizeof(o->tmp)) {
		pki_err("%s: path too long", o->path);
		goto out;
	}
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		pki_err("%s: %s", o->tmp, strerror(errno));
		goto out;
	}
	o->pending = 1;
	if (fchmod(fd, key != NULL ? 0600 : 0644) < 0) {
		pki_err("%s: %s", o->tmp, strerror(errno));
		goto out;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		pki_err("%s: %s", o->tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	ERR_clear_error();
	if (key != NULL ? !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
			: !PEM_write_X509(f, cert)) {
		pki_err("%s: %s", o->tmp, pki_ossl_reason(reason, sizeof(reason)));
		goto out;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		pki_err("%s: %s", o->tmp, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (f != NULL && fclose(f) != 0 && ret == 0) {
		pki_err("%s: %s", o->tmp, strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static int pki_out_commit(struct pki_out *o)
{
	if (rename(o->tmp, o->path) < 0) {
		pki_err("%s: %s", o->path, strerror(errno));
		return -1;
	}
	o->pending = 0;
	return 0;
}

static void pki_out_discard(struct pki_out *o)
{
	if (o->pending)
		unlink(o->tmp);
	o->pending = 0;
}

/* Make the renames themselves durable. */
static int pki_dir_sync(const char *dir)
{
	int fd, ret = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		pki_err("%s: %s", dir, strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Load a PEM certificate (cert != NULL) or private key from path. */
static int pki_pem_load(const char *path, X509 **cert, EVP_PKEY **key)
{
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		pki_err("%s: %s", path, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	if (cert != NULL)
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
	else
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (cert != NULL ? *cert == NULL : *key == NULL) {
		char reason[256];

		pki_err("%s: %s", path, pki_ossl_reason(reason, sizeof(reason)));
		return -1;
	}
	return 0;
}

/* An unsigned certificate for key: subject CN=cn, a random serial, valid
 * from not_before (NULL: now, backdated a little) for days. NULL with the
 * OpenSSL reason queued. */
static X509 *pki_cert_new(EVP_PKEY *key, const char *cn, long days, const char *not_before)
{
	X509 *x;
	BIGNUM *serial = NULL;
	int ok = 0;

	x = X509_new();
	serial = BN_new();
	if (x == NULL || serial == NULL)
		goto out;
	if (!X509_set_version(x, X509_VERSION_3))
		goto out;
	if (!BN_rand(serial, PKI_SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL)
		goto out;
	if (not_before) {
		time_t t;
		struct tm tm;

		if (ASN1_TIME_set_string_X509(X509_getm_notBefore(x), not_before) != 1 ||
		    ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
			goto out;
		t = timegm(&tm);
		if (X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &t) == NULL)
			goto out;
	} else if (X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_SECS) == NULL ||
		   X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL) {
		goto out;
	}
	if (!X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_pubkey(x, key))
		goto out;
	ok = 1;
out:
	BN_free(serial);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static int pki_exts_add(X509 *x, X509V3_CTX *v3, const struct pki_ext *exts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, exts[i].nid, exts[i].value);
		int ok;

		if (ext == NULL)
			return -1;
		ok = X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			return -1;
	}
	return 0;
}

/* A certificate to issue with a new key: its files (DIR/NAME.key and
 * DIR/NAME.crt), subject, lifetime, extensions and signer. */
struct pki_cert_spec {
	const char *name, *cn;
	long days;
	const char *not_before; /* NULL: now */
	const struct pki_ext *exts;
	size_t nexts;
	const struct pki_ext *san; /* NULL: none */
	X509 *ca_cert;		   /* NULL: the CA itself, signed by its own key */
	EVP_PKEY *ca_key;
};

/* A new key and its certificate, durable in DIR once this returns 0, with
 * the certificate's path in crt_path (PATH_MAX bytes). */
static int pki_pair_write(const char *dir, const struct pki_cert_spec *c, char *crt_path)
{
	struct pki_out key_out = {0}, crt_out = {0};
	struct pki_out *first = &key_out, *last = &crt_out;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *issuer;
	X509V3_CTX v3;
	char reason[256];
	int ret = -1;

	if (pki_path(key_out.path, dir, c->name, ".key") < 0 ||
	    pki_path(crt_out.path, dir, c->name, ".crt") < 0)
		goto out;
	ERR_clear_error();
	key = EVP_EC_gen("P-256");
	if (key == NULL) {
		pki_err("%s: %s", key_out.path, pki_ossl_reason(reason, sizeof(reason)));
		goto out;
	}
	cert = pki_cert_new(key, c->cn, c->days, c->not_before);
	issuer = c->ca_cert ? c->ca_cert : cert;
	if (cert == NULL || !X509_set_issuer_name(cert, X509_get_subject_name(issuer))) {
		pki_err("%s: %s", crt_out.path, pki_ossl_reason(reason, sizeof(reason)));
		goto out;
	}
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	if (pki_exts_add(cert, &v3, c->exts, c->nexts) < 0 ||
	    (c->san && pki_exts_add(cert, &v3, c->san, 1) < 0) ||
	    X509_sign(cert, c->ca_key ? c->ca_key : key, EVP_sha256()) <= 0) {
		pki_err("%s: %s", crt_out.path, pki_ossl_reason(reason, sizeof(reason)));
		goto out;
	}

	if (pki_out_write(&key_out, key, NULL) < 0 || pki_out_write(&crt_out, NULL, cert) < 0)
		goto out;
	/* The file renamed last marks the work as done: ca.key for the CA,
	 * NAME.crt for a host. */
	if (!c->ca_cert) {
		first = &crt_out;
		last = &key_out;
	}
	if (pki_out_commit(first) < 0 || pki_out_commit(last) < 0)
		goto out;
	snprintf(crt_path, PATH_MAX, "%s", crt_out.path);
	ret = 0;
out:
	pki_out_discard(&key_out);
	pki_out_discard(&crt_out);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}

static int pki_init_main(int argc, char **argv)
{
	static const struct pki_cert_spec ca = {.name = "ca",
						.cn = PKI_CA_CN,
						.days = PKI_CA_DAYS,
						.exts = pki_ca_exts,
						.nexts = CLI_NELEM(pki_ca_exts)};
	char path[PATH_MAX];
	const char *dir;
	struct pki_opts po;
	int force, status, i;

	i = pki_opts_parse(argc, argv, &po, &status);
	if (i < 0)
		return status;
	force = po.force;
	if (argc - i != 1 || po.days || po.not_before || po.reason) {
		cli_usage(stderr, &pki_table, argv[0]);
		return EX_USAGE;
	}
	dir = argv[i];

	if (pki_path(path, dir, "ca", ".key") < 0)
		return 1;
	if (!force && pki_exists(path)) {
		pki_err("%s: already exists (--force replaces the site CA)", path);
		return 1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		pki_err("%s: %s", dir, strerror(errno));
		return 1;
	}
	if (pki_pair_write(dir, &ca, path) < 0 || pki_dir_sync(dir) < 0)
		return 1;
	printf("%s\n", path);
	return 0;
}

/* Check every NAME before anything is written, reporting every problem. */
static int pki_names_check(const char *dir, char **names, int n, int force)
{
	char path[PATH_MAX];
	int i, j, ret = 0;

	for (i = 0; i < n; i++) {
		if (!pki_name_valid(names[i])) {
			pki_err("'%s': invalid host name (" PKI_NAME_RULE ", not 'ca')", names[i]);
			ret = -1;
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				break;
		if (j < i) {
			pki_err("%s: named twice", names[i]);
			ret = -1;
			continue;
		}
		if (pki_path(path, dir, names[i], ".crt") < 0) {
			ret = -1;
			continue;
		}
		if (!force && pki_exists(path)) {
			pki_err("%s: already exists (--force replaces it)", path);
			ret = -1;
		}
	}
	return ret;
}

static int pki_host_issue(const char *dir, const char *name, const struct pki_opts *po,
			  X509 *ca_cert, EVP_PKEY *ca_key)
{
	char san_value[PKI_NAME_MAX + sizeof("DNS:")], path[PATH_MAX];
	/* name was validated, so it cannot smuggle more entries (",IP:...")
	 * into this extension value. */
	struct pki_ext san = {NID_subject_alt_name, san_value};
	struct pki_cert_spec host = {.name = name,
				     .cn = name,
				     .days = po->days ? po->days : PKI_HOST_DAYS,
				     .not_before = po->not_before,
				     .exts = pki_host_exts,
				     .nexts = CLI_NELEM(pki_host_exts),
				     .san = &san,
				     .ca_cert = ca_cert,
				     .ca_key = ca_key};

	snprintf(san_value, sizeof(san_value), "DNS:%s", name);
	if (pki_pair_write(dir, &host, path) < 0)
		return -1;
	printf("%s\n", path);
	return 0;
}

/* issue, and rotate (rotate: every NAME must have been issued, and is
 * replaced). */
static int pki_issue_run(int argc, char **argv, int rotate)
{
	char key_path[PATH_MAX], crt_path[PATH_MAX];
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	const char *dir;
	struct pki_opts po;
	int status, i, n, ret = 1;

	i = pki_opts_parse(argc, argv, &po, &status);
	if (i < 0)
		return status;
	if (argc - i < 2 || po.reason || (rotate && po.force)) {
		cli_usage(stderr, &pki_table, argv[0]);
		return EX_USAGE;
	}
	dir = argv[i];
	n = argc - i - 1;

	if (pki_names_check(dir, argv + i + 1, n, po.force || rotate) < 0)
		goto out;
	for (int j = i + 1; rotate && j < argc; j++) {
		if (pki_path(crt_path, dir, argv[j], ".crt") < 0)
			goto out;
		if (!pki_exists(crt_path)) {
			pki_err("%s: no certificate to rotate ('pki issue' makes the first)",
				crt_path);
			goto out;
		}
	}
	if (pki_path(key_path, dir, "ca", ".key") < 0 || pki_path(crt_path, dir, "ca", ".crt") < 0)
		goto out;
	if (pki_pem_load(crt_path, &ca_cert, NULL) < 0 || pki_pem_load(key_path, NULL, &ca_key) < 0)
		goto out;
	if (X509_check_private_key(ca_cert, ca_key) != 1) {
		ERR_clear_error();
		pki_err("%s: does not match %s", key_path, crt_path);
		goto out;
	}
	for (i = argc - n; i < argc; i++)
		if (pki_host_issue(dir, argv[i], &po, ca_cert, ca_key) < 0)
			goto out;
	if (pki_dir_sync(dir) < 0)
		goto out;
	ret = 0;
out:
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	return ret;
}

static int pki_issue_main(int argc, char **argv)
{
	return pki_issue_run(argc, argv, 0);
}

/* A new key and certificate in the same files: an agent takes them on its
 * next SIGHUP, keeping its session, and presents them at its next handshake. */
static int pki_rotate_main(int argc, char **argv)
{
	return pki_issue_run(argc, argv, 1);
}

/* A serial is hex with at least one digit, or has colons: "web01" is a
 * host, "0A1B" and "ab:cd" are serials. A host named like a serial is
 * revoked by "host:" in the file by hand. */
static int pki_is_serial(const char *w)
{
	int digit = 0;

	for (const char *p = w; *p; p++) {
		if (*p == ':' || (*p >= '0' && *p <= '9'))
			digit = 1;
		else if (!((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
			return 0;
	}
	return digit;
}

/* The reason as a YAML double-quoted scalar; -1 for control characters. */
static int pki_yaml_quote(const char *in, char *out, size_t len)
{
	size_t n = 0;

	if (len < 3)
		return -1;
	out[n++] = '"';
	for (; *in; in++) {
		if ((unsigned char)*in < 0x20 || *in == 0x7f)
			return -1;
		if (n + 4 >= len)
			return -1;
		if (*in == '"' || *in == '\\')
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

static void pki_revoked_err(void *arg, const char *msg)
{
	pki_err("%s", msg);
}

/* One entry of the list, as pki revoke writes it. */
static void pki_revoked_put(FILE *f, const char *what, const char *v, const char *reason)
{
	char q[512];

	fprintf(f, "  - %s: %s\n", what, v);
	if (reason && pki_yaml_quote(reason, q, sizeof(q)) == 0)
		fprintf(f, "    reason: %s\n", q);
}

/* FILE (created if missing) rewritten with its entries and the new ones;
 * the result is checked as bulkheadd reads it before it replaces FILE. */
static int pki_revoke_main(int argc, char **argv)
{
	struct pki_out o = {0};
	struct revoked_list old = {0}, rl;
	struct pki_opts po;
	char reason[512] = "", serial[128];
	const char *file;
	FILE *f = NULL;
	int status, i, fd, ret = 1;

	i = pki_opts_parse(argc, argv, &po, &status);
	if (i < 0)
		return status;
	if (argc - i < 2 || po.force || po.days || po.not_before) {
		cli_usage(stderr, &pki_table, argv[0]);
		return EX_USAGE;
	}
	file = argv[i];
	if (po.reason && pki_yaml_quote(po.reason, reason, sizeof(reason)) < 0) {
		pki_err("--reason: at most %zu characters, no control characters",
			sizeof(reason) / 2 - 2);
		return EX_USAGE;
	}
	for (int j = i + 1; j < argc; j++) {
		if (pki_is_serial(argv[j])
			? tls_serial_normalize(argv[j], serial, sizeof(serial)) < 0
			: !pki_name_valid(argv[j])) {
			pki_err("'%s': neither a host name nor a certificate serial", argv[j]);
			return EX_USAGE;
		}
	}
	if (pki_exists(file) && revoked_load(file, &old, pki_revoked_err, NULL) < 0) {
		pki_err("%s: not changed: fix the problems above first", file);
		return 1;
	}
	if (snprintf(o.path, sizeof(o.path), "%s", file) >= (int)sizeof(o.path) ||
	    snprintf(o.tmp, sizeof(o.tmp), "%s%s", file, PKI_TMP_SUFFIX) >= (int)sizeof(o.tmp)) {
		pki_err("%s: path too long", file);
		goto out;
	}
	fd = mkstemp(o.tmp);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		pki_err("%s: %s", o.tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(o.tmp);
		}
		goto out;
	}
	o.pending = 1;
	fputs("# Certificates and hosts bulkheadd no longer admits; see bulkhead-policy(5).\n"
	      "# Written by 'bulkhead pki revoke'; 'bulkhead reload' enforces it.\n"
	      "revoked:\n",
	      f);
	for (int j = 0; j < old.n; j++)
		pki_revoked_put(f, old.v[j].host ? "host" : "serial",
				old.v[j].host ? old.v[j].host : old.v[j].norm, old.v[j].reason);
	for (int j = i + 1; j < argc; j++) {
		int ser = pki_is_serial(argv[j]);

		if (ser)
			tls_serial_normalize(argv[j], serial, sizeof(serial));
		if (revoked_find(&old, ser ? NULL : argv[j], ser ? serial : NULL))
			continue; /* already there */
		pki_revoked_put(f, ser ? "serial" : "host", ser ? serial : argv[j], po.reason);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		pki_err("%s: %s", o.tmp, strerror(errno));
		goto out;
	}
	fclose(f);
	f = NULL;
	if (revoked_load(o.tmp, &rl, pki_revoked_err, NULL) < 0) {
		pki_err("%s: not changed: the new list would not read back (above)", file);
		goto out;
	}
	revoked_clear(&rl);
	if (chmod(o.tmp, 0644) < 0 || pki_out_commit(&o) < 0)
		goto out;
	for (int j = i + 1; j < argc; j++)
		printf("revoked %s\n", argv[j]);
	ret = 0;
out:
	if (f)
		fclose(f);
	pki_out_discard(&o);
	revoked_clear(&old);
	return ret;
}

int cmd_pki_main(int argc, char **argv)
{
	return cli_table_main(&pki_table, argc, argv);
}
