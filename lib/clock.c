/* The clocks, read one way everywhere. */
#include <time.h>

#include "bulkhead/clock.h"

static uint64_t clock_read_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clock_wall_ms(void)
{
	return clock_read_us(CLOCK_REALTIME) / 1000u;
}

uint64_t clock_mono_ms(void)
{
	return clock_read_us(CLOCK_MONOTONIC) / 1000u;
}

uint64_t clock_mono_us(void)
{
	return clock_read_us(CLOCK_MONOTONIC);
}

struct timeval clock_tv_ms(uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

	return tv;
}
