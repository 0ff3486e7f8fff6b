/* The YAML plumbing of lib/: one document per file, key tables checked key
 * by key with every problem kept in a diagnostics list, the hash index, and
 * the inventory as the policy parser reads it too. Private to lib/. */
#ifndef BULKHEAD_YAMLUTIL_H
#define BULKHEAD_YAMLUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "bulkhead/conf.h"
#include "bulkhead/diag.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#define CONF_NAME_MAX 63
#define CONF_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

struct conf_ctx {
	const char *path;
	struct diag_list *diags; /* where the file's problems go */
	int file;		 /* the file's index in diags */
	struct diag_list own;	 /* diags, when the caller has no list */
	void *user;		 /* for the CONF_FN callbacks of the caller */
	size_t max_size;	 /* largest file accepted; 0: CONF_FILE_MAX */
	char *buf;
	yaml_parser_t parser;
	int parsing;
	yaml_document_t doc;
	int loaded;
	int nerrors; /* in this file */
};

enum conf_type {
	CONF_STR,    /* char *, non-empty */
	CONF_NAME,   /* char *, a host name */
	CONF_IFNAME, /* char *, an interface name */
	CONF_ADDR,   /* char *, an address literal stored normalised */
	CONF_PORT,   /* uint16_t */
	CONF_MS,     /* int, milliseconds */
	CONF_COUNT,  /* int, 1..CONF_COUNT_MAX */
	CONF_ADDRS,  /* struct conf_addr[CONF_MAX_ADDRS], count at count_off */
	CONF_LABELS, /* struct inv_label *, count at count_off */
	CONF_FN,     /* the key's fn parses the value */
};

struct conf_key;

/* Parses v for key into base; 0, or -1 once the problem is reported. */
typedef int (*conf_value_fn)(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
			     void *base);

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;
	size_t count_off;
	int required;
	const char *def;    /* default for string types */
	int defn;	    /* default for numeric types, 0 for none */
	conf_value_fn fn;   /* CONF_FN only */
	const char *expect; /* CONF_FN only: what the value should look like */
};

/* What conf_map_apply saw for each key of a table. */
struct conf_seen {
	yaml_node_t *value;
	int bad;
};

/* Gets each mapping of a sequence, for conf_seq_maps. */
typedef void (*conf_item_fn)(struct conf_ctx *ctx, yaml_node_t *item, void *arg);

/* A string (or byte string) to int map, for names and addresses. Keys are
 * copied. */
struct conf_index {
	struct conf_index_slot *slots;
	size_t cap, n;
};

/* A switch of the inventory: its entry in inv->hosts and its port map. */
struct inv_port {
	char *name;	/* front-panel port, e.g. "swp1" */
	char *host;	/* what is plugged into it */
	int target;	/* index into inv->hosts, -1 until resolved */
	yaml_mark_t at; /* the host name's place */
};

struct inv_switch {
	int host; /* index into inv->hosts */
	struct inv_port *ports;
	int nports;
};

struct inv_switches {
	struct inv_switch *sw;
	int n;
};

/* yaml_keys.c */
/* The file's problems go to diags as file; with diags NULL, to a list of the
 * context's own that conf_ctx_emit prints. */
void conf_ctx_init(struct conf_ctx *ctx, const char *path, struct diag_list *diags, int file);
/* Hands the context's own problems to err, in the order found; returns 0,
 * or -1 if the file had any. */
int conf_ctx_emit(struct conf_ctx *ctx, conf_error_fn err, void *arg);
/* Reads the file and composes its first document; returns its root mapping,
 * or NULL once the problem is reported. */
yaml_node_t *conf_doc_load(struct conf_ctx *ctx);
/* Reports anything after the first document and frees the document. */
void conf_doc_close(struct conf_ctx *ctx);
void conf_report(struct conf_ctx *ctx, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void conf_report_at(struct conf_ctx *ctx, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *conf_node(struct conf_ctx *ctx, int idx);
/* The node as a message shows it: the quoted value, or its kind. */
const char *conf_node_describe(const yaml_node_t *n, char *buf, size_t size);
/* The scalar's text, NULL for anything else (or one holding a NUL). */
const char *conf_scalar(const yaml_node_t *n);
/* The key of pair p; NULL when unusable or a duplicate (both reported). */
const char *conf_map_key(struct conf_ctx *ctx, yaml_node_t *map, yaml_node_pair_t *p);
/* The items of a one-or-many value, a scalar standing for a list of one
 * (kept in *one); -1 for anything else. */
int conf_items(struct conf_ctx *ctx, yaml_node_t *v, yaml_node_item_t *one,
	       yaml_node_item_t **start, yaml_node_item_t **top);
/* As conf_items for the value of key, which takes at least one noun;
 * -1 once reported. */
int conf_list_items(struct conf_ctx *ctx, const struct conf_key *key, yaml_node_t *v,
		    const char *noun, yaml_node_item_t *one, yaml_node_item_t **start,
		    yaml_node_item_t **top);
/* Each item of sequence v that is a mapping goes to fn; the others are
 * reported as not a mapping for each noun of key. Returns how many were not. */
int conf_seq_maps(struct conf_ctx *ctx, yaml_node_t *v, const char *key, const char *noun,
		  conf_item_fn fn, void *arg);
int conf_key_find(const struct conf_key *keys, size_t nkeys, const char *name);
int conf_map_apply(struct conf_ctx *ctx, yaml_node_t *map, const struct conf_key *keys,
		   size_t nkeys, void *base, struct conf_seen *seen);
void conf_required_check(struct conf_ctx *ctx, const yaml_node_t *root, const struct conf_key *keys,
			 size_t nkeys, const struct conf_seen *seen);
void conf_defaults_set(const struct conf_key *keys, size_t nkeys, void *base);
/* Frees what the table's string keys hold in base. */
void conf_strings_free(const struct conf_key *keys, size_t nkeys, void *base);
void conf_value_bad(struct conf_ctx *ctx, const struct conf_key *key, const yaml_node_t *v);
int conf_name_valid(const char *s);
int conf_ifname_valid(const char *s);
int conf_addr_equal(const struct conf_addr *a, const struct conf_addr *b);
void conf_labels_free(struct inv_label *labels, int n);

/* index.c */
void conf_index_init(struct conf_index *ix);
void conf_index_clear(struct conf_index *ix);
/* The value stored under key, or -1. */
int conf_index_get(const struct conf_index *ix, const void *key, size_t len);
/* Stores val under key unless the key is there; returns the value it
 * already had, or -1 when it was added. */
int conf_index_put(struct conf_index *ix, const void *key, size_t len, int val);
/* The bytes an address is indexed by. */
size_t conf_addr_key(const struct conf_addr *a, uint8_t key[17]);

/* inventory.c */
/* The inventory document: hosts and switches, in file order, into inv (a
 * switch is an entry of inv->hosts too); sw, if not NULL, gets the switches'
 * port maps. Returns 0, or -1 once every problem is reported. */
int inventory_doc_parse(struct conf_ctx *ctx, yaml_node_t *root, struct inventory *inv,
			struct inv_switches *sw);
void inv_hosts_clear(struct inventory *inv);
void inv_switches_clear(struct inv_switches *sw);

#endif
