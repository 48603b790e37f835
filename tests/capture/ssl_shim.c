/*
 * ssl_shim.c - an executable that exports its own SSL_* functions, as an
 * official Node does, for the patched-path capture tests.
 *
 * Linked into bio_pair (bio_pair_patched, bio_pair_patched_cet) with
 * --export-dynamic: bio_pair.c's calls to SSL_read & co. then bind, at link
 * time, to the definitions below, which the preload can only reach by
 * patching them. Each forwards to the system libssl through a handle of its
 * own (dlsym on a handle, never the global scope, so the preload's
 * interposed names are not on this path), after a check of its arguments:
 * compiled with -fno-omit-frame-pointer, the prologues are the push/mov/test
 * and test/jcc shapes Node's have, and with -fcf-protection=full they open
 * with endbr64 as well.
 *
 * SSL_get_servername and SSL_is_server are exported too (Node exports them),
 * since Argus classifies a connection of the patched object with that
 * object's own functions.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

#include <openssl/ssl.h>

#define SHIM_EXPORT __attribute__((visibility("default"), noinline))

static struct {
    int (*read)(SSL *, void *, int);
    int (*read_ex)(SSL *, void *, size_t, size_t *);
    int (*write)(SSL *, const void *, int);
    int (*write_ex)(SSL *, const void *, size_t, size_t *);
    void (*free)(SSL *);
    const char *(*get_servername)(const SSL *, int);
    int (*is_server)(const SSL *);
} shim;
static volatile unsigned long shim_calls; /* keeps each body more than a tail call */

__attribute__((constructor)) static void shim_init(void)
{
    void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
    *(void **)&shim.read = dlsym(h, "SSL_read");
    *(void **)&shim.read_ex = dlsym(h, "SSL_read_ex");
    *(void **)&shim.write = dlsym(h, "SSL_write");
    *(void **)&shim.write_ex = dlsym(h, "SSL_write_ex");
    *(void **)&shim.free = dlsym(h, "SSL_free");
    *(void **)&shim.get_servername = dlsym(h, "SSL_get_servername");
    *(void **)&shim.is_server = dlsym(h, "SSL_is_server");
}

SHIM_EXPORT int SSL_read(SSL *s, void *buf, int num)
{
    if (num < 0) {
        errno = EINVAL;
        return -1;
    }
    int r = shim.read(s, buf, num);
    shim_calls++;
    return r;
}

SHIM_EXPORT int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *n)
{
    if (s == NULL)
        return 0;
    int r = shim.read_ex(s, buf, num, n);
    shim_calls++;
    return r;
}

SHIM_EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    if (num < 0) {
        errno = EINVAL;
        return -1;
    }
    int r = shim.write(s, buf, num);
    shim_calls++;
    return r;
}

SHIM_EXPORT int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *n)
{
    if (s == NULL)
        return 0;
    int r = shim.write_ex(s, buf, num, n);
    shim_calls++;
    return r;
}

SHIM_EXPORT void SSL_free(SSL *s)
{
    if (s == NULL)
        return;
    shim.free(s);
    shim_calls++;
}

SHIM_EXPORT const char *SSL_get_servername(const SSL *s, const int type)
{
    return shim.get_servername(s, type);
}

SHIM_EXPORT int SSL_is_server(const SSL *s)
{
    return shim.is_server(s);
}
