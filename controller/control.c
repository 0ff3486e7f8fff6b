/* The control socket: the bulkhead CLI sends one request and reads frames
 * until an END frame. Who asked is taken from the peer credentials. */
#include <errno.h>
#include <inttypes.h>
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
#include "audit.h"
#include "controller.h"

struct client {
	struct ctl *ctl;
	struct bufferevent *bev;
	uid_t uid;
	pid_t pid;
	int busy;	       /* a request is being served */
	int finished;	       /* close once the output has drained */
	struct plan_rx *apply; /* a plan being received */
	struct pb_rx *pbrun;   /* a playbook run being received */
};

static void client_free(struct client *cl)
{
	plan_rx_free(cl->apply);
	playbook_rx_free(cl->pbrun);
	command_client_gone(cl->ctl, cl);
	bufferevent_free(cl->bev);
	free(cl);
}

uid_t client_uid(const struct client *cl)
{
	return cl->uid;
}

pid_t client_pid(const struct client *cl)
{
	return cl->pid;
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
		wire_put_str(&b, WA_BASE_HASH, h->digest);
		wire_put_u32(&b, WA_TAMPERS, h->tampers);
		if (h->hard)
			wire_put_u8(&b, WA_HARD, 1);
		if (h->want_epoch > h->epoch)
			wire_put_str(&b, WA_STATUS,
				     h->want_mode == MODE_ISOLATED    ? "pending-isolate"
				     : h->want_mode == MODE_SEGMENTED ? "pending-segment"
								      : "pending-open");
		else if (h->pending_confirm)
			wire_put_str(&b, WA_STATUS, "awaiting-confirmation");
		client_send(cl, buf, wire_build_end(&b));
	}
	client_end(cl, 0, NULL);
}

struct name_list {
	struct ctl *ctl;
	struct target_spec *specs;
	int n;
	const char *bad; /* first unknown or repeated name */
};

static int name_collect(const char *name, void *arg)
{
	struct name_list *l = arg;
	struct host *h = ctl_host_find(l->ctl, name);

	if (!h || l->n >= l->ctl->nhosts) {
		l->bad = name;
		return -1;
	}
	for (int i = 0; i < l->n; i++)
		if (l->specs[i].host == h) {
			l->bad = name;
			return -1;
		}
	l->specs[l->n++].host = h;
	return 0;
}

static void command_opts_fill(struct client *cl, const struct wire_frame *f, const char *action,
			      struct command_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->action = action;
	o->reason = wire_get_str(f, WA_REASON, NULL);
	o->timeout_ms = wire_get_u32(f, WA_TIMEOUT_MS, 10000);
	o->confirm_ms = wire_get_u32(f, WA_CONFIRM_MS, CTL_CONFIRM_MS_DEFAULT);
	o->manual = wire_get_u8(f, WA_MANUAL, 0);
	o->hard = wire_get_u8(f, WA_HARD, 0);
	o->no_fallback = wire_get_u8(f, WA_NO_FALLBACK, 0);
	o->uid = cl->uid;
	o->pid = cl->pid;
}

/* isolate / release: every host, or the named ones. Release returns each
 * host to the mode it had: segmented when it holds a policy, else open. */
static void client_mode_request(struct client *cl, const struct wire_frame *f)
{
	struct ctl *c = cl->ctl;
	struct name_list l = {.ctl = c, .specs = xcalloc((size_t)c->nhosts + 1, sizeof(*l.specs))};
	int isolate = f->type == WIRE_CTL_ISOLATE;
	struct command_opts o;
	char err[320];

	if (wire_get_u8(f, WA_ALL, 0)) {
		for (int i = 0; i < c->nhosts; i++)
			l.specs[l.n++].host = &c->hosts[i];
	} else if (wire_hosts_foreach(f, name_collect, &l) < 0) {
		snprintf(err, sizeof(err), "host \"%s\" is not in the inventory, or named twice",
			 l.bad);
		client_end(cl, 1, err);
		goto out;
	}
	if (l.n == 0) {
		client_end(cl, 1, "no hosts named (use --all or HOST...)");
		goto out;
	}
	for (int i = 0; i < l.n; i++)
		l.specs[i].mode = isolate			  ? MODE_ISOLATED
				  : l.specs[i].host->want_hash[0] ? MODE_SEGMENTED
								  : MODE_OPEN;
	command_opts_fill(cl, f, isolate ? "isolate" : "release", &o);
	command_start(c, cl, &o, l.specs, l.n);
out:
	free(l.specs);
}

/* confirm: every change left waiting for the operator. */
static void client_confirm_request(struct client *cl, const struct wire_frame *f)
{
	struct ctl *c = cl->ctl;
	struct target_spec *specs = xcalloc((size_t)c->nhosts + 1, sizeof(*specs));
	struct command_opts o;
	int n = 0;

	for (int i = 0; i < c->nhosts; i++) {
		struct host *h = &c->hosts[i];

		if (h->hold_confirm) {
			specs[n].host = h;
			specs[n++].mode = h->want_mode;
		}
	}
	command_opts_fill(cl, f, "confirm", &o);
	if (n == 0)
		client_end(cl, 1, "no change is waiting for confirmation");
	else
		command_start(c, cl, &o, specs, n);
	free(specs);
}

static int audit_row_send(const struct audit_row *r, void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	struct wire_builder b;

	wire_build_start(&b, buf, WIRE_CTL_AUDIT_ROW, 0);
	wire_put_u64(&b, WA_SEQ, (uint64_t)r->seq);
	wire_put_u64(&b, WA_TIME_MS, r->time_ms);
	wire_put_str(&b, WA_ACTOR, r->actor);
	wire_put_str(&b, WA_ACTION, r->action);
	wire_put_str(&b, WA_HOST, r->host);
	wire_put_str(&b, WA_REASON, r->reason);
	wire_put_str(&b, WA_RESULT_TEXT, r->result);
	wire_put_str(&b, WA_DETAIL, r->detail);
	return client_send(arg, buf, wire_build_end(&b)) < 0 ? -1 : 0;
}

static void client_audit_request(struct client *cl, const struct wire_frame *f)
{
	char err[320] = "";
	int64_t rows = 0;

	if (f->type == WIRE_CTL_AUDIT_VERIFY) {
		int ok = audit_verify(cl->ctl->db, err, sizeof(err), &rows) == 0;

		if (ok)
			snprintf(err, sizeof(err),
				 "audit log intact: %" PRId64 " rows, hash chain verified", rows);
		else
			log_warn("audit verify: %s", err);
		client_end(cl, ok ? 0 : 1, err);
		return;
	}
	audit_foreach(cl->ctl->db, wire_get_u64(f, WA_TIME_MS, 0), wire_get_str(f, WA_HOST, NULL),
		      audit_row_send, cl);
	client_end(cl, 0, NULL);
}

static void client_request(struct client *cl, const struct wire_frame *f)
{
	cl->busy = 1;
	switch (f->type) {
	case WIRE_CTL_STATUS: status_send(cl); break;
	case WIRE_CTL_ISOLATE:
	case WIRE_CTL_RELEASE: client_mode_request(cl, f); break;
	case WIRE_CTL_CONFIRM: client_confirm_request(cl, f); break;
	case WIRE_CTL_AUDIT:
	case WIRE_CTL_AUDIT_VERIFY: client_audit_request(cl, f); break;
	case WIRE_CTL_PB_RUN: cl->pbrun = playbook_rx_new(cl->ctl, f, cl->uid, cl->pid); break;
	case WIRE_CTL_PB_STATUS:
	case WIRE_CTL_PB_APPROVE:
	case WIRE_CTL_PB_ABORT:
	case WIRE_CTL_PB_RESUME: playbook_request(cl->ctl, cl, f); break;
	case WIRE_CTL_POLICIES: plan_policies_send(cl->ctl, cl); break;
	case WIRE_CTL_APPLY: {
		struct command_opts o;

		command_opts_fill(cl, f, "apply", &o);
		cl->apply = plan_rx_new(cl->ctl, &o);
		break;
	}
	default: client_end(cl, 1, "unknown request"); break;
	}
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	static char frame[WIRE_MAX_FRAME];
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct wire_frame f;
		const char *err;
		size_t len;
		int rc;

		if (cl->busy && !cl->apply && !cl->pbrun) {
			/* One request per connection; anything more is ignored. */
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		rc = wire_frame_take(in, frame, &f, &err);
		if (rc == 0)
			return;
		if (rc < 0) {
			log_warn("control client pid %d: %s", (int)cl->pid, err);
			client_free(cl);
			return;
		}
		len = f.nlh->nlmsg_len;
		if (cl->pbrun) {
			struct pb_rx *rx = cl->pbrun;

			if (f.type == WIRE_CTL_APPLY_END) {
				cl->pbrun = NULL;
				playbook_rx_finish(rx, cl);
				return;
			}
			if (playbook_rx_add(rx, frame, len, &f) < 0) {
				cl->pbrun = NULL;
				playbook_rx_fail(rx, cl);
				return;
			}
			continue;
		}
		if (!cl->apply) {
			client_request(cl, &f);
			continue;
		}
		/* The frames of a plan, up to its end. */
		if (f.type == WIRE_CTL_APPLY_END) {
			struct plan_rx *rx = cl->apply;

			cl->apply = NULL;
			plan_rx_finish(rx, cl);
			return;
		}
		if (plan_rx_add(cl->apply, frame, len, &f) < 0) {
			plan_rx_fail(cl->apply, cl);
			cl->apply = NULL;
			return;
		}
	}
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
	c->control_listener =
	    evconnlistener_new_bind(c->base, control_accept_cb, c, LEV_OPT_CLOSE_ON_FREE, 64,
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
