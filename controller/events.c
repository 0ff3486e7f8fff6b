/* Events for other systems. An event is one JSON object on one line; it is
 * appended to events_file, logged to syslog, and given to a run of
 * events_exec on its stdin. The program runs in the background: at most
 * EVENTS_EXEC_MAX at once, the rest queued (up to EVENTS_QUEUE_MAX, then
 * dropped), each killed after EVENTS_EXEC_TIMEOUT_MS. Nothing here waits
 * for a program, and no failure here is fatal. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <event2/event.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "controller.h"
#include "events.h"
#include "metrics.h"

#define EVENTS_EXEC_MAX 4
#define EVENTS_QUEUE_MAX 256
#define EVENTS_EXEC_TIMEOUT_MS 10000
#define EVENT_MAX 4096 /* one event's JSON, far below a socket's buffer: sent at once */

struct ev_child {
	struct events *e;
	pid_t pid; /* 0: the slot is free */
	struct event *timer;
};

struct ev_queued {
	struct ev_queued *next;
	size_t len;
	char json[];
};

struct events {
	struct ctl *ctl;
	const char *file; /* events_file, opened for each event: a rotated file is followed */
	int syslog;
	const char *exec;
	struct ev_child kids[EVENTS_EXEC_MAX];
	int nkids;
	struct event *sigchld;
	struct ev_queued *head, **tail;
	int nqueued;
	uint64_t dropped;
};

/* --- JSON --- */

struct jbuf {
	char b[EVENT_MAX];
	size_t n;
	int full;
};

static void jb_raw(struct jbuf *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jb_raw(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (j->full)
		return;
	va_start(ap, fmt);
	w = vsnprintf(j->b + j->n, sizeof(j->b) - j->n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof(j->b) - j->n)
		j->full = 1;
	else
		j->n += (size_t)w;
}

/* ,"key":"value" with the value escaped as JSON wants (control bytes as \u00XX). */
static void jb_str(struct jbuf *j, const char *key, const char *v)
{
	jb_raw(j, ",\"%s\":\"", key);
	for (; v && *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch == '"' || ch == '\\')
			jb_raw(j, "\\%c", ch);
		else if (ch < 0x20)
			jb_raw(j, "\\u%04x", ch);
		else
			jb_raw(j, "%c", ch);
	}
	jb_raw(j, "\"");
}

/* {"time":"...","event":"KIND" */
static void jb_start(struct jbuf *j, const char *kind)
{
	uint64_t ms = clock_wall_ms();
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char stamp[32];

	gmtime_r(&s, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	jb_raw(j, "{\"time\":\"%s.%03uZ\",\"event\":\"%s\"", stamp, (unsigned)(ms % 1000), kind);
}

/* --- the program --- */

static void events_exec_next(struct events *e);

static void child_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ev_child *k = arg;

	if (k->pid > 0) {
		log_warn("events_exec %s (pid %d): still running after %d ms, killed", k->e->exec,
			 (int)k->pid, EVENTS_EXEC_TIMEOUT_MS);
		kill(k->pid, SIGKILL);
	}
}

/* Reaps our own children only: the controller starts no others, but
 * waitpid(-1) would take what is not ours. */
static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	struct events *e = arg;
	int st;

	for (int i = 0; i < EVENTS_EXEC_MAX; i++) {
		struct ev_child *k = &e->kids[i];

		if (k->pid <= 0 || waitpid(k->pid, &st, WNOHANG) != k->pid)
			continue;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (WIFSIGNALED(st))
				log_warn("events_exec %s (pid %d): killed by signal %d", e->exec,
					 (int)k->pid, WTERMSIG(st));
			else
				log_warn("events_exec %s (pid %d): exit status %d", e->exec,
					 (int)k->pid, WEXITSTATUS(st));
			metrics_event_failed(e->ctl->metrics);
		}
		evtimer_del(k->timer);
		k->pid = 0;
		e->nkids--;
	}
	events_exec_next(e);
}

/* Starts the program on one event; -1 (logged) when it could not. */
static int events_exec_run(struct events *e, struct ev_child *k, const char *json, size_t len)
{
	struct timeval tv = clock_tv_ms(EVENTS_EXEC_TIMEOUT_MS);
	int p[2];
	pid_t pid;
	ssize_t w;

	/* A socket, not a pipe: send() with MSG_NOSIGNAL, so that a program
	 * that exits without reading is no SIGPIPE, whatever its disposition. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) {
		log_warn("events_exec: socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("events_exec: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here: the parent has threads. */
		int null = open("/dev/null", O_WRONLY);

		if (dup2(p[0], 0) < 0 || null < 0 || dup2(null, 1) < 0)
			_exit(126);
		/* Not the agents' sessions, nor anything else of the daemon's. */
		close_range(3, ~0U, 0);
		execl(e->exec, e->exec, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/* An event is smaller than the socket's buffer: one send never blocks. */
	w = send(p[1], json, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w != (ssize_t)len)
		log_warn("events_exec %s (pid %d): the event was not written: %s", e->exec,
			 (int)pid, w < 0 ? strerror(errno) : "short write");
	close(p[1]);
	k->pid = pid;
	evtimer_add(k->timer, &tv);
	e->nkids++;
	return 0;
}

static void events_exec_next(struct events *e)
{
	while (e->head && e->nkids < EVENTS_EXEC_MAX) {
		struct ev_queued *q = e->head;
		struct ev_child *k = NULL;

		for (int i = 0; i < EVENTS_EXEC_MAX && !k; i++)
			if (e->kids[i].pid == 0)
				k = &e->kids[i];
		if (!k)
			break;
		e->head = q->next;
		if (!e->head)
			e->tail = &e->head;
		e->nqueued--;
		if (events_exec_run(e, k, q->json, q->len) < 0)
			metrics_event_failed(e->ctl->metrics);
		free(q);
	}
}

static void events_exec_queue(struct events *e, const char *json, size_t len)
{
	struct ev_queued *q;

	if (e->nqueued >= EVENTS_QUEUE_MAX) {
		/* A flood of events must not become a flood of log lines too. */
		if (e->dropped++ % 100 == 0)
			log_warn("events_exec: %d events wait already; %" PRIu64 " dropped so far",
				 e->nqueued, e->dropped);
		metrics_event_failed(e->ctl->metrics);
		return;
	}
	q = xcalloc(1, sizeof(*q) + len);
	memcpy(q->json, json, len);
	q->len = len;
	*e->tail = q;
	e->tail = &q->next;
	e->nqueued++;
	events_exec_next(e);
}

/* --- one event, to every sink --- */

/* One write with O_APPEND: lines of concurrent writers do not interleave. */
static int events_file_append(const char *path, const char *line, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640), err;
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, line, len);
	err = errno;
	close(fd);
	errno = w < 0 ? err : EIO;
	return w == (ssize_t)len ? 0 : -1;
}

static void events_emit(struct events *e, struct jbuf *j)
{
	if (j->full) {
		/* Cut short: still one valid object, saying so. */
		j->n = 0;
		j->full = 0;
		jb_start(j, "truncated");
	}
	jb_raw(j, "}\n");
	if (e->file && events_file_append(e->file, j->b, j->n) < 0) {
		log_warn("events_file %s: %s", e->file, strerror(errno));
		metrics_event_failed(e->ctl->metrics);
	}
	if (e->syslog)
		syslog(LOG_NOTICE, "%.*s", (int)j->n - 1, j->b);
	if (e->exec)
		events_exec_queue(e, j->b, j->n);
}

void events_command(struct events *e, enum action a, uint64_t epoch, int64_t id, const int *counts,
		    int total, uint64_t elapsed_us)
{
	struct jbuf j = {0};
	const char *sep = "";

	if (!e)
		return;
	jb_start(&j, "command");
	jb_str(&j, "action", action_name(a));
	jb_raw(&j, ",\"epoch\":%" PRIu64 ",\"command_id\":%" PRId64 ",\"hosts\":%d", epoch, id,
	       total);
	jb_raw(&j, ",\"elapsed_ms\":%.3f,\"results\":{", (double)elapsed_us / 1000.0);
	for (int s = HOST_NONE + 1; s <= HOST_STATUS_MAX; s++) {
		if (!counts[s])
			continue;
		jb_raw(&j, "%s\"%s\":%d", sep, host_status_name((enum host_status)s), counts[s]);
		sep = ",";
	}
	jb_raw(&j, "}");
	events_emit(e, &j);
}

void events_alert(struct events *e, const char *host, enum alert_kind k, const char *text)
{
	struct jbuf j = {0};

	if (!e)
		return;
	jb_start(&j, "alert");
	jb_str(&j, "host", host);
	jb_str(&j, "kind", alert_kind_name(k));
	jb_str(&j, "text", text);
	events_emit(e, &j);
}

void events_stage(struct events *e, const char *playbook, int64_t run, int index, const char *stage,
		  enum stage_state st)
{
	struct jbuf j = {0};

	if (!e)
		return;
	jb_start(&j, "stage");
	jb_str(&j, "playbook", playbook);
	jb_raw(&j, ",\"run\":%" PRId64 ",\"index\":%d", run, index + 1);
	jb_str(&j, "stage", stage);
	jb_str(&j, "state", stage_state_name(st));
	events_emit(e, &j);
}

/* --- start and stop --- */

int events_start(struct ctl *c)
{
	const struct ctl_conf *cf = &c->conf;
	struct events *e;

	if (!cf->events_exec && !cf->events_file && !cf->events_syslog)
		return 0;
	if (cf->events_file) {
		int fd = open(cf->events_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

		/* Tried again at each event, each failure counted: the
		 * directory may come later, and an alert is better than silence. */
		if (fd < 0)
			log_err("events_file %s: %s", cf->events_file, strerror(errno));
		else
			close(fd);
	}
	e = xcalloc(1, sizeof(*e));
	e->ctl = c;
	e->file = cf->events_file;
	e->tail = &e->head;
	if (cf->events_syslog) {
		e->syslog = 1;
		openlog("bulkheadd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
	if (cf->events_exec) {
		if (access(cf->events_exec, X_OK) < 0)
			log_warn("events_exec %s: %s; events will fail until it is there",
				 cf->events_exec, strerror(errno));
		e->exec = cf->events_exec;
		for (int i = 0; i < EVENTS_EXEC_MAX; i++) {
			e->kids[i].e = e;
			e->kids[i].timer = evtimer_new(c->base, child_timeout_cb, &e->kids[i]);
			if (!e->kids[i].timer)
				fatal("out of memory");
		}
		e->sigchld = evsignal_new(c->base, SIGCHLD, sigchld_cb, e);
		if (!e->sigchld || evsignal_add(e->sigchld, NULL) < 0)
			fatal("events: cannot watch SIGCHLD");
	}
	c->events = e;
	return 0;
}

void events_stop(struct events *e)
{
	if (!e)
		return;
	for (int i = 0; i < EVENTS_EXEC_MAX; i++) {
		struct ev_child *k = &e->kids[i];

		if (k->pid > 0) {
			kill(k->pid, SIGKILL);
			waitpid(k->pid, NULL, 0);
		}
		if (k->timer)
			event_free(k->timer);
	}
	if (e->sigchld)
		event_free(e->sigchld);
	while (e->head) {
		struct ev_queued *q = e->head;

		e->head = q->next;
		free(q);
	}
	if (e->syslog)
		closelog();
	free(e);
}
