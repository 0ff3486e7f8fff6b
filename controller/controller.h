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
struct command_opts;
struct wire_frame;
struct pb_run;
struct pb_rx;

/* One inventory host, with what the controller wants of it and what the
 * agent last confirmed. */
struct host {
	const struct inv_host *inv;
	const char *name;
	int mode; /* last reported by the agent */
	uint64_t epoch;
	char hash[65]; /* policy the agent holds, "" for none */
	int want_mode; /* commanded */
	uint64_t want_epoch;
	char want_hash[65];  /* policy commanded */
	int want_hard;	     /* isolation commanded with --hard: data links down too */
	int hard;	     /* the agent reports hard isolation in force */
	int hold_confirm;    /* a change waits for `bulkhead confirm` */
	int pending_confirm; /* the agent holds an unconfirmed change of want_epoch */
	char digest[65];     /* what the kernel holds, from the agent's heartbeat */
	char port_sw[64];    /* the switch holding this host's port isolated for it, or "" */
	char port_name[32];
	uint64_t port_open_epoch;  /* the reopening of that port under way */
	uint32_t port_confirm_seq; /* on a switch: the confirmation of ports sent last */
	uint64_t port_confirm_epoch;
	uint64_t last_seen_ms;
	uint32_t tampers;	 /* tampering the agent reports having undone */
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
	uint64_t epoch;		  /* controller-wide, monotonic */
	struct command *commands; /* in flight */
	struct pb_run *run;	  /* the playbook run in progress or halted, if any */
	struct event *pb_tick;
	uint32_t check_seq;
};

/* bulkheadd.c */
struct host *ctl_host_find(struct ctl *c, const char *name);
/* "root (uid 0, pid 4242)": who asked, as the audit log names them. */
void ctl_actor(uid_t uid, pid_t pid, char *buf, size_t len);

#define CTL_CONFIRM_MS_DEFAULT 30000

/* What a command asks of one host. */
struct target_spec {
	struct host *host;
	int mode;
	const char *hash; /* policy to enforce; NULL keeps the host's */
};

/* store.c */
int store_open(struct ctl *c);
void store_close(struct ctl *c);
int store_hosts_load(struct ctl *c);
uint64_t store_epoch_next(struct ctl *c);
void store_epoch_raise(struct ctl *c, uint64_t seen);
/* Persists each host's want_* fields, in one transaction. */
int store_hosts_want(struct ctl *c, struct host **hosts, int n);
int store_policy_put(struct ctl *c, const char *host, const char *hash, const void *frames,
		     size_t len);
/* The policy's WIRE_POLICY frames, malloc'd; NULL if unknown. */
void *store_policy_get(struct ctl *c, const char *host, const char *hash, size_t *len);
void store_host_confirmed(struct ctl *c, struct host *h);
void store_last_seen_flush(struct ctl *c);
int64_t store_command_begin(struct ctl *c, uid_t uid, pid_t pid, const char *action,
			    const char *reason, uint64_t epoch, int targeted);
void store_command_result(struct ctl *c, int64_t id, const char *host, const char *status,
			  uint64_t apply_us, uint64_t latency_us, const char *err);
void store_command_end(struct ctl *c, int64_t id, int confirmed);

/* agents.c */
int agents_listen(struct ctl *c);
void agents_close(struct ctl *c);
/* Sends the policy frames first when the agent does not hold hash. */
int agent_conn_send_mode(struct agent_conn *ac, uint64_t epoch, int mode, const char *hash,
			 uint32_t confirm_ms);
int agent_conn_send_confirm(struct agent_conn *ac, uint64_t epoch);
/* The sequence number of the last frame sent: acks echo it. */
uint32_t agent_conn_last_seq(const struct agent_conn *ac);
/* WIRE_PORT_SET to a switch's agent: state "isolated" or "open" (with a
 * confirmation timer) for the named host-facing ports. */
int agent_conn_send_ports(struct agent_conn *ac, uint64_t epoch, const char *state,
			  const char *const *ports, int nports, uint32_t confirm_ms);
int agent_conn_send_check(struct agent_conn *ac, uint32_t id, const char *target, uint8_t proto,
			  uint16_t port, uint32_t timeout_ms);

/* control.c */
int control_listen(struct ctl *c);
void control_close(struct ctl *c);
int client_send(struct client *cl, const void *frame, int len);
uid_t client_uid(const struct client *cl);
pid_t client_pid(const struct client *cl);
void client_finish(struct client *cl);
void client_end(struct client *cl, uint32_t result, const char *err);

/* plan.c: the plans `bulkhead apply` sends, and the policies `bulkhead plan` reads */
struct plan_rx;
struct plan_rx *plan_rx_new(struct ctl *c, const struct command_opts *o);
void plan_rx_free(struct plan_rx *rx);
/* One frame of the plan; -1 when the plan is unusable. */
int plan_rx_add(struct plan_rx *rx, const void *frame, size_t len, const struct wire_frame *f);
/* Answers the client and frees rx. */
void plan_rx_fail(struct plan_rx *rx, struct client *cl);
void plan_rx_finish(struct plan_rx *rx, struct client *cl);
void plan_policies_send(struct ctl *c, struct client *cl);

/* playbook.c: runs of staged reconnection playbooks */
int playbook_init(struct ctl *c);
void playbook_close(struct ctl *c);
struct pb_rx *playbook_rx_new(struct ctl *c, const struct wire_frame *f, uid_t uid, pid_t pid);
void playbook_rx_free(struct pb_rx *rx);
int playbook_rx_add(struct pb_rx *rx, const void *frame, size_t len, const struct wire_frame *f);
/* Answers the client, starts the run if it is sound, frees rx. */
void playbook_rx_finish(struct pb_rx *rx, struct client *cl);
void playbook_rx_fail(struct pb_rx *rx, struct client *cl);
void playbook_request(struct ctl *c, struct client *cl, const struct wire_frame *f);
void playbook_check_result(struct ctl *c, struct host *h, uint32_t id, uint32_t result,
			   const char *err);

/* command.c */
struct command_opts {
	const char *action; /* isolate, release, apply, confirm */
	const char *reason;
	uint32_t timeout_ms;
	uint32_t confirm_ms; /* rollback timer for changes that open traffic */
	int manual;	     /* leave changes waiting for `bulkhead confirm` */
	int hard;	     /* isolate --hard */
	int no_fallback;     /* isolate: do not cut silent hosts off at their switch port */
	const char *actor;   /* who, for the audit log; NULL: from uid and pid */
	uint64_t *epoch_out; /* gets the command's epoch */
	uid_t uid;
	pid_t pid;
};
/* Answers the client itself, errors included. */
int command_start(struct ctl *c, struct client *cl, const struct command_opts *o,
		  const struct target_spec *t, int n);
void command_port_acked(struct ctl *c, struct host *sw, uint32_t seq, uint32_t result,
			const char *err);
/* seq: the ack's sequence number, which matches the frame it answers. */
void command_host_acked(struct ctl *c, struct host *h, uint32_t seq, uint64_t epoch, int mode,
			const char *status, uint32_t result, uint64_t apply_us, int persisted,
			const char *err);
void command_client_gone(struct ctl *c, struct client *cl);
void command_free_all(struct ctl *c);

#endif
