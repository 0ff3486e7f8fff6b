/* Staged reconnection playbooks (policies/playbooks/NAME.yaml): an ordered list
 * of stages, each bringing a set of hosts back to the full policy or to a
 * named restricted one, checked from the agents, optionally gated by an
 * operator's approval. See bulkhead-playbook(5). */
#ifndef BULKHEAD_PLAYBOOK_H
#define BULKHEAD_PLAYBOOK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bulkhead/conf.h"
#include "bulkhead/policy.h"

/* One check, run by the agent of `from` after the stage applies. */
struct pb_check {
	char *from;	   /* host name that runs it (groups are expanded) */
	char *target_name; /* as written: a host name or an address */
	char target[48];   /* the address the agent probes */
	uint8_t proto;	   /* IPPROTO_TCP (connect) or IPPROTO_ICMP (ping, either family) */
	uint16_t port;	   /* TCP only */
	int expect_open;   /* 1: must be reached; 0: must not be (isolation still holds) */
	uint32_t timeout_ms;
	int line; /* in the playbook file, for messages */
	int col;
	char *from_name;   /* as written: the host or group */
	char *target_host; /* the inventory host that holds target, or NULL */
	int family;	   /* of target: AF_INET or AF_INET6 */
};

struct pb_stage {
	char *name;
	char **hosts; /* expanded, inventory order, no duplicates */
	size_t nhosts;
	char *restore; /* "segmented", or the name of a restricted policy */
	struct pb_check *checks;
	size_t nchecks;
	int approval;	     /* wait for `bulkhead playbook approve` before applying */
	uint32_t soak_ms;    /* after the checks pass: wait, then check again */
	int on_failure_halt; /* 0: re-isolate the stage's hosts (the default); 1: halt */
	int line;
	/* restricted stages: the file (policy_dir/restricted/NAME.yaml, as
	 * messages name it) and the site loaded with its rules, owned by the
	 * playbook and shared by the stages that name it; NULL when segmented */
	char *restricted_file;
	struct policy *restricted;
};

struct pb_cache; /* compiled host policies, private to lib/playbook*.c */

struct playbook {
	char *file;
	char *name;
	char *description; /* NULL when not given */
	struct pb_stage *stages;
	size_t nstages;
	/* By inventory index of the policy it was loaded against: the stage
	 * that reconnects the host, or -1 when no stage does (it stays
	 * isolated). */
	int *stage_of;
	size_t nhosts; /* inventory entries; those in a stage: nstaged */
	size_t nstaged;
	size_t nchecks; /* over every stage, expanded */
	struct pb_cache *cache;
};

/* Parses and validates FILE against the policy in policy_dir (hosts and
 * groups must exist, restricted policies must exist in
 * policy_dir/restricted/NAME.yaml and compile; a host may appear in one
 * stage only). Every error goes through err as "file:line:col: message",
 * all of them; NULL if there was any. Warnings are dropped. */
struct playbook *playbook_load(const char *file, const struct policy *p, const char *policy_dir,
			       conf_error_fn err, void *arg);
/* The same, with the warnings (checks that prove nothing, hosts that no
 * stage brings back, restricted rules that an earlier one covers) through
 * warn as "file:line:col: warning: message". */
struct playbook *playbook_load_warn(const char *file, const struct policy *p,
				    const char *policy_dir, conf_error_fn err, conf_error_fn warn,
				    void *arg);
void playbook_free(struct playbook *pb);

/* What a stage gives one of its hosts: the host's full policy, or the
 * restricted policy of the stage, compiled for that host. NULL on error,
 * or when the host is not in the stage. p must be the policy the playbook
 * was loaded against; the caller frees the result. */
struct host_policy *playbook_host_policy(const struct playbook *pb, const struct policy *p,
					 const char *policy_dir, size_t stage, const char *host);

/* The stage (index) of a host, or -1: not in the inventory, or in no stage. */
int playbook_host_stage(const struct playbook *pb, const struct policy *p, const char *host);

/* What the firewalls make of a check once its stage has applied, as far as
 * the policies tell: every host starts isolated, hosts of this and earlier
 * stages have their stage's policy, the management channel is open. */
enum pb_reach {
	PB_REACH_CLOSED,  /* some host's rules drop it */
	PB_REACH_OPEN,	  /* both ends' rules let it through */
	PB_REACH_UNKNOWN, /* the source lets it out to an address outside the inventory */
};

/* Says why in `why` (a sentence without a final stop), e.g. "v34-db01 is
 * still isolated (it returns at stage wave2)". */
enum pb_reach playbook_check_predict(const struct playbook *pb, const struct policy *p,
				     size_t stage, const struct pb_check *c, char *why,
				     size_t size);

/* `bulkhead playbook run --dry-run`: per stage, the gate, the hosts, what
 * they return to, every set element they get (hosts with the same ruleset
 * together), the checks with what the policy makes of them, the soak and
 * the failure action. Deterministic. 0, or -1 if a policy did not compile. */
int playbook_dry_run_print(const struct playbook *pb, const struct policy *p,
			   const char *policy_dir, FILE *out);

/* "5s", "2m", "500ms", "1h", "0": milliseconds into *ms; 0, or -1. */
int playbook_duration_parse(const char *s, uint32_t *ms);
/* The shortest of those forms; buf needs 16 bytes. */
void playbook_duration_format(uint32_t ms, char buf[16]);

#endif
