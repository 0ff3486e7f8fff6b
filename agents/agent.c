/* bulkhead-agent: applies the mode the controller commands to this host's
 * nftables table, records it durably, and re-applies it at start before any
 * network contact. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <inttypes.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "agent.h"



static const char *agent_policy_hash(const struct host_policy *hp)
{
	return hp ? hp->hash : "";
}

/* Frees a policy no longer referenced by the agent's state. */
static void agent_policy_drop(struct agent *a, struct host_policy *hp)
{
	if (hp && hp != a->policy && hp != a->prev_policy && hp != a->staged)
		host_policy_free(hp);
}

static void agent_record_fill(const struct agent *a, struct agent_record *r)
{
	memset(r, 0, sizeof(*r));
	r->mode = a->mode;
	r->epoch = a->epoch;
	snprintf(r->policy, sizeof(r->policy), "%s", agent_policy_hash(a->policy));
	r->pending = a->pending;
	r->prev_mode = a->prev_mode;
	r->prev_epoch = a->prev_epoch;
	snprintf(r->prev_policy, sizeof(r->prev_policy), "%s", agent_policy_hash(a->prev_policy));
	r->hard = a->hard;
	r->prev_hard = a->pending && a->prev_hard;
	r->nholds = a->nholds;
	memcpy(r->holds, a->holds, sizeof(a->holds[0]) * (size_t)a->nholds);
	r->nports = a->nports;
	memcpy(r->ports, a->ports, sizeof(a->ports[0]) * (size_t)a->nports);
}

/* The profile's hooks for the links as they are now. */
static void agent_hooks_get(struct agent *a, struct nft_hooks *h)
{
	struct profile_ctx c;

	memset(h, 0, sizeof(*h));
	if (!a->link || profile_ctx_init(&c, &a->profile, a->link, &a->env) < 0)
		return;
	a->profile.ops->hooks(&c, h);
	profile_ctx_done(&c);
}

int agent_table_install(struct agent *a)
{
	struct nft_hooks h;

	agent_hooks_get(a, &h);
	nft_hooks_set(a->nft, &h);
	return nft_table_install(a->nft, &a->mgmt, a->mode, a->policy);
}

/* Puts the kernel into mode with policy hp: a tiny transaction when only the
 * mode changes, the whole table (one transaction) when the policy does. */
static int agent_apply(struct agent *a, int mode, struct host_policy *hp, uint64_t *apply_us)
{
	struct nft_hooks h;
	uint64_t t0;
	int rc;

	if (hp == a->policy) {
		rc = nft_mode_apply(a->nft, mode, apply_us);
		if (rc != -ENOENT)
			return rc;
		/* Our table was deleted behind our back: rebuild it whole. */
		log_warn("table inet %s is missing; re-installing it", NFT_TABLE_NAME);
	}
	agent_hooks_get(a, &h);
	nft_hooks_set(a->nft, &h);
	t0 = clock_mono_us();
	rc = nft_table_install(a->nft, &a->mgmt, mode, hp);
	*apply_us = clock_mono_us() - t0;
	return rc;
}

/* Records the agent's state; on failure it is kept in memory only. */
int agent_record(struct agent *a)
{
	struct agent_record r;

	agent_record_fill(a, &r);
	a->persisted = state_record(a->conf.state_dir, &r) == 0;
	return a->persisted ? 0 : -1;
}

static void agent_rollback_cb(evutil_socket_t fd, short what, void *arg);

/* A command from the controller. Older epochs are ignored; a repeat of the
 * current one is acknowledged without touching the kernel. Any change that
 * is not an isolation opens traffic, so with confirm_ms it is
 * commit-confirmed: it rolls back by itself unless confirmed in time. */
void agent_mode_set(struct agent *a, uint64_t epoch, int mode, const char *hash,
		    uint32_t confirm_ms, uint32_t seq, int hard)
{
	struct host_policy *hp = a->policy, *old_policy = a->policy;
	/* Bringing held links back up opens traffic too. */
	int old_mode = a->mode, opening = mode != MODE_ISOLATED || (a->hard && !hard);
	int old_hard = a->hard, old_prev_hard = a->prev_hard, old_nholds = a->nholds;
	uint64_t apply_us = 0, old_epoch = a->epoch;
	char kept[256] = "";
	int rc;

	if (mode < MODE_OPEN || mode > MODE_MAX) {
		session_send_ack(a, seq, "refused", EINVAL, 0, "unknown mode");
		return;
	}
	if (hard && mode != MODE_ISOLATED) {
		session_send_ack(a, seq, "refused", EINVAL, 0, "--hard applies to isolation only");
		return;
	}
	if (epoch < a->epoch) {
		log_warn("ignoring epoch %" PRIu64 " (%s): this host holds epoch %" PRIu64, epoch,
			 mode_name(mode), a->epoch);
		session_send_ack(a, seq, "refused", ESTALE, 0, "stale epoch ignored");
		return;
	}
	/* A change rolled back is not taken again under the same epoch (a replay,
	 * say): opening traffic again needs a new command. Isolation still wins. */
	if (a->rolled_back_epoch && epoch == a->rolled_back_epoch && mode != MODE_ISOLATED) {
		session_send_ack(a, seq, "refused", ESTALE, 0,
				 "this epoch was rolled back; a new command is needed");
		return;
	}
	if (hash && *hash && strcmp(hash, agent_policy_hash(a->policy)) != 0) {
		if (!a->staged || strcmp(hash, a->staged->hash) != 0) {
			session_send_ack(a, seq, "refused", ENOENT, 0,
					 "policy named by the command was not received");
			return;
		}
		hp = a->staged;
		if (state_policy_save(a->conf.state_dir, hp) < 0 && opening) {
			session_send_ack(a, seq, "refused", EIO, 0,
					 "cannot store the policy; refusing to open traffic");
			return;
		}
	}
	if (mode == MODE_SEGMENTED && !hp) {
		session_send_ack(a, seq, "refused", ENOENT, 0, "no policy to enforce");
		return;
	}
	if (epoch == a->epoch && mode == a->mode && hp == a->policy && !hard == !a->hard) {
		session_send_ack(a, seq, a->pending ? "pending-confirm" : "applied", 0, 0, NULL);
		return;
	}
	/* While an earlier change awaits confirmation, the state to return to
	 * stays the last confirmed one. Isolation ends the wait: isolation wins,
	 * and the unconfirmed change is dropped. */
	if (!a->pending) {
		a->prev_mode = a->mode;
		a->prev_epoch = a->epoch;
		a->prev_policy = a->policy;
		a->prev_hard = a->hard;
	} else if (!opening) {
		hp = hash && *hash ? hp : a->prev_policy;
	}
	a->pending = opening && confirm_ms > 0;
	a->mode = mode;
	a->epoch = epoch;
	a->policy = hp;
	a->hard = hard != 0;
	if (hp == a->staged)
		a->staged = NULL;
	/* Recorded before they go down: after a crash the record names them. */
	if (a->hard)
		hard_plan(a, kept, sizeof(kept));
	if (agent_record(a) < 0 && opening) {
		/* Opening traffic that a reboot would not remember is refused;
		 * isolating without a record is still better than not isolating. */
		a->mode = old_mode;
		a->epoch = old_epoch;
		a->policy = old_policy;
		a->pending = 0;
		a->hard = old_hard;
		a->prev_hard = old_prev_hard;
		agent_policy_drop(a, hp);
		session_send_ack(a, seq, "refused", EIO, 0,
				 "state directory not writable; refusing to open traffic");
		return;
	}
	/* agent_apply compares with the policy in force, which is still the old one. */
	a->policy = old_policy;
	rc = agent_apply(a, mode, hp, &apply_us);
	a->policy = hp;
	if (rc < 0) {
		log_err("epoch %" PRIu64 ": applying %s failed: %s", epoch, mode_name(mode),
			strerror(-rc));
		a->mode = old_mode;
		a->epoch = old_epoch;
		a->policy = old_policy;
		a->pending = 0;
		a->hard = old_hard;
		a->prev_hard = old_prev_hard;
		a->nholds = old_nholds;
		agent_policy_drop(a, hp);
		/* The record must describe the kernel, not the command that failed. */
		agent_record(a);
		session_send_ack(a, seq, "refused", (uint32_t)-rc, apply_us, strerror(-rc));
		return;
	}
	if (a->hard) {
		/* The ack's apply time covers the links too. */
		uint64_t t0 = clock_mono_us();

		hard_apply(a);
		apply_us += clock_mono_us() - t0;
		if (kept[0])
			agent_alert(a, "hard",
				    "isolated --hard left up what it would have taken "
				    "down: %s",
				    kept);
	} else if (old_hard) {
		hard_release(a);
	}
	/* Released and nothing to return to: the holds are done with. */
	if (!a->hard && !a->pending && a->nholds) {
		a->nholds = 0;
		agent_record(a);
	}
	if (old_policy != a->policy && !a->pending) {
		agent_policy_drop(a, old_policy);
		if (a->prev_policy == old_policy)
			a->prev_policy = NULL;
	}
	evtimer_del(a->rollback_ev);
	if (a->pending) {
		struct timeval tv = {confirm_ms / 1000, (confirm_ms % 1000) * 1000};

		a->confirm_ms = confirm_ms;
		evtimer_add(a->rollback_ev, &tv);
	}
	log_info("epoch %" PRIu64 ": %s%s%s%.12s applied in %" PRIu64 " us%s", epoch,
		 mode_name(mode), a->hard ? " --hard" : "", hp ? ", policy " : "",
		 agent_policy_hash(hp), apply_us, a->pending ? ", awaiting confirmation" : "");
	a->sync_due = a->persisted;
	a->digest_due = 1;
	session_send_ack(a, seq, a->pending ? "pending-confirm" : "applied", 0, apply_us,
			 kept[0] ? kept : NULL);
}

/* The controller saw the change through: it stays. */
void agent_confirm(struct agent *a, uint64_t epoch, uint32_t seq)
{
	/* Switch ports opened at this epoch are committed by the same word. */
	int ports = port_confirm(a, epoch);

	if (epoch != a->epoch) {
		if (ports > 0)
			session_send_ack(a, seq, "committed", 0, 0, NULL);
		else
			session_send_ack(a, seq, "refused", ESTALE, 0,
					 "confirmation for another epoch");
		return;
	}
	if (!a->pending && a->rolled_back_epoch && epoch == a->rolled_back_epoch) {
		session_send_ack(a, seq, "refused", ESTALE, 0, "this epoch was rolled back");
		return;
	}
	if (a->pending) {
		struct host_policy *prev = a->prev_policy;

		evtimer_del(a->rollback_ev);
		a->pending = 0;
		a->prev_policy = NULL;
		a->prev_hard = 0;
		if (!a->hard)
			a->nholds = 0;
		agent_policy_drop(a, prev);
		agent_record(a);
		a->sync_due = a->persisted;
		state_policy_gc(a->conf.state_dir, agent_policy_hash(a->policy), "");
		log_info("epoch %" PRIu64 ": confirmed", epoch);
	}
	session_send_ack(a, seq, "committed", 0, 0, NULL);
}

/* Returns to the last confirmed state. The epoch stays: the unconfirmed
 * command must not be accepted again. */
static void agent_rollback(struct agent *a, const char *why)
{
	struct host_policy *unconfirmed = a->policy;
	uint64_t apply_us = 0;
	int to_mode = a->prev_mode, rc;

	rc = agent_apply(a, to_mode, a->prev_policy, &apply_us);
	if (rc < 0) {
		/* Cannot return: isolate, the one state that is always safe. */
		log_err("rollback failed (%s); isolating", strerror(-rc));
		to_mode = MODE_ISOLATED;
		rc = agent_apply(a, to_mode, a->prev_policy, &apply_us);
	}
	/* Back to hard isolation: exactly the links it held go down again. */
	a->hard = to_mode == MODE_ISOLATED && a->prev_hard;
	a->prev_hard = 0;
	if (a->hard)
		hard_apply(a);
	else
		a->nholds = 0;
	a->mode = to_mode;
	a->policy = a->prev_policy;
	a->prev_policy = NULL;
	a->pending = 0;
	a->rolled_back_epoch = a->epoch;
	agent_policy_drop(a, unconfirmed);
	agent_record(a);
	a->sync_due = a->persisted;
	a->digest_due = 1;
	agent_alert(a, "rollback", "epoch %" PRIu64 " rolled back to %s%s%s%.12s: %s", a->epoch,
		    mode_name(a->mode), a->hard ? " --hard" : "", a->policy ? ", policy " : "",
		    agent_policy_hash(a->policy), why);
	session_send_ack(a, 0, "rolled-back", rc < 0 ? (uint32_t)-rc : 0, apply_us, why);
}

static void agent_rollback_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	char why[96];

	snprintf(why, sizeof(why), "not confirmed within %u ms", a->confirm_ms);
	agent_rollback(a, why);
}

static void agent_deadman_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	uint32_t s = a->policy ? a->policy->deadman_s : 0;

	if (a->admitted || a->mode == MODE_ISOLATED)
		return;
	log_warn("controller out of reach for %u s: isolating (on_controller_loss)", s);
	/* Same epoch: the controller's next command still supersedes it. */
	agent_mode_set(a, a->epoch, MODE_ISOLATED, NULL, 0, 0, 0);
	agent_alert(
	    a, "deadman",
	    "controller out of reach for %u s; isolated by on_controller_loss (epoch %" PRIu64 ")",
	    s, a->epoch);
}

void agent_deadman_arm(struct agent *a)
{
	uint32_t s = a->policy ? a->policy->deadman_s : 0;
	struct timeval tv = {(time_t)s, 0};

	if (!s || a->mode == MODE_ISOLATED || evtimer_pending(a->deadman_ev, NULL))
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
		log_err("policy from controller refused: %s", err);
		session_send_ack(a, f->nlh->nlmsg_seq, "refused", EBADMSG, 0, err);
		return;
	}
	if (rc == 1) {
		struct host_policy *old = a->staged;

		a->staged = NULL;
		agent_policy_drop(a, old);
		a->staged = policy_wire_rx_take(a->rx);
		log_info("policy %.12s received: %zu elements in, %zu out", a->staged->hash,
			 a->staged->nin, a->staged->nout);
	}
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
		guard_baseline(a);
}

static void agent_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct agent *a = arg;

	log_info("signal %d: exiting; the table stays in force", (int)sig);
	event_base_loopexit(a->base, NULL);
}

/* Loads the record. An unreadable record, or a policy file that is missing
 * or does not match its hash, could hide an isolation: fail closed. A change
 * that was never confirmed is rolled back, as its timer would have done. */
static void agent_state_restore(struct agent *a)
{
	struct agent_record r;
	int rc = state_load(a->conf.state_dir, &r), rolled_back = 0;

	a->mode = MODE_OPEN;
	if (rc > 0)
		return;
	if (rc == 0 && r.pending) {
		rolled_back = 1;
		log_warn("epoch %" PRIu64 ": the change to %s was never confirmed; rolling back "
			 "to %s",
			 r.epoch, mode_name(r.mode), mode_name(r.prev_mode));
		agent_alert(a, "rollback",
			    "epoch %" PRIu64 " was not confirmed before the agent restarted; "
			    "rolled back to %s",
			    r.epoch, mode_name(r.prev_mode));
		r.mode = r.prev_mode;
		memcpy(r.policy, r.prev_policy, sizeof(r.policy));
		r.pending = 0;
		r.hard = r.mode == MODE_ISOLATED && r.prev_hard;
		r.prev_hard = 0;
		if (!r.hard)
			r.nholds = 0;
	}
	if (rc == 0) {
		/* Holds and ports survive even a record whose policy is lost. */
		a->hard = r.hard && r.mode == MODE_ISOLATED;
		a->nholds = a->hard ? r.nholds : 0;
		memcpy(a->holds, r.holds, sizeof(r.holds[0]) * (size_t)a->nholds);
		a->nports = r.nports;
		memcpy(a->ports, r.ports, sizeof(r.ports[0]) * (size_t)r.nports);
		for (int i = 0; i < a->nports; i++) {
			if (!a->ports[i].pending)
				continue;
			/* Opened and never confirmed: back to isolated, as its timer
			 * would have done. */
			log_warn("port %s: opened at epoch %" PRIu64 " and never confirmed; "
				 "isolating it again",
				 a->ports[i].name, a->ports[i].epoch);
			a->ports[i].pending = 0;
			a->ports[i].isolated = 1;
			rolled_back = 1;
		}
	}
	if (rc == 0 && r.policy[0] && !(a->policy = state_policy_load(a->conf.state_dir, r.policy)))
		rc = -1;
	if (rc < 0) {
		log_err("state record unusable; isolating until the controller says otherwise");
		a->mode = MODE_ISOLATED;
		a->epoch = rc == 0 ? r.epoch : 0;
		if (a->hard || a->nports)
			agent_record(a);
		return;
	}
	a->mode = r.mode;
	a->epoch = r.epoch;
	a->persisted = 1;
	if (rolled_back)
		agent_record(a);
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
	if (profile_load(&a->profile, a->conf.profile_dir ? a->conf.profile_dir : CONF_PROFILE_DIR,
			 a->conf.profile_dir != NULL, a->conf.profile, conf_error_stderr, NULL) < 0)
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
	if (a->hard)
		hard_apply(a);
	port_reapply(a);
	log_info("%s: mode %s%s, epoch %" PRIu64 " re-applied at start; table %s", a->name,
		 mode_name(a->mode), a->hard ? " --hard" : "", a->epoch,
		 nft_table_owned(a->nft) ? "owned by the agent and persistent"
					 : "not owned (tampering is detected and undone)");
	if (guard_start(a) < 0)
		return -1;

	a->ssl_ctx = tls_ctx_new(0, a->conf.ca, a->conf.cert, a->conf.key);
	return a->ssl_ctx ? 0 : -1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: bulkhead-agent [-v] [-n] [--no-table-owner] -f CONFIG\n"
		     "  -f CONFIG         agent configuration (YAML), see bulkhead-agent(8)\n"
		     "  -n                check the configuration and exit\n"
		     "  --no-table-owner  do not make the table owned by the agent; other\n"
		     "                    processes can then change it, and the agent\n"
		     "                    detects and undoes their changes\n"
		     "  -v                verbose logging\n"
		     "  -h                this help\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"config", required_argument, NULL, 'f'},
						 {"no-table-owner", no_argument, NULL, 'O'},
						 {0}};
	struct agent a = {.own_table = 1};
	struct event *sigs[3] = {0};
	const char *conf_path = NULL;
	int verbose = 0, check = 0, c, rc = 1;

	while ((c = getopt_long(argc, argv, "f:nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': conf_path = optarg; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		case 'O': a.own_table = 0; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (!conf_path || optind != argc) {
		usage(stderr);
		return 64;
	}
	log_init("bulkhead-agent", verbose);
	if (check) {
		rc = agent_conf_load(conf_path, &a.conf, conf_error_stderr, NULL) < 0;
		if (!rc)
			rc =
			    profile_load(&a.profile,
					 a.conf.profile_dir ? a.conf.profile_dir : CONF_PROFILE_DIR,
					 a.conf.profile_dir != NULL, a.conf.profile,
					 conf_error_stderr, NULL) < 0;
		if (!rc)
			printf("%s: configuration OK (profile %s, kind %s, %s)\n", conf_path,
			       a.profile.name, a.profile.ops->name, a.profile.source);
		profile_clear(&a.profile);
		agent_conf_clear(&a.conf);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	/* There is no reload: a stray SIGHUP must not end the daemon. */
	signal(SIGHUP, SIG_IGN);
	a.base = event_base_new();
	if (!a.base)
		fatal("event_base_new failed");
	if (agent_setup(&a, conf_path) < 0)
		goto out;
	sigs[0] = evsignal_new(a.base, SIGTERM, agent_signal_cb, &a);
	sigs[1] = evsignal_new(a.base, SIGINT, agent_signal_cb, &a);
	for (int i = 0; i < 2; i++)
		evsignal_add(sigs[i], NULL);
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
	if (a.prev_policy != a.policy)
		host_policy_free(a.prev_policy);
	if (a.staged != a.policy)
		host_policy_free(a.staged);
	host_policy_free(a.policy);
	for (int i = 0; i < 2; i++)
		if (sigs[i])
			event_free(sigs[i]);
	agent_nft_free(a.nft);
	if (a.ssl_ctx)
		SSL_CTX_free(a.ssl_ctx);
	agent_conf_clear(&a.conf);
	event_base_free(a.base);
	return rc;
}
