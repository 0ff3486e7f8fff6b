/* Commands in flight: fan a mode change out to every targeted agent at once,
 * collect the acks, report progress, and record each host's result. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "controller.h"

#define PROGRESS_INTERVAL_US 50000

struct target {
	struct host *host;
	const char *status; /* NULL while pending */
	uint64_t apply_us;
	uint64_t latency_us;
	char *err;
};

struct command {
	struct command *next;
	struct ctl *ctl;
	struct client *client; /* NULL once the CLI went away */
	int64_t id;
	int mode;
	uint64_t epoch;
	struct target *targets;
	int ntargets;
	int ndone;
	int nconfirmed;
	uint64_t start_us;
	uint64_t last_progress_us;
	struct target *slowest;
	struct event *timeout_ev;
};

static const char *command_action(int mode)
{
	return mode == MODE_ISOLATED ? "isolate" : "release";
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
	if (cmd->timeout_ev)
		event_free(cmd->timeout_ev);
	free(cmd);
}

static void command_progress_send(struct command *cmd)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	if (!cmd->client)
		return;
	wire_build_start(&b, buf, WIRE_CTL_PROGRESS, 0);
	wire_put_u32(&b, WA_CONFIRMED, (uint32_t)cmd->nconfirmed);
	wire_put_u32(&b, WA_TOTAL, (uint32_t)cmd->ntargets);
	if (cmd->slowest) {
		wire_put_str(&b, WA_HOST, cmd->slowest->host->name);
		wire_put_u64(&b, WA_LATENCY_US, cmd->slowest->latency_us);
	}
	client_send(cmd->client, buf, wire_build_end(&b));
	cmd->last_progress_us = ctl_mono_us();
}

static void command_finish(struct command *cmd)
{
	static char buf[WIRE_MAX_FRAME];
	struct ctl *c = cmd->ctl;
	uint64_t elapsed_us = ctl_mono_us() - cmd->start_us;
	struct wire_builder b;

	sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < cmd->ntargets; i++) {
		struct target *t = &cmd->targets[i];

		store_command_result(c, cmd->id, t->host->name, t->status, t->apply_us,
				     t->latency_us, t->err);
		if (!cmd->client)
			continue;
		wire_build_start(&b, buf, WIRE_CTL_HOST, 0);
		wire_put_str(&b, WA_NAME, t->host->name);
		wire_put_str(&b, WA_STATUS, t->status);
		wire_put_u8(&b, WA_MODE, (uint8_t)t->host->mode);
		wire_put_u64(&b, WA_EPOCH, t->host->epoch);
		wire_put_u8(&b, WA_CONNECTED, t->host->conn != NULL);
		wire_put_u64(&b, WA_APPLY_US, t->apply_us);
		wire_put_u64(&b, WA_LATENCY_US, t->latency_us);
		wire_put_u64(&b, WA_LAST_SEEN, t->host->last_seen_ms);
		if (t->err)
			wire_put_str(&b, WA_ERROR, t->err);
		client_send(cmd->client, buf, wire_build_end(&b));
	}
	store_command_end(c, cmd->id, cmd->nconfirmed);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);

	log_info("%s (command %" PRId64 ", epoch %" PRIu64 "): %d/%d confirmed in %.1f ms",
		 command_action(cmd->mode), cmd->id, cmd->epoch, cmd->nconfirmed, cmd->ntargets,
		 (double)elapsed_us / 1000.0);
	if (cmd->client) {
		wire_build_start(&b, buf, WIRE_CTL_END, 0);
		wire_put_u32(&b, WA_RESULT, cmd->nconfirmed == cmd->ntargets ? 0 : 1);
		wire_put_u64(&b, WA_EPOCH, cmd->epoch);
		wire_put_u64(&b, WA_COMMAND, (uint64_t)cmd->id);
		wire_put_u32(&b, WA_CONFIRMED, (uint32_t)cmd->nconfirmed);
		wire_put_u32(&b, WA_TOTAL, (uint32_t)cmd->ntargets);
		wire_put_u64(&b, WA_LATENCY_US, elapsed_us);
		client_send(cmd->client, buf, wire_build_end(&b));
		client_finish(cmd->client);
	}
	command_free(cmd);
}

static void target_done(struct command *cmd, struct target *t, const char *status,
			const char *err)
{
	t->status = status;
	if (err)
		t->err = xstrdup(err);
	cmd->ndone++;
	if (strcmp(status, "confirmed") == 0)
		cmd->nconfirmed++;
}

static void command_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct command *cmd = arg;

	for (int i = 0; i < cmd->ntargets; i++) {
		struct target *t = &cmd->targets[i];

		if (!t->status)
			target_done(cmd, t, t->host->conn ? "timeout" : "not-connected", NULL);
	}
	command_finish(cmd);
}

static int command_targets_resolve(struct ctl *c, struct command *cmd, int all, char **names,
				   int nnames, char *err, size_t errlen)
{
	cmd->ntargets = all ? c->nhosts : nnames;
	cmd->targets = xcalloc((size_t)cmd->ntargets, sizeof(*cmd->targets));
	for (int i = 0; i < cmd->ntargets; i++) {
		struct host *h = all ? &c->hosts[i] : ctl_host_find(c, names[i]);

		if (!h) {
			snprintf(err, errlen, "unknown host \"%s\" (not in the inventory)", names[i]);
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (cmd->targets[j].host == h) {
				snprintf(err, errlen, "host \"%s\" named twice", names[i]);
				return -1;
			}
		cmd->targets[i].host = h;
	}
	return 0;
}

int command_start(struct ctl *c, struct client *cl, int mode, int all, char **names, int nnames,
		  const char *reason, uint32_t timeout_ms, uid_t uid, pid_t pid)
{
	struct command *cmd = xcalloc(1, sizeof(*cmd));
	struct host **hosts;
	struct timeval tv;
	char err[256];

	cmd->ctl = c;
	cmd->client = cl;
	cmd->mode = mode;
	if (command_targets_resolve(c, cmd, all, names, nnames, err, sizeof(err)) < 0) {
		client_end(cl, 1, err);
		command_free(cmd);
		return -1;
	}
	cmd->start_us = ctl_mono_us();
	hosts = xcalloc((size_t)cmd->ntargets, sizeof(*hosts));
	for (int i = 0; i < cmd->ntargets; i++)
		hosts[i] = cmd->targets[i].host;
	cmd->epoch = store_epoch_next(c);
	store_hosts_want(c, hosts, cmd->ntargets, mode, cmd->epoch);
	free(hosts);
	cmd->id = store_command_begin(c, uid, pid, command_action(mode), reason, cmd->epoch,
				      cmd->ntargets);
	cmd->next = c->commands;
	c->commands = cmd;

	/* Every frame is queued before any is waited on: the fan-out is one pass. */
	for (int i = 0; i < cmd->ntargets; i++) {
		struct target *t = &cmd->targets[i];

		if (t->host->conn && agent_conn_send_mode(t->host->conn, cmd->epoch, mode) == 0)
			continue;
		target_done(cmd, t, "not-connected", NULL);
	}
	log_info("%s by uid %d (pid %d), reason \"%s\": epoch %" PRIu64 ", %d hosts",
		 command_action(mode), (int)uid, (int)pid, reason ? reason : "", cmd->epoch,
		 cmd->ntargets);
	command_progress_send(cmd);
	if (cmd->ndone == cmd->ntargets) {
		command_finish(cmd);
		return 0;
	}
	cmd->timeout_ev = evtimer_new(c->base, command_timeout_cb, cmd);
	if (!cmd->timeout_ev)
		fatal("out of memory");
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(cmd->timeout_ev, &tv);
	return 0;
}

static struct target *command_target_pending(struct command *cmd, struct host *h)
{
	for (int i = 0; i < cmd->ntargets; i++)
		if (cmd->targets[i].host == h && !cmd->targets[i].status)
			return &cmd->targets[i];
	return NULL;
}

void command_host_acked(struct ctl *c, struct host *h, uint64_t epoch, int mode, uint32_t result,
			uint64_t apply_us, const char *err)
{
	struct command *cmd, *next;

	for (cmd = c->commands; cmd; cmd = next) {
		struct target *t = command_target_pending(cmd, h);

		next = cmd->next;
		if (!t)
			continue;
		t->apply_us = apply_us;
		t->latency_us = ctl_mono_us() - cmd->start_us;
		if (result)
			target_done(cmd, t, "failed", err);
		else if (epoch >= cmd->epoch && mode == cmd->mode)
			target_done(cmd, t, "confirmed", NULL);
		else if (epoch > cmd->epoch)
			target_done(cmd, t, "superseded", "a newer command changed the host's mode");
		else
			continue; /* an ack for an older command */
		if (!cmd->slowest || t->latency_us > cmd->slowest->latency_us)
			cmd->slowest = t;
		if (cmd->ndone == cmd->ntargets)
			command_finish(cmd);
		else if (ctl_mono_us() - cmd->last_progress_us >= PROGRESS_INTERVAL_US)
			command_progress_send(cmd);
	}
}

/* A host whose session drops stays pending: if it comes back before the
 * deadline, it gets the command on hello and can still confirm. */
void command_host_gone(struct ctl *c, struct host *h)
{
}

void command_client_gone(struct ctl *c, struct client *cl)
{
	for (struct command *cmd = c->commands; cmd; cmd = cmd->next)
		if (cmd->client == cl)
			cmd->client = NULL;
}

void command_free_all(struct ctl *c)
{
	while (c->commands)
		command_free(c->commands);
}
