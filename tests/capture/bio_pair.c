/*
 * bio_pair.c - a deterministic TLS conversation for the transparency test.
 *
 *   bio_pair CERT KEY SNI [MIB]
 *
 * A client and a server SSL in one process, joined by a memory BIO pair with
 * small buffers, so calls return partial counts and SSL_ERROR_WANT_READ /
 * WANT_WRITE. A fixed pseudo-random schedule (seeded, so every run makes the
 * same calls) moves MIB MiB (default 4) each way with SSL_read, SSL_read_ex,
 * SSL_write and SSL_write_ex and buffer sizes from 1 byte to 64 KiB. Then the
 * client's transport "resets" (a filter BIO fails with ECONNRESET), and a few
 * more calls see that.
 *
 * Every call prints one line: side, function, return value, bytes moved, a
 * hash of those bytes, errno (set to a sentinel before the call),
 * SSL_get_error and ERR_peek_error. The test runs this with and without the
 * preload and requires identical output. The last lines give the length and
 * FNV-1a hash of everything the client wrote and read, which the capture
 * test compares with what the preload recorded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define PAIR_BUF 4096
#define MAX_IO 65536
#define ERRNO_SENTINEL 4242

struct stream_sum {
    uint64_t len;
    uint64_t fnv;
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void sum_add(struct stream_sum *s, const unsigned char *p, size_t n)
{
    s->len += n;
    s->fnv = fnv(p, n, s->fnv);
}

/* A filter BIO that passes through until `reset_now`, then fails every read
 * and write like a socket whose peer sent RST. */
static int reset_now;

static int reset_write(BIO *b, const char *data, int len)
{
    if (reset_now) {
        errno = ECONNRESET;
        return -1;
    }
    BIO_clear_retry_flags(b);
    int n = BIO_write(BIO_next(b), data, len);
    BIO_copy_next_retry(b);
    return n;
}

/* After `corrupt_now`, reads deliver a well-formed TLS 1.2/1.3 application
 * data record header followed by garbage: the next SSL_read fails with
 * SSL_ERROR_SSL and entries on the error queue (bad record MAC). */
static int corrupt_now;
static int corrupt_left = 5 + 64;

static int reset_read(BIO *b, char *data, int len)
{
    if (reset_now) {
        errno = ECONNRESET;
        return -1;
    }
    if (corrupt_now) {
        static const unsigned char hdr[5] = {0x17, 0x03, 0x03, 0x00, 0x40};
        int n = 0;
        for (; n < len && corrupt_left > 0; n++, corrupt_left--) {
            int i = 5 + 64 - corrupt_left;
            data[n] = (char)(i < 5 ? hdr[i] : 0x5a);
        }
        if (n == 0) {
            BIO_set_retry_read(b);
            return -1;
        }
        return n;
    }
    BIO_clear_retry_flags(b);
    int n = BIO_read(BIO_next(b), data, len);
    BIO_copy_next_retry(b);
    return n;
}

static long reset_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return BIO_ctrl(BIO_next(b), cmd, num, ptr);
}

static BIO_METHOD *reset_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_FILTER | BIO_get_new_index(), "reset");
    BIO_meth_set_write(m, reset_write);
    BIO_meth_set_read(m, reset_read);
    BIO_meth_set_ctrl(m, reset_ctrl);
    return m;
}

enum op { OP_READ, OP_READ_EX, OP_WRITE, OP_WRITE_EX };
static const char *const op_names[] = {"SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex"};

#if defined(BIO_PAIR_INDIRECT)
/* The arm64 _bti build (linked with -z force-bti, so its code pages are
 * guarded) makes these calls through pointers the compiler cannot see
 * through: each is a blr that faults unless it lands on a landing pad, which
 * the patched entries must keep. */
static int (*volatile ind_read)(SSL *, void *, int) = SSL_read;
static int (*volatile ind_read_ex)(SSL *, void *, size_t, size_t *) = SSL_read_ex;
static int (*volatile ind_write)(SSL *, const void *, int) = SSL_write;
static int (*volatile ind_write_ex)(SSL *, const void *, size_t, size_t *) = SSL_write_ex;
#define SSL_read(...) ind_read(__VA_ARGS__)
#define SSL_read_ex(...) ind_read_ex(__VA_ARGS__)
#define SSL_write(...) ind_write(__VA_ARGS__)
#define SSL_write_ex(...) ind_write_ex(__VA_ARGS__)
#endif

/* One call, printed. Returns bytes moved. */
static size_t call(const char *side, SSL *ssl, enum op op, unsigned char *buf, size_t num,
                   struct stream_sum *sum)
{
    size_t moved = 0;
    int ret;
    errno = ERRNO_SENTINEL;
    switch (op) {
    case OP_READ:
        ret = SSL_read(ssl, buf, (int)num);
        moved = ret > 0 ? (size_t)ret : 0;
        break;
    case OP_READ_EX:
        ret = SSL_read_ex(ssl, buf, num, &moved);
        if (ret <= 0)
            moved = 0;
        break;
    case OP_WRITE:
        ret = SSL_write(ssl, buf, (int)num);
        moved = ret > 0 ? (size_t)ret : 0;
        break;
    default:
        ret = SSL_write_ex(ssl, buf, num, &moved);
        if (ret <= 0)
            moved = 0;
        break;
    }
    int saved_errno = errno;
    unsigned long err = ERR_peek_error();
    int ssl_err = SSL_get_error(ssl, ret);
    printf("%s %s num=%zu ret=%d moved=%zu hash=%016" PRIx64 " errno=%d ssl_error=%d err=%lx\n",
           side, op_names[op], num, ret, moved, fnv(buf, moved, 0xcbf29ce484222325ull), saved_errno,
           ssl_err, err);
    ERR_clear_error();
    if (sum != NULL)
        sum_add(sum, buf, moved);
    return moved;
}

static void fill(unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)rng();
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CERT KEY SNI [MIB]\n", argv[0]);
        return 2;
    }
    uint64_t goal = (argc > 4 ? strtoull(argv[4], NULL, 10) : 4) << 20;

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_file(sctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "cannot load %s / %s\n", argv[1], argv[2]);
        return 2;
    }
    SSL *srv = SSL_new(sctx);
    SSL *cli = SSL_new(cctx);
    SSL_set_tlsext_host_name(cli, argv[3]);
    SSL_set_mode(cli, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_set_mode(srv, SSL_MODE_ENABLE_PARTIAL_WRITE);

    BIO *cbio, *sbio;
    BIO_new_bio_pair(&cbio, PAIR_BUF, &sbio, PAIR_BUF);
    BIO_METHOD *rm = reset_method();
    BIO *cfilter = BIO_new(rm);
    BIO_push(cfilter, cbio);
    SSL_set_bio(cli, cfilter, cfilter);
    SSL_set_bio(srv, sbio, sbio);
    SSL_set_connect_state(cli);
    SSL_set_accept_state(srv);

    for (int i = 0; i < 100 && !(SSL_is_init_finished(cli) && SSL_is_init_finished(srv)); i++) {
        SSL_do_handshake(cli);
        SSL_do_handshake(srv);
    }
    ERR_clear_error();

    static unsigned char buf[MAX_IO];
    struct stream_sum cli_out = {0, 0xcbf29ce484222325ull}, cli_in = cli_out;
    uint64_t srv_out = 0;
    /* Pending data on each side: a write that moved 0 must be retried with
     * the same buffer (OpenSSL's rule), so the schedule keeps it. */
    unsigned char cpend[MAX_IO], spend[MAX_IO];
    size_t cpend_len = 0, spend_len = 0;
    while (cli_out.len < goal || srv_out < goal || cli_in.len < srv_out) {
        uint64_t r = rng();
        size_t num = 1 + (size_t)(rng() % ((r & 0x30) ? MAX_IO : 64));
        switch (r % 4) {
        case 0: /* client writes */
            if (cli_out.len >= goal)
                break;
            if (cpend_len == 0) {
                cpend_len = num;
                fill(cpend, cpend_len);
            }
            memcpy(buf, cpend, cpend_len);
            {
                size_t moved =
                    call("client", cli, (r & 4) ? OP_WRITE_EX : OP_WRITE, buf, cpend_len, &cli_out);
                memmove(cpend, cpend + moved, cpend_len - moved);
                cpend_len -= moved;
            }
            break;
        case 1: /* server writes */
            if (srv_out >= goal)
                break;
            if (spend_len == 0) {
                spend_len = num;
                fill(spend, spend_len);
            }
            memcpy(buf, spend, spend_len);
            {
                size_t moved =
                    call("server", srv, (r & 4) ? OP_WRITE_EX : OP_WRITE, buf, spend_len, NULL);
                memmove(spend, spend + moved, spend_len - moved);
                spend_len -= moved;
                srv_out += moved;
            }
            break;
        case 2: /* client reads */
            call("client", cli, (r & 4) ? OP_READ_EX : OP_READ, buf, num, &cli_in);
            break;
        default: /* server reads */
            call("server", srv, (r & 4) ? OP_READ_EX : OP_READ, buf, num, NULL);
            break;
        }
    }

    /* The peer resets the connection. */
    reset_now = 1;
    for (int i = 0; i < 4; i++) {
        fill(buf, 100);
        call("client", cli, (i & 1) ? OP_WRITE_EX : OP_READ_EX, buf, 100, NULL);
        call("client", cli, (i & 1) ? OP_WRITE : OP_READ, buf, 100, NULL);
    }

    /* The peer sends a corrupted record: errors on the OpenSSL error queue. */
    reset_now = 0;
    corrupt_now = 1;
    for (int i = 0; i < 2; i++)
        call("client", cli, (i & 1) ? OP_READ : OP_READ_EX, buf, 100, NULL);
    corrupt_now = 0;

    printf("client_write len=%" PRIu64 " fnv=%016" PRIx64 "\n", cli_out.len, cli_out.fnv);
    printf("client_read len=%" PRIu64 " fnv=%016" PRIx64 "\n", cli_in.len, cli_in.fnv);
    SSL_free(cli);
    SSL_free(srv);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    BIO_meth_free(rm);
    return 0;
}
