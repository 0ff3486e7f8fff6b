/* The daemons' shared command line and signals. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <event2/event.h>

#include "bulkhead/daemon.h"
#include "bulkhead/log.h"

#define DAEMON_MAX_FLAGS 8

int daemon_args_parse(int argc, char **argv, const char *usage, const char *const *flags,
		      struct daemon_args *a, int *status)
{
	struct option longopts[DAEMON_MAX_FLAGS + 3] = {{"help", no_argument, NULL, 'h'},
							{"config", required_argument, NULL, 'f'}};
	int n = 2, c, idx;

	memset(a, 0, sizeof(*a));
	for (int i = 0; flags && flags[i] && i < DAEMON_MAX_FLAGS; i++)
		longopts[n++] = (struct option){flags[i], no_argument, NULL, 0x100 + i};
	while ((c = getopt_long(argc, argv, "f:nvh", longopts, &idx)) != -1) {
		switch (c) {
		case 'f': a->conf_path = optarg; break;
		case 'n': a->check = true; break;
		case 'v': a->verbose = true; break;
		case 'h':
			fputs(usage, stdout);
			*status = 0;
			return 1;
		default:
			if (c >= 0x100 && c < 0x100 + DAEMON_MAX_FLAGS) {
				a->flags |= 1u << (c - 0x100);
				break;
			}
			fputs(usage, stderr);
			*status = 64;
			return 1;
		}
	}
	if (!a->conf_path || optind != argc) {
		fputs(usage, stderr);
		*status = 64;
		return 1;
	}
	return 0;
}

static const char *daemon_exit_note = "";

static void daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: exiting%s", (int)sig, daemon_exit_note);
	event_base_loopexit(base, NULL);
}

void daemon_signals_init(struct event_base *base, const char *note, struct event *sigs[2])
{
	daemon_exit_note = note;
	signal(SIGPIPE, SIG_IGN);
	/* Until daemon_reload_signal, a stray SIGHUP must not end the daemon. */
	signal(SIGHUP, SIG_IGN);
	sigs[0] = evsignal_new(base, SIGTERM, daemon_signal_cb, base);
	sigs[1] = evsignal_new(base, SIGINT, daemon_signal_cb, base);
	if (!sigs[0] || !sigs[1])
		fatal("out of memory");
	evsignal_add(sigs[0], NULL);
	evsignal_add(sigs[1], NULL);
}

struct daemon_hup {
	void (*fn)(void *);
	void *arg;
};

static void daemon_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_hup *h = arg;

	log_info("signal %d: reloading", (int)sig);
	h->fn(h->arg);
}

struct event *daemon_reload_signal(struct event_base *base, void (*fn)(void *), void *arg)
{
	static struct daemon_hup h;
	struct event *ev;

	h.fn = fn;
	h.arg = arg;
	ev = evsignal_new(base, SIGHUP, daemon_hup_cb, &h);
	if (!ev || evsignal_add(ev, NULL) < 0)
		fatal("out of memory");
	return ev;
}

void daemon_signals_free(struct event *sigs[2])
{
	for (int i = 0; i < 2; i++)
		if (sigs[i])
			event_free(sigs[i]);
}

struct event_base *daemon_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		fatal("out of memory");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!base)
		fatal("event_base_new failed");
	return base;
}
