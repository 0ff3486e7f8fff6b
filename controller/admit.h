/* Half-open agent sessions: TCP accepted, TLS handshake not finished. A
 * limit per source address and a global one, a deadline for each
 * handshake, and their refusals counted and logged in summaries. */
#ifndef BULKHEAD_ADMIT_H
#define BULKHEAD_ADMIT_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

struct admit;
struct admit_slot;

/* Called when the slot's handshake must end (its deadline passed, or a
 * newer handshake needs its place); the callee frees the session, which
 * releases the slot. */
typedef void (*admit_expire_fn)(void *owner, const char *why);

struct admit *admit_new(struct event_base *base, int max, int per_source, uint64_t deadline_ms,
			admit_expire_fn expire);
void admit_free(struct admit *a);
/* A slot for a new connection from sa, owned by owner; NULL when a limit
 * refuses it (the caller closes the connection at once). */
struct admit_slot *admit_take(struct admit *a, const struct sockaddr *sa, void *owner);
/* The handshake finished or the session ended; NULL is fine. */
void admit_release(struct admit_slot *s);
/* Whether a line about one failed handshake may be logged now: a flood of
 * them is counted and summarised instead. */
int admit_log_ok(struct admit *a);
/* Half-open sessions now, in all and from the busiest source. */
int admit_count(const struct admit *a);

#endif
