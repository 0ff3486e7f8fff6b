/* Printers for the CLI: each answer of the controller has a text form for
 * people and a JSON form for scripts, over the same typed messages. */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "output.h"

#define HOST_AT(r, i) MSG_AT(&(r)->hosts, i, ctl_host)

static const char *str(const char *s)
{
	return s ? s : "";
}

/* ms as UTC, "2026-11-26 13:40:01" with sep between date and time, then
 * ".mmm" when with_ms. */
static void time_utc(uint64_t ms, char sep, bool with_ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (n > 10)
		buf[10] = sep;
	if (with_ms)
		snprintf(buf + n, len - n, ".%03" PRIu64, ms % 1000);
}

/* "2026-11-26 13:40:01Z (12 s ago)" */
static void time_human(uint64_t ms, char *buf, size_t len)
{
	uint64_t now = clock_wall_ms();
	size_t n;

	if (!ms) {
		snprintf(buf, len, "never");
		return;
	}
	time_utc(ms, ' ', false, buf, len);
	n = strlen(buf);
	snprintf(buf + n, len - n, "Z");
	if (now >= ms)
		snprintf(buf + n + 1, len - n - 1, " (%" PRIu64 " s ago)", (now - ms) / 1000);
}

/* --- JSON --- */

static void json_chars(const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	json_chars(s);
	putchar('"');
}

void output_json_str(const char *s)
{
	json_str(s);
}

/* ,"key":"s" */
static void json_key(const char *key, const char *s)
{
	printf(",\"%s\":", key);
	json_str(s);
}

/* ,"key":"s", or null when s is empty */
static void json_key_or_null(const char *key, const char *s)
{
	if (s && *s)
		json_key(key, s);
	else
		printf(",\"%s\":null", key);
}

static const char *json_bool(bool b)
{
	return b ? "true" : "false";
}

/* --- progress --- */

static int progress_shown;

void output_progress(const char *what, const struct msg_ctl_progress *p)
{
	const char *no_color = getenv("NO_COLOR");

	/* The line's control sequences only on a terminal, and never when the
	 * user asked for plain output (https://no-color.org). */
	if (!isatty(STDERR_FILENO) || (no_color && *no_color))
		return;
	fprintf(stderr, "\r\033[K%s: %" PRIu32 "/%" PRIu32 " confirmed", what, p->confirmed,
		p->total);
	if (p->slowest && *p->slowest)
		fprintf(stderr, ", slowest %s %.1f ms", p->slowest, (double)p->slowest_us / 1000.0);
	fflush(stderr);
	progress_shown = 1;
}

void output_progress_clear(void)
{
	if (progress_shown)
		fprintf(stderr, "\r\033[K");
	progress_shown = 0;
}

/* --- commands and status --- */

/* Done as commanded: confirmed, or left awaiting `bulkhead confirm` on purpose. */
static bool host_ok(const struct msg_ctl_host *h)
{
	return h->status == HOST_CONFIRMED || h->status == HOST_PENDING_CONFIRM;
}

static bool hosts_any(const struct reply *r, enum host_status a, enum host_status b)
{
	for (size_t i = 0; i < r->hosts.n; i++)
		if (HOST_AT(r, i)->status == a || HOST_AT(r, i)->status == b)
			return true;
	return false;
}

static void command_failed_text(const struct reply *r, int bad)
{
	printf("NOT CONFIRMED (%d):\n", bad);
	for (size_t i = 0; i < r->hosts.n; i++) {
		const struct msg_ctl_host *h = HOST_AT(r, i);
		char seen[64];

		if (host_ok(h))
			continue;
		time_human(h->last_seen_ms, seen, sizeof(seen));
		printf("  %-16s %-14s last seen %s%s%s\n", h->name, host_status_name(h->status),
		       seen, h->error && *h->error ? ": " : "", str(h->error));
	}
	if (hosts_any(r, HOST_NOT_CONNECTED, HOST_TIMEOUT))
		printf("Hosts not connected stay pending: they get the command when they "
		       "reconnect.\n");
}

static void command_text(enum action action, const struct reply *r)
{
	const struct msg_ctl_end *e = reply_end(r);
	const struct msg_ctl_host *slowest = NULL;
	int bad = 0;

	if (e->error && *e->error) {
		fprintf(stderr, "bulkhead %s: %s\n", action_name(action), e->error);
		return;
	}
	for (size_t i = 0; i < r->hosts.n; i++) {
		const struct msg_ctl_host *h = HOST_AT(r, i);

		if (!host_ok(h))
			bad++;
		else if (!slowest || h->latency_us > slowest->latency_us)
			slowest = h;
	}
	printf("%s: %" PRIu32 "/%" PRIu32 " hosts confirmed in %.1f ms (epoch %" PRIu64
	       ", command %" PRIu64 ")\n",
	       action_name(action), e->confirmed, e->total, (double)e->elapsed_us / 1000.0,
	       e->epoch, e->command);
	if (slowest)
		printf("slowest: %s, %.1f ms (applied in %" PRIu64 " us)\n", slowest->name,
		       (double)slowest->latency_us / 1000.0, slowest->apply_us);
	for (size_t i = 0; i < r->hosts.n; i++)
		if (host_ok(HOST_AT(r, i)) && HOST_AT(r, i)->persisted == 0)
			printf("WARNING: %s applied the change but could not record it on disk; "
			       "if its agent restarts first, the controller sends it again\n",
			       HOST_AT(r, i)->name);
	if (bad)
		command_failed_text(r, bad);
	if (e->confirm_ms && hosts_any(r, HOST_PENDING_CONFIRM, HOST_PENDING_CONFIRM))
		printf("Changes wait for confirmation: run `bulkhead confirm` within %.0f s, "
		       "or those hosts roll back by themselves.\n",
		       (double)e->confirm_ms / 1000.0);
}

static void host_json(const struct msg_ctl_host *h, bool with_result)
{
	char seen[40];

	printf("{\"name\":");
	json_str(h->name);
	if (with_result) {
		json_key("status", host_status_name(h->status));
		printf(",\"apply_us\":%" PRIu64 ",\"latency_us\":%" PRIu64 ",\"persisted\":%s",
		       h->apply_us, h->latency_us,
		       h->persisted < 0 ? "null" : json_bool(h->persisted));
		if (h->error && *h->error)
			json_key("error", h->error);
	} else if (h->status != HOST_NONE) {
		json_key("pending", host_status_name(h->status));
	}
	printf(",\"hard\":%s", json_bool(h->hard));
	json_key("mode", mode_name(h->mode));
	printf(",\"epoch\":%" PRIu64 ",\"connected\":%s,\"last_seen\":", h->epoch,
	       json_bool(h->connected));
	time_utc(h->last_seen_ms, 'T', true, seen, sizeof(seen));
	if (h->last_seen_ms)
		printf("\"%sZ\"", seen);
	else
		printf("null");
	json_key_or_null("controller", h->controller);
	json_key_or_null("policy_hash", h->hash);
	if (!with_result) {
		json_key("ruleset_hash", h->digest);
		printf(",\"tamper_count\":%" PRIu32, h->tampers);
	}
	printf("}");
}

static void hosts_json(const struct reply *r, bool with_result)
{
	printf("\"hosts\":[");
	for (size_t i = 0; i < r->hosts.n; i++) {
		if (i)
			putchar(',');
		host_json(HOST_AT(r, i), with_result);
	}
	printf("]}\n");
}

static void command_json(enum action action, const char *reason, const struct reply *r)
{
	const struct msg_ctl_end *e = reply_end(r);

	printf("{\"command\":");
	json_str(action_name(action));
	if (e->error && *e->error) {
		json_key("error", e->error);
		printf("}\n");
		return;
	}
	printf(",\"command_id\":%" PRIu64 ",\"epoch\":%" PRIu64, e->command, e->epoch);
	json_key("reason", str(reason));
	printf(",\"targeted\":%" PRIu32 ",\"confirmed\":%" PRIu32 ",\"elapsed_ms\":%.3f,", e->total,
	       e->confirmed, (double)e->elapsed_us / 1000.0);
	hosts_json(r, true);
}

void output_command(enum action action, const char *reason, const struct reply *r, bool json)
{
	if (json)
		command_json(action, reason, r);
	else
		command_text(action, r);
}

void output_status(const struct reply *r, bool json)
{
	if (json) {
		printf("{");
		hosts_json(r, false);
		return;
	}
	/* With controllers sharing a store, CONNECTED names the one that
	 * holds the host. */
	printf("%-16s %-13s %6s %-12s %-32s %-12s %-12s %s\n", "HOST", "MODE", "EPOCH", "CONNECTED",
	       "LAST SEEN", "POLICY", "RULESET", "TAMPER");
	for (size_t i = 0; i < r->hosts.n; i++) {
		const struct msg_ctl_host *h = HOST_AT(r, i);
		char seen[64], mode[24];
		const char *on = h->connected ? "yes" : "no";

		if (h->connected && h->controller && *h->controller)
			on = h->controller;
		time_human(h->last_seen_ms, seen, sizeof(seen));
		snprintf(mode, sizeof(mode), "%s%s", mode_name(h->mode), h->hard ? "+hard" : "");
		printf("%-16s %-13s %6" PRIu64 " %-12.12s %-32s %-12.12s %-12.12s %6" PRIu32 "%s%s\n",
		       h->name, mode, h->epoch, on, seen, h->hash[0] ? h->hash : "-",
		       h->digest[0] ? h->digest : "-", h->tampers,
		       h->status != HOST_NONE ? "  " : "", host_status_name(h->status));
	}
}

void output_verdict(const char *prefix, const struct msg_ctl_end *end)
{
	printf("%s%s\n", end->result ? prefix : "", str(end->error));
}

void output_approve(uint64_t id, const struct reply *r, bool json)
{
	const struct msg_ctl_end *e = reply_end(r);

	if (json) {
		printf("{\"approve\":%" PRIu64 ",\"result\":%" PRIu32 ",\"confirmed\":%" PRIu32
		       ",\"total\":%" PRIu32 ",\"epoch\":%" PRIu64 ",\"command\":%" PRIu64,
		       id, e->result, e->confirmed, e->total, e->epoch, e->command);
		json_key_or_null("error", e->error);
		printf("}\n");
		return;
	}
	if (e->result) {
		fprintf(stderr, "bulkhead approve: %s\n",
			e->error && *e->error ? e->error : "failed");
		return;
	}
	if (e->total)
		printf("approve %" PRIu64 ": %" PRIu32 "/%" PRIu32
		       " hosts confirmed in %.1f ms (epoch %" PRIu64 ", command %" PRIu64 ")\n",
		       id, e->confirmed, e->total, (double)e->elapsed_us / 1000.0, e->epoch,
		       e->command);
	else
		printf("approve %" PRIu64 ": %s\n", id, e->error && *e->error ? e->error : "done");
}

/* --- the audit log and the timeline --- */

void output_audit(const struct msg_list *rows, bool json)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
	    {"actor", offsetof(struct msg_audit_row, actor)},
	    {"action", offsetof(struct msg_audit_row, action)},
	    {"host", offsetof(struct msg_audit_row, host)},
	    {"reason", offsetof(struct msg_audit_row, reason)},
	    {"result", offsetof(struct msg_audit_row, result)},
	    {"detail", offsetof(struct msg_audit_row, detail)},
	};
	char t[40];

	if (json)
		printf("{\"rows\":[");
	for (size_t i = 0; i < rows->n; i++) {
		const struct msg_audit_row *r = MSG_AT(rows, i, audit_row);

		if (!json) {
			time_utc(r->time_ms, ' ', true, t, sizeof(t));
			printf("%s  #%-5" PRIu64 " %-14s %-12s %-14s %s%s%s%s%s\n", t, r->seq,
			       r->action, r->host[0] ? r->host : "-", r->result, r->actor,
			       r->reason[0] ? "  reason: " : "", r->reason,
			       r->detail[0] ? "  " : "", r->detail);
			continue;
		}
		time_utc(r->time_ms, 'T', true, t, sizeof(t));
		printf("%s{\"seq\":%" PRIu64 ",\"time\":\"%sZ\"", i ? "," : "", r->seq, t);
		for (size_t j = 0; j < CLI_NELEM(fields); j++)
			json_key(fields[j].key,
				 *(const char *const *)((const char *)r + fields[j].off));
		printf("}");
	}
	if (json)
		printf("]}\n");
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

static void md_field(const char *s, int last)
{
	printf(" ");
	for (; *s; s++)
		if (*s == '|')
			printf("\\|");
		else
			putchar(*s);
	printf(" |%s", last ? "\n" : "");
}

static void timeline_json(const struct tl_entry *e, size_t n)
{
	char when[40];

	printf("{\"entries\":[");
	for (size_t i = 0; i < n; i++) {
		time_utc(e[i].time_ms, 'T', true, when, sizeof(when));
		printf("%s{\"time\":\"%sZ\"", i ? "," : "", when);
		json_key("what", e[i].what);
		json_key("hosts", e[i].hosts);
		json_key("by", str(e[i].by));
		json_key("reason", str(e[i].why));
		printf("}");
	}
	printf("]}\n");
}

void output_timeline(const struct tl_entry *e, size_t n, enum tl_format fmt)
{
	if (fmt == TL_JSON) {
		timeline_json(e, n);
		return;
	}
	if (fmt == TL_MARKDOWN)
		printf("| Date and time (UTC) | What was done | Hosts | By | Reason |\n"
		       "|---|---|---|---|---|\n");
	else if (fmt == TL_CSV)
		printf("time_utc,what,hosts,by,reason\n");
	for (size_t i = 0; i < n; i++) {
		void (*field)(const char *s, int last) = fmt == TL_CSV ? csv_field : md_field;
		char when[40];

		time_utc(e[i].time_ms, ' ', false, when, sizeof(when));
		if (fmt == TL_TEXT) {
			printf("%s  %-60s hosts %-5s by %s%s%s\n", when, e[i].what, e[i].hosts,
			       e[i].by, e[i].why[0] ? "  reason: " : "", e[i].why);
			continue;
		}
		if (fmt == TL_MARKDOWN)
			printf("|");
		field(when, 0);
		field(e[i].what, 0);
		field(e[i].hosts, 0);
		field(e[i].by, 0);
		field(e[i].why, 1);
	}
}

/* --- playbook status --- */

static int host_text(const char *h, void *arg)
{
	int *n = arg;

	printf("%s%s", (*n)++ ? " " : "", h);
	return 0;
}

static int host_json_chars(const char *h, void *arg)
{
	int *n = arg;

	if ((*n)++)
		putchar(' ');
	json_chars(h);
	return 0;
}

static void pb_check_json(const struct msg_pb_check *k, bool first)
{
	printf("%s{\"from\":", first ? "" : ",");
	json_str(k->from);
	json_key("to", str(k->target_name));
	printf(",\"expect\":\"%s\"", k->expect_open ? "open" : "closed");
	json_key("result", check_state_name(k->state));
	printf("}");
}

static void pb_check_text(const struct msg_pb_check *k, bool first)
{
	char what[16] = "ping";

	if (k->proto == IPPROTO_TCP)
		snprintf(what, sizeof(what), "tcp/%u", k->port);
	printf("        check %s -> %s %s expect %s: %s\n", k->from, str(k->target_name), what,
	       k->expect_open ? "open" : "closed", check_state_name(k->state));
}

/* The checks of stage i, each through print. */
static void pb_checks(const struct pb_view *v, size_t i,
		      void (*print)(const struct msg_pb_check *k, bool first))
{
	bool first = true;

	for (size_t j = 0; j < v->checks.n; j++) {
		const struct msg_pb_check *k = MSG_AT(&v->checks, j, pb_check);

		if (k->stage != i)
			continue;
		print(k, first);
		first = false;
	}
}

static void pb_stage_json(const struct pb_view *v, size_t i)
{
	const struct msg_pb_stage *s = MSG_AT(&v->stages, i, pb_stage);
	int n = 0;

	printf("%s{\"name\":", i ? "," : "");
	json_str(s->name);
	json_key("state", stage_state_name(s->state));
	json_key("restore", s->restore);
	printf(",\"approval\":%s", json_bool(s->approval));
	json_key("approved_by", s->approved_by);
	json_key("detail", s->detail);
	printf(",\"hosts\":\"");
	msg_strs_foreach(&s->hosts, host_json_chars, &n);
	printf("\",\"checks\":[");
	pb_checks(v, i, pb_check_json);
	printf("]}");
}

static void pb_stage_text(const struct pb_view *v, size_t i)
{
	const struct msg_pb_stage *s = MSG_AT(&v->stages, i, pb_stage);
	int n = 0;

	printf("stage %zu %-20s %-18s -> %-12s %s%s%s\n", i + 1, s->name,
	       stage_state_name(s->state), s->restore, s->detail,
	       s->approved_by[0] ? "; approved by " : "", s->approved_by);
	printf("        hosts: ");
	msg_strs_foreach(&s->hosts, host_text, &n);
	printf("\n");
	pb_checks(v, i, pb_check_text);
}

void output_playbook(const struct pb_view *v, bool json)
{
	const struct msg_ctl_end *e = reply_end(&v->r);

	if (!json) {
		printf("playbook %s (run %" PRIu64 "): %s\n", e->run_name, e->run,
		       run_state_name(e->run_state));
		for (size_t i = 0; i < v->stages.n; i++)
			pb_stage_text(v, i);
		return;
	}
	printf("{\"run\":%" PRIu64 ",\"name\":", e->run);
	json_str(e->run_name);
	json_key("state", run_state_name(e->run_state));
	printf(",\"stages\":[");
	for (size_t i = 0; i < v->stages.n; i++)
		pb_stage_json(v, i);
	printf("]}\n");
}
