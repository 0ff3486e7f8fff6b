/* What the bulkhead CLI receives from the controller, and its two printers
 * (text and JSON) over the same data. */
#ifndef BULKHEAD_CLI_OUTPUT_H
#define BULKHEAD_CLI_OUTPUT_H

#include <stdint.h>

struct host_row {
	char name[64];
	char status[32]; /* command result, or a pending state in status */
	int mode;
	uint64_t epoch;
	int connected;
	uint64_t apply_us, latency_us, last_seen_ms;
	uint32_t tampers;
	int hard;	 /* isolated --hard */
	int persisted;	 /* command results: recorded on disk by the host; -1 no answer */
	char hash[65];	 /* policy */
	char digest[65]; /* what the kernel holds */
	char error[256];
};

struct cmd_result {
	const char *action; /* "isolate", "release", "status" */
	const char *reason;
	uint64_t epoch, command_id;
	uint32_t confirmed, total;
	uint64_t elapsed_us;
	uint32_t result;
	uint64_t run; /* playbook status: the run, its name and state */
	char name[64];
	char state[24];
	char error[256];
	struct host_row *hosts;
	int nhosts;
};

/* output.c */
void output_progress(const char *action, uint32_t confirmed, uint32_t total, const char *slowest,
		     uint64_t slowest_us);
void output_progress_clear(void);
void output_command(const struct cmd_result *r, int json);
void output_status(const struct cmd_result *r, int json);
/* A JSON string literal, escaped, on stdout. */
void output_json_str(const char *s);

#endif
