/*
 * hook_bench.c - what one hooked SSL_write_ex / SSL_read_ex call costs.
 *
 *   hook_bench CERT KEY SNI [ROUNDS [RECORD_BYTES]]
 *
 * A client and a server SSL joined by a memory BIO pair with room for a whole
 * batch. Each round the client writes BATCH records of 16 KiB (timed), the
 * server reads them (not timed), the server writes BATCH records (not timed)
 * and the client reads them (timed). It prints the median over rounds of the
 * client's nanoseconds per SSL_write_ex and per SSL_read_ex call, plus the
 * cost of copying 16 KiB once (the part of a captured call that is the copy
 * itself). scripts/bench runs it with and without the preload, with SNI
 * example.org (an ignored connection) and discord.com (captured), and
 * reports the differences.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#define RECORD_MAX 16384
#define BATCH 48
#define PAIR_BUF (BATCH * (RECORD_MAX + 512))

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* A whole decimal number within [min, max], else the default. */
static unsigned long arg_or(const char *s, unsigned long min, unsigned long max, unsigned long def)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s == '\0')
        return def;
    errno = 0;
    v = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0' && v >= min && v <= max ? v : def;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CERT KEY SNI [ROUNDS]\n", argv[0]);
        return 2;
    }
    unsigned long rounds = arg_or(argc > 4 ? argv[4] : NULL, 1, 100000, 400);
    size_t record = arg_or(argc > 5 ? argv[5] : NULL, 1, RECORD_MAX, RECORD_MAX);

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_file(sctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1)
        return 2;
    SSL *srv = SSL_new(sctx), *cli = SSL_new(cctx);
    SSL_set_tlsext_host_name(cli, argv[3]);
    BIO *cbio, *sbio;
    BIO_new_bio_pair(&cbio, PAIR_BUF, &sbio, PAIR_BUF);
    SSL_set_bio(cli, cbio, cbio);
    SSL_set_bio(srv, sbio, sbio);
    SSL_set_connect_state(cli);
    SSL_set_accept_state(srv);
    for (int i = 0; i < 100 && !(SSL_is_init_finished(cli) && SSL_is_init_finished(srv)); i++) {
        SSL_do_handshake(cli);
        SSL_do_handshake(srv);
    }

    static unsigned char buf[RECORD_MAX], in[RECORD_MAX];
    memset(buf, 'x', sizeof(buf));
    /* The first write classifies the connection (and may activate Argus):
     * keep it, and the handshake's tickets, out of the measurement. */
    size_t n;
    SSL_write_ex(cli, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n", 32, &n);
    while (SSL_read_ex(srv, in, sizeof(in), &n) == 1)
        ;
    SSL_write_ex(srv, buf, 1, &n);
    while (SSL_read_ex(cli, in, sizeof(in), &n) == 1)
        ;

    double *w = calloc((size_t)rounds, sizeof(double));
    double *r = calloc((size_t)rounds, sizeof(double));
    for (unsigned long round = 0; round < rounds; round++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < BATCH; i++)
            if (SSL_write_ex(cli, buf, record, &n) != 1)
                return 1;
        uint64_t t1 = now_ns();
        for (int i = 0; i < BATCH; i++)
            if (SSL_read_ex(srv, in, sizeof(in), &n) != 1)
                return 1;
        for (int i = 0; i < BATCH; i++)
            if (SSL_write_ex(srv, buf, record, &n) != 1)
                return 1;
        uint64_t t2 = now_ns();
        for (int i = 0; i < BATCH; i++)
            if (SSL_read_ex(cli, in, sizeof(in), &n) != 1 || n != record)
                return 1;
        uint64_t t3 = now_ns();
        w[round] = (double)(t1 - t0) / BATCH;
        r[round] = (double)(t3 - t2) / BATCH;
    }

    /* One record-sized copy into a cold-ish 4 MiB area, as the ring does. */
    enum { AREA = 4 << 20 };
    unsigned char *area = malloc(AREA);
    memset(area, 0, AREA);
    double *c = calloc((size_t)rounds, sizeof(double));
    size_t off = 0;
    for (unsigned long round = 0; round < rounds; round++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < BATCH; i++) {
            memcpy(area + off, buf, record);
            off = (off + record + 64) % (AREA - RECORD_MAX);
        }
        c[round] = (double)(now_ns() - t0) / BATCH;
    }
    printf("write_ns=%.1f read_ns=%.1f copy_ns=%.1f check=%u\n", median(w, rounds),
           median(r, rounds), median(c, rounds), area[off]);
    return 0;
}
