/* What bulkheadd and bulkhead-agent do the same way: their command line
 * (-f CONFIG, -n, -v, -h and their own flags) and their signals. */
#ifndef BULKHEAD_DAEMON_H
#define BULKHEAD_DAEMON_H

#include <stdbool.h>

struct event_base;
struct event;

struct daemon_args {
	const char *conf_path;
	bool check;	/* -n: check the configuration and exit */
	bool verbose;	/* -v */
	unsigned flags; /* bit i: the long flag flags[i] was given */
};

/* Parses argv. flags: the daemon's own long options without arguments
 * (NULL-terminated, at most 8). Returns 0 to go on, or 1 when the program
 * ends with *status (0 after -h, 64 on bad usage, usage printed). */
int daemon_args_parse(int argc, char **argv, const char *usage, const char *const *flags,
		      struct daemon_args *a, int *status);

/* SIGPIPE and SIGHUP ignored, SIGTERM and SIGINT end the event loop (the
 * log says why, and note after it); sigs gets the two events, for
 * daemon_signals_free. */
void daemon_signals_init(struct event_base *base, const char *note, struct event *sigs[2]);
void daemon_signals_free(struct event *sigs[2]);
/* SIGHUP calls fn(arg) from the event loop: the daemon reloads what it
 * can without a restart. One per process; event_free the result. */
struct event *daemon_reload_signal(struct event_base *base, void (*fn)(void *), void *arg);

/* The event loop of a daemon: one thread, no locks, and changes to what
 * it waits for collected and made once per pass (one epoll_ctl per socket
 * and pass, not one per queued write). Never NULL: it dies instead. */
struct event_base *daemon_base_new(void);

#endif
