/* bulkhead audit / timeline: the controller's hash-chained record, row by
 * row or as an incident timeline for a report; and its verification. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "bulkhead/log.h"
#include "audit.h"
#include "store.h"
#include "cli.h"
#include "output.h"

static int audit_list_main(int argc, char **argv);
static int audit_verify_main(int argc, char **argv);

static const struct cli_cmd audit_cmds[] = {
    {"verify", audit_verify_main,
     "check the hash chain; exit 1 at the first edited, deleted or reordered row", "[--db PATH]",
     "  --db PATH    read a copy of bulkhead.db, or a store named sqlite:PATH or\n"
     "               postgresql:CONNINFO, without the controller\n"},
};

static const struct cli_table audit_table = {
    CLI_TABLE("bulkhead audit", audit_cmds),
    .args = "[--since TIME] [--host HOST] [--json]",
    .head = "Every command (who, what, why, each host's result) and every change a host\n"
	    "reported, in order. TIME: 2026-11-26, 2026-11-26T13:00 (UTC), or 30m, 2h, 7d\n"
	    "ago.\n\n",
    .fallback = audit_list_main,
};

/* "2026-11-26", "2026-11-26T13:00", "2026-11-26 13:00:05" (UTC), or a time
 * ago: "30m", "2h", "7d". 0 on success. */
static int time_parse(const char *s, uint64_t *ms)
{
	struct tm tm = {0};
	const char *end;
	char unit = 0;
	long n;
	int used = 0;

	if (sscanf(s, "%ld%c%n", &n, &unit, &used) == 2 && s[used] == '\0' && n > 0 &&
	    strchr("smhd", unit)) {
		long mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400;

		*ms = ((uint64_t)time(NULL) - (uint64_t)(n * mult)) * 1000;
		return 0;
	}
	if (!(end = strptime(s, "%Y-%m-%d", &tm)))
		return -1;
	if (*end == 'T' || *end == ' ') {
		const char *t = strptime(end + 1, "%H:%M:%S", &tm);

		if (!t)
			t = strptime(end + 1, "%H:%M", &tm);
		end = t;
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return -1;
	*ms = (uint64_t)timegm(&tm) * 1000;
	return 0;
}

/* --since of cmd; 0, or -1 once reported. */
static int since_parse(const char *cmd, const char *arg, uint64_t *since)
{
	if (time_parse(arg, since) == 0)
		return 0;
	fprintf(stderr,
		"bulkhead %s: --since: cannot read \"%s\"; give a UTC date or time "
		"(2026-11-26, 2026-11-26T13:00) or an age (30m, 2h, 7d)\n",
		cmd, arg);
	return -1;
}

/* Asks the controller for the rows; 0, or an exit status. */
static int audit_fetch(uint64_t since, const char *host, struct msg_list *rows)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_ctl_audit m = {.since_ms = since, .host = host};
	struct reply r = {.what = "audit"};
	int rc;

	rows->type = WIRE_CTL_AUDIT_ROW;
	rc = conn_exchange(buf, msg_ctl_audit_encode(buf, 1, &m), 30000, &r, msg_list_keep, rows);
	reply_free(&r);
	return rc;
}

static int audit_verify_db(const char *path)
{
	struct store *s = store_open(path, 1);
	char err[320];
	int64_t rows;
	int rc = 1;

	if (!s) {
		fprintf(stderr, "bulkhead audit verify: %s: cannot open the store\n", path);
	} else if (audit_verify(s, err, sizeof(err), &rows) < 0) {
		printf("audit log BROKEN: %s\n", err);
	} else {
		printf("audit log intact: %" PRId64 " rows, hash chain verified\n", rows);
		rc = 0;
	}
	store_close(s);
	return rc;
}

static int audit_verify_main(int argc, char **argv)
{
	static char buf[WIRE_MAX_FRAME];

	if (argc == 3 && strcmp(argv[1], "--db") == 0)
		return audit_verify_db(argv[2]);
	if (argc != 1) {
		cli_usage(stderr, &audit_table, argv[0]);
		return EX_USAGE;
	}
	return conn_verdict("audit log BROKEN: ", buf,
			    msg_empty_encode(buf, 1, WIRE_CTL_AUDIT_VERIFY), 60000);
}

static void audit_usage(FILE *out, const char *cmd)
{
	cli_usage(out, &audit_table, NULL);
}

static int audit_list_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"since", required_argument, NULL, 's'},
						 {"host", required_argument, NULL, 'H'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	struct msg_list rows = {0};
	const char *host = NULL;
	uint64_t since = 0;
	int opt, rc;

	optind = 1;
	while ((opt = cli_getopt(argc, argv, "s:H:jh", longopts, audit_usage, &rc)) >= 0) {
		if (opt == 's' && since_parse("audit", optarg, &since) < 0)
			return EX_USAGE;
		if (opt == 'H')
			host = optarg;
		if (opt == 'j')
			cli.json = true;
	}
	if (opt == CLI_OPT_USAGE)
		return rc;
	if (optind != argc) {
		audit_usage(stderr, argv[0]);
		return EX_USAGE;
	}
	rc = audit_fetch(since, host, &rows);
	if (rc == 0)
		output_audit(&rows, cli.json);
	msg_list_free(&rows);
	return rc;
}

int cmd_audit_main(int argc, char **argv)
{
	return cli_table_main(&audit_table, argc, argv);
}

/* --- the timeline --- */

/* "alert: tamper", as the controller records what an agent reported. */
static bool action_is_alert(const char *action)
{
	return strncmp(action, "alert: ", 7) == 0 && alert_kind_parse(action + 7) >= 0;
}

/* The row as a line of the timeline; 0 when it is not one. */
static int tl_entry_of(const struct msg_audit_row *r, struct tl_entry *e)
{
	const char *sep = strstr(r->detail, ": ");
	int confirmed, total;
	double ms;

	memset(e, 0, sizeof(*e));
	e->time_ms = r->time_ms;
	e->by = r->actor;
	e->why = r->reason;
	/* A command's own row: its outcome, once it is over. */
	if (!r->host[0] && action_parse(r->action) >= 0) {
		if (sscanf(sep ? sep + 2 : "", "%d of %d hosts confirmed in %lf ms", &confirmed,
			   &total, &ms) != 3)
			return 0;
		snprintf(e->what, sizeof(e->what), "%s: %d of %d hosts confirmed (%.0f ms)",
			 r->action, confirmed, total, ms);
		snprintf(e->hosts, sizeof(e->hosts), "%d", total);
		return 1;
	}
	/* A playbook's own steps; a stage's reconnect shows as the command it is. */
	if (!r->host[0] && strncmp(r->action, "playbook ", 9) == 0 &&
	    stage_state_parse(r->result) != STAGE_APPLYING) {
		snprintf(e->what, sizeof(e->what), "%s %s%s%s", r->action, r->result,
			 r->detail[0] ? ": " : "", r->detail);
		snprintf(e->hosts, sizeof(e->hosts), "-");
		return 1;
	}
	if (r->host[0] && (action_is_alert(r->action) || strcmp(r->action, "rolled back") == 0)) {
		snprintf(e->what, sizeof(e->what), "%s on %s: %s", r->action, r->host, r->detail);
		snprintf(e->hosts, sizeof(e->hosts), "1");
		return 1;
	}
	return 0;
}

static int tl_format_parse(const char *s, enum tl_format *fmt)
{
	static const char *const names[] = {
	    [TL_TEXT] = "text", [TL_MARKDOWN] = "markdown", [TL_CSV] = "csv", [TL_JSON] = "json"};

	for (size_t i = 0; i < CLI_NELEM(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*fmt = (enum tl_format)i;
			return 0;
		}
	fprintf(stderr, "bulkhead timeline: --format: text, markdown, csv or json, not \"%s\"\n",
		s);
	return -1;
}

static void timeline_usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: bulkhead timeline [--since TIME] [--format text|markdown|csv|json] "
		     "[--json]\n");
	if (out == stdout)
		printf("The incident as a report states it: date and time (UTC), what was\n"
		       "done, to how many hosts, by whom and why, from the audit log.\n");
}

int cmd_timeline_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"since", required_argument, NULL, 's'},
						 {"format", required_argument, NULL, 'f'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	enum tl_format fmt = cli.json ? TL_JSON : TL_TEXT;
	struct msg_list rows = {0};
	uint64_t since = 0;
	int opt, rc;

	optind = 1;
	while ((opt = cli_getopt(argc, argv, "s:f:jh", longopts, timeline_usage, &rc)) >= 0) {
		if ((opt == 's' && since_parse("timeline", optarg, &since) < 0) ||
		    (opt == 'f' && tl_format_parse(optarg, &fmt) < 0))
			return EX_USAGE;
		if (opt == 'j')
			fmt = TL_JSON;
	}
	if (opt == CLI_OPT_USAGE)
		return rc;
	rc = audit_fetch(since, NULL, &rows);
	if (rc == 0) {
		struct tl_entry *e = xcalloc(rows.n + 1, sizeof(*e));
		size_t n = 0;

		for (size_t i = 0; i < rows.n; i++)
			n += tl_entry_of(MSG_AT(&rows, i, audit_row), &e[n]);
		output_timeline(e, n, fmt);
		free(e);
	}
	msg_list_free(&rows);
	return rc;
}
