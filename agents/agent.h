/* bulkhead-agent: shared state of the agent daemon and its prototypes. */
#ifndef BULKHEAD_AGENT_H
#define BULKHEAD_AGENT_H

#include <stdint.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "bulkhead/conf.h"
#include "bulkhead/wire.h"
#include "nft.h"
#include "profile.h"

#define AGENT_MAX_HOLDS 128 /* links or ports one hard isolation takes down */
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
	int mode;
	uint64_t epoch;
	char policy[65]; /* hash, "" for none */
	int pending;	 /* the change to mode/policy awaits confirmation */
	int prev_mode;	 /* while pending: what to return to */
	uint64_t prev_epoch;
	char prev_policy[65];
	int hard;      /* isolated --hard */
	int prev_hard; /* while pending: the state to return to was hard */
	struct agent_hold holds[AGENT_MAX_HOLDS]; /* what hard isolation took down */
	int nholds;
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

	int mode;
	uint64_t epoch;
	struct host_policy *policy; /* applied, or NULL: empty sets */
	struct policy_wire_rx *rx;  /* a policy being received */
	struct host_policy *staged; /* received, not yet applied */

	/* commit-confirmed: a change that opened traffic, until confirmed */
	int pending;
	int prev_mode;
	uint64_t prev_epoch;
	struct host_policy *prev_policy;
	uint32_t confirm_ms;
	struct event *rollback_ev;
	uint64_t rolled_back_epoch; /* refused from now on, unless it isolates */
	struct event *deadman_ev;   /* on_controller_loss: isolate after a while alone */
	/* hard isolation: while hard, the holds are in force; while a release
	 * of it awaits confirmation, they are what a rollback takes down again */
	int hard, prev_hard;
	struct agent_hold holds[AGENT_MAX_HOLDS];
	int nholds;
	/* switch ports set by the controller, and their rollback timer */
	struct agent_port ports[AGENT_MAX_PORTS];
	int nports;
	struct event *port_rollback_ev;
	struct profile profile;
	struct profile_env env;
	struct agent_link *link;
	int persisted; /* the recorded state matches mode/epoch */
	int sync_due;  /* fsync the record once the ack has left */

	/* tamper guard */
	int own_table; /* ask for an owned, persistent table */
	struct nft_watch *watch;
	struct event *watch_ev, *verify_ev, *link_ev;
	char digest[65];  /* what the kernel held after our last change */
	int digest_due;	  /* take a new digest once the ack has left */
	uint32_t tampers; /* changes undone since start */
	struct {
		char kind[16];
		char text[240];
	} alerts[8]; /* not yet sent to the controller */
	int nalerts;

	/* session to the controller */
	struct bufferevent *bev;
	int established; /* TLS handshake done */
	int admitted;	 /* the controller has answered: our name is in its inventory */
	int next_ctl;	 /* which controller address to try next */
	int backoff_ms;
	uint64_t last_rx_ms;
	uint32_t seq;
	struct event *reconnect_ev;
	struct event *heartbeat_ev;
};

/* agent.c */
void agent_mode_set(struct agent *a, uint64_t epoch, int mode, const char *hash,
		    uint32_t confirm_ms, uint32_t seq, int hard);
void agent_confirm(struct agent *a, uint64_t epoch, uint32_t seq);
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

/* check.c */
void check_start(struct agent *a, const struct wire_frame *f);

/* hard.c */
/* Adds what hard isolation takes down to the holds; names it had to leave
 * up go to kept. Returns how many were added. */
int hard_plan(struct agent *a, char *kept, size_t kept_len);
void hard_apply(struct agent *a);
void hard_release(struct agent *a);
void hard_verify(struct agent *a, const struct profile_ctx *c);

/* port.c */
void port_set(struct agent *a, const struct wire_frame *f);
/* Commits the ports opened at epoch; returns how many. */
int port_confirm(struct agent *a, uint64_t epoch);
void port_reapply(struct agent *a);
void port_verify(struct agent *a, const struct profile_ctx *c);
bool port_held(const struct agent *a, const char *name);
void port_rollback_cb(evutil_socket_t fd, short what, void *arg);

/* guard.c */
int guard_start(struct agent *a);
void guard_stop(struct agent *a);
void guard_baseline(struct agent *a);
/* Checks what the kernel holds against the holds, the ports and the
 * profile's hooks; puts back what was undone. */
void guard_links_verify(struct agent *a, const char *how);

/* session.c */
void session_start(struct agent *a);
void session_stop(struct agent *a);
int session_send(struct agent *a, const void *frame, int len);
void session_send_ack(struct agent *a, uint32_t seq, const char *status, uint32_t result,
		      uint64_t apply_us, const char *err);
/* The ack of a WIRE_PORT_SET, or of a rollback of ports (seq 0). */
void session_send_port_ack(struct agent *a, uint32_t seq, const char *status, uint32_t result,
			   uint64_t apply_us, const char *err, uint64_t epoch, const char *state,
			   const char (*names)[LINK_NAME_MAX], int nnames);
/* Queues an alert for the controller (and logs it); sent at once when there
 * is a session, else after the next hello. */
void agent_alert(struct agent *a, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void session_alerts_flush(struct agent *a);

/* state.c */
int state_load(const char *dir, struct agent_record *r);
int state_record(const char *dir, const struct agent_record *r);
int state_sync(const char *dir);
int state_policy_save(const char *dir, const struct host_policy *hp);
struct host_policy *state_policy_load(const char *dir, const char *hash);
void state_policy_gc(const char *dir, const char *keep1, const char *keep2);

#endif
