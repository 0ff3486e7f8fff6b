/* Prometheus metrics of bulkheadd: the counting points the loop calls, the
 * snapshot it copies them into, the text renderer, and the HTTP listener
 * (GET /metrics only) that runs in a thread of its own with its own event
 * loop. The two threads share only the snapshot, under one mutex. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "controller.h"
#include "metrics.h"
#include "playbook.h"

#define METRICS_REFRESH_MS 1000
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY 1024
#define METRICS_TIMEOUT_S 10

/* A string literal appended to an evbuffer. */
#define PUT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/* Upper bounds of the ack latency histogram, in microseconds. */
static const uint64_t ack_bounds_us[METRICS_ACK_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

struct metrics {
	struct ctl *ctl;
	struct metrics_vals live; /* the loop's; only the loop touches it */
	struct event *tick;	  /* on the loop: copies live into snap */
	pthread_mutex_t mu;
	struct metrics_snap snap; /* under mu */
	int stages_cap;
	struct metrics_snap view; /* the listener's copy of snap, rendered without mu */
	int view_cap;
	/* the listener's thread */
	struct event_base *base;
	struct evhttp *http;
	struct event *stop_ev;
	int stop_fd[2];
	pthread_t thread;
	int running;
};

static const char *const tls_reason_names[MTLS_MAX] = {
    [MTLS_NO_CERT] = "no_certificate",
    [MTLS_VERIFY] = "verify_failed",
    [MTLS_UNKNOWN_NAME] = "name_not_in_inventory",
    [MTLS_TIMEOUT] = "timeout",
    [MTLS_PROTOCOL] = "protocol_error",
};

const char *metrics_tls_reason_name(enum metrics_tls_reason r)
{
	return (unsigned)r < MTLS_MAX ? tls_reason_names[r] : "unknown";
}

/* --- counting points (the loop's thread) --- */

void metrics_command_done(struct metrics *m, enum action a, int all_confirmed, uint64_t elapsed_us)
{
	if (!m || (unsigned)a > ACTION_MAX)
		return;
	m->live.commands[a][all_confirmed ? 0 : 1]++;
	if (a == ACTION_ISOLATE) {
		m->live.last_isolate_us = elapsed_us;
		m->live.last_isolate_ms = clock_wall_ms();
	} else if (a == ACTION_APPLY) {
		m->live.plan_applied_ms = clock_wall_ms();
	}
}

void metrics_host_result(struct metrics *m, enum action a, enum host_status s)
{
	if (m && (unsigned)a <= ACTION_MAX && (unsigned)s <= HOST_STATUS_MAX)
		m->live.host_results[a][s]++;
}

void metrics_ack_latency(struct metrics *m, uint64_t latency_us)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < METRICS_ACK_BUCKETS - 1 && latency_us > ack_bounds_us[i]; i++)
		;
	/* Past the last bound the sample counts only in +Inf (count). */
	if (latency_us <= ack_bounds_us[i])
		m->live.ack_buckets[i]++;
	m->live.ack_count++;
	m->live.ack_sum_us += latency_us;
}

void metrics_alert(struct metrics *m, enum alert_kind k)
{
	if (m && (unsigned)k <= ALERT_KIND_MAX)
		m->live.alerts[k]++;
}

void metrics_rollback(struct metrics *m)
{
	if (m)
		m->live.rollbacks++;
}

void metrics_fallback(struct metrics *m)
{
	if (m)
		m->live.fallbacks++;
}

void metrics_event_failed(struct metrics *m)
{
	if (m)
		m->live.events_failed++;
}

void metrics_tls_refused(struct metrics *m, enum metrics_tls_reason r)
{
	if (m && (unsigned)r < MTLS_MAX)
		m->live.tls_failures[r]++;
}

void metrics_handshake_failed(struct metrics *m, unsigned long ssl_err, short what)
{
	enum metrics_tls_reason r = MTLS_PROTOCOL;

	if (ssl_err && ERR_GET_LIB(ssl_err) == ERR_LIB_SSL) {
		switch (ERR_GET_REASON(ssl_err)) {
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: r = MTLS_NO_CERT; break;
		case SSL_R_CERTIFICATE_VERIFY_FAILED:
		case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED: r = MTLS_VERIFY; break;
		default: break;
		}
	} else if (!ssl_err && (what & BEV_EVENT_TIMEOUT)) {
		r = MTLS_TIMEOUT;
	}
	metrics_tls_refused(m, r);
}

/* --- the snapshot --- */

/* On the loop: what the listener may serve, copied under the mutex. The
 * copy is a few words per host; the text is made on the other thread. */
static void metrics_snap_take(struct metrics *m)
{
	struct ctl *c = m->ctl;
	struct metrics_snap *s = &m->snap;
	const struct pb_run *r = c->run;

	pthread_mutex_lock(&m->mu);
	s->v = m->live;
	for (int i = 0; i < c->nhosts && i < s->nhosts; i++) {
		const struct host *h = &c->hosts[i];
		struct metrics_host *mh = &s->hosts[i];

		mh->name = h->name;
		mh->mode = h->mode;
		mh->want_mode = h->want_mode;
		mh->connected = host_seen(h);
		mh->policy_current = strcmp(h->hash, h->want_hash) == 0;
		mh->last_seen_ms = h->last_seen_ms;
		mh->tampers = h->tampers;
	}
	s->run_present = r != NULL;
	s->nstages = 0;
	if (r) {
		if (r->nstages > m->stages_cap) {
			free(s->stages);
			s->stages = xcalloc((size_t)r->nstages, sizeof(*s->stages));
			m->stages_cap = r->nstages;
		}
		s->run_state = r->state;
		for (int i = 0; i < r->nstages; i++) {
			struct metrics_stage *ms = &s->stages[i];

			snprintf(ms->run, sizeof(ms->run), "%s", r->name);
			snprintf(ms->stage, sizeof(ms->stage), "%s", r->stages[i].name);
			ms->run_id = r->id;
			ms->state = r->stages[i].state;
		}
		s->nstages = r->nstages;
	}
	s->epoch = c->store ? store_epoch_current(c->store) : 0;
	pthread_mutex_unlock(&m->mu);
}

static void metrics_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	metrics_snap_take(arg);
}

/* --- the text --- */

/* A label value with \, " and newlines escaped, as the format wants. */
static void label_put(struct evbuffer *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(out, "\\%c", *v);
		else if (*v == '\n')
			PUT(out, "\\n");
		else
			evbuffer_add(out, v, 1);
	}
}

static void head_put(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void seconds_put(struct evbuffer *out, uint64_t us)
{
	evbuffer_add_printf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

static void hosts_put(const struct metrics_snap *s, struct evbuffer *out)
{
	static const char *const states[2] = {"disconnected", "connected"};
	int count[MODE_MAX + 1][2] = {{0}};

	for (int i = 0; i < s->nhosts; i++)
		if ((unsigned)s->hosts[i].mode <= MODE_MAX)
			count[s->hosts[i].mode][s->hosts[i].connected ? 1 : 0]++;
	head_put(out, "bulkhead_hosts", "gauge",
		 "Inventory hosts by the mode their agent last reported and by session state.");
	for (int md = 0; md <= MODE_MAX; md++)
		for (int st = 0; st < 2; st++)
			evbuffer_add_printf(out, "bulkhead_hosts{mode=\"%s\",state=\"%s\"} %d\n",
					    mode_name((enum bulkhead_mode)md), states[st],
					    count[md][st]);
	head_put(out, "bulkhead_host_connected", "gauge",
		 "1 while the host's agent holds a session to the controller.");
	for (int i = 0; i < s->nhosts; i++)
		evbuffer_add_printf(out, "bulkhead_host_connected{host=\"%s\"} %d\n",
				    s->hosts[i].name, s->hosts[i].connected);
	head_put(
	    out, "bulkhead_host_last_seen_timestamp_seconds", "gauge",
	    "When the host's agent was last heard from, in seconds since the epoch (0: never).");
	for (int i = 0; i < s->nhosts; i++) {
		evbuffer_add_printf(out, "bulkhead_host_last_seen_timestamp_seconds{host=\"%s\"} ",
				    s->hosts[i].name);
		seconds_put(out, s->hosts[i].last_seen_ms * 1000);
		PUT(out, "\n");
	}
	head_put(out, "bulkhead_host_mode_current", "gauge",
		 "1 when the host is in the mode last commanded, 0 while it is not.");
	for (int i = 0; i < s->nhosts; i++)
		evbuffer_add_printf(out,
				    "bulkhead_host_mode_current{host=\"%s\",mode=\"%s\","
				    "commanded=\"%s\"} %d\n",
				    s->hosts[i].name, mode_name(s->hosts[i].mode),
				    mode_name(s->hosts[i].want_mode),
				    s->hosts[i].mode == s->hosts[i].want_mode);
	head_put(out, "bulkhead_host_policy_current", "gauge",
		 "1 when the agent holds the policy last commanded, 0 while it does not.");
	for (int i = 0; i < s->nhosts; i++)
		evbuffer_add_printf(out, "bulkhead_host_policy_current{host=\"%s\"} %d\n",
				    s->hosts[i].name, s->hosts[i].policy_current);
	head_put(
	    out, "bulkhead_host_tamper_undone_total", "counter",
	    "Tampering the host's agent reported having undone, since the controller started.");
	for (int i = 0; i < s->nhosts; i++)
		evbuffer_add_printf(out,
				    "bulkhead_host_tamper_undone_total{host=\"%s\"} %" PRIu32 "\n",
				    s->hosts[i].name, s->hosts[i].tampers);
}

static void commands_put(const struct metrics_vals *v, struct evbuffer *out)
{
	static const char *const results[2] = {"confirmed", "incomplete"};

	head_put(out, "bulkhead_commands_total", "counter",
		 "Commands finished, by action and result (confirmed: every target host "
		 "confirmed).");
	for (int a = 0; a <= ACTION_MAX; a++)
		for (int r = 0; r < 2; r++)
			evbuffer_add_printf(out,
					    "bulkhead_commands_total{action=\"%s\",result=\"%s\"} "
					    "%" PRIu64 "\n",
					    action_name((enum action)a), results[r],
					    v->commands[a][r]);
	head_put(out, "bulkhead_command_host_results_total", "counter",
		 "Each target host's result in finished commands, by action and status.");
	for (int a = 0; a <= ACTION_MAX; a++)
		for (int st = HOST_NONE + 1; st <= HOST_STATUS_MAX; st++)
			if (v->host_results[a][st])
				evbuffer_add_printf(
				    out,
				    "bulkhead_command_host_results_total{action=\"%s\","
				    "status=\"%s\"} %" PRIu64 "\n",
				    action_name((enum action)a),
				    host_status_name((enum host_status)st), v->host_results[a][st]);
	head_put(out, "bulkhead_last_isolate_duration_seconds", "gauge",
		 "How long the last isolation took, from the command to its last answer.");
	PUT(out, "bulkhead_last_isolate_duration_seconds ");
	seconds_put(out, v->last_isolate_us);
	PUT(out, "\n");
	head_put(
	    out, "bulkhead_last_isolate_timestamp_seconds", "gauge",
	    "When the last isolation finished, in seconds since the epoch (0: none since start).");
	PUT(out, "bulkhead_last_isolate_timestamp_seconds ");
	seconds_put(out, v->last_isolate_ms * 1000);
	PUT(out, "\n");
	head_put(out, "bulkhead_plan_applied_timestamp_seconds", "gauge",
		 "When the last plan apply finished, in seconds since the epoch (0: none since "
		 "start).");
	PUT(out, "bulkhead_plan_applied_timestamp_seconds ");
	seconds_put(out, v->plan_applied_ms * 1000);
	PUT(out, "\n");
}

static void acks_put(const struct metrics_vals *v, struct evbuffer *out)
{
	uint64_t cum = 0;

	head_put(out, "bulkhead_ack_latency_seconds", "histogram",
		 "Time from a command to each host's answer.");
	for (int i = 0; i < METRICS_ACK_BUCKETS; i++) {
		cum += v->ack_buckets[i];
		PUT(out, "bulkhead_ack_latency_seconds_bucket{le=\"");
		seconds_put(out, ack_bounds_us[i]);
		evbuffer_add_printf(out, "\"} %" PRIu64 "\n", cum);
	}
	evbuffer_add_printf(out, "bulkhead_ack_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
			    v->ack_count);
	PUT(out, "bulkhead_ack_latency_seconds_sum ");
	seconds_put(out, v->ack_sum_us);
	evbuffer_add_printf(out, "\nbulkhead_ack_latency_seconds_count %" PRIu64 "\n",
			    v->ack_count);
}

static void alerts_put(const struct metrics_vals *v, struct evbuffer *out)
{
	head_put(out, "bulkhead_alerts_total", "counter", "Alerts agents raised, by kind.");
	for (int k = 0; k <= ALERT_KIND_MAX; k++)
		evbuffer_add_printf(out, "bulkhead_alerts_total{kind=\"%s\"} %" PRIu64 "\n",
				    alert_kind_name((enum alert_kind)k), v->alerts[k]);
	head_put(out, "bulkhead_tamper_alerts_total", "counter",
		 "Tampering with an agent's nftables tables, reported and undone by the agent.");
	evbuffer_add_printf(out, "bulkhead_tamper_alerts_total %" PRIu64 "\n",
			    v->alerts[ALERT_TAMPER]);
	head_put(out, "bulkhead_rollbacks_total", "counter",
		 "Changes that agents rolled back because they were not confirmed in time.");
	evbuffer_add_printf(out, "bulkhead_rollbacks_total %" PRIu64 "\n", v->rollbacks);
	head_put(out, "bulkhead_switch_fallbacks_total", "counter",
		 "Silent hosts the controller asked a switch to isolate at their port.");
	evbuffer_add_printf(out, "bulkhead_switch_fallbacks_total %" PRIu64 "\n", v->fallbacks);
	head_put(out, "bulkhead_tls_handshake_failures_total", "counter",
		 "Agent sessions refused before admission, by reason.");
	for (int r = 0; r < MTLS_MAX; r++)
		evbuffer_add_printf(
		    out, "bulkhead_tls_handshake_failures_total{reason=\"%s\"} %" PRIu64 "\n",
		    tls_reason_names[r], v->tls_failures[r]);
	head_put(out, "bulkhead_events_failed_total", "counter",
		 "Events that could not be delivered to events_exec, events_file or syslog.");
	evbuffer_add_printf(out, "bulkhead_events_failed_total %" PRIu64 "\n", v->events_failed);
}

static void stages_put(const struct metrics_snap *s, struct evbuffer *out)
{
	head_put(out, "bulkhead_playbook_run_state", "gauge",
		 "1 for the state of the current (or last halted) playbook run.");
	if (s->run_present && s->nstages > 0) {
		for (int st = 0; st <= RUN_STATE_MAX; st++) {
			PUT(out, "bulkhead_playbook_run_state{playbook=\"");
			label_put(out, s->stages[0].run);
			evbuffer_add_printf(out, "\",run=\"%" PRId64 "\",state=\"%s\"} %d\n",
					    s->stages[0].run_id, run_state_name((enum run_state)st),
					    s->run_state == (enum run_state)st);
		}
	}
	head_put(out, "bulkhead_playbook_stage_state", "gauge",
		 "1 for the state each stage of the current playbook run is in, 0 for the others.");
	for (int i = 0; i < s->nstages; i++) {
		const struct metrics_stage *ms = &s->stages[i];

		for (int st = 0; st <= STAGE_STATE_MAX; st++) {
			PUT(out, "bulkhead_playbook_stage_state{playbook=\"");
			label_put(out, ms->run);
			evbuffer_add_printf(out, "\",run=\"%" PRId64 "\",stage=\"", ms->run_id);
			label_put(out, ms->stage);
			evbuffer_add_printf(out, "\",state=\"%s\"} %d\n",
					    stage_state_name((enum stage_state)st),
					    ms->state == (enum stage_state)st);
		}
	}
}

int metrics_render(const struct metrics_snap *s, struct evbuffer *out)
{
	hosts_put(s, out);
	commands_put(&s->v, out);
	acks_put(&s->v, out);
	alerts_put(&s->v, out);
	stages_put(s, out);
	head_put(out, "bulkhead_epoch", "gauge", "The controller's current epoch.");
	evbuffer_add_printf(out, "bulkhead_epoch %" PRIu64 "\n", s->epoch);
	return 0;
}

/* --- the listener's thread --- */

/* On the listener's thread: the snapshot copied out, so that the loop
 * never waits for a render, only for a copy. */
static void metrics_view_take(struct metrics *m)
{
	struct metrics_snap *v = &m->view;
	struct metrics_host *hosts = v->hosts;
	struct metrics_stage *stages = v->stages;

	pthread_mutex_lock(&m->mu);
	if (m->snap.nstages > m->view_cap) {
		free(stages);
		stages = xcalloc((size_t)m->snap.nstages, sizeof(*stages));
		m->view_cap = m->snap.nstages;
	}
	*v = m->snap;
	v->hosts = hosts;
	v->stages = stages;
	memcpy(hosts, m->snap.hosts, (size_t)m->snap.nhosts * sizeof(*hosts));
	if (m->snap.nstages)
		memcpy(stages, m->snap.stages, (size_t)m->snap.nstages * sizeof(*stages));
	pthread_mutex_unlock(&m->mu);
}

static void metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *body;

	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		evhttp_send_error(req, HTTP_BADMETHOD, NULL);
		return;
	}
	body = evbuffer_new();
	if (!body) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_view_take(m);
	metrics_render(&m->view, body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void metrics_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;

	event_base_dispatch(m->base);
	return NULL;
}

int metrics_start(struct ctl *c)
{
	struct timeval tv = clock_tv_ms(METRICS_REFRESH_MS);
	struct metrics *m;
	char addr[64];
	uint16_t port;
	sigset_t all, old;
	int rc;

	if (c->conf.metrics_listen[0] == '\0')
		return 0;
	if (conf_hostport_split(c->conf.metrics_listen, addr, sizeof(addr), &port) < 0) {
		log_err("metrics_listen \"%s\": expected ADDRESS:PORT", c->conf.metrics_listen);
		return -1;
	}
	m = xcalloc(1, sizeof(*m));
	m->ctl = c;
	m->stop_fd[0] = m->stop_fd[1] = -1;
	pthread_mutex_init(&m->mu, NULL);
	m->snap.hosts = xcalloc((size_t)c->nhosts + 1, sizeof(*m->snap.hosts));
	m->snap.nhosts = c->nhosts;
	m->view.hosts = xcalloc((size_t)c->nhosts + 1, sizeof(*m->view.hosts));
	m->base = event_base_new();
	m->http = m->base ? evhttp_new(m->base) : NULL;
	if (!m->http || pipe2(m->stop_fd, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal("metrics: out of memory");
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_gencb(m->http, metrics_request_cb, m);
	if (evhttp_bind_socket(m->http, addr, port) < 0) {
		log_err("metrics_listen %s: cannot listen: %s; metrics are off",
			c->conf.metrics_listen, strerror(errno));
		metrics_stop(m);
		return -1;
	}
	m->stop_ev = event_new(m->base, m->stop_fd[0], EV_READ, metrics_stop_cb, m->base);
	m->tick = event_new(c->base, -1, EV_PERSIST, metrics_tick_cb, m);
	if (!m->stop_ev || !m->tick)
		fatal("metrics: out of memory");
	event_add(m->stop_ev, NULL);
	metrics_snap_take(m);
	/* The thread takes no signals: they are the loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&m->thread, NULL, metrics_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_err("metrics: cannot start its thread: %s; metrics are off", strerror(rc));
		metrics_stop(m);
		return -1;
	}
	m->running = 1;
	event_add(m->tick, &tv);
	c->metrics = m;
	log_info("serving metrics on http://%s/metrics", c->conf.metrics_listen);
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	if (m->running) {
		if (write(m->stop_fd[1], "x", 1) < 0)
			log_warn("metrics: cannot stop its thread: %s", strerror(errno));
		pthread_join(m->thread, NULL);
	}
	if (m->tick)
		event_free(m->tick);
	if (m->stop_ev)
		event_free(m->stop_ev);
	if (m->http)
		evhttp_free(m->http);
	if (m->base)
		event_base_free(m->base);
	for (int i = 0; i < 2; i++)
		if (m->stop_fd[i] >= 0)
			close(m->stop_fd[i]);
	pthread_mutex_destroy(&m->mu);
	free(m->snap.hosts);
	free(m->snap.stages);
	free(m->view.hosts);
	free(m->view.stages);
	free(m);
}
