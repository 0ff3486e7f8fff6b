/* bulkheadd: shared state of the controller daemon and its prototypes,
 * grouped by the file that defines them. */
#ifndef BULKHEAD_CONTROLLER_H
#define BULKHEAD_CONTROLLER_H

#include <stdint.h>
#include <sys/types.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#include "bulkhead/conf.h"

struct agent_conn;
struct client;
struct command;

/* One inventory host, with what the controller wants of it and what the
 * agent last confirmed. */
struct host {
	const struct inv_host *inv;
	const char *name;
	int mode;            /* last confirmed by the agent */
	uint64_t epoch;
	int want_mode;       /* commanded */
	uint64_t want_epoch;
	char hash[65];
	uint64_t last_seen_ms;
	uint32_t tampers;        /* tampering the agent reports having undone */
	struct agent_conn *conn; /* NULL while not connected */
};

struct ctl {
	struct ctl_conf conf;
	struct inventory *inv;
	struct host *hosts;
	int nhosts;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct evconnlistener *agent_listener;
	struct evconnlistener *control_listener;
	struct event *flush_ev;
	sqlite3 *db;
	uint64_t epoch;           /* controller-wide, monotonic */
	struct command *commands; /* in flight */
};

/* bulkheadd.c */
uint64_t ctl_now_ms(void);
uint64_t ctl_mono_us(void);
struct host *ctl_host_find(struct ctl *c, const char *name);

/* store.c */
int store_open(struct ctl *c);
void store_close(struct ctl *c);
int store_hosts_load(struct ctl *c);
uint64_t store_epoch_next(struct ctl *c);
void store_epoch_raise(struct ctl *c, uint64_t seen);
int store_hosts_want(struct ctl *c, struct host **hosts, int n, int mode, uint64_t epoch);
void store_host_confirmed(struct ctl *c, struct host *h);
void store_last_seen_flush(struct ctl *c);
int64_t store_command_begin(struct ctl *c, uid_t uid, pid_t pid, const char *action,
			    const char *reason, uint64_t epoch, int targeted);
void store_command_result(struct ctl *c, int64_t id, const char *host, const char *status,
			  uint64_t apply_us, uint64_t latency_us, const char *err);
void store_command_end(struct ctl *c, int64_t id, int confirmed);
void store_host_event(struct ctl *c, struct host *h, const char *kind, const char *detail);

/* agents.c */
int agents_listen(struct ctl *c);
void agents_close(struct ctl *c);
int agent_conn_send_mode(struct agent_conn *ac, uint64_t epoch, int mode);

/* control.c */
int control_listen(struct ctl *c);
void control_close(struct ctl *c);
int client_send(struct client *cl, const void *frame, int len);
void client_finish(struct client *cl);
void client_end(struct client *cl, uint32_t result, const char *err);

/* command.c */
/* Answers the client itself, errors included. */
int command_start(struct ctl *c, struct client *cl, int mode, int all, char **names, int nnames,
		  const char *reason, uint32_t timeout_ms, uid_t uid, pid_t pid);
void command_host_acked(struct ctl *c, struct host *h, uint64_t epoch, int mode, uint32_t result,
			uint64_t apply_us, const char *err);
void command_host_gone(struct ctl *c, struct host *h);
void command_client_gone(struct ctl *c, struct client *cl);
void command_free_all(struct ctl *c);

#endif
