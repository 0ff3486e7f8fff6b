/* bulkhead-agent: shared state of the agent daemon and its prototypes. */
#ifndef BULKHEAD_AGENT_H
#define BULKHEAD_AGENT_H

#include <stdint.h>
#include <stdio.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "bulkhead/conf.h"
#include "bulkhead/msg.h"
#include "bulkhead/wire.h"
#include "mode.h"
#include "nft.h"
#include "profile.h"

#define AGENT_MAX_PORTS 256 /* switch ports the controller has set */

/* A switch port as the controller last set it (WIRE_PORT_SET). */
struct agent_port {
	char name[LINK_NAME_MAX];
	int isolated;
	enum hold_kind method; /* how it is, or was last, isolated */
	uint64_t epoch;
	int pending;	      /* opened, awaiting confirmation */
	uint64_t deadline_ms; /* rollback time, clock_mono_ms() */
};

/* What the state file records. */
struct agent_record {
	struct mode_record m;
	struct agent_port ports[AGENT_MAX_PORTS];
	int nports;
};

struct agent {
	struct agent_conf conf;
	char name[64];
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct agent_nft *nft;
	struct nft_mgmt mgmt;

	/* mode, epoch, policy, hard isolation and commit-confirm (mode.c) */
	struct mode_machine m;
	struct policy_wire_rx *rx; /* a policy being received */
	struct event *rollback_ev;
	struct event *deadman_ev; /* on_controller_loss: isolate after a while alone */
	/* switch ports set by the controller, and their rollback timer */
	struct agent_port ports[AGENT_MAX_PORTS];
	int nports;
	struct event *port_rollback_ev;
	struct profile profile;
	struct profile_env env;
	struct agent_link *link;
	int sync_due; /* fsync the record once the ack has left */

	/* tamper guard */
	int own_table; /* ask for an owned, persistent table */
	struct nft_watch *watch;
	struct event *watch_ev, *verify_ev, *baseline_ev, *link_ev;
	char digest[65];  /* what the kernel held after our last change */
	int digest_due;	  /* take a new digest once the ack has left */
	uint32_t tampers; /* changes undone since start */
	struct {
		enum alert_kind kind;
		char text[240];
	} alerts[8]; /* not yet sent to the controller */
	int nalerts;

	/* session to the controller */
	struct bufferevent *bev;
	int established; /* TLS handshake done */
	int admitted;	 /* the controller has answered: our name is in its inventory */
	int next_ctl;	 /* which controller address to try next */
	char ctl_name[64]; /* the controller's name, from its heartbeats; "" unknown */
	int backoff_ms;
	uint64_t last_rx_ms;
	uint32_t seq;
	struct event *reconnect_ev;
	struct event *heartbeat_ev;
};

/* agent.c */
/* A result of the mode machine: what to do once its ack has left. */
void agent_mode_done(struct agent *a, const struct mode_result *res);
void agent_policy_part(struct agent *a, const struct wire_frame *f);
void agent_after_ack(struct agent *a);
/* The dead-man switch: armed while the controller is out of reach. */
void agent_deadman_arm(struct agent *a);
void agent_deadman_disarm(struct agent *a);
/* Records the agent's state (mode, holds, ports); 0, or -1 when it is kept
 * in memory only. */
int agent_record(struct agent *a);
/* Installs the whole table with what the profile adds, worked out afresh
 * from the links as they are now. Returns 0 or -errno. */
int agent_table_install(struct agent *a);

/* backend.c: the mode machine's ops on this host */
extern const struct mode_backend agent_backend;
void agent_rollback_cb(evutil_socket_t fd, short what, void *arg);

/* check.c */
void check_start(struct agent *a, const struct msg_check *k);

/* hard.c */
/* What hard isolation takes down now (the profile's choice), into out;
 * names it had to leave up go to kept. Returns the count. */
int hard_plan(struct agent *a, struct agent_hold *out, int max, char *kept, size_t kept_len);
void hard_apply(struct agent *a, const struct agent_hold *h, int n);
/* Puts the holds back, except ports the controller isolated on their own. */
void hard_release(struct agent *a, const struct agent_hold *h, int n);
void hard_verify(struct agent *a, const struct profile_ctx *c);
/* Is name held down by hard isolation in force? */
bool hard_holds(const struct agent *a, const char *name);

/* port.c */
void port_set(struct agent *a, uint32_t seq, const struct msg_port_set *ps);
/* Commits the ports opened at epoch; returns how many. */
int port_confirm(struct agent *a, uint64_t epoch);
void port_reapply(struct agent *a);
void port_verify(struct agent *a, const struct profile_ctx *c);
bool port_held(const struct agent *a, const char *name);
void port_rollback_cb(evutil_socket_t fd, short what, void *arg);
/* Ports opened and never confirmed before a restart: isolated again.
 * Returns how many. */
int port_restore(struct agent *a, const struct agent_record *r);

/* guard.c */
int guard_start(struct agent *a);
void guard_stop(struct agent *a);
void guard_baseline(struct agent *a);
/* The baseline of a change just acked, taken shortly after (see guard.c). */
void guard_baseline_later(struct agent *a);
/* Checks what the kernel holds against the holds, the ports and the
 * profile's hooks; puts back what was undone. */
void guard_links_verify(struct agent *a, const char *how);

/* session.c */
void session_start(struct agent *a);
void session_stop(struct agent *a);
int session_send(struct agent *a, const void *frame, int len);
/* The one ack of a command the mode machine handled (seq 0: it acted by itself). */
void session_send_ack(struct agent *a, uint32_t seq, const struct mode_result *res);
/* The ack of a WIRE_PORT_SET, or of a rollback of ports (seq 0). */
struct port_ack {
	enum ack_status status;
	uint32_t result;
	uint64_t apply_us;
	const char *err;
	uint64_t epoch;
	enum port_state state;
	const char *const *names;
	int n;
};
void session_send_port_ack(struct agent *a, uint32_t seq, const struct port_ack *pa);
/* Queues an alert for the controller (and logs it); sent at once when there
 * is a session, else after the next hello. */
void agent_alert(struct agent *a, enum alert_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void session_alerts_flush(struct agent *a);

/* state.c */
/* The record as text: 0, -1 when malformed, -2 when it is not a record. */
int state_parse(FILE *f, struct agent_record *r);
int state_load(const char *dir, struct agent_record *r);
int state_record(const char *dir, const struct agent_record *r);
int state_sync(const char *dir);
int state_policy_save(const char *dir, const struct host_policy *hp);
struct host_policy *state_policy_load(const char *dir, const char *hash);
void state_policy_gc(const char *dir, const char *keep1, const char *keep2);

#endif
