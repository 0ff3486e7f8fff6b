/* Half-open agent sessions (TCP accepted, TLS handshake not finished):
 * at most per_source from one address and max in all, each with a deadline
 * that a peer trickling bytes does not push back. A source at its limit has
 * its new connections closed at once, before any TLS state exists: the
 * flood costs an accept and a close. The global limit is high, for many
 * agents reconnecting at once (one connection each) must not be refused:
 * when it is reached, the oldest half-open session of the busiest source
 * makes room for a source that has none, and only when no source holds
 * two is the newcomer refused. */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bulkhead/clock.h"
#include "bulkhead/log.h"
#include "admit.h"

#define ADMIT_BUCKETS 4096
#define ADMIT_LOG_WINDOW_MS 10000
#define ADMIT_LOG_LINES 20 /* lines about single handshakes per window */

struct admit_src {
	uint8_t addr[16]; /* IPv6, or IPv4 mapped */
	int n;
	struct admit_slot *oldest, *newest;
	struct admit_src *next; /* in its bucket */
};

struct admit_slot {
	struct admit *a;
	struct admit_src *src;
	struct admit_slot *prev, *next; /* the source's, oldest first */
	struct event *deadline;
	void *owner;
};

/* What the limits did in the current log window. */
struct admit_window {
	uint64_t refused_source, refused_global, evicted, expired, unlogged;
	int lines;
	char worst[INET6_ADDRSTRLEN];
	int worst_n;
};

struct admit {
	struct event_base *base;
	int max, per_source, n;
	uint64_t deadline_ms;
	const struct timeval *deadline_tv; /* a common timeout: O(1) per handshake */
	admit_expire_fn expire;
	struct admit_src *buckets[ADMIT_BUCKETS];
	struct admit_window w;
	struct event *log_ev; /* ends the window, pending while it holds anything */
};

static void admit_addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

static void admit_addr_text(const uint8_t key[16], char *buf, size_t len)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(key, mapped, sizeof(mapped)) == 0)
		inet_ntop(AF_INET, key + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, key, buf, (socklen_t)len);
}

static unsigned admit_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % ADMIT_BUCKETS;
}

static struct admit_src **admit_src_find(struct admit *a, const uint8_t key[16])
{
	struct admit_src **pp = &a->buckets[admit_hash(key)];

	while (*pp && memcmp((*pp)->addr, key, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void admit_log_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admit *a = arg;
	struct admit_window *w = &a->w;

	(void)fd;
	(void)what;
	if (w->refused_source || w->refused_global || w->evicted || w->expired || w->unlogged)
		log_warn(
		    "agent handshakes in the last %d s: %" PRIu64 " connections closed at once "
		    "(%" PRIu64 " over handshake_per_source %d, %" PRIu64
		    " over handshake_max %d), %" PRIu64 " dropped for a newer source, %" PRIu64
		    " not finished in time, %" PRIu64 " failures not logged; busiest source %s "
		    "(%d half-open)",
		    ADMIT_LOG_WINDOW_MS / 1000, w->refused_source + w->refused_global,
		    w->refused_source, a->per_source, w->refused_global, a->max, w->evicted,
		    w->expired, w->unlogged, w->worst[0] ? w->worst : "-", w->worst_n);
	memset(w, 0, sizeof(*w));
}

/* Something to say at the end of this window: make sure the window ends. */
static void admit_window_open(struct admit *a)
{
	struct timeval tv = clock_tv_ms(ADMIT_LOG_WINDOW_MS);

	if (!evtimer_pending(a->log_ev, NULL))
		evtimer_add(a->log_ev, &tv);
}

static void admit_refused(struct admit *a, const uint8_t key[16], int n, uint64_t *counter)
{
	int first = a->w.refused_source == 0 && a->w.refused_global == 0;

	(*counter)++;
	if (n >= a->w.worst_n) {
		a->w.worst_n = n;
		admit_addr_text(key, a->w.worst, sizeof(a->w.worst));
	}
	if (first) /* the first of a window is told at once; the rest in the summary */
		log_warn("agent %s: connection closed at once: %s (%d half-open handshakes)",
			 a->w.worst,
			 counter == &a->w.refused_source ? "handshake_per_source reached"
							 : "handshake_max reached",
			 counter == &a->w.refused_source ? n : a->n);
	admit_window_open(a);
}

static void admit_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admit_slot *s = arg;
	struct admit *a = s->a;
	char why[64];

	(void)fd;
	(void)what;
	a->w.expired++;
	admit_window_open(a);
	snprintf(why, sizeof(why), "TLS handshake not finished within %" PRIu64 " s",
		 a->deadline_ms / 1000);
	a->expire(s->owner, why);
}

/* The oldest half-open session of the source holding the most, if it
 * holds two or more. */
static struct admit_slot *admit_victim(struct admit *a)
{
	struct admit_src *best = NULL;

	for (int i = 0; i < ADMIT_BUCKETS; i++)
		for (struct admit_src *s = a->buckets[i]; s; s = s->next)
			if (!best || s->n > best->n)
				best = s;
	return best && best->n >= 2 ? best->oldest : NULL;
}

struct admit *admit_new(struct event_base *base, int max, int per_source, uint64_t deadline_ms,
			admit_expire_fn expire)
{
	struct admit *a = xcalloc(1, sizeof(*a));
	struct timeval tv = clock_tv_ms(deadline_ms);

	a->base = base;
	a->max = max;
	a->per_source = per_source;
	a->deadline_ms = deadline_ms;
	a->expire = expire;
	a->deadline_tv = event_base_init_common_timeout(base, &tv);
	a->log_ev = evtimer_new(base, admit_log_cb, a);
	if (!a->deadline_tv || !a->log_ev)
		fatal("out of memory");
	return a;
}

void admit_free(struct admit *a)
{
	if (!a)
		return;
	/* Each owner frees its session, which releases the slot (and, with
	 * the last, its source). */
	for (int i = 0; i < ADMIT_BUCKETS; i++)
		while (a->buckets[i])
			a->expire(a->buckets[i]->oldest->owner, "controller shutting down");
	event_free(a->log_ev);
	free(a);
}

struct admit_slot *admit_take(struct admit *a, const struct sockaddr *sa, void *owner)
{
	struct admit_src **pp, *src;
	struct admit_slot *s;
	uint8_t key[16];
	int have;

	admit_addr_key(sa, key);
	pp = admit_src_find(a, key);
	have = *pp ? (*pp)->n : 0;
	if (have >= a->per_source) {
		admit_refused(a, key, have, &a->w.refused_source);
		return NULL;
	}
	if (a->n >= a->max) {
		struct admit_slot *victim = have == 0 ? admit_victim(a) : NULL;

		if (!victim) {
			admit_refused(a, key, have, &a->w.refused_global);
			return NULL;
		}
		a->w.evicted++;
		admit_window_open(a);
		a->expire(victim->owner, "dropped at handshake_max for a source with none");
		pp = admit_src_find(a, key); /* the victim's source may have gone */
	}
	src = *pp;
	if (!src) {
		src = xcalloc(1, sizeof(*src));
		memcpy(src->addr, key, 16);
		*pp = src;
	}
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->src = src;
	s->owner = owner;
	s->prev = src->newest;
	if (src->newest)
		src->newest->next = s;
	else
		src->oldest = s;
	src->newest = s;
	src->n++;
	a->n++;
	s->deadline = evtimer_new(a->base, admit_deadline_cb, s);
	if (!s->deadline)
		fatal("out of memory");
	evtimer_add(s->deadline, a->deadline_tv);
	return s;
}

void admit_release(struct admit_slot *s)
{
	struct admit_src *src, **pp;
	struct admit *a;

	if (!s)
		return;
	a = s->a;
	src = s->src;
	if (s->prev)
		s->prev->next = s->next;
	else
		src->oldest = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		src->newest = s->prev;
	src->n--;
	a->n--;
	event_free(s->deadline);
	free(s);
	if (src->n == 0) {
		pp = admit_src_find(a, src->addr);
		*pp = src->next;
		free(src);
	}
}

int admit_log_ok(struct admit *a)
{
	if (a->w.lines < ADMIT_LOG_LINES) {
		a->w.lines++;
		admit_window_open(a);
		return 1;
	}
	a->w.unlogged++;
	admit_window_open(a);
	return 0;
}

int admit_count(const struct admit *a)
{
	return a->n;
}
