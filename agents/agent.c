/* bulkhead-agent: sets up the host's table in its recorded mode before any
 * network contact, then serves the controller's session; the mode machine
 * (mode.c) decides, backend.c carries it out. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <inttypes.h>

#include "bulkhead/clock.h"
#include "bulkhead/daemon.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "agent.h"
#include "sandbox.h"

void agent_mode_done(struct agent *a, const struct mode_result *res)
{
	if (res->changed || res->recorded)
		a->sync_due = a->m.persisted;
	if (res->changed)
		a->digest_due = 1;
}

/* Records the agent's state; on failure it is kept in memory only. */
int agent_record(struct agent *a)
{
	static struct agent_record r;

	mode_record_fill(&a->m, &r.m);
	r.nports = a->nports;
	memcpy(r.ports, a->ports, sizeof(a->ports[0]) * (size_t)a->nports);
	a->m.persisted = state_record(a->conf.state_dir, &r) == 0;
	return a->m.persisted ? 0 : -1;
}

static uint32_t agent_deadman_s(const struct agent *a)
{
	return a->m.cur.policy ? a->m.cur.policy->deadman_s : 0;
}

static void agent_deadman_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	struct mode_result res;

	if (a->admitted || !mode_deadman(&a->m, agent_deadman_s(a), &res))
		return;
	agent_mode_done(a, &res);
	session_send_ack(a, 0, &res);
}

void agent_deadman_arm(struct agent *a)
{
	uint32_t s = agent_deadman_s(a);
	struct timeval tv = {(time_t)s, 0};

	if (!s || a->m.cur.mode == MODE_ISOLATED || evtimer_pending(a->deadman_ev, NULL))
		return;
	log_info("on_controller_loss: isolating in %u s unless the controller is reached", s);
	evtimer_add(a->deadman_ev, &tv);
}

void agent_deadman_disarm(struct agent *a)
{
	evtimer_del(a->deadman_ev);
}

void agent_policy_part(struct agent *a, const struct wire_frame *f)
{
	const char *err;
	int rc = policy_wire_rx_add(a->rx, f, &err);

	if (rc < 0) {
		struct mode_result res = {.status = ACK_REFUSED, .error = EBADMSG};

		log_err("policy from controller refused: %s", err);
		snprintf(res.message, sizeof(res.message), "%s", err);
		session_send_ack(a, f->nlh->nlmsg_seq, &res);
		return;
	}
	if (rc == 1)
		mode_stage(&a->m, policy_wire_rx_take(a->rx));
}

/* Work that must not delay an ack: runs once it has left (or at once when
 * there is no session to carry it). */
void agent_after_ack(struct agent *a)
{
	if (a->sync_due) {
		a->sync_due = 0;
		state_sync(a->conf.state_dir);
	}
	if (a->digest_due)
		guard_baseline_later(a);
}

/* Loads the record: the mode machine's part, then the switch ports. */
static void agent_state_restore(struct agent *a)
{
	static struct agent_record r;
	int loaded = state_load(a->conf.state_dir, &r), rc, ports = 0;

	rc = mode_restore(&a->m, &r.m, loaded);
	if (loaded == 0)
		ports = port_restore(a, &r);
	/* An unusable record is rewritten only if it holds something down. */
	if (rc < 0 ? a->m.cur.hard || a->nports : rc > 0 || ports > 0)
		agent_record(a);
}

/* The profile agent.yaml names, from its profile_dir or the default one. */
static int agent_profile_load(struct agent *a)
{
	return profile_load(&a->profile,
			    a->conf.profile_dir ? a->conf.profile_dir : CONF_PROFILE_DIR,
			    a->conf.profile_dir != NULL, a->conf.profile, conf_error_stderr, NULL);
}

static int agent_setup(struct agent *a, const char *conf_path)
{
	int rc;

	if (agent_conf_load(conf_path, &a->conf, conf_error_stderr, NULL) < 0)
		return -1;
	if (a->conf.name)
		snprintf(a->name, sizeof(a->name), "%s", a->conf.name);
	else if (tls_cert_file_name(a->conf.cert, a->name, sizeof(a->name)) < 0) {
		log_err("%s: cannot read the host name from the certificate", a->conf.cert);
		return -1;
	}
	if (agent_profile_load(a) < 0)
		return -1;
	log_info("hardware profile %s (kind %s, %s)", a->profile.name, a->profile.ops->name,
		 a->profile.source);
	if (mkdir(a->conf.state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("%s: %s", a->conf.state_dir, strerror(errno));
		return -1;
	}
	a->mgmt.controllers = a->conf.controllers;
	a->mgmt.ncontrollers = a->conf.ncontrollers;
	a->mgmt.port = a->conf.port;
	a->env.mgmt_if = a->conf.mgmt_if;
	a->env.controllers = a->conf.controllers;
	a->env.ncontrollers = a->conf.ncontrollers;
	a->link = agent_link_new();
	if (!a->link)
		return -1;

	mode_init(&a->m, &agent_backend, a);
	a->rx = policy_wire_rx_new();
	a->rollback_ev = evtimer_new(a->base, agent_rollback_cb, a);
	a->deadman_ev = evtimer_new(a->base, agent_deadman_cb, a);
	a->port_rollback_ev = evtimer_new(a->base, port_rollback_cb, a);
	if (!a->rollback_ev || !a->deadman_ev || !a->port_rollback_ev)
		fatal("out of memory");
	agent_state_restore(a);
	a->nft = agent_nft_new(a->own_table);
	if (!a->nft)
		return -1;
	/* Before any network contact: the host is in its recorded mode. */
	rc = agent_table_install(a);
	if (rc < 0) {
		log_err("installing table inet %s failed: %s", NFT_TABLE_NAME, strerror(-rc));
		return -1;
	}
	/* ...with the links and ports the record holds down. */
	if (a->m.cur.hard)
		hard_apply(a, a->m.holds, a->m.nholds);
	port_reapply(a);
	log_info("%s: mode %s%s, epoch %" PRIu64 " re-applied at start; table %s", a->name,
		 mode_name(a->m.cur.mode), a->m.cur.hard ? " --hard" : "", a->m.cur.epoch,
		 nft_table_owned(a->nft) ? "owned by the agent and persistent"
					 : "not owned (tampering is detected and undone)");
	if (guard_start(a) < 0)
		return -1;

	a->ssl_ctx = tls_ctx_new(0, a->conf.ca, a->conf.cert, a->conf.key);
	return a->ssl_ctx ? 0 : -1;
}

/* SIGHUP: the certificate, key and CA files are read again. The session
 * in progress keeps the credentials it was made with; the next handshake
 * uses the new ones. Unusable files change nothing. */
static void agent_reload(void *arg)
{
	struct agent *a = arg;
	SSL_CTX *ctx = tls_ctx_new(0, a->conf.ca, a->conf.cert, a->conf.key);
	char serial[128] = "?";

	if (!ctx) {
		log_err("reload: the certificate files are unusable; keeping the ones in use");
		return;
	}
	tls_cert_file_serial(a->conf.cert, serial, sizeof(serial));
	/* Sessions hold their own reference to the old context. */
	SSL_CTX_free(a->ssl_ctx);
	a->ssl_ctx = ctx;
	log_info("reload: certificate %s (serial %s) for the next handshake; the session %s",
		 a->conf.cert, serial, a->established ? "in progress stays up" : "is not up");
}

static const char agent_usage[] =
    "usage: bulkhead-agent [-v] [-n] [--no-table-owner] [--no-sandbox] -f CONFIG\n"
    "  -f CONFIG         agent configuration (YAML), see bulkhead-agent(8)\n"
    "  -n                check the configuration and exit\n"
    "  --no-table-owner  do not make the table owned by the agent; other\n"
    "                    processes can then change it, and the agent\n"
    "                    detects and undoes their changes\n"
    "  --no-sandbox      keep every capability and no system call filter\n"
    "                    (for debugging; see bulkhead-agent(8))\n"
    "  -v                verbose logging\n"
    "  -h                this help\n";

int main(int argc, char **argv)
{
	static const char *const flags[] = {"no-table-owner", "no-sandbox", NULL};
	struct agent a = {.own_table = 1};
	struct event *sigs[2] = {0}, *hup = NULL;
	struct daemon_args args;
	const char *conf_path;
	int rc = 1;

	if (daemon_args_parse(argc, argv, agent_usage, flags, &args, &rc))
		return rc;
	conf_path = args.conf_path;
	a.own_table = !(args.flags & 1);
	log_init("bulkhead-agent", args.verbose);
	if (args.check) {
		rc = agent_conf_load(conf_path, &a.conf, conf_error_stderr, NULL) < 0;
		if (!rc)
			rc = agent_profile_load(&a) < 0;
		/* The user to switch to must exist, as a start would find. */
		if (!rc && a.conf.user && !getpwnam(a.conf.user)) {
			fprintf(stderr, "%s: user \"%s\": no such user\n", conf_path, a.conf.user);
			rc = 1;
		}
		if (!rc)
			printf("%s: configuration OK (profile %s, kind %s, %s)\n", conf_path,
			       a.profile.name, a.profile.ops->name, a.profile.source);
		profile_clear(&a.profile);
		agent_conf_clear(&a.conf);
		return rc;
	}
	a.base = daemon_base_new();
	daemon_signals_init(a.base, "; the table stays in force", sigs);
	if (agent_setup(&a, conf_path) < 0)
		goto out;
	hup = daemon_reload_signal(a.base, agent_reload, &a);
	/* Everything that needs more than the run time's privilege is open. */
	if (args.flags & 2)
		log_warn("--no-sandbox: running with every capability the agent was given");
	else if (agent_sandbox_enter(&a.conf) < 0)
		goto out;
	session_start(&a);
	event_base_dispatch(a.base);
	session_stop(&a);
	if (a.sync_due)
		state_sync(a.conf.state_dir);
	rc = 0;
out:
	guard_stop(&a);
	if (a.rollback_ev)
		event_free(a.rollback_ev);
	if (a.deadman_ev)
		event_free(a.deadman_ev);
	if (a.port_rollback_ev)
		event_free(a.port_rollback_ev);
	agent_link_free(a.link);
	profile_clear(&a.profile);
	policy_wire_rx_free(a.rx);
	mode_clear(&a.m);
	daemon_signals_free(sigs);
	if (hup)
		event_free(hup);
	agent_nft_free(a.nft);
	if (a.ssl_ctx)
		SSL_CTX_free(a.ssl_ctx);
	agent_conf_clear(&a.conf);
	event_base_free(a.base);
	return rc;
}
