/* The control socket's roles and the two-person rule. A caller's role
 * comes from the groups its process holds (SO_PEERCRED, SO_PEERGROUPS), not
 * from what it claims; a request its role does not allow is refused and
 * audited. A change that needs a second operator is held under a number
 * until another user approves it with `bulkhead approve N`, or its time
 * runs out. Isolation is never held. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "audit.h"
#include "controller.h"

enum hold_kind { HOLD_COMMAND, HOLD_PB_APPROVE };

struct access_hold {
	struct access_hold *next;
	uint64_t id;
	uint64_t expires_ms; /* wall clock */
	enum hold_kind kind;
	uid_t uid; /* who asked: someone else must approve */
	char actor[200];
	char what[200];
	struct command_opts o; /* HOLD_COMMAND: reason owned */
	struct target_spec *specs;
	char (*hashes)[65];
	int n;
	char stage[128]; /* HOLD_PB_APPROVE: "" for the one waiting */
};

static int gid_in(gid_t g, const gid_t *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == g)
			return 1;
	return 0;
}

static int groups_meet(const gid_t *want, int nwant, const gid_t *have, int nhave)
{
	for (int i = 0; i < nhave; i++)
		if (gid_in(have[i], want, nwant))
			return 1;
	return 0;
}

enum access_role access_role_of(const struct ctl_access *a, uid_t uid, const gid_t *groups,
				int ngroups)
{
	/* root and the controller's own user hold the store anyway. */
	if (uid == 0 || uid == geteuid() || (a->nread == 0 && a->noperate == 0))
		return ROLE_OPERATE;
	if (groups_meet(a->operate, a->noperate, groups, ngroups))
		return ROLE_OPERATE;
	if (groups_meet(a->read, a->nread, groups, ngroups))
		return ROLE_READ;
	return ROLE_DEFAULT;
}

static const char *role_name(enum access_role r)
{
	return r == ROLE_OPERATE ? "operate" : r == ROLE_READ ? "read" : "no";
}

int access_check(struct ctl *c, struct client *cl, uint16_t type)
{
	enum access_role need = ctl_request_role(&c->conf.access, type);
	enum access_role have = client_role(cl);
	char actor[200], why[400];

	if (have >= need)
		return 0;
	ctl_actor(client_uid(cl), client_pid(cl), actor, sizeof(actor));
	snprintf(why, sizeof(why),
		 "permission denied: %s needs the %s role, and %s has %s role; ask an operator "
		 "to run it, or to add you to a group of access.%s in bulkheadd.yaml",
		 wire_type_name(type), role_name(need), actor, role_name(have),
		 need == ROLE_OPERATE ? "operate" : "read");
	log_warn("%s", why);
	audit_log(c->store, clock_wall_ms(), actor, wire_type_name(type), NULL, NULL, "refused",
		  "needs the %s role; the caller has %s role", role_name(need), role_name(have));
	client_end(cl, CTL_RESULT_DENIED, why);
	return -1;
}

static void hold_free(struct access_hold *h)
{
	free((char *)h->o.reason);
	free(h->specs);
	free(h->hashes);
	free(h);
}

/* Drops the holds whose time ran out, each with its audit row. */
static void holds_expire(struct ctl *c)
{
	uint64_t now = clock_wall_ms();

	for (struct access_hold **pp = &c->holds; *pp;) {
		struct access_hold *h = *pp;

		if (h->expires_ms > now) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		audit_log(c->store, now, h->actor, "approve", NULL, h->o.reason, "expired",
			  "request %" PRIu64 " (%s) was not approved in time", h->id, h->what);
		hold_free(h);
	}
}

static void hold_add(struct ctl *c, struct client *cl, struct access_hold *h)
{
	char msg[512];

	holds_expire(c);
	h->id = ++c->hold_seq;
	h->uid = client_uid(cl);
	h->expires_ms = clock_wall_ms() + (uint64_t)c->conf.access.two_person_ms;
	ctl_actor(client_uid(cl), client_pid(cl), h->actor, sizeof(h->actor));
	h->next = c->holds;
	c->holds = h;
	audit_log(c->store, clock_wall_ms(), h->actor, "approve", NULL, h->o.reason, "held",
		  "request %" PRIu64 " (%s) waits for a second operator", h->id, h->what);
	log_info("request %" PRIu64 " (%s) by %s waits for a second operator", h->id, h->what,
		 h->actor);
	snprintf(msg, sizeof(msg),
		 "%s needs a second operator: another user must run `bulkhead approve %" PRIu64
		 "` within %d s",
		 h->what, h->id, c->conf.access.two_person_ms / 1000);
	client_end(cl, CTL_RESULT_HELD, msg);
}

int access_hold_command(struct ctl *c, struct client *cl, const struct command_opts *o,
			const struct target_spec *specs, int n)
{
	unsigned rule = c->conf.access.two_person;
	int opens = 0;
	struct access_hold *h;

	if (o->approved || o->action == ACTION_ISOLATE || o->action == ACTION_CONFIRM)
		return 0;
	for (int i = 0; i < n; i++)
		opens |= specs[i].mode != MODE_ISOLATED;
	if (!(o->action == ACTION_RELEASE && (rule & TWO_PERSON_RELEASE_ALL) && n == c->nhosts &&
	      n > 0) &&
	    !(o->action == ACTION_APPLY && (rule & TWO_PERSON_APPLY_OPEN) && opens))
		return 0;
	h = xcalloc(1, sizeof(*h));
	h->kind = HOLD_COMMAND;
	command_opts_keep(&h->o, o);
	h->n = n;
	h->specs = xcalloc((size_t)n, sizeof(*specs));
	h->hashes = xcalloc((size_t)n, sizeof(*h->hashes));
	for (int i = 0; i < n; i++) {
		h->specs[i] = specs[i];
		if (specs[i].hash) {
			snprintf(h->hashes[i], sizeof(h->hashes[i]), "%s", specs[i].hash);
			h->specs[i].hash = h->hashes[i];
		}
	}
	if (o->action == ACTION_RELEASE)
		snprintf(h->what, sizeof(h->what), "release of all %d hosts", n);
	else
		snprintf(h->what, sizeof(h->what),
			 "apply of a plan for %d host%s that opens traffic", n, n == 1 ? "" : "s");
	hold_add(c, cl, h);
	return 1;
}

int access_hold_pb_approve(struct ctl *c, struct client *cl, const char *stage)
{
	struct access_hold *h;

	if (!(c->conf.access.two_person & TWO_PERSON_PLAYBOOK_APPROVE))
		return 0;
	h = xcalloc(1, sizeof(*h));
	h->kind = HOLD_PB_APPROVE;
	snprintf(h->stage, sizeof(h->stage), "%s", stage ? stage : "");
	snprintf(h->what, sizeof(h->what), "playbook approval of %s%s",
		 stage ? "stage " : "the stage that waits", stage ? stage : "");
	hold_add(c, cl, h);
	return 1;
}

void access_approve(struct ctl *c, struct client *cl, uint64_t id)
{
	struct access_hold **pp, *h;
	char actor[200], both[420], msg[400];

	holds_expire(c);
	ctl_actor(client_uid(cl), client_pid(cl), actor, sizeof(actor));
	for (pp = &c->holds; *pp && (*pp)->id != id; pp = &(*pp)->next)
		;
	if (!(h = *pp)) {
		snprintf(msg, sizeof(msg),
			 "no request %" PRIu64 " waits for approval (it ran out of time, or was "
			 "approved already); ask for it again",
			 id);
		client_end(cl, 1, msg);
		return;
	}
	if (h->uid == client_uid(cl)) {
		audit_log(c->store, clock_wall_ms(), actor, "approve", NULL, h->o.reason, "refused",
			  "request %" PRIu64 " (%s): the one who asked cannot approve it", h->id,
			  h->what);
		snprintf(msg, sizeof(msg),
			 "request %" PRIu64 " was made by you: a second operator (another user) "
			 "must approve it",
			 id);
		client_end(cl, CTL_RESULT_DENIED, msg);
		return;
	}
	*pp = h->next;
	snprintf(both, sizeof(both), "%s, approved by %s", h->actor, actor);
	audit_log(c->store, clock_wall_ms(), actor, "approve", NULL, h->o.reason, "approved",
		  "request %" PRIu64 " (%s) asked by %s", h->id, h->what, h->actor);
	if (h->kind == HOLD_COMMAND) {
		h->o.actor = both;
		h->o.approved = 1;
		command_start(c, cl, &h->o, h->specs, h->n);
	} else {
		playbook_approve_as(c, cl, h->stage[0] ? h->stage : NULL, both);
	}
	hold_free(h);
}

void access_free_all(struct ctl *c)
{
	while (c->holds) {
		struct access_hold *h = c->holds;

		c->holds = h->next;
		hold_free(h);
	}
}
