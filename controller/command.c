/* Commands in flight: fan a change out to every targeted agent at once,
 * collect the acks (and, for changes that open traffic, the commit after
 * the confirmation), report progress, and record each host's result. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "audit.h"
#include "controller.h"
#include "events.h"
#include "metrics.h"

#define PROGRESS_INTERVAL_US 50000

struct target {
	struct host *host;
	enum bulkhead_mode mode;
	int new_policy;	 /* the command changes the host's policy */
	int persisted;	 /* the agent recorded the change on disk; -1 no answer */
	uint32_t seq;	 /* of the frame sent to the host; its ack echoes it */
	struct host *sw; /* the switch asked to isolate its port, when the agent is silent */
	uint32_t sw_seq;
	enum host_status status; /* HOST_NONE while pending */
	uint64_t apply_us;
	uint64_t latency_us;
	char *err;
};

struct command {
	struct command *next;
	struct ctl *ctl;
	struct client *client; /* NULL once the CLI went away */
	struct command_opts o;
	int64_t id;
	uint64_t epoch;
	struct target *targets;
	int ntargets;
	int *first; /* by place in ctl->hosts: 1 + the host's first target, 0 none */
	int ndone;
	int nconfirmed;
	uint64_t start_us;
	uint64_t last_progress_us;
	struct target *slowest;
	struct event *timeout_ev;
	struct event *record_ev; /* the results, written after the answer */
	int finished;		 /* answered; only its record is left to write */
	uint64_t elapsed_us;
	char actor[400]; /* who gave the command, for the audit log */
	int fallback;	 /* the switch-port fallback is under way */
};

#define FALLBACK_WAIT_MS 3000

/* A command's journal fields: EPOCH, COMMAND_ID and, for one host, HOST. */
struct command_fields {
	char epoch[24], id[24];
	struct log_field f[3];
};

static const struct log_field *command_fields(const struct command *cmd, const struct host *h,
					      struct command_fields *cf)
{
	snprintf(cf->epoch, sizeof(cf->epoch), "%" PRIu64, cmd->epoch);
	snprintf(cf->id, sizeof(cf->id), "%" PRId64, cmd->id);
	cf->f[0] = (struct log_field){"EPOCH", cf->epoch};
	cf->f[1] = (struct log_field){"COMMAND_ID", cf->id};
	cf->f[2] = (struct log_field){"HOST", h ? h->name : NULL};
	return cf->f;
}

static void command_free(struct command *cmd)
{
	struct command **pp;

	for (pp = &cmd->ctl->commands; *pp; pp = &(*pp)->next)
		if (*pp == cmd) {
			*pp = cmd->next;
			break;
		}
	for (int i = 0; i < cmd->ntargets; i++)
		free(cmd->targets[i].err);
	free(cmd->targets);
	free(cmd->first);
	free((char *)cmd->o.reason);
	if (cmd->timeout_ev)
		event_free(cmd->timeout_ev);
	if (cmd->record_ev)
		event_free(cmd->record_ev);
	free(cmd);
}

static void command_progress_send(struct command *cmd)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_ctl_progress m = {(uint32_t)cmd->nconfirmed, (uint32_t)cmd->ntargets, NULL, 0};

	if (!cmd->client)
		return;
	if (cmd->slowest) {
		m.slowest = cmd->slowest->host->name;
		m.slowest_us = cmd->slowest->latency_us;
	}
	client_send(cmd->client, buf, msg_ctl_progress_encode(buf, 0, &m));
	cmd->last_progress_us = clock_mono_us();
}

/* The command's record: each host's result in the store and in the audit
 * log, and a summary row that the timeline shows. One transaction, written
 * after the operator has the answer. */
static void command_record(struct command *cmd, uint64_t elapsed_us)
{
	struct ctl *c = cmd->ctl;
	struct store_result *res = xcalloc((size_t)cmd->ntargets, sizeof(*res));
	struct audit_row *rows = xcalloc((size_t)cmd->ntargets + 1, sizeof(*rows));
	char(*details)[512] = xcalloc((size_t)cmd->ntargets + 1, sizeof(*details));
	struct store_command_end e = {cmd->id, cmd->nconfirmed,	 res, cmd->ntargets,
				      rows,    cmd->ntargets + 1};
	const char *action = action_name(cmd->o.action);
	uint64_t now = clock_wall_ms();
	int counts[HOST_STATUS_MAX + 1] = {0};

	for (int i = 0; i < cmd->ntargets; i++) {
		struct target *t = &cmd->targets[i];

		metrics_host_result(c->metrics, cmd->o.action, t->status);
		counts[t->status]++;
		res[i] = (struct store_result){t->host->name, t->status, t->apply_us, t->latency_us,
					       t->err};
		snprintf(details[i], sizeof(details[i]),
			 "command %" PRId64 ", epoch %" PRIu64 ", mode %s%s%s", cmd->id, cmd->epoch,
			 mode_name(t->host->mode), t->err ? ": " : "", t->err ? t->err : "");
		rows[i] = (struct audit_row){.time_ms = now,
					     .actor = cmd->actor,
					     .action = action,
					     .host = t->host->name,
					     .reason = cmd->o.reason,
					     .result = host_status_name(t->status),
					     .detail = details[i]};
	}
	snprintf(details[cmd->ntargets], sizeof(details[0]),
		 "command %" PRId64 ", epoch %" PRIu64 ": %d of %d hosts confirmed in %.1f ms",
		 cmd->id, cmd->epoch, cmd->nconfirmed, cmd->ntargets, (double)elapsed_us / 1000.0);
	rows[cmd->ntargets] = (struct audit_row){.time_ms = now,
						 .actor = cmd->actor,
						 .action = action,
						 .reason = cmd->o.reason,
						 .result = "done",
						 .detail = details[cmd->ntargets]};
	if (store_command_end(c->store, &e) < 0)
		log_err("%s (command %" PRId64 "): the result was not recorded", action, cmd->id);
	events_command(c->events, cmd->o.action, cmd->epoch, cmd->id, counts, cmd->ntargets,
		       elapsed_us);
	free(details);
	free(rows);
	free(res);
}

/* How long the record waits for an answer that the CLI reads slowly. */
#define RECORD_WAIT_US 2000000

static void command_record_cb(evutil_socket_t fd, short what, void *arg)
{
	struct command *cmd = arg;

	(void)fd;
	(void)what;
	/* A thousand host rows take more than one write: the record waits
	 * until the last has left, or RECORD_WAIT_US. */
	if (cmd->client && client_pending(cmd->client) &&
	    clock_mono_us() - cmd->start_us < cmd->elapsed_us + RECORD_WAIT_US) {
		struct timeval soon = {0, 1000};

		evtimer_add(cmd->record_ev, &soon);
		return;
	}
	command_record(cmd, cmd->elapsed_us);
	command_free(cmd);
}

static void command_finish(struct command *cmd)
{
	static char buf[WIRE_MAX_FRAME];
	struct timeval now = {0, 0};
	struct command_fields cf;
	uint64_t elapsed_us = clock_mono_us() - cmd->start_us;

	for (int i = 0; i < cmd->ntargets && cmd->client; i++) {
		struct target *t = &cmd->targets[i];
		struct msg_ctl_host m = {
		    .name = t->host->name,
		    .status = t->status,
		    .mode = t->host->mode,
		    .epoch = t->host->epoch,
		    .hash = t->host->hash,
		    .connected = host_seen(t->host),
		    .controller = host_controller(cmd->ctl, t->host),
		    .apply_us = t->apply_us,
		    .latency_us = t->latency_us,
		    .last_seen_ms = t->host->last_seen_ms,
		    .persisted = t->persisted,
		    .error = t->err,
		};

		client_send(cmd->client, buf, msg_ctl_host_encode(buf, 0, &m));
	}
	log_fields(LOG_LVL_INFO, command_fields(cmd, NULL, &cf), 3,
		   "%s (command %" PRId64 ", epoch %" PRIu64 "): %d/%d confirmed in %.1f ms",
		   action_name(cmd->o.action), cmd->id, cmd->epoch, cmd->nconfirmed, cmd->ntargets,
		   (double)elapsed_us / 1000.0);
	metrics_command_done(cmd->ctl->metrics, cmd->o.action, cmd->nconfirmed == cmd->ntargets,
			     elapsed_us);
	if (cmd->client) {
		struct msg_ctl_end m = {
		    .result = cmd->nconfirmed == cmd->ntargets ? 0 : 1,
		    .epoch = cmd->epoch,
		    .command = (uint64_t)cmd->id,
		    .confirmed = (uint32_t)cmd->nconfirmed,
		    .total = (uint32_t)cmd->ntargets,
		    .elapsed_us = elapsed_us,
		    .confirm_ms = cmd->o.manual ? cmd->o.confirm_ms : 0,
		};

		client_send(cmd->client, buf, msg_ctl_end_encode(buf, 0, &m));
		client_finish(cmd->client);
	}
	/* The answer leaves before the record is written; the deadline has
	 * nothing left to end. */
	if (cmd->timeout_ev)
		evtimer_del(cmd->timeout_ev);
	cmd->finished = 1;
	cmd->elapsed_us = elapsed_us;
	/* Due at once: the queued answer leaves when the loop next polls, and
	 * a pass runs its sockets' callbacks before its timers. */
	cmd->record_ev = evtimer_new(cmd->ctl->base, command_record_cb, cmd);
	if (!cmd->record_ev)
		fatal("out of memory");
	evtimer_add(cmd->record_ev, &now);
}

/* ok: the target counts as done as commanded. */
static void target_done(struct command *cmd, struct target *t, enum host_status status, int ok,
			const char *err)
{
	t->status = status;
	if (err)
		t->err = xstrdup(err);
	cmd->ndone++;
	if (ok)
		cmd->nconfirmed++;
}

/* The host's port on its switch, from the inventory; NULL when unknown. */
static const struct inv_hostport *command_port_of(struct ctl *c, const struct host *h)
{
	for (int i = 0; i < c->inv->nports; i++)
		if (strcmp(c->inv->ports[i].host, h->name) == 0)
			return &c->inv->ports[i];
	return NULL;
}

/* An isolation whose host agent is silent (not connected, or no answer by
 * the deadline): the host is cut off at its switch port, through the
 * switch's agent, when the inventory knows the port. 1 when asked. */
static int command_fallback_one(struct command *cmd, struct target *t)
{
	struct ctl *c = cmd->ctl;
	const struct inv_hostport *hp;
	struct command_fields cf;
	const char *port;
	struct host *sw;

	if (cmd->o.action != ACTION_ISOLATE || cmd->o.no_fallback || t->sw ||
	    !(hp = command_port_of(c, t->host)) || !(sw = ctl_host_find(c, hp->sw)) || !sw->peer)
		return 0;
	port = hp->port;
	if (peer_send_ports(sw->peer, cmd->epoch, PORT_ISOLATED, &port, 1, 0) < 0)
		return 0;
	t->sw = sw;
	t->sw_seq = peer_last_seq(sw->peer);
	snprintf(t->host->port_sw, sizeof(t->host->port_sw), "%s", sw->name);
	snprintf(t->host->port_name, sizeof(t->host->port_name), "%s", hp->port);
	store_hosts_want(c->store, &t->host, 1);
	metrics_fallback(c->metrics);
	log_fields(LOG_LVL_WARN, command_fields(cmd, t->host, &cf), 3,
		   "%s: agent %s; isolating it at %s port %s", t->host->name,
		   t->host->peer ? "silent at the deadline" : "not connected", sw->name, hp->port);
	return 1;
}

/* At the deadline: every host still silent goes to its switch. */
static int command_fallback(struct command *cmd)
{
	int sent = 0;

	for (int i = 0; i < cmd->ntargets; i++)
		if (!cmd->targets[i].status)
			sent += command_fallback_one(cmd, &cmd->targets[i]);
	return sent;
}

static void command_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct command *cmd = arg;

	if (!cmd->fallback && cmd->o.action == ACTION_ISOLATE && !cmd->o.no_fallback &&
	    command_fallback(cmd) > 0) {
		struct timeval tv = clock_tv_ms(FALLBACK_WAIT_MS);

		cmd->fallback = 1;
		evtimer_add(cmd->timeout_ev, &tv);
		return;
	}
	for (int i = 0; i < cmd->ntargets; i++) {
		struct target *t = &cmd->targets[i];

		if (!t->status)
			target_done(cmd, t, host_seen(t->host) ? HOST_TIMEOUT : HOST_NOT_CONNECTED,
				    0, NULL);
	}
	command_finish(cmd);
}

/* Sends a target its part of the command: the confirmation, or the mode
 * (and policy) change. */
static int command_target_send(struct command *cmd, struct target *t)
{
	struct host *h = t->host;

	int rc;

	if (!h->peer)
		return -1;
	if (cmd->o.action == ACTION_CONFIRM)
		rc = peer_send_confirm(h->peer, h->want_epoch);
	else
		/* An isolation keeps whatever policy the host holds: its frame stays tiny. */
		rc = peer_send_mode(h->peer, cmd->epoch, t->mode,
				    t->new_policy || t->mode != MODE_ISOLATED ? h->want_hash : NULL,
				    cmd->o.confirm_ms);
	t->seq = peer_last_seq(h->peer);
	return rc;
}

/* A host the switch isolated for it comes back through its port too: the
 * switch opens it commit-confirmed, and bulkheadd confirms when it acks. */
static void command_port_reopen(struct command *cmd, struct host *h)
{
	struct host *sw = ctl_host_find(cmd->ctl, h->port_sw);
	const char *port = h->port_name;

	if (!sw || !sw->peer) {
		log_warn(
		    "%s: its port %s on %s stays isolated: the switch's agent is not connected",
		    h->name, h->port_name, h->port_sw);
		return;
	}
	if (peer_send_ports(sw->peer, cmd->epoch, PORT_OPEN, &port, 1, cmd->o.confirm_ms) == 0) {
		h->port_open_epoch = cmd->epoch;
		log_info("%s: reopening %s port %s", h->name, sw->name, port);
	}
}

/* "h01 h02 h03" or "all 51 hosts of the inventory" or "h01 h02 ... (40 more)". */
static void command_names(const struct command *cmd, char *buf, size_t len)
{
	size_t used = 0;
	int i;

	if (cmd->ntargets == cmd->ctl->nhosts && cmd->ntargets > 1) {
		snprintf(buf, len, "all %d hosts of the inventory", cmd->ntargets);
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < cmd->ntargets && used + 80 < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
					 cmd->targets[i].host->name);
	if (i < cmd->ntargets)
		snprintf(buf + used, len - used, " ... (%d more)", cmd->ntargets - i);
}

void command_opts_keep(struct command_opts *dst, const struct command_opts *o)
{
	*dst = *o;
	dst->reason = o->reason ? xstrdup(o->reason) : NULL;
	dst->actor = NULL;
	dst->epoch_out = NULL;
}

/* What is wanted of each target, and the command's row. */
static int command_store(struct command *cmd, struct host *const *hosts, int n)
{
	const struct command_opts *o = &cmd->o;
	int rc = store_hosts_want(cmd->ctl->store, hosts, n);

	store_command_begin(
	    cmd->ctl->store,
	    &(struct store_command){o->uid, o->pid, o->action, o->reason, cmd->epoch, n}, &cmd->id);
	return rc;
}

/* A host on another controller sharing the store gets a change from that
 * controller (ha.c), and the store says when it took it; a confirmation is
 * given there. 1 when the target is left to it, or done. */
static int command_elsewhere(struct command *cmd, struct target *t)
{
	char why[128];

	if (!t->host->on[0])
		return 0;
	if (cmd->o.action != ACTION_CONFIRM)
		return 1;
	snprintf(why, sizeof(why), "connected to controller %s: confirm it there", t->host->on);
	target_done(cmd, t, HOST_NOT_CONNECTED, 0, why);
	return 1;
}

/* Every frame is queued before any is waited on: the fan-out is one pass. */
static void command_fan_out(struct command *cmd)
{
	int confirm = cmd->o.action == ACTION_CONFIRM;

	for (int i = 0; i < cmd->ntargets; i++) {
		struct target *t = &cmd->targets[i];

		if (command_target_send(cmd, t) < 0 && !command_elsewhere(cmd, t) &&
		    !command_fallback_one(cmd, t))
			target_done(cmd, t, HOST_NOT_CONNECTED, 0, NULL);
		if (t->mode != MODE_ISOLATED && !confirm && t->host->port_sw[0])
			command_port_reopen(cmd, t->host);
	}
}

static void command_started_row(struct command *cmd)
{
	char names[600];

	command_names(cmd, names, sizeof(names));
	audit_log(cmd->ctl->store, clock_wall_ms(), cmd->actor, action_name(cmd->o.action), NULL,
		  cmd->o.reason, "started", "command %" PRId64 ", epoch %" PRIu64 ", %d host%s: %s",
		  cmd->id, cmd->epoch, cmd->ntargets, cmd->ntargets == 1 ? "" : "s", names);
}

int command_start(struct ctl *c, struct client *cl, const struct command_opts *o,
		  const struct target_spec *spec, int n)
{
	struct command_fields cf;
	int confirm = o->action == ACTION_CONFIRM;
	int isolate = o->action == ACTION_ISOLATE;
	struct command *cmd;
	struct host **hosts;
	struct timeval tv;

	if (access_hold_command(c, cl, o, spec, n))
		return 0;
	cmd = xcalloc(1, sizeof(*cmd));
	cmd->ctl = c;
	cmd->client = cl;
	command_opts_keep(&cmd->o, o);
	cmd->ntargets = n;
	cmd->targets = xcalloc((size_t)n, sizeof(*cmd->targets));
	cmd->first = xcalloc((size_t)c->nhosts, sizeof(*cmd->first));
	cmd->start_us = clock_mono_us();
	cmd->epoch = confirm ? 0 : store_epoch_next(c->store);
	if (o->epoch_out)
		*o->epoch_out = cmd->epoch;
	hosts = xcalloc((size_t)n, sizeof(*hosts));
	for (int i = 0; i < n; i++) {
		struct host *h = spec[i].host;

		cmd->targets[i].host = h;
		if (!cmd->first[h - c->hosts])
			cmd->first[h - c->hosts] = i + 1;
		cmd->targets[i].persisted = -1;
		cmd->targets[i].mode = spec[i].mode;
		cmd->targets[i].new_policy = spec[i].hash != NULL;
		hosts[i] = h;
		if (confirm) {
			h->hold_confirm = 0;
			continue;
		}
		h->want_mode = spec[i].mode;
		h->want_epoch = cmd->epoch;
		if (spec[i].hash)
			snprintf(h->want_hash, sizeof(h->want_hash), "%s", spec[i].hash);
		h->hold_confirm = o->manual && spec[i].mode != MODE_ISOLATED;
		h->want_hard = o->hard && spec[i].mode == MODE_ISOLATED;
	}
	if (o->actor)
		snprintf(cmd->actor, sizeof(cmd->actor), "%s", o->actor);
	else
		ctl_actor(o->uid, o->pid, cmd->actor, sizeof(cmd->actor));
	/* What is wanted of each host is stored before any frame goes out: a
	 * crash after the frames and before the store would leave hosts in a
	 * mode the record does not know. An isolation goes out even if the
	 * store fails; anything else waits for it. */
	if (command_store(cmd, hosts, n) < 0 && !isolate) {
		free(hosts);
		client_end(cl, 1, "the controller could not store the command; nothing was sent");
		command_free(cmd);
		return -1;
	}
	cmd->next = c->commands;
	c->commands = cmd;
	command_fan_out(cmd);
	log_fields(LOG_LVL_INFO, command_fields(cmd, n == 1 ? cmd->targets[0].host : NULL, &cf), 3,
		   "%s by %s, reason \"%s\": epoch %" PRIu64 ", %d hosts", action_name(o->action),
		   cmd->actor, o->reason ? o->reason : "", cmd->epoch, n);
	free(hosts);
	/* The audit row need not delay the frames. */
	command_started_row(cmd);
	command_progress_send(cmd);
	if (cmd->ndone == cmd->ntargets) {
		command_finish(cmd);
		return 0;
	}
	cmd->timeout_ev = evtimer_new(c->base, command_timeout_cb, cmd);
	if (!cmd->timeout_ev)
		fatal("out of memory");
	tv = clock_tv_ms(o->timeout_ms);
	evtimer_add(cmd->timeout_ev, &tv);
	return 0;
}

/* An ack's target, in constant time: ten thousand acks must not each scan
 * ten thousand targets. */
static struct target *command_target_pending(struct command *cmd, struct host *h)
{
	int i = cmd->first[h - cmd->ctl->hosts] - 1;

	if (i < 0)
		return NULL;
	for (; i < cmd->ntargets; i++)
		if (cmd->targets[i].host == h && !cmd->targets[i].status)
			return &cmd->targets[i];
	return NULL;
}

/* What an ack means for a command's target: done (and how), or not yet. */
static int target_ack(struct command *cmd, struct target *t, uint32_t seq, const struct msg_ack *k)
{
	/* A refusal carries the host's own (older) epoch: the sequence number
	 * says which frame it answers. */
	int ours =
	    (t->seq && seq == t->seq) || k->epoch >= cmd->epoch || cmd->o.action == ACTION_CONFIRM;
	const char *err = k->error ? k->error : k->result ? strerror((int)k->result) : NULL;

	if (k->status == ACK_ROLLED_BACK && ours) {
		target_done(cmd, t, HOST_ROLLED_BACK, 0, err);
	} else if (k->result && ours) {
		target_done(cmd, t, HOST_FAILED, 0, err);
	} else if (k->epoch > cmd->epoch && cmd->epoch && k->mode != t->mode) {
		target_done(cmd, t, HOST_SUPERSEDED, 0, "a newer command changed the host's mode");
	} else if (!ours || k->mode != t->mode) {
		return 0; /* an ack for an older command */
	} else if (k->status == ACK_PENDING_CONFIRM) {
		/* Waiting for the commit, unless confirmation is left to the operator. */
		if (!cmd->o.manual)
			return 0;
		target_done(cmd, t, HOST_PENDING_CONFIRM, 1, NULL);
	} else {
		target_done(cmd, t, HOST_CONFIRMED, 1, NULL);
	}
	return 1;
}

/* A switch answered a port request of ours: the silent hosts behind those
 * ports are isolated at the switch, or the switch refused. */
void command_port_acked(struct ctl *c, struct host *sw, uint32_t seq, uint32_t result,
			const char *err)
{
	struct command *cmd, *next;

	for (cmd = c->commands; cmd; cmd = next) {
		next = cmd->next;
		if (cmd->finished)
			continue;
		for (int i = 0; i < cmd->ntargets; i++) {
			struct target *t = &cmd->targets[i];
			char why[256];

			if (t->status || t->sw != sw || t->sw_seq != seq)
				continue;
			if (result) {
				snprintf(why, sizeof(why), "%s refused to isolate port %s: %s",
					 sw->name, t->host->port_name,
					 err ? err : strerror((int)result));
				t->host->port_sw[0] = t->host->port_name[0] = '\0';
				target_done(cmd, t, HOST_TIMEOUT, 0, why);
			} else {
				snprintf(why, sizeof(why),
					 "isolated at %s port %s (host agent silent)", sw->name,
					 t->host->port_name);
				target_done(cmd, t, HOST_ISOLATED_AT_SWITCH, 0, why);
			}
			store_hosts_want(c->store, &t->host, 1);
		}
		if (cmd->ndone == cmd->ntargets)
			command_finish(cmd);
	}
}

void command_host_acked(struct ctl *c, struct host *h, uint32_t seq, const struct msg_ack *k)
{
	struct command *cmd, *next;

	for (cmd = c->commands; cmd; cmd = next) {
		struct target *t = command_target_pending(cmd, h);

		next = cmd->next;
		if (!t || cmd->finished)
			continue;
		if (k->apply_us)
			t->apply_us = k->apply_us;
		t->persisted = k->persisted;
		t->latency_us = clock_mono_us() - cmd->start_us;
		if (!target_ack(cmd, t, seq, k))
			continue;
		metrics_ack_latency(c->metrics, t->latency_us);
		if (!cmd->slowest || t->latency_us > cmd->slowest->latency_us)
			cmd->slowest = t;
		if (cmd->ndone == cmd->ntargets)
			command_finish(cmd);
		else if (clock_mono_us() - cmd->last_progress_us >= PROGRESS_INTERVAL_US)
			command_progress_send(cmd);
	}
}

/* What a host on another controller reports, through the store, for the
 * commands that wait for it here. */
static int target_reported(struct command *cmd, struct target *t)
{
	const struct host *h = t->host;

	if (h->epoch > cmd->epoch && h->mode != t->mode) {
		target_done(cmd, t, HOST_SUPERSEDED, 0, "a newer command changed the host's mode");
	} else if (h->epoch < cmd->epoch || h->mode != t->mode) {
		return 0;
	} else if (h->pending_confirm) {
		if (!cmd->o.manual)
			return 0;
		target_done(cmd, t, HOST_PENDING_CONFIRM, 1, NULL);
	} else {
		target_done(cmd, t, HOST_CONFIRMED, 1, NULL);
	}
	return 1;
}

void command_host_reported(struct ctl *c, struct host *h)
{
	struct command *cmd, *next;

	for (cmd = c->commands; cmd; cmd = next) {
		struct target *t = command_target_pending(cmd, h);

		next = cmd->next;
		if (!t || cmd->finished || t->sw)
			continue;
		t->latency_us = clock_mono_us() - cmd->start_us;
		if (!target_reported(cmd, t))
			continue;
		if (!cmd->slowest || t->latency_us > cmd->slowest->latency_us)
			cmd->slowest = t;
		if (cmd->ndone == cmd->ntargets)
			command_finish(cmd);
		else if (clock_mono_us() - cmd->last_progress_us >= PROGRESS_INTERVAL_US)
			command_progress_send(cmd);
	}
}

void command_client_gone(struct ctl *c, struct client *cl)
{
	for (struct command *cmd = c->commands; cmd; cmd = cmd->next)
		if (cmd->client == cl)
			cmd->client = NULL;
}

void command_free_all(struct ctl *c)
{
	while (c->commands) {
		struct command *cmd = c->commands;

		if (cmd->finished)
			command_record(cmd, cmd->elapsed_us);
		command_free(cmd);
	}
}
