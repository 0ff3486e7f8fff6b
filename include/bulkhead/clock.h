/* One clock for every program: wall time for records and messages, the
 * monotonic clock for timers, deadlines and measured durations. */
#ifndef BULKHEAD_CLOCK_H
#define BULKHEAD_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* Unix time in milliseconds (CLOCK_REALTIME): what logs and the audit show. */
uint64_t clock_wall_ms(void);
/* CLOCK_MONOTONIC: never steps back, for deadlines and durations. */
uint64_t clock_mono_ms(void);
uint64_t clock_mono_us(void);
/* A libevent timeout of ms milliseconds. */
struct timeval clock_tv_ms(uint64_t ms);

#endif
