/* The key-table engine of every YAML file bulkhead reads: one document per
 * file, each key checked against its table, every problem reported. */
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
#include "bulkhead/diag.h"
#include "yamlutil.h"

#define CONF_FILE_MAX (1024 * 1024) /* configs are small; refuse anything silly */
#define CONF_MS_MAX 3600000
#define CONF_COUNT_MAX 1000000
/* Limits on what any file may hold, checked before the document is built,
 * so that no input costs more than its size in memory and time. */
#define CONF_DEPTH_MAX 64	    /* mappings and sequences within each other */
#define CONF_SCALAR_MAX (64 * 1024) /* bytes in one value or key */

/* --- problems --- */

static void conf_vreport(struct conf_ctx *ctx, const yaml_mark_t *m, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* m == NULL: the message is about the whole file. */
static void conf_vreport(struct conf_ctx *ctx, const yaml_mark_t *m, const char *fmt, va_list ap)
{
	char msg[512]; /* a message stays one line of reasonable length */

	vsnprintf(msg, sizeof(msg), fmt, ap);
	ctx->nerrors++;
	diag_add(ctx->diags, ctx->file, m != NULL ? (unsigned)m->line + 1 : 0,
		 m != NULL ? (unsigned)m->column + 1 : 0, 0, "%s", msg);
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

void conf_ctx_init(struct conf_ctx *ctx, const char *path, struct diag_list *diags, int file)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->path = path;
	if (diags == NULL) {
		diags = &ctx->own;
		file = diag_file_add(diags, path);
	}
	ctx->diags = diags;
	ctx->file = file;
}

/* A file read on its own reports in the order it was read, as a person
 * reading along would find the problems. */
int conf_ctx_emit(struct conf_ctx *ctx, conf_error_fn err, void *arg)
{
	diag_list_emit(&ctx->own, err, NULL, arg);
	diag_list_clear(&ctx->own);
	return ctx->nerrors == 0 ? 0 : -1;
}

/* --- the document --- */

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

/* The line and column of a byte offset of the file, as the scanner counts
 * them (from 0; a column is a character, not a byte). */
static yaml_mark_t conf_offset_mark(const struct conf_ctx *ctx, size_t off)
{
	yaml_mark_t m = {.index = off};

	for (size_t i = 0; i < off && ctx->buf[i] != '\0'; i++) {
		if (ctx->buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)ctx->buf[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static void conf_parser_report(struct conf_ctx *ctx, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "unreadable input";

	if (p->error == YAML_MEMORY_ERROR)
		fatal("out of memory");
	if (p->error == YAML_READER_ERROR) {
		/* the reader knows a byte offset: the line and column are found from it */
		yaml_mark_t m = conf_offset_mark(ctx, p->problem_offset);

		conf_report_at(ctx, &m, "%s (byte %zu)%s", problem, p->problem_offset,
			       strstr(problem, "UTF-8") != NULL ? ": the file must be UTF-8" : "");
	} else if (p->context != NULL)
		conf_report_at(ctx, &p->problem_mark, "syntax error: %s (%s at line %zu)", problem,
			       p->context, p->context_mark.line + 1);
	else
		conf_report_at(ctx, &p->problem_mark, "syntax error: %s", problem);
}

/* The whole file as events, before any document is built: an alias, a
 * nesting too deep or a value too long is refused where it starts. libyaml
 * builds an alias as a second reference to its anchor's node, so a file of
 * a few lines could stand for billions of nodes to whoever walks them (or
 * for a loop, an alias inside its own anchor): no bulkhead file needs one.
 * 0, or -1 once the first problem is reported. */
static int conf_doc_scan(struct conf_ctx *ctx, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&p))
		fatal("out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)ctx->buf, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			conf_parser_report(ctx, &p);
			rc = -1;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = 1; break;
		case YAML_ALIAS_EVENT:
			conf_report_at(
			    ctx, &ev.start_mark,
			    "alias *%.64s: YAML aliases are not accepted, write the value out",
			    (const char *)ev.data.alias.anchor);
			rc = -1;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > CONF_DEPTH_MAX) {
				conf_report_at(ctx, &ev.start_mark,
					       "nested more than %d levels deep", CONF_DEPTH_MAX);
				rc = -1;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: depth--; break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length > CONF_SCALAR_MAX) {
				conf_report_at(ctx, &ev.start_mark,
					       "a value of %zu bytes, longer than the %d accepted",
					       ev.data.scalar.length, CONF_SCALAR_MAX);
				rc = -1;
			}
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
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
	if (conf_doc_scan(ctx, len) < 0)
		return NULL;
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

/* --- nodes --- */

yaml_node_t *conf_node(struct conf_ctx *ctx, int idx)
{
	return yaml_document_get_node(&ctx->doc, idx);
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

		/* Reported, and its value left alone: a second value of the
		 * same key would be read over the first one's. */
		if (conf_scalar_equal(k, prev)) {
			conf_report(ctx, k, "duplicate key %s (first at line %zu)",
				    conf_node_describe(k, d, sizeof(d)), prev->start_mark.line + 1);
			return NULL;
		}
	}
	return name;
}

/* One name needs no brackets: the scalar stands for a list of itself. */
int conf_items(struct conf_ctx *ctx, yaml_node_t *v, yaml_node_item_t *one,
	       yaml_node_item_t **start, yaml_node_item_t **top)
{
	if (v->type == YAML_SCALAR_NODE) {
		*one = (yaml_node_item_t)(v - ctx->doc.nodes.start + 1);
		*start = one;
		*top = one + 1;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return -1;
	*start = v->data.sequence.items.start;
	*top = v->data.sequence.items.top;
	return 0;
}

int conf_list_items(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
		    const char *noun, yaml_node_item_t *one, yaml_node_item_t **start,
		    yaml_node_item_t **top)
{
	if (conf_items(ctx, v, one, start, top) == -1) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	if (*start == *top) {
		conf_report(ctx, v, "\"%s\": expected at least one %s", key->name, noun);
		return -1;
	}
	return 0;
}

int conf_seq_maps(struct conf_ctx *ctx, yaml_node_t *v, const char *key, const char *noun,
		  conf_item_fn fn, void *arg)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	char d[80];
	int nbad = 0;

	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		item = conf_node(ctx, *it);
		if (item->type == YAML_MAPPING_NODE) {
			fn(ctx, item, arg);
			continue;
		}
		conf_report(ctx, item, "\"%s\": expected a mapping for each %s, got %s", key, noun,
			    conf_node_describe(item, d, sizeof(d)));
		nbad++;
	}
	return nbad;
}

/* --- values --- */

int conf_key_find(const struct conf_key *keys, size_t nkeys, const char *name)
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
	case CONF_COUNT: snprintf(buf, size, "an integer 1..%d", CONF_COUNT_MAX); return buf;
	case CONF_ADDRS: return "a list of IPv4 or IPv6 addresses";
	case CONF_LABELS: return "a mapping of strings";
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
	yaml_node_item_t one, *start, *top, *it;
	int rc = 0;

	*count = 0;
	if (conf_list_items(ctx, key, v, "address", &one, &start, &top) == -1)
		return -1;
	if (top - start > CONF_MAX_ADDRS) {
		conf_report(ctx, v, "\"%s\": expected at most %d addresses, got %td", key->name,
			    CONF_MAX_ADDRS, top - start);
		rc = -1;
	}
	for (it = start; it < top; it++)
		if (conf_addr_add(ctx, key, conf_node(ctx, *it), addrs, count) == -1)
			rc = -1;
	return rc;
}

void conf_labels_free(struct inv_label *labels, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(labels[i].key);
		free(labels[i].value);
	}
	free(labels);
}

static int conf_labels_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
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
	conf_labels_free(*labels, *count);
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

static void *conf_field(const struct conf_key *key, void *base)
{
	return (char *)base + key->off;
}

static int conf_value_set(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			  void *base)
{
	void *field = conf_field(key, base);
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
	case CONF_COUNT: return conf_int_get(ctx, key, v, 1, CONF_COUNT_MAX, field);
	case CONF_ADDRS: return conf_addrs_set(ctx, key, v, field, count);
	case CONF_LABELS: return conf_labels_set(ctx, key, v, field, count);
	case CONF_FN: return key->fn(ctx, key, v, base);
	}
	return -1;
}

/* --- tables --- */

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
		} else if ((keys[i].type == CONF_MS || keys[i].type == CONF_COUNT) &&
			   keys[i].defn != 0) {
			int *ms = conf_field(&keys[i], base);

			*ms = keys[i].defn;
		}
	}
}

void conf_strings_free(const struct conf_key *keys, size_t nkeys, void *base)
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
