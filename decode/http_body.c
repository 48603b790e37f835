/*
 * http_body.c - Content-Encoding decoders behind one capped buffer.
 *
 * Every decoder writes into a 16 KiB block on the stack and hands it to
 * body_keep(), the one place that counts decoded bytes against the limit
 * (a compression bomb stops there, whatever the coding), feeds the JSON
 * array counter and keeps what fits in the buffer. Keeping only a prefix is
 * deliberate: the fields read from a body (an error "code", a callback
 * "type", a message reference) come first or are small, and the one answer
 * that can be large (a command sync) is counted on the fly instead.
 */
#include "http_body.h"

#include <brotli/decode.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "zs.h" /* the wiping allocators */

/* RFC 9659 §3: zstd content coding needs at most an 8 MiB window; a larger
 * one is refused rather than allocated. */
#define HTTP_ZSTD_WINDOW_LOG_MAX 23

static void body_keep(struct http_body *b, const uint8_t *data, size_t len)
{
    b->decoded_bytes += len;
    if (b->decoded_bytes > b->decoded_limit) {
        b->too_large = true;
        b->failed = true;
        return;
    }
    jscan_counter_feed(&b->array, data, len);
    size_t room = b->cap - b->len;
    if (len > room) {
        b->truncated = true;
        len = room;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
}

int http_body_init(struct http_body *b, enum http_encoding enc, size_t cap, uint64_t decoded_limit)
{
    int rc = 0;

    memset(b, 0, sizeof(*b));
    b->enc = enc;
    b->cap = cap;
    b->decoded_limit = decoded_limit;
    b->buf = malloc(cap > 0 ? cap : 1);
    if (b->buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    switch (enc) {
    case HTTP_ENC_GZIP:
        /* 15 + 16: gzip wrapper only. */
        zs_wiping_zlib(&b->z);
        if (inflateInit2(&b->z, 15 + 16) != Z_OK) {
            rc = -ENOMEM;
            goto out;
        }
        b->z_ready = true;
        break;
    case HTTP_ENC_DEFLATE:
        /* Initialised on the first byte: "deflate" is meant to be zlib
         * (RFC 9110 §8.4.1.2) but some servers send raw DEFLATE. */
        break;
    case HTTP_ENC_BR:
        b->br = BrotliDecoderCreateInstance(zs_wiping_alloc, zs_wiping_free, NULL);
        if (b->br == NULL)
            rc = -ENOMEM;
        break;
    case HTTP_ENC_ZSTD:
        b->zstd = zs_wiping_zstd_create();
        if (b->zstd == NULL || ZSTD_isError(ZSTD_DCtx_setParameter(b->zstd, ZSTD_d_windowLogMax,
                                                                   HTTP_ZSTD_WINDOW_LOG_MAX)))
            rc = -ENOMEM;
        break;
    case HTTP_ENC_UNSUPPORTED:
        b->failed = true;
        break;
    case HTTP_ENC_IDENTITY:
        break;
    }
out:
    return rc;
}

static void body_inflate(struct http_body *b, const uint8_t *data, size_t len)
{
    uint8_t out[16384];

    b->z.next_in = (Bytef *)(uintptr_t)data;
    b->z.avail_in = (uInt)len;
    while (b->z.avail_in > 0 && !b->failed) {
        b->z.next_out = out;
        b->z.avail_out = sizeof(out);
        int zr = inflate(&b->z, Z_NO_FLUSH);
        body_keep(b, out, sizeof(out) - b->z.avail_out);
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            b->failed = true;
            break;
        }
        if (zr == Z_BUF_ERROR && b->z.avail_out != 0)
            break;
    }
}

static void body_brotli(struct http_body *b, const uint8_t *data, size_t len)
{
    uint8_t out[16384];
    size_t avail_in = len;
    const uint8_t *next_in = data;

    while (!b->failed) {
        size_t avail_out = sizeof(out);
        uint8_t *next_out = out;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(b->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
        body_keep(b, out, sizeof(out) - avail_out);
        if (r == BROTLI_DECODER_RESULT_ERROR)
            b->failed = true;
        if (r != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT)
            break;
    }
}

static void body_zstd(struct http_body *b, const uint8_t *data, size_t len)
{
    uint8_t out[16384];
    ZSTD_inBuffer in = {data, len, 0};

    while (!b->failed) {
        ZSTD_outBuffer ob = {out, sizeof(out), 0};
        size_t r = ZSTD_decompressStream(b->zstd, &ob, &in);
        if (ZSTD_isError(r)) {
            b->failed = true;
            break;
        }
        body_keep(b, out, ob.pos);
        /* A full output buffer may leave decoded bytes inside zstd. */
        if (in.pos == in.size && ob.pos < ob.size)
            break;
    }
}

void http_body_feed(struct http_body *b, const uint8_t *data, size_t len)
{
    if (b->failed || len == 0)
        return;
    switch (b->enc) {
    case HTTP_ENC_IDENTITY:
        body_keep(b, data, len);
        break;
    case HTTP_ENC_DEFLATE:
        if (!b->z_ready) {
            /* A zlib header's first byte has CM = 8 in its low nibble and
             * a window no larger than 32 KiB (RFC 1950 §2.2); raw DEFLATE's
             * first byte has no such rule, but this is the usual sniff. */
            bool zlib = (data[0] & 0x0f) == 8 && (data[0] >> 4) <= 7;
            zs_wiping_zlib(&b->z);
            if (inflateInit2(&b->z, zlib ? 15 : -15) != Z_OK) {
                b->failed = true;
                break;
            }
            b->z_ready = true;
        }
        body_inflate(b, data, len);
        break;
    case HTTP_ENC_GZIP:
        body_inflate(b, data, len);
        break;
    case HTTP_ENC_BR:
        body_brotli(b, data, len);
        break;
    case HTTP_ENC_ZSTD:
        body_zstd(b, data, len);
        break;
    case HTTP_ENC_UNSUPPORTED:
        break;
    }
}

void http_body_fini(struct http_body *b)
{
    if (b->z_ready)
        inflateEnd(&b->z);
    if (b->br != NULL)
        BrotliDecoderDestroyInstance(b->br);
    if (b->zstd != NULL)
        ZSTD_freeDStream(b->zstd);
    free(b->buf);
    memset(b, 0, sizeof(*b));
}
