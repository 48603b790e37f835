/*
 * decode_fixture.h - shared helpers for the decoder tests (test_http.c,
 * test_http_body.c, test_ws.c, test_zs.c, test_gw.c, test_route.c,
 * test_stream.c, test_jscan.c).
 *
 * - guarded(): a copy of an input placed at the very end of readable memory,
 *   followed by a PROT_NONE page, so any read past the input faults (the
 *   picohttpparser test.c trick);
 * - struct fx_buf: a growable byte buffer for building inputs;
 * - WebSocket frame, zlib-stream, zstd-stream and permessage-deflate
 *   encoders, and a one-shot body compressor, so tests build wire bytes
 *   from readable JSON;
 * - feeding plans: struct fx_slicer hands out an input whole, in
 *   fixed-size pieces or in two at a split point, each slice guarded; and
 *   fx_check_feeds() asserts that a decoder logs the same text fed whole,
 *   byte by byte and split at every position;
 *
 * Test code: aborts on allocation failure. fx_buf and fx_ws_frame() make no
 * Check call, so the decode benchmark builds its input with them too.
 */
#ifndef ARGUS_DECODE_FIXTURE_H
#define ARGUS_DECODE_FIXTURE_H

#include <check.h>

#include "check_run.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

struct fx_buf {
    uint8_t *p;
    size_t len, cap;
};

static inline void fx_put(struct fx_buf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        /* abort(), not ck_assert: the decode benchmark builds its input
         * with these encoders outside any Check test. */
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

static inline void fx_puts(struct fx_buf *b, const char *s)
{
    fx_put(b, s, strlen(s));
}

static inline void fx_free(struct fx_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* A guarded copy of [data, data + len): the byte after the last one is on
 * an unreadable page. Release with fx_unguard(). */
struct fx_guard {
    uint8_t *map;
    size_t map_len;
    uint8_t *data;
};

static inline struct fx_guard fx_guarded(const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page + 1;
    struct fx_guard g;

    g.map_len = pages * page;
    g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(g.map, MAP_FAILED);
    ck_assert_int_eq(mprotect(g.map + (pages - 1) * page, page, PROT_NONE), 0);
    g.data = g.map + (pages - 1) * page - len;
    if (len > 0)
        memcpy(g.data, data, len);
    return g;
}

static inline void fx_unguard(struct fx_guard *g)
{
    munmap(g->map, g->map_len);
}

/* One WebSocket frame (RFC 6455 §5.2); masked frames use a fixed key. */
static inline void fx_ws_frame(struct fx_buf *b, int opcode, int fin, int rsv1, int masked,
                               const void *payload, size_t len)
{
    uint8_t h[14];
    size_t n = 0;
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

    h[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
    uint8_t m = masked ? 0x80 : 0;
    if (len < 126) {
        h[n++] = m | (uint8_t)len;
    } else if (len < 65536) {
        h[n++] = m | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (masked) {
        memcpy(h + n, key, 4);
        n += 4;
    }
    fx_put(b, h, n);
    size_t at = b->len;
    fx_put(b, payload, len);
    if (masked)
        for (size_t i = 0; i < len; i++)
            b->p[at + i] ^= key[i & 3];
}

/* A deflater that ends every message on a sync flush: zlib-wrapped for
 * zlib-stream (windowBits 15), raw for permessage-deflate (-15). */
struct fx_deflater {
    z_stream z;
};

static inline void fx_deflater_init(struct fx_deflater *d, int window_bits)
{
    memset(d, 0, sizeof(*d));
    ck_assert_int_eq(
        deflateInit2(&d->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY),
        Z_OK);
}

static inline void fx_deflate_msg(struct fx_deflater *d, struct fx_buf *out, const void *msg,
                                  size_t len)
{
    uint8_t chunk[16384];

    d->z.next_in = (Bytef *)(uintptr_t)msg;
    d->z.avail_in = (uInt)len;
    do {
        d->z.next_out = chunk;
        d->z.avail_out = sizeof(chunk);
        ck_assert_int_ne(deflate(&d->z, Z_SYNC_FLUSH), Z_STREAM_ERROR);
        fx_put(out, chunk, sizeof(chunk) - d->z.avail_out);
    } while (d->z.avail_out == 0);
}

static inline void fx_deflater_fini(struct fx_deflater *d)
{
    deflateEnd(&d->z);
}

/* [in, in + len) compressed in one piece as an HTTP body is: gzip
 * (window_bits 15 + 16), zlib "deflate" (15) or raw deflate (-15). Returns
 * the length written to out (cap bytes, which must suffice). */
static inline size_t fx_deflate_body(int window_bits, const void *in, size_t len, uint8_t *out,
                                     size_t cap)
{
    z_stream z;

    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    deflateEnd(&z);
    return cap - z.avail_out;
}

/* A zstd stream that flushes (but does not end a frame) per message. */
static inline void fx_zstd_msg(ZSTD_CCtx *cctx, struct fx_buf *out, const void *msg, size_t len)
{
    uint8_t chunk[16384];
    ZSTD_inBuffer in = {msg, len, 0};
    size_t left;

    do {
        ZSTD_outBuffer ob = {chunk, sizeof(chunk), 0};
        left = ZSTD_compressStream2(cctx, &ob, &in, ZSTD_e_flush);
        ck_assert(!ZSTD_isError(left));
        fx_put(out, chunk, ob.pos);
    } while (left != 0);
}

/* How a test feeds an input of len bytes: whole (piece 0, split 0), in
 * slices of at most `piece` bytes, or as two parts cut at `split`
 * (0 < split < len). Returns the length of the slice that starts at `at`. */
static inline size_t fx_slice_len(size_t at, size_t len, size_t piece, size_t split)
{
    size_t n = len - at;

    if (piece > 0 && n > piece)
        n = piece;
    if (split > 0 && at == 0 && split < len)
        n = split;
    return n;
}

/* Iterates the slices of an input under a feeding plan, each a guarded
 * copy (so a decoder reading past the slice it was given faults):
 *     struct fx_slicer sl = fx_slicer(in, len, piece, split);
 *     while (fx_next_slice(&sl, &buf, &n)) ... feed buf[0, n) ...
 * A slice stays readable until the next call; run it to the end (false),
 * which releases the last one. */
struct fx_slicer {
    const uint8_t *in;
    size_t len, piece, split, at;
    struct fx_guard slice;
    bool guarded;
};

static inline struct fx_slicer fx_slicer(const void *in, size_t len, size_t piece, size_t split)
{
    struct fx_slicer s = {.in = in, .len = len, .piece = piece, .split = split};

    return s;
}

static inline bool fx_next_slice(struct fx_slicer *s, const uint8_t **data, size_t *n)
{
    if (s->guarded) {
        fx_unguard(&s->slice);
        s->guarded = false;
    }
    if (s->at >= s->len)
        return false;
    *n = fx_slice_len(s->at, s->len, s->piece, s->split);
    s->slice = fx_guarded(s->in + s->at, *n);
    s->guarded = true;
    s->at += *n;
    *data = s->slice.data;
    return true;
}

/* One decoding of a test's input under a feeding plan (see fx_slice_len),
 * logged as NUL-terminated text into *log (which it initialises). */
typedef void (*fx_feed_fn)(const void *input, size_t piece, size_t split, struct fx_buf *log);

static inline void fx_check_feed(fx_feed_fn feed, const void *input, size_t piece, size_t split,
                                 const char *expected)
{
    struct fx_buf log;
    char plan[48] = "whole";

    if (piece > 0)
        snprintf(plan, sizeof(plan), "in pieces of %zu", piece);
    else if (split > 0)
        snprintf(plan, sizeof(plan), "split at %zu", split);
    feed(input, piece, split, &log);
    ck_assert_msg(strcmp((char *)log.p, expected) == 0, "fed %s:\n%s\nexpected:\n%s", plan,
                  (char *)log.p, expected);
    fx_free(&log);
}

/* The decoding logs `expected` fed whole and byte by byte. */
static inline void fx_check_whole_and_bytes(fx_feed_fn feed, const void *input,
                                            const char *expected)
{
    fx_check_feed(feed, input, 0, 0, expected);
    fx_check_feed(feed, input, 1, 0, expected);
}

/* ... and also split in two at every position of its len bytes. */
static inline void fx_check_feeds(fx_feed_fn feed, const void *input, size_t len,
                                  const char *expected)
{
    fx_check_whole_and_bytes(feed, input, expected);
    for (size_t at = 1; at < len; at++)
        fx_check_feed(feed, input, 0, at, expected);
}

#endif
