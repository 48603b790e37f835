/*
 * spans.c - span building helpers, ids, the sampler, and the bounded queue.
 *
 * The queue is a fixed array of span slots used as a ring, guarded by one
 * mutex. A push is a memcpy of one struct span (a few KiB) under that mutex,
 * so a producer waits at most for another producer's copy or for the
 * exporter's pop of one batch, never for network I/O: the exporter pops into
 * its own buffer and encodes after releasing the lock. A condition variable
 * wakes the exporter early when a full batch is waiting (the batch span
 * processor's "export when max_export_batch_size is reached").
 */
#include "spans.h"

#include "clock.h"
#include "text.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- building ------------------------------------------------------------ */

void span_init(struct span *s, const char *name, enum span_kind kind, uint64_t start_unix_ns)
{
    memset(s, 0, offsetof(struct span, pool));
    text_copy(s->name, sizeof(s->name), name);
    s->kind = kind;
    s->start_unix_ns = start_unix_ns;
    s->end_unix_ns = start_unix_ns;
    span_new_span_id(s->span_id);
}

/* Finds key in attrs or appends a slot for it; NULL when full (counted). */
static struct span_attr *attr_slot(struct span_attr *attrs, unsigned *n, unsigned cap,
                                   uint32_t *dropped, const char *key)
{
    for (unsigned i = 0; i < *n; i++) {
        if (strcmp(attrs[i].key, key) == 0)
            return &attrs[i];
    }
    if (*n == cap) {
        (*dropped)++;
        return NULL;
    }
    attrs[*n].key = key;
    return &attrs[(*n)++];
}

/* Stores value in the span's pool as valid, bounded UTF-8 (text.h): span
 * attributes carry wire strings (routes, command names, close reasons). */
static int set_str(struct span *s, struct span_attr *a, const char *value)
{
    char clean[SPAN_STR_MAX];
    size_t len = text_copy(clean, sizeof(clean), value);
    if ((size_t)(SPAN_POOL_BYTES - s->pool_used) < len) {
        a->type = SPAN_ATTR_STRING;
        a->v.str.off = 0;
        a->v.str.len = 0;
        return -ENOSPC;
    }
    memcpy(s->pool + s->pool_used, clean, len);
    a->type = SPAN_ATTR_STRING;
    a->v.str.off = s->pool_used;
    a->v.str.len = (uint16_t)len;
    s->pool_used += (uint16_t)len;
    return 0;
}

int span_set_str(struct span *s, const char *key, const char *value)
{
    struct span_attr *a =
        attr_slot(s->attrs, &s->n_attrs, SPAN_MAX_ATTRS, &s->dropped_attributes_count, key);
    return a != NULL ? set_str(s, a, value) : -ENOSPC;
}

int span_set_int(struct span *s, const char *key, int64_t value)
{
    struct span_attr *a =
        attr_slot(s->attrs, &s->n_attrs, SPAN_MAX_ATTRS, &s->dropped_attributes_count, key);
    if (a == NULL)
        return -ENOSPC;
    a->type = SPAN_ATTR_INT;
    a->v.i = value;
    return 0;
}

void span_set_status(struct span *s, enum span_status status, const char *message)
{
    s->status = status;
    text_copy(s->status_message, sizeof(s->status_message), message);
}

int span_add_event(struct span *s, uint64_t time_unix_ns, const char *name)
{
    if (s->n_events == SPAN_MAX_EVENTS) {
        s->dropped_events_count++;
        return -ENOSPC;
    }
    struct span_event *e = &s->events[s->n_events];
    memset(e, 0, sizeof(*e));
    e->time_unix_ns = time_unix_ns;
    e->name = name;
    return (int)s->n_events++;
}

static struct span_event *event_at(struct span *s, int event)
{
    return event >= 0 && (unsigned)event < s->n_events ? &s->events[event] : NULL;
}

int span_event_set_str(struct span *s, int event, const char *key, const char *value)
{
    struct span_event *e = event_at(s, event);
    if (e == NULL)
        return -EINVAL;
    struct span_attr *a =
        attr_slot(e->attrs, &e->n_attrs, SPAN_MAX_EVENT_ATTRS, &e->dropped_attributes_count, key);
    return a != NULL ? set_str(s, a, value) : -ENOSPC;
}

int span_event_set_int(struct span *s, int event, const char *key, int64_t value)
{
    struct span_event *e = event_at(s, event);
    if (e == NULL)
        return -EINVAL;
    struct span_attr *a =
        attr_slot(e->attrs, &e->n_attrs, SPAN_MAX_EVENT_ATTRS, &e->dropped_attributes_count, key);
    if (a == NULL)
        return -ENOSPC;
    a->type = SPAN_ATTR_INT;
    a->v.i = value;
    return 0;
}

/* ---- ids, time, sampling -------------------------------------------------- */

/* getrandom(2) needs no state, so a forked child can never repeat its parent's
 * ids. If it fails (very old kernel, seccomp), a clock-seeded splitmix64 still
 * gives distinct, non-zero ids. */
static void random_bytes(uint8_t *out, size_t n)
{
    static _Atomic uint64_t fallback_state;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    while (got < n) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t z =
            atomic_fetch_add(&fallback_state, 0x9e3779b97f4a7c15ull) + (uint64_t)ts.tv_nsec;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        for (int i = 0; i < 8 && got < n; i++)
            out[got++] = (uint8_t)(z >> (8 * i));
    }
}

static void new_id(uint8_t *out, size_t n)
{
    bool zero = true;
    while (zero) {
        random_bytes(out, n);
        for (size_t i = 0; i < n; i++)
            zero = zero && out[i] == 0;
    }
}

void span_new_trace_id(uint8_t out[16])
{
    new_id(out, 16);
}

void span_new_span_id(uint8_t out[8])
{
    new_id(out, 8);
}

uint64_t span_mono_to_unix_ns(uint64_t mono_ns)
{
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t rt_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
    uint64_t mono_now = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
    return mono_ns <= mono_now ? rt_ns - (mono_now - mono_ns) : rt_ns + (mono_ns - mono_now);
}

bool span_sampled(enum argus_sampler sampler, double ratio, const uint8_t trace_id[16])
{
    switch (sampler) {
    case ARGUS_SAMPLER_ALWAYS_ON:
        return true;
    case ARGUS_SAMPLER_ALWAYS_OFF:
        return false;
    case ARGUS_SAMPLER_TRACEIDRATIO:
        break;
    }
    if (!(ratio > 0))
        return false;
    if (ratio >= 1)
        return true;
    /* trace/sdk.md, TraceIdRatioBased: randomness R = the 56 least significant
     * bits of the trace id (bytes 9..15), rejection threshold
     * T = (1 - ratio) * 2^56; sample when R >= T. */
    uint64_t r = 0;
    for (int i = 9; i < 16; i++)
        r = (r << 8) | trace_id[i];
    uint64_t t = (uint64_t)ldexp(1.0 - ratio, 56);
    return r >= t;
}

/* ---- the queue -------------------------------------------------------------- */

struct spanq {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    uint32_t capacity;
    uint32_t batch;
    uint32_t head; /* oldest */
    uint32_t len;
    bool woken;
    _Atomic uint64_t dropped;
    struct span *slots;
};

struct spanq *spanq_create(uint32_t capacity, uint32_t batch)
{
    if (capacity == 0)
        return NULL;
    struct spanq *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->slots = calloc(capacity, sizeof(struct span));
    if (q->slots == NULL) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->ready, &ca);
    pthread_condattr_destroy(&ca);
    q->capacity = capacity;
    q->batch = batch == 0 || batch > capacity ? capacity : batch;
    return q;
}

void spanq_destroy(struct spanq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->ready);
    free(q->slots);
    free(q);
}

int spanq_push(struct spanq *q, const struct span *s)
{
    int rc = 0;
    if (q == NULL)
        return -EINVAL; /* tracing is off */
    pthread_mutex_lock(&q->lock);
    if (q->len == q->capacity) {
        atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
        rc = -ENOSPC;
        goto out;
    }
    /* Copy only the used part of the string pool. */
    struct span *slot = &q->slots[(q->head + q->len) % q->capacity];
    memcpy(slot, s, offsetof(struct span, pool) + s->pool_used);
    q->len++;
    if (q->len == q->batch)
        pthread_cond_signal(&q->ready);
out:
    pthread_mutex_unlock(&q->lock);
    return rc;
}

unsigned spanq_pop(struct spanq *q, struct span *out, unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&q->lock);
    while (n < max && q->len > 0) {
        const struct span *slot = &q->slots[q->head];
        memcpy(&out[n++], slot, offsetof(struct span, pool) + slot->pool_used);
        q->head = (q->head + 1) % q->capacity;
        q->len--;
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t spanq_wait(struct spanq *q, uint32_t timeout_ms)
{
    struct timespec deadline = clock_deadline_ms(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (q->len < q->batch && !q->woken) {
        if (pthread_cond_timedwait(&q->ready, &q->lock, &deadline) == ETIMEDOUT)
            break;
    }
    q->woken = false;
    size_t len = q->len;
    pthread_mutex_unlock(&q->lock);
    return len;
}

void spanq_wake(struct spanq *q)
{
    pthread_mutex_lock(&q->lock);
    q->woken = true;
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

size_t spanq_len(struct spanq *q)
{
    pthread_mutex_lock(&q->lock);
    size_t len = q->len;
    pthread_mutex_unlock(&q->lock);
    return len;
}

uint64_t spanq_dropped(const struct spanq *q)
{
    if (q == NULL)
        return 0;
    return atomic_load_explicit(&((struct spanq *)q)->dropped, memory_order_relaxed);
}
