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
    atomic_store(&secret_blocks, 0);
    atomic_store(&watched_secret, secret);
}

int alloc_freed_secret_blocks(void)
{
    return atomic_load(&secret_blocks);
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
    return injected() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return injected() ? NULL : __real_calloc(n, size);
}

void __wrap_free(void *p)
{
    const char *secret = atomic_load(&watched_secret);
    if (p != NULL && secret != NULL &&
        memmem(p, malloc_usable_size(p), secret, strlen(secret)) != NULL)
        atomic_fetch_add(&secret_blocks, 1);
    __real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (injected())
        return NULL;
    if (atomic_load(&watched_secret) == NULL || p == NULL)
        return __real_realloc(p, n);
    void *q = __real_malloc(n);
    if (q != NULL) {
        size_t old = malloc_usable_size(p);
        memcpy(q, p, old < n ? old : n);
        __wrap_free(p);
    }
    return q;
}
