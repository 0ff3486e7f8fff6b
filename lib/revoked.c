/* The revocation list (revoked.yaml): certificates, by serial, and hosts,
 * by name, that the controller no longer admits, whatever the CA says. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "yamlutil.h"

static const struct conf_key entry_keys[] = {
    {"host", CONF_NAME, offsetof(struct revoked_entry, host), 0, 0, NULL, 0, NULL, NULL},
    {"serial", CONF_STR, offsetof(struct revoked_entry, serial), 0, 0, NULL, 0, NULL, NULL},
    {"reason", CONF_STR, offsetof(struct revoked_entry, reason), 0, 0, NULL, 0, NULL, NULL},
};

static int revoked_entries_fn(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			      void *base);

static const struct conf_key top_keys[] = {
    {"revoked", CONF_FN, 0, 0, 1, NULL, 0, revoked_entries_fn,
     "a list of {host: NAME} or {serial: HEX} entries"},
};

/* One entry: exactly one of host and serial, the serial in its one form. */
static void revoked_entry_parse(struct conf_ctx *ctx, yaml_node_t *item, void *arg)
{
	struct revoked_list *l = arg;
	struct revoked_entry *e = &l->v[l->n];
	struct conf_seen seen[nitems(entry_keys)];
	char norm[sizeof(e->norm)];

	memset(seen, 0, sizeof(seen));
	memset(e, 0, sizeof(*e));
	e->line = (int)item->start_mark.line + 1;
	if (conf_map_apply(ctx, item, entry_keys, nitems(entry_keys), e, seen) < 0)
		goto bad;
	if ((e->host != NULL) == (e->serial != NULL)) {
		conf_report(ctx, item,
			    "\"revoked\": expected exactly one of \"host\" and "
			    "\"serial\" in each entry");
		goto bad;
	}
	if (e->serial != NULL) {
		if (tls_serial_normalize(e->serial, norm, sizeof(norm)) < 0) {
			conf_report(ctx, seen[1].value,
				    "\"serial\": expected a certificate serial in hex (colons "
				    "allowed), got \"%s\"",
				    e->serial);
			goto bad;
		}
		memcpy(e->norm, norm, sizeof(norm));
	}
	l->n++;
	return;
bad:
	conf_strings_free(entry_keys, nitems(entry_keys), e);
}

static int revoked_entries_fn(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			      void *base)
{
	struct revoked_list *l = base;
	int errors = ctx->nerrors;
	size_t n;

	/* "revoked:" with nothing after it is a list of none, as "[]" is. */
	if (v->type == YAML_SCALAR_NODE && conf_scalar(v) &&
	    (strcmp(conf_scalar(v), "") == 0 || strcmp(conf_scalar(v), "~") == 0 ||
	     strcmp(conf_scalar(v), "null") == 0))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE) {
		conf_value_bad(ctx, key, v);
		return -1;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	l->v = xcalloc(n + 1, sizeof(*l->v));
	conf_seq_maps(ctx, v, key->name, "entry", revoked_entry_parse, l);
	return ctx->nerrors == errors ? 0 : -1;
}

int revoked_load(const char *path, struct revoked_list *l, conf_error_fn err, void *arg)
{
	struct conf_seen seen[nitems(top_keys)];
	struct conf_ctx ctx;
	yaml_node_t *root;

	memset(l, 0, sizeof(*l));
	memset(seen, 0, sizeof(seen));
	conf_ctx_init(&ctx, path, NULL, 0);
	root = conf_doc_load(&ctx);
	if (root != NULL) {
		conf_map_apply(&ctx, root, top_keys, nitems(top_keys), l, seen);
		conf_required_check(&ctx, root, top_keys, nitems(top_keys), seen);
	}
	conf_doc_close(&ctx);
	if (conf_ctx_emit(&ctx, err, arg) == -1) {
		revoked_clear(l);
		return -1;
	}
	return 0;
}

void revoked_clear(struct revoked_list *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < l->n; i++)
		conf_strings_free(entry_keys, nitems(entry_keys), &l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const struct revoked_entry *revoked_find(const struct revoked_list *l, const char *host,
					 const char *serial)
{
	/* A list is a handful of entries; a linear pass per handshake is nothing. */
	for (int i = 0; l != NULL && i < l->n; i++) {
		const struct revoked_entry *e = &l->v[i];

		if ((e->host && host && strcmp(e->host, host) == 0) ||
		    (e->serial && serial && strcmp(e->norm, serial) == 0))
			return e;
	}
	return NULL;
}
