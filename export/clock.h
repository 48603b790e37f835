/*
 * clock.h - the core's one reading of the clocks: now in nanoseconds, and
 * "timeout_ms from now" as the absolute timespec that
 * pthread_cond_timedwait() and sem_timedwait() take.
 * Which clock is the caller's: a condition variable set to CLOCK_MONOTONIC,
 * a semaphore always CLOCK_REALTIME.
 */
#ifndef ARGUS_CLOCK_H
#define ARGUS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Now on the given clock, in nanoseconds. */
static inline uint64_t clock_now_ns(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline struct timespec clock_deadline_ms(clockid_t clock, uint32_t timeout_ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
