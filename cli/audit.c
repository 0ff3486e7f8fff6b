/* bulkhead audit / timeline: the controller's hash-chained record, row by
 * row or as an incident timeline for a report; and its verification. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "audit.h"
#include "store.h"
#include "cli.h"
#include "output.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69

struct audit_list {
	struct audit_row *rows;
	size_t n;
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

static char *dupz(const struct wire_frame *f, uint16_t attr)
{
	return xstrdup(wire_get_str(f, attr, ""));
}

static int audit_row_collect(const struct wire_frame *f, void *arg)
{
	struct audit_list *l = arg;
	struct audit_row *r;

	if (f->type != WIRE_CTL_AUDIT_ROW)
		return -1;
	l->rows = realloc(l->rows, sizeof(*l->rows) * (l->n + 1));
	if (!l->rows)
		fatal("out of memory");
	r = &l->rows[l->n++];
	memset(r, 0, sizeof(*r));
	r->seq = (int64_t)wire_get_u64(f, WA_SEQ, 0);
	r->time_ms = wire_get_u64(f, WA_TIME_MS, 0);
	r->actor = dupz(f, WA_ACTOR);
	r->action = dupz(f, WA_ACTION);
	r->host = dupz(f, WA_HOST);
	r->reason = dupz(f, WA_REASON);
	r->result = dupz(f, WA_RESULT_TEXT);
	r->detail = dupz(f, WA_DETAIL);
	return 0;
}

static void audit_list_free(struct audit_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->rows[i].actor);
		free((char *)l->rows[i].action);
		free((char *)l->rows[i].host);
		free((char *)l->rows[i].reason);
		free((char *)l->rows[i].result);
		free((char *)l->rows[i].detail);
	}
	free(l->rows);
}

/* Asks the controller for the rows; 0, or an exit status. */
static int audit_fetch(uint64_t since, const char *host, struct audit_list *l)
{
	static char buf[WIRE_MAX_FRAME];
	struct cmd_result r = {.action = "audit"};
	struct wire_builder b;
	int rc;

	wire_build_start(&b, buf, WIRE_CTL_AUDIT, 1);
	wire_put_u64(&b, WA_TIME_MS, since);
	if (host)
		wire_put_str(&b, WA_HOST, host);
	rc = ctl_exchange(buf, (size_t)wire_build_end(&b), &r, 30000, audit_row_collect, l);
	free(r.hosts);
	return rc == -2 ? EX_UNAVAILABLE : rc < 0 ? 1 : 0;
}

static void time_text(uint64_t ms, char *buf, size_t len, int with_ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (with_ms)
		snprintf(buf + n, len - n, ".%03" PRIu64, ms % 1000);
}

static void audit_print(const struct audit_list *l, int json)
{
	char t[40];

	if (json)
		printf("{\"rows\":[");
	for (size_t i = 0; i < l->n; i++) {
		const struct audit_row *r = &l->rows[i];

		time_text(r->time_ms, t, sizeof(t), 1);
		if (!json) {
			printf("%s  #%-5" PRId64 " %-14s %-12s %-14s %s%s%s%s%s\n", t, r->seq,
			       r->action, r->host[0] ? r->host : "-", r->result, r->actor,
			       r->reason[0] ? "  reason: " : "", r->reason,
			       r->detail[0] ? "  " : "", r->detail);
			continue;
		}
		t[10] = 'T'; /* ISO 8601, as the other JSON output */
		printf("%s{\"seq\":%" PRId64 ",\"time\":\"%sZ\",\"actor\":", i ? "," : "", r->seq,
		       t);
		output_json_str(r->actor);
		printf(",\"action\":");
		output_json_str(r->action);
		printf(",\"host\":");
		output_json_str(r->host);
		printf(",\"reason\":");
		output_json_str(r->reason);
		printf(",\"result\":");
		output_json_str(r->result);
		printf(",\"detail\":");
		output_json_str(r->detail);
		printf("}");
	}
	if (json)
		printf("]}\n");
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
	struct cmd_result r = {.action = "audit verify"};
	struct wire_builder b;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--db") == 0)
		return audit_verify_db(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: bulkhead audit verify [--db PATH]\n");
		return EX_USAGE;
	}
	wire_build_start(&b, buf, WIRE_CTL_AUDIT_VERIFY, 1);
	rc = ctl_exchange(buf, (size_t)wire_build_end(&b), &r, 60000, NULL, NULL);
	free(r.hosts);
	if (rc < 0)
		return rc == -2 ? EX_UNAVAILABLE : 1;
	printf("%s%s\n", r.result ? "audit log BROKEN: " : "", r.error);
	return r.result ? 1 : 0;
}

static void audit_usage(FILE *out)
{
	fprintf(out,
		"usage: bulkhead audit [--since TIME] [--host HOST] [--json]\n"
		"       bulkhead audit verify [--db PATH]\n"
		"Every command (who, what, why, each host's result) and every change a host\n"
		"reported, in order. TIME: 2026-11-26, 2026-11-26T13:00 (UTC), or 30m, 2h, 7d\n"
		"ago. verify checks the hash chain and exits 1 at the first edited, deleted\n"
		"or reordered row; --db reads a copy of bulkhead.db without the controller.\n");
}

int cmd_audit_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"since", required_argument, NULL, 's'},
						 {"host", required_argument, NULL, 'H'},
						 {"json", no_argument, NULL, 'j'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	struct audit_list l = {0};
	const char *host = NULL;
	uint64_t since = 0;
	int opt, rc;

	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return audit_verify_main(argc - 1, argv + 1);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:H:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (time_parse(optarg, &since) < 0) {
				fprintf(stderr, "bulkhead audit: --since: cannot read \"%s\"\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'H': host = optarg; break;
		case 'j': cli.json = 1; break;
		case 'h': audit_usage(stdout); return 0;
		default: audit_usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		audit_usage(stderr);
		return EX_USAGE;
	}
	rc = audit_fetch(since, host, &l);
	if (rc == 0)
		audit_print(&l, cli.json);
	audit_list_free(&l);
	return rc;
}

/* --- the timeline --- */

enum tl_format { TL_TEXT, TL_MARKDOWN, TL_CSV };

/* One line of the timeline: when, what, how many hosts, by whom, why. */
struct tl_entry {
	char when[40], what[512], hosts[32];
	const char *by, *why;
};

static int tl_entry_of(const struct audit_row *r, struct tl_entry *e)
{
	int confirmed, total;
	double ms;

	memset(e, 0, sizeof(*e));
	time_text(r->time_ms, e->when, sizeof(e->when), 0);
	e->by = r->actor;
	e->why = r->reason;
	if (!r->host[0] && strcmp(r->result, "done") == 0 &&
	    sscanf(strstr(r->detail, ": ") ? strstr(r->detail, ": ") + 2 : "",
		   "%d of %d hosts confirmed in %lf ms", &confirmed, &total, &ms) == 3) {
		snprintf(e->what, sizeof(e->what), "%s: %d of %d hosts confirmed (%.0f ms)",
			 r->action, confirmed, total, ms);
		snprintf(e->hosts, sizeof(e->hosts), "%d", total);
		return 1;
	}
	/* A playbook's own steps; its reconnects show as the commands they are. */
	if (!r->host[0] && strncmp(r->action, "playbook", 8) == 0 &&
	    strcmp(r->result, "started") != 0 && strcmp(r->result, "applying") != 0) {
		snprintf(e->what, sizeof(e->what), "%s %s%s%s", r->action, r->result,
			 r->detail[0] ? ": " : "", r->detail);
		snprintf(e->hosts, sizeof(e->hosts), "-");
		return 1;
	}
	if (r->host[0] &&
	    (strncmp(r->action, "alert", 5) == 0 || strcmp(r->action, "rolled back") == 0)) {
		snprintf(e->what, sizeof(e->what), "%s on %s: %s", r->action, r->host, r->detail);
		snprintf(e->hosts, sizeof(e->hosts), "1");
		return 1;
	}
	return 0;
}

static void csv_field(const char *s, int last)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	printf("\"%s", last ? "\n" : ",");
}

static void md_field(const char *s)
{
	printf(" ");
	for (; *s; s++)
		if (*s == '|')
			printf("\\|");
		else
			putchar(*s);
	printf(" |");
}

int cmd_timeline_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"since", required_argument, NULL, 's'},
						 {"format", required_argument, NULL, 'f'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	enum tl_format fmt = TL_TEXT;
	struct audit_list l = {0};
	uint64_t since = 0;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (time_parse(optarg, &since) < 0) {
				fprintf(stderr, "bulkhead timeline: --since: cannot read \"%s\"\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'f':
			if (strcmp(optarg, "text") == 0)
				fmt = TL_TEXT;
			else if (strcmp(optarg, "markdown") == 0)
				fmt = TL_MARKDOWN;
			else if (strcmp(optarg, "csv") == 0)
				fmt = TL_CSV;
			else {
				fprintf(stderr,
					"bulkhead timeline: --format: text, markdown or csv\n");
				return EX_USAGE;
			}
			break;
		case 'h':
			printf(
			    "usage: bulkhead timeline [--since TIME] [--format text|markdown|csv]\n"
			    "The incident as a report states it: date and time (UTC), what was\n"
			    "done, to how many hosts, by whom and why, from the audit log.\n");
			return 0;
		default:
			fprintf(stderr, "usage: bulkhead timeline [--since TIME] "
					"[--format text|markdown|csv]\n");
			return EX_USAGE;
		}
	}
	rc = audit_fetch(since, NULL, &l);
	if (rc) {
		audit_list_free(&l);
		return rc;
	}
	if (fmt == TL_MARKDOWN)
		printf("| Date and time (UTC) | What was done | Hosts | By | Reason |\n"
		       "|---|---|---|---|---|\n");
	else if (fmt == TL_CSV)
		printf("time_utc,what,hosts,by,reason\n");
	for (size_t i = 0; i < l.n; i++) {
		struct tl_entry e;

		if (!tl_entry_of(&l.rows[i], &e))
			continue;
		switch (fmt) {
		case TL_TEXT:
			printf("%s  %-60s hosts %-5s by %s%s%s\n", e.when, e.what, e.hosts, e.by,
			       e.why[0] ? "  reason: " : "", e.why);
			break;
		case TL_MARKDOWN:
			printf("|");
			md_field(e.when);
			md_field(e.what);
			md_field(e.hosts);
			md_field(e.by);
			md_field(e.why);
			printf("\n");
			break;
		case TL_CSV:
			csv_field(e.when, 0);
			csv_field(e.what, 0);
			csv_field(e.hosts, 0);
			csv_field(e.by, 0);
			csv_field(e.why, 1);
			break;
		}
	}
	audit_list_free(&l);
	return 0;
}
