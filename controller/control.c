/* The control socket: the bulkhead CLI sends one request and reads frames
 * until an END frame. Who asked is taken from the peer credentials. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "bulkhead/log.h"
#include "bulkhead/wire.h"
#include "controller.h"

struct client {
	struct ctl *ctl;
	struct bufferevent *bev;
	uid_t uid;
	pid_t pid;
	int busy;     /* a request is being served */
	int finished; /* close once the output has drained */
};

static void client_free(struct client *cl)
{
	command_client_gone(cl->ctl, cl);
	bufferevent_free(cl->bev);
	free(cl);
}

int client_send(struct client *cl, const void *frame, int len)
{
	if (!cl || len < 0)
		return -1;
	return bufferevent_write(cl->bev, frame, (size_t)len);
}

void client_end(struct client *cl, uint32_t result, const char *err)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_CTL_END, 0);
	wire_put_u32(&b, WA_RESULT, result);
	if (err)
		wire_put_str(&b, WA_ERROR, err);
	client_send(cl, buf, wire_build_end(&b));
	client_finish(cl);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;

	if (cl->finished)
		client_free(cl);
}

void client_finish(struct client *cl)
{
	cl->finished = 1;
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
		client_free(cl);
}

static void status_send(struct client *cl)
{
	static char buf[WIRE_MAX_FRAME];
	struct ctl *c = cl->ctl;

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];
		struct wire_builder b;

		wire_build_start(&b, buf, WIRE_CTL_HOST, 0);
		wire_put_str(&b, WA_NAME, h->name);
		wire_put_u8(&b, WA_MODE, (uint8_t)h->mode);
		wire_put_u64(&b, WA_EPOCH, h->epoch);
		wire_put_u8(&b, WA_CONNECTED, h->conn != NULL);
		wire_put_u64(&b, WA_LAST_SEEN, h->last_seen_ms);
		wire_put_str(&b, WA_HASH, h->hash);
		wire_put_u32(&b, WA_TAMPERS, h->tampers);
		if (h->want_epoch > h->epoch)
			wire_put_str(&b, WA_STATUS, h->want_mode == MODE_ISOLATED
							    ? "pending-isolate"
							    : "pending-release");
		client_send(cl, buf, wire_build_end(&b));
	}
	client_end(cl, 0, NULL);
}

struct name_list {
	char **names;
	int n;
};

static int name_collect(const char *host, void *arg)
{
	struct name_list *l = arg;

	if (l->n >= 100000)
		return -1;
	l->names = realloc(l->names, sizeof(*l->names) * (size_t)(l->n + 1));
	if (!l->names)
		fatal("out of memory");
	l->names[l->n++] = xstrdup(host);
	return 0;
}

static void client_request(struct client *cl, const struct wire_frame *f)
{
	struct name_list l = {0};
	int mode, all;

	cl->busy = 1;
	switch (f->type) {
	case WIRE_CTL_STATUS:
		status_send(cl);
		return;
	case WIRE_CTL_ISOLATE:
	case WIRE_CTL_RELEASE:
		mode = f->type == WIRE_CTL_ISOLATE ? MODE_ISOLATED : MODE_OPEN;
		all = wire_get_u8(f, WA_ALL, 0);
		if (wire_hosts_foreach(f, name_collect, &l) < 0) {
			client_end(cl, 1, "too many hosts in one request");
			break;
		}
		if (!all && l.n == 0) {
			client_end(cl, 1, "no hosts named (use --all or HOST...)");
			break;
		}
		command_start(cl->ctl, cl, mode, all, l.names, l.n,
				  wire_get_str(f, WA_REASON, NULL), wire_get_u32(f, WA_TIMEOUT_MS, 10000),
				  cl->uid, cl->pid);
		break;
	default:
		client_end(cl, 1, "unknown request");
		break;
	}
	for (int i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	static char frame[WIRE_MAX_FRAME];
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t avail = evbuffer_get_length(in);
	struct wire_frame f;
	const char *err;
	int len;

	if (cl->busy) {
		/* One request per connection; anything more is ignored. */
		evbuffer_drain(in, avail);
		return;
	}
	if (avail < 4)
		return;
	len = wire_frame_peek_len(evbuffer_pullup(in, 4), avail);
	if (len < 0) {
		log_warn("control client pid %d: malformed frame length", (int)cl->pid);
		client_free(cl);
		return;
	}
	if ((size_t)len > avail)
		return;
	evbuffer_remove(in, frame, (size_t)len);
	if (wire_frame_decode(frame, (size_t)len, &f, &err) < 0) {
		log_warn("control client pid %d: %s", (int)cl->pid, err);
		client_free(cl);
		return;
	}
	client_request(cl, &f);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	client_free(arg);
}

static void control_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int salen, void *arg)
{
	struct ctl *c = arg;
	struct client *cl = xcalloc(1, sizeof(*cl));
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		log_warn("control socket: SO_PEERCRED: %s", strerror(errno));
		close(fd);
		free(cl);
		return;
	}
	cl->ctl = c;
	cl->uid = cred.uid;
	cl->pid = cred.pid;
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev)
		fatal("out of memory");
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

int control_listen(struct ctl *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = c->conf.control_socket;
	char dir[sizeof(sun.sun_path)];
	char *slash;
	mode_t old_umask;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control socket path too long: %s", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("%s: %s", dir, strerror(errno));
			return -1;
		}
	}
	unlink(path);
	/* Created 0660 from the start: no window in which others may connect. */
	old_umask = umask(0117);
	c->control_listener = evconnlistener_new_bind(c->base, control_accept_cb, c,
						      LEV_OPT_CLOSE_ON_FREE, 64,
						      (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (!c->control_listener) {
		log_err("control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, 0660) < 0) {
		log_err("%s: chmod: %s", path, strerror(errno));
		return -1;
	}
	if (c->conf.control_group) {
		struct group *gr = getgrnam(c->conf.control_group);

		if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			log_err("%s: cannot give the socket to group \"%s\"", path,
				c->conf.control_group);
			return -1;
		}
	}
	log_info("control socket %s", path);
	return 0;
}

void control_close(struct ctl *c)
{
	if (c->control_listener) {
		evconnlistener_free(c->control_listener);
		unlink(c->conf.control_socket);
	}
}
