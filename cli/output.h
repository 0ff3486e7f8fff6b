/* The printers of the bulkhead CLI: what the controller answered, each
 * with a text form for people and a JSON form for scripts over the same
 * data. */
#ifndef BULKHEAD_CLI_OUTPUT_H
#define BULKHEAD_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* One line of the incident timeline: when, what, how many hosts, by whom,
 * why. */
struct tl_entry {
	uint64_t time_ms;
	char what[512], hosts[32];
	const char *by, *why;
};

enum tl_format { TL_TEXT, TL_MARKDOWN, TL_CSV, TL_JSON };

/* `playbook status`: the run (in the END), its stages and their checks. */
struct pb_view {
	struct reply r;
	struct msg_list stages; /* WIRE_PB_STAGE */
	struct msg_list checks; /* WIRE_PB_CHECK */
};

/* output.c */
/* On a terminal, a line on stderr that the next one overwrites. */
void output_progress(const char *what, const struct msg_ctl_progress *p);
void output_progress_clear(void);
/* isolate, release, apply, confirm: the totals, the slowest host, and
 * every host that did not confirm. */
void output_command(enum action action, const char *reason, const struct reply *r, bool json);
/* Every host's mode, epoch, session and hashes. */
void output_status(const struct reply *r, bool json);
/* The END's message, after prefix when the request failed. */
void output_verdict(const char *prefix, const struct msg_ctl_end *end);
/* What came of approving held request id: the command it ran, or why not. */
void output_approve(uint64_t id, const struct reply *r, bool json);
/* WIRE_CTL_AUDIT_ROW messages, a line or an object each. */
void output_audit(const struct msg_list *rows, bool json);
void output_timeline(const struct tl_entry *e, size_t n, enum tl_format fmt);
/* s as a JSON string, quotes included: for the offline commands' --json
 * (hosts, check, plan), which print their own documents. */
void output_json_str(const char *s);
void output_playbook(const struct pb_view *v, bool json);

#endif
