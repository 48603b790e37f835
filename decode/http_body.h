/*
 * http_body.h - one HTTP body's Content-Encoding decoded into a capped
 * buffer, for the few bodies whose content matters (error codes, callback
 * types, message references, command sync length).
 *
 * struct http_body owns its decoder state (zlib, brotli or zstd) and a
 * buffer of `cap` bytes, both allocated by http_body_init() and freed by
 * http_body_fini(). It promises:
 *   - at most `cap` decoded bytes are kept (then `truncated` is set) and at
 *     most `decoded_limit` are decoded (then `too_large` and `failed` are
 *     set and decoding stops: a compression bomb costs no more than the
 *     limit);
 *   - a top-level JSON array's elements are counted on the fly (`array`),
 *     so a large command-sync response need not be kept;
 *   - corrupt input sets `failed`; the bytes captured so far stay.
 * Input arrives in any slices (the body bytes http_parse() hands out); the
 * result does not depend on how it was cut.
 *
 * Threads: the decode thread; no shared state.
 */
#ifndef ARGUS_HTTP_BODY_H
#define ARGUS_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "http.h"
#include "jscan.h"

struct http_body {
    enum http_encoding enc;
    bool failed;    /* decoding failed; captured bytes so far stay */
    bool truncated; /* more than cap decoded bytes: the rest was not kept */
    bool too_large; /* more than decoded_limit decoded bytes: decoding stopped */
    uint64_t decoded_bytes;
    uint64_t decoded_limit; /* beyond this many decoded bytes, stop (bombs) */
    size_t cap;
    size_t len;
    uint8_t *buf; /* cap bytes, allocated by init */
    struct jscan_counter array;
    bool z_ready;
    z_stream z;
    void *br;   /* BrotliDecoderState */
    void *zstd; /* ZSTD_DStream */
};

/* Prepares to decode a body with encoding enc, keeping up to cap decoded
 * bytes and decoding at most decoded_limit. Returns 0 or -ENOMEM (then
 * http_body_fini is still safe). */
int http_body_init(struct http_body *b, enum http_encoding enc, size_t cap, uint64_t decoded_limit);
void http_body_feed(struct http_body *b, const uint8_t *data, size_t len);
void http_body_fini(struct http_body *b);

#endif
