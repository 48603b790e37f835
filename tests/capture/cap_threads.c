/*
 * cap_threads.c - several threads doing TLS at once through the hooks, for
 * the capture test and its ThreadSanitizer run (issue 14).
 *
 *   cap_threads CERT KEY THREADS KIB
 *
 * Each thread joins a client SSL (SNI gateway.discord.gg, so the preload
 * captures it) and a server SSL with a memory BIO pair and moves KIB KiB each
 * way in writes of 1 byte to 16 KiB, then frees both. All threads push into
 * the one capture ring and connection table at once. Prints
 * "read <bytes> write <bytes>": what all SSL_read and SSL_write calls moved,
 * which the test compares with what the preload captured. Exits non-zero on
 * any TLS failure (and, under TSan, on a race).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define CHUNK_MAX 16384

static SSL_CTX *server_ctx, *client_ctx;
static size_t bytes_each_way;
/* What the client ends moved: the server ends (SSL_is_server) are not
 * captured. */
static atomic_uint_fast64_t client_read, client_written;
static atomic_int failures;

/* Moves what one side has pending to the other: returns bytes moved by
 * SSL_read (<= 0 when nothing could be read now). */
static int pump_read(SSL *s, unsigned char *buf, int len)
{
    int n = SSL_read(s, buf, len);
    if (n > 0 && !SSL_is_server(s))
        atomic_fetch_add(&client_read, (uint64_t)n);
    else if (n <= 0 && SSL_get_error(s, n) != SSL_ERROR_WANT_READ)
        atomic_fetch_add(&failures, 1);
    return n;
}

static int handshake(SSL *client, SSL *server)
{
    for (int i = 0; i < 100; i++) {
        int c = SSL_do_handshake(client);
        int s = SSL_do_handshake(server);
        if (c == 1 && s == 1)
            return 0;
    }
    return -1;
}

/* Writes `left` bytes from `from` in chunks, reading each at `to`. */
static void transfer(SSL *from, SSL *to, uint32_t seed)
{
    /* A Discord client's first bytes are a request; anything else would be
     * captured as joined mid-stream (RING_F_GAP). */
    static const unsigned char out[CHUNK_MAX] = "GET /api/v10/gateway HTTP/1.1\r\n";
    unsigned char in[CHUNK_MAX];
    size_t left = bytes_each_way;
    while (left > 0 && atomic_load(&failures) == 0) {
        seed = seed * 1103515245u + 12345u;
        size_t want = 1 + (seed >> 8) % CHUNK_MAX;
        int len = (int)(want < left ? want : left);
        int n = SSL_write(from, out, len);
        if (n <= 0) {
            atomic_fetch_add(&failures, 1);
            return;
        }
        if (!SSL_is_server(from))
            atomic_fetch_add(&client_written, (uint64_t)n);
        left -= (size_t)n;
        for (int got = 0; got < n;) {
            int r = pump_read(to, in, (int)sizeof(in));
            if (r <= 0)
                return;
            got += r;
        }
    }
}

static void *worker(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    SSL *client = SSL_new(client_ctx), *server = SSL_new(server_ctx);
    BIO *cb = NULL, *sb = NULL;
    if (client == NULL || server == NULL || !BIO_new_bio_pair(&cb, 65536, &sb, 65536)) {
        atomic_fetch_add(&failures, 1);
        goto out;
    }
    SSL_set_bio(client, cb, cb);
    SSL_set_bio(server, sb, sb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    SSL_set_tlsext_host_name(client, "gateway.discord.gg");
    if (handshake(client, server) != 0) {
        atomic_fetch_add(&failures, 1);
        goto out;
    }
    transfer(client, server, seed);
    transfer(server, client, seed ^ 0x5bd1e995u);
out:
    SSL_free(client);
    SSL_free(server);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: cap_threads CERT KEY THREADS KIB\n");
        return 2;
    }
    int threads = atoi(argv[3]);
    bytes_each_way = (size_t)atoi(argv[4]) * 1024;
    server_ctx = SSL_CTX_new(TLS_server_method());
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (server_ctx == NULL || client_ctx == NULL ||
        SSL_CTX_use_certificate_chain_file(server_ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(server_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    pthread_t th[64];
    if (threads < 1 || threads > 64)
        return 2;
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    printf("read %llu write %llu\n", (unsigned long long)atomic_load(&client_read),
           (unsigned long long)atomic_load(&client_written));
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    return atomic_load(&failures) == 0 ? 0 : 1;
}
