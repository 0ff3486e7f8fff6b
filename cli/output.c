/* Printers for the CLI: each result has a text form for people and a JSON
 * form for scripts, over the same data. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/clock.h"
#include "bulkhead/wire.h"
#include "output.h"

static void time_iso(uint64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03" PRIu64 "Z", ms % 1000);
}


/* "2026-11-26 13:40:01Z (12 s ago)" */
static void time_human(uint64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	uint64_t now = clock_wall_ms();
	struct tm tm;
	size_t n;

	if (!ms) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&s, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	if (now >= ms)
		snprintf(buf + n, len - n, " (%" PRIu64 " s ago)", (now - ms) / 1000);
}

void output_json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int progress_shown;

void output_progress(const char *action, uint32_t confirmed, uint32_t total, const char *slowest,
		     uint64_t slowest_us)
{
	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r\033[K%s: %" PRIu32 "/%" PRIu32 " confirmed", action, confirmed, total);
	if (slowest && *slowest)
		fprintf(stderr, ", slowest %s %.1f ms", slowest, (double)slowest_us / 1000.0);
	fflush(stderr);
	progress_shown = 1;
}

void output_progress_clear(void)
{
	if (progress_shown)
		fprintf(stderr, "\r\033[K");
	progress_shown = 0;
}

/* Done as commanded: confirmed, or left awaiting `bulkhead confirm` on purpose. */
static int host_ok(const struct host_row *h)
{
	return strcmp(h->status, "confirmed") == 0 || strcmp(h->status, "pending-confirm") == 0;
}

static void command_text(const struct cmd_result *r)
{
	const struct host_row *slowest = NULL;
	int bad = 0;

	if (r->error[0]) {
		fprintf(stderr, "bulkhead %s: %s\n", r->action, r->error);
		return;
	}
	for (int i = 0; i < r->nhosts; i++) {
		const struct host_row *h = &r->hosts[i];

		if (!host_ok(h))
			bad++;
		else if (!slowest || h->latency_us > slowest->latency_us)
			slowest = h;
	}
	printf("%s: %" PRIu32 "/%" PRIu32 " hosts confirmed in %.1f ms (epoch %" PRIu64
	       ", command %" PRIu64 ")\n",
	       r->action, r->confirmed, r->total, (double)r->elapsed_us / 1000.0, r->epoch,
	       r->command_id);
	if (slowest)
		printf("slowest: %s, %.1f ms (applied in %" PRIu64 " us)\n", slowest->name,
		       (double)slowest->latency_us / 1000.0, slowest->apply_us);
	for (int i = 0; i < r->nhosts; i++)
		if (host_ok(&r->hosts[i]) && r->hosts[i].persisted == 0)
			printf("WARNING: %s applied the change but could not record it on disk; "
			       "if its agent restarts first, the controller sends it again\n",
			       r->hosts[i].name);
	if (!bad)
		return;
	printf("NOT CONFIRMED (%d):\n", bad);
	for (int i = 0; i < r->nhosts; i++) {
		const struct host_row *h = &r->hosts[i];
		char seen[64];

		if (host_ok(h))
			continue;
		time_human(h->last_seen_ms, seen, sizeof(seen));
		printf("  %-16s %-14s last seen %s%s%s\n", h->name, h->status, seen,
		       h->error[0] ? ": " : "", h->error);
	}
	for (int i = 0; i < r->nhosts; i++)
		if (strcmp(r->hosts[i].status, "not-connected") == 0 ||
		    strcmp(r->hosts[i].status, "timeout") == 0) {
			printf("Hosts not connected stay pending: they get the command when they "
			       "reconnect.\n");
			break;
		}
}

static void host_json(const struct host_row *h, int with_result)
{
	char seen[40];

	time_iso(h->last_seen_ms, seen, sizeof(seen));
	printf("{\"name\":");
	output_json_str(h->name);
	if (with_result) {
		printf(",\"status\":");
		output_json_str(h->status);
		printf(",\"apply_us\":%" PRIu64 ",\"latency_us\":%" PRIu64 ",\"persisted\":%s",
		       h->apply_us, h->latency_us,
		       h->persisted < 0 ? "null"
		       : h->persisted	? "true"
					: "false");
		if (h->error[0]) {
			printf(",\"error\":");
			output_json_str(h->error);
		}
	} else if (h->status[0]) {
		printf(",\"pending\":");
		output_json_str(h->status);
	}
	printf(",\"hard\":%s", h->hard ? "true" : "false");
	printf(",\"mode\":");
	output_json_str(mode_name(h->mode));
	printf(",\"epoch\":%" PRIu64 ",\"connected\":%s,\"last_seen\":", h->epoch,
	       h->connected ? "true" : "false");
	if (h->last_seen_ms)
		output_json_str(seen);
	else
		printf("null");
	printf(",\"policy_hash\":");
	if (h->hash[0])
		output_json_str(h->hash);
	else
		printf("null");
	if (!with_result) {
		printf(",\"ruleset_hash\":");
		output_json_str(h->digest);
		printf(",\"tamper_count\":%" PRIu32, h->tampers);
	}
	printf("}");
}

static void command_json(const struct cmd_result *r)
{
	printf("{\"command\":");
	output_json_str(r->action);
	if (r->error[0]) {
		printf(",\"error\":");
		output_json_str(r->error);
		printf("}\n");
		return;
	}
	printf(",\"command_id\":%" PRIu64 ",\"epoch\":%" PRIu64 ",\"reason\":", r->command_id,
	       r->epoch);
	output_json_str(r->reason ? r->reason : "");
	printf(",\"targeted\":%" PRIu32 ",\"confirmed\":%" PRIu32
	       ",\"elapsed_ms\":%.3f,\"hosts\":[",
	       r->total, r->confirmed, (double)r->elapsed_us / 1000.0);
	for (int i = 0; i < r->nhosts; i++) {
		if (i)
			putchar(',');
		host_json(&r->hosts[i], 1);
	}
	printf("]}\n");
}

void output_command(const struct cmd_result *r, int json)
{
	if (json)
		command_json(r);
	else
		command_text(r);
}

void output_status(const struct cmd_result *r, int json)
{
	if (json) {
		printf("{\"hosts\":[");
		for (int i = 0; i < r->nhosts; i++) {
			if (i)
				putchar(',');
			host_json(&r->hosts[i], 0);
		}
		printf("]}\n");
		return;
	}
	printf("%-16s %-13s %6s %-9s %-32s %-12s %-12s %s\n", "HOST", "MODE", "EPOCH", "CONNECTED",
	       "LAST SEEN", "POLICY", "RULESET", "TAMPER");
	for (int i = 0; i < r->nhosts; i++) {
		const struct host_row *h = &r->hosts[i];
		char seen[64], mode[24];

		time_human(h->last_seen_ms, seen, sizeof(seen));
		snprintf(mode, sizeof(mode), "%s%s", mode_name(h->mode), h->hard ? "+hard" : "");
		printf("%-16s %-13s %6" PRIu64 " %-9s %-32s %-12.12s %-12.12s %6" PRIu32 "%s%s\n",
		       h->name, mode, h->epoch, h->connected ? "yes" : "no", seen,
		       h->hash[0] ? h->hash : "-", h->digest[0] ? h->digest : "-", h->tampers,
		       h->status[0] ? "  " : "", h->status);
	}
}
