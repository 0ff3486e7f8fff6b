/* Agent config, controller config and inventory: YAML files read with the
 * libyaml document API, checked key by key, every error reported. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "yamlutil.h"

#define CONF_FILE_MAX (1024 * 1024)	      /* configs are small; refuse anything silly */
#define CONF_INVENTORY_MAX (64 * 1024 * 1024) /* ~300,000 hosts; sites are not small */
#define CONF_MS_MAX 3600000
#define CONF_NAME_MAX 63
#define CONF_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define CONF_KEYS_MAX 16

static const struct conf_key agent_keys[] = {
    {"controllers", CONF_ADDRS, offsetof(struct agent_conf, controllers),
     offsetof(struct agent_conf, ncontrollers), 1, NULL, 0, NULL, NULL},
    {"port", CONF_PORT, offsetof(struct agent_conf, port), 0, 0, NULL, 7443, NULL, NULL},
    {"controller_name", CONF_STR, offsetof(struct agent_conf, controller_name), 0, 0, "bulkheadd",
     0, NULL, NULL},
    {"name", CONF_NAME, offsetof(struct agent_conf, name), 0, 0, NULL, 0, NULL, NULL},
    {"ca", CONF_STR, offsetof(struct agent_conf, ca), 0, 1, NULL, 0, NULL, NULL},
    {"cert", CONF_STR, offsetof(struct agent_conf, cert), 0, 1, NULL, 0, NULL, NULL},
    {"key", CONF_STR, offsetof(struct agent_conf, key), 0, 1, NULL, 0, NULL, NULL},
    {"state_dir", CONF_STR, offsetof(struct agent_conf, state_dir), 0, 1, NULL, 0, NULL, NULL},
    {"profile", CONF_STR, offsetof(struct agent_conf, profile), 0, 0, "linux-server", 0, NULL,
     NULL},
    {"mgmt_if", CONF_IFNAME, offsetof(struct agent_conf, mgmt_if), 0, 0, NULL, 0, NULL, NULL},
    {"profile_dir", CONF_STR, offsetof(struct agent_conf, profile_dir), 0, 0, NULL, 0, NULL, NULL},
    {"heartbeat_ms", CONF_MS, offsetof(struct agent_conf, heartbeat_ms), 0, 0, NULL, 1000, NULL,
     NULL},
    {"dead_ms", CONF_MS, offsetof(struct agent_conf, dead_ms), 0, 0, NULL, 5000, NULL, NULL},
};

static const struct conf_key ctl_keys[] = {
    {"listen", CONF_ADDR, offsetof(struct ctl_conf, listen), 0, 0, "0.0.0.0", 0, NULL, NULL},
    {"port", CONF_PORT, offsetof(struct ctl_conf, port), 0, 0, NULL, 7443, NULL, NULL},
    {"ca", CONF_STR, offsetof(struct ctl_conf, ca), 0, 1, NULL, 0, NULL, NULL},
    {"cert", CONF_STR, offsetof(struct ctl_conf, cert), 0, 1, NULL, 0, NULL, NULL},
    {"key", CONF_STR, offsetof(struct ctl_conf, key), 0, 1, NULL, 0, NULL, NULL},
    {"state_dir", CONF_STR, offsetof(struct ctl_conf, state_dir), 0, 1, NULL, 0, NULL, NULL},
    {"control_socket", CONF_STR, offsetof(struct ctl_conf, control_socket), 0, 0,
     "/run/bulkhead/bulkheadd.sock", 0, NULL, NULL},
    {"control_group", CONF_STR, offsetof(struct ctl_conf, control_group), 0, 0, NULL, 0, NULL,
     NULL},
    {"inventory", CONF_STR, offsetof(struct ctl_conf, inventory), 0, 1, NULL, 0, NULL, NULL},
    {"heartbeat_ms", CONF_MS, offsetof(struct ctl_conf, heartbeat_ms), 0, 0, NULL, 1000, NULL,
     NULL},
    {"dead_ms", CONF_MS, offsetof(struct ctl_conf, dead_ms), 0, 0, NULL, 5000, NULL, NULL},
};

static const struct conf_key inv_keys[] = {
    {"hosts", CONF_HOSTS, 0, 0, 1, NULL, 0, NULL, NULL},
    {"switches", CONF_SWITCHES, 0, 0, 0, NULL, 0, NULL, NULL},
};

/* Indexes into host_keys, for the per-host checks. */
enum { HOST_NAME, HOST_ADDRS, HOST_PROFILE, HOST_LABELS };

static const struct conf_key host_keys[] = {
    [HOST_NAME] = {"name", CONF_NAME, offsetof(struct inv_host, name), 0, 1, NULL, 0, NULL, NULL},
    [HOST_ADDRS] = {"addresses", CONF_ADDRS, offsetof(struct inv_host, addrs),
		    offsetof(struct inv_host, naddrs), 1, NULL, 0, NULL, NULL},
    [HOST_PROFILE] = {"profile", CONF_STR, offsetof(struct inv_host, profile), 0, 1, NULL, 0, NULL,
		      NULL},
    [HOST_LABELS] = {"labels", CONF_LABELS, offsetof(struct inv_host, labels),
		     offsetof(struct inv_host, nlabels), 0, NULL, 0, NULL, NULL},
};

static int inv_ports_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			 void *base);

/* A switch is a host with a port map. */
static const struct conf_key switch_keys[] = {
    [HOST_NAME] = {"name", CONF_NAME, offsetof(struct inv_host, name), 0, 1, NULL, 0, NULL, NULL},
    [HOST_ADDRS] = {"addresses", CONF_ADDRS, offsetof(struct inv_host, addrs),
		    offsetof(struct inv_host, naddrs), 1, NULL, 0, NULL, NULL},
    [HOST_PROFILE] = {"profile", CONF_STR, offsetof(struct inv_host, profile), 0, 1, NULL, 0, NULL,
		      NULL},
    [HOST_LABELS] = {"labels", CONF_LABELS, offsetof(struct inv_host, labels),
		     offsetof(struct inv_host, nlabels), 0, NULL, 0, NULL, NULL},
    {"ports", CONF_FN, 0, 0, 0, NULL, 0, inv_ports_set, "a mapping of port names to host names"},
};

/* While an inventory is parsed: where it goes, and what is taken. */
struct inv_state {
	struct inventory *inv;
	struct inv_switches *sw;
	struct conf_index names, addrs;
};

static void conf_vreport(struct conf_ctx *ctx, const yaml_mark_t *m, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* m == NULL: the message is about the whole file. */
static void conf_vreport(struct conf_ctx *ctx, const yaml_mark_t *m, const char *fmt, va_list ap)
{
	char msg[512], line[1024 + 512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	ctx->nerrors++;
	if (ctx->diag != NULL) {
		ctx->diag(ctx->arg, m != NULL ? m->line + 1 : 0, m != NULL ? m->column + 1 : 0,
			  msg);
		return;
	}
	if (m != NULL)
		snprintf(line, sizeof(line), "%s:%zu:%zu: %s", ctx->path, m->line + 1,
			 m->column + 1, msg);
	else
		snprintf(line, sizeof(line), "%s: %s", ctx->path, msg);
	ctx->err(ctx->arg, line);
}

void conf_report(struct conf_ctx *ctx, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vreport(ctx, n != NULL ? &n->start_mark : NULL, fmt, ap);
	va_end(ap);
}

void conf_report_at(struct conf_ctx *ctx, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vreport(ctx, m, fmt, ap);
	va_end(ap);
}

void conf_error_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* A node as a message shows it: the quoted value, or what kind of node it is. */
const char *conf_node_describe(const yaml_node_t *n, char *buf, size_t size)
{
	size_t i, o = 0, len;

	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	len = n->data.scalar.length;
	if (len == 0)
		return "an empty value";
	buf[o++] = '"';
	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char ch = n->data.scalar.value[i];

		/* keep the report on one line, whatever the file holds */
		buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *conf_scalar(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	/* an escaped NUL would silently cut the value short */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static int conf_scalar_equal(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->type == YAML_SCALAR_NODE && b->type == YAML_SCALAR_NODE &&
	       a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

int conf_addr_parse(const char *s, struct conf_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->a.v4) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, s, out->a.v6) == 1)
		out->family = AF_INET6;
	else
		return -1;
	if (inet_ntop(out->family, &out->a, out->text, sizeof(out->text)) == NULL)
		return -1;
	return 0;
}

int conf_addr_equal(const struct conf_addr *a, const struct conf_addr *b)
{
	size_t len = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(&a->a, &b->a, len) == 0;
}

/* Whole file into memory, NUL-terminated; 0 or an errno value. */
static int conf_file_read(const char *path, size_t max, char **bufp, size_t *lenp)
{
	size_t len = 0, size = 4096;
	char *buf, *nbuf;
	struct stat st;
	ssize_t r;
	int fd, e = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return errno;
	buf = xcalloc(size, 1);
	if (fstat(fd, &st) == -1) {
		e = errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		e = EISDIR;
		goto out;
	}
	for (;;) {
		if (len + 1 == size) {
			size *= 2;
			if (size > max + 1) {
				e = EFBIG;
				goto out;
			}
			nbuf = realloc(buf, size);
			if (nbuf == NULL)
				fatal("out of memory");
			buf = nbuf;
		}
		r = read(fd, buf + len, size - 1 - len);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			e = errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
out:
	close(fd);
	if (e != 0) {
		free(buf);
		return e;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

static void conf_parser_report(struct conf_ctx *ctx, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "unreadable input";

	if (p->error == YAML_MEMORY_ERROR)
		fatal("out of memory");
	if (p->error == YAML_READER_ERROR)
		/* the reader knows a byte offset, not a line */
		conf_report(ctx, NULL, "syntax error: %s at byte %zu", problem, p->problem_offset);
	else if (p->context != NULL)
		conf_report_at(ctx, &p->problem_mark, "syntax error: %s (%s at line %zu)", problem,
			       p->context, p->context_mark.line + 1);
	else
		conf_report_at(ctx, &p->problem_mark, "syntax error: %s", problem);
}

void conf_ctx_init(struct conf_ctx *ctx, const char *path, conf_error_fn err, void *arg)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->path = path;
	ctx->err = err != NULL ? err : conf_error_stderr;
	ctx->arg = arg;
}

yaml_node_t *conf_doc_load(struct conf_ctx *ctx)
{
	yaml_node_t *root;
	size_t len = 0;
	char d[80];
	int e;

	e = conf_file_read(ctx->path, ctx->max_size != 0 ? ctx->max_size : CONF_FILE_MAX, &ctx->buf,
			   &len);
	if (e != 0) {
		conf_report(ctx, NULL, "%s", strerror(e));
		return NULL;
	}
	if (!yaml_parser_initialize(&ctx->parser))
		fatal("out of memory");
	ctx->parsing = 1;
	yaml_parser_set_input_string(&ctx->parser, (const unsigned char *)ctx->buf, len);
	if (!yaml_parser_load(&ctx->parser, &ctx->doc)) {
		conf_parser_report(ctx, &ctx->parser);
		return NULL;
	}
	ctx->loaded = 1;
	root = yaml_document_get_root_node(&ctx->doc);
	if (root == NULL) {
		conf_report(ctx, NULL, "empty file, expected a mapping of keys");
		return NULL;
	}
	if (root->type != YAML_MAPPING_NODE) {
		conf_report(ctx, root, "expected a mapping of keys, got %s",
			    conf_node_describe(root, d, sizeof(d)));
		return NULL;
	}
	return root;
}

/* Anything after the first document is an error too, reported last because
 * that is where it sits in the file. */
void conf_doc_close(struct conf_ctx *ctx)
{
	yaml_document_t extra;
	yaml_node_t *more;

	if (ctx->loaded && yaml_document_get_root_node(&ctx->doc) != NULL) {
		if (yaml_parser_load(&ctx->parser, &extra)) {
			more = yaml_document_get_root_node(&extra);
			if (more != NULL)
				conf_report(ctx, more, "a second YAML document, expected only one");
			yaml_document_delete(&extra);
		} else {
			conf_parser_report(ctx, &ctx->parser);
		}
	}
	if (ctx->loaded)
		yaml_document_delete(&ctx->doc);
	if (ctx->parsing)
		yaml_parser_delete(&ctx->parser);
	free(ctx->buf);
	ctx->loaded = ctx->parsing = 0;
	ctx->buf = NULL;
}

yaml_node_t *conf_node(struct conf_ctx *ctx, int idx)
{
	return yaml_document_get_node(&ctx->doc, idx);
}

/* The key of pair p, or NULL when it is not a usable name. Duplicates are
 * reported but still returned: the later value wins, the file is rejected. */
const char *conf_map_key(struct conf_ctx *ctx, yaml_node_t *map, yaml_node_pair_t *p)
{
	yaml_node_t *k = conf_node(ctx, p->key);
	yaml_node_pair_t *q;
	const char *name = conf_scalar(k);
	char d[80];

	if (name == NULL || *name == '\0') {
		conf_report(ctx, k, "expected a key name, got %s",
			    conf_node_describe(k, d, sizeof(d)));
		return NULL;
	}
	for (q = map->data.mapping.pairs.start; q < p; q++) {
		const yaml_node_t *prev = conf_node(ctx, q->key);

		if (conf_scalar_equal(k, prev)) {
			conf_report(ctx, k, "duplicate key %s (first at line %zu)",
				    conf_node_describe(k, d, sizeof(d)), prev->start_mark.line + 1);
			break;
		}
	}
	return name;
}

static int conf_key_find(const struct conf_key *keys, size_t nkeys, const char *name)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* What a key's value should look like, for messages. */
static const char *conf_key_expect(const struct conf_key *key, char *buf, size_t size)
{
	switch (key->type) {
	case CONF_STR: return "a string";
	case CONF_NAME: return "1..63 characters of [A-Za-z0-9._-]";
	case CONF_IFNAME: return "an interface name of 1..15 characters";
	case CONF_ADDR: return "an IPv4 or IPv6 address";
	case CONF_PORT: return "an integer 1..65535";
	case CONF_MS: snprintf(buf, size, "an integer 1..%d", CONF_MS_MAX); return buf;
	case CONF_ADDRS: return "a list of IPv4 or IPv6 addresses";
	case CONF_LABELS: return "a mapping of strings";
	case CONF_HOSTS: return "a list of hosts";
	case CONF_SWITCHES: return "a list of switches";
	case CONF_FN: return key->expect;
	}
	return "something else";
}

void conf_value_bad(struct conf_ctx *ctx, const struct conf_key *key, const yaml_node_t *v)
{
	char d[80], e[48];

	conf_report(ctx, v, "\"%s\": expected %s, got %s", key->name,
		    conf_key_expect(key, e, sizeof(e)), conf_node_describe(v, d, sizeof(d)));
}

int conf_name_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= CONF_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
		   len;
}

int conf_ifname_valid(const char *s)
{
	size_t len = strlen(s);

	/* what the kernel's dev_valid_name() accepts */
	return len >= 1 && len <= CONF_IFNAME_MAX && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
	       strcspn(s, "/: \t\n\r\f\v") == len;
}

static int conf_string_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			   char **dst)
{
	const char *s = conf_scalar(v);
	struct conf_addr a;
	int ok;

	if (s == NULL || *s == '\0') {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	switch (key->type) {
	case CONF_NAME: ok = conf_name_valid(s); break;
	case CONF_IFNAME: ok = conf_ifname_valid(s); break;
	case CONF_ADDR:
		ok = conf_addr_parse(s, &a) == 0;
		if (ok)
			s = a.text;
		break;
	default: ok = 1; break;
	}
	if (!ok) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* Plain decimal only: "0x10", "1e3" or "+5" in a config are more likely typos. */
static int conf_int_get(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v, int min,
			int max, int *out)
{
	const char *s = conf_scalar(v);
	long long n = 0;
	size_t i;

	if (s == NULL || *s == '\0')
		goto bad;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			goto bad;
		n = n * 10 + (s[i] - '0');
	}
	if (n < min || n > max)
		goto bad;
	*out = (int)n;
	return 0;
bad:
	conf_value_bad(ctx, key, v);
	return -1;
}

static int conf_addr_add(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *n,
			 struct conf_addr *addrs, int *count)
{
	const char *s = conf_scalar(n);
	struct conf_addr a;
	char d[80];
	int i;

	if (s == NULL || conf_addr_parse(s, &a) == -1) {
		conf_report(ctx, n, "\"%s\": expected an IPv4 or IPv6 address, got %s", key->name,
			    conf_node_describe(n, d, sizeof(d)));
		return -1;
	}
	for (i = 0; i < *count; i++) {
		if (conf_addr_equal(&addrs[i], &a)) {
			conf_report(ctx, n, "\"%s\": address %s listed twice", key->name, a.text);
			return -1;
		}
	}
	/* past the limit the list is already reported; keep checking the items */
	if (*count < CONF_MAX_ADDRS)
		addrs[(*count)++] = a;
	return 0;
}

/* A list of address literals, or a single one. */
static int conf_addrs_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  struct conf_addr *addrs, int *count)
{
	yaml_node_item_t *it;
	ptrdiff_t n;
	int rc = 0;

	*count = 0;
	if (v->type == YAML_SCALAR_NODE)
		return conf_addr_add(ctx, key, v, addrs, count);
	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	n = v->data.sequence.items.top - v->data.sequence.items.start;
	if (n == 0) {
		conf_report(ctx, v, "\"%s\": expected at least one address", key->name);
		return -1;
	}
	if (n > CONF_MAX_ADDRS) {
		conf_report(ctx, v, "\"%s\": expected at most %d addresses, got %td", key->name,
			    CONF_MAX_ADDRS, n);
		rc = -1;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
		if (conf_addr_add(ctx, key, conf_node(ctx, *it), addrs, count) == -1)
			rc = -1;
	return rc;
}

static void inv_labels_free(struct inv_label *labels, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(labels[i].key);
		free(labels[i].value);
	}
	free(labels);
}

static int inv_labels_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  struct inv_label **labels, int *count)
{
	yaml_node_pair_t *p;
	yaml_node_t *val;
	const char *k, *s;
	ptrdiff_t n;
	char d[80];
	int rc = 0;

	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	inv_labels_free(*labels, *count);
	*labels = NULL;
	*count = 0;
	n = v->data.mapping.pairs.top - v->data.mapping.pairs.start;
	if (n == 0)
		return 0;
	*labels = xcalloc((size_t)n, sizeof(**labels));
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		k = conf_map_key(ctx, v, p);
		if (k == NULL) {
			rc = -1;
			continue;
		}
		val = conf_node(ctx, p->value);
		s = conf_scalar(val);
		if (s == NULL) {
			conf_report(ctx, val, "label \"%s\": expected a string, got %s", k,
				    conf_node_describe(val, d, sizeof(d)));
			rc = -1;
			continue;
		}
		(*labels)[*count].key = xstrdup(k);
		(*labels)[*count].value = xstrdup(s);
		(*count)++;
	}
	return rc;
}

static int conf_value_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base);

int conf_map_apply(struct conf_ctx *ctx, yaml_node_t *map, const struct conf_key *keys,
		   size_t nkeys, void *base, struct conf_seen *seen)
{
	yaml_node_pair_t *p;
	const char *name;
	yaml_node_t *v;
	char d[80];
	int i, errors = ctx->nerrors;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		name = conf_map_key(ctx, map, p);
		if (name == NULL)
			continue;
		i = conf_key_find(keys, nkeys, name);
		if (i < 0) {
			conf_report(ctx, conf_node(ctx, p->key), "unknown key %s",
				    conf_node_describe(conf_node(ctx, p->key), d, sizeof(d)));
			continue;
		}
		v = conf_node(ctx, p->value);
		seen[i].value = v;
		seen[i].bad = conf_value_set(ctx, &keys[i], v, base) == -1;
	}
	return ctx->nerrors == errors ? 0 : -1;
}

/* --- an open-addressing hash map, so that big inventories check in linear time --- */

struct conf_index_slot {
	void *key; /* NULL: free */
	size_t len;
	int val;
};

void conf_index_init(struct conf_index *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void conf_index_clear(struct conf_index *ix)
{
	size_t i;

	for (i = 0; i < ix->cap; i++)
		free(ix->slots[i].key);
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

static uint64_t conf_index_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct conf_index_slot *conf_index_slot(const struct conf_index *ix, const void *key,
					       size_t len)
{
	size_t i = (size_t)conf_index_hash(key, len) & (ix->cap - 1);

	for (;; i = (i + 1) & (ix->cap - 1)) {
		struct conf_index_slot *s = &ix->slots[i];

		if (s->key == NULL || (s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

int conf_index_get(const struct conf_index *ix, const void *key, size_t len)
{
	const struct conf_index_slot *s;

	if (ix->cap == 0)
		return -1;
	s = conf_index_slot(ix, key, len);
	return s->key != NULL ? s->val : -1;
}

int conf_index_put(struct conf_index *ix, const void *key, size_t len, int val)
{
	struct conf_index_slot *s, *old = ix->slots;
	size_t i, oldcap = ix->cap;

	if (2 * (ix->n + 1) > ix->cap) {
		ix->cap = oldcap != 0 ? 2 * oldcap : 64;
		ix->slots = xcalloc(ix->cap, sizeof(*ix->slots));
		for (i = 0; i < oldcap; i++)
			if (old[i].key != NULL)
				*conf_index_slot(ix, old[i].key, old[i].len) = old[i];
		free(old);
	}
	s = conf_index_slot(ix, key, len);
	if (s->key != NULL)
		return s->val;
	s->key = xcalloc(1, len != 0 ? len : 1);
	memcpy(s->key, key, len);
	s->len = len;
	s->val = val;
	ix->n++;
	return -1;
}

size_t conf_addr_key(const struct conf_addr *a, uint8_t key[17])
{
	size_t len = a->family == AF_INET ? 4 : 16;

	key[0] = (uint8_t)a->family;
	memcpy(key + 1, &a->a, len);
	return len + 1;
}

/* --- the inventory: hosts and switches --- */

static void inv_host_label(const struct inv_host *h, char *buf, size_t size)
{
	if (h->name != NULL)
		snprintf(buf, size, "host \"%s\"", h->name);
	else
		snprintf(buf, size, "the host at line %d", h->line);
}

/* Compares one of the last host's addresses with those of the hosts before it. */
static void inv_addr_owner_check(struct conf_ctx *ctx, struct inv_state *st, yaml_node_t *n)
{
	const char *s = conf_scalar(n);
	struct conf_addr a;
	uint8_t key[17];
	size_t len;
	char who[96];
	int owner, self = st->inv->nhosts - 1;

	if (s == NULL || conf_addr_parse(s, &a) == -1)
		return; /* already reported */
	len = conf_addr_key(&a, key);
	owner = conf_index_put(&st->addrs, key, len, self);
	if (owner >= 0 && owner != self) {
		inv_host_label(&st->inv->hosts[owner], who, sizeof(who));
		conf_report(ctx, n, "address %s already belongs to %s", a.text, who);
	}
}

/* Parses the next host (or switch) into inv->hosts[inv->nhosts], checking it
 * against the ones before it. */
static void inv_host_parse(struct conf_ctx *ctx, struct inv_state *st, yaml_node_t *node,
			   const struct conf_key *keys, size_t nkeys, const char *noun)
{
	struct inventory *inv = st->inv;
	struct inv_host *h = &inv->hosts[inv->nhosts++];
	struct conf_seen seen[nitems(switch_keys)];
	yaml_node_item_t *it;
	yaml_node_t *addrs;
	char who[96];
	int first;

	memset(seen, 0, sizeof(seen));
	h->line = (int)node->start_mark.line + 1;
	conf_map_apply(ctx, node, keys, nkeys, h, seen);
	if (h->name != NULL)
		snprintf(who, sizeof(who), "%s \"%s\"", noun, h->name);
	else
		snprintf(who, sizeof(who), "%s", noun);
	if (seen[HOST_NAME].value == NULL)
		conf_report(ctx, node, "%s has no name", noun);
	if (seen[HOST_ADDRS].value == NULL)
		conf_report(ctx, node, "%s has no addresses", who);
	if (seen[HOST_PROFILE].value == NULL)
		conf_report(ctx, node, "%s has no profile", who);

	if (h->name != NULL) {
		first = conf_index_put(&st->names, h->name, strlen(h->name), inv->nhosts - 1);
		if (first >= 0)
			conf_report(ctx, node,
				    "duplicate host name \"%s\" (first defined at line %d)",
				    h->name, inv->hosts[first].line);
	}
	addrs = seen[HOST_ADDRS].value;
	if (addrs == NULL || seen[HOST_ADDRS].bad)
		return;
	if (addrs->type == YAML_SCALAR_NODE)
		inv_addr_owner_check(ctx, st, addrs);
	else
		for (it = addrs->data.sequence.items.start; it < addrs->data.sequence.items.top;
		     it++)
			inv_addr_owner_check(ctx, st, conf_node(ctx, *it));
}

static void inv_hosts_free(struct inventory *inv)
{
	int i;

	for (i = 0; i < inv->nhosts; i++) {
		free(inv->hosts[i].name);
		free(inv->hosts[i].profile);
		inv_labels_free(inv->hosts[i].labels, inv->hosts[i].nlabels);
	}
	free(inv->hosts);
	inv->hosts = NULL;
	inv->nhosts = 0;
}

void inv_switches_clear(struct inv_switches *sw)
{
	int i, j;

	if (sw == NULL)
		return;
	for (i = 0; i < sw->n; i++) {
		for (j = 0; j < sw->sw[i].nports; j++) {
			free(sw->sw[i].ports[j].name);
			free(sw->sw[i].ports[j].host);
		}
		free(sw->sw[i].ports);
	}
	free(sw->sw);
	memset(sw, 0, sizeof(*sw));
}

/* "hosts" and "switches": both go to inv->hosts, whose room was counted
 * before the document was walked. */
static int inv_list_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v)
{
	struct inv_state *st = ctx->user;
	int is_switch = key->type == CONF_SWITCHES;
	const char *noun = is_switch ? "switch" : "host";
	yaml_node_item_t *it;
	yaml_node_t *h;
	char d[80];
	int errors = ctx->nerrors;

	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		h = conf_node(ctx, *it);
		if (h->type != YAML_MAPPING_NODE) {
			conf_report(ctx, h, "\"%s\": expected a mapping for each %s, got %s",
				    key->name, noun, conf_node_describe(h, d, sizeof(d)));
			continue;
		}
		if (is_switch) {
			struct inv_switch *s = &st->sw->sw[st->sw->n++];

			s->host = st->inv->nhosts;
			inv_host_parse(ctx, st, h, switch_keys, nitems(switch_keys), noun);
		} else {
			inv_host_parse(ctx, st, h, host_keys, nitems(host_keys), noun);
		}
	}
	return ctx->nerrors == errors ? 0 : -1;
}

/* The port map of the switch being parsed; hosts are looked up once the
 * whole file is read, since switches may come first. */
static int inv_ports_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			 void *base)
{
	struct inv_state *st = ctx->user;
	struct inv_switch *s = &st->sw->sw[st->sw->n - 1];
	yaml_node_pair_t *p;
	yaml_node_t *val;
	const char *port, *host;
	char d[80];
	int errors = ctx->nerrors;

	(void)base;
	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(s->ports); /* a duplicated "ports" key: the later one wins */
	s->ports = xcalloc((size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) + 1,
			   sizeof(*s->ports));
	s->nports = 0;
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		port = conf_map_key(ctx, v, p);
		if (port == NULL)
			continue;
		if (!conf_ifname_valid(port)) {
			conf_report(
			    ctx, conf_node(ctx, p->key),
			    "\"ports\": expected an interface name of 1..15 characters, got %s",
			    conf_node_describe(conf_node(ctx, p->key), d, sizeof(d)));
			continue;
		}
		val = conf_node(ctx, p->value);
		host = conf_scalar(val);
		if (host == NULL || !conf_name_valid(host)) {
			conf_report(ctx, val, "port \"%s\": expected a host name, got %s", port,
				    conf_node_describe(val, d, sizeof(d)));
			continue;
		}
		s->ports[s->nports].name = xstrdup(port);
		s->ports[s->nports].host = xstrdup(host);
		s->ports[s->nports].target = -1;
		s->ports[s->nports].at = val->start_mark;
		s->nports++;
	}
	return ctx->nerrors == errors ? 0 : -1;
}

static void inv_ports_resolve(struct conf_ctx *ctx, struct inv_state *st)
{
	struct inv_port *port;
	int i, j;

	for (i = 0; i < st->sw->n; i++) {
		for (j = 0; j < st->sw->sw[i].nports; j++) {
			port = &st->sw->sw[i].ports[j];
			port->target = conf_index_get(&st->names, port->host, strlen(port->host));
			if (port->target < 0)
				conf_report_at(ctx, &port->at, "port \"%s\": unknown host \"%s\"",
					       port->name, port->host);
		}
	}
}

/* How many entries the lists under `name` hold, duplicated keys included. */
static size_t inv_list_count(struct conf_ctx *ctx, yaml_node_t *root, const char *name)
{
	yaml_node_pair_t *p;
	yaml_node_t *v;
	size_t n = 0;

	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const char *k = conf_scalar(conf_node(ctx, p->key));

		v = conf_node(ctx, p->value);
		if (k != NULL && strcmp(k, name) == 0 && v->type == YAML_SEQUENCE_NODE)
			n += (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	}
	return n;
}

int inventory_doc_parse(struct conf_ctx *ctx, yaml_node_t *root, struct inventory *inv,
			struct inv_switches *sw)
{
	struct conf_seen seen[nitems(inv_keys)];
	struct inv_switches local = {NULL, 0};
	struct inv_state st = {inv, sw != NULL ? sw : &local, {NULL, 0, 0}, {NULL, 0, 0}};
	size_t nhosts = inv_list_count(ctx, root, "hosts");
	size_t nswitches = inv_list_count(ctx, root, "switches");
	int errors = ctx->nerrors;

	memset(seen, 0, sizeof(seen));
	inv_hosts_free(inv);
	inv_switches_clear(st.sw);
	if (nhosts + nswitches > 0)
		inv->hosts = xcalloc(nhosts + nswitches, sizeof(*inv->hosts));
	if (nswitches > 0)
		st.sw->sw = xcalloc(nswitches, sizeof(*st.sw->sw));
	conf_index_init(&st.names);
	conf_index_init(&st.addrs);
	ctx->user = &st;
	conf_map_apply(ctx, root, inv_keys, nitems(inv_keys), inv, seen);
	conf_required_check(ctx, root, inv_keys, nitems(inv_keys), seen);
	inv_ports_resolve(ctx, &st);
	ctx->user = NULL;
	conf_index_clear(&st.names);
	conf_index_clear(&st.addrs);
	inv_switches_clear(&local);
	return ctx->nerrors == errors ? 0 : -1;
}

static int conf_value_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base)
{
	void *field = (char *)base + key->off;
	void *count = (char *)base + key->count_off;
	uint16_t *port = field;
	int n;

	switch (key->type) {
	case CONF_STR:
	case CONF_NAME:
	case CONF_IFNAME:
	case CONF_ADDR: return conf_string_set(ctx, key, v, field);
	case CONF_PORT:
		if (conf_int_get(ctx, key, v, 1, 65535, &n) == -1)
			return -1;
		*port = (uint16_t)n;
		return 0;
	case CONF_MS: return conf_int_get(ctx, key, v, 1, CONF_MS_MAX, field);
	case CONF_ADDRS: return conf_addrs_set(ctx, key, v, field, count);
	case CONF_LABELS: return inv_labels_set(ctx, key, v, field, count);
	case CONF_HOSTS:
	case CONF_SWITCHES: return inv_list_set(ctx, key, v);
	case CONF_FN: return key->fn(ctx, key, v, base);
	}
	return -1;
}

static void *conf_field(const struct conf_key *key, void *base)
{
	return (char *)base + key->off;
}

void conf_defaults_set(const struct conf_key *keys, size_t nkeys, void *base)
{
	size_t i;

	for (i = 0; i < nkeys; i++) {
		if (keys[i].def != NULL) {
			char **s = conf_field(&keys[i], base);

			*s = xstrdup(keys[i].def);
		} else if (keys[i].type == CONF_PORT && keys[i].defn != 0) {
			uint16_t *port = conf_field(&keys[i], base);

			*port = (uint16_t)keys[i].defn;
		} else if (keys[i].type == CONF_MS && keys[i].defn != 0) {
			int *ms = conf_field(&keys[i], base);

			*ms = keys[i].defn;
		}
	}
}

static void conf_strings_free(const struct conf_key *keys, size_t nkeys, void *base)
{
	char **s;
	size_t i;

	for (i = 0; i < nkeys; i++) {
		switch (keys[i].type) {
		case CONF_STR:
		case CONF_NAME:
		case CONF_IFNAME:
		case CONF_ADDR:
			s = conf_field(&keys[i], base);
			free(*s);
			*s = NULL;
			break;
		default: break;
		}
	}
}

void conf_required_check(struct conf_ctx *ctx, const yaml_node_t *root, const struct conf_key *keys,
			 size_t nkeys, const struct conf_seen *seen)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (keys[i].required && seen[i].value == NULL)
			conf_report(ctx, root, "missing required key \"%s\"", keys[i].name);
}

/* A peer must be allowed to miss at least one heartbeat before it counts as dead. */
static void conf_timing_check(struct conf_ctx *ctx, const yaml_node_t *root,
			      const struct conf_key *keys, size_t nkeys, void *base,
			      const struct conf_seen *seen)
{
	int hi = conf_key_find(keys, nkeys, "heartbeat_ms");
	int di = conf_key_find(keys, nkeys, "dead_ms");
	const yaml_node_t *where;
	int hb, dead;

	if (hi < 0 || di < 0 || seen[hi].bad || seen[di].bad)
		return;
	hb = *(const int *)conf_field(&keys[hi], base);
	dead = *(const int *)conf_field(&keys[di], base);
	if (dead > hb)
		return;
	where = seen[di].value != NULL	 ? seen[di].value
		: seen[hi].value != NULL ? seen[hi].value
					 : root;
	conf_report(ctx, where, "\"dead_ms\": expected more than heartbeat_ms (%d), got %d", hb,
		    dead);
}

/* One file against one key table; defaults first, then what the file sets. */
static int conf_file_load(const char *path, const struct conf_key *keys, size_t nkeys, void *base,
			  conf_error_fn err, void *arg)
{
	struct conf_seen seen[CONF_KEYS_MAX];
	struct conf_ctx ctx;
	yaml_node_t *root;

	memset(seen, 0, sizeof(seen));
	conf_defaults_set(keys, nkeys, base);
	conf_ctx_init(&ctx, path, err, arg);
	root = conf_doc_load(&ctx);
	if (root != NULL) {
		conf_map_apply(&ctx, root, keys, nkeys, base, seen);
		conf_required_check(&ctx, root, keys, nkeys, seen);
		conf_timing_check(&ctx, root, keys, nkeys, base, seen);
	}
	conf_doc_close(&ctx);
	return ctx.nerrors == 0 ? 0 : -1;
}

/* A relative path in a config file is relative to the file, not to
 * wherever the daemon was started. Replaces *p. */
static void conf_path_relative(const char *conf_path, char **p)
{
	const char *slash = strrchr(conf_path, '/');
	size_t len;
	char *abs;

	if (*p == NULL || (*p)[0] == '/' || slash == NULL)
		return;
	len = (size_t)(slash - conf_path) + 1 + strlen(*p) + 1;
	abs = xcalloc(len, 1);
	snprintf(abs, len, "%.*s%s", (int)(slash - conf_path) + 1, conf_path, *p);
	free(*p);
	*p = abs;
}

int agent_conf_load(const char *path, struct agent_conf *c, conf_error_fn err, void *arg)
{
	_Static_assert(nitems(agent_keys) <= CONF_KEYS_MAX, "agent_keys too long");

	memset(c, 0, sizeof(*c));
	if (conf_file_load(path, agent_keys, nitems(agent_keys), c, err, arg) == -1) {
		agent_conf_clear(c);
		return -1;
	}
	conf_path_relative(path, &c->profile_dir);
	return 0;
}

void agent_conf_clear(struct agent_conf *c)
{
	if (c == NULL)
		return;
	conf_strings_free(agent_keys, nitems(agent_keys), c);
	memset(c, 0, sizeof(*c));
}

int ctl_conf_load(const char *path, struct ctl_conf *c, conf_error_fn err, void *arg)
{
	const char *slash = strrchr(path, '/');
	size_t len;
	char *p;

	_Static_assert(nitems(ctl_keys) <= CONF_KEYS_MAX, "ctl_keys too long");

	memset(c, 0, sizeof(*c));
	if (conf_file_load(path, ctl_keys, nitems(ctl_keys), c, err, arg) == -1) {
		ctl_conf_clear(c);
		return -1;
	}
	/* relative to the config file, not to wherever the daemon was started */
	if (c->inventory[0] != '/' && slash != NULL) {
		len = (size_t)(slash - path) + 1 + strlen(c->inventory) + 1;
		p = xcalloc(len, 1);
		snprintf(p, len, "%.*s%s", (int)(slash - path) + 1, path, c->inventory);
		free(c->inventory);
		c->inventory = p;
	}
	return 0;
}

void ctl_conf_clear(struct ctl_conf *c)
{
	if (c == NULL)
		return;
	conf_strings_free(ctl_keys, nitems(ctl_keys), c);
	memset(c, 0, sizeof(*c));
}

/* --- hardware profiles --- */

static void conf_where_set(struct conf_where *w, const yaml_node_t *v)
{
	w->line = (int)v->start_mark.line + 1;
	w->col = (int)v->start_mark.column + 1;
}

/* A glob over interface names: what an interface name may hold, plus the
 * glob characters, and no longer than a name could match. */
static int profile_pattern_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= 2 * CONF_IFNAME_MAX && strcspn(s, "/: \t\n\r\f\v") == len;
}

static int profile_patterns_add(struct conf_ctx *ctx, const char *what, yaml_node_t *n,
				struct conf_patterns *out)
{
	const char *s = conf_scalar(n);
	char d[80];

	if (s == NULL || !profile_pattern_valid(s)) {
		conf_report(ctx, n,
			    "\"%s\": expected an interface name or pattern (e.g. \"eth*\"), got %s",
			    what, conf_node_describe(n, d, sizeof(d)));
		return -1;
	}
	if (out->n == CONF_MAX_PATTERNS) {
		conf_report(ctx, n, "\"%s\": expected at most %d patterns", what,
			    CONF_MAX_PATTERNS);
		return -1;
	}
	out->p[out->n++] = xstrdup(s);
	return 0;
}

static void profile_patterns_clear(struct conf_patterns *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->p[i]);
	memset(ps, 0, sizeof(*ps));
}

/* A list of patterns, or a single one; an empty list is allowed. */
static int profile_patterns_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
				void *base)
{
	struct conf_patterns *ps = (struct conf_patterns *)((char *)base + key->off);
	yaml_node_item_t *it;
	int rc = 0;

	profile_patterns_clear(ps);
	if (v->type == YAML_SCALAR_NODE)
		return profile_patterns_add(ctx, key->name, v, ps);
	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
		if (profile_patterns_add(ctx, key->name, conf_node(ctx, *it), ps) == -1)
			rc = -1;
	return rc;
}

static const struct conf_key profile_if_keys[] = {
    {"management", CONF_FN, offsetof(struct profile_conf, management), 0, 0, NULL, 0,
     profile_patterns_set, "a list of interface patterns"},
    {"data", CONF_FN, offsetof(struct profile_conf, data), 0, 0, NULL, 0, profile_patterns_set,
     "a list of interface patterns"},
    {"uplinks", CONF_FN, offsetof(struct profile_conf, uplinks), 0, 0, NULL, 0,
     profile_patterns_set, "a list of interface patterns"},
    {"host_facing", CONF_FN, offsetof(struct profile_conf, host_facing), 0, 0, NULL, 0,
     profile_patterns_set, "a list of interface patterns"},
};

static int profile_interfaces_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
				  void *base)
{
	struct conf_seen seen[nitems(profile_if_keys)];
	struct profile_conf *pc = base;

	memset(seen, 0, sizeof(seen));
	if (v->type != YAML_MAPPING_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	conf_map_apply(ctx, v, profile_if_keys, nitems(profile_if_keys), base, seen);
	if (seen[1].value != NULL)
		conf_where_set(&pc->at_data, seen[1].value);
	if (seen[2].value != NULL)
		conf_where_set(&pc->at_uplinks, seen[2].value);
	if (seen[3].value != NULL)
		conf_where_set(&pc->at_host_facing, seen[3].value);
	return 0;
}

/* YAML 1.1 booleans as people write them; anything else is a typo. */
static int profile_bool_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			    void *base)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off"};
	int *out = (int *)((char *)base + key->off);
	const char *s = conf_scalar(v);

	for (size_t i = 0; s != NULL && i < nitems(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	conf_value_bad(ctx, key, v);
	return -1;
}

static int profile_method_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			      void *base)
{
	struct profile_conf *pc = base;
	const char *s = conf_scalar(v);

	if (s == NULL || (strcmp(s, "link-down") != 0 && strcmp(s, "bridge-block") != 0)) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	free(pc->port_isolation);
	pc->port_isolation = xstrdup(s);
	return 0;
}

enum { PROF_NAME, PROF_KIND, PROF_NETDEV, PROF_BRIDGE, PROF_METHOD };

static const struct conf_key profile_keys[] = {
    [PROF_NAME] = {"name", CONF_NAME, offsetof(struct profile_conf, name), 0, 1, NULL, 0, NULL,
		   NULL},
    [PROF_KIND] = {"kind", CONF_NAME, offsetof(struct profile_conf, kind), 0, 0, NULL, 0, NULL,
		   NULL},
    [PROF_NETDEV] = {"netdev_ingress", CONF_FN, offsetof(struct profile_conf, netdev_ingress), 0, 0,
		     NULL, 0, profile_bool_set, "true or false"},
    [PROF_BRIDGE] = {"bridge", CONF_FN, offsetof(struct profile_conf, bridge), 0, 0, NULL, 0,
		     profile_bool_set, "true or false"},
    [PROF_METHOD] = {"port_isolation", CONF_FN, 0, 0, 0, NULL, 0, profile_method_set,
		     "link-down or bridge-block"},
    {"description", CONF_STR, offsetof(struct profile_conf, description), 0, 0, NULL, 0, NULL,
     NULL},
    {"interfaces", CONF_FN, 0, 0, 0, NULL, 0, profile_interfaces_set,
     "a mapping of management, data, uplinks and host_facing patterns"},
};

int profile_conf_load(const char *path, struct profile_conf *pc, conf_error_fn err, void *arg)
{
	struct conf_seen seen[nitems(profile_keys)];
	struct conf_ctx ctx;
	yaml_node_t *root;

	memset(pc, 0, sizeof(*pc));
	memset(seen, 0, sizeof(seen));
	pc->netdev_ingress = pc->bridge = -1;
	conf_ctx_init(&ctx, path, err, arg);
	root = conf_doc_load(&ctx);
	if (root != NULL) {
		conf_map_apply(&ctx, root, profile_keys, nitems(profile_keys), pc, seen);
		conf_required_check(&ctx, root, profile_keys, nitems(profile_keys), seen);
		if (seen[PROF_NAME].value != NULL)
			conf_where_set(&pc->at_name, seen[PROF_NAME].value);
		if (seen[PROF_KIND].value != NULL)
			conf_where_set(&pc->at_kind, seen[PROF_KIND].value);
		if (seen[PROF_NETDEV].value != NULL)
			conf_where_set(&pc->at_netdev_ingress, seen[PROF_NETDEV].value);
		if (seen[PROF_BRIDGE].value != NULL)
			conf_where_set(&pc->at_bridge, seen[PROF_BRIDGE].value);
		if (seen[PROF_METHOD].value != NULL)
			conf_where_set(&pc->at_port_isolation, seen[PROF_METHOD].value);
	}
	conf_doc_close(&ctx);
	return ctx.nerrors == 0 ? 0 : -1;
}

void profile_conf_clear(struct profile_conf *pc)
{
	if (pc == NULL)
		return;
	free(pc->name);
	free(pc->kind);
	free(pc->description);
	free(pc->port_isolation);
	profile_patterns_clear(&pc->management);
	profile_patterns_clear(&pc->data);
	profile_patterns_clear(&pc->uplinks);
	profile_patterns_clear(&pc->host_facing);
	memset(pc, 0, sizeof(*pc));
	pc->netdev_ingress = pc->bridge = -1;
}

/* The switches' port maps, flattened: host, switch, port. */
static void inventory_ports_take(struct inventory *inv, const struct inv_switches *sw)
{
	int n = 0;

	for (int i = 0; i < sw->n; i++)
		n += sw->sw[i].nports;
	inv->ports = xcalloc((size_t)n + 1, sizeof(*inv->ports));
	for (int i = 0; i < sw->n; i++)
		for (int j = 0; j < sw->sw[i].nports; j++) {
			struct inv_hostport *hp = &inv->ports[inv->nports++];

			hp->host = xstrdup(sw->sw[i].ports[j].host);
			hp->sw = xstrdup(inv->hosts[sw->sw[i].host].name);
			hp->port = xstrdup(sw->sw[i].ports[j].name);
		}
}

struct inventory *inventory_load(const char *path, conf_error_fn err, void *arg)
{
	struct inventory *inv = xcalloc(1, sizeof(*inv));
	struct conf_ctx ctx;
	yaml_node_t *root;

	struct inv_switches sw = {0};

	conf_ctx_init(&ctx, path, err, arg);
	ctx.max_size = CONF_INVENTORY_MAX;
	root = conf_doc_load(&ctx);
	if (root != NULL)
		inventory_doc_parse(&ctx, root, inv, &sw);
	conf_doc_close(&ctx);
	if (ctx.nerrors == 0)
		inventory_ports_take(inv, &sw);
	inv_switches_clear(&sw);
	if (ctx.nerrors != 0) {
		inventory_free(inv);
		return NULL;
	}
	return inv;
}

void inventory_free(struct inventory *inv)
{
	if (inv == NULL)
		return;
	inv_hosts_free(inv);
	for (int i = 0; i < inv->nports; i++) {
		free(inv->ports[i].host);
		free(inv->ports[i].sw);
		free(inv->ports[i].port);
	}
	free(inv->ports);
	free(inv);
}

const struct inv_host *inventory_host_find(const struct inventory *inv, const char *name)
{
	int i;

	if (inv == NULL || name == NULL)
		return NULL;
	for (i = 0; i < inv->nhosts; i++)
		if (inv->hosts[i].name != NULL && strcmp(inv->hosts[i].name, name) == 0)
			return &inv->hosts[i];
	return NULL;
}
