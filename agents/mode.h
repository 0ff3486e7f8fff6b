/* The agent's mode state machine: what the controller commands (a mode,
 * an epoch, a policy, hard isolation), what is in force, and what a change
 * that is not confirmed in time returns to. It touches the kernel, the
 * disk and the timers only through a backend's ops, so that it can be
 * driven in a unit test as well as on a host. */
#ifndef BULKHEAD_AGENT_MODE_H
#define BULKHEAD_AGENT_MODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/names.h"
#include "bulkhead/policy.h"
#include "profile.h"

#define MODE_MAX_HOLDS 128 /* links or ports one hard isolation takes down */

/* A state of the host: in force, or the one a rollback returns to. */
struct mode_state {
	enum bulkhead_mode mode;
	uint64_t epoch;
	struct host_policy *policy; /* NULL: the policy sets are empty */
	bool hard;		    /* isolated --hard: the holds are down */
};

/* The mode part of the agent's durable record (see state.c). */
struct mode_record {
	enum bulkhead_mode mode, prev_mode;
	uint64_t epoch, prev_epoch;
	char policy[65], prev_policy[65]; /* hashes, "" for none */
	bool pending;			  /* the change awaits its confirmation */
	bool hard, prev_hard;
	struct agent_hold holds[MODE_MAX_HOLDS];
	int nholds;
};

/* What the machine does to the world. arg is the backend's own. */
struct mode_backend {
	/* The tiny transaction: the base chains for mode, nothing else.
	 * 0 or -errno; -ENOENT when the table is gone. */
	int (*mode_apply)(void *arg, enum bulkhead_mode mode, uint64_t *apply_us);
	/* The whole table in one transaction, the policy's sets filled. */
	int (*table_install)(void *arg, enum bulkhead_mode mode, const struct host_policy *hp);
	/* What hard isolation takes down now, into out (at most max); what it
	 * must leave up, into kept. Returns the count. */
	int (*hard_plan)(void *arg, struct agent_hold *out, int max, char *kept, size_t kept_len);
	void (*hard_apply)(void *arg, const struct agent_hold *h, int n);
	void (*hard_release)(void *arg, const struct agent_hold *h, int n);
	/* Writes the record (mode_record_fill, and whatever else the agent
	 * keeps); 0, or -1 when it could not. */
	int (*record)(void *arg);
	int (*policy_save)(void *arg, const struct host_policy *hp);
	struct host_policy *(*policy_load)(void *arg, const char *hash);
	/* Drops stored policies other than keep. */
	void (*policy_gc)(void *arg, const char *keep);
	void (*rollback_arm)(void *arg, uint32_t ms);
	void (*rollback_disarm)(void *arg);
	void (*alert)(void *arg, enum alert_kind kind, const char *text);
};

struct mode_machine {
	const struct mode_backend *be;
	void *arg;
	struct mode_state cur;
	struct mode_state prev; /* while pending: the last confirmed state */
	bool pending;		/* cur opened traffic and is not confirmed yet */
	uint32_t confirm_ms;
	uint64_t rolled_back_epoch; /* refused from now on, unless it isolates */
	struct host_policy *staged; /* received, not yet applied */
	/* While hard, the holds are down; while a release of hard isolation
	 * awaits confirmation, they are what a rollback takes down again. */
	struct agent_hold holds[MODE_MAX_HOLDS];
	int nholds;
	bool persisted; /* the record describes cur */
};

/* A command: SET_MODE, or the dead-man switch's own isolation. */
struct mode_request {
	uint64_t epoch;
	enum bulkhead_mode mode;
	const char *hash; /* NULL or "": keep the policy in force */
	uint32_t confirm_ms;
	bool hard;
};

/* What became of it: the one ack the session sends. */
struct mode_result {
	enum ack_status status;
	uint32_t error; /* 0 or an errno */
	uint64_t apply_us;
	char message[256]; /* the error, or what hard isolation left up; "" */
	bool changed;	   /* the kernel and the record changed */
	bool recorded;	   /* the record changed (a confirmation) */
};

void mode_init(struct mode_machine *m, const struct mode_backend *be, void *arg);
/* Frees the policies the machine holds. */
void mode_clear(struct mode_machine *m);

void mode_set(struct mode_machine *m, const struct mode_request *rq, struct mode_result *res);
/* CONFIRM for epoch; ports_committed: the same word committed switch ports. */
void mode_confirm(struct mode_machine *m, uint64_t epoch, bool ports_committed,
		  struct mode_result *res);
/* The rollback timer ran out: back to prev. */
void mode_rollback(struct mode_machine *m, const char *why, struct mode_result *res);
/* The controller has been out of reach for deadman_s: isolate, at the
 * epoch held, so that the controller's next command still supersedes it.
 * Returns 1 when it isolated, 0 when there was nothing to do. */
int mode_deadman(struct mode_machine *m, uint32_t deadman_s, struct mode_result *res);
/* A policy received in full; the machine owns it from now on. */
void mode_stage(struct mode_machine *m, struct host_policy *hp);
const char *mode_policy_hash(const struct mode_state *s);

void mode_record_fill(const struct mode_machine *m, struct mode_record *r);

struct msg_ack;
struct msg_hello;
struct msg_set_mode;
/* mode_set of a SET_MODE frame as it was decoded. */
void mode_set_msg(struct mode_machine *m, const struct msg_set_mode *k, struct mode_result *res);
/* The one ack of res: the state in force after it (hard isolation's links
 * are the session's to add). */
void mode_ack_fill(const struct mode_machine *m, const struct mode_result *res, struct msg_ack *k);
/* The machine's part of a hello: mode, epoch, policy, and what is pending. */
void mode_hello_fill(const struct mode_machine *m, struct msg_hello *h);
/* At start, from the record (loaded 0, none 1, unreadable -1): a change
 * never confirmed is rolled back, and an unusable record isolates. Returns
 * 1 when the record must be written again. */
int mode_restore(struct mode_machine *m, const struct mode_record *r, int loaded);

#endif
