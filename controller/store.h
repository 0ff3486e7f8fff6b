/* The controller's store: hosts and what is wanted of them, epochs, host
 * policies, the record of commands, the hash-chained audit log and the
 * playbook runs. One interface, one ops table per backend (store_sqlite.c
 * is the embedded default); every statement and transaction lives in a
 * backend. */
#ifndef BULKHEAD_STORE_H
#define BULKHEAD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/names.h"

struct host;
struct pb_run;
struct audit_row;
struct store;

/* A command as the record keeps it, when it starts. */
struct store_command {
	uid_t uid;
	pid_t pid;
	enum action action;
	const char *reason; /* NULL: none given */
	uint64_t epoch;
	int targeted;
};

/* One host's result in a command. */
struct store_result {
	const char *host;
	enum host_status status;
	uint64_t apply_us, latency_us;
	const char *error; /* NULL: none */
};

/* A command's end: each host's result and the audit rows that say so,
 * written in one transaction. */
struct store_command_end {
	int64_t id;
	int confirmed;
	const struct store_result *results;
	int nresults;
	const struct audit_row *audit;
	int naudit;
};

typedef struct host *(*store_host_find_fn)(void *arg, const char *name);
/* A host's row as another controller left it: name and want_* are set. */
typedef void (*store_want_fn)(void *arg, const struct host *want);
/* A host another live controller holds (on): name, mode, epoch, hash,
 * pending_confirm and last_seen_ms are set, as its agent last reported. */
typedef void (*store_held_fn)(void *arg, const struct host *seen, const char *on);

struct store_ops {
	const char *name;
	/* Other controllers may write the same store (what memory holds of a
	 * host is read again before it is trusted). */
	int shared;
	void (*close)(struct store *s);
	/* Epochs: controller-wide and monotonic. */
	uint64_t (*epoch_current)(struct store *s);
	/* The next epoch, stored; 0 when it could not be. */
	uint64_t (*epoch_next)(struct store *s);
	/* An agent holds seen: the next epoch must be newer. */
	int (*epoch_raise)(struct store *s, uint64_t seen);
	/* Every inventory host gets a row; what is known of it is read back. */
	int (*hosts_load)(struct store *s, struct host *hosts, int n);
	/* What is wanted of each host (want_*, hold_confirm, port_sw...). */
	int (*hosts_want)(struct store *s, struct host *const *hosts, int n);
	/* What each agent last reported (mode, epoch, hash) and when. */
	int (*hosts_seen)(struct store *s, struct host *const *hosts, int n);
	int (*policy_put)(struct store *s, const char *host, const char *hash, const void *frames,
			  size_t len);
	/* The policy's WIRE_POLICY frames, malloc'd; NULL when unknown. */
	void *(*policy_get)(struct store *s, const char *host, const char *hash, size_t *len);
	/* 0 with *id, or -1. */
	int (*command_begin)(struct store *s, const struct store_command *c, int64_t *id);
	int (*command_end)(struct store *s, const struct store_command_end *e);
	/* Appends rows to the audit log, chained to its head, in one
	 * transaction (each row's seq and hashes are filled in). */
	int (*audit_append)(struct store *s, struct audit_row *rows, int n);
	/* Rows from since_ms on (about host, when not NULL or ""), in order;
	 * stops when fn returns non-zero and returns that. */
	int (*audit_foreach)(struct store *s, uint64_t since_ms, const char *host,
			     int (*fn)(const struct audit_row *r, void *arg), void *arg);
	/* The head kept apart from the rows: how many were written, the last hash. */
	int (*audit_head)(struct store *s, int64_t *count, char hash[65]);
	/* Playbook runs: stored whole before the first step, then every step. */
	int (*run_insert)(struct store *s, struct pb_run *r);
	int (*run_save)(struct store *s, const struct pb_run *r);
	int (*stage_save)(struct store *s, const struct pb_run *r, int stage);
	/* The last run, NULL when there is none; hosts no longer in the
	 * inventory are left out of its stages. */
	struct pb_run *(*run_load_last)(struct store *s, store_host_find_fn find, void *arg);
	/* High availability (shared stores only; NULL: this controller is the
	 * one leader, term 0, and no other writes wants). */
	/* 1 with *term while leader, 0 while another is, -1 when unknown. */
	int (*leader_poll)(struct store *s, const char *me, uint64_t *term);
	/* Every host whose want_epoch is newer than after, in epoch order. */
	int (*hosts_wanted)(struct store *s, uint64_t after, store_want_fn fn, void *arg);
	/* Which controller holds which agent. me is alive and holds held
	 * (NULL: what it last said), of which claims connected since. */
	int (*hosts_held)(struct store *s, const char *me, struct host *const *claims, int nclaims,
			  struct host *const *held, int nheld);
	/* Every host a live controller other than me holds. */
	int (*hosts_elsewhere)(struct store *s, const char *me, store_held_fn fn, void *arg);
};

struct store {
	const struct store_ops *ops;
	char where[256]; /* for messages: the file or the server */
};

/* The calls, by the names the controller uses. */
static inline uint64_t store_epoch_current(struct store *s)
{
	return s->ops->epoch_current(s);
}
static inline uint64_t store_epoch_next(struct store *s)
{
	return s->ops->epoch_next(s);
}
static inline int store_epoch_raise(struct store *s, uint64_t seen)
{
	return s->ops->epoch_raise(s, seen);
}
static inline int store_hosts_load(struct store *s, struct host *hosts, int n)
{
	return s->ops->hosts_load(s, hosts, n);
}
static inline int store_hosts_want(struct store *s, struct host *const *hosts, int n)
{
	return s->ops->hosts_want(s, hosts, n);
}
static inline int store_hosts_seen(struct store *s, struct host *const *hosts, int n)
{
	return s->ops->hosts_seen(s, hosts, n);
}
static inline int store_policy_put(struct store *s, const char *host, const char *hash,
				   const void *frames, size_t len)
{
	return s->ops->policy_put(s, host, hash, frames, len);
}
static inline void *store_policy_get(struct store *s, const char *host, const char *hash,
				     size_t *len)
{
	return s->ops->policy_get(s, host, hash, len);
}
static inline int store_command_begin(struct store *s, const struct store_command *c, int64_t *id)
{
	return s->ops->command_begin(s, c, id);
}
static inline int store_command_end(struct store *s, const struct store_command_end *e)
{
	return s->ops->command_end(s, e);
}
static inline int store_audit_append(struct store *s, struct audit_row *rows, int n)
{
	return s->ops->audit_append(s, rows, n);
}
static inline int store_audit_foreach(struct store *s, uint64_t since_ms, const char *host,
				      int (*fn)(const struct audit_row *r, void *arg), void *arg)
{
	return s->ops->audit_foreach(s, since_ms, host, fn, arg);
}
static inline int store_audit_head(struct store *s, int64_t *count, char hash[65])
{
	return s->ops->audit_head(s, count, hash);
}
static inline int store_run_insert(struct store *s, struct pb_run *r)
{
	return s->ops->run_insert(s, r);
}
static inline int store_run_save(struct store *s, const struct pb_run *r)
{
	return s->ops->run_save(s, r);
}
static inline int store_stage_save(struct store *s, const struct pb_run *r, int stage)
{
	return s->ops->stage_save(s, r, stage);
}
static inline struct pb_run *store_run_load_last(struct store *s, store_host_find_fn find,
						 void *arg)
{
	return s->ops->run_load_last(s, find, arg);
}

static inline int store_leader_poll(struct store *s, const char *me, uint64_t *term)
{
	if (!s->ops->leader_poll) {
		*term = 0;
		return 1;
	}
	return s->ops->leader_poll(s, me, term);
}
static inline int store_hosts_wanted(struct store *s, uint64_t after, store_want_fn fn, void *arg)
{
	return s->ops->hosts_wanted ? s->ops->hosts_wanted(s, after, fn, arg) : 0;
}

static inline int store_hosts_held(struct store *s, const char *me, struct host *const *claims,
				   int nclaims, struct host *const *held, int nheld)
{
	return s->ops->hosts_held ? s->ops->hosts_held(s, me, claims, nclaims, held, nheld) : 0;
}
static inline int store_hosts_elsewhere(struct store *s, const char *me, store_held_fn fn,
					void *arg)
{
	return s->ops->hosts_elsewhere ? s->ops->hosts_elsewhere(s, me, fn, arg) : 0;
}

/* Opens the store spec names: "sqlite:PATH", "postgresql:CONNINFO" (a
 * libpq connection string or URI), or a bare PATH (SQLite); read_only for
 * tools that only look. NULL once the reason is logged. */
struct store *store_open(const char *spec, int read_only);
void store_close(struct store *s);

/* store_sqlite.c */
struct store *store_sqlite_open(const char *path, int read_only);
/* store_pg.c (built when libpq is found) */
struct store *store_pg_open(const char *conninfo, int read_only);

#endif
