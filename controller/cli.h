/* Subcommands of the bulkhead CLI, and its global options. */
#ifndef BULKHEAD_CLI_H
#define BULKHEAD_CLI_H

struct cli_global {
	const char *socket; /* -s SOCKET, else $BULKHEAD_SOCKET, else the default */
	int json;           /* --json */
};
extern struct cli_global cli;

/* cli_pki.c */
int cmd_pki_main(int argc, char **argv);

/* cli_ctl.c */
int cmd_isolate_main(int argc, char **argv);
int cmd_release_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);

#endif
