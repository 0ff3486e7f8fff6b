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
#include "store.h"

struct client {
	struct ctl *ctl;
	struct bufferevent *bev;
	uid_t uid;
	pid_t pid;
	enum access_role role; /* what its groups grant */
	int busy;	       /* a request is being served */
	int finished;	       /* close once the output has drained */
	void *body;	       /* a plan or a playbook run being received */
	const struct body_ops *body_ops;
};

static void client_free(struct client *cl)
{
	if (cl->body)
		cl->body_ops->free(cl->body);
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

enum access_role client_role(const struct client *cl)
{
	return cl->role;
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
	struct msg_ctl_end m = {.result = result, .error = err};

	client_send(cl, buf, msg_ctl_end_encode(buf, 0, &m));
	client_finish(cl);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;

	if (cl->finished)
		client_free(cl);
}

int client_pending(const struct client *cl)
{
	return evbuffer_get_length(bufferevent_get_output(cl->bev)) > 0;
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
		struct msg_ctl_host m = {
		    .name = h->name,
		    .status = host_pending(h),
		    .mode = h->mode,
		    .epoch = h->epoch,
		    .hash = h->hash,
		    .digest = h->digest,
		    .connected = host_seen(h),
		    .controller = host_controller(c, h),
		    .last_seen_ms = h->last_seen_ms,
		    .persisted = -1,
		    .tampers = h->tampers,
		    .hard = h->hard,
		};

		client_send(cl, buf, msg_ctl_host_encode(buf, 0, &m));
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

static void command_opts_init(struct client *cl, enum action action, struct command_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->action = action;
	o->confirm_ms = CTL_CONFIRM_MS_DEFAULT;
	o->uid = cl->uid;
	o->pid = cl->pid;
}

/* isolate / release: every host, or the named ones. Release returns each
 * host to the mode it had: segmented when it holds a policy, else open. */
static void client_mode_request(struct client *cl, const struct msg_ctl_mode *m)
{
	struct ctl *c = cl->ctl;
	struct name_list l = {.ctl = c, .specs = xcalloc((size_t)c->nhosts + 1, sizeof(*l.specs))};
	struct command_opts o;
	char err[320];

	if (m->all) {
		for (int i = 0; i < c->nhosts; i++)
			l.specs[l.n++].host = &c->hosts[i];
	} else if (msg_strs_foreach(&m->hosts, name_collect, &l) < 0) {
		snprintf(err, sizeof(err),
			 "host \"%s\" is not in the inventory, or named twice; "
			 "`bulkhead status` lists the inventory's hosts",
			 l.bad);
		client_end(cl, 1, err);
		goto out;
	}
	if (l.n == 0) {
		client_end(cl, 1, "no hosts named (use --all or HOST...)");
		goto out;
	}
	for (int i = 0; i < l.n; i++)
		l.specs[i].mode = !m->release			  ? MODE_ISOLATED
				  : l.specs[i].host->want_hash[0] ? MODE_SEGMENTED
								  : MODE_OPEN;
	command_opts_init(cl, m->release ? ACTION_RELEASE : ACTION_ISOLATE, &o);
	o.reason = m->reason;
	o.timeout_ms = m->timeout_ms;
	o.confirm_ms = m->confirm_ms;
	o.hard = m->hard;
	o.no_fallback = m->no_fallback;
	command_start(c, cl, &o, l.specs, l.n);
out:
	free(l.specs);
}

/* confirm: every change left waiting for the operator. */
static void client_confirm_request(struct client *cl, const struct msg_ctl_confirm *m)
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
	command_opts_init(cl, ACTION_CONFIRM, &o);
	o.timeout_ms = m->timeout_ms;
	if (n == 0)
		client_end(cl, 1,
			   "no change is waiting for confirmation; `bulkhead status` shows each "
			   "host's state");
	else
		command_start(c, cl, &o, specs, n);
	free(specs);
}

static int audit_row_send(const struct audit_row *r, void *arg)
{
	static char buf[WIRE_MAX_FRAME];
	struct msg_audit_row m = {(uint64_t)r->seq, r->time_ms, r->actor,  r->action,
				  r->host,	    r->reason,	r->result, r->detail};

	return client_send(arg, buf, msg_audit_row_encode(buf, 0, &m)) < 0 ? -1 : 0;
}

static void client_audit_verify(struct client *cl)
{
	char err[320] = "";
	int64_t rows = 0;
	int ok = audit_verify(cl->ctl->store, err, sizeof(err), &rows) == 0;

	if (ok)
		snprintf(err, sizeof(err),
			 "audit log intact: %" PRId64 " rows, hash chain verified", rows);
	else
		log_warn("audit verify: %s", err);
	client_end(cl, ok ? 0 : 1, err);
}

/* reload: the TLS files and the revocation list, as SIGHUP does. */
static void client_reload_request(struct client *cl)
{
	char actor[128], msg[512];
	int rc;

	ctl_actor(cl->uid, cl->pid, actor, sizeof(actor));
	rc = ctl_reload(cl->ctl, actor, msg, sizeof(msg));
	client_end(cl, rc < 0 ? 1 : 0, msg);
}

/* One request, decoded by its kind. */
static void client_request(struct client *cl, const struct wire_frame *f)
{
	const char *err;
	union msg m;
	char why[200];

	cl->busy = 1;
	if (msg_decode(f, &m, &err) < 0) {
		log_warn("control client pid %d: %s", (int)cl->pid, err);
		snprintf(why, sizeof(why), "malformed request: %s", err);
		client_end(cl, 1, why);
		return;
	}
	if (access_check(cl->ctl, cl, f->type) < 0)
		return;
	switch (f->type) {
	case WIRE_CTL_STATUS: status_send(cl); break;
	case WIRE_CTL_ISOLATE:
	case WIRE_CTL_RELEASE: client_mode_request(cl, &m.ctl_mode); break;
	case WIRE_CTL_CONFIRM: client_confirm_request(cl, &m.ctl_confirm); break;
	case WIRE_CTL_AUDIT:
		store_audit_foreach(cl->ctl->store, m.ctl_audit.since_ms, m.ctl_audit.host,
				    audit_row_send, cl);
		client_end(cl, 0, NULL);
		break;
	case WIRE_CTL_AUDIT_VERIFY: client_audit_verify(cl); break;
	case WIRE_CTL_PB_RUN:
		cl->body = playbook_rx_new(cl->ctl, &m.ctl_pb_run, cl->uid, cl->pid);
		cl->body_ops = &playbook_body_ops;
		break;
	case WIRE_CTL_PB_STATUS:
	case WIRE_CTL_PB_APPROVE:
	case WIRE_CTL_PB_ABORT:
	case WIRE_CTL_PB_RESUME: playbook_request(cl->ctl, cl, f); break;
	case WIRE_CTL_POLICIES: plan_policies_send(cl->ctl, cl); break;
	case WIRE_CTL_RELOAD: client_reload_request(cl); break;
	case WIRE_CTL_APPLY: {
		struct command_opts o;

		command_opts_init(cl, ACTION_APPLY, &o);
		o.reason = m.ctl_apply.reason;
		o.timeout_ms = m.ctl_apply.timeout_ms;
		o.confirm_ms = m.ctl_apply.confirm_ms;
		o.manual = m.ctl_apply.manual;
		cl->body = plan_rx_new(cl->ctl, &o);
		cl->body_ops = &plan_body_ops;
		break;
	}
	case WIRE_CTL_APPROVE: access_approve(cl->ctl, cl, m.ctl_approve.id); break;
	default: client_end(cl, 1, "unknown request"); break;
	}
}

/* One frame: the request, or the next frame of a plan or a run being
 * received. 1 when the client is done with (answered or freed). */
static int client_frame_cb(const void *frame, size_t len, const struct wire_frame *f, void *arg)
{
	struct client *cl = arg;

	if (cl->body) {
		void *rx = cl->body;

		if (f->type == WIRE_CTL_APPLY_END) {
			cl->body = NULL;
			cl->body_ops->finish(rx, cl);
			return 1;
		}
		if (cl->body_ops->add(rx, frame, len, f) < 0) {
			cl->body = NULL;
			cl->body_ops->fail(rx, cl);
			return 1;
		}
		return 0;
	}
	if (cl->busy)
		return 1;
	client_request(cl, f);
	/* One request per connection; a plan or a run goes on. */
	return cl->body == NULL;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *err;

	if (cl->busy && !cl->body) {
		/* One request per connection; anything more is ignored. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (wire_frames_read(in, client_frame_cb, cl, &err) < 0) {
		log_warn("control client pid %d: %s", (int)cl->pid, err);
		client_free(cl);
	}
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	client_free(arg);
}

/* The groups the peer's process held when it connected: its own and its
 * supplementary ones, as the kernel recorded them. -1 when unknown. */
static int peer_groups(int fd, gid_t gid, gid_t *groups, int max)
{
	socklen_t len = (socklen_t)((size_t)(max - 1) * sizeof(gid_t));

	groups[0] = gid;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups + 1, &len) < 0)
		return -1;
	return 1 + (int)(len / sizeof(gid_t));
}

static void control_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int salen, void *arg)
{
	struct ctl *c = arg;
	struct client *cl = xcalloc(1, sizeof(*cl));
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	gid_t groups[256];
	int ngroups;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		log_warn("control socket: SO_PEERCRED: %s", strerror(errno));
		close(fd);
		free(cl);
		return;
	}
	if ((ngroups = peer_groups(fd, cred.gid, groups, 256)) < 0) {
		log_warn("control socket: SO_PEERGROUPS: %s; pid %d gets only its own group's "
			 "role",
			 strerror(errno), (int)cred.pid);
		ngroups = 1;
	}
	cl->ctl = c;
	cl->uid = cred.uid;
	cl->pid = cred.pid;
	cl->role = access_role_of(&c->conf.access, cred.uid, groups, ngroups);
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
