/* bulkheadd's Prometheus metrics: counters kept by the event loop, copied
 * into a snapshot once a second, and served from that snapshot as text by
 * an HTTP listener with its own thread and event loop, so that a scrape
 * never runs on the loop that isolates hosts. */
#ifndef BULKHEAD_CTL_METRICS_H
#define BULKHEAD_CTL_METRICS_H

#include <stdint.h>

#include "bulkhead/names.h"

struct ctl;
struct evbuffer;
struct metrics;

/* Why an agent's session ended before it was admitted. */
enum metrics_tls_reason {
	MTLS_NO_CERT,	   /* the peer sent no certificate */
	MTLS_VERIFY,	   /* unknown CA, expired, or otherwise not verified */
	MTLS_UNKNOWN_NAME, /* verified, but its name is not an inventory host */
	MTLS_TIMEOUT,	   /* the handshake did not finish in time */
	MTLS_PROTOCOL,	   /* anything else: not TLS, a closed connection, a bad message */
	MTLS_MAX
};

#define METRICS_ACK_BUCKETS 10

/* What the loop counts; a copy of it goes into each snapshot. */
struct metrics_vals {
	uint64_t commands[ACTION_MAX + 1][2]; /* [action][0 all confirmed, 1 not] */
	uint64_t host_results[ACTION_MAX + 1][HOST_STATUS_MAX + 1];
	uint64_t alerts[ALERT_KIND_MAX + 1];
	uint64_t rollbacks;
	uint64_t fallbacks;
	uint64_t tls_failures[MTLS_MAX];
	uint64_t ack_buckets[METRICS_ACK_BUCKETS]; /* not cumulative: one count per bucket */
	uint64_t ack_count;
	uint64_t ack_sum_us;
	uint64_t last_isolate_us;
	uint64_t last_isolate_ms; /* wall clock at its end; 0: none since start */
	uint64_t plan_applied_ms; /* the last apply's end; 0: none since start */
	uint64_t events_failed;
};

/* One host, as the snapshot holds it. */
struct metrics_host {
	const char *name; /* the inventory's, alive as long as the daemon */
	enum bulkhead_mode mode, want_mode;
	int connected;
	int policy_current; /* the agent holds the policy commanded */
	uint64_t last_seen_ms;
	uint32_t tampers;
};

struct metrics_stage {
	char run[64];
	int64_t run_id;
	char stage[64];
	enum stage_state state;
};

struct metrics_snap {
	struct metrics_vals v;
	struct metrics_host *hosts;
	int nhosts;
	struct metrics_stage *stages;
	int nstages;
	int run_present;
	enum run_state run_state;
	uint64_t epoch;
};

/* Starts the listener when the configuration names metrics_listen; 0 when
 * it is off or listening, -1 (logged) when it cannot listen, and then the
 * metrics stay off. */
int metrics_start(struct ctl *c);
/* Stops the thread and frees everything; NULL is fine. */
void metrics_stop(struct metrics *m);

/* The counting points. Each accepts m NULL (metrics off) and does nothing. */
void metrics_command_done(struct metrics *m, enum action a, int all_confirmed, uint64_t elapsed_us);
void metrics_host_result(struct metrics *m, enum action a, enum host_status s);
void metrics_ack_latency(struct metrics *m, uint64_t latency_us);
void metrics_alert(struct metrics *m, enum alert_kind k);
void metrics_rollback(struct metrics *m);
void metrics_fallback(struct metrics *m);
void metrics_event_failed(struct metrics *m);
/* A session that ended before admission: classified from the OpenSSL
 * error and the bufferevent's event flags. */
void metrics_handshake_failed(struct metrics *m, unsigned long ssl_err, short what);
void metrics_tls_refused(struct metrics *m, enum metrics_tls_reason r);

/* The snapshot as Prometheus text exposition format (version 0.0.4),
 * appended to out. Apart from the listener, so that it can be tested alone. */
int metrics_render(const struct metrics_snap *s, struct evbuffer *out);
const char *metrics_tls_reason_name(enum metrics_tls_reason r);

#endif
