/* The YAML plumbing of lib/conf.c, shared with the policy parser
 * (lib/policy*.c): one document per file, key tables, and every problem
 * reported as "file:line:col: message". Private to lib/. */
#ifndef BULKHEAD_YAMLUTIL_H
#define BULKHEAD_YAMLUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "bulkhead/conf.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Receives each problem with its place instead of a formatted line; line
 * and col are 1-based, line 0 means the file as a whole. */
typedef void (*conf_diag_fn)(void *arg, size_t line, size_t col, const char *msg);

struct conf_ctx {
	const char *path;
	conf_error_fn err;
	conf_diag_fn diag; /* when set, gets the problems instead of err */
	void *arg;
	void *user;	 /* for the CONF_FN callbacks of the caller */
	size_t max_size; /* largest file accepted; 0: CONF_FILE_MAX */
	char *buf;
	yaml_parser_t parser;
	int parsing;
	yaml_document_t doc;
	int loaded;
	int nerrors;
};

enum conf_type {
	CONF_STR,      /* char *, non-empty */
	CONF_NAME,     /* char *, a host name */
	CONF_IFNAME,   /* char *, an interface name */
	CONF_ADDR,     /* char *, an address literal stored normalised */
	CONF_PORT,     /* uint16_t */
	CONF_MS,       /* int, milliseconds */
	CONF_ADDRS,    /* struct conf_addr[CONF_MAX_ADDRS], count at count_off */
	CONF_LABELS,   /* struct inv_label *, count at count_off */
	CONF_HOSTS,    /* the inventory's host list */
	CONF_SWITCHES, /* the inventory's switch list */
	CONF_FN,       /* the key's fn parses the value */
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

void conf_ctx_init(struct conf_ctx *ctx, const char *path, conf_error_fn err, void *arg);
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
/* The key of pair p, NULL when unusable; duplicates are reported. */
const char *conf_map_key(struct conf_ctx *ctx, yaml_node_t *map, yaml_node_pair_t *p);
int conf_map_apply(struct conf_ctx *ctx, yaml_node_t *map, const struct conf_key *keys,
		   size_t nkeys, void *base, struct conf_seen *seen);
void conf_required_check(struct conf_ctx *ctx, const yaml_node_t *root, const struct conf_key *keys,
			 size_t nkeys, const struct conf_seen *seen);
void conf_defaults_set(const struct conf_key *keys, size_t nkeys, void *base);
void conf_value_bad(struct conf_ctx *ctx, const struct conf_key *key, const yaml_node_t *v);
int conf_name_valid(const char *s);
int conf_ifname_valid(const char *s);
int conf_addr_equal(const struct conf_addr *a, const struct conf_addr *b);

/* The inventory document: hosts and switches, in file order, into inv (a
 * switch is an entry of inv->hosts too); sw, if not NULL, gets the switches'
 * port maps. Returns 0, or -1 once every problem is reported. */
int inventory_doc_parse(struct conf_ctx *ctx, yaml_node_t *root, struct inventory *inv,
			struct inv_switches *sw);
void inv_switches_clear(struct inv_switches *sw);

void conf_index_init(struct conf_index *ix);
void conf_index_clear(struct conf_index *ix);
/* The value stored under key, or -1. */
int conf_index_get(const struct conf_index *ix, const void *key, size_t len);
/* Stores val under key unless the key is there; returns the value it
 * already had, or -1 when it was added. */
int conf_index_put(struct conf_index *ix, const void *key, size_t len, int val);
/* The bytes an address is indexed by. */
size_t conf_addr_key(const struct conf_addr *a, uint8_t key[17]);

#endif
