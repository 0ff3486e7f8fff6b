/* bulkhead isolate / release / status: one request on the control socket,
 * then frames until END. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/wire.h"
#include "cli.h"
#include "output.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69

struct cli_global cli = {.socket = NULL, .json = 0};

static const char *cli_socket_path(void)
{
	const char *env = getenv("BULKHEAD_SOCKET");

	if (cli.socket)
		return cli.socket;
	return env && *env ? env : "/run/bulkhead/bulkheadd.sock";
}

static int ctl_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = cli_socket_path();
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "bulkhead: control socket path too long: %s\n", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(
		    stderr,
		    "bulkhead: cannot reach the controller at %s: %s\n"
		    "  (is bulkheadd running? use -s SOCKET or BULKHEAD_SOCKET for another one)\n",
		    path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Reads one frame into buf; 1 on a frame, 0 on EOF, -1 on error or timeout. */
static int ctl_frame_read(int fd, char *buf, size_t *have, struct wire_frame *f, int timeout_ms)
{
	static char frame[WIRE_MAX_FRAME];
	const char *err;

	for (;;) {
		int len = wire_frame_peek_len(buf, *have);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (len < 0) {
			fprintf(stderr, "bulkhead: malformed frame from the controller\n");
			return -1;
		}
		if (len > 0 && (size_t)len <= *have) {
			memcpy(frame, buf, (size_t)len);
			memmove(buf, buf + len, *have - (size_t)len);
			*have -= (size_t)len;
			if (wire_frame_decode(frame, (size_t)len, f, &err) < 0) {
				fprintf(stderr, "bulkhead: bad frame from the controller: %s\n",
					err);
				return -1;
			}
			return 1;
		}
		if (poll(&pfd, 1, timeout_ms) <= 0) {
			fprintf(stderr, "bulkhead: no answer from the controller\n");
			return -1;
		}
		n = read(fd, buf + *have, WIRE_MAX_FRAME - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		*have += (size_t)n;
	}
}

static void host_row_fill(struct host_row *h, const struct wire_frame *f)
{
	snprintf(h->name, sizeof(h->name), "%s", wire_get_str(f, WA_NAME, "?"));
	snprintf(h->status, sizeof(h->status), "%s", wire_get_str(f, WA_STATUS, ""));
	snprintf(h->hash, sizeof(h->hash), "%s", wire_get_str(f, WA_HASH, ""));
	snprintf(h->digest, sizeof(h->digest), "%s", wire_get_str(f, WA_BASE_HASH, ""));
	snprintf(h->error, sizeof(h->error), "%s", wire_get_str(f, WA_ERROR, ""));
	h->mode = wire_get_u8(f, WA_MODE, 0);
	h->epoch = wire_get_u64(f, WA_EPOCH, 0);
	h->connected = wire_get_u8(f, WA_CONNECTED, 0);
	h->apply_us = wire_get_u64(f, WA_APPLY_US, 0);
	h->latency_us = wire_get_u64(f, WA_LATENCY_US, 0);
	h->last_seen_ms = wire_get_u64(f, WA_LAST_SEEN, 0);
	h->tampers = wire_get_u32(f, WA_TAMPERS, 0);
	h->hard = wire_get_u8(f, WA_HARD, 0);
	h->persisted = f->tb[WA_PERSISTED] ? wire_get_u8(f, WA_PERSISTED, 1) : -1;
}

/* Sends the request (one or more frames), reads until END into r; frames
 * of other types go to fn. Returns 0, -1 if the exchange broke, -2 if the
 * controller could not be reached (both already reported). */
int ctl_exchange(const void *req, size_t reqlen, struct cmd_result *r, int timeout_ms,
		 int (*fn)(const struct wire_frame *f, void *arg), void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	size_t have = 0;
	int fd = ctl_connect(), rc = -1;

	if (fd < 0)
		return -2;
	for (size_t off = 0; off < reqlen;) {
		ssize_t n = write(fd, (const char *)req + off, reqlen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "bulkhead: sending the request failed: %s\n",
				strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	for (;;) {
		struct wire_frame f;
		int n = ctl_frame_read(fd, buf, &have, &f, timeout_ms);

		if (n <= 0) {
			if (n == 0)
				fprintf(stderr, "bulkhead: the controller closed the connection\n");
			goto out;
		}
		switch (f.type) {
		case WIRE_CTL_PROGRESS:
			output_progress(r->action, wire_get_u32(&f, WA_CONFIRMED, 0),
					wire_get_u32(&f, WA_TOTAL, 0),
					wire_get_str(&f, WA_HOST, NULL),
					wire_get_u64(&f, WA_LATENCY_US, 0));
			break;
		case WIRE_CTL_HOST:
			r->hosts = realloc(r->hosts, sizeof(*r->hosts) * (size_t)(r->nhosts + 1));
			if (!r->hosts) {
				fprintf(stderr, "bulkhead: out of memory\n");
				goto out;
			}
			memset(&r->hosts[r->nhosts], 0, sizeof(r->hosts[0]));
			host_row_fill(&r->hosts[r->nhosts++], &f);
			break;
		case WIRE_CTL_END:
			output_progress_clear();
			r->result = wire_get_u32(&f, WA_RESULT, 1);
			r->epoch = wire_get_u64(&f, WA_EPOCH, 0);
			r->command_id = wire_get_u64(&f, WA_COMMAND, 0);
			r->confirmed = wire_get_u32(&f, WA_CONFIRMED, 0);
			r->total = wire_get_u32(&f, WA_TOTAL, 0);
			r->elapsed_us = wire_get_u64(&f, WA_LATENCY_US, 0);
			snprintf(r->error, sizeof(r->error), "%s", wire_get_str(&f, WA_ERROR, ""));
			r->run = wire_get_u64(&f, WA_RUN, 0);
			snprintf(r->name, sizeof(r->name), "%s", wire_get_str(&f, WA_NAME, ""));
			snprintf(r->state, sizeof(r->state), "%s", wire_get_str(&f, WA_STATE, ""));
			rc = 0;
			goto out;
		default:
			if (fn && fn(&f, arg) == 0)
				break;
			fprintf(stderr, "bulkhead: unexpected %s frame from the controller\n",
				wire_type_name(f.type));
			goto out;
		}
	}
out:
	output_progress_clear();
	close(fd);
	return rc;
}

int cli_seconds_parse(const char *cmd, const char *opt, const char *arg, double *out)
{
	char *end;

	*out = strtod(arg, &end);
	if (*end || end == arg || *out <= 0 || *out > 3600) {
		fprintf(stderr, "bulkhead %s: %s: expected seconds in (0, 3600], got \"%s\"\n", cmd,
			opt, arg);
		return -1;
	}
	return 0;
}

static void mode_usage(FILE *out, const char *cmd)
{
	int isolate = strcmp(cmd, "isolate") == 0;

	fprintf(
	    out,
	    "usage: bulkhead %s --all | HOST... [--reason TEXT] [--timeout SECONDS] %s[--json]\n"
	    "  --all             every host in the inventory\n"
	    "  --reason TEXT     why, recorded with the command\n"
	    "  --timeout SECONDS how long to wait for the hosts to confirm (default 10)\n",
	    cmd, isolate ? "[--hard] [--no-fallback] " : "[--confirm-timeout SECONDS] ");
	if (isolate)
		fprintf(
		    out,
		    "  --hard            also take the data links down (servers) and block the\n"
		    "                    host-facing ports (switches); never the management link\n"
		    "  --no-fallback     do not isolate a silent host at its switch port\n");
	else
		fprintf(
		    out,
		    "  --confirm-timeout SECONDS\n"
		    "                    a host that does not get the controller's confirmation\n"
		    "                    within this time returns to isolation by itself (30)\n");
	fprintf(out, "  --json            print the result as one JSON document\n"
		     "Exit status: 0 if every targeted host confirmed, 1 if any did not,\n"
		     "69 if the controller cannot be reached, 64 on bad usage.\n");
}

static int cmd_mode_main(int argc, char **argv, uint16_t type)
{
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
						 {"reason", required_argument, NULL, 'r'},
						 {"timeout", required_argument, NULL, 't'},
						 {"json", no_argument, NULL, 'j'},
						 {"confirm-timeout", required_argument, NULL, 'c'},
						 {"hard", no_argument, NULL, 'H'},
						 {"no-fallback", no_argument, NULL, 'F'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	static char buf[WIRE_MAX_FRAME];
	struct cmd_result r = {.action = argv[0]};
	struct wire_builder b;
	double timeout_s = 10, confirm_s = 30;
	int all = 0, hard = 0, no_fallback = 0, opt, rc, len;
	int isolate = type == WIRE_CTL_ISOLATE;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "ar:t:c:HFjh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': all = 1; break;
		case 'r': r.reason = optarg; break;
		case 't':
			if (cli_seconds_parse(argv[0], "--timeout", optarg, &timeout_s) < 0)
				return EX_USAGE;
			break;
		case 'c':
			if (cli_seconds_parse(argv[0], "--confirm-timeout", optarg, &confirm_s) < 0)
				return EX_USAGE;
			break;
		case 'H': hard = 1; break;
		case 'F': no_fallback = 1; break;
		case 'j': cli.json = 1; break;
		case 'h': mode_usage(stdout, argv[0]); return 0;
		default: mode_usage(stderr, argv[0]); return EX_USAGE;
		}
	}
	if ((hard || no_fallback) && !isolate) {
		fprintf(stderr, "bulkhead %s: --hard and --no-fallback go with isolate\n", argv[0]);
		return EX_USAGE;
	}
	if (all == (optind < argc)) {
		fprintf(stderr, "bulkhead %s: name hosts or give --all, not both or neither\n",
			argv[0]);
		mode_usage(stderr, argv[0]);
		return EX_USAGE;
	}
	wire_build_start(&b, buf, type, 1);
	if (all)
		wire_put_u8(&b, WA_ALL, 1);
	for (int i = optind; i < argc; i++)
		wire_put_str(&b, WA_HOST, argv[i]);
	if (r.reason)
		wire_put_str(&b, WA_REASON, r.reason);
	wire_put_u32(&b, WA_TIMEOUT_MS, (uint32_t)(timeout_s * 1000));
	if (!isolate)
		wire_put_u32(&b, WA_CONFIRM_MS, (uint32_t)(confirm_s * 1000));
	if (hard)
		wire_put_u8(&b, WA_HARD, 1);
	if (no_fallback)
		wire_put_u8(&b, WA_NO_FALLBACK, 1);
	len = wire_build_end(&b);
	if (len < 0) {
		fprintf(stderr, "bulkhead %s: request too large; name fewer hosts\n", argv[0]);
		return EX_USAGE;
	}
	/* The switch-port fallback may add a few seconds after the deadline. */
	rc = ctl_exchange(buf, (size_t)len, &r, (int)(timeout_s * 1000) + 10000, NULL, NULL);
	if (rc == -2)
		return EX_UNAVAILABLE;
	if (rc < 0)
		rc = 1;
	else {
		output_command(&r, cli.json);
		rc = r.result == 0 ? 0 : 1;
	}
	free(r.hosts);
	return rc;
}

int cmd_isolate_main(int argc, char **argv)
{
	return cmd_mode_main(argc, argv, WIRE_CTL_ISOLATE);
}

int cmd_release_main(int argc, char **argv)
{
	return cmd_mode_main(argc, argv, WIRE_CTL_RELEASE);
}

int cmd_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
	static char buf[WIRE_MAX_FRAME];
	struct cmd_result r = {.action = "status"};
	struct wire_builder b;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': cli.json = 1; break;
		case 'h':
			printf("usage: bulkhead status [--json]\n"
			       "Every inventory host: mode, epoch, connected, last seen, and the "
			       "hash\n"
			       "of the ruleset its agent applied.\n");
			return 0;
		default: fprintf(stderr, "usage: bulkhead status [--json]\n"); return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: bulkhead status [--json]\n");
		return EX_USAGE;
	}
	wire_build_start(&b, buf, WIRE_CTL_STATUS, 1);
	rc = ctl_exchange(buf, (size_t)wire_build_end(&b), &r, 10000, NULL, NULL);
	if (rc == -2)
		return EX_UNAVAILABLE;
	if (rc == 0)
		output_status(&r, cli.json);
	free(r.hosts);
	return rc == 0 ? 0 : 1;
}
