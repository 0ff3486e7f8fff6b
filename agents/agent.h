/* bulkhead-agent: shared state of the agent daemon and its prototypes. */
#ifndef BULKHEAD_AGENT_H
#define BULKHEAD_AGENT_H

#include <stdint.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "bulkhead/conf.h"
#include "nft.h"

struct agent {
	struct agent_conf conf;
	char name[64];
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct agent_nft *nft;
	struct nft_mgmt mgmt;

	int mode;
	uint64_t epoch;
	char hash[65];
	int persisted;   /* the recorded state matches mode/epoch */
	int sync_due;    /* fsync the record once the ack has left */

	/* tamper guard */
	int own_table;          /* ask for an owned, persistent table */
	struct nft_watch *watch;
	struct event *watch_ev, *verify_ev;
	char digest[65];        /* what the kernel held after our last change */
	int digest_due;         /* take a new digest once the ack has left */
	uint32_t tampers;       /* changes undone since start */
	char alerts[8][256];    /* not yet sent to the controller */
	int nalerts;

	/* session to the controller */
	struct bufferevent *bev;
	int established;
	int next_ctl;     /* which controller address to try next */
	int backoff_ms;
	uint64_t last_rx_ms;
	uint32_t seq;
	struct event *reconnect_ev;
	struct event *heartbeat_ev;
};

/* agent.c */
void agent_mode_set(struct agent *a, uint64_t epoch, int mode, uint32_t seq);
void agent_after_ack(struct agent *a);
uint64_t agent_now_ms(void);

/* guard.c */
int guard_start(struct agent *a);
void guard_stop(struct agent *a);
void guard_baseline(struct agent *a);

/* session.c */
void session_start(struct agent *a);
void session_stop(struct agent *a);
int session_send(struct agent *a, const void *frame, int len);
void session_send_ack(struct agent *a, uint32_t seq, uint32_t result, uint64_t apply_us, const char *err);
/* Sends the queued alerts, if there is a session. */
void session_alerts_flush(struct agent *a);

/* state.c */
int state_load(const char *dir, int *mode, uint64_t *epoch);
int state_record(const char *dir, int mode, uint64_t epoch);
int state_sync(const char *dir);

#endif
