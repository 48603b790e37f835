/*
 * alloc_fail.c - see alloc_fail.h. The __wrap_/__real_ names are the
 * linker's (--wrap).
 */
#include "alloc_fail.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static atomic_long countdown; /* 0: disarmed; the call that takes it from 1 to 0 fails */
static atomic_long failures;
static _Atomic(const char *) watched_secret;
static atomic_int secret_blocks;

/* Blocks allocated while a secret is watched, under a spin lock (no call
 * here may allocate). */
static atomic_flag live_lock = ATOMIC_FLAG_INIT;
static void *live[ALLOC_LIVE_MAX];
static int n_live;
static bool live_overflow;

static void live_lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&live_lock, memory_order_acquire))
        ;
}

static void live_lock_drop(void)
{
    atomic_flag_clear_explicit(&live_lock, memory_order_release);
}

static void live_add(void *p)
{
    if (p == NULL || atomic_load(&watched_secret) == NULL)
        return;
    live_lock_take();
    if (n_live < ALLOC_LIVE_MAX)
        live[n_live++] = p;
    else
        live_overflow = true;
    live_lock_drop();
}

static void live_remove(void *p)
{
    live_lock_take();
    for (int i = 0; i < n_live; i++) {
        if (live[i] == p) {
            live[i] = live[--n_live];
            break;
        }
    }
    live_lock_drop();
}

void alloc_fail_nth(long n)
{
    atomic_store(&failures, 0);
    atomic_store(&countdown, n > 0 ? n : 0);
}

long alloc_failures(void)
{
    return atomic_load(&failures);
}

void alloc_watch_frees(const char *secret)
{
    live_lock_take();
    n_live = 0;
    live_overflow = false;
    live_lock_drop();
    atomic_store(&secret_blocks, 0);
    atomic_store(&watched_secret, secret);
}

int alloc_freed_secret_blocks(void)
{
    return atomic_load(&secret_blocks);
}

int alloc_live_secret_blocks(void)
{
    const char *secret = atomic_load(&watched_secret);
    int found = 0;
    if (secret == NULL)
        return 0;
    live_lock_take();
    for (int i = 0; i < n_live; i++)
        if (memmem(live[i], malloc_usable_size(live[i]), secret, strlen(secret)) != NULL)
            found++;
    if (live_overflow)
        found = -1;
    live_lock_drop();
    return found;
}

static bool injected(void)
{
    long c = atomic_load(&countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&countdown, &c, c - 1)) {
            if (c != 1)
                return false;
            atomic_fetch_add(&failures, 1);
            return true;
        }
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    void *p = injected() ? NULL : __real_malloc(n);
    live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = injected() ? NULL : __real_calloc(n, size);
    live_add(p);
    return p;
}

void __wrap_free(void *p)
{
    const char *secret = atomic_load(&watched_secret);
    if (p != NULL && secret != NULL &&
        memmem(p, malloc_usable_size(p), secret, strlen(secret)) != NULL)
        atomic_fetch_add(&secret_blocks, 1);
    if (p != NULL)
        live_remove(p);
    __real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (injected())
        return NULL;
    if (atomic_load(&watched_secret) == NULL || p == NULL)
        return __real_realloc(p, n);
    void *q = __real_malloc(n);
    live_add(q);
    if (q != NULL) {
        size_t old = malloc_usable_size(p);
        memcpy(q, p, old < n ? old : n);
        __wrap_free(p);
    }
    return q;
}
