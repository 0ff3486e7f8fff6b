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

#include "bulkhead/conf.h"
#include "bulkhead/msg.h"
#include "bulkhead/names.h"
#include "store.h"

struct peer;
struct admit;
struct client;
struct command;
struct command_opts;
struct wire_frame;
struct pb_run;
struct pb_rx;
struct access_hold;
struct metrics;
struct events;

/* One inventory host, with what the controller wants of it and what the
 * agent last confirmed. */
struct host {
	const struct inv_host *inv;
	const char *name;
	enum bulkhead_mode mode; /* last reported by the agent */
	uint64_t epoch;
	char hash[65];		      /* policy the agent holds, "" for none */
	enum bulkhead_mode want_mode; /* commanded */
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
	uint32_t tampers;  /* tampering the agent reports having undone */
	bool seen_due;	   /* in ctl->seen, for the store at the end of this pass */
	struct peer *peer; /* NULL while not connected */
	/* Controllers sharing a store (ha.c): */
	char via[64]; /* connected here: the controller its agent says it is on */
	char on[64];  /* not connected here: the live controller holding it, "" none */
	bool claim;   /* connected here since the store last heard of it */
	bool on_read; /* in the last read of where the hosts are */
};

struct ctl {
	const char *conf_path; /* read again by ctl_reload */
	struct ctl_conf conf;
	struct revoked_list revoked; /* conf.revoked, as last loaded */
	struct event *hup_ev;
	struct inventory *inv;
	struct host *hosts;
	int nhosts;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct evconnlistener *peer_listener;
	struct admit *admit; /* the agent sessions still in their handshake */
	struct evconnlistener *control_listener;
	struct event *flush_ev;
	struct store *store;
	struct command *commands; /* in flight */
	struct pb_run *run;	  /* the playbook run in progress or halted, if any */
	struct event *pb_tick;
	const struct timeval *hb_tv; /* the heartbeat, a common timeout of base */
	struct host **seen;	     /* hosts whose reports the store has yet to get */
	int nseen;
	struct event *seen_ev;
	uint32_t check_seq;
	struct access_hold *holds; /* requests waiting for a second operator */
	uint64_t hold_seq;
	struct metrics *metrics; /* NULL while metrics are off */
	struct events *events;	 /* NULL while no event sink is configured */
	/* High availability (ha.c) */
	char name[64];	    /* this controller, in the audit log and the leader row */
	int leader;	    /* 1 leads, 0 follows, -1 not asked yet */
	uint64_t term;	    /* the fencing term while leading */
	uint64_t want_mark; /* the newest want_epoch read from the store */
	int held_changed;   /* an agent came or went since the store last heard */
	struct event *ha_ev;
};

/* bulkheadd.c */
/* Reads the configuration's TLS files and revocation list again; new
 * handshakes use them, and sessions of revoked hosts close. Anything
 * unusable changes nothing: -1, with the first problem in err. Audited as
 * done by actor. */
int ctl_reload(struct ctl *c, const char *actor, char *err, size_t errlen);

/* ha.c: the leader among controllers sharing a store; their commands */
int ha_init(struct ctl *c);
void ha_close(struct ctl *c);

/* hosts.c */
struct host *ctl_host_find(struct ctl *c, const char *name);
/* The same, as the store's lookup. */
struct host *ctl_host_lookup(void *ctl, const char *name);
/* What the agent of h reported goes to the store at the end of this pass
 * of the event loop, with every other host's in one transaction: a
 * thousand acks are one write, not a thousand. */
void ctl_host_seen(struct ctl *c, struct host *h);
/* Writes them now; last: at exit, and frees what ctl_host_seen allocated. */
void ctl_hosts_seen_flush(struct ctl *c, bool last);
/* "root (uid 0, pid 4242)": who asked, as the audit log names them. */
void ctl_actor(uid_t uid, pid_t pid, char *buf, size_t len);
/* What a host waits for, as status shows it (HOST_NONE: nothing). */
enum host_status host_pending(const struct host *h);
/* Seen by this controller or, with a shared store, by another one. */
static inline bool host_seen(const struct host *h)
{
	return h->peer || h->on[0];
}
/* The controller holding the host's session, NULL when none does. */
const char *host_controller(const struct ctl *c, const struct host *h);

#define CTL_CONFIRM_MS_DEFAULT 30000

/* What a command asks of one host. */
struct target_spec {
	struct host *host;
	enum bulkhead_mode mode;
	const char *hash; /* policy to enforce; NULL keeps the host's */
};

/* peer.c: the agents' sessions */
int peers_listen(struct ctl *c);
void peers_close(struct ctl *c);
/* Closes (and audits) every session whose host or certificate serial the
 * revocation list names. */
void peers_revoked_drop(struct ctl *c);
/* Sends the policy frames first when the agent does not hold hash. */
int peer_send_mode(struct peer *p, uint64_t epoch, enum bulkhead_mode mode, const char *hash,
		   uint32_t confirm_ms);
int peer_send_confirm(struct peer *p, uint64_t epoch);
/* The sequence number of the last frame sent: acks echo it. */
uint32_t peer_last_seq(const struct peer *p);
/* WIRE_PORT_SET to a switch's agent: the named host-facing ports
 * isolated, or open (with a confirmation timer). */
int peer_send_ports(struct peer *p, uint64_t epoch, enum port_state state, const char *const *ports,
		    int nports, uint32_t confirm_ms);
int peer_send_check(struct peer *p, const struct msg_check *k);

/* control.c */
/* A request that frames follow (a plan, a playbook run), received frame by
 * frame up to WIRE_CTL_APPLY_END. */
struct body_ops {
	/* One frame; -1 when the request is unusable. */
	int (*add)(void *rx, const void *frame, size_t len, const struct wire_frame *f);
	/* Both answer the client and free rx. */
	void (*finish)(void *rx, struct client *cl);
	void (*fail)(void *rx, struct client *cl);
	void (*free)(void *rx);
};
int control_listen(struct ctl *c);
void control_close(struct ctl *c);
int client_send(struct client *cl, const void *frame, int len);
uid_t client_uid(const struct client *cl);
pid_t client_pid(const struct client *cl);
void client_finish(struct client *cl);
void client_end(struct client *cl, uint32_t result, const char *err);
/* 1 while frames queued for the client have not all been written. */
int client_pending(const struct client *cl);
/* The role the client's groups grant (access_role_of, at connect). */
enum access_role client_role(const struct client *cl);

/* access.c */
enum access_role access_role_of(const struct ctl_access *a, uid_t uid, const gid_t *groups,
				int ngroups);
/* 0 when the client's role allows a request of wire type; else -1 once the
 * client is answered and the refusal audited. */
int access_check(struct ctl *c, struct client *cl, uint16_t type);
/* 1 when the command needs a second operator: it is held, and the client
 * told how to have it approved. 0: go on. */
int access_hold_command(struct ctl *c, struct client *cl, const struct command_opts *o,
			const struct target_spec *specs, int n);
/* The same for a playbook approval (stage NULL: the one waiting). */
int access_hold_pb_approve(struct ctl *c, struct client *cl, const char *stage);
/* bulkhead approve ID: runs the held request, answering cl. */
void access_approve(struct ctl *c, struct client *cl, uint64_t id);
void access_free_all(struct ctl *c);

/* plan.c: the plans `bulkhead apply` sends, and the policies `bulkhead plan` reads */
struct plan_rx;
struct plan_rx *plan_rx_new(struct ctl *c, const struct command_opts *o);
extern const struct body_ops plan_body_ops;
void plan_policies_send(struct ctl *c, struct client *cl);
/* The WIRE_POLICY frames of one host, as a plan or a run carries them:
 * kept as they came, and checked as the agent will check them. */
struct policy_collect {
	struct policy_wire_rx *rx;
	char hash[65]; /* what the frames must add up to */
	char *frames;
	size_t len;
	int open; /* frames are still due */
};
void policy_collect_start(struct policy_collect *pc, const char *hash);
/* 1 when the policy is complete and is hash, for host; 0 when more are
 * due; -1 when a frame is damaged (err says how), -2 when the policy is
 * whole but another one. */
int policy_collect_add(struct policy_collect *pc, const char *host, const void *frame, size_t len,
		       const struct wire_frame *f, char *err, size_t errlen);
void policy_collect_clear(struct policy_collect *pc);

/* playbook.c: runs of staged reconnection playbooks */
int playbook_init(struct ctl *c);
void playbook_close(struct ctl *c);
struct pb_rx *playbook_rx_new(struct ctl *c, const struct msg_ctl_pb_run *m, uid_t uid, pid_t pid);
/* Its finish starts the run if it is sound. */
extern const struct body_ops playbook_body_ops;
void playbook_request(struct ctl *c, struct client *cl, const struct wire_frame *f);
/* Opens the gate of the stage that waits (or of stage), in actor's name. */
void playbook_approve_as(struct ctl *c, struct client *cl, const char *stage, const char *actor);
void playbook_check_result(struct ctl *c, struct host *h, const struct msg_check_result *m);

/* command.c */
struct command_opts {
	enum action action;
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
	int approved; /* a second operator approved it (access.two_person) */
};
/* A copy of o that outlives the request which carried it: the reason
 * owned (freed with the command), no actor or epoch_out pointers. */
void command_opts_keep(struct command_opts *dst, const struct command_opts *o);
/* Answers the client itself, errors included. */
int command_start(struct ctl *c, struct client *cl, const struct command_opts *o,
		  const struct target_spec *t, int n);
void command_port_acked(struct ctl *c, struct host *sw, uint32_t seq, uint32_t result,
			const char *err);
/* seq: the ack's sequence number, which matches the frame it answers. */
void command_host_acked(struct ctl *c, struct host *h, uint32_t seq, const struct msg_ack *k);
/* A host on another controller sharing the store reported its mode. */
void command_host_reported(struct ctl *c, struct host *h);
void command_client_gone(struct ctl *c, struct client *cl);
void command_free_all(struct ctl *c);

#endif
