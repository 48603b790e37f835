/*
 * tls_user.c - a library that runs one TLS conversation with whatever libssl
 * it was linked against. The two-copies test builds it twice: once against
 * the system libssl and once against a renamed copy (as auditwheel bundles
 * one), and loads both RTLD_LOCAL into one program.
 *
 * tls_user_run() makes a client (with the given SNI) and a server talk over a
 * memory BIO pair until `bytes` went each way, and reports the length and
 * FNV-1a hash of what the client wrote and read. Returns 0, or -1 on a TLS
 * failure.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#define TLS_USER_CHUNK 16384

static uint64_t tls_user_fnv(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

__attribute__((visibility("default"))) int
tls_user_run(const char *cert, const char *key, const char *sni, size_t bytes, uint64_t out[4])
{
    int rc = -1;
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *srv = NULL, *cli = NULL;
    if (sctx == NULL || cctx == NULL ||
        SSL_CTX_use_certificate_file(sctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        goto out;
    srv = SSL_new(sctx);
    cli = SSL_new(cctx);
    SSL_set_tlsext_host_name(cli, sni);
    BIO *cbio, *sbio;
    BIO_new_bio_pair(&cbio, 1 << 17, &sbio, 1 << 17);
    SSL_set_bio(cli, cbio, cbio);
    SSL_set_bio(srv, sbio, sbio);
    SSL_set_connect_state(cli);
    SSL_set_accept_state(srv);

    static unsigned char wbuf[TLS_USER_CHUNK], rbuf[TLS_USER_CHUNK];
    uint64_t wlen = 0, rlen = 0, wh = 0xcbf29ce484222325ull, rh = wh;
    size_t srv_sent = 0;
    for (size_t i = 0; i < sizeof(wbuf); i++)
        wbuf[i] = (unsigned char)(i * 7 + 3);
    for (int guard = 0; guard < 100000 && (wlen < bytes || rlen < bytes); guard++) {
        size_t n = 0;
        if (wlen < bytes && SSL_write_ex(cli, wbuf, sizeof(wbuf), &n) == 1) {
            wh = tls_user_fnv(wbuf, n, wh);
            wlen += n;
        }
        while (SSL_read_ex(srv, rbuf, sizeof(rbuf), &n) == 1)
            ;
        if (srv_sent < bytes && SSL_write_ex(srv, wbuf + 1, sizeof(wbuf) / 2, &n) == 1)
            srv_sent += n;
        while (SSL_read_ex(cli, rbuf, sizeof(rbuf), &n) == 1) {
            rh = tls_user_fnv(rbuf, n, rh);
            rlen += n;
        }
    }
    out[0] = wlen;
    out[1] = wh;
    out[2] = rlen;
    out[3] = rh;
    rc = (wlen >= bytes && rlen >= bytes) ? 0 : -1;
out:
    SSL_free(cli);
    SSL_free(srv);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    return rc;
}
