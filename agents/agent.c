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

#include "bulkhead/log.h"
#include "bulkhead/tls.h"
#include "bulkhead/wire.h"
#include "agent.h"

uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int agent_apply(struct agent *a, int mode, uint64_t *apply_us)
{
	int rc = nft_mode_apply(a->nft, mode, apply_us);

	if (rc == -ENOENT) {
		/* Our table was deleted behind our back: rebuild it whole. */
		log_warn("table inet %s is missing; re-installing it", NFT_TABLE_NAME);
		rc = nft_table_install(a->nft, &a->mgmt, mode);
	}
	return rc;
}

/* A command from the controller. Older epochs are ignored; a repeat of the
 * current one is acknowledged without touching the kernel. */
void agent_mode_set(struct agent *a, uint64_t epoch, int mode, uint32_t seq)
{
	uint64_t apply_us = 0;
	int rc;

	if (mode != MODE_OPEN && mode != MODE_ISOLATED) {
		log_warn("epoch %" PRIu64 ": mode %s is not supported by this agent", epoch,
			 mode_name(mode));
		session_send_ack(a, seq, EOPNOTSUPP, 0, "mode not supported by this agent");
		return;
	}
	if (epoch < a->epoch) {
		log_warn("ignoring epoch %" PRIu64 " (%s): this host holds epoch %" PRIu64, epoch,
			 mode_name(mode), a->epoch);
		session_send_ack(a, seq, ESTALE, 0, "stale epoch ignored");
		return;
	}
	if (epoch == a->epoch && mode == a->mode) {
		session_send_ack(a, seq, 0, 0, NULL);
		return;
	}
	if (state_record(a->conf.state_dir, mode, epoch) < 0) {
		/* Isolating without a record is still better than not isolating;
		 * opening traffic that a reboot would not remember is refused. */
		if (mode != MODE_ISOLATED) {
			session_send_ack(a, seq, EIO, 0,
					 "state directory not writable; refusing to open traffic");
			return;
		}
		a->persisted = 0;
	} else {
		a->persisted = 1;
	}
	rc = agent_apply(a, mode, &apply_us);
	if (rc < 0) {
		log_err("epoch %" PRIu64 ": applying %s failed: %s", epoch, mode_name(mode),
			strerror(-rc));
		/* The record must describe the kernel, not the command that failed. */
		if (a->persisted && state_record(a->conf.state_dir, a->mode, a->epoch) < 0)
			a->persisted = 0;
		session_send_ack(a, seq, (uint32_t)-rc, apply_us, strerror(-rc));
		return;
	}
	a->mode = mode;
	a->epoch = epoch;
	nft_ruleset_hash(&a->mgmt, mode, a->hash);
	log_info("epoch %" PRIu64 ": %s applied in %" PRIu64 " us", epoch, mode_name(mode),
		 apply_us);
	a->sync_due = a->persisted;
	a->digest_due = 1;
	session_send_ack(a, seq, 0, apply_us, NULL);
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
	if (strcmp(a->conf.profile, "linux-server") != 0) {
		log_err("%s: hardware profile \"%s\" is not supported by this agent (supported: "
			"linux-server)",
			conf_path, a->conf.profile);
		return -1;
	}
	if (mkdir(a->conf.state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("%s: %s", a->conf.state_dir, strerror(errno));
		return -1;
	}
	a->mgmt.controllers = a->conf.controllers;
	a->mgmt.ncontrollers = a->conf.ncontrollers;
	a->mgmt.port = a->conf.port;

	rc = state_load(a->conf.state_dir, &a->mode, &a->epoch);
	if (rc < 0) {
		/* An unreadable record could hide an isolation: fail closed. */
		log_err("state record unreadable; isolating until the controller says otherwise");
		a->mode = MODE_ISOLATED;
		a->epoch = 0;
	} else if (rc > 0) {
		a->mode = MODE_OPEN;
		a->epoch = 0;
	}
	a->persisted = rc == 0;

	a->nft = agent_nft_new(a->own_table);
	if (!a->nft)
		return -1;
	/* Before any network contact: the host is in its recorded mode. */
	rc = nft_table_install(a->nft, &a->mgmt, a->mode);
	if (rc < 0) {
		log_err("installing table inet %s failed: %s", NFT_TABLE_NAME, strerror(-rc));
		return -1;
	}
	nft_ruleset_hash(&a->mgmt, a->mode, a->hash);
	log_info("%s: mode %s, epoch %" PRIu64 " re-applied at start; table %s", a->name,
		 mode_name(a->mode), a->epoch,
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
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
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
			printf("%s: configuration OK\n", conf_path);
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
