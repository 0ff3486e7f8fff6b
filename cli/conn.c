/* The control socket: one request to bulkheadd, then its answer, frame by
 * frame, decoded into typed messages, until END. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "cli.h"
#include "output.h"

static const char *conn_socket_path(void)
{
	const char *env = getenv("BULKHEAD_SOCKET");

	if (cli.socket)
		return cli.socket;
	return env && *env ? env : "/run/bulkhead/bulkheadd.sock";
}

static int conn_open(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = conn_socket_path();
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

static int conn_write(int fd, const void *req, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)req + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "bulkhead: sending the request failed: %s\n",
				strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Reads one frame into buf; 1 on a frame, 0 on EOF, -1 on error or timeout. */
static int conn_frame_read(int fd, char *buf, size_t *have, struct wire_frame *f, int timeout_ms)
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

int msg_list_keep(const struct wire_frame *f, const union msg *m, void *arg)
{
	struct msg_list *l = arg;
	struct msg_kept *k;
	const char *err;

	if (f->type != l->type)
		return -1;
	if (!(k = msg_keep(f, &err))) {
		fprintf(stderr, "bulkhead: bad frame from the controller: %s\n", err);
		return -1;
	}
	l->v = realloc(l->v, sizeof(*l->v) * (l->n + 1));
	if (!l->v)
		fatal("out of memory");
	l->v[l->n++] = k;
	return 0;
}

void msg_list_free(struct msg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void reply_free(struct reply *r)
{
	msg_list_free(&r->hosts);
	free(r->end);
	r->end = NULL;
}

/* One frame of the answer: 1 once it was the END, 0 for more, -1 when the
 * exchange must stop (reported). */
static int conn_frame_take(const struct wire_frame *f, struct reply *r, conn_frame_fn fn, void *arg)
{
	const char *err;
	union msg m;

	if (f->type == WIRE_CTL_HOST)
		return msg_list_keep(f, NULL, &r->hosts);
	if (f->type == WIRE_CTL_END) {
		r->end = msg_keep(f, &err);
		if (r->end)
			return 1;
	} else if (msg_decode(f, &m, &err) == 0) {
		if (f->type == WIRE_CTL_PROGRESS) {
			output_progress(r->what, &m.ctl_progress);
			return 0;
		}
		if (fn && fn(f, &m, arg) == 0)
			return 0;
		fprintf(stderr, "bulkhead: unexpected %s frame from the controller\n",
			wire_type_name(f->type));
		return -1;
	}
	fprintf(stderr, "bulkhead: bad frame from the controller: %s\n", err);
	return -1;
}

int conn_exchange(const void *req, int len, int timeout_ms, struct reply *r, conn_frame_fn fn,
		  void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	size_t have = 0;
	int fd, rc = -1;

	r->hosts.type = WIRE_CTL_HOST;
	if (len < 0) {
		fprintf(stderr, "bulkhead: the request is too large\n");
		return 1;
	}
	if ((fd = conn_open()) < 0)
		return CLI_EXIT_UNAVAILABLE;
	if (conn_write(fd, req, (size_t)len) == 0)
		while (rc < 0) {
			struct wire_frame f;
			int n = conn_frame_read(fd, buf, &have, &f, timeout_ms);

			if (n == 0)
				fprintf(stderr, "bulkhead: the controller closed the connection\n");
			if (n <= 0 || (n = conn_frame_take(&f, r, fn, arg)) < 0)
				break;
			if (n == 1)
				rc = 0;
		}
	output_progress_clear();
	close(fd);
	if (rc == 0 && reply_end(r)->result == CTL_RESULT_DENIED) {
		/* Refused before anything was done: said the same way for every request. */
		fprintf(stderr, "bulkhead %s: %s\n", r->what ? r->what : "",
			reply_end(r)->error ? reply_end(r)->error : "permission denied");
		return CLI_EXIT_DENIED;
	}
	return rc == 0 ? 0 : 1;
}

int reply_exit(const struct msg_ctl_end *e)
{
	switch (e->result) {
	case 0: return CLI_EXIT_OK;
	case CTL_RESULT_HELD: return CLI_EXIT_HELD;
	case CTL_RESULT_DENIED: return CLI_EXIT_DENIED;
	default: return CLI_EXIT_FAILED;
	}
}

int conn_command(enum action action, const char *reason, const void *req, int len, int timeout_ms)
{
	struct reply r = {.what = action_name(action)};
	int rc = conn_exchange(req, len, timeout_ms, &r, NULL, NULL);

	if (rc == 0) {
		output_command(action, reason, &r, cli.json);
		rc = reply_exit(reply_end(&r));
	}
	reply_free(&r);
	return rc;
}

int conn_verdict(const char *prefix, const void *req, int len, int timeout_ms)
{
	struct reply r = {.what = prefix};
	int rc = conn_exchange(req, len, timeout_ms, &r, NULL, NULL);

	if (rc == 0) {
		output_verdict(prefix, reply_end(&r));
		rc = reply_exit(reply_end(&r));
	}
	reply_free(&r);
	return rc;
}
