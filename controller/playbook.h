/* A playbook run as bulkheadd drives and stores it: its stages, each with
 * its hosts, their policies and its checks. */
#ifndef BULKHEAD_CTL_PLAYBOOK_H
#define BULKHEAD_CTL_PLAYBOOK_H

#include <stdint.h>

#include "bulkhead/names.h"

struct host;

struct pb_check_rt {
	char from[64], target[48], target_name[64];
	uint8_t proto;
	uint16_t port;
	int expect_open;
	uint32_t timeout_ms;
	int line;
	uint32_t id;	  /* of the probe in flight, 0 when none */
	uint64_t sent_ms; /* 0: not sent yet this round */
	int result;	  /* -1 pending, 0 reached, else an errno */
	char err[96];
};

struct pb_stage_rt {
	char name[64], restore[64];
	int approval;
	enum on_failure on_failure;
	uint32_t soak_ms;
	struct host **hosts;
	char (*hashes)[65];
	int nhosts;
	struct pb_check_rt *checks;
	int nchecks;
	enum stage_state state;
	uint64_t epoch;	   /* of the stage's apply (or re-isolation) */
	uint64_t state_ms; /* when the state began */
	char approved_by[128];
	char detail[320];
	int checks_sent; /* this round's probes are out (not stored: a restart sends again) */
};

struct pb_run {
	int64_t id;
	char name[64], actor[128], reason[256];
	enum run_state state;
	int current;
	struct pb_stage_rt *stages;
	int nstages;
};

/* A new stage, check or stage host, zeroed, at the end of its list: the
 * run is built this way from the CLI's frames and from the store. */
struct pb_stage_rt *pb_stage_add(struct pb_run *r);
struct pb_check_rt *pb_check_add(struct pb_stage_rt *s);
void pb_stage_host_add(struct pb_stage_rt *s, struct host *h, const char *hash);
void pb_run_free(struct pb_run *r);

struct ctl;

/* playbook.c: driving the run */
void pb_step(struct ctl *c);
/* Moves the current stage to state, stored before anything else happens. */
void pb_stage_state(struct ctl *c, struct pb_run *r, enum stage_state state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void pb_run_save(struct ctl *c, const struct pb_run *r);
/* The current stage's hosts reconnected, or isolated again. */
void pb_stage_command(struct ctl *c, struct pb_run *r, int isolate);
void pb_audit(struct ctl *c, const struct pb_run *r, const char *actor, const char *what,
	      const char *result, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
