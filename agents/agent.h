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
uint64_t agent_now_ms(void);

/* session.c */
void session_start(struct agent *a);
void session_stop(struct agent *a);
int session_send(struct agent *a, const void *frame, int len);
void session_send_ack(struct agent *a, uint32_t seq, uint32_t result, uint64_t apply_us, const char *err);

/* state.c */
int state_load(const char *dir, int *mode, uint64_t *epoch);
int state_record(const char *dir, int mode, uint64_t epoch);
int state_sync(const char *dir);

#endif
