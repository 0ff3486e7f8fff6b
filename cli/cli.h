/* Subcommands of the bulkhead CLI, and its global options. */
#ifndef BULKHEAD_CLI_H
#define BULKHEAD_CLI_H

struct cli_global {
	const char *socket; /* -s SOCKET, else $BULKHEAD_SOCKET, else the default */
	int json;	    /* --json */
};
extern struct cli_global cli;

/* cli_pki.c */
int cmd_pki_main(int argc, char **argv);

/* cli_audit.c */
int cmd_audit_main(int argc, char **argv);
int cmd_timeline_main(int argc, char **argv);

/* cli_playbook.c, cli_playbook_ctl.c */
int cmd_playbook_main(int argc, char **argv);
int playbook_ctl_main(int argc, char **argv);

/* cli_hosts.c */
int cmd_hosts_main(int argc, char **argv);

/* cli_policy.c */
int cmd_check_main(int argc, char **argv);
int cmd_render_main(int argc, char **argv);
int cmd_explain_main(int argc, char **argv);

/* cli_plan.c */
int cmd_plan_main(int argc, char **argv);
int cmd_apply_main(int argc, char **argv);
int cmd_confirm_main(int argc, char **argv);

/* cli_ctl.c */
struct cmd_result;
struct wire_frame;
int ctl_exchange(const void *req, size_t reqlen, struct cmd_result *r, int timeout_ms,
		 int (*fn)(const struct wire_frame *f, void *arg), void *arg);
int cli_seconds_parse(const char *cmd, const char *opt, const char *arg, double *out);
int cmd_isolate_main(int argc, char **argv);
int cmd_release_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);

#endif
