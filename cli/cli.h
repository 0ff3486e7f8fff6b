/* The bulkhead CLI: its global options, the command tables every group
 * dispatches through, and the one exchange on the control socket. */
#ifndef BULKHEAD_CLI_H
#define BULKHEAD_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sysexits.h>

#include "bulkhead/msg.h"

/* Every exit status of bulkhead, as bulkhead(8) (EXIT STATUS) lists them. */
enum cli_exit {
	CLI_EXIT_OK = EX_OK,		       /* done, on every host it concerns */
	CLI_EXIT_FAILED = 1,		       /* not everywhere, refused, or errors */
	CLI_EXIT_CHANGES = 2,		       /* plan: changes to review; explain: cannot tell */
	CLI_EXIT_HELD = 3,		       /* held until a second operator approves it */
	CLI_EXIT_USAGE = EX_USAGE,	       /* 64: an unknown option, a missing argument */
	CLI_EXIT_UNAVAILABLE = EX_UNAVAILABLE, /* 69: the controller cannot be reached */
	CLI_EXIT_DENIED = EX_NOPERM,	       /* 77: the caller's role does not allow it */
};

struct cli_global {
	const char *socket; /* -s SOCKET, else $BULKHEAD_SOCKET, else the default */
	bool json;	    /* --json */
};
extern struct cli_global cli;

/* A command's entry point, with the signature of main. */
typedef int cli_main_fn(int argc, char **argv);

/* One command of a table: what `bulkhead [GROUP] NAME` runs, and what its
 * usage says. */
struct cli_cmd {
	const char *name;
	cli_main_fn *fn;  /* argv[0] is name */
	const char *help; /* one line, for the table's list; NULL: not listed */
	const char *args; /* after the name, a line per form; NULL: none shown */
	const char *opts; /* NAME --help: the options, a line each; may be NULL */
};

/* The commands of the top level, or of one group (pki, playbook, audit). */
struct cli_table {
	const char *prog; /* "bulkhead", "bulkhead pki" */
	const struct cli_cmd *cmds;
	size_t ncmds;
	const char *args; /* a usage line of the table itself, before its commands' */
	const char *head; /* after the usage lines and a blank line, before the list */
	const char *foot; /* after the list */
	/* Runs when argv[1] is no command's name, or is missing: `bulkhead
	 * audit --since 2h`. NULL: that is a usage error. */
	cli_main_fn *fallback;
};

#define CLI_NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* The start of a cli_table's initializer. */
#define CLI_TABLE(prog_, cmds_) .prog = (prog_), .cmds = (cmds_), .ncmds = CLI_NELEM(cmds_)

/* parser.c */
const struct cli_cmd *cli_cmd_find(const struct cli_table *t, const char *name);
/* The table's usage, or only that of the command called name. */
void cli_usage(FILE *out, const struct cli_table *t, const char *name);
/* argv[0] is the group; argv[1] names the command, which gets argv + 1. */
int cli_table_main(const struct cli_table *t, int argc, char **argv);
/* getopt_long over a command's argv (the caller sets optind = 1 first).
 * --help prints usage on stdout, an unknown option usage on stderr: either
 * ends the options, CLI_OPT_USAGE with the exit status in *status. */
#define CLI_OPT_USAGE (-2)
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
	       void (*usage)(FILE *out, const char *cmd), int *status);
/* 0 if dir looks like a policy checkout; -1 once cmd has said what is
 * wrong and what to give instead. */
int cli_policy_dir_ok(const char *cmd, const char *dir);
/* An optional DIR operand after the options, "." when absent; -1 with the
 * exit status in *status when more follow it (usage printed) or when DIR
 * is no policy directory (reported). */
int cli_dir_operand(int argc, char **argv, const char **dir,
		    void (*usage)(FILE *out, const char *cmd), int *status);
int cli_seconds_parse(const char *cmd, const char *opt, const char *arg, double *out);

/* conn.c: the control socket. */

/* Kept messages of one frame type, in the order they came. */
struct msg_list {
	uint16_t type;
	struct msg_kept **v;
	size_t n;
};
#define MSG_AT(l, i, kind) (&(l)->v[i]->m.kind)
/* Keeps f in the msg_list arg when f is of its type; -1 otherwise. Fits
 * conn_exchange as the taker of other frames. */
int msg_list_keep(const struct wire_frame *f, const union msg *m, void *arg);
void msg_list_free(struct msg_list *l);

/* What the controller answered: its host rows and its END. */
struct reply {
	const char *what;      /* the command, for the progress line */
	struct msg_list hosts; /* WIRE_CTL_HOST */
	struct msg_kept *end;  /* WIRE_CTL_END */
};
static inline const struct msg_ctl_end *reply_end(const struct reply *r)
{
	return &r->end->m.ctl_end;
}
void reply_free(struct reply *r);

/* Takes a frame other than progress, host rows and END; -1 refuses it. */
typedef int (*conn_frame_fn)(const struct wire_frame *f, const union msg *m, void *arg);
/* Sends the request (one or more frames), then reads the answer into r
 * until its END; other frames go to fn. 0, CLI_EXIT_UNAVAILABLE when the
 * controller cannot be reached, CLI_EXIT_DENIED when the caller's role does
 * not allow the request, 1 when the exchange broke (each reported). */
int conn_exchange(const void *req, int len, int timeout_ms, struct reply *r, conn_frame_fn fn,
		  void *arg);
/* The exit status for an answer: done, failed (not all of it done),
 * held for a second operator, or denied. */
int reply_exit(const struct msg_ctl_end *e);
/* A command for the hosts (isolate, release, apply, confirm): the
 * exchange, its result printed; the exit status. */
int conn_command(enum action action, const char *reason, const void *req, int len, int timeout_ms);
/* A request answered by END alone: its message printed, after prefix
 * when it failed; the exit status. */
int conn_verdict(const char *prefix, const void *req, int len, int timeout_ms);

/* The commands, by group. */

/* ctl.c */
cli_main_fn cmd_isolate_main, cmd_release_main, cmd_status_main, cmd_reload_main;
/* policy.c */
cli_main_fn cmd_check_main, cmd_render_main, cmd_explain_main;
/* hosts.c */
cli_main_fn cmd_hosts_main;
/* plan.c */
cli_main_fn cmd_plan_main, cmd_apply_main, cmd_confirm_main, cmd_approve_main;

/* playbook.c: the group, and the offline commands */
extern const struct cli_table playbook_table;
cli_main_fn cmd_playbook_main;
/* DIR/playbooks/FILE -> DIR, the parent of the playbook's directory (the
 * caller frees it); NULL when out of memory. */
char *pb_policy_dir(const char *file);
/* playbook_ctl.c: the commands for the controller; pb_start_main is `run
 * FILE` */
cli_main_fn pb_start_main, pb_status_main, pb_approve_main, pb_abort_main, pb_resume_main;

/* audit.c */
cli_main_fn cmd_audit_main, cmd_timeline_main;
/* pki.c */
cli_main_fn cmd_pki_main;
/* complete.c: words for the shell's completion */
cli_main_fn cmd_complete_main;

#endif
